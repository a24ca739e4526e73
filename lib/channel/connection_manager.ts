/**
 * Direct links to the devices of contacts: one {@link SecureChannel} per
 * device pair, SIP ({@link SipSession}) over it, presence notes as PIDF.
 * This is what status 2 ("connected") means.
 *
 * Who dials: when both devices learn of each other, the one with the lower
 * device id dials at once; the other waits {@link ConnectionManagerOptions.dialFallbackMs}
 * and dials only if no link is up by then (the lower one may be unreachable
 * behind NAT, or learn of us later). If both
 * links open, both sides keep the one dialled by the lower device id and
 * close the other, so they agree without talking. A failed dial is retried
 * while the device is wanted ({@link ConnectionManager.connect}): the first
 * time after {@link ConnectionManagerOptions.firstRedialMs} (a device that
 * just started refuses strangers beyond its handshake slots until it has
 * learned its contacts' addresses, which takes it about a second), then with
 * backoff from {@link ConnectionManagerOptions.redialMs}; a link, once open, lives until either
 * side closes it, its keepalive finds it dead, or the contact is dropped
 * ({@link ConnectionManager.disconnect}) — DHT records may lapse meanwhile.
 * At start, a device can also dial its contacts once where they announced
 * last, before the DHT shows them ({@link ConnectionManager.resume}).
 *
 * On each new link the manager sends our current PIDF document (open or
 * closed, with the note), and again to every link on
 * {@link ConnectionManager.publish}. A link counts as connected once the
 * peer's first document arrived: it shows that the peer's side of the link
 * is open and its SIP session up, not only that the handshake finished.
 * Incoming PIDF is parsed with hard limits; a malformed one, or one naming
 * another account, is dropped and counted.
 *
 * Incoming streams are hostile until their handshake is done. Each one takes
 * a handshake slot: at most {@link ConnectionManagerOptions.maxHandshakesPerOrigin}
 * at once per origin (IPv4 address, IPv6 /64), and
 * {@link ConnectionManagerOptions.maxHandshakesPerOriginPerMinute} a minute
 * (known contact addresses, below, are exempt from the latter);
 * at most {@link ConnectionManagerOptions.maxStrangerHandshakes} at once in
 * all, plus {@link ConnectionManagerOptions.reservedHandshakes} kept for
 * hosts known as contact addresses (announced by a wanted device, or where an
 * authorized link came from). A stream that finds no slot is closed before a
 * byte is read; a handshake not done in time closes "timeout" and frees its
 * slot. Silent connections therefore cannot keep a contact out.
 *
 * @example Two devices linked over an in-memory stream network
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionManager, endpointOf } from "./connection_manager.ts";
 * import { memoryStreamNetwork } from "../testing/memory_stream_network.ts";
 * import { AccountKeys } from "../identity/account_keys.ts";
 * import { DeviceKeys } from "../identity/device_keys.ts";
 * import { DeviceCertificate } from "../identity/device_certificate.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const clock = new ManualClock(0);
 * const randomBytes = rngBytes(seededRng(1));
 * const network = memoryStreamNetwork();
 * const make = (name: string) => {
 *   const account = AccountKeys.generate(randomBytes);
 *   const device = DeviceKeys.generate(randomBytes);
 *   const certificate = DeviceCertificate.issue(account, device, { issuedMs: 0 });
 *   const changes: string[] = [];
 *   const manager = new ConnectionManager({
 *     identity: { device, certificate },
 *     clock,
 *     randomBytes,
 *     streams: network.host(name),
 *     authorize: () => true,
 *     onChange: (accountHex) => changes.push(accountHex),
 *   });
 *   return { account, certificate, manager, changes };
 * };
 * const alice = make("alice");
 * const bob = make("bob");
 * const bobAddress = await bob.manager.start(0);
 * await alice.manager.start(0);
 * bob.manager.publish(true, "in a meeting");
 * alice.manager.connect(bob.certificate, [endpointOf(bobAddress)]);
 * for (let i = 0; i < 20; i++) {
 *   clock.advance(100);
 *   for (let j = 0; j < 20; j++) await Promise.resolve();
 * }
 * const seen = alice.manager.status(bob.account.id.toString());
 * assert.equal(seen.connected, true);
 * assert.equal(seen.note, "in a meeting");
 * alice.manager.stop();
 * bob.manager.stop();
 * ```
 *
 * @module
 */
