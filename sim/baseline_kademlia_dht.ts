/**
 * A baseline for the `lookup` scenario: the npm package `kademlia-dht` 0.1.0
 * (Jean Lauliac, 2013, MIT), driven over a {@link SimulatedTransport} in the
 * virtual time of a {@link ManualClock}.
 *
 * Why it can be driven without touching any global: the package's core
 * (`lib/dht.js`, `lookup.js`, `lookup-list.js`, `routing-table.js`,
 * `bucket.js`, `id.js`, `contact.js`) never calls `setTimeout`, `Date.now`
 * or `Math.random`. Its only nondeterminism and real-time hooks are
 * `Id.generate` (`crypto.randomBytes`, reached only from `Dht.spawn`) and
 * `process.nextTick` (in `Dht.prototype.bootstrap` with no seeds, and in
 * `set`/`get` paths this baseline never calls); the demo `MockRpc` uses
 * `setTimeout`, but it is not used here. So this module builds the `Dht` with
 * `new Dht(rpc, id, options)` and an id drawn from the scenario's `Rng`,
 * answers an empty seed list itself on a clock timer, and supplies its own
 * Rpc whose timeouts are `ManualClock` timers.
 *
 * What it reaches into: the package exports only `Dht` and `MockRpc`, and a
 * `Dht` can only look up SHA-1 of a string key (`get`, `set`). To look up an
 * arbitrary 160-bit target, {@link createKademliaDhtNode} does what
 * `Dht.prototype._lookupKey` does, with the target as the id: seeds from
 * `dht._routes.find(target, concurrency)`, then
 * `Lookup.proceed(target, seeds, options, callback)` (`lib/lookup.js`) with
 * `findNode` wrapping `dht._findNode` to count queries and hops. `Id`,
 * `Contact` and `Lookup` come from the package's `lib/` files by npm subpath;
 * Deno loads each file once, so the package's `instanceof Id` and
 * `instanceof Contact` checks accept them.
 *
 * The wire: each Rpc call is one JSON datagram
 * `{"type":"query","tid":7,"method":"findNode","body":{…}}`, answered by
 * `{"type":"reply","tid":7,"body":…}` or `{"type":"error","tid":7}`. Ids
 * travel as 40 hex characters, contacts as `{"id","host","port"}`. By default
 * a request is sent once, as in the package's `MockRpc`; `requestAttempts`
 * resends the same bytes and tid after each timeout, for a comparison with
 * our engine, which retries.
 *
 * @example Two nodes find each other
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../lib/testing/manual_clock.ts";
 * import { seededRng } from "../lib/rng.ts";
 * import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";
 * import { createKademliaDhtNode } from "./baseline_kademlia_dht.ts";
 *
 * const clock = new ManualClock(0);
 * const rng = seededRng(1);
 * const network = new SimulatedNetwork({ clock, rng });
 * const first = network.attach();
 * const a = createKademliaDhtNode({ transport: first, clock, rng });
 * const b = createKademliaDhtNode({ transport: network.attach(), clock, rng });
 * b.bootstrap([first.localAddress], () => {});
 * clock.advance(5_000);
 * let closest: string[] = [];
 * b.lookup(a.id, (result) => closest = result.closest.map(String));
 * clock.advance(5_000);
 * assert.equal(closest[0], a.id.toString());
 * a.stop();
 * b.stop();
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import kademliaDht from "npm:kademlia-dht@0.1.0";
import kademliaContact from "npm:kademlia-dht@0.1.0/lib/contact.js";
import kademliaId from "npm:kademlia-dht@0.1.0/lib/id.js";
import kademliaLookup from "npm:kademlia-dht@0.1.0/lib/lookup.js";
import { InfoHash } from "../lib/identity/info_hash.ts";
import type { Timer } from "../lib/clock.ts";
import type { ManualClock } from "../lib/testing/manual_clock.ts";
import type { Rng } from "../lib/rng.ts";
import type { PeerAddress } from "../lib/transport.ts";
import type { SimulatedTransport } from "../lib/testing/simulated_network.ts";

/** How long a request waits for its reply, in virtual ms; OpenDHT's first retry gap, and twice `MockRpc.TIMEOUT`. */
const DEFAULT_REQUEST_TIMEOUT_MS = 1_000;

/** Sends per request: once, as the package's `MockRpc`. */
const DEFAULT_REQUEST_ATTEMPTS = 1;

