/**
 * Attack (issue 13, item 1): replies were matched by tid and the claimed
 * node id only. An attacker who knows (or predicted) a pending tid and the
 * id of the node asked answers from its own address: before the fix the
 * answer was taken (and, for a bootstrap ping, the attacker entered the
 * routing table in place of the node pinged). Now a reply must come from the
 * address the request went to; others are dropped and counted, and the
 * request stays pending for the real answer.
 */
import assert from "node:assert/strict";
import { DhtNode } from "../../lib/dht/dht_node.ts";
import { RpcEngine } from "../../lib/dht/rpc_engine.ts";
import { decodeMessage } from "../../lib/dht/wire/decode.ts";
import { encodeMessage } from "../../lib/dht/wire/encode.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { seededRng } from "../../lib/rng.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import type { PeerAddress, Transport } from "../../lib/transport.ts";
import { SimulatedNetwork } from "../../lib/testing/simulated_network.ts";

const PEER_ID = InfoHash.get("honest peer");

Deno.test("attack: a reply with the right tid and id from another address is not accepted", () => {
  const clock = new ManualClock(0);
  const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
  const peer = network.attach();
  const spoofer = network.attach();
  let pendingTid = 0;
  peer.receive((bytes) => pendingTid = decodeMessage(bytes).tid); // silent
  const engine = new RpcEngine(
    { transport: network.attach(), clock, rng: seededRng(2) },
    { selfId: InfoHash.get("victim") },
    () => {},
  );
  const answers: string[] = [];
  engine.request(peer.localAddress, PEER_ID, { method: "ping" }, {
    onReply: (_reply, from) => answers.push(`${from.host}:${from.port}`),
  });
  clock.advance(100);
  assert.ok(pendingTid !== 0, "the peer saw the request");
  const reply = encodeMessage({
    kind: "reply",
    tid: pendingTid,
    network: 0,
    senderId: PEER_ID,
  });
  spoofer.send(engine.localAddress, reply);
  clock.advance(100);
  assert.deepEqual(answers, [], "spoofed reply accepted");
  assert.equal(engine.counters.droppedWrongAddress, 1);
  // The real answer still matches.
  peer.send(engine.localAddress, reply);
  clock.advance(100);
  assert.deepEqual(answers, [
    `${peer.localAddress.host}:${peer.localAddress.port}`,
  ]);
  engine.close();
});

Deno.test("attack: a spoofed answer to a bootstrap ping does not enter the routing table", () => {
  const clock = new ManualClock(1_700_000_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng(3) });
  const bootstrap = network.attach(); // never answers
  const spoofer = network.attach();
  const spooferId = InfoHash.get("spoofer");
  const node = new DhtNode(
    { transport: network.attach(), clock, rng: seededRng(4) },
    { bootstrap: [bootstrap.localAddress] },
  );
  bootstrap.receive((bytes) => {
    const message = decodeMessage(bytes);
    if (message.kind !== "request" || message.method !== "ping") return;
    // The attacker learnt the tid (on the path, or predicted it).
    spoofer.send(
      node.address,
      encodeMessage({
        kind: "reply",
        tid: message.tid,
        network: 0,
        senderId: spooferId,
      }),
    );
  });
  node.start();
  clock.advance(500);
  assert.equal(node.routingTable.size, 0, "spoofer entered the table");
  assert.ok(node.stats().rpc.droppedWrongAddress >= 1);
  node.stop();
});

Deno.test("a reply from the same address written another way is accepted", () => {
  const clock = new ManualClock(0);
  let deliver: (bytes: Uint8Array, from: PeerAddress) => void = () => {};
  const sent: number[] = [];
  const transport: Transport = {
    localAddress: { host: "10.0.0.1", port: 4222 },
    send: (_to, bytes) => sent.push(decodeMessage(bytes).tid),
    receive: (handler) => deliver = handler,
    close: () => Promise.resolve(),
  };
  const engine = new RpcEngine(
    { transport, clock, rng: seededRng(5) },
    { selfId: InfoHash.get("victim") },
    () => {},
  );
  const answers: string[] = [];
  const ask = (host: string) =>
    engine.request({ host, port: 4222 }, PEER_ID, { method: "ping" }, {
      onReply: (_reply, from) => answers.push(from.host),
    });
  const reply = (tid: number) =>
    encodeMessage({ kind: "reply", tid, network: 0, senderId: PEER_ID });
  // IPv4 asked, IPv4-mapped IPv6 answers (a dual-stack socket), and back.
  ask("10.0.0.2");
  deliver(reply(sent[0]), { host: "::ffff:10.0.0.2", port: 4222 });
  ask("::ffff:10.0.0.3");
  deliver(reply(sent[1]), { host: "10.0.0.3", port: 4222 });
  // IPv6 written in full, answered in canonical form.
  ask("2001:db8:0:0:0:0:0:1");
  deliver(reply(sent[2]), { host: "2001:db8::1", port: 4222 });
  // Same host, another port: refused.
  ask("10.0.0.4");
  deliver(reply(sent[3]), { host: "10.0.0.4", port: 4223 });
  assert.deepEqual(answers, ["::ffff:10.0.0.2", "10.0.0.3", "2001:db8::1"]);
  assert.equal(engine.counters.droppedWrongAddress, 1);
  engine.close();
});
