/**
 * `RoutingTable`: Kademlia buckets of {@link BUCKET_SIZE} nodes, indexed by
 * the length of the prefix a node id shares with our own id (bucket `i` holds
 * ids whose first differing bit from ours is bit `i`). That is the same set of
 * buckets OpenDHT gets by splitting the bucket containing its own id.
 *
 * Node states follow OpenDHT (`src/node.cpp`): **good** when it answered one
 * of our requests within {@link NODE_GOOD_TIME_MS} and was heard from within
 * {@link NODE_EXPIRE_TIME_MS}; **expired** after {@link MAX_FAILED_REQUESTS}
 * unanswered requests in a row; **dubious** otherwise. A full bucket takes a
 * new node only in place of an expired one; a dubious occupant is offered to
 * the caller to ping, and the newcomer waits in a bounded replacement cache.
 *
 * The table does no I/O and reads no clock: every call takes `nowMs`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RoutingTable } from "./routing_table.ts";
 * import { InfoHash } from "../identity/info_hash.ts";
 *
 * const table = new RoutingTable(InfoHash.get("me"));
 * const peer = InfoHash.get("peer");
 * table.heard(peer, { host: "10.0.0.2", port: 4222 }, 0, true);
 * assert.equal(table.state(peer, 1_000), "good");
 * assert.deepEqual(table.closest(peer, 8, 1_000).map((node) => node.id), [peer]);
 * ```
 *
 * @module
 */
import { INFO_HASH_BITS, InfoHash } from "../identity/info_hash.ts";
import type { PeerAddress } from "../transport.ts";
import type { Rng } from "../rng.ts";

/** Nodes per bucket (OpenDHT TARGET_NODES). */
export const BUCKET_SIZE = 8;
/** Replacement candidates kept per bucket. */
export const REPLACEMENT_CACHE_SIZE = 8;
/** A node is good only if it answered within 120 minutes (NODE_GOOD_TIME). */
export const NODE_GOOD_TIME_MS = 120 * 60_000;
/** …and was heard from within 10 minutes (NODE_EXPIRE_TIME). */
export const NODE_EXPIRE_TIME_MS = 10 * 60_000;
/** Unanswered requests in a row after which a node is expired. */
export const MAX_FAILED_REQUESTS = 3;

/** Health of a known node. */
export type NodeState = "good" | "dubious" | "expired";

/** A node in the table. Fields are updated in place by the table. */
export interface RoutingNode {
  /** The node's id; its distance to ours decides its bucket. */
  readonly id: InfoHash;
  /** Where we last heard from it; a node that moves keeps its entry. */
  address: PeerAddress;
  /** When we last received anything from it, epoch ms. */
  lastHeardMs: number;
  /** When it last answered one of our requests, epoch ms (-Infinity if never). */
  lastReplyMs: number;
  /** Requests in a row that got no answer. */
  failedRequests: number;
}

/** What {@link RoutingTable.heard} did. */
export type HeardResult =
  | { readonly kind: "self" }
  | { readonly kind: "added"; readonly node: RoutingNode }
  | { readonly kind: "updated"; readonly node: RoutingNode }
  | {
    readonly kind: "full";
    /** A dubious occupant worth pinging: if it fails, the newcomer may take its place. */
    readonly pingCandidate?: RoutingNode;
  };

interface Bucket {
  nodes: RoutingNode[];
  replacements: RoutingNode[];
  /** When a node of this bucket last answered, or the bucket was refreshed. */
  lastActivityMs: number;
}

function stateOf(node: RoutingNode, nowMs: number): NodeState {
  if (node.failedRequests >= MAX_FAILED_REQUESTS) return "expired";
  if (
    node.lastReplyMs >= nowMs - NODE_GOOD_TIME_MS &&
    node.lastHeardMs >= nowMs - NODE_EXPIRE_TIME_MS
  ) return "good";
  return "dubious";
}

/**
 * Routing nodes by id, keyed by the id's first 30 bits (a small integer, so
 * no hex string is made per lookup); two ids sharing those bits, which is
 * rare, keep the later one aside under its hex form.
 */
