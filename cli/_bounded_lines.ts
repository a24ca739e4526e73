/**
 * Console input as lines of bounded length. A line longer than the limit is
 * not kept: its bytes are dropped as they arrive until the next newline, and
 * the reader yields one {@link OverlongLine} in its place, so a single huge
 * line (a pasted file, `yes | …`) costs at most the limit in memory and the
 * next command still works.
 *
 * @module
 */

/**
 * A line that went over the limit and was thrown away.
 */
export interface OverlongLine {
  /** Bytes of the line seen before its newline (or the end of input). */
  readonly overlongBytes: number;
}

/** A line of input (without its newline), or the marker of a refused one. */
export type ConsoleLine = string | OverlongLine;

/** Byte of `\n`. */
const NEWLINE = 0x0a;

/**
 * Splits a byte stream into lines of at most `maxLineBytes` bytes (UTF-8,
 * without the newline; a trailing `\r` is removed). Bytes are buffered only
 * while the current line is within the limit.
 *
 * @example A line over the limit is refused, the next one is read
 * ```ts
 * import assert from "node:assert/strict";
 * import { BoundedLineReader } from "./_bounded_lines.ts";
 *
 * const input = ReadableStream.from([
 *   new TextEncoder().encode("x".repeat(100) + "\nhelp\n"),
 * ]);
 * const reader = new BoundedLineReader(input, 10);
 * const lines = await Array.fromAsync(reader.lines());
 * assert.deepEqual(lines, [{ overlongBytes: 100 }, "help"]);
 * ```
 */
export class BoundedLineReader {
  /** Longest line kept, in bytes. */
  readonly maxLineBytes: number;
  readonly #input: ReadableStream<Uint8Array>;
  /** The pieces of the current line, within the limit. */
  #pieces: Uint8Array[] = [];
  #buffered = 0;
  /** Bytes of the current line when it is over the limit (being discarded). */
  #discarding: number | undefined;

  /**
   * A reader of `input`.
   *
   * @param input The byte stream (stdin).
   * @param maxLineBytes Longest line kept, in bytes.
   * @throws {RangeError} If `maxLineBytes` is not a positive integer.
   */
  constructor(input: ReadableStream<Uint8Array>, maxLineBytes: number) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError(
        `maxLineBytes must be a positive integer, got ${maxLineBytes}`,
      );
    }
    this.#input = input;
    this.maxLineBytes = maxLineBytes;
  }

  /** Bytes held for the current line: never more than {@link maxLineBytes}. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * The lines, as they complete; a last line without newline is yielded at
   * the end of input.
   *
   * @returns Lines and overlong-line markers, in input order.
   */
  async *lines(): AsyncGenerator<ConsoleLine> {
    const reader = this.#input.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        let start = 0;
        while (start < value.length) {
          const newline = value.indexOf(NEWLINE, start);
          const end = newline === -1 ? value.length : newline;
          this.#take(value.subarray(start, end));
          if (newline === -1) break;
          yield this.#finish();
          start = newline + 1;
        }
      }
      if (this.#buffered > 0 || this.#discarding !== undefined) {
        yield this.#finish();
      }
    } finally {
      reader.releaseLock();
    }
  }

  /** Adds bytes of the current line, or counts them once it is over the limit. */
  #take(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#discarding !== undefined) {
      this.#discarding += bytes.length;
      return;
    }
    if (this.#buffered + bytes.length > this.maxLineBytes) {
      this.#discarding = this.#buffered + bytes.length;
      this.#pieces = [];
      this.#buffered = 0;
      return;
    }
    // A copy: the stream may reuse its chunk.
    this.#pieces.push(bytes.slice());
    this.#buffered += bytes.length;
  }

  #finish(): ConsoleLine {
    if (this.#discarding !== undefined) {
      const overlongBytes = this.#discarding;
      this.#discarding = undefined;
      return { overlongBytes };
    }
    const bytes = new Uint8Array(this.#buffered);
    let offset = 0;
    for (const piece of this.#pieces) {
      bytes.set(piece, offset);
      offset += piece.length;
    }
    this.#pieces = [];
    this.#buffered = 0;
    return new TextDecoder().decode(bytes).replace(/\r$/, "");
  }
}
