/**
 * `DhtNode`: a DHT node with OpenDHT's semantics, over any {@link Transport}
 * and {@link Clock}: the same code runs on a UDP socket and inside the
 * simulator.
 *
 * - Routing: Kademlia buckets of 8, bootstrap from addresses, bucket refresh.
 * - Client: `get`, `put` (once or permanent), `listen` (leased, renewed,
 *   re-targeted as the closest nodes change), `findNode`, each with a handle
 *   to cancel.
 * - Storage: values per key with expiry and limits, listener pushes (new,
 *   refreshed, expired values), and maintenance that copies stored values to
 *   the current closest nodes as nodes come and go.
 *
 * All operations are callback based, so a simulation never waits on a
 * promise; `getValues` and `putValue` wrap them in promises for scripts.
 *
 * @example Two nodes on a simulated network: put on one, get from the other
 * ```ts
 * import assert from "node:assert/strict";
 * import { DhtNode } from "./dht_node.ts";
 * import { InfoHash } from "../identity/info_hash.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { seededRng } from "../rng.ts";
 * import { SimulatedNetwork } from "../../sim/network.ts";
 *
 * const clock = new ManualClock(1_700_000_000_000);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const a = new DhtNode({ transport: network.attach(), clock, rng: seededRng(2) });
 * const b = new DhtNode({ transport: network.attach(), clock, rng: seededRng(3) }, {
 *   bootstrap: [a.address],
 * });
 * a.start();
 * b.start();
 * clock.advance(5_000);
 * const key = InfoHash.get("greeting");
 * a.put(key, { id: 1n, type: 0, data: new TextEncoder().encode("hi") });
 * clock.advance(5_000);
 * let found: string[] = [];
 * b.get(key, { onDone: (values) => found = values.map((v) => new TextDecoder().decode(v.data)) });
 * clock.advance(5_000);
 * assert.deepEqual(found, ["hi"]);
 * ```
 *
 * @module
 */
import { InfoHash } from "../identity/info_hash.ts";
import type { Clock, Timer } from "../clock.ts";
import { forkRng, type Rng } from "../rng.ts";
import {
  formatAddress,
  type PeerAddress,
  type Transport,
} from "../transport.ts";
import {
  type DhtQuery,
  type DhtReply,
  type DhtRequest,
  type DhtValue,
  ErrorCode,
  ValueField,
} from "./messages.ts";
import {
  type RequestBody,
  type RpcCounters,
  RpcEngine,
  type RpcTiming,
} from "./rpc_engine.ts";
import { RoutingTable } from "./routing_table.ts";
import {
  Search,
  type SearchAnswer,
  type SearchNode,
  type SearchResult,
  TARGET_NODES,
} from "./search.ts";
import { TokenKeeper } from "./token_keeper.ts";
import {
  type ListenerNotice,
  type StoredValue,
  ValueStore,
  type ValueStoreLimits,
} from "./value_store.ts";
import { type ValueType, valueTypeOf } from "./value_type.ts";
import { type HandlerContext, handleRequest } from "./request_handlers.ts";
import type {
  DhtClient,
  GetCallbacks,
  ListenEvent,
  ListenHandle,
  OperationHandle,
  PermanentPutHandle,
} from "./dht_client.ts";

/** Nodes a listen is placed on (OpenDHT LISTEN_NODES). */
export const LISTEN_NODES = 4;
/**
 * After a storing node says a value expired, pushes of that value from it are
 * ignored this long: they were sent before the expiry (RPC retries take up
 * to 3 s) and arrived late.
 */
export const PUSH_REORDER_MS = 5_000;
/** A permanent put is refreshed this long before its value would expire. */
export const REANNOUNCE_MARGIN_MS = 10_000;

/** Collaborators of a node. */
export interface DhtNodeComponents {
  /** Datagrams. */
  readonly transport: Transport;
  /** Time. */
  readonly clock: Clock;
  /** Randomness (ids, tids, jitter); seeded in the simulator. */
  readonly rng: Rng;
}

/** Settings of a node; every field has a default. */
export interface DhtNodeConfig {
  /** Node id. @default {random from rng} */
  readonly id?: InfoHash;
  /** Network id (0 = public OpenDHT network). @default {0} */
  readonly network?: number;
  /** Addresses to bootstrap from. @default {[]} */
  readonly bootstrap?: readonly PeerAddress[];
  /** Storage limits. */
  readonly limits?: ValueStoreLimits;
  /** Application value types (lifetime, size), consulted before OpenDHT's. */
  readonly valueTypes?: ReadonlyMap<number, ValueType>;
  /** RPC retry timing. */
  readonly timing?: RpcTiming;
  /** Requests accepted per second from one IP (Infinity: no limit). @default {1024} */
  readonly requestsPerSecondPerIp?: number;
  /** Requests accepted per second in all (Infinity: no limit). @default {8192} */
  readonly requestsPerSecond?: number;
  /** Housekeeping period (expiry, bucket refresh, storage maintenance). @default {60000} */
  readonly maintenanceMs?: number;
  /** A bucket with no answer for this long is refreshed. @default {600000} */
  readonly bucketRefreshMs?: number;
  /** Stored values are copied to the current closest nodes this often. @default {300000} */
  readonly replicationMs?: number;
  /** Our listens are renewed at the nodes holding them this often. @default {30000} */
  readonly listenRenewMs?: number;
  /**
   * The nodes holding a listen are looked up again (and the listen moved to
   * the current closest nodes) this often, and at once when one of them stops
   * answering. @default {300000}
   */
  readonly listenSearchMs?: number;
  /** Permanent puts are re-checked (new closest nodes) at least this often. @default {300000} */
  readonly permanentCheckMs?: number;
  /** Our own id is looked up this often, so our closest nodes keep hearing from us (within their 10-minute window). @default {480000} */
  readonly neighbourhoodMs?: number;
}

