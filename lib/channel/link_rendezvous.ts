/**
 * `LinkRendezvous`: the candidate exchange that starts a link through NATs.
 * Two devices of contacts swap sealed candidate sets ({@link sealLinkCandidates})
 * through the DHT, then punch a UDP hole towards each other
 * ({@link PunchedPaths.punch}); the `ConnectionManager` then runs the usual
 * channel handshake over the punched path.
 *
 * - **Where.** Each device listens, while it runs, at its link key
 *   `SHA-1("link:" + device id hex)` ({@link linkKeyOf}); a set is put there
 *   as a value of type 5 ("ICE candidates", which lives one minute on every
 *   OpenDHT node), sealed to that one device and signed by the sender's.
 * - **Who offers.** A device behind a NAT offers to each wanted contact
 *   device as soon as it is wanted; any device offers once a TCP dial to it
 *   failed. An offer is a fresh 16-byte token and our candidates (observed
 *   IP with the DHT port, bound address).
 * - **Who answers.** Only a wanted device of a contact that `authorize`
 *   accepts (not banned, not revoked) is answered: a stranger's set is
 *   opened (that is how we learn who sent it) and dropped, with no put and
 *   no probe, so it learns nothing of our addresses and cannot make us send
 *   to a victim. The answer carries the same token; the answering side
 *   starts punching at once, the offering side when the answer arrives.
 *   Each token is answered once. When offers cross (both sides offered),
 *   both punch with both tokens; each is answered only if no punch
 *   succeeded after {@link LinkRendezvousOptions.crossingAnswerMs} (the
 *   other side may have dropped ours: it arrived before that side accepted
 *   us). An answer that arrives for an offer we gave up on, or for one
 *   whose offers crossed, is not taken for an offer.
 * - **Bounds.** Opening a set costs a key agreement and signature checks,
 *   so at most {@link LinkRendezvousOptions.opensPerMinute} sets are opened a
 *   minute in all (anyone can put at our key) and
 *   {@link LinkRendezvousOptions.setsPerSenderPerMinute} are acted on per
 *   sending device; value ids already seen are skipped; at most
 *   {@link LinkRendezvousOptions.maxPeers} devices are tracked; punches are
 *   bounded by the shared socket. Expired or future sets are dropped.
 * - **NATs that cannot punch.** Each set says what its sender knows of its
 *   NAT ({@link LinkNat}: public, endpoint-independent or address-dependent
 *   mapping, from our DHT nodes' `sp`). Where {@link punchOutlook} says a
 *   punch cannot work (both sides symmetric), neither side punches nor
 *   offers again; an offer is still answered, so that its sender learns it
 *   too. Where it may (one side symmetric, the other behind a NAT whose
 *   filtering we cannot know: a full cone works, a port-restricted NAT
 *   does not), {@link LinkRendezvousOptions.doubtfulAttempts} punches fail
 *   in a row before we stop. A newer set that says otherwise starts over.
 *   A hostile contact can only stop links with itself this way; a hostile
 *   DHT majority (see `ObservedMapping`), only our punches. Where a punch
 *   is ruled out and either side's set names a relay (the lower device
 *   id's first), both join it instead (`RelayJoin`, through
 *   {@link PunchedPaths.relay}) with the exchange's token (crossing offers:
 *   the lower id's) and link through it; offers then go on as usual.
 * - **Retries.** An offer unanswered after
 *   {@link LinkRendezvousOptions.answerTimeoutMs}, a failed punch, or a lost
 *   link are retried after {@link LinkRendezvousOptions.retryMs}, doubling up
 *   to 30 minutes, while the device is wanted and not linked; a punch that
 *   succeeds resets the delay. A reachable device (not behind a NAT) offers
 *   after a failed TCP dial only after a minute: a contact behind a NAT
 *   offers itself.
 *
 * @example The key a device listens at
 * ```ts
 * import assert from "node:assert/strict";
 * import { linkKeyOf } from "./link_rendezvous.ts";
 * import { InfoHash } from "../identity/info_hash.ts";
 *
 * const device = "00".repeat(20);
 * assert.ok(linkKeyOf(device).equals(InfoHash.get(`link:${device}`)));
 * ```
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";
import type { DhtClient, ListenHandle } from "../dht/dht_client.ts";
import type { DhtValue } from "../dht/messages.ts";
import type { DeviceCertificate } from "../identity/device_certificate.ts";
import { InfoHash } from "../identity/info_hash.ts";
import type { RandomBytes } from "../rng.ts";
import type { PeerAddress } from "../transport.ts";
import type { HolePunchResult } from "./hole_punch.ts";
import {
  type LinkCandidates,
  openLinkCandidates,
  sealLinkCandidates,
} from "./link_candidates.ts";
import type { PunchedPaths } from "./link_socket.ts";
import { type LinkNat, punchOutlook } from "./punch_outlook.ts";
import type { ChannelIdentity, ChannelPeer } from "./secure_channel_options.ts";

/** The DHT value type of candidate sets: OpenDHT's "ICE candidates" (1 minute). */
export const LINK_CANDIDATES_VALUE_TYPE = 5;
/** Largest sealed set read; a real one is well under 1 KiB. */
const MAX_SET_BYTES = 4_096;
/** Value ids remembered, to skip a value pushed again. */
const MAX_SEEN_VALUES = 512;
/** Longest retry delay. */
const MAX_RETRY_MS = 30 * 60_000;
/**
 * How long a reachable device waits before offering after a failed dial: a
 * contact behind a NAT offers itself, and most failed dials are to devices
 * that just left.
 */
