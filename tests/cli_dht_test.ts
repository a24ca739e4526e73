/**
 * `deno task dht` (`cli/dht.ts`, run through the task in deno.json) as a subprocess against one of our nodes on
 * 127.0.0.1: a put, then a get from a second process; `--help`, and the exit
 * status 2 with the usage on stderr for a bad flag. Each process is killed
 * after 20 s at most.
 */
import assert from "node:assert/strict";
import { formatValue, parseCommand, UsageError } from "../cli/dht.ts";
import { DhtNode } from "../lib/dht/dht_node.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { seededRng } from "../lib/rng.ts";
import { systemClock } from "../lib/io/system_clock.ts";
import { UdpTransport } from "../lib/io/udp_transport.ts";

const ROOT = new URL("..", import.meta.url);

async function dht(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    // The task as written in deno.json, with its permissions.
    args: ["task", "--quiet", "dht", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    const output = await child.output();
    return {
      code: output.code,
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
  } finally {
    clearTimeout(killer);
  }
}

Deno.test("deno task dht: put then get through a node on 127.0.0.1", async () => {
  const transport = await UdpTransport.bind({ host: "127.0.0.1", port: 0 });
  const node = new DhtNode({
    transport,
    clock: systemClock,
    rng: seededRng(1),
  });
  node.start();
  try {
    const bootstrap = `127.0.0.1:${transport.localAddress.port}`;
    const common = ["--bootstrap", bootstrap, "--bind", "127.0.0.1"];
    const put = await dht(["put", "cli key", "hello cli", ...common]);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /^stored id=[0-9a-f]+ on 1 node\(s\)\n$/);
    const id = /id=([0-9a-f]+)/.exec(put.stdout)?.[1];
    // The key was hashed with SHA-1, as OpenDHT does.
    const stored = node.storedValues(InfoHash.get("cli key"));
    assert.deepEqual(stored.map((value) => value.id.toString(16)), [id]);
    assert.equal(stored[0].userType, "text/plain");

    const key = InfoHash.get("cli key").toString();
    const get = await dht(["get", key, ...common, "--timeout", "10"]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(
      get.stdout,
      `id=${id} type=0 utype="text/plain" data="hello cli"\n`,
    );
    const missing = await dht(["get", "nothing here", ...common]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, "");
    assert.equal(
      missing.stderr,
      `dht: no values found at ${InfoHash.get("nothing here")}\n`,
    );
    // The three runs were clients (`s: true`): none of them stayed in the
    // node's routing table, where it would slow later lookups once gone.
    assert.equal(node.routingTable.size, 0);
  } finally {
    node.stop();
    await transport.close();
  }
});

Deno.test("deno task dht: --help prints the usage, a bad flag exits 2", async () => {
  const help = await dht(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: deno task dht <command> <key>/);
  const bad = await dht(["get", "key", "--no-such-flag"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
  assert.match(bad.stderr, /--no-such-flag/);
  assert.match(bad.stderr, /Usage: deno task dht/);
});

Deno.test("parseCommand() hashes text keys, keeps hex keys and rejects bad input", () => {
  const hex = "0123456789abcdef0123456789abcdef01234567";
  const get = parseCommand(["get", hex]);
  assert.ok(get !== "help");
  assert.equal(get.key.toString(), hex);
  assert.deepEqual(get.bootstrap, [{ host: "bootstrap.jami.net", port: 4222 }]);
  assert.equal(get.timeoutMs, 30_000);
  const put = parseCommand([
    "put",
    "abc",
    "text",
    "--type",
    "5",
    "--permanent",
    "--bootstrap",
    "10.0.0.1:1,10.0.0.2:2",
  ]);
  assert.ok(put !== "help");
  assert.equal(put.key.toString(), "a9993e364706816aba3e25717850c26c9cd0d89d");
  assert.equal(put.type, 5);
  assert.equal(put.permanent, true);
  assert.equal(put.timeoutMs, undefined);
  assert.equal(put.bootstrap.length, 2);
  assert.equal(parseCommand(["-h"]), "help");
  for (
    const args of [
      [],
      ["fetch", "k"],
      ["get"],
      ["put", "k"],
      ["get", "k", "extra"],
      ["listen", "k", "--permanent"],
      ["get", "k", "--port", "70000"],
      ["get", "k", "--timeout", "0"],
      ["get", "k", "--bootstrap", "nowhere"],
    ]
  ) {
    assert.throws(() => parseCommand(args), UsageError, args.join(" "));
  }
});

Deno.test("formatValue() prints text as JSON and binary as hex", () => {
  assert.equal(
    formatValue({ id: 255n, type: 5, data: new TextEncoder().encode("a b") }),
    'id=ff type=5 data="a b"',
  );
  assert.equal(
    formatValue({ id: 1n, type: 0, data: new Uint8Array([0, 1, 0xfe]) }),
    "id=1 type=0 data=0x0001fe",
  );
});