class NodeIndex {
  readonly #byPrefix = new Map<number, RoutingNode>();
  readonly #clashes = new Map<string, RoutingNode>();

  get size(): number {
    return this.#byPrefix.size + this.#clashes.size;
  }

  get(id: InfoHash): RoutingNode | undefined {
    const node = this.#byPrefix.get(id.prefix30);
    if (node !== undefined && node.id.equals(id)) return node;
    return this.#clashes.size === 0
      ? undefined
      : this.#clashes.get(id.toString());
  }

  set(node: RoutingNode): void {
    const key = node.id.prefix30;
    const held = this.#byPrefix.get(key);
    if (held === undefined || held.id.equals(node.id)) {
      this.#byPrefix.set(key, node);
    } else this.#clashes.set(node.id.toString(), node);
  }

  delete(id: InfoHash): void {
    const key = id.prefix30;
    const held = this.#byPrefix.get(key);
    if (held === undefined || !held.id.equals(id)) {
      this.#clashes.delete(id.toString());
      return;
    }
    this.#byPrefix.delete(key);
    for (const [hex, node] of this.#clashes) {
      if (node.id.prefix30 !== key) continue;
      this.#clashes.delete(hex);
      this.#byPrefix.set(key, node);
      return;
    }
  }

  /**
   * Calls `visit` on every node, in insertion order (clashes last).
   *
   * @param visit Called once per node.
   */
  forEach(visit: (node: RoutingNode) => void): void {
    for (const node of this.#byPrefix.values()) visit(node);
    if (this.#clashes.size > 0) {
      for (const node of this.#clashes.values()) visit(node);
    }
  }

  /**
   * The dubious node heard least recently; of equals, the first in
   * insertion order (clashes last). A loop without a closure: every node of
   * a simulation runs it once a maintenance round over its whole table.
   *
   * @param nowMs Current time.
   * @returns The node, if any is dubious.
   */
  leastRecentlyHeardDubious(nowMs: number): RoutingNode | undefined {
    let oldest: RoutingNode | undefined;
    for (const node of this.#byPrefix.values()) {
      if (
        (oldest === undefined || node.lastHeardMs < oldest.lastHeardMs) &&
        stateOf(node, nowMs) === "dubious"
      ) oldest = node;
    }
    if (this.#clashes.size === 0) return oldest;
    for (const node of this.#clashes.values()) {
      if (
        (oldest === undefined || node.lastHeardMs < oldest.lastHeardMs) &&
        stateOf(node, nowMs) === "dubious"
      ) oldest = node;
    }
    return oldest;
  }

  /** Every node, in insertion order (clashes last). */
  values(): RoutingNode[] {
    return [...this.#byPrefix.values(), ...this.#clashes.values()];
  }
}

/**
 * Ends a sorted group of {@link RoutingTable.closest}: keeps at most `count`
 * nodes in `out` and returns where the next group starts.
 */
function closeGroup(out: RoutingNode[], count: number): number {
  if (out.length > count) out.length = count;
  return out.length;
}

/** A Kademlia routing table around `selfId`. */
export class RoutingTable {
  /** Our own node id. */
  readonly selfId: InfoHash;
  readonly #buckets: (Bucket | undefined)[] = [];
  /** The deepest bucket made so far (none beyond it exists). */
  #deepestMade = -1;

  #bucket(index: number): Bucket {
    if (index > this.#deepestMade) this.#deepestMade = index;
    return this.#buckets[index] ??= {
      nodes: [],
      replacements: [],
      lastActivityMs: 0,
    };
  }
  readonly #byId = new NodeIndex();

  /**
   * An empty table.
   *
   * @param selfId Our node id.
   */
  constructor(selfId: InfoHash) {
    this.selfId = selfId;
    // Buckets are made on first use: a node fills only the first
    // log2(network size) or so, and a simulation holds many tables.
    this.#buckets.length = INFO_HASH_BITS;
  }

  /** Number of nodes in buckets (not counting replacement caches). */
  get size(): number {
    return this.#byId.size;
  }

  /**
   * Bucket index of `id`: length of the prefix shared with our id.
   *
   * @param id Another id (not ours).
   * @returns 0..159.
   */
  bucketIndex(id: InfoHash): number {
    return this.selfId.commonPrefixBits(id);
  }

  /**
   * The node with this id, if in a bucket.
   *
   * @param id Node id.
   * @returns The node or undefined.
   */
  get(id: InfoHash): RoutingNode | undefined {
    return this.#byId.get(id);
  }

  /**
   * Health of a node; `undefined` when unknown.
   *
   * @param id Node id.
   * @param nowMs Current time.
   * @returns Its state.
   */
  state(id: InfoHash, nowMs: number): NodeState | undefined {
    const node = this.get(id);
    return node === undefined ? undefined : stateOf(node, nowMs);
  }

  /**
   * Records that a message arrived from `id` at `address`.
   *
   * @param id Sender node id.
   * @param address Its address.
   * @param nowMs Current time.
   * @param isReply True when it answered one of our requests (confirms it is reachable).
   * @returns What the table did.
   */
  heard(
    id: InfoHash,
    address: PeerAddress,
    nowMs: number,
    isReply: boolean,
  ): HeardResult {
    if (id.equals(this.selfId)) return { kind: "self" };
    const known = this.#byId.get(id);
    if (known !== undefined) {
      known.address = address;
      known.lastHeardMs = nowMs;
      if (isReply) {
        known.lastReplyMs = nowMs;
        known.failedRequests = 0;
        // A known node's bucket exists: finding it is only worth it here.
        this.#bucket(this.bucketIndex(id)).lastActivityMs = nowMs;
      }
      return { kind: "updated", node: known };
    }
    const bucket = this.#bucket(this.bucketIndex(id));
    const node: RoutingNode = {
      id,
      address,
      lastHeardMs: nowMs,
      lastReplyMs: isReply ? nowMs : -Infinity,
      failedRequests: 0,
    };
    if (bucket.nodes.length < BUCKET_SIZE) {
      bucket.nodes.push(node);
      this.#byId.set(node);
      if (isReply) bucket.lastActivityMs = nowMs;
      return { kind: "added", node };
    }
    // A full bucket: every request from a node we do not know lands here
    // (half of them in bucket 0), so plain loops rather than closures.
    const occupants = bucket.nodes;
    for (let i = 0; i < occupants.length; i++) {
      if (occupants[i].failedRequests < MAX_FAILED_REQUESTS) continue;
      // Expired (stateOf says so for failed nodes alone).
      this.#byId.delete(occupants[i].id);
      occupants[i] = node;
      this.#byId.set(node);
      return { kind: "added", node };
    }
    this.#remember(bucket, node);
    let pingCandidate: RoutingNode | undefined;
    for (let i = 0; i < occupants.length; i++) {
      if (stateOf(occupants[i], nowMs) === "dubious") {
        pingCandidate = occupants[i];
        break;
      }
    }
    return pingCandidate === undefined
      ? { kind: "full" }
      : { kind: "full", pingCandidate };
  }

  #remember(bucket: Bucket, node: RoutingNode): void {
    const replacements = bucket.replacements;
    for (let i = 0; i < replacements.length; i++) {
      if (!replacements[i].id.equals(node.id)) continue;
      replacements.splice(i, 1);
      break;
    }
    bucket.replacements.push(node);
    if (bucket.replacements.length > REPLACEMENT_CACHE_SIZE) {
      bucket.replacements.shift();
    }
  }

  /**
   * Records that a request to `id` got no answer. After
   * {@link MAX_FAILED_REQUESTS} the node is expired and, if a replacement
   * candidate is waiting, replaced by the most recently heard one.
   *
   * @param id Node id.
   * @param nowMs Current time.
   */
  failed(id: InfoHash, nowMs: number): void {
    const node = this.#byId.get(id);
    if (node === undefined) return;
    node.failedRequests += 1;
    if (stateOf(node, nowMs) !== "expired") return;
    const bucket = this.#bucket(this.bucketIndex(id));
    const replacement = bucket.replacements.pop();
    if (replacement === undefined) return;
    const index = bucket.nodes.indexOf(node);
    bucket.nodes[index] = replacement;
    this.#byId.delete(id);
    this.#byId.set(replacement);
  }

  /**
   * Removes a node (for example one that left cleanly).
   *
   * @param id Node id.
   * @returns True if it was in the table.
   */
  remove(id: InfoHash): boolean {
    const node = this.#byId.get(id);
    if (node === undefined) return false;
    const bucket = this.#bucket(this.bucketIndex(id));
    bucket.nodes.splice(bucket.nodes.indexOf(node), 1);
    this.#byId.delete(id);
    const replacement = bucket.replacements.pop();
    if (replacement !== undefined) {
      bucket.nodes.push(replacement);
      this.#byId.set(replacement);
    }
    return true;
  }

  /**
   * Adds the usable nodes of `bucket` to `out`, keeping `out[groupStart..]`
   * sorted by distance to `target` (insertion sort) and `out` at most `count`
   * long: the closest of the group stay, as if sorted and cut.
   */
  #collect(
    bucket: Bucket | undefined,
    target: InfoHash,
    out: RoutingNode[],
    groupStart: number,
    count: number,
    goodReplySince: number,
    goodHeardSince: number,
  ): void {
    if (bucket === undefined) return;
    const nodes = bucket.nodes;
    for (let n = 0; n < nodes.length; n++) {
      const node = nodes[n];
      if (
        node.failedRequests >= MAX_FAILED_REQUESTS ||
        node.lastReplyMs < goodReplySince || node.lastHeardMs < goodHeardSince
      ) continue;
      let at = out.length;
      if (at >= count) {
        // Full: only a node closer than the farthest kept gets in.
        if (
          at === groupStart ||
          target.compareDistance(node.id, out[at - 1].id) >= 0
        ) continue;
        at--;
      } else out.push(node);
      while (
        at > groupStart && target.compareDistance(node.id, out[at - 1].id) < 0
      ) {
        out[at] = out[at - 1];
        at--;
      }
      out[at] = node;
    }
  }

  /**
   * Up to `count` nodes closest to `target` by XOR distance, closest first,
   * skipping expired nodes (and dubious ones when `goodOnly`).
   *
   * @param target Target id.
   * @param count How many.
   * @param nowMs Current time.
   * @param goodOnly Only good nodes (what find/get replies send). @default {false}
   * @returns The nodes.
   */
  closest(
    target: InfoHash,
    count: number,
    nowMs: number,
    goodOnly = false,
  ): RoutingNode[] {
    // Buckets are visited in order of distance to the target, so only about
    // `count` nodes are sorted: with b the prefix `target` shares with us,
    // bucket b is closest, then buckets deeper than b (all sharing exactly b
    // bits with the target), then buckets b-1, b-2, … 0.
    const b = Math.min(
      this.selfId.commonPrefixBits(target),
      INFO_HASH_BITS - 1,
    );
    const out: RoutingNode[] = [];
    // Usable: not expired, and good when `goodOnly` (stateOf, inlined: this
    // runs for every find a node answers). Each group of buckets at one
    // distance from the target is sorted by insertion (groups are small),
    // without a closure per call.
    const goodReplySince = goodOnly ? nowMs - NODE_GOOD_TIME_MS : -Infinity;
    const goodHeardSince = goodOnly ? nowMs - NODE_EXPIRE_TIME_MS : -Infinity;
    const buckets = this.#buckets;
    let groupStart = 0;
    this.#collect(
      buckets[b],
      target,
      out,
      groupStart,
      count,
      goodReplySince,
      goodHeardSince,
    );
    groupStart = closeGroup(out, count);
    if (out.length < count) {
      const deepest = Math.min(this.#deepestMade, INFO_HASH_BITS - 1);
      for (let i = b + 1; i <= deepest; i++) {
        this.#collect(
          buckets[i],
          target,
          out,
          groupStart,
          count,
          goodReplySince,
          goodHeardSince,
        );
      }
      groupStart = closeGroup(out, count);
    }
    for (let i = b - 1; i >= 0 && out.length < count; i--) {
      this.#collect(
        buckets[i],
        target,
        out,
        groupStart,
        count,
        goodReplySince,
        goodHeardSince,
      );
      groupStart = closeGroup(out, count);
    }
    return out;
  }

  /**
   * Every node in the table, bucket by bucket.
   *
   * @returns The nodes.
   */
  nodes(): RoutingNode[] {
    return this.#buckets.flatMap((bucket) => bucket?.nodes ?? []);
  }

  /**
   * Counts of nodes per state.
   *
   * @param nowMs Current time.
   * @returns Good, dubious and expired counts.
   */
  counts(nowMs: number): Record<NodeState, number> {
    const counts = { good: 0, dubious: 0, expired: 0 };
    for (const node of this.#byId.values()) counts[stateOf(node, nowMs)] += 1;
    return counts;
  }

  /**
   * Whether a node we have not met would get a place now: not us, not known,
   * and its bucket has room or an expired node to replace.
   *
   * @param id Node id.
   * @param nowMs Current time.
   * @returns True if {@link RoutingTable.heard} would add it.
   */
  wouldAccept(id: InfoHash, nowMs: number): boolean {
    if (id.equals(this.selfId) || this.#byId.get(id) !== undefined) {
      return false;
    }
    const bucket = this.#bucket(this.bucketIndex(id));
    return bucket.nodes.length < BUCKET_SIZE ||
      bucket.nodes.some((node) => stateOf(node, nowMs) === "expired");
  }

  /**
   * Up to `count` dubious nodes, least recently heard first: worth a ping.
   *
   * @param count How many.
   * @param nowMs Current time.
   * @returns The nodes.
   */
  dubious(count: number, nowMs: number): RoutingNode[] {
    if (count === 1) {
      // The maintenance case: the first of the least recently heard, as the
      // stable sort below would put first, without sorting.
      const oldest = this.#byId.leastRecentlyHeardDubious(nowMs);
      return oldest === undefined ? [] : [oldest];
    }
    const out: RoutingNode[] = [];
    this.#byId.forEach((node) => {
      if (stateOf(node, nowMs) === "dubious") out.push(node);
    });
    out.sort((a, b) => a.lastHeardMs - b.lastHeardMs);
    return out.slice(0, count);
  }

  /**
   * Random target ids inside buckets that saw no answer for `staleMs`, up to
   * the deepest non-empty bucket plus one (the buckets a node can fill),
   * for bucket refresh lookups. Marks them refreshed.
   *
   * @param nowMs Current time.
   * @param staleMs Idle time after which a bucket is refreshed.
   * @param rng Random source for the targets.
   * @returns Targets to look up.
   */
  refreshTargets(nowMs: number, staleMs: number, rng: Rng): InfoHash[] {
    let deepest = 0;
    const made = Math.min(this.#deepestMade, INFO_HASH_BITS - 1);
    for (let i = 0; i <= made; i++) {
      if ((this.#buckets[i]?.nodes.length ?? 0) > 0) deepest = i;
    }
    const targets: InfoHash[] = [];
    const limit = Math.min(deepest + 1, INFO_HASH_BITS - 1);
    for (let i = 0; i <= limit; i++) {
      const bucket = this.#bucket(i);
      if (nowMs - bucket.lastActivityMs < staleMs) continue;
      bucket.lastActivityMs = nowMs;
      targets.push(this.randomIdInBucket(i, rng));
    }
    return targets;
  }

  /**
   * A random id that falls in bucket `index`: shares `index` leading bits
   * with our id and differs at bit `index`.
   *
   * @param index Bucket index 0..159.
   * @param rng Random source.
   * @returns The id.
   */
  randomIdInBucket(index: number, rng: Rng): InfoHash {
    const random = InfoHash.random(rng).bytes;
    const self = this.selfId.bytes;
    const out = new Uint8Array(self.length);
    for (let bit = 0; bit < INFO_HASH_BITS; bit++) {
      const byte = bit >> 3;
      const mask = 0x80 >> (bit & 7);
      let value: number;
      if (bit < index) value = self[byte] & mask;
      else if (bit === index) value = (self[byte] & mask) ^ mask;
      else value = random[byte] & mask;
      out[byte] |= value;
    }
    return InfoHash.fromBytes(out);
  }
}