const REACHABLE_OFFER_MS = 60_000;
const MINUTE_MS = 60_000;
/** Our past offer tokens remembered per device. */
const MAX_OWN_TOKENS = 8;
/** While our public address is unknown, whether to offer is asked again after this long. */
const NAT_UNKNOWN_RECHECK_MS = 500;

/**
 * The DHT key a device receives candidate sets at.
 *
 * @param deviceHex The device id, 40 hex.
 * @returns `SHA-1("link:" + deviceHex)`.
 */
export function linkKeyOf(deviceHex: string): InfoHash {
  return InfoHash.get(`link:${deviceHex}`);
}

/** What a {@link LinkRendezvous} runs on. */
export interface LinkRendezvousComponents {
  /** The DHT sets are put on and listened for. */
  readonly dht: DhtClient;
  /** The clock of retries and of set validity (epoch ms). */
  readonly clock: Clock;
  /** Cryptographic randomness: tokens, value ids, sealing. */
  readonly randomBytes: RandomBytes;
  /** This device: it seals and opens sets. */
  readonly identity: ChannelIdentity;
  /** The shared socket: our candidates, punches. */
  readonly paths: PunchedPaths;
  /** The wanted contact device with this id (`ConnectionManager.wantedDevice`). */
  wanted(deviceHex: string): DeviceCertificate | undefined;
  /** Whether a link to the device is up. */
  linked(deviceHex: string): boolean;
  /** Whether this peer may link (contact, not banned, not revoked). */
  authorize(peer: ChannelPeer): boolean;
  /** A punch to a wanted device succeeded at `address`. */
  onPunched(certificate: DeviceCertificate, address: PeerAddress): void;
}

/** Settings of a {@link LinkRendezvous}. */
export interface LinkRendezvousOptions {
  /**
   * Validity of the sets we send: long enough for the DHT round trips and
   * some clock skew, short enough that an offer its sender gave up on
   * (after {@link LinkRendezvousOptions.answerTimeoutMs}) is not answered
   * much later, e.g. by a device that restarted. @default {20_000}
   */
  readonly setLifetimeMs?: number;
  /** An offer with no answer after this long is retried. @default {5_000} */
  readonly answerTimeoutMs?: number;
  /**
   * Crossing offers: their offer is answered after this long if no punch
   * succeeded meanwhile (the other side may have dropped ours, e.g. before
   * it accepted us). @default {1_000}
   */
  readonly crossingAnswerMs?: number;
  /** First retry delay (doubles up to 30 minutes). @default {1_000} */
  readonly retryMs?: number;
  /** Sets opened a minute, over all senders. @default {120} */
  readonly opensPerMinute?: number;
  /** Sets acted on a minute per sending device. @default {6} */
  readonly setsPerSenderPerMinute?: number;
  /**
   * Devices tracked at once; also contacts' sets held until their device
   * is wanted. @default {256}
   */
  readonly maxPeers?: number;
  /**
   * Punches failing in a row after which a pair that may not punch (one
   * side symmetric, the other behind a NAT; `punchOutlook` "maybe") stops
   * offering and punching. @default {2}
   */
  readonly doubtfulAttempts?: number;
}

