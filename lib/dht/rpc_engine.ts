/**
 * `RpcEngine`: requests with transaction ids, retries and timeouts on the
 * injected clock; replies and errors matched back to their request; incoming
 * requests filtered (network id, sender id, rate limit) and handed to the
 * node. It is the only part of the DHT that touches the transport.
 *
 * Timing follows OpenDHT 2.4.12 (`docs/opendht-wire.md` §6): a request is sent up to
 * {@link RpcTiming.attempts} times with the same bytes and tid; the gaps grow
 * (1 s, then 2 s, plus up to 250 ms of jitter) and the request expires
 * {@link RpcTiming.expireAfterLastMs} after the last send. A caller that
 * cannot wait that long is told the request is *slow* after
 * {@link RpcTiming.slowAfterMs} and may ask someone else meanwhile.
 *
 * Hostile input never escapes: undecodable datagrams, other networks, zero or
 * own sender ids, replies that match nothing and requests over the rate
 * limit are dropped and counted in {@link RpcEngine.counters}.
 *
 * A reply is matched by its transaction id, the sender id we expect (when
 * known) and the address the request went to: both ids are visible to
 * anyone on the path or in the routing table, the address is what a spoofer
 * elsewhere cannot answer from. Tids come from a {@link RandomBytes} (the
 * system's cryptographic generator unless the simulator passes a seeded
 * one), never from the {@link Rng}, whose state a peer could recover.
 *
 * @example Two engines on a simulated network, one pings the other
 * ```ts
 * import assert from "node:assert/strict";
 * import { RpcEngine } from "./rpc_engine.ts";
 * import { InfoHash } from "../identity/info_hash.ts";
 * import { ManualClock, seededRng, SimulatedNetwork } from "../testing/mod.ts";
 *
 * const clock = new ManualClock(0);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const a = new RpcEngine({ transport: network.attach(), clock, rng: seededRng(2) }, { selfId: InfoHash.get("a") }, () => {});
 * const b = new RpcEngine({ transport: network.attach(), clock, rng: seededRng(3) }, { selfId: InfoHash.get("b") }, (request, from) => {
 *   b.reply(from, request.tid, {});
 * });
 * let answered = false;
 * a.request(b.localAddress, undefined, { method: "ping" }, { onReply: () => answered = true });
 * clock.advance(1_000);
 * assert.ok(answered);
 * ```
 *
 * @module
 */
import { InfoHash } from "../identity/info_hash.ts";
import type { Clock, Timer } from "../clock.ts";
import { systemRandomBytes } from "../io/system_random.ts";
import { type RandomBytes, randomUint32, type Rng } from "../rng.ts";
import {
  formatAddress,
  type PeerAddress,
  type Transport,
} from "../transport.ts";
import type { DhtError, DhtMessage, DhtReply, DhtRequest } from "./messages.ts";
import { decodeSeenAddress, seenAddressBytes } from "./wire/addresses.ts";
import { ObservedAddress } from "./observed_address.ts";
import { ObservedMapping } from "./observed_mapping.ts";
import { originOf } from "./origin_shares.ts";
import { decodeMessage } from "./wire/decode.ts";
import { OPENDHT_USER_AGENT } from "./wire/encode.ts";
import { WireError } from "./wire/errors.ts";
import { encodeWithValueParts, ValuePartAssembler } from "./value_parts.ts";
import { TidTable } from "./_tid_table.ts";
import { OriginCounts } from "./_origin_counts.ts";

/** Fields the engine fills in on every request. */
type Filled = "kind" | "tid" | "senderId" | "network" | "userAgent";
/** A request as the node writes it: the engine adds tid, ids and network. */
export type RequestBody = DhtRequest extends infer R
  ? R extends DhtRequest ? Omit<R, Filled> : never
  : never;
/** A reply as the node writes it. */
export type ReplyBody = Omit<DhtReply, Filled | "seenAddress">;

/** Retry and timeout settings. */
export interface RpcTiming {
  /** Sends of one request. @default {3} */
  readonly attempts?: number;
  /** Wait after the first send before the second. @default {1000} */
  readonly firstRetryMs?: number;
  /** Random extra wait added to each gap, at most. @default {250} */
  readonly retryJitterMs?: number;
  /** Wait after the last send before giving up. @default {2000} */
  readonly expireAfterLastMs?: number;
  /** When the caller is told the request is slow. @default {500} */
  readonly slowAfterMs?: number;
}

