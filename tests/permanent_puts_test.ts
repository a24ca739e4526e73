/**
 * `PermanentPuts` on its own: a manual clock, lookups that answer from a
 * scripted list of nodes at once, and put and RPC fakes that record what
 * would be sent. No network, no swarm.
 */
import assert from "node:assert/strict";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import { EmptySearchRetries } from "../lib/dht/empty_search_retries.ts";
import type { Lookups } from "../lib/dht/lookups.ts";
import {
  PermanentPuts,
  REANNOUNCE_MARGIN_MS,
} from "../lib/dht/permanent_puts.ts";
import type { PutSender, PutTarget } from "../lib/dht/put_sender.ts";
import type { RequestBody, RpcEngine } from "../lib/dht/rpc_engine.ts";
import { Search } from "../lib/dht/search.ts";
import type { ValueType } from "../lib/dht/value_type.ts";

const KEY = InfoHash.get("permanent key");
const SHORT_TYPE = 0x7001;
const TYPES = new Map<number, ValueType>([
  [SHORT_TYPE, {
    id: SHORT_TYPE,
    name: "short",
    lifetimeMs: 24_000,
    maxBytes: 1_000,
  }],
]);

function value(id: bigint, type = SHORT_TYPE): DhtValue {
  return { id, type, data: new Uint8Array([1, 2, 3]) };
}

function node(index: number): PutTarget {
  return {
    id: InfoHash.get(`node ${index}`),
    address: { host: `10.0.0.${index}`, port: 4222 },
  };
}

/** PermanentPuts wired to fakes that record lookups, puts and requests. */
function harness(checkMs = 300_000) {
  const clock = new ManualClock(0);
  /** The nodes every lookup finds (each answers with a token). */
  let nodes: PutTarget[] = [];
  const lookups: number[] = [];
  const puts: { at: number; node: string; id: bigint }[] = [];
  const requests: {
    at: number;
    node: string;
    body: RequestBody;
    callbacks: Parameters<RpcEngine["request"]>[3];
  }[] = [];
  const once: bigint[] = [];
  const fakeLookups: Pick<Lookups, "start" | "cancel"> = {
    start(target, _method, hooks) {
      lookups.push(clock.now());
      const search = new Search(target, {
        query: (_node, answer) => answer.onAnswer([], new Uint8Array([7])),
        onDone: (result) => hooks.onDone(result),
        onPrefix: hooks.onPrefix,
      });
      search.start(nodes);
      return search;
    },
    cancel: (search) => search.cancel(),
  };
  const fakePuts: Pick<PutSender, "send" | "putToNodes"> = {
    send(target, _key, sent) {
      puts.push({ at: clock.now(), node: target.address.host, id: sent.id });
    },
    putToNodes(targets, _key, sent, _createdMs, onDone, onNodeAck) {
      for (const target of targets) {
        puts.push({ at: clock.now(), node: target.address.host, id: sent.id });
        onNodeAck?.(target);
      }
      onDone?.(targets.length);
    },
  };
  const fakeRpc: Pick<RpcEngine, "request"> = {
    request(to, _id, body, callbacks) {
      requests.push({ at: clock.now(), node: to.host, body, callbacks });
      return { tid: 0, cancel() {} };
    },
  };
  const permanent = new PermanentPuts({
    clock,
    lookups: fakeLookups,
    puts: fakePuts,
    rpc: fakeRpc,
    retries: new EmptySearchRetries(clock),
    putOnce: (_key, sent) => once.push(sent.id),
    valueTypes: TYPES,
  }, checkMs);
  return {
    clock,
    permanent,
    lookups,
    puts,
    requests,
    once,
    setNodes: (next: PutTarget[]) => nodes = next,
  };
}