/** Kademlia's k, the package's default `bucketSize`: contacts per bucket and per lookup result. */
const DEFAULT_BUCKET_SIZE = 20;

/** Kademlia's alpha, the package's default `concurrency`: parallel queries per lookup. */
const DEFAULT_CONCURRENCY = 3;

/** Requests one node may have in flight; more fail at once, since a lookup needs only `concurrency` plus a ping. */
const MAX_PENDING_REQUESTS = 1_024;

/** Contacts accepted in one reply; the package sends at most `bucketSize`. */
const MAX_CONTACTS_PER_REPLY = 256;

/** The Rpc methods the package calls, each also a wire `method`. */
const METHODS: ReadonlySet<string> = new Set([
  "ping",
  "store",
  "findNode",
  "findValue",
]);

/** Payload and result fields that hold a package `Id`. */
const ID_FIELDS: ReadonlySet<string> = new Set(["id", "targetId", "remoteId"]);

const HEX_ID_PATTERN = /^[0-9a-f]{40}$/;

const TEXT_ENCODER = new TextEncoder();
const TEXT_DECODER = new TextDecoder();

// The package ships no types; these describe the parts this module uses.

/** `lib/id.js`: 20 bytes in a Buffer; `toString()` gives 40 hex characters. */
interface KademliaId {
  toString(): string;
}

/** `lib/contact.js`: an id and an opaque endpoint (here a PeerAddress). */
interface KademliaContact {
  readonly id: KademliaId;
  readonly endpoint: PeerAddress;
}

/** `(err, result)`, as every Rpc callback in the package. */
type RpcCallback = (error: Error | null, result?: unknown) => void;

/** A local handler: synchronous, returns the reply body or throws. */
type RpcHandler = (endpoint: PeerAddress, payload: unknown) => unknown;

/** The Rpc interface `new Dht()` checks for (`RPC_FUNCTIONS` in `lib/dht.js`). */
interface KademliaRpc {
  ping(endpoint: PeerAddress, payload: unknown, callback: RpcCallback): void;
  store(endpoint: PeerAddress, payload: unknown, callback: RpcCallback): void;
  findNode(
    endpoint: PeerAddress,
    payload: unknown,
    callback: RpcCallback,
  ): void;
  findValue(
    endpoint: PeerAddress,
    payload: unknown,
    callback: RpcCallback,
  ): void;
  receive(message: string, handler: RpcHandler): void;
  close(): void;
}

/** `lib/dht.js` options; `new Dht()` does not fill defaults, `Dht.spawn` does. */
interface KademliaDhtOptions {
  bucketSize: number;
  concurrency: number;
}

type FindNode = (
  contact: KademliaContact,
  targetId: KademliaId,
  callback: (error: Error | null, contacts?: KademliaContact[]) => void,
) => void;

/** `lib/dht.js` `Dht`, public and underscore members used here. */
interface KademliaDht {
  bootstrap(seeds: PeerAddress[], callback: () => void): void;
  close(): void;
  readonly _routes: {
    find(id: KademliaId, count: number): KademliaContact[];
  };
  _findNode: FindNode;
}

interface KademliaModules {
  Dht: new (
    rpc: KademliaRpc,
    id: KademliaId,
    options: KademliaDhtOptions,
  ) => KademliaDht;
  Id: new (buffer: Buffer) => KademliaId;
  Contact: new (id: KademliaId, endpoint: PeerAddress) => KademliaContact;
  Lookup: {
    proceed(
      targetId: KademliaId,
      seeds: KademliaContact[],
      options: { size: number; concurrency: number; findNode: FindNode },
      callback: (error: Error | null, contacts: KademliaContact[]) => void,
    ): unknown;
  };
}

const KADEMLIA: KademliaModules = {
  Dht: (kademliaDht as { Dht: KademliaModules["Dht"] }).Dht,
  Id: kademliaId as KademliaModules["Id"],
  Contact: kademliaContact as KademliaModules["Contact"],
  Lookup: kademliaLookup as KademliaModules["Lookup"],
};

/**
 * What a baseline lookup reports.
 *
 * @example A lookup that found nothing
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BaselineLookupResult } from "./baseline_kademlia_dht.ts";
 *
 * const result: BaselineLookupResult = { closest: [], hops: 0, ok: false, queries: 0 };
 * assert.equal(result.ok, false);
 * ```
 */
