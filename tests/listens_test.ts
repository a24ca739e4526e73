/**
 * `Listens` on its own: a manual clock, lookups that find a scripted list of
 * nodes at once, and an RPC fake that records `listen` requests and answers
 * them when told. Pushes are handed to `onUpdate` as a storing node would
 * send them.
 */
import assert from "node:assert/strict";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { seededRng } from "../lib/rng.ts";
import type { DhtValue, NodeInfo, UpdateRequest } from "../lib/dht/messages.ts";
import type { ListenEvent } from "../lib/dht/dht_client.ts";
import { EmptySearchRetries } from "../lib/dht/empty_search_retries.ts";
import { LISTEN_NODES, Listens, PUSH_REORDER_MS } from "../lib/dht/listens.ts";
import type { Lookups } from "../lib/dht/lookups.ts";
import type { RequestCallbacks, RpcEngine } from "../lib/dht/rpc_engine.ts";
import { Search } from "../lib/dht/search.ts";

const KEY = InfoHash.get("listened key");

function node(index: number): NodeInfo {
  return {
    id: InfoHash.get(`storing node ${index}`),
    address: { host: `10.0.1.${index}`, port: 4222 },
  };
}

function harness(nodes: NodeInfo[]) {
  const clock = new ManualClock(0);
  const sent: { at: number; host: string; callbacks: RequestCallbacks }[] = [];
  const local: number[] = [];
  const events: ListenEvent[] = [];
  const searches: number[] = [];
  const lookups: Pick<Lookups, "start" | "cancel"> = {
    start(target, _method, hooks) {
      searches.push(clock.now());
      const search = new Search(target, {
        query: (_node, answer) => answer.onAnswer([], new Uint8Array([9])),
        onDone: (result) => hooks.onDone(result),
      });
      search.start(nodes);
      return search;
    },
    cancel: (search) => search.cancel(),
  };
  const rpc: Pick<RpcEngine, "request"> = {
    request(to, _id, body, callbacks) {
      assert.equal(body.method, "listen");
      sent.push({ at: clock.now(), host: to.host, callbacks });
      return { tid: 0, cancel() {} };
    },
  };
  const listens = new Listens({
    clock,
    rng: seededRng(1),
    lookups,
    rpc,
    retries: new EmptySearchRetries(clock),
    listenLocally: (_key, socketId) => local.push(socketId),
  }, { renewMs: 30_000, searchMs: 300_000 });
  const handle = listens.add(KEY, (event) => events.push(event), undefined);
  const socketId = local[0];
  const push = (
    from: NodeInfo,
    fields: Pick<UpdateRequest, "values" | "refreshed" | "expired">,
  ) =>
    listens.onUpdate({
      kind: "request",
      method: "update",
      senderId: from.id,
      socketId,
      tid: 1,
      network: 0,
      isClient: false,
      ...fields,
    });
  return { clock, sent, local, searches, events, handle, push, listens };
}

const VALUE: DhtValue = { id: 11n, type: 0, data: new Uint8Array([1]) };

Deno.test("Listens places a listen on the LISTEN_NODES closest nodes and renews it there", () => {
  const nodes = [1, 2, 3, 4, 5, 6].map(node);
  const h = harness(nodes);
  assert.equal(h.sent.length, LISTEN_NODES);
  const closest = [...nodes].sort((a, b) => KEY.compareDistance(a.id, b.id))
    .slice(0, LISTEN_NODES).map((n) => n.address.host).sort();
  assert.deepEqual(h.sent.map((s) => s.host).sort(), closest);
  for (const s of h.sent) {
    s.callbacks.onReply({} as never, { host: "", port: 0 });
  }
  h.clock.advance(29_999);
  assert.equal(h.sent.length, LISTEN_NODES);
  h.clock.advance(1);
  assert.equal(h.sent.length, 2 * LISTEN_NODES, "renewed at 30 s");
  assert.equal(h.local.length, 2, "and on our own storage");
  assert.deepEqual(h.searches, [0], "at the same nodes, without a lookup");
  h.clock.advance(270_000);
  assert.deepEqual(h.searches, [0, 300_000], "looked up again at 300 s");
  h.handle.cancel();
  const before = h.sent.length;
  h.clock.advance(60_000);
  assert.equal(h.sent.length, before, "no renewal once cancelled");
});

Deno.test("Listens reports expiring while another holder keeps the value, expired when none does", () => {
  const [a, b] = [node(1), node(2)];
  const h = harness([a, b]);
  h.push(a, { values: [VALUE] });
  h.push(b, { values: [VALUE] });
  assert.deepEqual(h.events, [{ kind: "added", values: [VALUE] }]);
  h.push(a, { expired: [VALUE.id] });
  h.push(b, { expired: [VALUE.id] });
  assert.deepEqual(h.events.slice(1), [
    { kind: "expiring", ids: [VALUE.id] },
    { kind: "expired", ids: [VALUE.id] },
  ]);
});

Deno.test("Listens ignores a push of a value its sender said expired less than PUSH_REORDER_MS ago", () => {
  const a = node(1);
  const h = harness([a]);
  h.push(a, { values: [VALUE] });
  h.push(a, { expired: [VALUE.id] });
  h.clock.advance(PUSH_REORDER_MS - 1);
  h.push(a, { values: [VALUE] }); // sent before the expiry, arrived late
  assert.deepEqual(h.events.map((event) => event.kind), ["added", "expired"]);
  h.clock.advance(1);
  h.push(a, { values: [VALUE] });
  assert.deepEqual(h.events.map((event) => event.kind), [
    "added",
    "expired",
    "added",
  ]);
});

Deno.test("Listens reports values held by a node that answered without naming their type quiet as audible, once per node", () => {
  const [a, b] = [node(1), node(2)];
  const h = harness([a, b]);
  const quiet: DhtValue = { id: 12n, type: 0x6a61, data: new Uint8Array([2]) };
  const replyOf = (from: NodeInfo) =>
    h.sent.find((s) => s.host === from.address.host)!.callbacks;
  h.push(a, { values: [VALUE, quiet] });
  h.push(b, { values: [VALUE, quiet] });
  // Not before a node answered the listen.
  assert.deepEqual(h.events.map((e) => e.kind), ["added"]);
  // A stock node names no quiet type: both values are audible.
  replyOf(a).onReply({} as never, a.address);
  // One of ours names the announcement type: only the other value is.
  replyOf(b).onReply({ quietRefreshTypes: [0x6a61] } as never, b.address);
  assert.deepEqual(h.events.slice(1), [
    { kind: "audible", ids: [VALUE.id, quiet.id] },
    { kind: "audible", ids: [VALUE.id] },
  ]);
  // A renewal's answer tells nothing new; a value pushed later is told at once.
  replyOf(a).onReply({} as never, a.address);
  const later: DhtValue = { id: 13n, type: 0, data: new Uint8Array([3]) };
  h.push(a, { values: [later] });
  h.push(a, { values: [later] });
  assert.deepEqual(h.events.slice(3), [
    { kind: "added", values: [later] },
    { kind: "audible", ids: [later.id] },
  ]);
});
