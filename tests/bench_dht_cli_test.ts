/** `deno task bench:dht`'s command line: `--help`, and bad options as a usage error (exit 2), never a stack trace. */
import assert from "node:assert/strict";

async function bench(...args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "bench/dht_vs_dhtnode.ts", ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return {
    code: output.code,
    stdout: text(output.stdout),
    stderr: text(output.stderr),
  };
}

Deno.test("bench:dht --help prints the usage and exits 0", async () => {
  const run = await bench("--help");
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^Usage: deno task bench:dht/);
  assert.match(run.stdout, /--transport KIND/);
});

Deno.test("bench:dht: an unknown or bad option is a one-line usage error with exit 2, no stack trace", async () => {
  for (
    const [args, reason] of [
      [["--bogus"], /Unknown option '--bogus'/],
      [["--rounds", "0"], /--rounds must be a positive integer, not "0"/],
      [["--duration", "x"], /--duration must be a positive number/],
      [["--ops", "get,foo"], /--ops: "foo" is not one of get, put/],
      [["--transport", "x"], /--transport: "x" is not one of/],
      [["--rate", "0"], /--rate must be a positive integer, not "0"/],
      [["--rate", "1e9x"], /--rate must be a positive integer/],
    ] as const
  ) {
    const run = await bench(...args);
    assert.equal(run.code, 2, args.join(" "));
    assert.match(run.stderr, reason);
    assert.match(run.stderr, /Usage: deno task bench:dht/);
    assert.doesNotMatch(run.stderr, /Uncaught| {4}at /);
  }
});

Deno.test("bench:dht --rate: an open loop offers the rate asked for and counts every answer", async () => {
  const run = await bench(
    "--servers",
    "ours",
    "--ops",
    "get",
    "--rate",
    "2000",
    "--duration",
    "1",
    "--warmup",
    "0.5",
  );
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /load: an open loop of 2000 requests per second/);
  const row = /^ +get +ours +(\d+) +[\d.]+ +[\d.]+ +(\d+) +(\d+)/m.exec(
    run.stdout,
  );
  assert.ok(row, run.stdout);
  const [perSecond, lost, errors] = row.slice(1).map(Number);
  // The schedule, not the server's pace, sets the rate: about 2,000 answers
  // a second (the bounds leave room for a slow machine's start and stop).
  assert.ok(perSecond >= 1_000 && perSecond <= 3_000, `${perSecond}`);
  assert.equal(errors, 0);
  assert.equal(lost, 0);
});