export interface BaselineLookupResult {
  /**
   * The nodes that answered, closest to the target first, at most
   * `bucketSize`, without the looking node itself (the package keeps it when
   * other nodes return it, and even queries it; our `Search` skips it).
   */
  closest: InfoHash[];
  /**
   * The hop at which the lookup first learned of `closest[0]`, counted as
   * our own `Search` (lib/dht/search.ts) counts: 1 for a node from the
   * looking node's routing table, `h + 1` for a node first returned by a
   * node of hop `h`; 0 when nothing answered. The package's lookup is
   * asynchronous (a new query as each reply arrives), not in rounds, so this
   * path length is its closest analogue to "hops".
   */
  hops: number;
  /** Whether the lookup returned at least one node. */
  ok: boolean;
  /** Find-node requests the lookup sent, answered or not. */
  queries: number;
}

/**
 * A DHT node under test as a baseline for our own.
 *
 * @example Look up with a node
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../lib/testing/manual_clock.ts";
 * import { seededRng } from "../lib/rng.ts";
 * import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";
 * import { type BaselineNode, createKademliaDhtNode } from "./baseline_kademlia_dht.ts";
 *
 * const clock = new ManualClock(0);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const node: BaselineNode = createKademliaDhtNode({ transport: network.attach(), clock, rng: seededRng(2) });
 * let ok: boolean | undefined;
 * node.lookup(node.id, (result) => ok = result.ok);
 * clock.advance(1);
 * assert.equal(ok, false); // alone, it knows nobody
 * node.stop();
 * ```
 */
export interface BaselineNode {
  /** The node's id; the package's ids are 160-bit too, so the bytes are the same. */
  readonly id: InfoHash;
  /**
   * Joins through `seeds`: pings each, then looks up the node's own id.
   *
   * @param seeds Addresses of nodes already in the network; none for the first node.
   * @param done Called once, never synchronously, when the join finished (or failed).
   */
  bootstrap(seeds: readonly PeerAddress[], done: () => void): void;
  /**
   * Iterative find-node towards `target`.
   *
   * @param target The id to find the closest nodes of.
   * @param done Called once, never synchronously, unless the node is stopped first.
   */
  lookup(target: InfoHash, done: (result: BaselineLookupResult) => void): void;
  /** Closes the node and its transport; pending requests are dropped and their callbacks never run. */
  stop(): void;
}

/**
 * Collaborators and settings of {@link createKademliaDhtNode}.
 *
 * @example Shorter timeouts
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../lib/testing/manual_clock.ts";
 * import { seededRng } from "../lib/rng.ts";
 * import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";
 * import { createKademliaDhtNode, type KademliaDhtNodeOptions } from "./baseline_kademlia_dht.ts";
 *
 * const clock = new ManualClock(0);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const options: KademliaDhtNodeOptions = { transport: network.attach(), clock, rng: seededRng(2), requestTimeoutMs: 500 };
 * assert.equal(createKademliaDhtNode(options).id.toString().length, 40);
 * ```
 */
export interface KademliaDhtNodeOptions {
  /** The node's datagrams; the node owns it from now on and closes it in `stop()`. */
  transport: SimulatedTransport;
  /** Virtual time; request timeouts are its timers. */
  clock: ManualClock;
  /** Draws the id when `id` is not given (20 draws); nothing else in the package is random. */
  rng: Rng;
  /**
   * The node's id.
   *
   * @default {InfoHash.random(rng)}
   */
  id?: InfoHash;
  /**
   * How long a request waits for its reply before failing, in virtual ms.
   *
   * @default {1000}
   */
  requestTimeoutMs?: number;
  /**
   * Sends per request, each followed by `requestTimeoutMs` of waiting; the
   * package leaves retries to the Rpc.
   *
   * @default {1}
   */
  requestAttempts?: number;
  /**
   * Kademlia's k: contacts per bucket and per lookup result.
   *
   * @default {20}
   */
  bucketSize?: number;
  /**
   * Kademlia's alpha: queries a lookup keeps in flight.
   *
   * @default {3}
   */
  concurrency?: number;
}