/** Counters of a {@link LinkRendezvous}. */
export interface LinkRendezvousCounters {
  /** Offers put. */
  offersSent: number;
  /** Answers put. */
  answersSent: number;
  /** Sets dropped: malformed, expired, unopenable, oversized, over a rate. */
  dropped: number;
  /** Sets from a device that is not a wanted contact device: never answered. */
  strangers: number;
  /** Punches that succeeded. */
  punched: number;
  /** Punches that failed or could not start. */
  punchFailures: number;
  /** Offers and punches not made: both NATs rule the punch out (`punchOutlook`), and no relay. */
  skipped: number;
  /** Relay joins that paired us with the contact (also counted in `punched`). */
  relayed: number;
}

type Opened = ReturnType<typeof openLinkCandidates>;

interface Peer {
  readonly certificate: DeviceCertificate;
  /** Issue time of the newest set acted on from it (older ones are stale or replayed). */
  lastIssuedMs: number;
  /** Our recent offers' tokens: a late answer to one of them is not an offer. */
  readonly ownTokens: string[];
  /** Our offer waiting for its answer: its token, hex and bytes. */
  offer?: string;
  offerToken?: Uint8Array;
  /** The last token we answered. */
  answered?: string;
  /** Punches running towards it (a newer token may start while an older one runs). */
  punching: number;
  /** Tokens of those punches. */
  readonly punchTokens: Set<string>;
  timer?: Timer;
  retryMs: number;
  rate: { startMs: number; count: number };
  /** What its newest set said of its NAT. */
  theirNat: LinkNat;
  /** Punches failed in a row while the outlook was "maybe". */
  doubtfulFailures: number;
  /** The relay its newest set named. */
  theirRelay?: PeerAddress;
}

/** The candidate exchange of one account; see the module documentation. */
export class LinkRendezvous {
  /** Running totals, for tests and the simulator. */
  readonly counters: LinkRendezvousCounters = {
    offersSent: 0,
    answersSent: 0,
    dropped: 0,
    strangers: 0,
    punched: 0,
    punchFailures: 0,
    skipped: 0,
    relayed: 0,
  };
  readonly #c: LinkRendezvousComponents;
  readonly #o: Required<LinkRendezvousOptions>;
  readonly #selfHex: string;
  readonly #peers = new Map<string, Peer>();
  readonly #seen = new Set<string>();
  /** Contacts' sets that arrived before their device was wanted. */
  readonly #held = new Map<
    string,
    { set: LinkCandidates; sender: DeviceCertificate }
  >();
  #opens = { startMs: -Infinity, count: 0 };
  #listen: ListenHandle | undefined;

