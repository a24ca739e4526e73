/**
 * RpcEngine against a recording fake transport and a manual clock: exact
 * retry bytes and times, matching rules, and every drop counter.
 */
import assert from "node:assert/strict";
import { MAX_TRACKED_ORIGINS } from "../lib/dht/_origin_counts.ts";
import { RpcEngine } from "../lib/dht/rpc_engine.ts";
import { decodeMessage } from "../lib/dht/wire/decode.ts";
import { encodeMessage } from "../lib/dht/wire/encode.ts";
import type { DhtMessage, DhtRequest } from "../lib/dht/messages.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { seededRng } from "../lib/rng.ts";
import type {
  DatagramHandler,
  PeerAddress,
  Transport,
} from "../lib/transport.ts";

class RecordingTransport implements Transport {
  readonly localAddress: PeerAddress = { host: "10.0.0.1", port: 4222 };
  readonly sent: { to: PeerAddress; bytes: Uint8Array; atMs: number }[] = [];
  handler?: DatagramHandler;
  constructor(readonly clock: ManualClock) {}
  send(to: PeerAddress, bytes: Uint8Array): void {
    this.sent.push({ to, bytes, atMs: this.clock.now() });
  }
  receive(handler: DatagramHandler): void {
    this.handler = handler;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  deliver(message: DhtMessage, from: PeerAddress = PEER): void {
    this.handler?.(encodeMessage(message), from);
  }
}

const SELF = InfoHash.get("self");
const PEER_ID = InfoHash.get("peer");
const PEER: PeerAddress = { host: "10.0.0.2", port: 4222 };

function setup(
  onRequest: (r: DhtRequest, from: PeerAddress) => void = () => {},
) {
  const clock = new ManualClock(0);
  const transport = new RecordingTransport(clock);
  const engine = new RpcEngine(
    { transport, clock, rng: seededRng(1) },
    { selfId: SELF, requestsPerSecondPerIp: 5 },
    onRequest,
  );
  return { clock, transport, engine };
}

function reply(tid: number, senderId = PEER_ID): DhtMessage {
  return { kind: "reply", tid, network: 0, senderId };
}

Deno.test("RpcEngine.request() resends the same bytes three times, then expires", () => {
  const { clock, transport, engine } = setup();
  const outcomes: string[] = [];
  engine.request(PEER, PEER_ID, { method: "ping" }, {
    onReply: () => outcomes.push("reply"),
    onExpired: () => outcomes.push(`expired@${clock.now()}`),
    onSlow: () => outcomes.push(`slow@${clock.now()}`),
  });
  clock.advance(10_000);
  assert.equal(transport.sent.length, 3);
  assert.deepEqual(transport.sent[1].bytes, transport.sent[0].bytes);
  assert.deepEqual(transport.sent[2].bytes, transport.sent[0].bytes);
  const gaps = [
    transport.sent[1].atMs - transport.sent[0].atMs,
    transport.sent[2].atMs - transport.sent[1].atMs,
  ];
  assert.ok(gaps[0] >= 1_000 && gaps[0] <= 1_250, `gap ${gaps[0]}`);
  assert.ok(gaps[1] >= 2_000 && gaps[1] <= 2_250, `gap ${gaps[1]}`);
  assert.equal(outcomes[0], "slow@500");
  assert.equal(outcomes.length, 2);
  assert.match(outcomes[1], /^expired@/);
  assert.equal(engine.counters.retries, 2);
  assert.equal(engine.counters.expired, 1);
  assert.equal(engine.pendingCount, 0);
});

Deno.test("RpcEngine.request() keeps bytes of its own for the retries, not a view that would keep the 64 KiB encoding slab alive", () => {
  const { clock, transport, engine } = setup();
  for (let i = 0; i < 3; i++) {
    engine.request(PEER, PEER_ID, { method: "ping" }, { onReply: () => {} });
  }
  clock.advance(1_300);
  assert.equal(transport.sent.length, 6);
  for (const { bytes } of transport.sent) {
    assert.equal(bytes.byteOffset, 0);
    assert.equal(bytes.buffer.byteLength, bytes.length);
  }
  engine.close();
});

Deno.test("RpcEngine.request() delivers the reply once and stops retrying", () => {
  const { clock, transport, engine } = setup();
  const replies: DhtMessage[] = [];
  const { tid } = engine.request(PEER, PEER_ID, { method: "ping" }, {
    onReply: (message) => replies.push(message),
    onExpired: () => assert.fail("expired"),
  });
  transport.deliver(reply(tid));
  transport.deliver(reply(tid)); // duplicate: unmatched now
  clock.advance(10_000);
  assert.equal(replies.length, 1);
  assert.equal(transport.sent.length, 1);
  assert.equal(engine.counters.droppedUnmatched, 1);
});

Deno.test("RpcEngine drops a reply from another node id than the one asked", () => {
  const { transport, engine } = setup();
  let answered = false;
  const { tid } = engine.request(PEER, PEER_ID, { method: "ping" }, {
    onReply: () => answered = true,
  });
  transport.deliver(reply(tid, InfoHash.get("impostor")));
  assert.equal(answered, false);
  assert.equal(engine.counters.droppedUnmatched, 1);
  transport.deliver(reply(tid));
  assert.equal(answered, true);
});

Deno.test("RpcEngine passes error replies to onError", () => {
  const { transport, engine } = setup();
  const codes: number[] = [];
  const { tid } = engine.request(PEER, PEER_ID, { method: "ping" }, {
    onReply: () => assert.fail("reply"),
    onError: (error) => codes.push(error.code),
  });
  transport.deliver({
    kind: "error",
    tid,
    network: 0,
    senderId: PEER_ID,
    code: 401,
    message: "Put with wrong token",
  });
  assert.deepEqual(codes, [401]);
});

Deno.test("RpcEngine drops garbage, other networks, zero and own sender ids", () => {
  const requests: DhtRequest[] = [];
  const { transport, engine } = setup((request) => requests.push(request));
  transport.handler?.(new Uint8Array([1, 2, 3]), PEER);
  transport.deliver({
    kind: "request",
    method: "ping",
    tid: 1,
    network: 7,
    senderId: PEER_ID,
  });
  transport.deliver({
    kind: "request",
    method: "ping",
    tid: 1,
    network: 0,
    senderId: SELF,
  });
  transport.deliver({
    kind: "request",
    method: "ping",
    tid: 1,
    network: 0,
    senderId: PEER_ID,
  });
  assert.equal(engine.counters.droppedMalformed, 1);
  assert.equal(engine.counters.droppedNetwork, 1);
  assert.equal(engine.counters.droppedSender, 1);
  assert.equal(requests.length, 1);
});

Deno.test("RpcEngine rate-limits requests per IP per second", () => {
  const requests: DhtRequest[] = [];
  const { clock, transport, engine } = setup((request) =>
    requests.push(request)
  );
  for (let i = 0; i < 8; i++) {
    transport.deliver({
      kind: "request",
      method: "ping",
      tid: i + 1,
      network: 0,
      senderId: PEER_ID,
    });
  }
  assert.equal(requests.length, 5);
  assert.equal(engine.counters.droppedRateLimited, 3);
  clock.advance(1_000);
  transport.deliver({
    kind: "request",
    method: "ping",
    tid: 99,
    network: 0,
    senderId: PEER_ID,
  });
  assert.equal(requests.length, 6);
});

Deno.test("RpcEngine: requests from more addresses than a window tracks share one allowance (a spoofed-source flood)", () => {
  const requests: DhtRequest[] = [];
  const { clock, transport, engine } = setup((request) =>
    requests.push(request)
  );
  const ping = (tid: number): DhtMessage => ({
    kind: "request",
    method: "ping",
    tid,
    network: 0,
    senderId: PEER_ID,
  });
  // 4,096 addresses are counted one by one (within the global 8,192 a
  // second); the 200 after them share one allowance of 5 (the per-origin
  // limit of this engine).
  for (let i = 0; i < MAX_TRACKED_ORIGINS + 200; i++) {
    transport.deliver(ping(i + 1), {
      host: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
      port: 4222,
    });
  }
  assert.equal(requests.length, MAX_TRACKED_ORIGINS + 5);
  assert.equal(engine.counters.droppedRateLimited, 195);
  // The next window counts every address afresh.
  clock.advance(1_000);
  transport.deliver(ping(1), { host: "10.0.16.100", port: 4222 });
  assert.equal(requests.length, MAX_TRACKED_ORIGINS + 6);
});

Deno.test("RpcEngine counts a throwing request handler and keeps going", () => {
  let calls = 0;
  const { transport, engine } = setup(() => {
    calls += 1;
    throw new Error("bug");
  });
  transport.deliver({
    kind: "request",
    method: "ping",
    tid: 1,
    network: 0,
    senderId: PEER_ID,
  });
  transport.deliver({
    kind: "request",
    method: "ping",
    tid: 2,
    network: 0,
    senderId: PEER_ID,
  });
  assert.equal(calls, 2);
  assert.equal(engine.counters.handlerErrors, 2);
});

Deno.test("RpcEngine.reply() answers with our id, the tid and the seen address", () => {
  const { transport, engine } = setup();
  engine.reply(PEER, 42, { token: new Uint8Array(32) });
  const message = decodeMessage(transport.sent[0].bytes);
  assert.equal(message.kind, "reply");
  assert.ok(message.kind === "reply" && message.senderId.equals(SELF));
  assert.equal(message.tid, 42);
  assert.ok(message.kind === "reply");
  assert.deepEqual(message.seenAddress, Uint8Array.from([10, 0, 0, 2]));
});

Deno.test("RpcEngine.close() drops pending requests silently", () => {
  const { clock, transport, engine } = setup();
  engine.request(PEER, PEER_ID, { method: "ping" }, {
    onReply: () => assert.fail("reply"),
    onExpired: () => assert.fail("expired"),
  });
  engine.close();
  clock.advance(10_000);
  assert.equal(transport.sent.length, 1);
  assert.equal(engine.pendingCount, 0);
});