/**
 * Creates a `kademlia-dht` 0.1.0 node on a simulated transport.
 *
 * @param options Transport, clock, rng and settings.
 * @returns The node, not yet bootstrapped.
 * @throws {RangeError} If `requestTimeoutMs` is not a positive number, or
 * `requestAttempts`, `bucketSize` or `concurrency` not a positive integer.
 *
 * @example Fifty nodes, one lookup
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../lib/testing/manual_clock.ts";
 * import { seededRng } from "../lib/rng.ts";
 * import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";
 * import { createKademliaDhtNode } from "./baseline_kademlia_dht.ts";
 *
 * const clock = new ManualClock(0);
 * const rng = seededRng(3);
 * const network = new SimulatedNetwork({ clock, rng });
 * const nodes = Array.from({ length: 50 }, () => createKademliaDhtNode({ transport: network.attach(), clock, rng }));
 * for (const node of nodes.slice(1)) node.bootstrap([{ host: "10.0.0.1", port: 4222 }], () => {});
 * clock.advance(10_000);
 * let found = 0;
 * nodes[7].lookup(nodes[30].id, (result) => found = result.closest.length);
 * clock.advance(10_000);
 * assert.ok(found >= 19); // 20, less the looking node if it was among them
 * for (const node of nodes) node.stop();
 * ```
 */
export function createKademliaDhtNode(
  options: KademliaDhtNodeOptions,
): BaselineNode {
  return new KademliaDhtNode(options);
}

class KademliaDhtNode implements BaselineNode {
  readonly id: InfoHash;
  readonly #clock: ManualClock;
  readonly #dht: KademliaDht;
  readonly #bucketSize: number;
  readonly #concurrency: number;
  #stopped = false;

  constructor(options: KademliaDhtNodeOptions) {
    const {
      transport,
      clock,
      rng,
      requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
      requestAttempts = DEFAULT_REQUEST_ATTEMPTS,
      bucketSize = DEFAULT_BUCKET_SIZE,
      concurrency = DEFAULT_CONCURRENCY,
    } = options;
    checkPositive("requestTimeoutMs", requestTimeoutMs, false);
    checkPositive("requestAttempts", requestAttempts, true);
    checkPositive("bucketSize", bucketSize, true);
    checkPositive("concurrency", concurrency, true);
    this.id = options.id ?? InfoHash.random(rng);
    this.#clock = clock;
    this.#bucketSize = bucketSize;
    this.#concurrency = concurrency;
    // The Dht owns the Rpc, which owns the transport: `dht.close()` closes both.
    const rpc = new SimulatedRpc(transport, clock, {
      requestTimeoutMs,
      requestAttempts,
    });
    this.#dht = new KADEMLIA.Dht(rpc, toKademliaId(this.id), {
      bucketSize,
      concurrency,
    });
  }

  bootstrap(seeds: readonly PeerAddress[], done: () => void): void {
    if (this.#stopped) return;
    // With no seeds the package answers on process.nextTick, outside virtual time.
    if (seeds.length === 0) {
      this.#clock.setTimer(0, done);
      return;
    }
    this.#dht.bootstrap(
      seeds.map(({ host, port }) => ({ host, port })),
      () => done(),
    );
  }

  lookup(
    target: InfoHash,
    done: (result: BaselineLookupResult) => void,
  ): void {
    if (this.#stopped) return;
    const targetId = toKademliaId(target);
    // As Dht.prototype._lookupKey, with the target as the id instead of SHA-1 of a key.
    const seeds = this.#dht._routes.find(targetId, this.#concurrency);
    if (seeds.length === 0) {
      const result = { closest: [], hops: 0, ok: false, queries: 0 };
      this.#clock.setTimer(0, () => done(result));
      return;
    }
    const hopsById = new Map<string, number>();
    for (const seed of seeds) hopsById.set(seed.id.toString(), 1);
    let queries = 0;
    const findNode: FindNode = (contact, id, callback) => {
      queries++;
      this.#dht._findNode(contact, id, (error, contacts) => {
        if (error === null && contacts !== undefined) {
          const hops = (hopsById.get(contact.id.toString()) ?? 1) + 1;
          for (const found of contacts) {
            const hex = found.id.toString();
            if (!hopsById.has(hex)) hopsById.set(hex, hops);
          }
        }
        callback(error, contacts);
      });
    };
    const lookupOptions = {
      size: this.#bucketSize,
      concurrency: this.#concurrency,
      findNode,
    };
    KADEMLIA.Lookup.proceed(targetId, seeds, lookupOptions, (_, contacts) => {
      const closest = contacts.map((contact) => toInfoHash(contact.id))
        .filter((id) => !id.equals(this.id));
      const first = closest[0]?.toString();
      done({
        closest,
        hops: first === undefined ? 0 : hopsById.get(first) ?? 0,
        ok: closest.length > 0,
        queries,
      });
    });
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#dht.close();
  }
}

