import assert from "node:assert/strict";
import {
  BUCKET_SIZE,
  MAX_FAILED_REQUESTS,
  NODE_EXPIRE_TIME_MS,
  RoutingTable,
} from "../lib/dht/routing_table.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { randomInt, rngBytes, seededRng } from "../lib/rng.ts";

const SELF = InfoHash.fromHex("00".repeat(20));

function address(i: number): { host: string; port: number } {
  return { host: `10.0.${i >> 8}.${i & 0xff}`, port: 4222 };
}

/** An id in bucket `index` of SELF, distinct per `salt`. */
function idInBucket(table: RoutingTable, index: number, salt: number) {
  return table.randomIdInBucket(index, seededRng(salt * 1000 + index));
}

/** Fills bucket `index` with BUCKET_SIZE good nodes heard at 0; their ids. */
function fillBucket(table: RoutingTable, index: number): InfoHash[] {
  const ids = Array.from(
    { length: BUCKET_SIZE },
    (_, salt) => idInBucket(table, index, salt),
  );
  ids.forEach((id, i) => table.heard(id, address(i), 0, true));
  return ids;
}

Deno.test("RoutingTable.heard() puts each id in the bucket of its shared prefix", () => {
  const table = new RoutingTable(SELF);
  const rng = seededRng(1);
  for (let i = 0; i < 2_000; i++) {
    const id = InfoHash.random(rng);
    table.heard(id, address(i), 0, true);
  }
  for (const node of table.nodes()) {
    assert.equal(table.bucketIndex(node.id), SELF.commonPrefixBits(node.id));
  }
  // Invariant: no bucket holds more than BUCKET_SIZE nodes.
  const perBucket = new Map<number, number>();
  for (const node of table.nodes()) {
    const index = table.bucketIndex(node.id);
    perBucket.set(index, (perBucket.get(index) ?? 0) + 1);
  }
  for (const count of perBucket.values()) assert.ok(count <= BUCKET_SIZE);
  // Random ids fill the shallow buckets: bucket 0 holds half of all ids.
  assert.equal(perBucket.get(0), BUCKET_SIZE);
});

Deno.test("RoutingTable.heard() ignores our own id", () => {
  const table = new RoutingTable(SELF);
  assert.deepEqual(table.heard(SELF, address(1), 0, true), { kind: "self" });
  assert.equal(table.size, 0);
});

Deno.test("RoutingTable.heard() offers a dubious occupant to ping when the bucket is full", () => {
  const table = new RoutingTable(SELF);
  for (let i = 0; i < BUCKET_SIZE; i++) {
    table.heard(idInBucket(table, 3, i), address(i), 0, i !== 5);
  }
  const newcomer = idInBucket(table, 3, 99);
  const result = table.heard(newcomer, address(99), 1, true);
  assert.equal(result.kind, "full");
  assert.ok(result.kind === "full" && result.pingCandidate !== undefined);
  assert.ok(
    result.kind === "full" &&
      result.pingCandidate?.id.equals(idInBucket(table, 3, 5)),
  );
  assert.equal(table.get(newcomer), undefined);
});

Deno.test("RoutingTable.failed() expires a node after three failures and promotes a replacement", () => {
  const table = new RoutingTable(SELF);
  for (let i = 0; i < BUCKET_SIZE; i++) {
    table.heard(idInBucket(table, 2, i), address(i), 0, true);
  }
  const waiting = idInBucket(table, 2, 50);
  assert.equal(table.heard(waiting, address(50), 0, true).kind, "full");
  const victim = idInBucket(table, 2, 0);
  for (let i = 0; i < MAX_FAILED_REQUESTS - 1; i++) table.failed(victim, 10);
  assert.equal(table.state(victim, 10), "good");
  table.failed(victim, 10);
  assert.equal(table.get(victim), undefined);
  assert.ok(table.get(waiting) !== undefined);
  assert.equal(table.size, BUCKET_SIZE);
});

Deno.test("RoutingTable.state() turns good nodes dubious when not heard for 10 minutes", () => {
  const table = new RoutingTable(SELF);
  const id = InfoHash.get("peer");
  table.heard(id, address(1), 0, true);
  assert.equal(table.state(id, NODE_EXPIRE_TIME_MS), "good");
  assert.equal(table.state(id, NODE_EXPIRE_TIME_MS + 1), "dubious");
  table.heard(id, address(1), NODE_EXPIRE_TIME_MS + 2, false);
  assert.equal(table.state(id, NODE_EXPIRE_TIME_MS + 2), "good");
  const stranger = InfoHash.get("never answered");
  table.heard(stranger, address(2), 0, false);
  assert.equal(table.state(stranger, 0), "dubious");
});