/** Node counters for reports. */
export interface DhtNodeStats {
  /** Routing table nodes by state. */
  readonly routing: { good: number; dubious: number; expired: number };
  /** Storage totals. */
  readonly storage: {
    keys: number;
    values: number;
    bytes: number;
    listeners: number;
  };
  /** Searches started. */
  readonly searches: number;
  /** RPC counters. */
  readonly rpc: RpcCounters;
}

/** A node to put at: its id, address and write token. */
interface PutTarget {
  readonly id: InfoHash;
  readonly address: PeerAddress;
  readonly token?: Uint8Array;
}

interface PermanentPut {
  readonly key: InfoHash;
  value: DhtValue;
  /** Node id hex → address of nodes that acknowledged the value. */
  holders: Map<string, PutTarget>;
  timer?: Timer;
  search?: Search;
  cancelled: boolean;
  /** Next retry delay while searches find no node. */
  emptyRetryMs?: number;
}

interface ListenState {
  readonly key: InfoHash;
  readonly socketId: number;
  readonly query?: DhtQuery;
  readonly callback: (event: ListenEvent) => void;
  /** Node id hex → node we listen at. */
  nodes: Map<string, SearchNode>;
  /** When the listen's nodes were last looked up. */
  searchedMs: number;
  /**
   * "sender:id" → when that storing node said the value expired. A push of
   * the value from it that arrives just after (a retried or reordered
   * datagram sent before the expiry) must not bring the value back.
   */
  recentlyExpired: Map<string, number>;
  /** Next retry delay while searches find no node. */
  emptyRetryMs?: number;
  /** Value id → value and the storing nodes that reported it. */
  known: Map<bigint, { value: DhtValue; holders: Set<string> }>;
  timer?: Timer;
  search?: Search;
  cancelled: boolean;
}

/** What a replicating node asks before copying values: ids and sequence numbers held. */
const REPLICATION_PROBE: DhtQuery = {
  select: [ValueField.Id, ValueField.SeqNum],
  where: [],
};

/** Value id → sequence number, from a get answer (fields or whole values). */
/** Most rounds a key with up-to-date replicas waits between probes. */
export const MAX_REPLICATION_BACKOFF = 8;

interface ReplicationState {
  /** Closest known nodes and stored values at the last probe. */
  readonly signature: string;
  readonly intervalMs: number;
  readonly nextMs: number;
}

function replicationSignature(
  known: readonly { readonly id: InfoHash }[],
  stored: readonly StoredValue[],
): string {
  const nodes = known.map((node) => node.id.toString()).join();
  const values = stored.map((entry) =>
    `${entry.value.id}:${entry.value.seq ?? 0}`
  )
    .join();
  return `${nodes}/${values}`;
}

function heldIds(reply: DhtReply): Map<bigint, number> {
  const held = new Map<bigint, number>();
  for (const value of reply.values ?? []) held.set(value.id, value.seq ?? 0);
  const fields = reply.fields;
  if (fields === undefined || fields.fields.length === 0) return held;
  const order = [...new Set(fields.fields)].sort((a, b) => a - b);
  const idAt = order.indexOf(ValueField.Id);
  const seqAt = order.indexOf(ValueField.SeqNum);
  if (idAt < 0) return held;
  for (let i = 0; i + order.length <= fields.values.length; i += order.length) {
    const id = fields.values[i + idAt];
    const seq = seqAt < 0 ? 0 : fields.values[i + seqAt];
    if (typeof id === "bigint") {
      held.set(id, typeof seq === "number" ? seq : Number(seq ?? 0));
    }
  }
  return held;
}

/** A DHT node. */
export class DhtNode implements DhtClient {
  /** Our node id. */
  readonly id: InfoHash;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #rpc: RpcEngine;
  readonly #table: RoutingTable;
  readonly #store: ValueStore;
  readonly #tokens: TokenKeeper;
  readonly #types?: ReadonlyMap<number, ValueType>;
  readonly #bootstrap: readonly PeerAddress[];
  readonly #maintenanceMs: number;
  readonly #bucketRefreshMs: number;
  readonly #replicationMs: number;
  readonly #replicationState = new Map<string, ReplicationState>();
  readonly #listenRenewMs: number;
  readonly #listenSearchMs: number;
  readonly #permanentCheckMs: number;
  readonly #transport: Transport;
  readonly #permanent = new Set<PermanentPut>();
  readonly #listens = new Map<number, ListenState>();
  readonly #searches = new Set<Search>();
  /** Retries waiting for the first node to be known. */
  readonly #waiting = new Set<() => void>();
  #maintenanceTimer?: Timer;
  #expiryTimer?: Timer;
  #lastReplicationMs = -Infinity;
  #lastNeighbourhoodMs: number;
  readonly #neighbourhoodMs: number;
  #searchCount = 0;
  #running = false;

