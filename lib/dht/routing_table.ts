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
 * const closest = table.closest(peer, 8, 1_000);
 * assert.deepEqual(closest.map((node) => node.id.toString()), [peer.toString()]);
 * ```
 *
 * @module
 */
import {
  INFO_HASH_BITS,
  INFO_HASH_BYTES,
  InfoHash,
} from "../identity/info_hash.ts";
import type { PeerAddress } from "../transport.ts";
import { strictIpv4Number } from "./_ipv4_number.ts";
import type { Rng } from "../rng.ts";

/** {@link RoutingTable.randomIdInBucket}'s bytes: random, ours, the result. */
const BUCKET_ID_SCRATCH = new Uint8Array(3 * INFO_HASH_BYTES);
const SELF_AT = INFO_HASH_BYTES;
const OUT_AT = 2 * INFO_HASH_BYTES;

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

/**
 * A node in the table. Fields are updated in place by the table, and only
 * by it (it keeps copies of some of them for its scans).
 */
export interface RoutingNode {
  /** The node's id; its distance to ours decides its bucket. */
  readonly id: InfoHash;
  /** Where we last heard from it; a node that moves keeps its entry. */
  readonly address: PeerAddress;
  /**
   * The address's host as a 32-bit IPv4 number (`strictIpv4Number`), or -1
   * when it is not a dotted quad: whether the node may go in a reply's `n4`
   * list, read once per address rather than in every reply.
   */
  readonly ipv4: number;
  /** When we last received anything from it, epoch ms. */
  readonly lastHeardMs: number;
  /** When it last answered one of our requests, epoch ms (-Infinity if never). */
  readonly lastReplyMs: number;
  /** Requests in a row that got no answer. */
  readonly failedRequests: number;
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
  nodes: TableNode[];
  replacements: TableNode[];
}

function stateOf(node: RoutingNode, nowMs: number): NodeState {
  if (node.failedRequests >= MAX_FAILED_REQUESTS) return "expired";
  if (
    node.lastReplyMs >= nowMs - NODE_GOOD_TIME_MS &&
    node.lastHeardMs >= nowMs - NODE_EXPIRE_TIME_MS
  ) return "good";
  return "dubious";
}

/** What {@link RoutingTable.heard} says of a full bucket with no node to ping. */
const FULL: HeardResult = Object.freeze({ kind: "full" });
/** What {@link RoutingTable.heard} says of our own id. */
const SELF: HeardResult = Object.freeze({ kind: "self" });

/**
 * Where a table keeps the times and failure counts of the nodes in its
 * buckets, by slot (see {@link RoutingTable}'s copies): one object per table,
 * shared by its nodes.
 */
interface SlotTimes {
  readonly heard: number[];
  readonly replied: number[];
  readonly failed: number[];
}

/**
 * A routing node as the table holds it. Even the id may change: the object
 * of a replacement that goes is used again for the next one.
 *
 * Two states: in a bucket (`slot` ≥ 0), its times and failure count live in
 * the table's slot arrays alone, so that a message from it updates those
 * arrays and never reads or writes this object (in a large simulation a
 * cache miss, and a write into a boxed number, each); out of the buckets (a
 * replacement, or a node that left), in its own fields. {@link
 * TableNode.enter} and {@link TableNode.leave} move the values between the
 * two.
 */
class TableNode implements RoutingNode {
  id: InfoHash;
  address: PeerAddress;
  ipv4: number;
  #lastHeardMs: number;
  #lastReplyMs: number;
  #failedRequests: number;
  readonly #times: SlotTimes;
  /** Its slot in the table's arrays while in a bucket, else -1. */
  slot = -1;
  /**
   * When it entered the buckets, as a count of entries made by the table: of
   * two nodes heard at the same moment, the earlier entry is the less
   * recently heard.
   */
  entry = 0;
  /**
   * The id's last 30 bits: a scan compares these numbers (the table's copy
   * for its buckets, this one for replacement caches) and reads an id only
   * when they match (ids in a bucket share their first bits with ours, and
   * with each other).
   */
  tail: number;

  constructor(
    times: SlotTimes,
    id: InfoHash,
    address: PeerAddress,
    nowMs: number,
    isReply: boolean,
  ) {
    this.#times = times;
    this.id = id;
    this.address = address;
    this.ipv4 = strictIpv4Number(address.host);
    this.#lastHeardMs = nowMs;
    this.#lastReplyMs = isReply ? nowMs : -Infinity;
    this.#failedRequests = 0;
    this.tail = id.suffix30;
  }

  get lastHeardMs(): number {
    return this.slot < 0 ? this.#lastHeardMs : this.#times.heard[this.slot];
  }

  get lastReplyMs(): number {
    return this.slot < 0 ? this.#lastReplyMs : this.#times.replied[this.slot];
  }

  get failedRequests(): number {
    return this.slot < 0 ? this.#failedRequests : this.#times.failed[this.slot];
  }

  /** Takes slot `slot`, writing its values there (read from its old slot if it had one). */
  enter(slot: number): void {
    const times = this.#times;
    const heard = this.lastHeardMs;
    const replied = this.lastReplyMs;
    const failed = this.failedRequests;
    this.slot = slot;
    times.heard[slot] = heard;
    times.replied[slot] = replied;
    times.failed[slot] = failed;
  }

  /** Leaves the buckets, taking its values back from its slot. */
  leave(): void {
    if (this.slot < 0) return;
    this.#lastHeardMs = this.lastHeardMs;
    this.#lastReplyMs = this.lastReplyMs;
    this.#failedRequests = this.failedRequests;
    this.slot = -1;
  }

  /**
   * Takes `address` as the node's; the host is parsed again only if it
   * changed (a transport may hand a new object per datagram).
   */
  moved(address: PeerAddress): void {
    if (address === this.address) return;
    if (address.host !== this.address.host) {
      this.ipv4 = strictIpv4Number(address.host);
    }
    this.address = address;
  }

  /** Becomes a node first heard now (a replacement's object used again; not in a bucket). */
  reset(
    id: InfoHash,
    address: PeerAddress,
    nowMs: number,
    isReply: boolean,
  ): void {
    this.id = id;
    this.moved(address);
    this.#lastHeardMs = nowMs;
    this.#lastReplyMs = isReply ? nowMs : -Infinity;
    this.#failedRequests = 0;
    this.entry = 0;
    this.tail = id.suffix30;
  }
}

/** Orders nodes by when they were last heard, then by entry. */
function heardEarlier(a: TableNode, b: TableNode): number {
  return a.lastHeardMs - b.lastHeardMs || a.entry - b.entry;
}

/** The ids of `closest()`'s result as it is built (emptied after each call). */
const CLOSEST_IDS: InfoHash[] = [];
/**
 * Beside {@link CLOSEST_IDS}: each id's first 30 bits XOR the target's,
 * which order two ids by distance unless equal.
 */
const CLOSEST_DISTANCES: number[] = [];

/** Orders `id` (with `distance`, see above) against the kept id at `at`. */
function compareKept(
  target: InfoHash,
  id: InfoHash,
  distance: number,
  at: number,
): number {
  const d = distance - CLOSEST_DISTANCES[at];
  return d !== 0 ? d : target.compareDistance(id, CLOSEST_IDS[at]);
}

/** A Kademlia routing table around `selfId`. */
export class RoutingTable {
  /** Our own node id. */
  readonly selfId: InfoHash;
  readonly #buckets: (Bucket | undefined)[] = [];
  /** The deepest bucket made so far (none beyond it exists). */
  #deepestMade = -1;

  /**
   * Copies of the ids, id tails, last-heard and last-reply times and failure
   * counts of the nodes in buckets, at slot `BUCKET_SIZE * bucket +
   * position`: the scans of every request (is the sender known?), of every
   * `find` answered (`closest()`) and of every maintenance round (the least
   * recently heard dubious node) read these arrays instead of a node object
   * and its boxed times each, which in a large simulation is a cache miss
   * each. {@link RoutingTable.#place} keeps the ids, tails and nodes equal
   * to the nodes' own; the times and failure counts are not copies but the
   * only record while a node is in a bucket (its getters read them there).
   */
  readonly #ids: InfoHash[] = [];
  /**
   * The nodes themselves, by slot: one array read where the bucket's object
   * and its node list would be two more, dependent, cache misses.
   */
  readonly #nodes: (TableNode | undefined)[] = [];
  readonly #tails: number[] = [];
  /** The ids' first 30 bits (`prefix30`), for distance comparisons. */
  readonly #heads: number[] = [];
  /**
   * The nodes' addresses as last taken, by slot: a message from the same
   * address object (the common case) leaves the node object unread.
   */
  readonly #addresses: (PeerAddress | undefined)[] = [];
  /** The only copy of these while a node is in a bucket (see {@link TableNode}). */
  readonly #times: SlotTimes = { heard: [], replied: [], failed: [] };
  // The same three arrays under the table's own names: its scans read them
  // without going through `#times` first.
  readonly #heard: number[] = this.#times.heard;
  readonly #replied: number[] = this.#times.replied;
  readonly #failed: number[] = this.#times.failed;
  /**
   * Per bucket, up to {@link RoutingTable.#deepestMade}: how many nodes it
   * holds, and when a node of it last answered or it was refreshed. Scans
   * that only need these (is the sender known? which buckets are quiet?)
   * read one small array instead of a bucket object and its node list each.
   */
  readonly #sizes: number[] = [];
  readonly #activity: number[] = [];

  /** Makes room in the per-slot and per-bucket copies up to bucket `index`. */
  #grow(index: number): void {
    if (index <= this.#deepestMade) return;
    this.#deepestMade = index;
    const slots = (index + 1) * BUCKET_SIZE;
    while (this.#tails.length < slots) {
      this.#ids.push(this.selfId);
      this.#nodes.push(undefined);
      this.#addresses.push(undefined);
      this.#tails.push(0);
      this.#heads.push(0);
      this.#heard.push(0);
      this.#replied.push(0);
      this.#failed.push(0);
    }
    while (this.#sizes.length <= index) {
      this.#sizes.push(0);
      this.#activity.push(0);
    }
  }

  #bucket(index: number): Bucket {
    this.#grow(index);
    return this.#buckets[index] ??= { nodes: [], replacements: [] };
  }

  /**
   * Puts `node` at `position` of bucket `index` (and its copies in the
   * slots); the node there before, unless it moved to another slot, leaves.
   */
  #place(index: number, position: number, node: TableNode): void {
    const nodes = this.#buckets[index]!.nodes;
    nodes[position] = node;
    this.#sizes[index] = nodes.length;
    const slot = index * BUCKET_SIZE + position;
    const before = this.#nodes[slot];
    if (before !== undefined && before !== node && before.slot === slot) {
      before.leave();
    }
    this.#ids[slot] = node.id;
    this.#nodes[slot] = node;
    this.#addresses[slot] = node.address;
    this.#tails[slot] = node.tail;
    this.#heads[slot] = node.id.prefix30;
    node.enter(slot);
  }
  /** Nodes in buckets. */
  #size = 0;
  /** Entries made so far (see {@link RoutingNode.entry}). */
  #entries = 0;

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
    return this.#size;
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
    // The id's bucket holds at most BUCKET_SIZE nodes: scanning them costs
    // about what a map probe does, and a map beside the buckets cost a node
    // of a large simulation 4 KB. Ids decoded from the wire are shared
    // objects (`InfoHash`), so the identity test usually settles it.
    const index = this.bucketIndex(id);
    const position = this.#position(index, id);
    return position < 0
      ? undefined
      : this.#nodes[index * BUCKET_SIZE + position];
  }

  /** Where `id` is in bucket `index`, or -1. */
  #position(index: number, id: InfoHash): number {
    if (index > this.#deepestMade) return -1;
    const size = this.#sizes[index];
    const tails = this.#tails;
    const first = index * BUCKET_SIZE;
    const tail = id.suffix30;
    for (let i = 0; i < size; i++) {
      if (tails[first + i] !== tail) continue;
      const other = this.#ids[first + i];
      if (other === id || other.equals(id)) return i;
    }
    return -1;
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
    if (id.equals(this.selfId)) return SELF;
    const index = this.bucketIndex(id);
    const position = this.#position(index, id);
    if (position >= 0) {
      const slot = index * BUCKET_SIZE + position;
      const known = this.#nodes[slot]!;
      if (address !== this.#addresses[slot]) {
        known.moved(address);
        this.#addresses[slot] = address;
      }
      this.#heard[slot] = nowMs;
      if (isReply) {
        this.#replied[slot] = nowMs;
        this.#failed[slot] = 0;
        this.#activity[index] = nowMs;
      }
      return { kind: "updated", node: known };
    }
    const bucket = this.#bucket(index);
    if (bucket.nodes.length < BUCKET_SIZE) {
      const node = new TableNode(this.#times, id, address, nowMs, isReply);
      this.#place(index, bucket.nodes.length, node);
      this.#entered(node);
      if (isReply) this.#activity[index] = nowMs;
      return { kind: "added", node };
    }
    // A full bucket: every request from a node we do not know lands here
    // (half of them in bucket 0), so plain loops rather than closures, over
    // the table's copies of the occupants' fields (`stateOf`, inlined): the
    // node objects are read only for the one chosen.
    const first = index * BUCKET_SIZE;
    const failed = this.#failed;
    for (let i = 0; i < BUCKET_SIZE; i++) {
      if (failed[first + i] < MAX_FAILED_REQUESTS) continue;
      // Expired (stateOf says so for failed nodes alone).
      const node = new TableNode(this.#times, id, address, nowMs, isReply);
      this.#place(index, i, node);
      this.#entries += 1;
      node.entry = this.#entries;
      return { kind: "added", node };
    }
    this.#remember(bucket, id, address, nowMs, isReply);
    // None is expired now: the first that is not good is dubious.
    const goodReplySince = nowMs - NODE_GOOD_TIME_MS;
    const goodHeardSince = nowMs - NODE_EXPIRE_TIME_MS;
    const replied = this.#replied;
    const heard = this.#heard;
    let pingCandidate: RoutingNode | undefined;
    for (let i = 0; i < BUCKET_SIZE; i++) {
      const slot = first + i;
      if (replied[slot] >= goodReplySince && heard[slot] >= goodHeardSince) {
        continue;
      }
      pingCandidate = this.#nodes[slot];
      break;
    }
    return pingCandidate === undefined ? FULL : { kind: "full", pingCandidate };
  }

  /** Counts a node put in a bucket where there was room. */
  #entered(node: TableNode): void {
    this.#size += 1;
    this.#entries += 1;
    node.entry = this.#entries;
  }

  /**
   * Puts a node heard while its bucket was full at the end of the bucket's
   * replacement cache (the newest), out of its old place there if it had
   * one; the oldest goes once the cache is full. The object of the node that
   * goes is used again for the newcomer: under load every request from a
   * node we do not know lands here, and a fresh object per request outlived
   * the young generation to die in the old one. (A replacement is never
   * handed out while it waits: only once it enters the bucket.)
   */
  #remember(
    bucket: Bucket,
    id: InfoHash,
    address: PeerAddress,
    nowMs: number,
    isReply: boolean,
  ): void {
    const replacements = bucket.replacements;
    let node: TableNode | undefined;
    const tail = id.suffix30;
    for (let i = 0; i < replacements.length; i++) {
      const held = replacements[i];
      if (held.tail !== tail || (held.id !== id && !held.id.equals(id))) {
        continue;
      }
      node = replacements[i];
      // Out of its place, by hand: `splice` would allocate.
      for (let j = i + 1; j < replacements.length; j++) {
        replacements[j - 1] = replacements[j];
      }
      replacements.length -= 1;
      break;
    }
    if (node === undefined && replacements.length >= REPLACEMENT_CACHE_SIZE) {
      node = replacements.shift();
    }
    if (node === undefined) {
      node = new TableNode(this.#times, id, address, nowMs, isReply);
    } else node.reset(id, address, nowMs, isReply);
    replacements.push(node);
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
    const index = this.bucketIndex(id);
    const position = this.#position(index, id);
    if (position < 0) return;
    const bucket = this.#buckets[index]!;
    const slot = index * BUCKET_SIZE + position;
    const node = this.#nodes[slot]!;
    this.#failed[slot] += 1;
    if (stateOf(node, nowMs) !== "expired") return;
    const replacement = bucket.replacements.pop();
    if (replacement === undefined) return;
    this.#place(index, position, replacement);
    this.#entries += 1;
    replacement.entry = this.#entries;
  }

  /**
   * Removes a node (for example one that left cleanly).
   *
   * @param id Node id.
   * @returns True if it was in the table.
   */
  remove(id: InfoHash): boolean {
    const index = this.bucketIndex(id);
    const position = this.#position(index, id);
    if (position < 0) return false;
    const nodes = this.#buckets[index]!.nodes;
    // The nodes after it move down one place, with their copies.
    for (let i = position + 1; i < nodes.length; i++) {
      this.#place(index, i - 1, nodes[i]);
    }
    const last = index * BUCKET_SIZE + nodes.length - 1;
    // The removed node if it was the last; else the last moved down a place.
    const gone = this.#nodes[last]!;
    if (gone.slot === last) gone.leave();
    nodes.length -= 1;
    this.#sizes[index] = nodes.length;
    this.#nodes[last] = undefined;
    this.#addresses[last] = undefined;
    this.#size -= 1;
    const replacement = this.#buckets[index]!.replacements.pop();
    if (replacement !== undefined) {
      this.#place(index, nodes.length, replacement);
      this.#entered(replacement);
    }
    return true;
  }

  /**
   * Adds the usable nodes of bucket `index` to `out` (and their ids and
   * distances to {@link CLOSEST_IDS} and {@link CLOSEST_DISTANCES}, side by
   * side), keeping `out[groupStart..]` sorted by distance
   * to `target` (insertion sort) and `out` at most `count` long: the closest
   * of the group stay, as if sorted and cut. It reads the table's copies of
   * the nodes' fields, not the nodes.
   */
  #collect(
    index: number,
    target: InfoHash,
    out: RoutingNode[],
    groupStart: number,
    count: number,
    goodReplySince: number,
    goodHeardSince: number,
  ): void {
    if (index > this.#deepestMade) return;
    const size = this.#sizes[index];
    if (size === 0) return;
    const first = index * BUCKET_SIZE;
    const ids = this.#ids;
    const nodes = this.#nodes;
    const heads = this.#heads;
    const heard = this.#heard;
    const replied = this.#replied;
    const failed = this.#failed;
    const outIds = CLOSEST_IDS;
    const outDistances = CLOSEST_DISTANCES;
    const targetHead = target.prefix30;
    for (let n = 0; n < size; n++) {
      const slot = first + n;
      if (
        failed[slot] >= MAX_FAILED_REQUESTS ||
        replied[slot] < goodReplySince || heard[slot] < goodHeardSince
      ) continue;
      const id = ids[slot];
      const distance = heads[slot] ^ targetHead;
      let at = out.length;
      if (at >= count) {
        // Full: only a node closer than the farthest kept gets in.
        if (
          at === groupStart || compareKept(target, id, distance, at - 1) >= 0
        ) continue;
        at--;
      } else {
        out.push(nodes[slot]!);
        outIds.push(id);
        outDistances.push(distance);
      }
      while (
        at > groupStart && compareKept(target, id, distance, at - 1) < 0
      ) {
        out[at] = out[at - 1];
        outIds[at] = outIds[at - 1];
        outDistances[at] = outDistances[at - 1];
        at--;
      }
      out[at] = nodes[slot]!;
      outIds[at] = id;
      outDistances[at] = distance;
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
    // `out`'s ids and distances go in CLOSEST_IDS and CLOSEST_DISTANCES
    // (one pair of arrays for every table: a call runs to its end before
    // the next). `#collect` never lets `out` grow past `count`, so a group
    // ends where `out` ends.
    let groupStart = 0;
    this.#collect(
      b,
      target,
      out,
      groupStart,
      count,
      goodReplySince,
      goodHeardSince,
    );
    groupStart = out.length;
    if (out.length < count) {
      const deepest = Math.min(this.#deepestMade, INFO_HASH_BITS - 1);
      for (let i = b + 1; i <= deepest; i++) {
        this.#collect(
          i,
          target,
          out,
          groupStart,
          count,
          goodReplySince,
          goodHeardSince,
        );
      }
      groupStart = out.length;
    }
    for (let i = b - 1; i >= 0 && out.length < count; i--) {
      this.#collect(
        i,
        target,
        out,
        groupStart,
        count,
        goodReplySince,
        goodHeardSince,
      );
      groupStart = out.length;
    }
    CLOSEST_IDS.length = 0;
    CLOSEST_DISTANCES.length = 0;
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
    for (const node of this.nodes()) counts[stateOf(node, nowMs)] += 1;
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
    if (id.equals(this.selfId) || this.get(id) !== undefined) {
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
      // sort below would put first, without sorting.
      const oldest = this.#leastRecentlyHeardDubious(nowMs);
      return oldest === undefined ? [] : [oldest];
    }
    const out = this.#buckets.flatMap((bucket) =>
      bucket?.nodes.filter((node) => stateOf(node, nowMs) === "dubious") ?? []
    );
    out.sort(heardEarlier);
    return out.slice(0, count);
  }

  /**
   * The dubious node heard least recently (of equals, the earlier entry).
   * A loop without a closure: every node of a simulation runs it at every
   * maintenance round over its whole table.
   */
  #leastRecentlyHeardDubious(nowMs: number): TableNode | undefined {
    let oldest: TableNode | undefined;
    let oldestHeardMs = Infinity;
    let oldestEntry = 0;
    // `heardEarlier` and `stateOf`, inlined: the loop visits every node.
    const goodReplySince = nowMs - NODE_GOOD_TIME_MS;
    const goodHeardSince = nowMs - NODE_EXPIRE_TIME_MS;
    const made = Math.min(this.#deepestMade, INFO_HASH_BITS - 1);
    const heard = this.#heard;
    const replied = this.#replied;
    const failed = this.#failed;
    const sizes = this.#sizes;
    for (let b = 0; b <= made; b++) {
      const size = sizes[b];
      for (let i = 0; i < size; i++) {
        // The table's copies: a node is read only when it is the oldest
        // dubious one so far, or ties with it.
        const slot = b * BUCKET_SIZE + i;
        const heardMs = heard[slot];
        if (
          heardMs > oldestHeardMs ||
          failed[slot] >= MAX_FAILED_REQUESTS ||
          (replied[slot] >= goodReplySince && heardMs >= goodHeardSince)
        ) continue;
        const node = this.#nodes[slot]!;
        if (heardMs === oldestHeardMs && node.entry > oldestEntry) continue;
        oldest = node;
        oldestHeardMs = heardMs;
        oldestEntry = node.entry;
      }
    }
    return oldest;
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
    const sizes = this.#sizes;
    for (let i = 0; i <= made; i++) {
      if (sizes[i] > 0) deepest = i;
    }
    const targets: InfoHash[] = [];
    const limit = Math.min(deepest + 1, INFO_HASH_BITS - 1);
    this.#grow(limit);
    const activity = this.#activity;
    for (let i = 0; i <= limit; i++) {
      if (nowMs - activity[i] < staleMs) continue;
      activity[i] = nowMs;
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
    // A random id's bytes, ours, and the result, in one scratch array: the
    // maintenance round asks for one per bucket to refresh, and three typed
    // arrays of their own cost more than the bits.
    const scratch = BUCKET_ID_SCRATCH;
    InfoHash.random(rng).copyTo(scratch, 0);
    this.selfId.copyTo(scratch, SELF_AT);
    scratch.fill(0, OUT_AT, OUT_AT + INFO_HASH_BYTES);
    for (let bit = 0; bit < INFO_HASH_BITS; bit++) {
      const byte = bit >> 3;
      const mask = 0x80 >> (bit & 7);
      let value: number;
      if (bit < index) value = scratch[SELF_AT + byte] & mask;
      else if (bit === index) value = (scratch[SELF_AT + byte] & mask) ^ mask;
      else value = scratch[byte] & mask;
      scratch[OUT_AT + byte] |= value;
    }
    return InfoHash.fromBytesAt(scratch, OUT_AT);
  }
}