/** Settings of an {@link RpcEngine}: who we are, and the limits that keep floods out. */
export interface RpcEngineConfig {
  /** Our node id, sent as `id` in every message. */
  readonly selfId: InfoHash;
  /** Network id; 0 is the public network. @default {0} */
  readonly network?: number;
  /** User agent sent as `v`. @default {"RNG1"} */
  readonly userAgent?: string;
  /**
   * Whether our replies carry `sp`, the requester's port as we saw it (our
   * extension; stock OpenDHT nodes send none). @default {true}
   */
  readonly sendSeenPort?: boolean;
  /** Requests we may have outstanding; beyond it new ones expire at once. @default {4096} */
  readonly maxPendingRequests?: number;
  /** Requests accepted per second from one origin (an IPv4 address, or an IPv6 /64). @default {1024} */
  readonly requestsPerSecondPerIp?: number;
  /** Requests accepted per second in all. @default {8192} */
  readonly requestsPerSecond?: number;
  /** Attempts, retry gaps and the slow threshold of our requests; each field has its own default. */
  readonly timing?: RpcTiming;
  /**
   * Asked at each request: true makes it say `s: true` (we are a client:
   * answer, but keep us out of your routing table). A node behind a NAT
   * sets it once it knows (`DhtNodeConfig.clientBehindNat`). @default {never}
   */
  readonly isClient?: () => boolean;
}

/** What an {@link RpcEngine} runs on, injected so that tests and the simulator supply their own. */
export interface RpcEngineComponents {
  /** Sends and receives the datagrams; the engine owns its receive handler. */
  readonly transport: Transport;
  /** Times retries, expiry, slow warnings and the rate-limit windows. */
  readonly clock: Clock;
  /** Random source for retry jitter (seen by peers, harmless). */
  readonly rng: Rng;
  /**
   * Source of transaction ids, which a spoofer must not guess: a
   * cryptographic one; only the simulator passes a seeded one.
   * @default {systemRandomBytes}
   */
  readonly randomBytes?: RandomBytes;
  /**
   * Told of each new request's destination and of each datagram of our
   * network that arrives (see `ConnectivityMonitor`). @default {none}
   */
  readonly traffic?: TrafficObserver;
}

/** Watches the engine's traffic: requests out, datagrams in. */
export interface TrafficObserver {
  /** A new request went out to `to` (its first send). */
  sent(to: PeerAddress): void;
  /** A datagram of our network arrived and decoded. */
  heard(): void;
}

/** What happens to a request. Exactly one of reply, error or expired is called. */
export interface RequestCallbacks {
  /** A reply matched by transaction id and source address (and by sender id when the request named one). */
  onReply(reply: DhtReply, from: PeerAddress): void;
  /** An error reply (e.g. 401 wrong token, 404 unknown storage). */
  onError?(error: DhtError, from: PeerAddress): void;
  /** No answer after every attempt. */
  onExpired?(): void;
  /** No answer within `slowAfterMs` (the request goes on). */
  onSlow?(): void;
}

/** A request in flight. */
export interface PendingRequest {
  /** Its transaction id (uint32), which the reply echoes. */
  readonly tid: number;
  /** Stops retries; no callback is called afterwards. */
  cancel(): void;
}

/** Counters of an engine (all monotonic). */
export interface RpcCounters {
  /** Datagrams sent (including retries and value parts). */
  sent: number;
  /** Bytes of those datagrams (UDP payload only). */
  sentBytes: number;
  /** Datagrams received, counted before decoding (so including dropped ones). */
  received: number;
  /** Bytes of those datagrams (UDP payload only). */
  receivedBytes: number;
  /** Requests sent (first attempts). */
  requests: number;
  /** Resends of a request that got no answer yet (not counted in `requests`). */
  retries: number;
  /** Requests that expired unanswered. */
  expired: number;
  /** Dropped: undecodable. */
  droppedMalformed: number;
  /** Dropped: another network id. */
  droppedNetwork: number;
  /** Dropped: zero or our own sender id. */
  droppedSender: number;
  /** Dropped: reply or error matching no request. */
  droppedUnmatched: number;
  /** Dropped: reply or error with a pending tid, from another address than the request went to. */
  droppedWrongAddress: number;
  /** Dropped: over the rate limit. */
  droppedRateLimited: number;
  /** Handler threw while processing a request (a bug; counted, not fatal). */
  handlerErrors: number;
}