/** A pending request: whom it went to, what to call, and its timeout. */
interface PendingRequest {
  readonly to: string;
  readonly callback: RpcCallback;
  timer: Timer;
}

/** Timing of {@link SimulatedRpc} requests. */
interface RpcTiming {
  readonly requestTimeoutMs: number;
  readonly requestAttempts: number;
}

/**
 * The package's Rpc over a simulated transport: JSON datagrams, transaction
 * ids, one timeout timer per attempt, replies accepted only from the
 * address the request went to.
 */
class SimulatedRpc implements KademliaRpc {
  readonly #transport: SimulatedTransport;
  readonly #clock: ManualClock;
  readonly #timing: RpcTiming;
  readonly #handlers = new Map<string, RpcHandler>();
  readonly #pending = new Map<number, PendingRequest>();
  #nextTid = 0;
  #closed = false;
  /** Datagrams dropped: unparsable, unknown method, or a reply matching no request. */
  droppedCount = 0;

  constructor(
    transport: SimulatedTransport,
    clock: ManualClock,
    timing: RpcTiming,
  ) {
    this.#transport = transport;
    this.#clock = clock;
    this.#timing = timing;
    transport.receive((bytes, from) => this.#onDatagram(bytes, from));
  }

  ping(endpoint: PeerAddress, payload: unknown, callback: RpcCallback): void {
    this.#request("ping", endpoint, payload, callback);
  }

  store(endpoint: PeerAddress, payload: unknown, callback: RpcCallback): void {
    this.#request("store", endpoint, payload, callback);
  }

  findNode(
    endpoint: PeerAddress,
    payload: unknown,
    callback: RpcCallback,
  ): void {
    this.#request("findNode", endpoint, payload, callback);
  }

  findValue(
    endpoint: PeerAddress,
    payload: unknown,
    callback: RpcCallback,
  ): void {
    this.#request("findValue", endpoint, payload, callback);
  }

  receive(message: string, handler: RpcHandler): void {
    this.#handlers.set(message, handler);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const request of this.#pending.values()) request.timer.cancel();
    this.#pending.clear();
    void this.#transport.close();
  }

  #request(
    method: string,
    endpoint: PeerAddress,
    payload: unknown,
    callback: RpcCallback,
  ): void {
    if (this.#closed) return;
    if (this.#pending.size >= MAX_PENDING_REQUESTS) {
      const error = rpcError("EOVERLOAD", "too many pending requests");
      this.#clock.setTimer(0, () => callback(error));
      return;
    }
    const tid = this.#nextTid++;
    const body = encodeBody(payload);
    const bytes = encodeMessage({ type: "query", tid, method, body });
    const { requestTimeoutMs, requestAttempts } = this.#timing;
    let attempts = 1;
    const onTimeout = (): void => {
      if (attempts < requestAttempts) {
        attempts++;
        request.timer = this.#clock.setTimer(requestTimeoutMs, onTimeout);
        this.#transport.send(endpoint, bytes);
        return;
      }
      this.#pending.delete(tid);
      callback(rpcError("ETIMEDOUT", "request timed out"));
    };
    const timer = this.#clock.setTimer(requestTimeoutMs, onTimeout);
    const request = { to: addressKey(endpoint), callback, timer };
    this.#pending.set(tid, request);
    this.#transport.send(endpoint, bytes);
  }

  #onDatagram(bytes: Uint8Array, from: PeerAddress): void {
    if (this.#closed) return;
    let message: Record<string, unknown>;
    let body: unknown;
    try {
      message = parseEnvelope(bytes);
      body = message.type === "error" ? undefined : decodeBody(message.body);
    } catch {
      // Hostile or broken bytes are dropped and counted, never thrown.
      this.droppedCount++;
      return;
    }
    const tid = message.tid as number;
    if (message.type === "query") {
      this.#answer(tid, message.method as string, body, from);
      return;
    }
    const request = this.#pending.get(tid);
    if (request === undefined || request.to !== addressKey(from)) {
      this.droppedCount++;
      return;
    }
    this.#pending.delete(tid);
    request.timer.cancel();
    if (message.type === "error") {
      request.callback(rpcError("EREMOTEERR", "remote node errored"));
    } else {
      request.callback(null, body);
    }
  }

  #answer(tid: number, method: string, body: unknown, from: PeerAddress): void {
    const handler = this.#handlers.get(method);
    if (handler === undefined) {
      this.droppedCount++;
      return;
    }
    let result: unknown;
    try {
      result = handler(from, body);
    } catch {
      // As the package's README asks: an error goes back, without details.
      this.#send(from, { type: "error", tid });
      return;
    }
    this.#send(from, { type: "reply", tid, body: encodeBody(result) });
  }