Deno.test("RoutingTable.closest() returns the XOR-closest nodes in order", () => {
  const table = new RoutingTable(SELF);
  const rng = seededRng(7);
  const all: InfoHash[] = [];
  for (let i = 0; i < 500; i++) {
    const id = InfoHash.random(rng);
    table.heard(id, address(i), 0, true);
    if (table.get(id) !== undefined) all.push(id);
  }
  const target = InfoHash.random(rng);
  const expected = [...all].sort((a, b) => target.compareDistance(a, b))
    .slice(0, 8);
  assert.deepEqual(
    table.closest(target, 8, 0).map((node) => node.id.toString()),
    expected.map((id) => id.toString()),
  );
});

Deno.test("RoutingTable.closest() with goodOnly skips dubious nodes", () => {
  const table = new RoutingTable(SELF);
  const good = InfoHash.get("good");
  const dubious = InfoHash.get("dubious");
  table.heard(good, address(1), 0, true);
  table.heard(dubious, address(2), 0, false);
  assert.deepEqual(
    table.closest(good, 8, 0, true).map((n) => n.id.toString()),
    [good.toString()],
  );
  assert.equal(table.closest(good, 8, 0, false).length, 2);
});

Deno.test("RoutingTable.randomIdInBucket() lands in the requested bucket", () => {
  const table = new RoutingTable(InfoHash.get("self"));
  const rng = seededRng(3);
  for (let index = 0; index < 160; index++) {
    assert.equal(table.bucketIndex(table.randomIdInBucket(index, rng)), index);
  }
});

Deno.test("RoutingTable.refreshTargets() asks for stale buckets once per period", () => {
  const table = new RoutingTable(SELF);
  const rng = seededRng(4);
  table.heard(idInBucket(table, 0, 1), address(1), 0, true);
  table.heard(idInBucket(table, 2, 1), address(2), 0, true);
  const first = table.refreshTargets(60_000, 60_000, rng);
  assert.deepEqual(first.map((id) => table.bucketIndex(id)), [0, 1, 2, 3]);
  assert.deepEqual(table.refreshTargets(60_001, 60_000, rng), []);
});

Deno.test("RoutingTable.remove() drops a node and promotes a replacement", () => {
  const table = new RoutingTable(SELF);
  for (let i = 0; i < BUCKET_SIZE + 1; i++) {
    table.heard(idInBucket(table, 1, i), address(i), 0, true);
  }
  assert.equal(table.size, BUCKET_SIZE);
  assert.ok(table.remove(idInBucket(table, 1, 0)));
  assert.equal(table.size, BUCKET_SIZE);
  assert.ok(table.get(idInBucket(table, 1, BUCKET_SIZE)) !== undefined);
  assert.equal(table.remove(InfoHash.get("unknown")), false);
});

Deno.test("RoutingTable keeps ids that share their last 30 bits apart", () => {
  const table = new RoutingTable(SELF);
  const suffix = "ffffffff";
  const ids = [1, 2, 3].map((i) =>
    InfoHash.fromHex("f" + i.toString(16).padStart(31, "0") + suffix)
  );
  assert.equal(ids[0].suffix30, ids[1].suffix30);
  ids.forEach((id, i) => table.heard(id, address(i), 0, true));
  assert.equal(table.size, 3);
  ids.forEach((id, i) =>
    assert.equal(table.get(id)?.address.host, address(i).host)
  );
  assert.ok(table.remove(ids[0]));
  assert.equal(table.get(ids[0]), undefined);
  assert.ok(table.get(ids[1]) !== undefined && table.get(ids[2]) !== undefined);
  assert.ok(table.remove(ids[2]));
  assert.equal(table.size, 1);
  assert.equal(table.wouldAccept(ids[2], 0), true);
  assert.equal(table.wouldAccept(ids[1], 0), false);
});

Deno.test("RoutingTable.dubious(): of nodes heard at the same moment, the one that entered first comes first", () => {
  const table = new RoutingTable(SELF);
  // (Ids compare as hex: assert.deepEqual sees no fields in an InfoHash.)
  // Entered in this order, spread over buckets deepest first, so that
  // bucket order and entry order disagree; all heard at time 0.
  const ids = [6, 4, 2, 0].map((bucket) => idInBucket(table, bucket, 1));
  ids.forEach((id, i) => table.heard(id, address(i), 0, false));
  const later = NODE_EXPIRE_TIME_MS;
  assert.deepEqual(table.dubious(1, later).map((node) => node.id.toString()), [
    ids[0].toString(),
  ]);
  assert.deepEqual(
    table.dubious(4, later).map((node) => node.id.toString()),
    ids.map(String),
  );
  // Heard again: no longer the least recently heard.
  table.heard(ids[0], address(0), 1, false);
  assert.deepEqual(table.dubious(1, later).map((node) => node.id.toString()), [
    ids[1].toString(),
  ]);
  // A node that leaves and comes back entered last.
  assert.ok(table.remove(ids[1]));
  table.heard(ids[1], address(1), 0, false);
  assert.deepEqual(
    table.dubious(4, later).map((node) => node.id.toString()),
    [ids[2], ids[3], ids[1], ids[0]].map(String),
  );
});

