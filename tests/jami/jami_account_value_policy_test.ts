/**
 * The storage policy a node applies to Jami values it stores for others
 * (`lib/io/opendht_value_policy.ts`), on values captured from jamid 13.7
 * (`tests/vectors/jami-13.7-vectors.json`): genuine ones pass, altered ones
 * are refused, and a DHT node with the policy answers a forged put with a
 * refusal and keeps nothing.
 */
import assert from "node:assert/strict";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { openDhtValuePolicy } from "../../lib/io/opendht_value_policy.ts";
import { unpackValue } from "../../lib/dht/wire/values.ts";
import type { DhtValue } from "../../lib/dht/messages.ts";

const vectors = JSON.parse(
  await Deno.readTextFile(
    new URL("../vectors/jami-13.7-vectors.json", import.meta.url),
  ),
);

function captured(name: string): { key: InfoHash; value: DhtValue } {
  const entry = vectors.values.find((v: { name: string }) => v.name === name);
  return {
    key: InfoHash.fromHex(entry.key),
    value: unpackValue(Uint8Array.fromHex(entry.packed)),
  };
}

Deno.test("openDhtValuePolicy() accepts jamid's signed announcement and refuses it altered", () => {
  const { key, value } = captured("jamid-A.device_announcement");
  assert.ok(value.owner !== undefined);
  assert.equal(openDhtValuePolicy(key, value), true);
  const data = value.data.slice();
  data[data.length - 1] ^= 1;
  assert.equal(openDhtValuePolicy(key, { ...value, data }), false);
  const signature = value.signature!.slice();
  signature[0] ^= 1;
  assert.equal(openDhtValuePolicy(key, { ...value, signature }), false);
  // Signed with another type outside 0,1,3,4,5 the body is not checked.
  assert.equal(openDhtValuePolicy(key, { ...value, type: 2, data }), true);
});

Deno.test("openDhtValuePolicy() stores a certificate only at SHA-1 of its key", () => {
  const { key, value } = captured("jamid-A.certificate");
  assert.equal(value.type, 8);
  assert.equal(openDhtValuePolicy(key, value), true);
  assert.equal(openDhtValuePolicy(InfoHash.get("elsewhere"), value), false);
  assert.equal(
    openDhtValuePolicy(key, { ...value, data: new Uint8Array([1, 2, 3]) }),
    false,
  );
});

Deno.test("openDhtValuePolicy() lets unsigned and encrypted values through", () => {
  const { key, value } = captured("crl-account.revocation_list@89.0s");
  assert.equal(value.owner, undefined);
  assert.equal(openDhtValuePolicy(key, value), true);
  const request = captured("jamid-A->jamid-B.trust_request#1");
  assert.ok(request.value.cypher !== undefined);
  assert.equal(openDhtValuePolicy(request.key, request.value), true);
});

Deno.test("a daemon's DHT node refuses a forged signed value and stores the genuine one", async () => {
  const { ManualClock, MemoryStorage, seededRng, SimulatedNetwork } =
    await import("../../lib/testing/mod.ts");
  const { Daemon } = await import("../../lib/daemon/daemon.ts");
  const clock = new ManualClock(1_700_000_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
  const open = (seed: number, bootstrap: { host: string; port: number }[]) =>
    Daemon.open({
      transport: network.attach(),
      clock,
      rng: seededRng(seed),
      storage: new MemoryStorage(),
      scryptLog2N: 10,
      dht: { bootstrap },
    });
  const storer = await open(2, []);
  const putter = await open(3, [storer.dht.address]);
  storer.start();
  putter.start();
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      clock.advance(100);
      await storer.whenIdle();
    }
  };
  await run(3_000);
  const { key, value } = captured("jamid-A.device_announcement");
  const data = value.data.slice();
  data[5] ^= 1;
  let forgedAcks = -1;
  putter.dht.put(key, { ...value, data }, {
    onDone: (stored) => forgedAcks = stored,
  });
  await run(5_000);
  assert.equal(forgedAcks, 0);
  assert.equal(storer.dht.storedValues(key).length, 0);
  let genuineAcks = -1;
  putter.dht.put(key, value, { onDone: (stored) => genuineAcks = stored });
  await run(5_000);
  assert.equal(genuineAcks, 1);
  assert.equal(storer.dht.storedValues(key).length, 1);
  const stopping = Promise.all([storer.stop(), putter.stop()]);
  await run(3_000);
  await stopping;
});

Deno.test("Jami value types live as OpenDHT says: type 0 10 minutes, types 4 and 8 7 days", async () => {
  const { valueTypeOf } = await import("../../lib/dht/value_type.ts");
  const DAY_MS = 24 * 3_600_000;
  assert.equal(valueTypeOf(0).lifetimeMs, 10 * 60_000);
  assert.equal(valueTypeOf(4).lifetimeMs, 7 * DAY_MS);
  assert.equal(valueTypeOf(8).lifetimeMs, 7 * DAY_MS);
});
