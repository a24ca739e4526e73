/**
 * `Search`: a lookup whose candidates all fail asks the routing table again
 * before it ends short (`reseed`).
 */
import assert from "node:assert/strict";
import { InfoHash } from "../lib/identity/info_hash.ts";
import type { NodeInfo } from "../lib/dht/messages.ts";
import {
  MAX_RESEEDS,
  Search,
  type SearchResult,
  TARGET_NODES,
} from "../lib/dht/search.ts";

const target = InfoHash.get("target");

/** Nodes named `prefix-0`…, sorted by distance to the target. */
function nodes(prefix: string, count: number): NodeInfo[] {
  return Array.from({ length: count }, (_, i) => ({
    id: InfoHash.get(`${prefix}-${i}`),
    address: { host: `10.${prefix.length}.0.${i + 1}`, port: 4222 },
  })).sort((a, b) => target.compareDistance(a.id, b.id));
}

/**
 * A fresh node: its only seed is a bootstrap node that hands out eight
 * nodes that never answer (stale NAT mappings, devices that left), while
 * its routing table has meanwhile learned live nodes from other lookups.
 */
function scriptedSearch(withReseed: boolean) {
  const bootstrap = nodes("bootstrap", 1);
  const dead = nodes("dead", TARGET_NODES);
  const live = nodes("live", 4);
  const liveIds = new Set(live.map((node) => node.id.toString()));
  let tableAsked = 0;
  let result: SearchResult | undefined;
  const search = new Search(target, {
    query: (node, answer) => {
      const id = node.id.toString();
      if (id === bootstrap[0].id.toString()) answer.onAnswer(dead);
      else if (liveIds.has(id)) answer.onAnswer(live);
      else answer.onFailed();
    },
    onDone: (done) => result = done,
    reseed: withReseed
      ? () => {
        tableAsked += 1;
        return [...bootstrap, ...live];
      }
      : undefined,
  });
  search.start(bootstrap);
  return { result: result!, live, tableAsked: () => tableAsked };
}

Deno.test("search: candidates that all fail: the routing table's newer nodes are asked before the search ends", () => {
  const before = scriptedSearch(false);
  assert.equal(before.result.nodes.length, 1); // the bootstrap node alone
  const after = scriptedSearch(true);
  assert.equal(after.result.nodes.length, 1 + after.live.length);
  for (const node of after.live) {
    assert.ok(after.result.nodes.some((found) => found.id.equals(node.id)));
  }
});

Deno.test("search: the routing table is asked again at most MAX_RESEEDS times, and not when nothing new comes", () => {
  let asked = 0;
  let done = 0;
  const bootstrap = nodes("bootstrap", 1);
  const search = new Search(target, {
    query: (_node, answer) => answer.onFailed(),
    onDone: () => done += 1,
    // Every time one new node, which fails too.
    reseed: () => nodes(`more${++asked}`, 1),
  });
  search.start(bootstrap);
  assert.equal(done, 1);
  assert.equal(asked, MAX_RESEEDS);

  let again = 0;
  const quiet = new Search(target, {
    query: (_node, answer) => answer.onFailed(),
    onDone: () => {},
    reseed: () => {
      again += 1;
      return bootstrap; // nothing new
    },
  });
  quiet.start(bootstrap);
  assert.equal(again, 1);
});

Deno.test("search: a closer node learned after every tracked candidate was asked is asked, and the farthest is forgotten", () => {
  // Three tracked candidates, all asked at once; the two farther ones answer
  // first with nothing new, then the closest names a node closer than all.
  const [closer, ...seeds] = nodes("ring", 4);
  const pending = new Map<string, (found: NodeInfo[]) => void>();
  const asked: string[] = [];
  let result: SearchResult | undefined;
  // Read through a call: the callbacks set it behind the type checker's back.
  const outcome = () => result;
  const search = new Search(target, {
    trackedNodes: 3,
    targetNodes: 3,
    parallelism: 3,
    query: (node, answer) => {
      asked.push(node.id.toString());
      pending.set(node.id.toString(), (found) => answer.onAnswer(found));
    },
    onDone: (done) => result = done,
  });
  search.start(seeds);
  assert.equal(asked.length, 3);
  pending.get(seeds[2].id.toString())!([]);
  pending.get(seeds[1].id.toString())!([]);
  pending.get(seeds[0].id.toString())!([closer]);
  // Before the fix the closer node was the only unasked one of four and was
  // dropped, so the search ended with the three seeds.
  assert.equal(outcome(), undefined);
  assert.deepEqual(asked.at(-1), closer.id.toString());
  assert.equal(search.nodes.length, 3);
  assert.ok(!search.nodes.some((node) => node.id.equals(seeds[2].id)));
  pending.get(closer.id.toString())!([]);
  assert.deepEqual(
    outcome()?.nodes.map((node) => node.id.toString()),
    [closer, seeds[0], seeds[1]].map((node) => node.id.toString()),
  );
  assert.equal(outcome()?.hops, 2);
});

Deno.test("search: a pending candidate pushed out of the bound has its request cancelled", () => {
  const [closer, ...seeds] = nodes("push", 4);
  const pending = new Map<string, (found: NodeInfo[]) => void>();
  const cancelled: string[] = [];
  const search = new Search(target, {
    trackedNodes: 3,
    targetNodes: 3,
    parallelism: 3,
    query: (node, answer) => {
      pending.set(node.id.toString(), (found) => answer.onAnswer(found));
      return () => cancelled.push(node.id.toString());
    },
    onDone: () => {},
  });
  search.start(seeds);
  // seeds[2] is still pending when the closest answer brings a closer node.
  pending.get(seeds[0].id.toString())!([closer]);
  assert.deepEqual(cancelled, [seeds[2].id.toString()]);
  assert.equal(search.nodes.length, 3);
});

Deno.test("search: the nodes keep copies of their tokens, not views of the datagrams they came in", () => {
  // Each answer's token is a view of one receive buffer, which the next
  // datagram overwrites (as a transport's slab or a decoded reply's bytes).
  const seeds = nodes("token", 20);
  const datagram = new Uint8Array(64);
  let result: SearchResult | undefined;
  const search = new Search(target, {
    query: (node, answer) => {
      const index = seeds.findIndex((seed) => seed.id.equals(node.id));
      datagram.fill(index + 1);
      answer.onAnswer([], datagram.subarray(10, 42));
    },
    onDone: (done) => result = done,
  });
  search.start(seeds);
  datagram.fill(0xff);
  assert.ok(result !== undefined);
  assert.equal(result.nodes.length, TARGET_NODES);
  const answered = search.nodes.filter((node) => node.state === "answered");
  assert.ok(answered.length >= TARGET_NODES);
  for (const node of answered) {
    const index = seeds.findIndex((seed) => seed.id.equals(node.id));
    assert.deepEqual(node.token, new Uint8Array(32).fill(index + 1));
  }
});