Deno.test("RoutingTable replacement cache: the newest waits last, a re-heard one becomes the newest, the oldest goes; promoted ones carry what was heard", () => {
  const table = new RoutingTable(SELF);
  const occupants = fillBucket(table, 1);
  // Nine newcomers for a cache of eight: the first goes.
  const waiting = Array.from(
    { length: BUCKET_SIZE + 1 },
    (_, i) => idInBucket(table, 1, 100 + i),
  );
  waiting.forEach((id, i) =>
    assert.equal(table.heard(id, address(100 + i), 10 + i, false).kind, "full")
  );
  // The third is heard again, as a reply: it becomes the newest.
  table.heard(waiting[2], address(300), 50, true);
  const promoted: string[] = [];
  for (const id of occupants) {
    assert.ok(table.remove(id));
    const newest = table.nodes().at(-1)!;
    promoted.push(newest.id.toString());
    if (newest.id.equals(waiting[2])) {
      assert.equal(newest.address.host, address(300).host);
      assert.equal(newest.lastHeardMs, 50);
      assert.equal(table.state(newest.id, 60), "good");
    } else {
      const i = waiting.findIndex((id) => id.equals(newest.id));
      assert.equal(newest.address.host, address(100 + i).host);
      assert.equal(newest.lastHeardMs, 10 + i);
      assert.equal(table.state(newest.id, 60), "dubious");
    }
  }
  assert.deepEqual(
    promoted,
    [2, 8, 7, 6, 5, 4, 3, 1].map((i) => waiting[i].toString()),
  );
  assert.equal(table.get(waiting[0]), undefined);
});

Deno.test("RoutingTable.dubious(1) is the first of a full sort by last heard, then entry, over random tables", () => {
  // Method: random tables (times on a coarse grid, so that many tie; some
  // nodes failed, some expired, some answered), then dubious(1) against the
  // first of dubious(n), which sorts all dubious nodes.
  const rng = seededRng("dubious one");
  for (let round = 0; round < 200; round++) {
    const table = new RoutingTable(InfoHash.random(rng));
    for (let i = 0; i < 120; i++) {
      const id = InfoHash.random(rng);
      const atMs = Math.floor(rng() * 8) * 60_000;
      table.heard(id, address(i), atMs, rng() < 0.3);
      for (let f = Math.floor(rng() * 4); f > 0; f--) table.failed(id, atMs);
    }
    const nowMs = 9 * 60_000 + Math.floor(rng() * 4) * 60_000;
    const all = table.dubious(1_000, nowMs);
    const one = table.dubious(1, nowMs);
    assert.equal(one.length, Math.min(1, all.length));
    if (all.length > 0) assert.ok(one[0] === all[0], `round ${round}`);
  }
});

