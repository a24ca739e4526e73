/**
 * Reading the archive passphrase on a terminal without echoing it.
 *
 * {@link promptSecret} puts the terminal in raw mode (`Deno.stdin.setRaw`),
 * so typed characters are not shown, and feeds the bytes it reads to
 * {@link SecretLineReader}, a pure line editor: Enter ends the line,
 * Backspace removes the last character (a whole UTF-8 sequence), Ctrl-U
 * clears the line, Ctrl-C and Ctrl-D abort ({@link PassphraseAbortedError});
 * other control bytes are ignored. Raw mode is always restored, whatever
 * happens.
 *
 * Without a terminal there is nobody to ask: the caller refuses with
 * {@link PassphraseUnavailableError} unless told otherwise.
 *
 * @example Typed bytes to a passphrase
 * ```ts
 * import assert from "node:assert/strict";
 * import { SecretLineReader } from "./_passphrase.ts";
 *
 * const reader = new SecretLineReader();
 * // "hunx", Backspace, "ter", Enter
 * const typed = new TextEncoder().encode("hunx\x7fter\r");
 * assert.equal(reader.feed(typed), true);
 * assert.equal(reader.text(), "hunter");
 * ```
 *
 * @module
 */

/** Longest passphrase read from a terminal, in bytes. */
export const MAX_PASSPHRASE_BYTES = 1_024;

const ENTER = new Set([0x0a, 0x0d]);
const BACKSPACE = new Set([0x08, 0x7f]);
const CTRL_C = 0x03;
const CTRL_D = 0x04;
const CTRL_U = 0x15;

/** The user aborted the passphrase prompt (Ctrl-C or Ctrl-D). */
export class PassphraseAbortedError extends Error {
  /** Makes the error. */
  constructor() {
    super("Passphrase prompt aborted");
    this.name = "PassphraseAbortedError";
  }
}

/** No passphrase source: no terminal to ask on, no file, no `--no-passphrase`. */
export class PassphraseUnavailableError extends Error {
  /** Makes the error. */
  constructor() {
    super(
      "Cannot ask for the archive passphrase: no terminal. Give --passphrase-file FILE, or --no-passphrase for an empty one",
    );
    this.name = "PassphraseUnavailableError";
  }
}

/** A line editor over raw terminal bytes, with no echo and no IO. */
export class SecretLineReader {
  readonly #bytes: number[] = [];
  #done = false;

  /**
   * Takes typed bytes.
   *
   * @param chunk Bytes read from a raw terminal.
   * @returns True once the line ended (Enter); bytes after it are ignored.
   * @throws {PassphraseAbortedError} On Ctrl-C or Ctrl-D.
   */
  feed(chunk: Uint8Array): boolean {
    for (const byte of chunk) {
      if (this.#done) break;
      if (ENTER.has(byte)) this.#done = true;
      else if (byte === CTRL_C || byte === CTRL_D) {
        this.#bytes.length = 0;
        throw new PassphraseAbortedError();
      } else if (BACKSPACE.has(byte)) this.#erase();
      else if (byte === CTRL_U) this.#bytes.length = 0;
      else if (byte < 0x20) continue;
      else if (this.#bytes.length < MAX_PASSPHRASE_BYTES) {
        this.#bytes.push(byte);
      }
    }
    return this.#done;
  }

  /** True once Enter was read. */
  get done(): boolean {
    return this.#done;
  }

  /** The line typed so far (UTF-8, invalid sequences replaced). */
  text(): string {
    return new TextDecoder().decode(new Uint8Array(this.#bytes));
  }

  /** Removes the last character: its continuation bytes, then its lead byte. */
  #erase(): void {
    while (
      this.#bytes.length > 0 &&
      (this.#bytes[this.#bytes.length - 1] & 0xc0) === 0x80
    ) this.#bytes.pop();
    this.#bytes.pop();
  }
}

/** The terminal {@link promptSecret} talks to (`Deno.stdin` and `Deno.stderr` by default). */
export interface SecretTerminal {
  /** Reads some bytes; null at the end of input. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Turns raw mode (no echo, no line buffering) on or off. */
  setRaw(raw: boolean): void;
  /** Writes the prompt. */
  write(bytes: Uint8Array): Promise<number>;
}

/**
 * Asks for a secret on a terminal, without echo.
 *
 * @param message The prompt.
 * @param terminal Where to read and write. @default {stdin, stderr}
 * @returns The line typed, without its end.
 * @throws {PassphraseAbortedError} On Ctrl-C, Ctrl-D or the end of input.
 */
export async function promptSecret(
  message: string,
  terminal: SecretTerminal = {
    read: (buffer) => Deno.stdin.read(buffer),
    setRaw: (raw) => Deno.stdin.setRaw(raw),
    write: (bytes) => Deno.stderr.write(bytes),
  },
): Promise<string> {
  const encoder = new TextEncoder();
  await terminal.write(encoder.encode(message));
  const reader = new SecretLineReader();
  const buffer = new Uint8Array(256);
  terminal.setRaw(true);
  try {
    while (!reader.done) {
      const read = await terminal.read(buffer);
      if (read === null) throw new PassphraseAbortedError();
      reader.feed(buffer.subarray(0, read));
    }
  } finally {
    terminal.setRaw(false);
    await terminal.write(encoder.encode("\n"));
  }
  return reader.text();
}
