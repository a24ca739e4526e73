/**
 * Item 5 against a real `dhtnode`: stock OpenDHT never sends a token with
 * `get`, so the amplification limit must still let it fetch a value larger
 * than 8 × its request (a certificate-sized one) from our node, through its
 * paginated get (ids first, then one get per id) and the per-address
 * allowance. Skipped without dhtnode, as the other interop tests.
 */
import assert from "node:assert/strict";
import { DhtNode } from "../../lib/dht/dht_node.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { seededRng } from "../../lib/rng.ts";
import { systemClock } from "../../lib/io/system_clock.ts";
import { UdpTransport } from "../../lib/io/udp_transport.ts";
import { DhtnodeProcess, findDhtnode } from "../interop/dhtnode_process.ts";

const DHTNODE = findDhtnode();
const REQUIRED = Deno.env.get("CI") !== undefined ||
  Deno.env.get("REQUIRE_OPENDHT") === "1";

async function until(ms: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not true within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

Deno.test({
  name:
    "attack interop: dhtnode (no token in gets) still fetches a 3 KB value only our node stores",
  ignore: DHTNODE === undefined && !REQUIRED,
  async fn() {
    const transports: UdpTransport[] = [];
    const nodes: DhtNode[] = [];
    let real: DhtnodeProcess | undefined;
    const ours = async (name: string, bootstrap: DhtNode[]) => {
      const transport = await UdpTransport.bind({ host: "127.0.0.1", port: 0 });
      transports.push(transport);
      const node = new DhtNode(
        { transport, clock: systemClock, rng: seededRng(`amp-${name}`) },
        { bootstrap: bootstrap.map((n) => n.address) },
      );
      nodes.push(node);
      node.start();
      return node;
    };
    try {
      const storer = await ours("storer", []);
      const writer = await ours("writer", [storer]);
      await until(3_000, () => writer.routingTable.nodes().length > 0);
      const key = InfoHash.get("amplification interop: big value");
      const data = new Uint8Array(3_000).fill(0x61);
      let stored = -1;
      writer.put(key, { id: 77n, type: 0, data }, {
        onDone: (n) => stored = n,
      });
      await until(5_000, () => stored >= 0);
      assert.equal(stored, 1);
      real = await DhtnodeProcess.start(DHTNODE!, {
        bootstrap: `${storer.address.host}:${storer.address.port}`,
      });
      const realId = real.id;
      await until(
        5_000,
        () =>
          storer.routingTable.nodes().some((n) => n.id.toString() === realId),
      );
      const found = await real.get(key.toString());
      assert.deepEqual(found.map((value) => value.id), [77n]);
    } finally {
      for (const node of nodes) node.stop();
      await Promise.all(transports.map((t) => t.close()));
      await real?.close();
    }
  },
});
