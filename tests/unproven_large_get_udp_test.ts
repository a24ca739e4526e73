/**
 * On real UDP sockets (127.0.0.1): a requester that no storing node has
 * seen yet gets a 3.6 kB value (a certificate, type 8) on its first get,
 * in node and in client mode. Bounded: every wait gives up after seconds.
 */
import assert from "node:assert/strict";
import { DhtNode } from "../lib/dht/dht_node.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { seededRng } from "../lib/rng.ts";
import { SystemClock } from "../lib/io/system_clock.ts";
import { UdpTransport } from "../lib/io/udp_transport.ts";
import { within } from "./_within.ts";

const CERTIFICATE: DhtValue = {
  id: 0x1234_5678_9abc_def0n,
  type: 8,
  data: new Uint8Array(3_600).map((_, i) => (i * 7) % 256),
};

for (const client of [false, true]) {
  Deno.test(`UDP: a fresh requester (${client ? "client" : "node"} mode) gets a 3.6 kB value on its first get`, async () => {
    const clock = new SystemClock();
    const transports = await Promise.all(
      [0, 1, 2].map(() => UdpTransport.bind({ host: "127.0.0.1", port: 0 })),
    );
    const [a, b, c] = transports.map((transport, i) =>
      new DhtNode({ transport, clock, rng: seededRng(`unproven-${i}`) }, {
        bootstrap: i === 0 ? [] : [transports[0].localAddress],
        ...(i === 2 && client ? { client: true } : {}),
      })
    );
    try {
      a.start();
      b.start();
      await within<number>(
        3_000,
        "bootstrap",
        (done) => b.bootstrap([a.address], done),
      );
      const key = InfoHash.get("udp certificate");
      const stored = await within<number>(
        3_000,
        "put",
        (done) => b.put(key, CERTIFICATE, { onDone: done }),
      );
      assert.ok(stored >= 1);
      c.start();
      await within<number>(
        3_000,
        "bootstrap",
        (done) => c.bootstrap([a.address], done),
      );
      const values = await within<readonly DhtValue[]>(
        4_000,
        "get",
        (done) => c.get(key, { onDone: (found) => done(found) }),
      );
      assert.deepEqual(values.map((value) => value.id), [CERTIFICATE.id]);
      assert.deepEqual(values[0].data, CERTIFICATE.data);
    } finally {
      for (const node of [a, b, c]) node.stop();
      await Promise.all(transports.map((transport) => transport.close()));
    }
  });
}
