/**
 * Issue 17, IPv6: a host is handed a whole /64 (2^64 addresses), so a limit
 * kept per IPv6 *address* costs an attacker nothing: it sends each request
 * from a new address. The limits must key on the /64 (docs/security.md,
 * "origins"). The attack: requests and listens from a thousand addresses of
 * one /64; they share one bucket, while another /64 and an IPv4 peer seen
 * through a dual-stack socket (`::ffff:a.b.c.d`) keep their own.
 */
import assert from "node:assert/strict";
import { RpcEngine } from "../../lib/dht/rpc_engine.ts";
import { encodeMessage } from "../../lib/dht/wire/encode.ts";
import type { DhtRequest } from "../../lib/dht/messages.ts";
import { ValueStore } from "../../lib/dht/value_store.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { seededRng } from "../../lib/rng.ts";
import type {
  DatagramHandler,
  PeerAddress,
  Transport,
} from "../../lib/transport.ts";

const ATTACK_ADDRESSES = 1_000;

class InjectingTransport implements Transport {
  readonly localAddress: PeerAddress = { host: "::", port: 4222 };
  handler?: DatagramHandler;
  send(): void {}
  receive(handler: DatagramHandler): void {
    this.handler = handler;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function ping(n: number): Uint8Array {
  return encodeMessage({
    kind: "request",
    method: "ping",
    tid: n + 1,
    network: 0,
    senderId: InfoHash.get(`attacker ${n}`),
  });
}

/** The n-th address of the attacker's /64 (2001:db8:0:1::/64). */
function attacker(n: number): PeerAddress {
  return { host: `2001:db8:0:1:${(n + 1).toString(16)}::1`, port: 4222 };
}

Deno.test(`attack: ${ATTACK_ADDRESSES} IPv6 addresses of one /64 share one request-rate bucket`, () => {
  const clock = new ManualClock(0);
  const transport = new InjectingTransport();
  const admitted: string[] = [];
  const engine = new RpcEngine(
    { transport, clock, rng: seededRng(1) },
    { selfId: InfoHash.get("victim"), requestsPerSecondPerIp: 5 },
    (_request: DhtRequest, from) => admitted.push(from.host),
  );
  for (let n = 0; n < ATTACK_ADDRESSES; n++) {
    transport.handler!(ping(n), attacker(n));
  }
  assert.equal(admitted.length, 5);
  assert.equal(engine.counters.droppedRateLimited, ATTACK_ADDRESSES - 5);
  // Another /64 of the same /48, and IPv4 peers (plain or mapped), are not
  // held back by the attacker's bucket.
  transport.handler!(ping(5_000), { host: "2001:db8:0:2::1", port: 4222 });
  transport.handler!(ping(5_001), { host: "::ffff:192.0.2.7", port: 4222 });
  transport.handler!(ping(5_002), { host: "192.0.2.8", port: 4222 });
  assert.equal(admitted.length, 8);
  // The mapped and the plain spelling of one IPv4 peer share a bucket.
  for (let n = 0; n < 10; n++) {
    const host = n % 2 === 0 ? "::ffff:192.0.2.7" : "192.0.2.7";
    transport.handler!(ping(6_000 + n), { host, port: 4222 });
  }
  assert.equal(admitted.length, 12);
  // A second later the bucket refills.
  clock.advance(1_000);
  transport.handler!(ping(7_000), attacker(7_000));
  assert.equal(admitted.length, 13);
});

Deno.test(`attack: ${ATTACK_ADDRESSES} IPv6 addresses of one /64 place no more listeners on a key than one address`, () => {
  const store = new ValueStore({ maxListenersPerOriginPerKey: 16 });
  const key = InfoHash.get("a contact's account hash");
  let accepted = 0;
  for (let n = 0; n < ATTACK_ADDRESSES; n++) {
    const address = attacker(n);
    const result = store.listen(
      key,
      {
        nodeId: InfoHash.get(`attacker node ${n}`),
        address,
        socketId: 1,
      },
      0,
      address.host,
    );
    if (result.accepted) accepted++;
  }
  assert.equal(accepted, 16);
  // A genuine listener from another /64 still gets in.
  const genuine = store.listen(
    key,
    {
      nodeId: InfoHash.get("genuine"),
      address: { host: "2001:db8:0:2::1", port: 4222 },
      socketId: 1,
    },
    0,
    "2001:db8:0:2::1",
  );
  assert.equal(genuine.accepted, true);
});
