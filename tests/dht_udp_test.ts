/**
 * The same DhtNode code on real UDP sockets (127.0.0.1) and the system
 * clock: three nodes bootstrap, one puts, another gets and a third listens.
 * Bounded: every wait gives up after a few seconds.
 */
import assert from "node:assert/strict";
import { DhtNode } from "../lib/dht/dht_node.ts";
import type { ListenEvent } from "../lib/dht/dht_client.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { seededRng } from "../lib/rng.ts";
import { SystemClock } from "../lib/io/system_clock.ts";
import { UdpTransport } from "../lib/io/udp_transport.ts";
import { within } from "./_within.ts";

Deno.test("DhtNode over UDP on loopback: bootstrap, put, get and listen", async () => {
  const clock = new SystemClock();
  const transports = await Promise.all(
    [0, 1, 2].map(() => UdpTransport.bind({ host: "127.0.0.1", port: 0 })),
  );
  const [a, b, c] = transports.map((transport, i) =>
    new DhtNode({ transport, clock, rng: seededRng(`udp-${i}`) }, {
      bootstrap: i === 0 ? [] : [transports[0].localAddress],
    })
  );
  try {
    a.start();
    const answered = await Promise.all(
      [b, c].map((node) =>
        within<number>(
          3_000,
          "bootstrap",
          (done) => node.bootstrap([a.address], done),
        )
      ),
    );
    assert.deepEqual(answered, [1, 1]);
    const key = InfoHash.get("udp key");
    const events: ListenEvent[] = [];
    const heard = within<ListenEvent>(4_000, "listen", (done) => {
      c.listen(key, (event) => {
        events.push(event);
        done(event);
      });
    });
    // Let the listen reach its storing nodes before the put.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stored = await within<number>(
      3_000,
      "put",
      (done) =>
        b.put(key, {
          id: 42n,
          type: 0,
          data: new TextEncoder().encode("over udp"),
        }, { onDone: done }),
    );
    assert.ok(stored >= 1, `stored on ${stored} nodes`);
    const values = await within<readonly { id: bigint }[]>(
      3_000,
      "get",
      (done) => a.get(key, { onDone: (found) => done(found) }),
    );
    assert.deepEqual(values.map((value) => value.id), [42n]);
    const event = await heard;
    assert.equal(event.kind, "added");
    assert.equal(a.stats().rpc.droppedMalformed, 0);
  } finally {
    for (const node of [a, b, c]) node.stop();
    await Promise.all(transports.map((transport) => transport.close()));
  }
});
