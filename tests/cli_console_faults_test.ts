/**
 * Issue 18, items 5 and 6: the console of `deno task run` against bad or
 * huge input, and answers that say what really happened. A huge line is
 * refused while holding at most the line limit in memory, and the next
 * command works; `status` answers once the change is on disk; `remove` of
 * a stranger says so; `--port` and `--advertise` are checked strictly.
 * Virtual time, memory storage, no network.
 */
import assert from "node:assert/strict";
import { BoundedLineReader } from "../cli/_bounded_lines.ts";
import {
  formatStats,
  MAX_CONSOLE_LINE_BYTES,
  runCommand,
  UsageError,
} from "../cli/_console.ts";
import { checkAdvertise, main, parsePort, readConsole } from "../cli/node.ts";
import { Output } from "../cli/_output.ts";
import { Daemon } from "../lib/daemon/daemon.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { MemoryStorage } from "../lib/testing/memory_storage.ts";
import { seededRng } from "../lib/rng.ts";
import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";

const MIB = 1024 * 1024;

/** A stream of one `size`-byte line in 1 MiB chunks, then `after`; checks `reader` at each pull. */
function hugeLineStream(
  size: number,
  after: string,
  onPull: () => void,
): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(MIB).fill(0x61);
  let sent = 0;
  let tailSent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      onPull();
      if (sent < size) {
        const piece = chunk.subarray(0, Math.min(MIB, size - sent));
        sent += piece.length;
        controller.enqueue(piece);
      } else if (!tailSent) {
        tailSent = true;
        controller.enqueue(new TextEncoder().encode(`\n${after}`));
      } else controller.close();
    },
  }, { highWaterMark: 0 });
}

function capture() {
  const lines: string[] = [];
  const output = new Output({
    json: false,
    level: "info",
    sinks: { stdout: (l) => lines.push(l), stderr: (l) => lines.push(l) },
  });
  return { lines, output };
}

async function openDaemon(storage = new MemoryStorage()) {
  const clock = new ManualClock(1_700_000_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng("console") });
  const daemon = await Daemon.open({
    transport: network.attach(),
    clock,
    rng: seededRng("console-daemon"),
    storage,
    scryptLog2N: 10,
  });
  const a = await daemon.createAccount();
  daemon.start();
  await daemon.whenIdle();
  return { daemon, a };
}

Deno.test("A 64 MiB console line is refused holding at most the line limit, and the next command works", async () => {
  let maxBuffered = 0;
  const size = 64 * MIB;
  const reader: BoundedLineReader = new BoundedLineReader(
    hugeLineStream(size, "help\n", () => {
      maxBuffered = Math.max(maxBuffered, reader.bufferedBytes);
    }),
    MAX_CONSOLE_LINE_BYTES,
  );
  const lines = [];
  for await (const line of reader.lines()) {
    maxBuffered = Math.max(maxBuffered, reader.bufferedBytes);
    lines.push(line);
  }
  assert.deepEqual(lines, [{ overlongBytes: size }, "help"]);
  assert.ok(maxBuffered <= MAX_CONSOLE_LINE_BYTES, `${maxBuffered} buffered`);
});

Deno.test("The console refuses an overlong line without echoing it, then answers the next command", async () => {
  const { daemon, a } = await openDaemon();
  const { lines, output } = capture();
  const input = hugeLineStream(8 * MIB, "whoami\n", () => {});
  assert.equal(await readConsole(daemon, a, output, input), "eof");
  const refused = lines.find((l) => l.includes("refused"));
  assert.match(
    refused!,
    /line of 8388608 bytes refused: the limit is \d+ bytes/,
  );
  assert.ok(lines.every((l) => l.length < 1_000), "the line was echoed");
  assert.ok(lines.some((l) => l.startsWith("account ")));
  // A line just within the limit is read as a command.
  const { lines: more, output: out2 } = capture();
  const long = `status ${"x".repeat(MAX_CONSOLE_LINE_BYTES - 7)}`;
  const text = ReadableStream.from([new TextEncoder().encode(`${long}\n`)]);
  await readConsole(daemon, a, out2, text);
  assert.ok(more.some((l) => /at most 256 characters/.test(l)), more.join());
});