import type { Timer } from "../clock.ts";
import type { DeviceCertificate } from "../identity/device_certificate.ts";
import { formatAddress, parseAddress, type PeerAddress } from "../transport.ts";
import { unmappedHost } from "../dht/origin_shares.ts";
import { HandshakeSlots } from "./_handshake_slots.ts";
import type { ByteStream, StreamListener } from "./byte_stream.ts";
import { type ChannelPeer, SecureChannel } from "./secure_channel.ts";
import { type SipLink, SipSession } from "./sip_session.ts";
import {
  buildPidf,
  MalformedPidfError,
  parsePidf,
  PIDF_CONTENT_TYPE,
} from "./pidf.ts";
import {
  type ConnectionCounters,
  type ConnectionManagerOptions,
  emptyConnectionCounters,
  type LinkStatus,
} from "./connection_manager_options.ts";

export type {
  ConnectionCounters,
  ConnectionManagerOptions,
  LinkPathEvents,
  LinkStatus,
} from "./connection_manager_options.ts";
export { emptyConnectionCounters } from "./connection_manager_options.ts";

interface Wanted {
  readonly certificate: DeviceCertificate;
  endpoints: readonly PeerAddress[];
  dialTimer?: Timer;
  /** A dial over a punched path is under way. */
  punchDialing?: boolean;
  redialMs: number;
  /** The quick first redial was used. */
  redialed: boolean;
  dialing: boolean;
}

interface Link {
  readonly channel: SecureChannel;
  readonly peer: ChannelPeer;
  readonly accountHex: string;
  readonly deviceHex: string;
  /** Dialled by the lower of the two device ids. */
  readonly preferred: boolean;
  /** Over a punched UDP path (else TCP). */
  readonly punched: boolean;
  session?: SipSession;
  /** Up: the peer's first PIDF arrived (so it accepted us). */
  open: boolean;
  note?: string;
  visible: boolean;
  /** Closed by us for a link to the same device the lower id dialled. */
  replaced?: boolean;
  /** The SIP session's close handler, called when the channel closes. */
  onChannelClose?: () => void;
}

const MAX_REDIAL_MS = 5 * 60_000;
/**
 * A link closed for the one the lower id dialled (both sides dialled)
 * still counts until that one is up (its first PIDF), at most this long:
 * else watchers saw status 2, then 1, then 2. Past it the close is told.
 */
const REPLACED_GRACE_MS = 2_000;
/** Hosts links came from, remembered as known contact addresses. */
const MAX_KNOWN_HOSTS = 1_024;
/** Most {@link ConnectionManager.resume} attempts under way at once. */
const MAX_RESUMING = 256;

/** Links to contacts' devices, presence notes over SIP. */
export class ConnectionManager {
  /** Running totals since construction, for tests and the simulator; callers only read them. */
  readonly counters: ConnectionCounters = emptyConnectionCounters();
  readonly #o: ConnectionManagerOptions;
  readonly #selfHex: string;
  /** Links of accepted channels waiting for their confirm: they get publishes too. */
  readonly #accepted = new Set<Link>();
  readonly #wanted = new Map<string, Wanted>();
  /** Devices dialled by {@link ConnectionManager.resume} whose attempt is not over. */
  readonly #resuming = new Set<string>();
  /** Up links by device hex (at most one per device once settled). */
  readonly #links = new Map<string, Link>();
  /** Device id hex → a replaced link still counted ({@link REPLACED_GRACE_MS}). */
  readonly #replaced = new Map<
    string,
    { accountHex: string; note?: string; visible: boolean; timer: Timer }
  >();
  /** Every channel not yet closed, handshaking ones included. */
  readonly #channels = new Set<SecureChannel>();
  /** Accepted channels still handshaking, bounded per origin and in all. */
  readonly #handshakes: HandshakeSlots;
  /** Hosts links came from (oldest first), as known contact addresses. */
  readonly #knownHosts = new Set<string>();
  #listener: StreamListener | undefined;
  #punchedListener: StreamListener | undefined;
  #running = false;
  #open = true;
  #note = "";