  /**
   * A node (call {@link DhtNode.start}).
   *
   * @param components Transport, clock, rng.
   * @param config Settings.
   */
  constructor(components: DhtNodeComponents, config: DhtNodeConfig = {}) {
    this.#clock = components.clock;
    this.#rng = components.rng;
    this.#transport = components.transport;
    this.id = config.id ?? InfoHash.random(forkRng(this.#rng, "node-id"));
    this.#table = new RoutingTable(this.id);
    this.#types = config.valueTypes;
    this.#store = new ValueStore(config.limits, config.valueTypes);
    this.#tokens = new TokenKeeper(
      forkRng(this.#rng, "tokens"),
      this.#clock.now(),
    );
    this.#bootstrap = config.bootstrap ?? [];
    this.#maintenanceMs = config.maintenanceMs ?? 60_000;
    this.#bucketRefreshMs = config.bucketRefreshMs ?? 600_000;
    this.#replicationMs = config.replicationMs ?? 300_000;
    this.#listenRenewMs = config.listenRenewMs ?? 30_000;
    this.#listenSearchMs = config.listenSearchMs ?? 300_000;
    this.#permanentCheckMs = config.permanentCheckMs ?? 300_000;
    this.#neighbourhoodMs = config.neighbourhoodMs ?? 480_000;
    // Bootstrap already looks up our own id.
    this.#lastNeighbourhoodMs = this.#clock.now();
    this.#rpc = new RpcEngine(
      {
        transport: components.transport,
        clock: components.clock,
        rng: forkRng(this.#rng, "rpc"),
      },
      {
        selfId: this.id,
        network: config.network,
        timing: config.timing,
        requestsPerSecondPerIp: config.requestsPerSecondPerIp,
        requestsPerSecond: config.requestsPerSecond,
      },
      (request, from) => this.#onRequest(request, from),
    );
  }

  /** Our address. */
  get address(): PeerAddress {
    return this.#transport.localAddress;
  }

  /** The routing table (read it; the node updates it). */
  get routingTable(): RoutingTable {
    return this.#table;
  }

  /** True between {@link DhtNode.start} and {@link DhtNode.stop}. */
  get running(): boolean {
    return this.#running;
  }

  /** Counters. */
  stats(): DhtNodeStats {
    return {
      routing: this.#table.counts(this.#clock.now()),
      storage: this.#store.stats(),
      searches: this.#searchCount,
      rpc: this.#rpc.counters,
    };
  }

  /**
   * Starts housekeeping and bootstraps from the configured addresses.
   */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.bootstrap(this.#bootstrap);
    this.#scheduleMaintenance();
  }

  /**
   * Stops every timer, search, put and listen, and the RPC engine. The
   * transport stays open (its owner closes it). Values already stored on
   * other nodes live until they expire.
   */
  stop(): void {
    this.#running = false;
    this.#maintenanceTimer?.cancel();
    this.#expiryTimer?.cancel();
    for (const search of this.#searches) search.cancel();
    this.#searches.clear();
    this.#waiting.clear();
    for (const put of this.#permanent) this.#cancelPermanent(put);
    for (const state of this.#listens.values()) this.#cancelListen(state);
    this.#rpc.close();
  }

  /**
   * Pings `addresses` (ids unknown) and, once one answers, looks up our own
   * id to fill the routing table.
   *
   * @param addresses Bootstrap nodes.
   * @param onDone Called with the number of nodes that answered.
   */
  bootstrap(
    addresses: readonly PeerAddress[],
    onDone?: (answered: number) => void,
  ): void {
    let waiting = addresses.length;
    let answered = 0;
    const settle = () => {
      if (--waiting > 0) return;
      if (answered > 0) this.findNode(this.id, () => onDone?.(answered));
      else onDone?.(0);
    };
    if (addresses.length === 0) onDone?.(0);
    for (const address of addresses) {
      this.#rpc.request(address, undefined, { method: "ping" }, {
        onReply: (reply, from) => {
          this.#table.heard(reply.senderId, from, this.#clock.now(), true);
          answered += 1;
          this.#wakeWaiting();
          settle();
        },
        onError: () => settle(),
        onExpired: () => settle(),
      });
    }
  }

  #onRequest(request: DhtRequest, from: PeerAddress): void {
    const now = this.#clock.now();
    if (!request.isClient) {
      const heard = this.#table.heard(request.senderId, from, now, false);
      // A node that only talked to us is dubious until it answers us: ping it
      // (or the dubious node it would replace) so good nodes fill the table.
      if (heard.kind === "added") this.#confirm(heard.node.id, from);
      else if (heard.kind === "full" && heard.pingCandidate !== undefined) {
        this.#confirm(heard.pingCandidate.id, heard.pingCandidate.address);
      }
    }
    handleRequest(this.#handlerContext(now), request, from);
  }

  #confirm(id: InfoHash, address: PeerAddress): void {
    this.#rpc.request(address, id, { method: "ping" }, {
      onReply: (reply, from) =>
        this.#table.heard(reply.senderId, from, this.#clock.now(), true),
      onExpired: () => this.#table.failed(id, this.#clock.now()),
    });
  }