/** What a {@link Pending} asks of its engine (made once per engine). */
interface PendingOwner {
  /** The request's one timer fired. */
  fire(pending: Pending): void;
  /** Ends request `tid` (its handle's cancel). */
  finish(tid: number): void;
}

/**
 * A request in flight, which is also the handle its sender gets: one object
 * and one timer callback per request, not a handle, closures and a record
 * (a request outlives a young-generation GC as often as not).
 */
class Pending implements PendingRequest {
  readonly tid: number;
  readonly to: PeerAddress;
  readonly expectedId: InfoHash | undefined;
  readonly datagrams: Uint8Array[];
  readonly callbacks: RequestCallbacks;
  attemptsLeft: number;
  gapMs: number;
  retryTimer: Timer | undefined = undefined;
  /** What the timer does when it fires next. */
  step: "slow" | "retry" | "expire" = "retry";
  /** After a slow report, the rest of the wait before the retry. */
  restMs = 0;
  readonly #owner: PendingOwner;
  /** The timer's callback. */
  readonly fire = (): void => this.#owner.fire(this);

  constructor(
    owner: PendingOwner,
    fields: {
      tid: number;
      to: PeerAddress;
      expectedId: InfoHash | undefined;
      datagrams: Uint8Array[];
      callbacks: RequestCallbacks;
      attemptsLeft: number;
      gapMs: number;
    },
  ) {
    this.#owner = owner;
    this.tid = fields.tid;
    this.to = fields.to;
    this.expectedId = fields.expectedId;
    this.datagrams = fields.datagrams;
    this.callbacks = fields.callbacks;
    this.attemptsLeft = fields.attemptsLeft;
    this.gapMs = fields.gapMs;
  }

  cancel(): void {
    this.#owner.finish(this.tid);
  }
}

/** First 12 bytes of an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
const IPV4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** The 4 bytes of an IPv4 or IPv4-mapped IPv6 host, else its 16 (or undefined). */
function ipBytes(address: PeerAddress): Uint8Array | undefined {
  const bytes = seenAddressBytes(address);
  if (
    bytes?.length === 16 &&
    IPV4_MAPPED_PREFIX.every((byte, index) => bytes[index] === byte)
  ) {
    return bytes.subarray(12);
  }
  return bytes;
}

/**
 * Whether a reply from `from` comes from `to`, where the request went: same
 * port, and the same host as text or as IP bytes (IPv6 written two ways, or
 * an IPv4 address seen as IPv4-mapped IPv6).
 */
function sameAddress(to: PeerAddress, from: PeerAddress): boolean {
  if (to.port !== from.port) return false;
  if (to.host === from.host) return true;
  const a = ipBytes(to);
  const b = ipBytes(from);
  return a !== undefined && b !== undefined && a.length === b.length &&
    a.every((byte, index) => byte === b[index]);
}
const RATE_WINDOW_MS = 1_000;

/**
 * The rate-limit bucket of a sender: its IPv4 address (or simulator host
 * name) as it is, without work on this per-request path; an IPv6 address's
 * /64, and an IPv4-mapped one's IPv4 address, through `originOf`.
 */
function rateOrigin(host: string): string {
  return host.includes(":") ? originOf(host).origin : host;
}