Deno.test("An unknown command is quoted back shortened", async () => {
  const { daemon, a } = await openDaemon();
  const error = await runCommand(daemon, a, "z".repeat(10_000)).catch((e) => e);
  assert.ok(error instanceof UsageError);
  assert.ok(error.message.length < 100, error.message);
});

/** A storage whose writes wait until released. */
class HeldStorage extends MemoryStorage {
  hold = false;
  readonly held: (() => void)[] = [];
  override async set(key: string, value: Uint8Array): Promise<void> {
    if (this.hold) await new Promise<void>((go) => this.held.push(go));
    await super.set(key, value);
  }
}

Deno.test("status: the note is not stored, so its answer waits on no write", async () => {
  // Since issue 13 item 12 the note is not in the signed announcement (no
  // re-sign, no state write): it lives in memory and goes to linked contacts
  // as PIDF. The answer must not wait on (or start) a storage write.
  const storage = new HeldStorage();
  const { daemon, a } = await openDaemon(storage);
  await daemon.whenIdle();
  storage.hold = true;
  const answer = await runCommand(daemon, a, "status on the train");
  assert.equal(answer.text, 'note set: "on the train"');
  assert.equal(storage.held.length, 0, "a state write was started");
  storage.hold = false;
});

Deno.test("remove of an account that is not a contact says so", async () => {
  const { daemon, a } = await openDaemon();
  const stranger = "e".repeat(40);
  assert.equal(
    (await runCommand(daemon, a, `remove ${stranger}`)).text,
    "not a contact: nothing removed",
  );
  await daemon.config.addContact(a, stranger);
  assert.equal(
    (await runCommand(daemon, a, `remove ${stranger}`)).text,
    "removed",
  );
  // Removing it again: no longer a contact.
  assert.equal(
    (await runCommand(daemon, a, `remove ${stranger}`)).text,
    "not a contact: nothing removed",
  );
});

Deno.test("--port takes decimal 0 to 65535 only, and says why otherwise", () => {
  assert.equal(parsePort("0"), 0);
  assert.equal(parsePort("4222"), 4222);
  assert.equal(parsePort("65535"), 65535);
  for (const bad of ["0x10", "-1", "65536", "1e3", " 80", "80 ", "", "+80"]) {
    assert.throws(
      () => parsePort(bad),
      (e) =>
        e instanceof UsageError &&
        /decimal number from 0 to 65535/.test(e.message),
      bad,
    );
  }
});

Deno.test("deno task run --port -1 and --port 0x10 are refused with the port message", async () => {
  for (const value of ["-1", "0x10"]) {
    const errors: string[] = [];
    const original = console.error;
    console.error = (line: string) => errors.push(line);
    try {
      assert.equal(await main(["--port", value, "--no-passphrase"]), 2);
    } finally {
      console.error = original;
    }
    assert.match(errors.join("\n"), /--port expects a decimal number/);
    assert.doesNotMatch(errors.join("\n"), /ambiguous/);
  }
});

Deno.test("--advertise takes an IP address or a host name, nothing else", () => {
  for (
    const good of [
      "203.0.113.7",
      "::1",
      "2001:db8::1",
      "node.example.org",
      "localhost",
      "1.2.3.4:4222",
      "[2001:db8::1]:4300",
      "[::1]",
      "node.example.org:4300",
    ]
  ) {
    checkAdvertise(good);
  }
  assert.equal(checkAdvertise("[::1]"), "::1");
  assert.equal(checkAdvertise("[2001:DB8::1]:4300"), "[2001:db8::1]:4300");
  for (
    const bad of [
      "",
      "any string at all",
      "999.1.1.1",
      "0.0.0.0",
      "[::]:4222",
      "2001:db8::1:4222:",
      "1.2.3.4:0",
      "host_name",
      "-leading.example",
      "a".repeat(300),
    ]
  ) {
    assert.throws(() => checkAdvertise(bad), UsageError, bad);
  }
});

Deno.test("stats has a kernel line, also without a UDP socket", async () => {
  const { daemon } = await openDaemon();
  const text = formatStats(daemon.dht.stats(), 0);
  assert.match(text, /^kernel {4}drops unknown \(no UDP socket\)$/m);
});