Deno.test("RoutingTable: after any mix of heard, failed and remove, get(), closest() and dubious(1) agree with the nodes' own fields", () => {
  // Method: the table keeps copies of its nodes' id tails and last-heard
  // times for its scans. Random operations (new ids, ids heard again later,
  // failures that expire nodes and promote replacements, removals), then
  // get() of every id against the table's own node list, closest() against
  // a full sort of its usable nodes, and dubious(1) against dubious(n),
  // which sorts the nodes by their own fields.
  const rng = seededRng("table copies");
  for (let round = 0; round < 60; round++) {
    const table = new RoutingTable(InfoHash.random(rng));
    const ids: InfoHash[] = [];
    let nowMs = 0;
    for (let step = 0; step < 400; step++) {
      nowMs += Math.floor(rng() * 3) * 20_000;
      const roll = rng();
      const known = ids.length > 0
        ? ids[Math.floor(rng() * ids.length)]
        : undefined;
      if (known === undefined || roll < 0.35) {
        const id = InfoHash.random(rng);
        ids.push(id);
        table.heard(id, address(step), nowMs, rng() < 0.5);
      } else if (roll < 0.7) {
        table.heard(known, address(step), nowMs, rng() < 0.5);
      } else if (roll < 0.9) table.failed(known, nowMs);
      else table.remove(known);
      if (step % 20 !== 19) continue;
      const inBuckets = new Map(
        table.nodes().map((node) => [node.id.toString(), node]),
      );
      for (const id of ids) {
        assert.equal(
          table.get(id),
          inBuckets.get(id.toString()),
          `round ${round} step ${step}`,
        );
      }
      const checkMs = nowMs + Math.floor(rng() * 12) * 60_000;
      // closest() against a full sort of the usable nodes by distance.
      const target = rng() < 0.5
        ? InfoHash.random(rng)
        : ids[step % ids.length];
      for (const goodOnly of [false, true]) {
        const usable = table.nodes().filter((node) =>
          node.failedRequests < MAX_FAILED_REQUESTS &&
          (!goodOnly || table.state(node.id, checkMs) === "good")
        );
        usable.sort((a, b) => target.compareDistance(a.id, b.id));
        for (const count of [1, 8, 20]) {
          assert.deepEqual(
            table.closest(target, count, checkMs, goodOnly),
            usable.slice(0, count),
            `round ${round} step ${step} goodOnly ${goodOnly} count ${count}`,
          );
        }
      }
      const all = table.dubious(10_000, checkMs);
      const one = table.dubious(1, checkMs);
      assert.equal(one.length, Math.min(1, all.length));
      if (all.length > 0) {
        assert.ok(one[0] === all[0], `round ${round} step ${step}`);
      }
    }
  }
});

Deno.test("A routing node's ipv4 is its host's number, read again when the host changes, -1 when it is not a dotted quad", () => {
  const table = new RoutingTable(SELF);
  const id = idInBucket(table, 3, 1);
  const first = table.heard(id, { host: "10.0.1.2", port: 1 }, 0, true);
  assert.equal(first.kind, "added");
  const node = table.get(id)!;
  assert.equal(node.ipv4, 0x0a00_0102);
  // A new object for the same host (a socket hands one per datagram).
  table.heard(id, { host: "10.0.1.2", port: 2 }, 1, false);
  assert.equal(node.ipv4, 0x0a00_0102);
  assert.equal(node.address.port, 2);
  table.heard(id, { host: "192.168.7.9", port: 2 }, 2, false);
  assert.equal(node.ipv4, 0xc0a8_0709);
  table.heard(id, { host: "2001:db8::1", port: 2 }, 3, false);
  assert.equal(node.ipv4, -1);
  table.heard(id, { host: "300.1.1.1", port: 2 }, 4, false);
  assert.equal(node.ipv4, -1);
  table.heard(id, { host: "1.2.3.4", port: 2 }, 5, false);
  assert.equal(node.ipv4, 0x0102_0304);
  // Replacements reuse node objects: one that enters a bucket carries its
  // own host's number, not that of the node the object held before.
  const full = new RoutingTable(SELF);
  const hosts = new Map<string, string>();
  for (let salt = 0; salt < 3 * BUCKET_SIZE; salt++) {
    const other = idInBucket(full, 0, salt + 10);
    const host = `10.1.${salt}.${salt + 1}`;
    hosts.set(other.toString(), host);
    full.heard(other, { host, port: 1 }, 0, true);
  }
  for (let round = 0; round < MAX_FAILED_REQUESTS; round++) {
    for (const occupant of full.nodes()) full.failed(occupant.id, 1);
  }
  let checked = 0;
  for (const occupant of full.nodes()) {
    const [a, b, c, d] = hosts.get(occupant.id.toString())!.split(".")
      .map(Number);
    assert.equal(occupant.ipv4, ((a * 256 + b) * 256 + c) * 256 + d);
    checked++;
  }
  assert.ok(checked > 0);
});

Deno.test("RoutingTable.heard(): a newcomer to a full bucket takes the place of an expired occupant, else waits and names a dubious one to ping", () => {
  const table = new RoutingTable(SELF);
  const occupants = fillBucket(table, 2);
  // All good: a newcomer waits, and no occupant is worth a ping.
  const waiting = table.heard(idInBucket(table, 2, 100), address(100), 1, true);
  assert.deepEqual(waiting, { kind: "full" });
  // Heard long ago without an answer since: dubious, named for a ping.
  const later = NODE_EXPIRE_TIME_MS + 1;
  for (const id of occupants.slice(1)) table.heard(id, address(1), later, true);
  const ping = table.heard(
    idInBucket(table, 2, 101),
    address(101),
    later,
    false,
  );
  assert.equal(ping.kind, "full");
  assert.equal(
    ping.kind === "full" ? ping.pingCandidate?.id : undefined,
    occupants[0],
  );
  // Expired with no replacement left to promote: the next newcomer enters.
  const fresh = new RoutingTable(SELF);
  fillBucket(fresh, 2);
  for (let round = 0; round < MAX_FAILED_REQUESTS; round++) {
    fresh.failed(occupants[3], 1);
  }
  assert.equal(fresh.state(occupants[3], 1), "expired");
  const newcomer = idInBucket(fresh, 2, 102);
  const entered = fresh.heard(newcomer, address(102), 2, true);
  assert.equal(entered.kind, "added");
  assert.equal(fresh.get(occupants[3]), undefined);
  assert.equal(fresh.get(newcomer)?.id, newcomer);
});

