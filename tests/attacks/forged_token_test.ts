/**
 * Attack (issue 13, item 1): write tokens forged for an address that never
 * asked for one. The attacker knows the victim's `Rng` state (recovered from
 * its node id while it had 2^32 values); it builds a replica node from that
 * state at the victim's start time, asks the replica for a token as the
 * address it wants to write from, and puts to the victim with that token.
 * Before the fix the victim stored the value; now the token secret comes
 * from `RandomBytes`, and the put gets OpenDHT's 401 and is not stored.
 *
 * Also: a genuine token, handed to one address, is refused from another.
 */
import assert from "node:assert/strict";
import { DhtNode } from "../../lib/dht/dht_node.ts";
import type { DhtMessage } from "../../lib/dht/messages.ts";
import { decodeMessage } from "../../lib/dht/wire/decode.ts";
import { encodeMessage } from "../../lib/dht/wire/encode.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { seededRng } from "../../lib/rng.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import type { PeerAddress, Transport } from "../../lib/transport.ts";
import { SimulatedNetwork } from "../../lib/testing/simulated_network.ts";

const START_MS = 1_700_000_000_000;
const ATTACKER_ID = InfoHash.get("token forger");
const KEY = InfoHash.get("forged key");

/** Sends one request from `from` to `to`; returns the answers it gets. */
function ask(
  from: Transport,
  to: PeerAddress,
  request: Record<string, unknown>,
): DhtMessage[] {
  const answers: DhtMessage[] = [];
  from.receive((bytes) => answers.push(decodeMessage(bytes)));
  from.send(
    to,
    encodeMessage(
      {
        kind: "request",
        network: 0,
        senderId: ATTACKER_ID,
        ...request,
      } as Parameters<typeof encodeMessage>[0],
    ),
  );
  return answers;
}

/** A world with one node built from `seed`, and two attacker addresses. */
function world(seed: string) {
  const clock = new ManualClock(START_MS);
  const network = new SimulatedNetwork({ clock, rng: seededRng("net") });
  const node = new DhtNode({
    transport: network.attach(),
    clock,
    rng: seededRng(seed),
  });
  node.start();
  // Attacker hosts: one that asks for tokens, one that never does.
  const asking = network.attach();
  const silent = network.attach();
  return { clock, node, asking, silent };
}

/** The token `node` hands to `from`, read off a `get` reply. */
function tokenFor(
  w: ReturnType<typeof world>,
  from: Transport,
): Uint8Array {
  const answers = ask(from, w.node.address, {
    method: "get",
    tid: 1,
    key: KEY,
  });
  w.clock.advance(1_000);
  const reply = answers.find((m) => m.kind === "reply");
  assert.ok(reply?.kind === "reply" && reply.token !== undefined);
  return reply.token;
}

function put(
  w: ReturnType<typeof world>,
  from: Transport,
  token: Uint8Array,
): string[] {
  const answers = ask(from, w.node.address, {
    method: "put",
    tid: 2,
    key: KEY,
    token,
    values: [{ id: 7n, type: 0, data: new TextEncoder().encode("forged") }],
  });
  w.clock.advance(1_000);
  // Answers only (the node may also ping an address it just heard from).
  return answers.filter((m) => m.kind !== "request").map((m) =>
    m.kind === "error" ? `error ${m.code}` : m.kind
  );
}

Deno.test("attack: a token forged from the victim's recovered rng is refused (401, not stored)", () => {
  const victim = world("victim seed");
  // The attacker's replica: same rng state, same start time, same addresses.
  const replica = world("victim seed");
  const forged = tokenFor(replica, replica.silent);
  // The victim never handed `silent` a token; the forged one is refused.
  assert.deepEqual(put(victim, victim.silent, forged), ["error 401"]);
  assert.deepEqual(victim.node.storedValues(KEY), []);
  victim.node.stop();
  replica.node.stop();
});

Deno.test("attack: a genuine token used from another address is refused (401, not stored)", () => {
  const w = world("victim seed");
  const token = tokenFor(w, w.asking);
  assert.deepEqual(put(w, w.silent, token), ["error 401"]);
  assert.deepEqual(w.node.storedValues(KEY), []);
  // The same token from the address it was made for is accepted.
  assert.deepEqual(put(w, w.asking, token), ["reply"]);
  assert.equal(w.node.storedValues(KEY).length, 1);
  w.node.stop();
});
