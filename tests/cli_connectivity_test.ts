/**
 * The console's connectivity line: a daemon on a small simulated DHT
 * (virtual time) loses its network for 2 minutes; the console prints one
 * line when it goes offline and one when it is back, nothing more.
 */
import assert from "node:assert/strict";
import { Daemon } from "../lib/daemon/daemon.ts";
import { MemoryStorage, seededRng, Testnet } from "../lib/testing/mod.ts";
import { Output } from "../cli/_output.ts";
import { printEvents } from "../cli/_console.ts";

Deno.test("printEvents() prints one line per connectivity change of a daemon whose network is cut", async () => {
  const testnet = Testnet.create({ nodes: 8, seed: "console-cut" });
  const { clock, network } = testnet;
  const transport = network.attach();
  const daemon = await Daemon.open({
    transport,
    clock,
    rng: seededRng("console-cut-daemon"),
    storage: new MemoryStorage(),
    scryptLog2N: 10,
    dht: { bootstrap: [testnet.transports[0].localAddress] },
  });
  await daemon.createAccount();
  const lines: string[] = [];
  printEvents(
    daemon,
    new Output({
      json: false,
      level: "info",
      sinks: { stdout: (l) => lines.push(l), stderr: (l) => lines.push(l) },
    }),
  );
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 500) {
      clock.advance(500);
      await daemon.whenIdle();
    }
  };
  try {
    daemon.start();
    await run(60_000);
    assert.equal(lines.length, 0, lines.join("\n"));
    network.setHostOnline(transport.hostIndex, false);
    await run(120_000);
    network.setHostOnline(transport.hostIndex, true);
    await run(60_000);
    const changes = lines.filter((line) => line.includes("connectivity"));
    assert.equal(changes.length, 2, lines.join("\n"));
    assert.match(changes[0], /connectivity: offline/);
    assert.match(changes[1], /connectivity: online again/);
  } finally {
    daemon.crash();
    testnet.stop();
  }
});