/** Sends requests, matches replies, filters and dispatches incoming requests. */
export class RpcEngine {
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #randomBytes: RandomBytes;
  readonly #traffic: TrafficObserver | undefined;
  readonly #selfId: InfoHash;
  readonly #isClient: (() => boolean) | undefined;
  readonly #network: number;
  readonly #userAgent: string;
  readonly #sendSeenPort: boolean;
  readonly #maxPending: number;
  readonly #perIpLimit: number;
  readonly #globalLimit: number;
  readonly #timing: Required<RpcTiming>;
  readonly #onRequest: (request: DhtRequest, from: PeerAddress) => void;
  readonly #pending = new TidTable<Pending>();
  readonly #assembler = new ValuePartAssembler();
  /**
   * The rate window: one for every origin, {@link RATE_WINDOW_MS} long from
   * the first request after the last one ended; requests in it, in all and
   * per origin (made at the first request).
   */
  #windowStartMs = -Infinity;
  #windowCount = 0;
  #originCounts: OriginCounts | undefined;
  #closed = false;
  /** The last IPv4 `sa` a reply carried (-1: none yet), and its text. */
  #lastSeenIp = -1;
  #lastSeenHost = "";
  /** Running totals since construction; callers only read them. */
  /** Our public IP as matched repliers' `sa` shows it (docs/links.md, "Links through NATs"). */
  readonly observedAddress: ObservedAddress = new ObservedAddress();
  /** Our NAT's mapping as matched repliers' `sp` shows it (see `ObservedMapping`). */
  readonly observedMapping: ObservedMapping = new ObservedMapping();
  readonly counters: RpcCounters = {
    sent: 0,
    sentBytes: 0,
    received: 0,
    receivedBytes: 0,
    requests: 0,
    retries: 0,
    expired: 0,
    droppedMalformed: 0,
    droppedNetwork: 0,
    droppedSender: 0,
    droppedUnmatched: 0,
    droppedWrongAddress: 0,
    droppedRateLimited: 0,
    handlerErrors: 0,
  };

