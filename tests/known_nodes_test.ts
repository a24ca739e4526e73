/**
 * The DHT nodes a daemon keeps for its next run (`dht-nodes.json`): hostile
 * records give nothing, and a restarted daemon joins through them when its
 * bootstrap node is gone.
 */
import assert from "node:assert/strict";
import { Daemon, type DaemonWarning } from "../lib/daemon/daemon.ts";
import {
  decodeKnownNodes,
  encodeKnownNodes,
  KNOWN_NODES_KEY,
  MAX_KNOWN_NODES,
} from "../lib/daemon/known_nodes.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { Testnet } from "../lib/testing/testnet.ts";
import { MemoryStorage } from "../lib/testing/mod.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const encode = (value: unknown) =>
  new TextEncoder().encode(JSON.stringify(value));
const ID = "a9993e364706816aba3e25717850c26c9cd0d89d";

Deno.test("known nodes: a hostile record gives no node, or only its well-formed ones, at most 64", () => {
  for (
    const bad of [
      new TextEncoder().encode("{"),
      new Uint8Array([0xff, 0xfe]),
      encode(null),
      encode({ v: 2, nodes: [[ID, "192.0.2.1", 4222]] }),
      encode({ v: 1, nodes: "x" }),
      new Uint8Array(20_000).fill(0x20),
    ]
  ) assert.deepEqual(decodeKnownNodes(bad), []);
  const mixed = decodeKnownNodes(encode({
    v: 1,
    nodes: [
      [ID, "192.0.2.1", 4222], // kept
      [ID.toUpperCase(), "192.0.2.1", 4222], // not lower-case hex
      [ID, "example.org", 4222], // a name: a DNS lookup per send
      [ID, "192.0.2.1", 0],
      [ID, "192.0.2.1", 70_000],
      [ID, "192.0.2.1", 1.5],
      [ID, "2001:db8::1", 4222], // kept
      [ID, "192.0.2.1"],
      "x",
    ],
  }));
  assert.deepEqual(mixed.map((node) => node.address.host), [
    "192.0.2.1",
    "2001:db8::1",
  ]);
  const many = Array.from({ length: 1_000 }, (_, i) => ({
    id: InfoHash.get(`n${i}`),
    address: { host: "192.0.2.1", port: 1 + i },
  }));
  assert.equal(
    decodeKnownNodes(encodeKnownNodes(many)).length,
    MAX_KNOWN_NODES,
  );
});

Deno.test("known nodes: a daemon restarted with its bootstrap node gone joins the DHT through the nodes it kept", async () => {
  const net = Testnet.create({ nodes: 30, seed: 12 });
  const bootstrap = net.transports[0].localAddress;
  const run = async (daemon: Daemon, ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      net.clock.advance(100);
      await daemon.whenIdle();
    }
  };
  const warnings: DaemonWarning[] = [];
  const open = (storage: MemoryStorage, seed: number) =>
    Daemon.open({
      transport: net.network.attach(),
      clock: net.clock,
      rng: seededRng(seed),
      // Seeded "secure" bytes too (node ids, tids): the same run every time.
      randomBytes: rngBytes(seededRng(`bytes ${seed}`)),
      storage,
      scryptLog2N: 10,
      dht: { bootstrap: [bootstrap] },
      onWarning: (warning) => warnings.push(warning),
    });
  /** Restarts from `storage` with the bootstrap node down; good nodes after 5 s. */
  const restartWithoutBootstrap = async (storage: MemoryStorage) => {
    net.network.setHostOnline(net.transports[0].hostIndex, false);
    const again = await open(storage, 2);
    again.start();
    await run(again, 5_000);
    const good = again.dht.routingTable.counts(net.clock.now()).good;
    const stopping = again.stop();
    await run(again, 3_000);
    await stopping;
    net.network.setHostOnline(net.transports[0].hostIndex, true);
    return good;
  };

  const storage = new MemoryStorage();
  const first = await open(storage, 1);
  first.start();
  await run(first, 30_000);
  const stopping = first.stop();
  await run(first, 3_000);
  await stopping;
  const kept = decodeKnownNodes((await storage.get(KNOWN_NODES_KEY))!);
  assert.ok(kept.length >= 8, `kept ${kept.length}`);
  assert.ok(await restartWithoutBootstrap(storage) >= 8);

  // Control: the same restart without the record joins nothing.
  await storage.delete(KNOWN_NODES_KEY);
  assert.equal(await restartWithoutBootstrap(storage), 0);

  // A damaged record: a warning, and the daemon starts as without one.
  await storage.set(KNOWN_NODES_KEY, new TextEncoder().encode("not json"));
  assert.equal(await restartWithoutBootstrap(storage), 0);
  assert.ok(
    warnings.some((w) => w.kind === "strayFile" && w.key === KNOWN_NODES_KEY),
  );
  net.stop();
});