  #send(to: PeerAddress, message: Record<string, unknown>): void {
    this.#transport.send(to, encodeMessage(message));
  }
}

function checkPositive(name: string, value: number, integer: boolean): void {
  const ok = integer ? Number.isSafeInteger(value) : Number.isFinite(value);
  if (!(ok && value > 0)) {
    throw new RangeError(
      `Cannot create kademlia-dht node: ${name} ${value} is not a positive ${
        integer ? "integer" : "number"
      }`,
    );
  }
}

function encodeMessage(message: Record<string, unknown>): Uint8Array {
  return TEXT_ENCODER.encode(JSON.stringify(message));
}

function rpcError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function addressKey(address: PeerAddress): string {
  return `${address.host}|${address.port}`;
}

function toKademliaId(id: InfoHash): KademliaId {
  return new KADEMLIA.Id(Buffer.from(id.bytes));
}

function toInfoHash(id: KademliaId): InfoHash {
  return InfoHash.fromHex(id.toString());
}

/**
 * A payload or result as JSON: `Id` fields as hex, `contacts` as
 * `{id, host, port}`; other fields (`key`, `value`) as they are.
 */
function encodeBody(body: unknown): unknown {
  if (body === undefined) return null;
  if (typeof body !== "object" || body === null) return body;
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(body)) {
    if (ID_FIELDS.has(field)) {
      out[field] = (value as KademliaId).toString();
    } else if (field === "contacts") {
      out[field] = (value as KademliaContact[]).map((contact) => ({
        id: contact.id.toString(),
        host: contact.endpoint.host,
        port: contact.endpoint.port,
      }));
    } else {
      out[field] = value;
    }
  }
  return out;
}

/** Reverses {@link encodeBody}, building the package's `Id` and `Contact`. */
function decodeBody(body: unknown): unknown {
  if (body === null) return undefined;
  if (typeof body !== "object" || Array.isArray(body)) return body;
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(body)) {
    if (ID_FIELDS.has(field)) {
      out[field] = decodeId(value);
    } else if (field === "contacts") {
      out[field] = decodeContacts(value);
    } else {
      out[field] = value;
    }
  }
  return out;
}

function decodeId(value: unknown): KademliaId {
  if (typeof value !== "string" || !HEX_ID_PATTERN.test(value)) {
    throw new SyntaxError("Cannot decode id: not 40 lowercase hex characters");
  }
  return new KADEMLIA.Id(Buffer.from(value, "hex"));
}

function decodeContacts(value: unknown): KademliaContact[] {
  if (!Array.isArray(value) || value.length > MAX_CONTACTS_PER_REPLY) {
    throw new SyntaxError("Cannot decode contacts: not a short array");
  }
  return value.map((item: { id?: unknown; host?: unknown; port?: unknown }) => {
    const { host, port } = item ?? {};
    if (
      typeof host !== "string" || host === "" || !Number.isInteger(port) ||
      (port as number) < 1 || (port as number) > 65535
    ) {
      throw new SyntaxError("Cannot decode contact: bad address");
    }
    const endpoint: PeerAddress = { host, port: port as number };
    return new KADEMLIA.Contact(decodeId(item.id), endpoint);
  });
}

/** Parses and checks the envelope; throws SyntaxError for anything else. */
function parseEnvelope(bytes: Uint8Array): Record<string, unknown> {
  const message: unknown = JSON.parse(TEXT_DECODER.decode(bytes));
  if (typeof message !== "object" || message === null) {
    throw new SyntaxError("Cannot decode message: not an object");
  }
  const { type, tid, method } = message as Record<string, unknown>;
  if (!Number.isSafeInteger(tid)) {
    throw new SyntaxError("Cannot decode message: bad tid");
  }
  const isQuery = type === "query" && METHODS.has(method as string);
  if (!isQuery && type !== "reply" && type !== "error") {
    throw new SyntaxError("Cannot decode message: bad type or method");
  }
  return message as Record<string, unknown>;
}