  /**
   * A manager that links nothing until {@link ConnectionManager.start}.
   *
   * @param options Identity, clock, streams, authorization and callbacks.
   */
  constructor(options: ConnectionManagerOptions) {
    this.#o = options;
    this.#selfHex = options.identity.device.id.toString();
    this.#handshakes = new HandshakeSlots(options.clock, {
      perOrigin: options.maxHandshakesPerOrigin ?? 4,
      perOriginPerMinute: options.maxHandshakesPerOriginPerMinute ?? 30,
      reserved: options.reservedHandshakes ?? 32,
      strangers: options.maxStrangerHandshakes ?? 64,
    });
  }

  /**
   * Starts accepting links.
   *
   * @param port Port to listen on (0: any; if taken, any other).
   * @returns The address peers can dial (announce it).
   * @throws {Error} (rejects) If no port at all can be bound.
   */
  async start(port: number): Promise<PeerAddress> {
    this.#running = true;
    const accept = (stream: ByteStream) => this.#accept(stream, false);
    try {
      this.#listener = await this.#o.streams.listen(port, accept);
    } catch (error) {
      // The port is taken: any free one will do (it is announced).
      if (port === 0) throw error;
      this.#listener = await this.#o.streams.listen(0, accept);
    }
    if (this.#o.punched !== undefined) {
      this.#punchedListener = await this.#o.punched.listen(
        0,
        (stream) => this.#accept(stream, true),
      );
    }
    if (!this.#running) {
      await this.#listener.close();
      await this.#punchedListener?.close();
    }
    return this.#listener.localAddress;
  }

  /**
   * Wants a link to this device (it is online and announced these
   * endpoints). Idempotent; refreshes the endpoints.
   *
   * @param certificate The device's certificate (as verified by the tracker).
   * @param endpoints Its announced `host:port` endpoints (bad ones skipped).
   */
  connect(certificate: DeviceCertificate, endpoints: readonly string[]): void {
    if (!this.#running) return;
    const deviceHex = certificate.deviceId.toString();
    if (deviceHex === this.#selfHex) return;
    const addresses = parseEndpoints(endpoints);
    if (addresses.length === 0) return;
    const known = this.#wanted.get(deviceHex);
    if (known !== undefined) {
      known.endpoints = addresses;
      if (!this.#links.has(deviceHex)) this.#o.paths?.want(certificate);
      return;
    }
    const wanted: Wanted = {
      certificate,
      endpoints: addresses,
      redialMs: this.#o.redialMs ?? 5_000,
      redialed: false,
      dialing: false,
    };
    this.#wanted.set(deviceHex, wanted);
    if (this.#links.has(deviceHex)) return;
    this.#o.paths?.want(certificate);
    const first = this.#selfHex < deviceHex ? 0 : this.#o.dialFallbackMs ?? 250;
    this.#scheduleDial(deviceHex, wanted, first);
  }

  /**
   * Dials a device once at an endpoint it announced in an earlier run
   * (remembered by the account), before the DHT shows it online: a contact
   * that kept its address is linked one TCP connect and one handshake after
   * this device starts, instead of after presence detection as well. The
   * device is not wanted by this: a failed connect or a refused handshake
   * is not retried, and the usual dial follows once the DHT shows it
   * ({@link ConnectionManager.connect}), without waiting for this attempt
   * (a dead address can take long to fail; if both links come up, one is
   * kept as when both sides dial). At most 256 attempts at once; the handshake
   * expects this certificate, so a stranger now at that address learns
   * nothing and cannot pose as the device.
   *
   * @param certificate The device's certificate (still valid, not revoked).
   * @param endpoints Its remembered endpoints; the first one is dialled.
   */
  resume(certificate: DeviceCertificate, endpoints: readonly string[]): void {
    const deviceHex = certificate.deviceId.toString();
    if (
      !this.#running || deviceHex === this.#selfHex ||
      this.#links.has(deviceHex) || this.#wanted.has(deviceHex) ||
      this.#resuming.has(deviceHex) || this.#resuming.size >= MAX_RESUMING
    ) return;
    const address = parseEndpoints(endpoints)[0];
    if (address === undefined) return;
    this.#resuming.add(deviceHex);
    this.counters.resumeDials += 1;
    const settled = () => this.#resuming.delete(deviceHex);
    this.#o.streams.connect(address).then(
      (stream) => {
        if (!this.#running || this.#links.has(deviceHex)) {
          stream.close();
          settled();
          return;
        }
        const channel = SecureChannel.initiate(stream, {
          ...this.#channelOptions(),
          expectedPeer: certificate,
        });
        this.#setUp(channel, { dialled: deviceHex, resumed: true }, settled);
      },
      () => {
        this.counters.dialFailures += 1;
        settled();
      },
    );
  }

  /**
   * Dials a wanted device over a punched path (the lower device id does,
   * once its punch succeeded); the handshake expects its certificate.
   * Nothing happens if it is not wanted, already linked or being dialled.
   *
   * @param deviceHex The device's id hex.
   * @param address Its punched address (where its acks came from).
   */
  connectPunched(deviceHex: string, address: PeerAddress): void {
    const wanted = this.#wanted.get(deviceHex);
    const punched = this.#o.punched;
    if (!this.#running || wanted === undefined || punched === undefined) return;
    if (this.#links.has(deviceHex) || wanted.punchDialing) return;
    wanted.punchDialing = true;
    punched.connect(address).then(
      (stream) => {
        if (!this.#running || this.#links.has(deviceHex)) {
          wanted.punchDialing = false;
          stream.close();
          return;
        }
        const channel = SecureChannel.initiate(stream, {
          ...this.#channelOptions(),
          expectedPeer: wanted.certificate,
        });
        // One punched dial at a time, until its handshake ends: a second
        // punch to the same device (another token) must not race it.
        this.#setUp(channel, { dialled: deviceHex, punched: true }, () => {
          wanted.punchDialing = false;
        });
      },
      () => {
        wanted.punchDialing = false;
        this.counters.dialFailures += 1;
        if (this.#wanted.get(deviceHex) === wanted && this.#running) {
          this.#o.paths?.dialFailed(wanted.certificate);
        }
      },
    );
  }

  /**
   * Whether a device is wanted now, and its certificate.
   *
   * @param deviceHex Device id hex.
   * @returns The certificate it was wanted with, or `undefined`.
   */
  wantedDevice(deviceHex: string): DeviceCertificate | undefined {
    return this.#wanted.get(deviceHex)?.certificate;
  }

  /**
   * Whether a link to this device is up (handshake done).
   *
   * @param deviceHex Device id hex.
   * @returns True while linked.
   */
  isLinked(deviceHex: string): boolean {
    return this.#links.has(deviceHex);
  }

  /**
   * Dials every wanted device that has no link now, with the backoff reset
   * (back from an outage of our own, whose failed dials grew it).
   */
  redialAll(): void {
    if (!this.#running) return;
    for (const [deviceHex, wanted] of this.#wanted) {
      wanted.redialMs = this.#o.redialMs ?? 5_000;
      if (this.#links.has(deviceHex) || wanted.dialing) continue;
      this.#scheduleDial(deviceHex, wanted, 0);
    }
  }

  /**
   * Stops wanting a link to this device (it left the DHT); an open link
   * stays up until it fails or closes.
   *
   * @param deviceHex Device id hex.
   */
  forget(deviceHex: string): void {
    const wanted = this.#wanted.get(deviceHex);
    wanted?.dialTimer?.cancel();
    this.#wanted.delete(deviceHex);
    if (wanted !== undefined) this.#o.paths?.forget(deviceHex);
  }

  /**
   * Closes every link to an account and forgets its devices (banned,
   * removed or unsubscribed).
   *
   * @param accountHex Account id hex.
   */
  disconnect(accountHex: string): void {
    for (const [deviceHex, entry] of [...this.#replaced]) {
      if (entry.accountHex !== accountHex) continue;
      entry.timer.cancel();
      this.#replaced.delete(deviceHex);
      this.#o.onChange(accountHex, "local");
    }
    for (const [deviceHex, wanted] of [...this.#wanted]) {
      if (wanted.certificate.accountId.toString() === accountHex) {
        this.forget(deviceHex);
      }
    }
    for (const channel of [...this.#channels]) {
      if (channel.peer?.accountId.toString() === accountHex) channel.close();
    }
  }

  /**
   * Asks `authorize` again about every link to an account and closes those
   * it refuses now (a device revoked since, a contact banned).
   *
   * @param accountHex Account id hex.
   */
  revalidate(accountHex: string): void {
    for (const channel of [...this.#channels]) {
      const peer = channel.peer;
      if (peer === undefined || peer.accountId.toString() !== accountHex) {
        continue;
      }
      if (!this.#o.authorize(peer)) {
        this.counters.refused += 1;
        channel.close();
      }
    }
  }

  /**
   * Sets our presence as sent over links: now to every link, and to each new
   * one.
   *
   * @param open Visible (`<basic>open</basic>`) or not.
   * @param note The note (at most 256 characters).
   */
  publish(open: boolean, note: string): void {
    this.#open = open;
    this.#note = note;
    for (const link of this.#links.values()) this.#sendPidf(link);
    for (const link of this.#accepted) this.#sendPidf(link);
  }

  /**
   * An account's link status.
   *
   * @param accountHex Account id hex.
   * @returns Connected (a visible device linked) and its newest note.
   */
  status(accountHex: string): LinkStatus {
    let connected = false;
    let note: string | undefined;
    const links: { accountHex: string; note?: string; visible: boolean }[] = [
      ...this.#replaced.values(),
    ];
    for (const link of this.#links.values()) if (link.open) links.push(link);
    for (const link of links) {
      if (link.accountHex !== accountHex || !link.visible) continue;
      connected = true;
      if (link.note !== undefined) note = link.note;
    }
    return { connected, note };
  }

  /**
   * The devices of an account linked now.
   *
   * @param accountHex Account id hex.
   * @returns Device id hexes.
   */
  linkedDevices(accountHex: string): string[] {
    return [...this.#links.values()]
      .filter((link) => link.accountHex === accountHex && link.open)
      .map((link) => link.deviceHex);
  }

  /** Number of open links. */
  get linkCount(): number {
    return this.#links.size;
  }

  /** Closes every link (the peers see it at once) and stops listening. */
  stop(): void {
    this.#halt(true);
  }

  /** Drops everything without a word (the simulator's crash). */
  crash(): void {
    this.#halt(false);
  }

  #halt(clean: boolean): void {
    if (!this.#running) return;
    this.#running = false;
    for (const wanted of this.#wanted.values()) wanted.dialTimer?.cancel();
    this.#wanted.clear();
    for (const { timer } of this.#replaced.values()) timer.cancel();
    this.#replaced.clear();
    void this.#listener?.close();
    void this.#punchedListener?.close();
    const sessions = [...this.#links.values(), ...this.#accepted].map((link) =>
      link.session
    );
    for (const channel of [...this.#channels]) {
      if (clean) channel.close();
      else channel.abandon();
    }
    // Closing a session also clears sip.js's own transaction timers.
    for (const session of sessions) void session?.close();
    this.#channels.clear();
    this.#resuming.clear();
    this.#links.clear();
    this.#accepted.clear();
    this.#handshakes.clear();
  }

  #scheduleDial(deviceHex: string, wanted: Wanted, delayMs: number): void {
    wanted.dialTimer?.cancel();
    wanted.dialTimer = this.#o.clock.setTimer(delayMs, () => {
      wanted.dialTimer = undefined;
      if (this.#wanted.get(deviceHex) !== wanted) return;
      if (this.#links.has(deviceHex) || wanted.dialing) return;
      this.#dial(deviceHex, wanted, 0);
    });
  }

  #dial(deviceHex: string, wanted: Wanted, attempt: number): void {
    const address = wanted.endpoints[attempt % wanted.endpoints.length];
    wanted.dialing = true;
    this.#o.streams.connect(address).then(
      (stream) => {
        wanted.dialing = false;
        if (!this.#running || this.#links.has(deviceHex)) {
          stream.close();
          return;
        }
        const channel = SecureChannel.initiate(stream, {
          ...this.#channelOptions(),
          expectedPeer: wanted.certificate,
        });
        this.#setUp(channel, { dialled: deviceHex });
      },
      () => {
        wanted.dialing = false;
        this.counters.dialFailures += 1;
        if (this.#wanted.get(deviceHex) !== wanted || !this.#running) return;
        if (attempt + 1 < wanted.endpoints.length) {
          this.#dial(deviceHex, wanted, attempt + 1);
          return;
        }
        this.#o.paths?.dialFailed(wanted.certificate);
        this.#scheduleRedial(deviceHex, wanted);
      },
    );
  }

  /**
   * Admits an incoming stream only if a handshake slot is free: at most
   * `maxHandshakesPerOrigin` from its origin, and one of the strangers'
   * slots unless its host is a known contact address (then one of the
   * reserved slots, or a stranger's one if those are full). The stream is
   * closed before a byte is read otherwise, so silent connections cost one
   * socket each until they are refused or time out.
   */
  #accept(stream: ByteStream, punched: boolean): void {
    const host = unmappedHost(stream.remote.host);
    if (
      !this.#running || this.#links.size >= (this.#o.maxLinks ?? 512) ||
      !this.#handshakes.claim(stream, host, this.#isKnownHost(host))
    ) {
      this.counters.refused += 1;
      stream.close();
      return;
    }
    const channel = SecureChannel.accept(stream, this.#channelOptions());
    this.#handshakes.move(stream, channel);
    this.#setUp(channel, { acceptedFrom: host, punched });
  }

  /** A host a wanted device announced, or one an authorized link came from. */
  #isKnownHost(host: string): boolean {
    if (this.#knownHosts.has(host)) return true;
    for (const wanted of this.#wanted.values()) {
      if (
        wanted.endpoints.some((endpoint) =>
          unmappedHost(endpoint.host) === host
        )
      ) {
        return true;
      }
    }
    return false;
  }

  #rememberHost(host: string): void {
    this.#knownHosts.delete(host);
    this.#knownHosts.add(host);
    if (this.#knownHosts.size > MAX_KNOWN_HOSTS) {
      const oldest = this.#knownHosts.values().next().value;
      if (oldest !== undefined) this.#knownHosts.delete(oldest);
    }
  }

  #channelOptions() {
    return {
      identity: this.#o.identity,
      clock: this.#o.clock,
      randomBytes: this.#o.randomBytes,
      authorize: (peer: ChannelPeer) =>
        this.#running && this.#o.authorize(peer),
      screen: (claimed: ChannelPeer) =>
        this.#running && this.#o.authorize(claimed),
      keepaliveMs: this.#o.keepaliveMs,
      deadAfterMs: this.#o.deadAfterMs,
      handshakeTimeoutMs: this.#o.handshakeTimeoutMs,
    };
  }

  /**
   * Tracks a channel: `acceptedFrom` is the host of an accepted one,
   * `dialled` the device hex of a dialled one.
   */
  #setUp(
    channel: SecureChannel,
    from: {
      readonly acceptedFrom?: string;
      readonly dialled?: string;
      readonly punched?: boolean;
      /** Dialled by `resume`: a failed handshake is not redialled. */
      readonly resumed?: boolean;
    },
    onSettled?: () => void,
  ): void {
    const { acceptedFrom, dialled } = from;
    const punched = from.punched ?? false;
    this.#channels.add(channel);
    let link: Link | undefined;
    // A responder makes its link (and SIP session) once it has accepted,
    // so that its first PIDF follows its answer at once; the link counts
    // only when the confirm opens the channel.
    let accepted: Link | undefined;
    channel.onAccepted((peer) => {
      accepted = this.#newLink(channel, peer, punched);
      this.#accepted.add(accepted);
    });
    channel.onOpen((peer) => {
      if (accepted !== undefined) this.#accepted.delete(accepted);
      onSettled?.();
      this.#handshakes.release(channel);
      if (acceptedFrom !== undefined) this.#rememberHost(acceptedFrom);
      link = this.#opened(channel, peer, punched, accepted);
    });
    channel.onClose((reason) => {
      if (accepted !== undefined) this.#accepted.delete(accepted);
      onSettled?.();
      this.#forgetChannel(channel, reason);
      if (link !== undefined) this.#closed(link);
      else if (
        dialled !== undefined && channel.peer === undefined && !from.resumed
      ) {
        this.#handshakeFailed(dialled, punched);
      }
      // The session's own close handler: it closes the session (and clears
      // sip.js's timers) whether or not the link ever counted.
      (link ?? accepted)?.onChannelClose?.();
    });
  }

  #forgetChannel(channel: SecureChannel, reason: string): void {
    this.#handshakes.release(channel);
    this.#channels.delete(channel);
    if (reason === "refused") this.counters.refused += 1;
  }

  /**
   * A dialled handshake that never opened (refused, timed out): redial
   * with backoff, as after a failed dial.
   */
  #handshakeFailed(deviceHex: string, punched: boolean): void {
    const wanted = this.#wanted.get(deviceHex);
    if (wanted === undefined || !this.#running) return;
    if (this.#links.has(deviceHex)) return;
    this.#o.paths?.dialFailed(wanted.certificate);
    // A punched path is retried by a new candidate exchange, not a TCP redial.
    if (!punched) this.#scheduleRedial(deviceHex, wanted);
  }

  /**
   * Redials after a failure: the first time after `firstRedialMs`, then
   * after `redialMs`, doubling up to {@link MAX_REDIAL_MS}.
   */
  #scheduleRedial(deviceHex: string, wanted: Wanted): void {
    if (!wanted.redialed) {
      wanted.redialed = true;
      this.#scheduleDial(deviceHex, wanted, this.#o.firstRedialMs ?? 500);
      return;
    }
    this.#scheduleDial(deviceHex, wanted, wanted.redialMs);
    wanted.redialMs = Math.min(2 * wanted.redialMs, MAX_REDIAL_MS);
  }

  /**
   * A channel opened: its link joins the links, unless one to the same
   * device stays (both sides keep the one the lower id dialled).
   * `accepted` is the link a responder made when it accepted.
   */
  #opened(
    channel: SecureChannel,
    peer: ChannelPeer,
    punched: boolean,
    accepted: Link | undefined,
  ): Link | undefined {
    const deviceHex = peer.deviceId.toString();
    const existing = this.#links.get(deviceHex);
    if (existing !== undefined) {
      if (existing.preferred || !this.#lowerDialled(channel, deviceHex)) {
        channel.close();
        return undefined;
      }
      existing.replaced = true;
      existing.channel.close();
    }
    const link = accepted ?? this.#newLink(channel, peer, punched);
    this.#links.set(deviceHex, link);
    this.#wanted.get(deviceHex)?.dialTimer?.cancel();
    return link;
  }

  #lowerDialled(channel: SecureChannel, deviceHex: string): boolean {
    return channel.initiator === (this.#selfHex < deviceHex);
  }

  /**
   * A link over a channel that can send, with its SIP session; its first
   * PIDF goes out once the session has started (for a responder that has
   * accepted, before the channel opens).
   */
  #newLink(
    channel: SecureChannel,
    peer: ChannelPeer,
    punched: boolean,
  ): Link {
    const deviceHex = peer.deviceId.toString();
    const link: Link = {
      channel,
      peer,
      accountHex: peer.accountId.toString(),
      deviceHex,
      preferred: this.#lowerDialled(channel, deviceHex),
      punched,
      open: false,
      visible: true,
    };
    const sipLink: SipLink = {
      send: (bytes) => {
        if (channel.canSend) channel.send(bytes);
      },
      onMessage: (handler) => channel.onMessage(handler),
      onClose: (handler) => {
        link.onChannelClose = handler;
      },
      close: () => channel.close(),
    };
    SipSession.open({
      link: sipLink,
      localUri: `jami:${this.#o.identity.certificate.accountId}`,
      remoteUri: `jami:${link.accountHex}`,
      onMessage: (contentType, body) =>
        this.#onSipMessage(link, contentType, body),
    }).then((session) => {
      const dropped = channel.state === "open" &&
        this.#links.get(deviceHex) !== link;
      if (!channel.canSend || dropped) {
        void session.close();
        return;
      }
      link.session = session;
      this.#sendPidf(link);
    }, () => channel.close());
    return link;
  }

  #closed(link: Link): void {
    if (this.#links.get(link.deviceHex) !== link) return;
    this.#links.delete(link.deviceHex);
    this.counters.linksClosed += 1;
    const wasOpen = link.open;
    link.open = false;
    const wanted = this.#wanted.get(link.deviceHex);
    if (wanted !== undefined && this.#running) {
      // A link that never came up (refused) backs off like a failed dial;
      // one that worked starts over, whatever failed dials before it had
      // grown the delay to.
      if (wasOpen) wanted.redialMs = this.#o.redialMs ?? 5_000;
      this.#scheduleDial(link.deviceHex, wanted, wanted.redialMs);
      if (!wasOpen) {
        wanted.redialMs = Math.min(2 * wanted.redialMs, MAX_REDIAL_MS);
      }
      if (!link.replaced) this.#o.paths?.lost(wanted.certificate, link.punched);
    }
    const reason = link.channel.closeReason ?? "local";
    if (!wasOpen) return;
    if (link.replaced && this.#running) {
      const deviceHex = link.deviceHex;
      this.#replaced.get(deviceHex)?.timer.cancel();
      const entry = {
        accountHex: link.accountHex,
        note: link.note,
        visible: link.visible,
        timer: this.#o.clock.setTimer(REPLACED_GRACE_MS, () => {
          if (this.#replaced.get(deviceHex) !== entry) return;
          this.#replaced.delete(deviceHex);
          this.#o.onChange(link.accountHex, reason);
        }),
      };
      this.#replaced.set(deviceHex, entry);
      return;
    }
    this.#o.onChange(link.accountHex, reason);
  }

  #sendPidf(link: Link): void {
    if (link.session === undefined) return;
    const body = buildPidf({
      entity: `jami:${this.#o.identity.certificate.accountId}`,
      open: this.#open,
      note: this.#note,
      tupleId: this.#selfHex,
    });
    this.counters.pidfSent += 1;
    link.session.sendMessage(PIDF_CONTENT_TYPE, body).catch(() => {
      // A lost note is resent with the next publish or link.
    });
  }

  #onSipMessage(link: Link, contentType: string, body: string): void {
    if (contentType.split(";")[0].trim().toLowerCase() !== PIDF_CONTENT_TYPE) {
      this.counters.pidfDropped += 1;
      return;
    }
    try {
      const document = parsePidf(body);
      if (document.entity !== `jami:${link.accountHex}`) {
        this.counters.pidfDropped += 1;
        return;
      }
      this.counters.pidfReceived += 1;
      link.note = document.note;
      link.visible = document.open;
      if (!link.open) {
        // Its first document proves the peer accepted us: connected.
        link.open = true;
        this.counters.linksOpened += 1;
        if (link.punched) this.counters.punchedLinksOpened += 1;
        // It replaces a link closed for it a moment ago: no close to tell.
        this.#replaced.get(link.deviceHex)?.timer.cancel();
        this.#replaced.delete(link.deviceHex);
      }
      if (this.#links.get(link.deviceHex) === link) {
        this.#o.onChange(link.accountHex);
      }
    } catch (error) {
      if (!(error instanceof MalformedPidfError)) throw error;
      this.counters.pidfDropped += 1;
    }
  }
}

function parseEndpoints(endpoints: readonly string[]): PeerAddress[] {
  const addresses: PeerAddress[] = [];
  for (const text of endpoints.slice(0, 4)) {
    try {
      addresses.push(parseAddress(text));
    } catch {
      // A bad endpoint is skipped; the tracker already bounded its length.
    }
  }
  return addresses;
}

/**
 * The endpoint text announced for a listening address.
 *
 * @param address The address peers dial.
 * @returns `host:port`.
 */
export function endpointOf(address: PeerAddress): string {
  return formatAddress(address);
}
