/**
 * The CLI's passphrase prompt: a line editor over raw terminal bytes (no
 * echo), and the prompt's handling of raw mode.
 */
import assert from "node:assert/strict";
import {
  MAX_PASSPHRASE_BYTES,
  PassphraseAbortedError,
  promptSecret,
  SecretLineReader,
  type SecretTerminal,
} from "../cli/_passphrase.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

function read(...chunks: string[]): string {
  const reader = new SecretLineReader();
  for (const chunk of chunks) if (reader.feed(bytes(chunk))) break;
  assert.ok(reader.done);
  return reader.text();
}

Deno.test("SecretLineReader: Enter ends the line, split over chunks, CR or LF", () => {
  assert.equal(read("correct ", "horse\r"), "correct horse");
  assert.equal(read("correct horse\n"), "correct horse");
  assert.equal(read("\r"), "");
  const reader = new SecretLineReader();
  assert.equal(reader.feed(bytes("half")), false);
  assert.equal(reader.done, false);
});

Deno.test("SecretLineReader: Backspace removes a whole character, Ctrl-U the line, control bytes are ignored", () => {
  assert.equal(read("abd\x7fc\r"), "abc");
  assert.equal(read("abd\x08c\r"), "abc");
  assert.equal(read("\x7f\x7fok\r"), "ok");
  // "é" is two bytes, "€" three: one Backspace each.
  assert.equal(read("caf\u00e9\x7fe\r"), "cafe");
  assert.equal(read("5\u20ac\x7f$\r"), "5$");
  assert.equal(read("wrong\x15right\r"), "right");
  assert.equal(read("a\x1b\tb\r"), "ab");
  // Bytes after Enter are not part of the line.
  assert.equal(read("first\rsecond\r"), "first");
});

Deno.test("SecretLineReader: Ctrl-C and Ctrl-D abort with PassphraseAbortedError", () => {
  for (const key of ["\x03", "\x04"]) {
    const reader = new SecretLineReader();
    assert.throws(
      () => reader.feed(bytes(`secret${key}`)),
      PassphraseAbortedError,
    );
    assert.equal(reader.text(), "");
  }
});

Deno.test("SecretLineReader: keeps at most MAX_PASSPHRASE_BYTES", () => {
  const reader = new SecretLineReader();
  reader.feed(bytes("x".repeat(MAX_PASSPHRASE_BYTES + 100) + "\r"));
  assert.equal(reader.text().length, MAX_PASSPHRASE_BYTES);
});

function fakeTerminal(chunks: string[]) {
  const log: string[] = [];
  const written: string[] = [];
  const terminal: SecretTerminal = {
    read(buffer) {
      const next = chunks.shift();
      if (next === undefined) return Promise.resolve(null);
      const data = bytes(next);
      buffer.set(data);
      return Promise.resolve(data.length);
    },
    setRaw(raw) {
      log.push(raw ? "raw" : "cooked");
    },
    write(data) {
      written.push(new TextDecoder().decode(data));
      return Promise.resolve(data.length);
    },
  };
  return { terminal, log, written };
}

Deno.test("promptSecret() reads in raw mode, never writes what is typed, and restores the terminal", async () => {
  const { terminal, log, written } = fakeTerminal(["hun", "ter2\r"]);
  assert.equal(await promptSecret("Passphrase: ", terminal), "hunter2");
  assert.deepEqual(log, ["raw", "cooked"]);
  assert.ok(written.every((text) => !text.includes("hun")));
  assert.equal(written[0], "Passphrase: ");
});

Deno.test("promptSecret() restores the terminal when aborted or at the end of input", async () => {
  for (const chunks of [["abc\x03"], ["abc"]]) {
    const { terminal, log } = fakeTerminal(chunks);
    await assert.rejects(
      () => promptSecret("Passphrase: ", terminal),
      PassphraseAbortedError,
    );
    assert.deepEqual(log, ["raw", "cooked"]);
  }
});