  #handlerContext(nowMs: number): HandlerContext {
    return {
      nowMs,
      rpc: this.#rpc,
      table: this.#table,
      store: this.#store,
      tokens: this.#tokens,
      push: this.#pushNotices,
      onUpdate: this.#onUpdateRequest,
      onStored: this.#onStored,
    };
  }

  // The handler context's callbacks, made once rather than per request.
  readonly #pushNotices = (notices: readonly ListenerNotice[]): void =>
    this.#push(notices);
  readonly #onUpdateRequest: HandlerContext["onUpdate"] = (request, from) =>
    this.#onUpdate(request, from);
  readonly #onStored = (): void => this.#armExpiry();

  #push(notices: readonly ListenerNotice[]): void {
    const now = this.#clock.now();
    for (const notice of notices) {
      const { listener } = notice;
      if (listener.nodeId.equals(this.id)) {
        // Our own listen on our own storage: no network round trip.
        this.#onUpdate({
          kind: "request",
          method: "update",
          senderId: this.id,
          socketId: listener.socketId,
          tid: 0,
          network: 0,
          isClient: false,
          ...(notice.values === undefined ? {} : { values: notice.values }),
          ...(notice.refreshed === undefined
            ? {}
            : { refreshed: notice.refreshed }),
          ...(notice.expired === undefined ? {} : { expired: notice.expired }),
        } as Extract<DhtRequest, { method: "update" }>, this.address);
        continue;
      }
      const body: RequestBody = {
        method: "update",
        socketId: listener.socketId,
        token: this.#tokens.make(listener.address, now),
        version: 1,
        ...(notice.values === undefined
          ? {}
          : { key: notice.key, values: notice.values }),
        ...(notice.refreshed === undefined
          ? {}
          : { refreshed: notice.refreshed }),
        ...(notice.expired === undefined ? {} : { expired: notice.expired }),
      };
      this.#rpc.request(listener.address, listener.nodeId, body, {
        onReply: () => {},
      });
    }
  }

  #armExpiry(): void {
    const next = this.#store.nextExpiryMs();
    if (next === undefined) return;
    if (this.#expiryTimer !== undefined && this.#expiryTimer.dueMs <= next) {
      return;
    }
    this.#expiryTimer?.cancel();
    this.#expiryTimer = this.#clock.setTimer(
      next - this.#clock.now(),
      () => {
        this.#expiryTimer = undefined;
        this.#push(this.#store.expire(this.#clock.now()).notices);
        this.#armExpiry();
      },
    );
  }

  #scheduleMaintenance(): void {
    // Jitter spreads the maintenance of many nodes over the period.
    const delay = this.#maintenanceMs * (0.75 + 0.5 * this.#rng());
    this.#maintenanceTimer = this.#clock.setTimer(delay, () => {
      if (!this.#running) return;
      this.#maintain();
      this.#scheduleMaintenance();
    });
  }

  #maintain(): void {
    const now = this.#clock.now();
    this.#rpc.tick();
    this.#push(this.#store.expire(now).notices);
    // Bucket refresh as OpenDHT does it: one `find` for a random id of each
    // quiet bucket, sent to the closest node we know; nodes it returns that
    // would fit in our table are pinged (they enter once they answer).
    const targets = this.#table.refreshTargets(
      now,
      this.#bucketRefreshMs,
      this.#rng,
    );
    for (const target of targets.slice(0, 8)) this.#refreshBucket(target);
    // Keep the table honest: at every maintenance round, re-check the least
    // recently heard node (dead ones expire, live ones become good again).
    // Checking only every 5 minutes saved traffic but cost lookup success
    // under churn at 10,000 nodes.
    for (const node of this.#table.dubious(1, now)) {
      this.#confirm(node.id, node.address);
    }
    if (this.#table.size === 0 && this.#bootstrap.length > 0) {
      this.bootstrap(this.#bootstrap);
    }
    // Neighbourhood maintenance: our closest nodes must keep hearing from us
    // (within their 10-minute window), or they stop returning us as a good
    // node and lookups for our region miss us; and under churn we must keep
    // learning who our closest nodes are. A lookup of our own id does both.
    // (Pinging the closest nodes we know instead cost 1.6 points of lookup
    // success at 10,000 nodes with churn.)
    if (now - this.#lastNeighbourhoodMs >= this.#neighbourhoodMs) {
      this.#lastNeighbourhoodMs = now;
      this.findNode(this.id);
    }
    if (now - this.#lastReplicationMs >= this.#replicationMs) {
      this.#lastReplicationMs = now;
      this.#replicate(now);
    }
  }

  #refreshBucket(target: InfoHash): void {
    const [via] = this.#table.closest(target, 1, this.#clock.now());
    if (via === undefined) return;
    this.#rpc.request(via.address, via.id, { method: "find", target }, {
      onReply: (reply, from) => {
        const now = this.#clock.now();
        this.#table.heard(reply.senderId, from, now, true);
        // Newcomers that fit are pinged: this is how buckets emptied by churn
        // fill up again. (Capping it at two per refresh saved 10 % of the
        // traffic but cost about a point of lookup success at 10,000 nodes.)
        let pinged = 0;
        for (const node of [...(reply.nodes4 ?? []), ...(reply.nodes6 ?? [])]) {
          if (pinged >= TARGET_NODES) break;
          if (this.#table.wouldAccept(node.id, now)) {
            this.#confirm(node.id, node.address);
            pinged += 1;
          }
        }
      },
      onExpired: () => this.#table.failed(via.id, this.#clock.now()),
    });
  }

  /**
   * Copies stored values to the current closest nodes of their keys that
   * lack them (or hold an older sequence number), so they survive their
   * holders leaving. Not every holder does it: only the one that believes it
   * is the closest (the primary) and any that believe they are no longer
   * among the closest (handing over), judged from the routing table, and
   * only values that outlive the next round (short-lived values are kept
   * alive by their publishers); every holder copying every value to every
   * other holder would cost 64 puts per value per round. The lookup is a get
   * that selects ids and sequence numbers, the probe OpenDHT sends before
   * re-announcing a permanent value: an OpenDHT node takes an identical put
   * as a refresh, so a blind re-put would make its copy live a whole lifetime
   * longer (and our nodes would tell their listeners "refreshed"). A key whose
   * probe found nothing to copy backs off (doubling up to
   * {@link MAX_REPLICATION_BACKOFF} rounds) while its closest known nodes and
   * its values stay the same: in a quiet network long-lived values (inbox
   * messages, 7 days) otherwise cost one lookup per key every round.
   */
  #replicate(now: number): void {
    const keys = this.#store.keys().slice(0, 256);
    const live = new Set<string>();
    for (const key of keys) {
      const stored = this.#store.storedValues(key, now).filter((entry) =>
        entry.expiresMs > now + this.#replicationMs
      );
      if (stored.length === 0) continue;
      const known = this.#table.closest(key, TARGET_NODES, now);
      const primary = known.length === 0 ||
        key.compareDistance(this.id, known[0].id) < 0;
      const outside = known.length >= TARGET_NODES &&
        key.compareDistance(this.id, known[known.length - 1].id) > 0;
      if (!primary && !outside) continue;
      const hex = key.toString();
      live.add(hex);
      // A key whose last probe found every closest node up to date is not
      // probed again while neither its closest nodes (as we know them) nor
      // its values changed, until its backoff runs out.
      const signature = replicationSignature(known, stored);
      const last = this.#replicationState.get(hex);
      if (
        last !== undefined && last.signature === signature && now < last.nextMs
      ) continue;
      this.#probeReplicas(key, stored, signature, last?.intervalMs);
    }
    for (const hex of this.#replicationState.keys()) {
      if (!live.has(hex)) this.#replicationState.delete(hex);
    }
  }

  #probeReplicas(
    key: InfoHash,
    stored: readonly StoredValue[],
    signature: string,
    lastIntervalMs: number | undefined,
  ): void {
    const held = new Map<string, Map<bigint, number>>();
    this.#search(key, "get", {
      query: REPLICATION_PROBE,
      onReply: (reply, node) => held.set(node.id.toString(), heldIds(reply)),
      onDone: (result) => {
        let copied = 0;
        for (const node of result.nodes) {
          if (node.token === undefined) continue;
          const has = held.get(node.id.toString());
          for (const entry of stored) {
            const seq = has?.get(entry.value.id);
            if (seq !== undefined && seq >= (entry.value.seq ?? 0)) continue;
            this.#sendPut(node, key, entry.value, entry.createdMs);
            copied += 1;
          }
        }
        const intervalMs = copied > 0 || lastIntervalMs === undefined
          ? this.#replicationMs
          : Math.min(
            2 * lastIntervalMs,
            MAX_REPLICATION_BACKOFF * this.#replicationMs,
          );
        this.#replicationState.set(key.toString(), {
          signature,
          intervalMs,
          nextMs: this.#clock.now() + intervalMs,
        });
      },
    });
  }

  #search(
    target: InfoHash,
    method: "find" | "get",
    hooks: {
      query?: DhtQuery;
      onReply?: (reply: DhtReply, node: SearchNode) => void;
      onDone: (result: SearchResult) => void;
      onPrefix?: (nodes: readonly SearchNode[]) => void;
    },
  ): Search {
    this.#searchCount += 1;
    const search: Search = new Search(target, {
      selfId: this.id,
      onPrefix: hooks.onPrefix,
      query: (node, answer) => this.#query(node, target, method, hooks, answer),
      onDone: (result) => {
        this.#searches.delete(search);
        hooks.onDone(result);
      },
    });
    this.#searches.add(search);
    const seeds = this.#table.closest(
      target,
      TARGET_NODES * 2,
      this.#clock.now(),
    )
      .map((node) => ({ id: node.id, address: node.address }));
    search.start(seeds);
    return search;
  }

  #query(
    node: SearchNode,
    target: InfoHash,
    method: "find" | "get",
    hooks: {
      query?: DhtQuery;
      onReply?: (reply: DhtReply, node: SearchNode) => void;
    },
    answer: SearchAnswer,
  ): () => void {
    const body: RequestBody = method === "find" ? { method: "find", target } : {
      method: "get",
      key: target,
      ...(hooks.query === undefined ? {} : { query: hooks.query }),
    };
    const pending = this.#rpc.request(node.address, node.id, body, {
      onReply: (reply, from) => {
        this.#table.heard(reply.senderId, from, this.#clock.now(), true);
        hooks.onReply?.(reply, node);
        answer.onAnswer(
          reply.nodes6 === undefined
            ? reply.nodes4 ?? []
            : [...(reply.nodes4 ?? []), ...reply.nodes6],
          reply.token,
        );
      },
      onError: () => answer.onFailed(),
      onExpired: () => {
        this.#table.failed(node.id, this.#clock.now());
        answer.onFailed();
      },
      onSlow: () => answer.onSlow(),
    });
    return () => pending.cancel();
  }

  /**
   * Finds the nodes closest to `target`.
   *
   * @param target Target id.
   * @param onDone Called with the result.
   * @returns A handle to cancel the search.
   */
  findNode(
    target: InfoHash,
    onDone?: (result: SearchResult) => void,
  ): OperationHandle {
    const search = this.#search(target, "find", {
      onDone: (result) => onDone?.(result),
    });
    return { cancel: () => this.#cancelSearch(search) };
  }

  #cancelSearch(search: Search): void {
    search.cancel();
    this.#searches.delete(search);
  }

  /**
   * Gets the values at `key` from the nodes closest to it.
   *
   * @param key Key.
   * @param callbacks Progress and completion.
   * @param options Optional where-filter.
   * @returns A handle to cancel.
   */
  get(
    key: InfoHash,
    callbacks: GetCallbacks,
    options: { query?: DhtQuery } = {},
  ): OperationHandle {
    // Our own storage counts: we may be one of the closest nodes.
    const found = new Map<bigint, DhtValue>();
    for (
      const value of this.#store.get(key, this.#clock.now(), options.query)
    ) {
      found.set(value.id, value);
    }
    if (found.size > 0) callbacks.onValues?.([...found.values()]);
    const search = this.#search(key, "get", {
      query: options.query,
      onReply: (reply) => {
        const fresh: DhtValue[] = [];
        for (const value of reply.values ?? []) {
          const known = found.get(value.id);
          if (
            known === undefined ||
            (value.seq ?? 0) > (known.seq ?? 0)
          ) {
            found.set(value.id, value);
            fresh.push(value);
          }
        }
        if (fresh.length > 0) callbacks.onValues?.(fresh);
      },
      onDone: (result) => callbacks.onDone?.([...found.values()], result),
    });
    return { cancel: () => this.#cancelSearch(search) };
  }

  /**
   * Promise form of {@link DhtNode.get}, for scripts and the console.
   *
   * @param key Key.
   * @returns The values found.
   */
  getValues(key: InfoHash): Promise<DhtValue[]> {
    return new Promise((resolve) =>
      this.get(key, { onDone: (values) => resolve([...values]) })
    );
  }

  #sendPut(
    node: { id: InfoHash; address: PeerAddress; token?: Uint8Array },
    key: InfoHash,
    value: DhtValue,
    createdMs: number | undefined,
    onAck?: (ok: boolean, code?: number) => void,
  ): void {
    if (node.token === undefined) {
      onAck?.(false);
      return;
    }
    this.#rpc.request(node.address, node.id, {
      method: "put",
      key,
      values: [value],
      token: node.token,
      ...(createdMs === undefined
        ? {}
        : { createdSeconds: Math.floor(createdMs / 1_000) }),
    }, {
      onReply: (reply, from) => {
        this.#table.heard(reply.senderId, from, this.#clock.now(), true);
        onAck?.(true);
      },
      onError: (error) => onAck?.(false, error.code),
      onExpired: () => {
        this.#table.failed(node.id, this.#clock.now());
        onAck?.(false);
      },
    });
  }

  /**
   * Stores `value` at `key` on the closest nodes. A permanent put is
   * refreshed before it expires and copied to new closest nodes as they
   * appear, until cancelled.
   *
   * @param key Key.
   * @param value Value (id must be non-zero).
   * @param options `permanent`, and `onDone` with the number of nodes that
   * acknowledged the first round.
   * @returns A handle (cancel stops a permanent put's refreshes).
   * @throws {RangeError} If the value id is 0.
   */
  put(
    key: InfoHash,
    value: DhtValue,
    options: { permanent?: boolean; onDone?: (stored: number) => void } = {},
  ): OperationHandle {
    if (options.permanent) return this.putPermanent(key, value, options.onDone);
    if (value.id === 0n) {
      throw new RangeError("Cannot put value: id 0 is invalid");
    }
    {
      const createdMs = this.#clock.now();
      const search = this.#search(key, "find", {
        onDone: (result) =>
          this.#putToNodes(result.nodes, key, value, createdMs, options.onDone),
      });
      return { cancel: () => this.#cancelSearch(search) };
    }
  }

  /**
   * Stores `value` at `key` and keeps it there: refreshed before it expires,
   * copied to new closest nodes as they appear, until cancelled; the handle
   * can also replace the value in place.
   *
   * @param key Key.
   * @param value Value (id must be non-zero).
   * @param onDone Called with the number of nodes that acknowledged the first round.
   * @returns A handle to cancel or replace.
   * @throws {RangeError} If the value id is 0.
   */
  putPermanent(
    key: InfoHash,
    value: DhtValue,
    onDone?: (stored: number) => void,
  ): PermanentPutHandle {
    if (value.id === 0n) {
      throw new RangeError("Cannot put value: id 0 is invalid");
    }
    const state: PermanentPut = {
      key,
      value,
      holders: new Map(),
      cancelled: false,
    };
    this.#permanent.add(state);
    this.#announcePermanent(state, onDone);
    return {
      cancel: () => this.#cancelPermanent(state),
      replace: (next, options = {}) =>
        this.#replacePermanent(state, next, options),
    };
  }

  #replacePermanent(
    state: PermanentPut,
    value: DhtValue,
    options: { keep?: boolean; onDone?: (stored: number) => void },
  ): void {
    if (value.id === 0n) {
      throw new RangeError("Cannot put value: id 0 is invalid");
    }
    if (state.cancelled) {
      options.onDone?.(0);
      return;
    }
    state.value = value;
    const holders = [...state.holders.values()];
    if (options.keep === false) this.#cancelPermanent(state);
    if (holders.length === 0) {
      // Nobody holds the old value yet: a full round is the only way.
      if (options.keep === false) {
        this.put(state.key, value, { onDone: options.onDone });
      } else {
        state.timer?.cancel();
        if (state.search) this.#cancelSearch(state.search);
        state.search = undefined;
        this.#announcePermanent(state, options.onDone);
      }
      return;
    }
    this.#putToNodes(holders, state.key, value, undefined, options.onDone);
  }

  /**
   * Promise form of {@link DhtNode.put} (not permanent).
   *
   * @param key Key.
   * @param value Value.
   * @returns Number of nodes that acknowledged.
   */
  putValue(key: InfoHash, value: DhtValue): Promise<number> {
    return new Promise((resolve) => this.put(key, value, { onDone: resolve }));
  }

  #putToNodes<N extends PutTarget>(
    nodes: readonly N[],
    key: InfoHash,
    value: DhtValue,
    createdMs: number | undefined,
    onDone?: (stored: number) => void,
    onNodeAck?: (node: N) => void,
  ): void {
    let waiting = nodes.length;
    let stored = 0;
    if (waiting === 0) onDone?.(0);
    for (const node of nodes) {
      this.#sendPut(node, key, value, createdMs, (ok) => {
        if (ok) {
          stored += 1;
          onNodeAck?.(node);
        }
        if (--waiting === 0) onDone?.(stored);
      });
    }
  }

  #announcePermanent(
    state: PermanentPut,
    onDone?: (stored: number) => void,
  ): void {
    if (state.cancelled) return;
    // A search with no candidate finishes at once, inside #search: only
    // keep the handle of one still running.
    let finished = false;
    // First round: put at the closest nodes as soon as they are known, not
    // when the search has finished (a slow or dead candidate can hold the
    // end of a search back by seconds, and watchers listen there).
    const early = new Set<string>();
    const first = state.holders.size === 0;
    // onDone reports every ack of this round, early ones included, once all
    // the round's puts have answered.
    let pending = 1; // the search itself
    let stored = 0;
    const settle = (acks: number) => {
      stored += acks;
      if (--pending === 0) onDone?.(stored);
    };
    const search = this.#search(state.key, "find", {
      onPrefix: first
        ? (nodes) => {
          if (state.cancelled) return;
          const fresh = nodes.filter((node) => !early.has(node.id.toString()));
          if (fresh.length === 0) return;
          for (const node of fresh) early.add(node.id.toString());
          pending += 1;
          this.#putAndHold(state, fresh, settle);
        }
        : undefined,
      onDone: (result) => {
        finished = true;
        state.search = undefined;
        if (state.cancelled) return;
        if (result.nodes.length === 0 && pending === 1) {
          // Nobody found (not bootstrapped yet): the round starts again.
          this.#retrySoon(state, () => this.#announcePermanent(state, onDone));
          return;
        }
        const current = new Map(
          result.nodes.map((node) => [node.id.toString(), node]),
        );
        // Nodes that already hold the value get a cheap refresh; new closest
        // nodes get the value itself (permanent puts carry no creation time).
        const fresh: SearchNode[] = [];
        for (const [hex, node] of current) {
          if (early.has(hex)) continue; // just put there
          if (state.holders.has(hex)) this.#refreshAt(state, node);
          else fresh.push(node);
        }
        for (const hex of [...state.holders.keys()]) {
          if (!current.has(hex)) state.holders.delete(hex);
        }
        this.#putAndHold(state, fresh, settle);
        state.emptyRetryMs = undefined;
        this.#schedulePermanent(state);
      },
    });
    if (!finished) state.search = search;
  }

  /** Puts a permanent value at `nodes`; those that acknowledge hold it. */
  #putAndHold(
    state: PermanentPut,
    nodes: readonly SearchNode[],
    onDone: (stored: number) => void,
  ): void {
    this.#putToNodes(
      nodes,
      state.key,
      state.value,
      undefined,
      onDone,
      (node) => state.holders.set(node.id.toString(), node),
    );
  }

  #refreshAt(state: PermanentPut, node: SearchNode): void {
    if (node.token === undefined) return;
    this.#rpc.request(node.address, node.id, {
      method: "refresh",
      key: state.key,
      valueId: state.value.id,
      token: node.token,
    }, {
      onReply: () => {},
      onError: (error) => {
        // 404: the node lost the value (restart, eviction): put it again.
        if (error.code === ErrorCode.NotFound && !state.cancelled) {
          this.#sendPut(node, state.key, state.value, undefined);
        }
      },
      onExpired: () => state.holders.delete(node.id.toString()),
    });
  }

  #schedulePermanent(state: PermanentPut): void {
    const lifetime = valueTypeOf(state.value.type, this.#types).lifetimeMs;
    const delay = Math.max(
      1_000,
      Math.min(this.#permanentCheckMs, lifetime - REANNOUNCE_MARGIN_MS),
    );
    state.timer = this.#clock.setTimer(
      delay,
      () => this.#announcePermanent(state),
    );
  }

  #cancelPermanent(state: PermanentPut): void {
    state.cancelled = true;
    state.timer?.cancel();
    if (state.search) this.#cancelSearch(state.search);
    this.#permanent.delete(state);
  }

  /**
   * Listens at `key`: `callback` is told of values added (including those
   * already there), refreshed and expired. The listen is placed on the
   * {@link LISTEN_NODES} closest nodes, renewed every `listenRenewMs`, and
   * moved when the closest nodes change.
   *
   * @param key Key.
   * @param callback Receives events.
   * @param options Optional where-filter.
   * @returns A handle to stop listening.
   */
  listen(
    key: InfoHash,
    callback: (event: ListenEvent) => void,
    options: { query?: DhtQuery } = {},
  ): ListenHandle {
    let socketId: number;
    do {
      socketId = 1 + Math.floor(this.#rng() * 0xffff_fffe);
    } while (this.#listens.has(socketId));
    const state: ListenState = {
      key,
      socketId,
      query: options.query,
      callback,
      nodes: new Map(),
      searchedMs: -Infinity,
      recentlyExpired: new Map(),
      known: new Map(),
      cancelled: false,
    };
    this.#listens.set(socketId, state);
    this.#placeListen(state);
    return {
      cancel: () => this.#cancelListen(state),
      relocate: () => {
        if (state.cancelled || state.search !== undefined) return;
        state.timer?.cancel();
        state.timer = undefined;
        this.#placeListen(state);
      },
    };
  }

  /** Listens on our own storage too: we may be one of the closest nodes. */
  #listenLocally(state: ListenState): void {
    const { notices } = this.#store.listen(state.key, {
      nodeId: this.id,
      address: this.address,
      socketId: state.socketId,
      query: state.query,
    }, this.#clock.now());
    this.#push(notices);
  }

  #placeListen(state: ListenState): void {
    if (state.cancelled || state.search !== undefined) return;
    this.#listenLocally(state);
    state.timer?.cancel();
    state.timer = undefined;
    // A search with no candidate finishes at once, inside #search: only
    // keep the handle of one still running.
    let finished = false;
    const search = this.#search(state.key, "find", {
      onDone: (result) => {
        finished = true;
        state.search = undefined;
        if (state.cancelled) return;
        state.searchedMs = this.#clock.now();
        const chosen = result.nodes.slice(0, LISTEN_NODES);
        const chosenHex = new Set(chosen.map((node) => node.id.toString()));
        for (const hex of [...state.nodes.keys()]) {
          if (!chosenHex.has(hex)) this.#forgetListenNode(state, hex);
        }
        for (const node of chosen) this.#sendListen(state, node);
        if (chosen.length === 0) {
          this.#retrySoon(state, () => this.#placeListen(state));
        } else {
          state.emptyRetryMs = undefined;
          this.#scheduleListenRenewal(state);
        }
      },
    });
    if (!finished) state.search = search;
  }

  /**
   * A search found no node at all (we are alone, or not bootstrapped yet):
   * try again after 1 s, 2 s, 4 s… up to 30 s, rather than a full period.
   */
  #retrySoon(
    state: { timer?: Timer; emptyRetryMs?: number },
    retry: () => void,
  ): void {
    const delay = state.emptyRetryMs ?? 1_000;
    state.emptyRetryMs = Math.min(30_000, delay * 2);
    const fire = () => {
      this.#waiting.delete(fire);
      state.timer?.cancel();
      state.timer = undefined;
      retry();
    };
    state.timer = this.#clock.setTimer(delay, fire);
    // Or as soon as a bootstrap node answers.
    this.#waiting.add(fire);
  }

  /** The first nodes are known: run what was waiting for them. */
  #wakeWaiting(): void {
    if (this.#waiting.size === 0) return;
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const fire of waiting) fire();
  }

  /** Renews at the same nodes, or looks them up again when it is time. */
  #scheduleListenRenewal(state: ListenState): void {
    state.timer = this.#clock.setTimer(this.#listenRenewMs, () => {
      state.timer = undefined;
      if (state.cancelled) return;
      const stale =
        this.#clock.now() - state.searchedMs >= this.#listenSearchMs ||
        state.nodes.size < LISTEN_NODES;
      if (stale) {
        this.#placeListen(state);
        return;
      }
      this.#listenLocally(state);
      for (const node of state.nodes.values()) this.#sendListen(state, node);
      this.#scheduleListenRenewal(state);
    });
  }

  #sendListen(state: ListenState, node: SearchNode): void {
    if (node.token === undefined) return;
    const hex = node.id.toString();
    this.#rpc.request(node.address, node.id, {
      method: "listen",
      key: state.key,
      token: node.token,
      socketId: state.socketId,
      version: 1,
      ...(state.query === undefined ? {} : { query: state.query }),
    }, {
      onReply: () => {
        if (!state.cancelled) state.nodes.set(hex, node);
      },
      onError: () => this.#listenNodeLost(state, hex),
      onExpired: () => this.#listenNodeLost(state, hex),
    });
  }

  /** A node refused or stopped answering our listen: move the listen. */
  #listenNodeLost(state: ListenState, hex: string): void {
    this.#forgetListenNode(state, hex);
    if (!state.cancelled && state.search === undefined) {
      this.#placeListen(state);
    }
  }

  /** A storing node we no longer listen at: values only it held expire for us. */
  #forgetListenNode(state: ListenState, hex: string): void {
    state.nodes.delete(hex);
    const gone: bigint[] = [];
    for (const [id, entry] of state.known) {
      entry.holders.delete(hex);
      if (entry.holders.size === 0) {
        state.known.delete(id);
        gone.push(id);
      }
    }
    if (gone.length > 0) state.callback({ kind: "expired", ids: gone });
  }

  #onUpdate(
    request: Extract<DhtRequest, { method: "update" }>,
    _from: PeerAddress,
  ): void {
    const state = this.#listens.get(request.socketId);
    if (state === undefined || state.cancelled) return;
    const hex = request.senderId.toString();
    // Pushes count only from nodes our listen was placed on (or is being
    // placed on: the first push may beat the listen's reply).
    const added: DhtValue[] = [];
    const now = this.#clock.now();
    for (const value of request.values ?? []) {
      const expiredAt = state.recentlyExpired.get(`${hex}:${value.id}`);
      if (expiredAt !== undefined && now - expiredAt < PUSH_REORDER_MS) {
        continue;
      }
      const known = state.known.get(value.id);
      if (known === undefined) {
        state.known.set(value.id, { value, holders: new Set([hex]) });
        added.push(value);
      } else {
        known.holders.add(hex);
        if ((value.seq ?? 0) > (known.value.seq ?? 0)) {
          known.value = value;
          added.push(value);
        }
      }
    }
    if (added.length > 0) state.callback({ kind: "added", values: added });
    const refreshed = (request.refreshed ?? []).filter((id) =>
      state.known.get(id)?.holders.add(hex) !== undefined
    );
    if (refreshed.length > 0) {
      state.callback({ kind: "refreshed", ids: refreshed });
    }
    const expired: bigint[] = [];
    const expiring: bigint[] = [];
    for (const id of request.expired ?? []) {
      if (state.recentlyExpired.size >= 1_024) state.recentlyExpired.clear();
      state.recentlyExpired.set(`${hex}:${id}`, now);
      const known = state.known.get(id);
      if (known === undefined || !known.holders.delete(hex)) continue;
      if (known.holders.size === 0) {
        state.known.delete(id);
        expired.push(id);
      } else {
        expiring.push(id);
      }
    }
    if (expiring.length > 0) {
      state.callback({ kind: "expiring", ids: expiring });
    }
    if (expired.length > 0) state.callback({ kind: "expired", ids: expired });
  }

  #cancelListen(state: ListenState): void {
    state.cancelled = true;
    state.timer?.cancel();
    if (state.search) this.#cancelSearch(state.search);
    this.#listens.delete(state.socketId);
  }

  /**
   * Values this node stores at `key` (local view, no network).
   *
   * @param key Key.
   * @returns Live values.
   */
  storedValues(key: InfoHash): DhtValue[] {
    return this.#store.get(key, this.#clock.now());
  }

  /** Our address as text, for logs. */
  toString(): string {
    return `${this.id.toString().slice(0, 8)}@${formatAddress(this.address)}`;
  }
}