Deno.test("RoutingTable.closest() orders ids that share their first 32 bits as a full sort does", () => {
  // The scan compares the ids' first 30 bits and reads the ids only on a
  // tie: here most ids tie, in a few groups of shared leading bytes.
  const rng = seededRng("shared prefixes");
  const randomBytes = rngBytes(rng);
  const prefixes = [0x00, 0x40, 0x41, 0xc0].map((first) => [
    first,
    ...randomBytes(3),
  ]);
  const withPrefix = () => {
    const bytes = randomBytes(20);
    bytes.set(prefixes[randomInt(rng, prefixes.length)]);
    return InfoHash.fromBytes(bytes);
  };
  let compared = 0;
  for (let round = 0; round < 40; round++) {
    const table = new RoutingTable(withPrefix());
    for (let i = 0; i < 300; i++) {
      table.heard(withPrefix(), address(i), 0, true);
    }
    for (const target of [withPrefix(), InfoHash.random(rng)]) {
      const usable = table.nodes().slice();
      usable.sort((a, b) => target.compareDistance(a.id, b.id));
      for (const count of [1, 8, 20]) {
        assert.deepEqual(
          table.closest(target, count, 0),
          usable.slice(0, count),
        );
        compared++;
      }
    }
  }
  assert.equal(compared, 240);
});

Deno.test("RoutingTable: a node object keeps its own times and failure count when others move, when it moves down a place and after it leaves the buckets", () => {
  // Method: a node's times live in the table's slot arrays while it is in a
  // bucket and in the object once it leaves. Random operations; before each,
  // every node object in the table is noted with its values; after it, an
  // object that left must read the same values as before (nothing touches
  // it any more), and one still in the table the same values unless the
  // operation named its id. Reading a slot that another node now holds, or
  // a node that left reading its old slot, fails this.
  const rng = seededRng("node values across slots");
  type Values = [number, number, number];
  const valuesOf = (node: {
    lastHeardMs: number;
    lastReplyMs: number;
    failedRequests: number;
  }): Values => [node.lastHeardMs, node.lastReplyMs, node.failedRequests];
  let left = 0;
  let moved = 0;
  for (let round = 0; round < 40; round++) {
    const table = new RoutingTable(SELF);
    const ids: InfoHash[] = [];
    let nowMs = 0;
    for (let step = 0; step < 300; step++) {
      nowMs += 1 + Math.floor(rng() * 3) * 20_000;
      const before = new Map(
        table.nodes().map((node) => [node, valuesOf(node)] as const),
      );
      const slotOf = new Map(table.nodes().map((node, i) => [node, i]));
      const roll = rng();
      const bucket = Math.floor(rng() * 3);
      let id: InfoHash;
      let failed = false;
      if (ids.length === 0 || roll < 0.4) {
        id = idInBucket(table, bucket, ids.length + 1);
        ids.push(id);
        table.heard(id, address(step), nowMs, rng() < 0.5);
      } else {
        id = ids[Math.floor(rng() * ids.length)];
        failed = roll >= 0.6 && roll < 0.85;
        if (roll < 0.6) table.heard(id, address(step), nowMs, rng() < 0.5);
        else if (failed) table.failed(id, nowMs);
        else table.remove(id);
      }
      const now = new Set(table.nodes());
      const order = table.nodes();
      for (const [node, values] of before) {
        const still = now.has(node);
        if (!still) left++;
        else if (order.indexOf(node) !== slotOf.get(node)) moved++;
        const named = node.id.equals(id);
        if (still && named && !failed) continue; // heard: its times moved
        const [heardMs, replyMs, failures] = values;
        assert.deepEqual(
          valuesOf(node),
          named && failed ? [heardMs, replyMs, failures + 1] : values,
          `round ${round} step ${step} ${still ? "in table" : "left"}`,
        );
      }
    }
  }
  // The operations did make nodes leave and move down.
  assert.ok(left > 100, `${left} left`);
  assert.ok(moved > 100, `${moved} moved`);
});