Deno.test("PermanentPuts refreshes a value REANNOUNCE_MARGIN_MS before its lifetime ends", () => {
  const h = harness();
  h.setNodes([node(1), node(2), node(3)]);
  let acks = -1;
  h.permanent.add(KEY, value(5n), (stored) => acks = stored);
  assert.equal(acks, 3);
  assert.deepEqual(h.lookups, [0]);
  assert.deepEqual(
    h.puts.map((put) => put.node).sort(),
    ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
  );
  const dueMs = 24_000 - REANNOUNCE_MARGIN_MS;
  h.clock.advance(dueMs - 1);
  assert.deepEqual(h.lookups, [0], "no round before lifetime minus margin");
  h.clock.advance(1);
  assert.deepEqual(h.lookups, [0, dueMs]);
  // Holders get a refresh by id, not the value again.
  assert.equal(h.puts.length, 3);
  assert.deepEqual(
    h.requests.map((request) => [request.node, request.body.method]).sort(),
    [
      ["10.0.0.1", "refresh"],
      ["10.0.0.2", "refresh"],
      ["10.0.0.3", "refresh"],
    ],
  );
  h.clock.advance(dueMs);
  assert.deepEqual(h.lookups, [0, dueMs, 2 * dueMs]);
});

Deno.test("PermanentPuts only refreshes the holders of a short-lived value between lookups, until one stops answering", () => {
  const h = harness();
  h.setNodes([node(1), node(2), node(3), node(4), node(5)]);
  h.permanent.add(KEY, value(7n));
  const dueMs = 24_000 - REANNOUNCE_MARGIN_MS;
  h.clock.advance(3 * dueMs);
  // Three rounds, no lookup: each refreshes the five holders.
  assert.deepEqual(h.lookups, [0]);
  assert.equal(h.requests.length, 15);
  assert.ok(h.requests.every((request) => request.body.method === "refresh"));
  // A holder stops answering: the next round looks the key up again.
  h.requests[14].callbacks.onExpired?.();
  h.clock.advance(dueMs);
  assert.deepEqual(h.lookups, [0, 4 * dueMs]);
  // And at the first round at least checkMs (300 s) after a lookup.
  h.clock.advance(300_000 - 1);
  assert.equal(h.lookups.length, 2);
  h.clock.advance(dueMs);
  assert.equal(h.lookups.length, 3);
});

Deno.test("PermanentPuts checks long-lived values every checkMs, and new closest nodes get the value", () => {
  const h = harness(60_000);
  h.setNodes([node(1)]);
  h.permanent.add(KEY, value(6n, 0)); // type 0 lives 10 minutes
  h.setNodes([node(1), node(2)]);
  h.clock.advance(59_999);
  assert.deepEqual(h.lookups, [0]);
  h.clock.advance(1);
  assert.deepEqual(h.lookups, [0, 60_000]);
  assert.deepEqual(h.puts.map((put) => [put.at, put.node]), [
    [0, "10.0.0.1"],
    [60_000, "10.0.0.2"],
  ]);
  assert.deepEqual(h.requests.map((request) => request.node), ["10.0.0.1"]);
});

Deno.test("PermanentPuts retries a round that found nobody after 1 s, then 2 s", () => {
  const h = harness();
  let acks = -1;
  h.permanent.add(KEY, value(7n), (stored) => acks = stored);
  assert.deepEqual(h.lookups, [0]);
  assert.equal(acks, -1, "an empty round reports nothing yet");
  h.clock.advance(1_000);
  assert.deepEqual(h.lookups, [0, 1_000]);
  h.setNodes([node(1)]);
  h.clock.advance(1_999);
  assert.deepEqual(h.lookups, [0, 1_000]);
  h.clock.advance(1);
  assert.deepEqual(h.lookups, [0, 1_000, 3_000]);
  assert.equal(acks, 1);
  assert.deepEqual(h.puts.map((put) => put.at), [3_000]);
});

Deno.test("PermanentPuts replace(keep: false) sends to the holders once and ends the put", () => {
  const h = harness();
  h.setNodes([node(1), node(2)]);
  const handle = h.permanent.add(KEY, value(8n));
  let acks = -1;
  handle.replace(value(8n), { keep: false, onDone: (stored) => acks = stored });
  assert.equal(acks, 2);
  assert.equal(h.puts.length, 4);
  assert.deepEqual(h.once, [], "holders known: no new lookup");
  h.clock.advance(600_000);
  assert.deepEqual(h.lookups, [0], "no round after the last word");
  let late = -1;
  handle.replace(value(9n), { onDone: (stored) => late = stored });
  assert.equal(late, 0);
});