  /**
   * A rendezvous, not listening yet.
   *
   * @param components DHT, clock, randomness, identity, socket and lookups.
   * @param options Lifetimes, retries and bounds.
   */
  constructor(
    components: LinkRendezvousComponents,
    options: LinkRendezvousOptions = {},
  ) {
    this.#c = components;
    this.#o = {
      setLifetimeMs: options.setLifetimeMs ?? 20_000,
      answerTimeoutMs: options.answerTimeoutMs ?? 5_000,
      crossingAnswerMs: options.crossingAnswerMs ?? 1_000,
      retryMs: options.retryMs ?? 1_000,
      opensPerMinute: options.opensPerMinute ?? 120,
      setsPerSenderPerMinute: options.setsPerSenderPerMinute ?? 6,
      maxPeers: options.maxPeers ?? 256,
      doubtfulAttempts: options.doubtfulAttempts ?? 2,
    };
    this.#selfHex = components.identity.device.id.toString();
  }

  /**
   * Keeps a contact's set until its device is wanted (then
   * {@link LinkRendezvous.want} acts on it) or the set expires; one per
   * device, {@link LinkRendezvousOptions.maxPeers} in all, the oldest
   * dropped first. Only sets from devices `authorize` accepts are held, so
   * the bound is per contact device: a device that starts gets an offer
   * from each online contact at once, before it has seen any of them
   * online, and a smaller bound (16 once) dropped most of them; each
   * dropped one cost a 5 s wait for an answer that never came.
   */
  #hold(
    senderHex: string,
    set: LinkCandidates,
    sender: DeviceCertificate,
  ): void {
    this.#held.delete(senderHex);
    this.#held.set(senderHex, { set, sender });
    // The answer, once the device is wanted, goes to its link key: look
    // the storing nodes up now, so that the answer skips that lookup (from
    // a device that just started, where this happens, it took 0.7-1 s).
    // Only for contacts' devices (authorized), one held set each.
    this.#c.dht.prepare?.(linkKeyOf(senderHex));
    if (this.#held.size > this.#o.maxPeers) {
      const oldest = this.#held.keys().next().value;
      if (oldest !== undefined) this.#held.delete(oldest);
      this.counters.dropped += 1;
    }
  }

  /** Acts on a held set of this device, if any and still valid. */
  #release(certificate: DeviceCertificate): boolean {
    const hexId = certificate.deviceId.toString();
    const held = this.#held.get(hexId);
    if (held === undefined) return false;
    this.#held.delete(hexId);
    const nowMs = Math.floor(this.#c.clock.now());
    if (
      nowMs >= held.set.expiresMs ||
      !held.sender.accountId.equals(certificate.accountId)
    ) {
      return false;
    }
    this.#onSet(held.set, held.sender, nowMs);
    return true;
  }

  /** Listens at our link key. */
  start(): void {
    if (this.#listen !== undefined) return;
    this.#listen = this.#c.dht.listen(linkKeyOf(this.#selfHex), (event) => {
      if (event.kind !== "added") return;
      // Of the sets one device left (older offers still stored), only the
      // newest counts: the older ones' senders have moved on.
      const newest = new Map<string, Opened>();
      for (const value of event.values) {
        const opened = this.#open(value);
        if (opened === undefined) continue;
        const senderHex = opened.sender.deviceId.toString();
        const known = newest.get(senderHex);
        if (
          known === undefined ||
          opened.candidates.issuedMs > known.candidates.issuedMs
        ) {
          newest.set(senderHex, opened);
        }
      }
      const nowMs = Math.floor(this.#c.clock.now());
      for (const opened of newest.values()) {
        this.#onSet(opened.candidates, opened.sender, nowMs);
      }
    });
  }

  /** Stops listening and every retry. */
  stop(): void {
    this.#listen?.cancel();
    this.#listen = undefined;
    for (const peer of this.#peers.values()) peer.timer?.cancel();
    this.#peers.clear();
    this.#held.clear();
  }

  /**
   * A contact device is wanted and not linked: offer now if we are behind a
   * NAT.
   *
   * @param certificate Its certificate.
   */
  want(certificate: DeviceCertificate): void {
    if (this.#listen === undefined) return;
    if (this.#release(certificate)) return;
    const behindNat = this.#c.paths.behindNat();
    if (behindNat === false) return;
    const peer = this.#peer(certificate);
    if (peer === undefined) return;
    if (behindNat === true) {
      this.#offerSoon(peer, 0);
      return;
    }
    // Our public address is not known yet (a few DHT replies away): ask
    // again shortly rather than offer no candidate, or race a TCP dial
    // that may work.
    if (peer.timer !== undefined || peer.offer !== undefined) return;
    peer.timer = this.#c.clock.setTimer(NAT_UNKNOWN_RECHECK_MS, () => {
      peer.timer = undefined;
      if (this.#current(peer)) this.want(peer.certificate);
    });
  }

  /**
   * A TCP dial (or handshake) to a wanted device failed: offer now if we
   * are behind a NAT (or do not know yet), else after a minute.
   *
   * @param certificate Its certificate.
   */
  dialFailed(certificate: DeviceCertificate): void {
    if (this.#listen === undefined) return;
    const peer = this.#peer(certificate);
    if (peer === undefined) return;
    if (this.#c.paths.behindNat() !== false) {
      this.#offerSoon(peer, 0);
      return;
    }
    // We are reachable: a contact behind a NAT offers itself, and a dial
    // that fails is most often to a device that just left. Offer only
    // after a minute (doubling), for a contact whose TCP port is closed.
    if (
      peer.timer !== undefined || peer.offer !== undefined || peer.punching > 0
    ) {
      return;
    }
    peer.retryMs = Math.max(peer.retryMs, REACHABLE_OFFER_MS);
    this.#retry(peer);
  }

  /**
   * A link to a wanted device was lost: offer again after the retry delay
   * if it ran over a punched path or we are behind a NAT.
   *
   * @param certificate Its certificate.
   * @param punched Whether the link was over UDP.
   */
  lost(certificate: DeviceCertificate, punched: boolean): void {
    if (this.#listen === undefined) return;
    if (!punched && this.#c.paths.behindNat() !== true) return;
    const peer = this.#peer(certificate);
    if (peer === undefined) return;
    peer.offer = undefined;
    this.#retry(peer);
  }

  /**
   * A device is no longer wanted: its retries stop.
   *
   * @param deviceHex Its id hex.
   */
  forget(deviceHex: string): void {
    this.#peers.get(deviceHex)?.timer?.cancel();
    this.#peers.delete(deviceHex);
  }

  #peer(certificate: DeviceCertificate): Peer | undefined {
    const hex = certificate.deviceId.toString();
    const known = this.#peers.get(hex);
    if (known !== undefined) return known;
    if (this.#peers.size >= this.#o.maxPeers) return undefined;
    const peer: Peer = {
      certificate,
      punching: 0,
      punchTokens: new Set(),
      lastIssuedMs: -Infinity,
      ownTokens: [],
      retryMs: this.#o.retryMs,
      rate: { startMs: -Infinity, count: 0 },
      theirNat: "unknown",
      doubtfulFailures: 0,
    };
    this.#peers.set(hex, peer);
    return peer;
  }

  /** Offers after `delayMs` unless an offer, a punch or a retry is under way. */
  #offerSoon(peer: Peer, delayMs: number): void {
    if (
      peer.offer !== undefined || peer.punching > 0 || peer.timer !== undefined
    ) {
      return;
    }
    peer.timer = this.#c.clock.setTimer(delayMs, () => {
      peer.timer = undefined;
      this.#offer(peer);
    });
  }

  #retry(peer: Peer): void {
    peer.timer?.cancel();
    peer.timer = undefined;
    const delay = peer.retryMs;
    peer.retryMs = Math.min(2 * peer.retryMs, MAX_RETRY_MS);
    this.#offerSoon(peer, delay);
  }

  #current(peer: Peer): boolean {
    const hex = peer.certificate.deviceId.toString();
    return this.#listen !== undefined && this.#peers.get(hex) === peer &&
      this.#c.wanted(hex) !== undefined && !this.#c.linked(hex);
  }

  #offer(peer: Peer): void {
    if (!this.#current(peer) || peer.punching > 0) return;
    if (this.#hopeless(peer) && this.#relayFor(peer) === undefined) {
      // No retry either: a newer set from it, or its next visit, starts over.
      this.counters.skipped += 1;
      return;
    }
    const token = this.#c.randomBytes(16);
    if (!this.#send(peer, token)) {
      // No candidate yet (public address unknown, wildcard bind): later.
      this.#retry(peer);
      return;
    }
    this.counters.offersSent += 1;
    const tokenHex = hex(token);
    peer.offer = tokenHex;
    peer.offerToken = token;
    peer.ownTokens.push(tokenHex);
    if (peer.ownTokens.length > MAX_OWN_TOKENS) peer.ownTokens.shift();
    peer.timer = this.#c.clock.setTimer(this.#o.answerTimeoutMs, () => {
      peer.timer = undefined;
      if (peer.offer !== tokenHex) return;
      peer.offer = undefined;
      if (this.#current(peer)) this.#retry(peer);
    });
  }

  /** Puts our candidates with `token` at the peer's link key. */
  #send(peer: Peer, token: Uint8Array): boolean {
    const candidates = this.#c.paths.candidates();
    if (candidates.length === 0) return false;
    const nowMs = Math.floor(this.#c.clock.now());
    const set: LinkCandidates = {
      issuedMs: nowMs,
      expiresMs: nowMs + this.#o.setLifetimeMs,
      token,
      candidates: candidates.slice(0, 8),
      nat: this.#ourNat(),
      relay: this.#c.paths.configuredRelay?.(),
    };
    const sealed = sealLinkCandidates(set, {
      sender: this.#c.identity,
      recipient: peer.certificate,
      randomBytes: this.#c.randomBytes,
    });
    const idBytes = this.#c.randomBytes(8);
    let id = 0n;
    for (const byte of idBytes) id = (id << 8n) | BigInt(byte);
    this.#c.dht.put(linkKeyOf(peer.certificate.deviceId.toString()), {
      id: id === 0n ? 1n : id,
      type: LINK_CANDIDATES_VALUE_TYPE,
      data: sealed,
    });
    return true;
  }

  #open(value: DhtValue): Opened | undefined {
    if (
      value.type !== LINK_CANDIDATES_VALUE_TYPE ||
      value.data.length > MAX_SET_BYTES
    ) {
      this.counters.dropped += 1;
      return undefined;
    }
    const id = value.id.toString();
    if (this.#seen.has(id)) return undefined;
    this.#seen.add(id);
    if (this.#seen.size > MAX_SEEN_VALUES) {
      const oldest = this.#seen.values().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    const nowMs = Math.floor(this.#c.clock.now());
    if (!this.#spend(this.#opens, nowMs, this.#o.opensPerMinute)) {
      this.counters.dropped += 1;
      return undefined;
    }
    try {
      return openLinkCandidates(value.data, {
        device: this.#c.identity.device,
        nowMs,
      });
    } catch {
      // Hostile, expired, or not for us: dropped, never thrown.
      this.counters.dropped += 1;
      return undefined;
    }
  }

  #onSet(set: LinkCandidates, sender: DeviceCertificate, nowMs: number): void {
    const senderHex = sender.deviceId.toString();
    const authorized = this.#c.authorize({
      accountId: sender.accountId,
      deviceId: sender.deviceId,
      certificate: sender,
    });
    if (!authorized) {
      this.counters.strangers += 1;
      return;
    }
    const wanted = this.#c.wanted(senderHex);
    if (wanted === undefined || !wanted.accountId.equals(sender.accountId)) {
      // A contact's device we have not seen online yet (its offer beat its
      // announcement to us): kept, unanswered, until it is wanted.
      this.#hold(senderHex, set, sender);
      return;
    }
    const peer = this.#peer(wanted);
    if (
      peer === undefined ||
      !this.#spend(peer.rate, nowMs, this.#o.setsPerSenderPerMinute)
    ) {
      this.counters.dropped += 1;
      return;
    }
    if (set.issuedMs <= peer.lastIssuedMs) {
      this.counters.dropped += 1;
      return;
    }
    peer.lastIssuedMs = set.issuedMs;
    const theirNat = set.nat ?? "unknown";
    if (theirNat !== peer.theirNat) {
      peer.theirNat = theirNat;
      peer.doubtfulFailures = 0;
    }
    peer.theirRelay = set.relay;
    const tokenHex = hex(set.token);
    if (peer.offer === tokenHex) {
      // The answer to our offer.
      peer.offer = undefined;
      peer.timer?.cancel();
      peer.timer = undefined;
      this.#connect(peer, set);
      return;
    }
    if (this.#c.linked(senderHex) || peer.answered === tokenHex) return;
    // A late answer to an offer we gave up on: not an offer to answer.
    if (peer.ownTokens.includes(tokenHex)) return;
    if (
      peer.offer !== undefined && peer.offerToken !== undefined &&
      this.#hopeless(peer)
    ) {
      // Crossing offers, and the NATs rule the punch out: both sides know,
      // and join a relay, if any, with the lower device id's token.
      const token = this.#selfHex < senderHex ? peer.offerToken : set.token;
      peer.offer = undefined;
      peer.timer?.cancel();
      peer.timer = undefined;
      this.#connect(peer, { ...set, token });
      return;
    }
    if (peer.offer !== undefined && peer.offerToken !== undefined) {
      // Crossing offers: both punch with both tokens, which needs no answer
      // when the other side acted on our offer. It may not have: an offer
      // that reached it before it accepted our trust request was a
      // stranger's set, dropped, and it then waits for an answer while we
      // punch alone (status 2 through real NATs came 6 s late at every
      // accepted request: docs/interop.md). So theirs is answered if no
      // punch succeeded after `crossingAnswerMs`; the answer to our offer
      // is then skipped like a late one.
      const ours = peer.offerToken;
      peer.offer = undefined;
      peer.timer?.cancel();
      peer.timer = this.#c.clock.setTimer(this.#o.crossingAnswerMs, () => {
        peer.timer = undefined;
        if (!this.#current(peer) || peer.punching === 0) return;
        if (peer.answered === tokenHex || peer.lastIssuedMs !== set.issuedMs) {
          return;
        }
        peer.answered = tokenHex;
        if (this.#send(peer, set.token)) this.counters.answersSent += 1;
      });
      this.#punch(peer, set);
      this.#punch(peer, { ...set, token: ours });
      return;
    }
    peer.offer = undefined;
    peer.timer?.cancel();
    peer.timer = undefined;
    this.#answer(peer, set);
  }

  /**
   * Answers an offer with our candidates and starts punching; while our
   * public address is unknown (a device that just started), the answer
   * waits for it, within the offer's validity: an answer with our private
   * address only would make the offering side punch nowhere.
   */
  #answer(peer: Peer, set: LinkCandidates): void {
    const tokenHex = hex(set.token);
    if (
      this.#c.paths.behindNat() === undefined &&
      this.#c.clock.now() < set.expiresMs - NAT_UNKNOWN_RECHECK_MS
    ) {
      peer.timer = this.#c.clock.setTimer(NAT_UNKNOWN_RECHECK_MS, () => {
        peer.timer = undefined;
        const hexId = peer.certificate.deviceId.toString();
        if (!this.#current(peer) || peer.offer !== undefined) return;
        if (peer.answered === tokenHex || this.#c.linked(hexId)) return;
        this.#answer(peer, set);
      });
      return;
    }
    peer.answered = tokenHex;
    if (!this.#send(peer, set.token)) return;
    this.counters.answersSent += 1;
    // Answered even where the NATs rule a punch out and there is no
    // relay: the offering side learns our NAT and stops too.
    this.#connect(peer, set);
  }

  /**
   * Punches with this set's token, or, where the NATs rule a punch out,
   * joins the relay (the lower device id's, else the other's) with it;
   * with no relay, nothing.
   */
  #connect(peer: Peer, set: LinkCandidates): void {
    if (!this.#hopeless(peer)) {
      this.#punch(peer, set);
      return;
    }
    const relay = this.#relayFor(peer);
    const join = this.#c.paths.relay;
    if (relay === undefined || join === undefined) {
      this.counters.skipped += 1;
      return;
    }
    this.#attempt(
      peer,
      set.token,
      true,
      (onResult) => join({ token: set.token, relay }, onResult),
    );
  }

  /** The relay both sides pick: the lower device id's, else the other's. */
  #relayFor(peer: Peer): PeerAddress | undefined {
    if (this.#c.paths.relay === undefined) return undefined;
    const ours = this.#c.paths.configuredRelay?.();
    const theirs = peer.theirRelay;
    return this.#selfHex < peer.certificate.deviceId.toString()
      ? ours ?? theirs
      : theirs ?? ours;
  }

  /**
   * Punches with this set's token; one already running with another token
   * goes on (the peer may punch with either), at most two at once.
   */
  #punch(peer: Peer, set: LinkCandidates): void {
    this.#attempt(peer, set.token, false, (onResult) =>
      this.#c.paths.punch(
        { token: set.token, candidates: set.candidates },
        onResult,
      ));
  }

  /** Starts a punch or relay join with this token, at most two at once. */
  #attempt(
    peer: Peer,
    token: Uint8Array,
    relayed: boolean,
    start: (onResult: (result: HolePunchResult) => void) => boolean,
  ): void {
    const tokenHex = hex(token);
    if (peer.punchTokens.has(tokenHex) || peer.punching >= 2) return;
    peer.punching += 1;
    peer.punchTokens.add(tokenHex);
    const started = start((result) =>
      this.#punched(peer, tokenHex, result, relayed)
    );
    if (!started) {
      peer.punching -= 1;
      peer.punchTokens.delete(tokenHex);
      this.counters.punchFailures += 1;
      if (peer.punching === 0) this.#retry(peer);
    }
  }

  #punched(
    peer: Peer,
    tokenHex: string,
    result: HolePunchResult,
    relayed: boolean,
  ): void {
    peer.punching -= 1;
    peer.punchTokens.delete(tokenHex);
    if (this.#peers.get(peer.certificate.deviceId.toString()) !== peer) return;
    if (result.kind === "punched") {
      this.counters.punched += 1;
      // Through a relay: the NATs still rule a punch out next time.
      if (relayed) this.counters.relayed += 1;
      else peer.doubtfulFailures = 0;
      peer.retryMs = this.#o.retryMs;
      // No new offer while the link comes up over this path; if it has not
      // after the answer timeout, start over.
      peer.timer?.cancel();
      peer.timer = this.#c.clock.setTimer(this.#o.answerTimeoutMs, () => {
        peer.timer = undefined;
        if (this.#current(peer)) this.#retry(peer);
      });
      this.#c.onPunched(peer.certificate, result.address);
      return;
    }
    this.counters.punchFailures += 1;
    // An attempt (one or two tokens) failed where the NATs may forbid it.
    if (
      !relayed && peer.punching === 0 &&
      punchOutlook(this.#ourNat(), peer.theirNat) === "maybe"
    ) {
      peer.doubtfulFailures += 1;
    }
    // Otherwise not a sign that the NATs forbid it: a punch that began long
    // before the other side's (a slow DHT trip of the answer) fails too,
    // and a one-minute floor here cost status 2 a p95 of 35 s in a mixed
    // network, so the delay only doubles, up to 30 minutes.
    if (peer.punching === 0 && this.#current(peer)) this.#retry(peer);
  }

  /** What we know of our NAT, for our sets and the outlook. */
  #ourNat(): LinkNat {
    return this.#c.paths.nat?.() ??
      (this.#c.paths.behindNat() === false ? "public" : "unknown");
  }

  /**
   * Whether punching to this device is ruled out: both NATs forbid it, or
   * it may work ("maybe": one side symmetric, the other behind a NAT) and
   * either failed {@link LinkRendezvousOptions.doubtfulAttempts} times in a
   * row or a relay is at hand. A "maybe" punch works only against a full
   * cone, which a device cannot tell from the common port-restricted NAT,
   * and two failed attempts cost about 14 s before the relay (status 2
   * p95 15 s in a mixed network): with a relay, it goes first.
   */
  #hopeless(peer: Peer): boolean {
    const outlook = punchOutlook(this.#ourNat(), peer.theirNat);
    return outlook === "never" ||
      (outlook === "maybe" &&
        (peer.doubtfulFailures >= this.#o.doubtfulAttempts ||
          this.#relayFor(peer) !== undefined));
  }

  /** Counts one event in a one-minute window; false if over `limit`. */
  #spend(
    window: { startMs: number; count: number },
    nowMs: number,
    limit: number,
  ): boolean {
    if (nowMs - window.startMs >= MINUTE_MS) {
      window.startMs = nowMs;
      window.count = 0;
    }
    if (window.count >= limit) return false;
    window.count += 1;
    return true;
  }
}

function hex(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += byte.toString(16).padStart(2, "0");
  return text;
}
