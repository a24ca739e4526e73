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
 * Randomness comes in two kinds (see `rng.ts`): the {@link Rng} draws what
 * peers may learn without harm (jitter of retries and maintenance), and a
 * {@link RandomBytes} draws everything a peer sees and must not be able to
 * predict: the node id, transaction ids, listen socket ids, write-token
 * secrets, the ids of refreshed buckets. It defaults to the system's
 * cryptographic generator; the simulator passes a seeded one.
 *
 * All operations are callback based, so a simulation never waits on a
 * promise; `getValues` and `putValue` wrap them in promises for scripts.
 *
 * This class is the core: bootstrap, housekeeping, request handling, get
 * and one-shot put. Its parts live in their own modules and reach the node
 * only through what they are given: {@link RoutingUpkeep} (pings and bucket
 * refreshes), {@link Lookups} (searches over the RPC engine),
 * {@link PutSender}, {@link Replication}, {@link PermanentPuts},
 * {@link Listens} (our listens) and {@link ListenerPushes} (listeners of our
 * storage).
 *
 * @example Two nodes on a simulated network: put on one, get from the other
 * ```ts
 * import assert from "node:assert/strict";
 * import { DhtNode } from "./dht_node.ts";
 * import { InfoHash } from "../identity/info_hash.ts";
 * import { ManualClock, seededRng, SimulatedNetwork } from "../testing/mod.ts";
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
import { INFO_HASH_BYTES, InfoHash } from "../identity/info_hash.ts";
import type { Clock, Timer } from "../clock.ts";
import { bytesRng, forkRng, type RandomBytes, type Rng } from "../rng.ts";
import { systemRandomBytes } from "../io/system_random.ts";
import {
  formatAddress,
  type PeerAddress,
  type Transport,
} from "../transport.ts";
import {
  type DhtQuery,
  type DhtRequest,
  type DhtValue,
  type NodeInfo,
  WANT_IPV4,
  WANT_IPV6,
} from "./messages.ts";
import { type RpcCounters, RpcEngine, type RpcTiming } from "./rpc_engine.ts";
import { ClientRpcEngine } from "./client_rpc_engine.ts";
import type { NatMapping } from "./observed_mapping.ts";
import {
  ConnectivityMonitor,
  connectivitySilenceMs,
} from "./connectivity_monitor.ts";
import { RoutingTable } from "./routing_table.ts";
import type { SearchNode, SearchResult } from "./search.ts";
import { TokenKeeper } from "./token_keeper.ts";
import {
  type ListenerNotice,
  ValueStore,
  type ValueStoreLimits,
} from "./value_store.ts";
import type { ValueType } from "./value_type.ts";
import { type HandlerContext, handleRequest } from "./request_handlers.ts";
import { ProvenAddresses } from "./proven_addresses.ts";
import type {
  DhtClient,
  GetCallbacks,
  ListenEvent,
  ListenHandle,
  OperationHandle,
  PermanentPutHandle,
} from "./dht_client.ts";
import { EmptySearchRetries } from "./empty_search_retries.ts";
import { ListenerPushes } from "./listener_pushes.ts";
import { Lookups } from "./lookups.ts";
import {
  LISTEN_NODES,
  Listens,
  type ListensTiming,
  PUSH_REORDER_MS,
} from "./listens.ts";
import { PermanentPuts, REANNOUNCE_MARGIN_MS } from "./permanent_puts.ts";
import { PutSender } from "./put_sender.ts";
import { unmappedHost } from "./origin_shares.ts";
import { MAX_REPLICATION_BACKOFF, Replication } from "./replication.ts";
import { RoutingUpkeep } from "./routing_upkeep.ts";
import { BootstrapJoiner } from "./bootstrap_joiner.ts";
import { OUR_STORE_POLICY, type StorePolicy } from "./store_policy.ts";

export {
  LISTEN_NODES,
  MAX_REPLICATION_BACKOFF,
  PUSH_REORDER_MS,
  REANNOUNCE_MARGIN_MS,
};

/**
 * How long a {@link DhtNode.prepare} lookup serves puts: long enough for a
 * candidate set held until its sender is seen online (about a second),
 * short enough that its nodes are still the closest and their write tokens
 * valid.
 */
export const PREPARED_PUT_MS = 20_000;
/** Keys prepared at once (each costs one lookup). */
export const MAX_PREPARED_PUTS = 64;

/** A lookup made ahead of puts ({@link DhtNode.prepare}). */
interface PreparedPut {
  readonly atMs: number;
  /** Its closest answered nodes so far (the final ones once done). */
  nodes: readonly SearchNode[];
  done: boolean;
  /** Puts waiting on it: told of each new prefix and of the result. */
  readonly followers: Set<
    (nodes: readonly SearchNode[], done: boolean) => void
  >;
}

/** Collaborators of a node. */
export interface DhtNodeComponents {
  /** Sends and receives the node's datagrams (UDP, or the simulated network). */
  readonly transport: Transport;
  /** Reads the time and runs every timer of the node. */
  readonly clock: Clock;
  /** Randomness peers may learn without harm (jitter); seeded in the simulator. */
  readonly rng: Rng;
  /**
   * Cryptographic randomness for all a peer sees and must not predict (node
   * id, tids, socket ids, token secrets, refresh targets); the simulator
   * passes `rngBytes(seededRng(…))` so that its runs replay.
   * @default {systemRandomBytes}
   */
  readonly randomBytes?: RandomBytes;
}

/** Settings of a node; every field has a default. */
export interface DhtNodeConfig {
  /** Node id. @default {random from randomBytes} */
  readonly id?: InfoHash;
  /** Network id (0 = public OpenDHT network). @default {0} */
  readonly network?: number;
  /** Addresses to bootstrap from. @default {[]} */
  readonly bootstrap?: readonly PeerAddress[];
  /** Limits of our storage (keys, values, bytes, listeners, bytes per origin). */
  readonly limits?: ValueStoreLimits;
  /** Application value types (lifetime, size), consulted before OpenDHT's. */
  readonly valueTypes?: ReadonlyMap<number, ValueType>;
  /**
   * What our store makes of values others put here: ours (the application's
   * types apply) or a stock OpenDHT 2.4 node's (they are unknown; the
   * simulator's `--stock-share`). @default {OUR_STORE_POLICY}
   */
  readonly storePolicy?: StorePolicy;
  /**
   * Whether our replies carry `sp`, the requester's port as we saw it, from
   * which NATed requesters learn their mapping (`ObservedMapping`); stock
   * OpenDHT nodes send none (the simulator's `--stock-share`). @default {true}
   */
  readonly sendSeenPort?: boolean;
  /** When requests are retried, reported slow and given up. */
  readonly timing?: RpcTiming;
  /**
   * Silence, after requests to two nodes, that makes the node call itself
   * offline ({@link DhtNode.connectivity}); Infinity never does.
   * @default {twice a request's whole life: 11500 with the default timing}
   */
  readonly connectivitySilenceMs?: number;
  /** Requests accepted per second from one origin, an IPv4 address or an IPv6 /64 (Infinity: no limit). @default {1024} */
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
   * Renewal period instead, while the node is behind a NAT (its observed
   * public IP is neither its bound host nor one of `localHosts`, or is not
   * known yet): shorter than the NATs' UDP mapping timeout (30 s on Linux).
   * @default {25000}
   */
  readonly natListenRenewMs?: number;
  /**
   * This machine's own addresses (its interfaces', the host it advertises):
   * an observed public IP among them means no NAT. Needed for a wildcard
   * bind ("0.0.0.0", "::"), which is never the observed IP, so a public
   * host would otherwise be taken for one behind a NAT. @default {[]}
   */
  readonly localHosts?: readonly string[];
  /**
   * The nodes holding a listen are looked up again (and the listen moved to
   * the current closest nodes) this often, and at once when one of them stops
   * answering. @default {300000}
   */
  readonly listenSearchMs?: number;
  /** Permanent puts are re-checked (new closest nodes) at least this often. @default {300000} */
  readonly permanentCheckMs?: number;
  /**
   * Client mode: our requests say `s: true`, so other nodes answer without
   * adding us to their routing tables (for short-lived tools that would
   * otherwise linger there as dead nodes). @default {false}
   */
  readonly client?: boolean;
  /**
   * Client mode behind a NAT: once our DHT repliers show that our public IP
   * is not ours ({@link DhtNode.behindNat}, with {@link DhtNode.observedHost}
   * known), our requests say `s: true`. Strangers cannot reach a node
   * behind a port-restricted or symmetric NAT, so a node that put us in its
   * routing table would hand us out to lookups that then wait for us in
   * vain (in the simulator a device's announcement went to other nodes than
   * its watchers' listens, for a minute). Our nodes also drop a node from
   * their table when it says it is a client from the address they know.
   * @default {true}
   */
  readonly clientBehindNat?: boolean;
  /** Our own id is looked up this often, so our closest nodes keep hearing from us (within their 10-minute window). @default {480000} */
  readonly neighbourhoodMs?: number;
  /**
   * Storage policy for values other nodes put here: false refuses the value
   * (`403`), as OpenDHT's per-type store policies do (signature checks, the
   * certificate key rule; `lib/io/opendht_value_policy.ts`). @default {accept every value}
   */
  readonly valuePolicy?: (key: InfoHash, value: DhtValue) => boolean;
}

/** Node counters for reports. */
export interface DhtNodeStats {
  /** Routing table nodes by state. */
  readonly routing: { good: number; dubious: number; expired: number };
  /** What our storage holds now. */
  readonly storage: {
    keys: number;
    values: number;
    bytes: number;
    listeners: number;
  };
  /** Lookups started since the node was made. */
  readonly searches: number;
  /** Datagrams, bytes, requests, retries and drops of the RPC engine. */
  readonly rpc: RpcCounters;
}

/** A DHT node: the core, driving its parts (see the module documentation). */
export class DhtNode implements DhtClient {
  /** Our node id. */
  readonly id: InfoHash;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #rpc: RpcEngine;
  readonly #table: RoutingTable;
  readonly #store: ValueStore;
  readonly #valuePolicy?: (key: InfoHash, value: DhtValue) => boolean;
  readonly #tokens: TokenKeeper;
  readonly #proven = new ProvenAddresses();
  readonly #joiner: BootstrapJoiner;
  readonly #maintenanceMs: number;
  readonly #transport: Transport;
  readonly #upkeep: RoutingUpkeep;
  readonly #lookups: Lookups;
  readonly #puts: PutSender;
  readonly #pushes: ListenerPushes;
  readonly #retries: EmptySearchRetries;
  readonly #replication: Replication;
  readonly #permanent: PermanentPuts;
  readonly #listens: Listens;
  readonly #connectivity: ConnectivityMonitor;
  /**
   * `localHosts`, as compared with the observed IP; undefined when there is
   * none (most nodes: an empty Set costs ~150 bytes).
   */
  readonly #localHosts: ReadonlySet<string> | undefined;
  /**
   * Lookups made ahead of a put ({@link DhtNode.prepare}), by key hex. Made
   * on first use: most nodes of a large simulation never prepare a put, and
   * an empty Map costs ~150 bytes.
   */
  #prepared: Map<string, PreparedPut> | undefined;
  #maintenanceTimer?: Timer;
  #expiryTimer?: Timer;
  #lastNeighbourhoodMs: number;
  readonly #neighbourhoodMs: number;
  #running = false;

  /**
   * A node (call {@link DhtNode.start}).
   *
   * @param components Transport, clock, rng, random bytes.
   * @param config Settings.
   */
  constructor(components: DhtNodeComponents, config: DhtNodeConfig = {}) {
    this.#clock = components.clock;
    this.#rng = components.rng;
    this.#transport = components.transport;
    const localHosts = config.localHosts ?? [];
    this.#localHosts = localHosts.length === 0
      ? undefined
      : new Set(localHosts.map(plainHost));
    const randomBytes = components.randomBytes ?? systemRandomBytes;
    this.id = config.id ?? InfoHash.fromBytes(randomBytes(INFO_HASH_BYTES));
    this.#table = new RoutingTable(this.id);
    this.#store = new ValueStore(
      config.limits,
      (config.storePolicy ?? OUR_STORE_POLICY).storeTypes(config.valueTypes),
    );
    this.#valuePolicy = config.valuePolicy;
    this.#tokens = new TokenKeeper(
      forkRng(this.#rng, "tokens"),
      this.#clock.now(),
      randomBytes,
    );
    this.#joiner = new BootstrapJoiner({
      clock: this.#clock,
      ping: (address, onAnswer) =>
        this.#rpc.request(address, undefined, { method: "ping" }, {
          onReply: (reply, from) => {
            this.#table.heard(reply.senderId, from, this.#clock.now(), true);
            this.#retries.wake();
            onAnswer(true);
          },
          onError: () => onAnswer(false),
          onExpired: () => onAnswer(false),
        }),
      findSelf: (onDone) => this.findNode(this.id, onDone),
      joined: () => this.#table.size > 0,
    }, config.bootstrap ?? []);
    this.#maintenanceMs = config.maintenanceMs ?? 60_000;
    this.#neighbourhoodMs = config.neighbourhoodMs ?? 480_000;
    // Bootstrap already looks up our own id.
    this.#lastNeighbourhoodMs = this.#clock.now();
    this.#connectivity = new ConnectivityMonitor({
      clock: this.#clock,
      silenceMs: config.connectivitySilenceMs ??
        connectivitySilenceMs(config.timing),
      onChange: (state) => {
        if (state === "online") this.#onReconnected();
      },
    });
    const Engine = config.client ? ClientRpcEngine : RpcEngine;
    this.#rpc = new Engine(
      {
        transport: components.transport,
        clock: components.clock,
        rng: forkRng(this.#rng, "rpc"),
        randomBytes,
        traffic: this.#connectivity,
      },
      {
        selfId: this.id,
        network: config.network,
        timing: config.timing,
        requestsPerSecondPerIp: config.requestsPerSecondPerIp,
        requestsPerSecond: config.requestsPerSecond,
        sendSeenPort: config.sendSeenPort,
        isClient: config.clientBehindNat === false
          ? undefined
          : () => this.#knownBehindNat(),
      },
      (request, from) => this.#onRequest(request, from),
    );
    // The parts below draw no randomness when made. Refresh targets are
    // sent to peers, so routing upkeep draws them from the random bytes.
    const clock = this.#clock;
    const rpc = this.#rpc;
    const table = this.#table;
    this.#upkeep = new RoutingUpkeep(
      {
        clock,
        rng: bytesRng(randomBytes),
        rpc,
        table,
        onAnswered: () => this.#retries.wake(),
      },
      config.bucketRefreshMs ?? 600_000,
    );
    const lookups = this.#lookups = new Lookups({
      selfId: this.id,
      clock,
      rpc,
      table,
      // A socket bound to "::" speaks both families: ask peers for both.
      ...(components.transport.localAddress.host === "::"
        ? { want: [WANT_IPV4, WANT_IPV6] }
        : {}),
    });
    const puts = this.#puts = new PutSender({ clock, rpc, table });
    this.#pushes = new ListenerPushes({
      selfId: this.id,
      clock,
      rpc,
      tokens: this.#tokens,
      deliverLocally: (request) => this.#listens.onUpdate(request),
    });
    const retries = this.#retries = new EmptySearchRetries(clock);
    this.#replication = new Replication({
      selfId: this.id,
      clock,
      store: this.#store,
      table,
      lookups,
      puts,
    }, config.replicationMs ?? 300_000);
    this.#permanent = new PermanentPuts({
      clock,
      lookups,
      puts,
      rpc,
      retries,
      putOnce: (key, value, onDone) => this.put(key, value, { onDone }),
      valueTypes: config.valueTypes,
    }, config.permanentCheckMs ?? 300_000);
    this.#listens = new Listens({
      clock,
      randomBytes,
      lookups,
      rpc,
      retries,
      listenLocally: (key, socketId, query) =>
        this.#pushes.push(
          this.#store.listen(key, {
            nodeId: this.id,
            address: this.address,
            socketId,
            query,
          }, this.#clock.now()).notices,
        ),
    }, this.#listenTiming(config));
  }

  /**
   * Listen timing; behind a NAT ({@link DhtNode.behindNat}) a renewal every
   * `natListenRenewMs` keeps each storing node's NAT permission open, or
   * its pushes would be dropped (docs/links.md).
   */
  #listenTiming(config: DhtNodeConfig): ListensTiming {
    const renewMs = config.listenRenewMs ?? 30_000;
    const natRenewMs = Math.min(renewMs, config.natListenRenewMs ?? 25_000);
    const behindNat = (): boolean => this.behindNat;
    return {
      get renewMs(): number {
        return behindNat() ? natRenewMs : renewMs;
      },
      searchMs: config.listenSearchMs ?? 300_000,
    };
  }

  /** The address our transport is bound to: other nodes reach us there. */
  get address(): PeerAddress {
    return this.#transport.localAddress;
  }

  /**
   * Our public IP as a majority of at least 3 distinct DHT repliers saw it
   * (their `sa`; see `ObservedAddress`), or `undefined` while unknown.
   * Behind a NAT it differs from {@link DhtNode.address}.
   */
  get observedHost(): string | undefined {
    return this.#rpc.observedAddress.host;
  }

  /**
   * How our NAT maps this socket, as at least 3 of our DHT repliers' `sp`
   * shows it (see `ObservedMapping`): `"independent"` (one public port,
   * {@link DhtNode.observedPort}), `"dependent"` (a symmetric NAT: a port
   * per destination), or `undefined` while unknown (stock repliers send no
   * `sp`). Public hosts are "independent" too.
   */
  get observedMapping(): NatMapping | undefined {
    return this.#rpc.observedMapping.mapping;
  }

  /** Our public port, while {@link DhtNode.observedMapping} is `"independent"`. */
  get observedPort(): number | undefined {
    return this.#rpc.observedMapping.port;
  }

  /**
   * Whether the node takes itself to be behind a NAT: its observed public
   * IP ({@link DhtNode.observedHost}) is neither its bound host nor one of
   * `localHosts`, or is not known yet (then the first renewal is scheduled
   * at once, before three repliers have told us our address). A wildcard
   * bind with no `localHosts` is always behind: unknown.
   */
  get behindNat(): boolean {
    const observed = this.observedHost;
    if (observed === undefined) return true;
    const host = plainHost(observed);
    return host !== plainHost(this.address.host) &&
      this.#localHosts?.has(host) !== true;
  }

  /** Observed host last judged by {@link DhtNode.#knownBehindNat}, and the verdict. */
  #judgedHost: string | undefined;
  #judgedBehind = false;

  /** Behind a NAT, as far as our repliers have shown (unknown: no); asked per request, so memoized. */
  #knownBehindNat(): boolean {
    const observed = this.#rpc.observedAddress.host;
    if (observed === undefined) return false;
    if (observed !== this.#judgedHost) {
      this.#judgedHost = observed;
      this.#judgedBehind = this.behindNat;
    }
    return this.#judgedBehind;
  }

  /**
   * Nodes worth keeping for the next run (OpenDHT's `exportNodes`): the
   * good ones of the routing table (answered within 2 h, heard within 10
   * min), closest to our own id first, at most `max`.
   *
   * @param max Most nodes returned.
   * @returns The nodes.
   */
  exportNodes(max = 64): NodeInfo[] {
    return this.#table.closest(this.id, max, this.#clock.now(), true)
      .map((node) => ({ id: node.id, address: node.address }));
  }

  /**
   * Adds nodes known from an earlier run (OpenDHT's `importNodes`) to the
   * routing table as candidates that have not answered yet: lookups start
   * from them at once (and {@link DhtNode.start} looks up our own id
   * through them), and they count as good only once they answer. Call it
   * before `start`.
   *
   * @param nodes Nodes from {@link DhtNode.exportNodes} of an earlier run.
   */
  importNodes(nodes: readonly NodeInfo[]): void {
    const now = this.#clock.now();
    for (const node of nodes.slice(0, 256)) {
      this.#table.heard(node.id, node.address, now, false);
    }
  }

  /** The routing table (read it; the node updates it). */
  get routingTable(): RoutingTable {
    return this.#table;
  }

  /**
   * Whether this node hears the DHT: offline after two requests to different
   * nodes met 11.5 s of silence (with the default timing), online again at
   * the first datagram; see `ConnectivityMonitor`. Listen with `onChange`.
   */
  get connectivity(): ConnectivityMonitor {
    return this.#connectivity;
  }

  /**
   * Back from an outage: if no node of the routing table is good any more,
   * join again through the bootstrap nodes; place every listen again and
   * start a round of every permanent put (storing nodes may have dropped
   * both meanwhile).
   */
  #onReconnected(): void {
    if (!this.#running) return;
    const counts = this.#table.counts(this.#clock.now());
    if (counts.good === 0) this.#joiner.join();
    this.#listens.relocateAll();
    this.#permanent.refreshAll();
  }

  /** True between {@link DhtNode.start} and {@link DhtNode.stop}. */
  get running(): boolean {
    return this.#running;
  }

  /**
   * Reads the node's counters, for reports.
   *
   * @returns Routing, storage, search and RPC counters as of now.
   */
  stats(): DhtNodeStats {
    return {
      routing: this.#table.counts(this.#clock.now()),
      storage: this.#store.stats(),
      searches: this.#lookups.started,
      rpc: this.#rpc.counters,
    };
  }

  /**
   * Starts housekeeping and bootstraps from the configured addresses.
   */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#joiner.join();
    // Nodes kept from an earlier run (importNodes): our own id is looked up
    // through them at once, without waiting for a bootstrap node (which
    // may be gone); their answers make them good.
    if (this.#table.size > 0) this.findNode(this.id, () => {});
    this.#scheduleMaintenance();
  }

  /**
   * Stops every timer, search, put and listen, and the RPC engine. The
   * transport stays open (its owner closes it). Values already stored on
   * other nodes live until they expire.
   */
  stop(): void {
    this.#running = false;
    this.#joiner.stop();
    this.#maintenanceTimer?.cancel();
    this.#expiryTimer?.cancel();
    this.#lookups.stop();
    this.#retries.clear();
    this.#permanent.stop();
    this.#listens.stop();
    this.#connectivity.stop();
    this.#rpc.close();
  }

  /** Adds bootstrap nodes, e.g. a name resolved late ({@link BootstrapJoiner.add}); returns how many were new. */
  addBootstrap(addresses: readonly PeerAddress[]): number {
    return this.#joiner.add(addresses);
  }

  /**
   * One bootstrap round, not retried ({@link BootstrapJoiner.round}).
   *
   * @param addresses Bootstrap nodes.
   * @param onDone Called with the number of nodes that answered.
   */
  bootstrap(
    addresses: readonly PeerAddress[],
    onDone?: (answered: number) => void,
  ): void {
    this.#joiner.round(addresses, onDone);
  }

  #onRequest(request: DhtRequest, from: PeerAddress): void {
    const now = this.#clock.now();
    if (!request.isClient) {
      this.#upkeep.heardRequest(request.senderId, from, now);
    } else {
      // A node we know that now says it is a client (it found itself
      // behind a NAT): others cannot reach it, so stop handing it out.
      const known = this.#table.get(request.senderId);
      if (
        known !== undefined && known.address.port === from.port &&
        known.address.host === from.host
      ) {
        this.#table.remove(request.senderId);
      }
    }
    handleRequest(this.#handlerContext(now), request, from);
  }

  #handlerContext(nowMs: number): HandlerContext {
    return {
      nowMs,
      rpc: this.#rpc,
      table: this.#table,
      store: this.#store,
      tokens: this.#tokens,
      proven: this.#proven,
      push: this.#pushNotices,
      onUpdate: this.#onUpdateRequest,
      onStored: this.#onStored,
      valuePolicy: this.#valuePolicy,
    };
  }

  // The handler context's callbacks, made once rather than per request.
  readonly #pushNotices = (notices: readonly ListenerNotice[]): void =>
    this.#pushes.push(notices);
  readonly #onUpdateRequest: HandlerContext["onUpdate"] = (request) =>
    this.#listens.onUpdate(request);
  readonly #onStored = (): void => this.#armExpiry();

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
        this.#pushes.push(this.#store.expire(this.#clock.now()).notices);
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
    this.#pushes.push(this.#store.expire(now).notices);
    this.#upkeep.maintain(now);
    if (this.#table.size === 0) this.#joiner.join();
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
    this.#replication.maintain(now);
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
    const search = this.#lookups.start(target, "find", {
      onDone: (result) => onDone?.(result),
    });
    return { cancel: () => this.#lookups.cancel(search) };
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
    const search = this.#lookups.start(key, "get", {
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
    return { cancel: () => this.#lookups.cancel(search) };
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
    const createdMs = this.#clock.now();
    // Put at the closest nodes as soon as they are known, not when the
    // search has finished (as the first round of a permanent put does): a
    // slow or dead candidate can hold the end of a search back by seconds,
    // and a listener may be waiting at the closest nodes (a link's
    // candidate set is on the path to status 2). Each node gets it once.
    const early = new Set<string>();
    let pending = 1; // the search itself
    let stored = 0;
    const settle = (acks: number) => {
      stored += acks;
      if (--pending === 0) options.onDone?.(stored);
    };
    const putFresh = (nodes: readonly SearchNode[], done: boolean) => {
      const fresh = nodes.filter((node) => !early.has(node.id.toString()));
      for (const node of fresh) early.add(node.id.toString());
      pending += 1;
      this.#puts.putToNodes(fresh, key, value, createdMs, settle);
      if (done) settle(0);
    };
    const prepared = this.#prepared?.get(key.toString());
    if (
      prepared !== undefined &&
      this.#clock.now() - prepared.atMs < PREPARED_PUT_MS &&
      !(prepared.done && prepared.nodes.length === 0)
    ) {
      // Its lookup ran (or runs) already: follow it.
      if (prepared.nodes.length > 0) putFresh(prepared.nodes, prepared.done);
      if (prepared.done) return { cancel() {} };
      prepared.followers.add(putFresh);
      return { cancel: () => prepared.followers.delete(putFresh) };
    }
    const search = this.#lookups.start(key, "find", {
      onPrefix: (nodes) => putFresh(nodes, false),
      onDone: (result) => putFresh(result.nodes, true),
    });
    return { cancel: () => this.#lookups.cancel(search) };
  }

  /**
   * Looks up the nodes closest to `key` now, so that a one-shot put there
   * within {@link PREPARED_PUT_MS} follows this lookup (its closest nodes
   * as they are known, their write tokens included) instead of starting
   * its own: the lookup's time leaves the put's path. A key prepared
   * already is not looked up again; at most {@link MAX_PREPARED_PUTS} keys
   * are kept, the oldest forgotten first.
   *
   * @param key The key a put is expected at.
   */
  prepare(key: InfoHash): void {
    const hex = key.toString();
    const nowMs = this.#clock.now();
    const prepared = this.#prepared ??= new Map();
    const known = prepared.get(hex);
    if (known !== undefined && nowMs - known.atMs < PREPARED_PUT_MS) return;
    prepared.delete(hex);
    const entry: PreparedPut = {
      atMs: nowMs,
      nodes: [],
      done: false,
      followers: new Set(),
    };
    prepared.set(hex, entry);
    if (prepared.size > MAX_PREPARED_PUTS) {
      const oldest = prepared.keys().next().value;
      if (oldest !== undefined) prepared.delete(oldest);
    }
    this.#lookups.start(key, "find", {
      onPrefix: (nodes) => {
        entry.nodes = nodes;
        for (const follow of entry.followers) follow(nodes, false);
      },
      onDone: (result) => {
        entry.nodes = result.nodes;
        entry.done = true;
        for (const follow of entry.followers) follow(result.nodes, true);
        entry.followers.clear();
      },
    });
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
    return this.#permanent.add(key, value, onDone);
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

  /**
   * Listens at `key`: `callback` is told of values added (including those
   * already there), refreshed and expired. The listen is placed on the
   * {@link LISTEN_NODES} closest nodes, renewed every `listenRenewMs`, and
   * moved when the closest nodes change.
   *
   * @param key Key.
   * @param callback Receives events.
   * @param options Optional where-filter, and how many nodes to listen at
   * (1 to {@link LISTEN_NODES}, the default).
   * @returns A handle to stop listening.
   */
  listen(
    key: InfoHash,
    callback: (event: ListenEvent) => void,
    options: { query?: DhtQuery; nodes?: number } = {},
  ): ListenHandle {
    return this.#listens.add(key, callback, options.query, options.nodes);
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

/** A host as compared with the observed IP: lower case, unmapped, no IPv6 zone. */
function plainHost(host: string): string {
  return unmappedHost(host.toLowerCase().replace(/%.*$/, ""));
}