  /**
   * An engine on `components.transport`; incoming requests go to `onRequest`.
   *
   * @param components Transport, clock, rng, and the source of tids.
   * @param config Ids, network, limits, timing.
   * @param onRequest Called for each accepted request.
   */
  constructor(
    components: RpcEngineComponents,
    config: RpcEngineConfig,
    onRequest: (request: DhtRequest, from: PeerAddress) => void,
  ) {
    this.#transport = components.transport;
    this.#clock = components.clock;
    this.#rng = components.rng;
    this.#randomBytes = components.randomBytes ?? systemRandomBytes;
    this.#traffic = components.traffic;
    this.#selfId = config.selfId;
    this.#isClient = config.isClient;
    this.#network = config.network ?? 0;
    this.#userAgent = config.userAgent ?? OPENDHT_USER_AGENT;
    this.#sendSeenPort = config.sendSeenPort ?? true;
    this.#maxPending = config.maxPendingRequests ?? 4_096;
    this.#perIpLimit = config.requestsPerSecondPerIp ?? 1_024;
    this.#globalLimit = config.requestsPerSecond ?? 8_192;
    this.#timing = {
      attempts: config.timing?.attempts ?? 3,
      firstRetryMs: config.timing?.firstRetryMs ?? 1_000,
      retryJitterMs: config.timing?.retryJitterMs ?? 250,
      expireAfterLastMs: config.timing?.expireAfterLastMs ?? 2_000,
      slowAfterMs: config.timing?.slowAfterMs ?? 500,
    };
    this.#onRequest = onRequest;
    this.#transport.receive((bytes, from) => this.#receive(bytes, from));
  }

  /** Our address as the transport knows it. */
  get localAddress(): PeerAddress {
    return this.#transport.localAddress;
  }

  /** Requests sent and not yet answered, failed, expired or cancelled. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  #send(to: PeerAddress, datagrams: readonly Uint8Array[]): void {
    if (this.#closed) return;
    for (const bytes of datagrams) {
      this.counters.sent += 1;
      this.counters.sentBytes += bytes.length;
      this.#transport.send(to, bytes);
    }
  }

  #newTid(): number {
    for (;;) {
      const tid = randomUint32(this.#randomBytes);
      if (tid !== 0 && !this.#pending.has(tid)) return tid;
    }
  }

  /**
   * Sends a request to `to`. The reply must come from `expectedId` when it
   * is known (bootstrap pings do not know it yet).
   *
   * @param to The node's address; retries go there too.
   * @param expectedId Node id we expect to answer, if known.
   * @param body The request without tid and ids.
   * @param callbacks What to do with the outcome.
   * @returns A handle to cancel it.
   */
  request(
    to: PeerAddress,
    expectedId: InfoHash | undefined,
    body: RequestBody,
    callbacks: RequestCallbacks,
  ): PendingRequest {
    const tid = this.#newTid();
    if (this.#closed || this.#pending.size >= this.#maxPending) {
      this.counters.expired += 1;
      callbacks.onExpired?.();
      return { tid, cancel: () => this.#finish(tid) };
    }
    const message = {
      ...body,
      kind: "request",
      tid,
      senderId: this.#selfId,
      network: this.#network,
      userAgent: this.#userAgent,
    } as DhtRequest;
    if (this.#isClient?.() === true) {
      (message as { isClient?: boolean }).isClient = true;
    }
    const pending = new Pending(this.#pendingOwner, {
      tid,
      to,
      expectedId,
      // Kept for the retries, seconds: copies of their own, not views of
      // the 64 KiB slab they were encoded into, which they would keep
      // alive (13 % of a 40-account simulation's heap was such slabs).
      datagrams: encodeWithValueParts(message).map((bytes) => bytes.slice()),
      callbacks,
      attemptsLeft: this.#timing.attempts,
      gapMs: this.#timing.firstRetryMs,
    });
    this.#pending.set(tid, pending);
    this.counters.requests += 1;
    this.#traffic?.sent(to);
    this.#attempt(pending, callbacks.onSlow !== undefined);
    return pending;
  }

  /**
   * Sends once more and arms the one timer a request has: the next retry (or
   * the expiry). On the first send with a slow callback, the timer first
   * fires at `slowAfterMs`, reports slowness, then waits out the rest of the
   * gap; one timer per request keeps large simulations' queues small.
   */
  #attempt(pending: Pending, reportSlow = false): void {
    this.#send(pending.to, pending.datagrams);
    pending.attemptsLeft -= 1;
    const jitter = Math.floor(this.#rng() * (this.#timing.retryJitterMs + 1));
    if (pending.attemptsLeft > 0) {
      const wait = pending.gapMs + jitter;
      pending.gapMs *= 2;
      const slowAfter = this.#timing.slowAfterMs;
      if (reportSlow && slowAfter < wait) {
        pending.step = "slow";
        pending.restMs = wait - slowAfter;
        pending.retryTimer = this.#clock.setTimer(slowAfter, pending.fire);
      } else {
        pending.step = "retry";
        pending.retryTimer = this.#clock.setTimer(wait, pending.fire);
      }
    } else {
      pending.step = "expire";
      pending.retryTimer = this.#clock.setTimer(
        this.#timing.expireAfterLastMs + jitter,
        pending.fire,
      );
    }
  }

  // Made once: what every Pending of this engine calls.
  readonly #pendingOwner: PendingOwner = {
    fire: (pending) => this.#fire(pending),
    finish: (tid) => {
      this.#finish(tid);
    },
  };

  /** A request's timer: report slowness and wait out the gap, retry, or expire. */
  #fire(pending: Pending): void {
    switch (pending.step) {
      case "slow":
        pending.step = "retry";
        pending.retryTimer = this.#clock.setTimer(
          pending.restMs,
          pending.fire,
        );
        pending.callbacks.onSlow?.();
        return;
      case "retry":
        this.counters.retries += 1;
        this.#attempt(pending);
        return;
      case "expire":
        this.#finish(pending.tid);
        this.counters.expired += 1;
        pending.callbacks.onExpired?.();
        return;
    }
  }

  #finish(tid: number): Pending | undefined {
    const pending = this.#pending.delete(tid);
    if (pending === undefined) return undefined;
    pending.retryTimer?.cancel();
    return pending;
  }

  /**
   * Answers request `tid` from `to`. The engine adds our id, the requester's
   * address as we see it, and splits large value sets into value parts.
   *
   * @param to Where the request came from.
   * @param tid The request's transaction id.
   * @param body Reply fields.
   */
  reply(to: PeerAddress, tid: number, body: ReplyBody): void {
    // Simulated or named hosts have no IP bytes.
    const seenAddress = seenAddressBytes(to);
    const message: DhtReply = {
      ...body,
      kind: "reply",
      tid,
      senderId: this.#selfId,
      network: this.#network,
      userAgent: this.#userAgent,
      ...(seenAddress === undefined ? {} : { seenAddress }),
      ...(seenAddress === undefined || !this.#sendSeenPort
        ? {}
        : { seenPort: to.port }),
    };
    this.#send(to, encodeWithValueParts(message));
  }

  /**
   * Sends an error answer to request `tid`.
   *
   * @param to Where the request came from.
   * @param tid Transaction id.
   * @param code Error code (203, 401, 404).
   * @param text Error text.
   */
  error(to: PeerAddress, tid: number, code: number, text: string): void {
    const message: DhtError = {
      kind: "error",
      tid,
      network: this.#network,
      userAgent: this.#userAgent,
      senderId: this.#selfId,
      code,
      message: text,
    };
    this.#send(to, encodeWithValueParts(message));
  }

  /**
   * Periodic housekeeping: drops value-part reassemblies whose time is up.
   */
  tick(): void {
    this.#assembler.expire(this.#clock.now());
  }

  /**
   * Stops everything: pending requests are dropped without callbacks, and
   * nothing more is sent or dispatched. Does not close the transport.
   */
  close(): void {
    this.#closed = true;
    for (const tid of this.#pending.ids()) this.#finish(tid);
  }

  #receive(bytes: Uint8Array, from: PeerAddress): void {
    if (this.#closed) return;
    this.counters.received += 1;
    this.counters.receivedBytes += bytes.length;
    let decoded: DhtMessage;
    try {
      decoded = decodeMessage(bytes);
    } catch (error) {
      if (!(error instanceof WireError)) this.counters.handlerErrors += 1;
      this.counters.droppedMalformed += 1;
      return;
    }
    if (decoded.network !== this.#network) {
      this.counters.droppedNetwork += 1;
      return;
    }
    this.#traffic?.heard();
    // Only value parts and messages announcing them concern the assembler
    // (it hands every other message back as it is).
    const message = decoded.kind === "value-part" ||
        (decoded as { valueSizes?: unknown }).valueSizes !== undefined
      ? this.#assembler.receive(formatAddress(from), decoded, this.#clock.now())
      : decoded;
    if (message === undefined || message.kind === "value-part") return;
    const sender = message.senderId;
    if (
      sender === undefined || sender.equals(this.#selfId) ||
      sender.equals(InfoHash.ZERO)
    ) {
      this.counters.droppedSender += 1;
      return;
    }
    if (message.kind === "request") {
      // Per origin: one IPv4 address, or one IPv6 /64 (a host gets a
      // whole /64 for free, so per-address buckets would cost it nothing).
      if (!this.#admit(rateOrigin(from.host))) {
        this.counters.droppedRateLimited += 1;
        return;
      }
      try {
        this.#onRequest(message, from);
      } catch {
        this.counters.handlerErrors += 1;
      }
      return;
    }
    const pending = this.#pending.get(message.tid);
    if (
      pending === undefined ||
      (pending.expectedId !== undefined && !pending.expectedId.equals(sender))
    ) {
      this.counters.droppedUnmatched += 1;
      return;
    }
    if (!sameAddress(pending.to, from)) {
      // A spoofed answer (right tid and id, wrong source); the request stays
      // pending for the real one.
      this.counters.droppedWrongAddress += 1;
      return;
    }
    this.#finish(message.tid);
    if (message.kind === "reply" && message.seenAddress !== undefined) {
      const seen = this.#seenHost(message.seenAddress);
      if (seen !== undefined) this.observedAddress.vote(from.host, seen);
      if (seen !== undefined && message.seenPort !== undefined) {
        this.observedMapping.vote(from.host, message.seenPort);
      }
    }
    try {
      if (message.kind === "reply") pending.callbacks.onReply(message, from);
      else pending.callbacks.onError?.(message, from);
    } catch {
      this.counters.handlerErrors += 1;
    }
  }

  /**
   * `decodeSeenAddress`, with the last IPv4 answer kept: nearly every reply
   * names the same address, and handing the vote the very same string
   * spares a new string and its hashing per reply.
   */
  #seenHost(bytes: Uint8Array): string | undefined {
    if (bytes.length !== 4) return decodeSeenAddress(bytes);
    const ip = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) |
      bytes[3]) >>> 0;
    if (ip !== this.#lastSeenIp) {
      this.#lastSeenIp = ip;
      this.#lastSeenHost = decodeSeenAddress(bytes)!;
    }
    return this.#lastSeenHost;
  }

  #admit(origin: string): boolean {
    const now = this.#clock.now();
    const counts = this.#originCounts ??= new OriginCounts();
    if (now - this.#windowStartMs >= RATE_WINDOW_MS) {
      // A window shared by all origins, each origin's count kept in a table
      // that a new window empties without garbage (`OriginCounts`), rather
      // than an object per origin with its own start.
      this.#windowStartMs = now;
      this.#windowCount = 0;
      counts.newWindow();
    }
    if (++this.#windowCount > this.#globalLimit) return false;
    return counts.add(origin) <= this.#perIpLimit;
  }
}
