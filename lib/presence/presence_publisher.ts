/**
 * `PresencePublisher`: how this device shows itself to its contacts. It
 * keeps the signed announcement at the account hash
 * ({@link PresenceAnnouncer}) and, when the profile enables channels and a
 * stream network is given, the direct links to contacts' devices
 * ({@link ConnectionManager}), whose endpoint the announcement carries.
 *
 * What is public stays small (issue 13 item 12): the announcement carries
 * no note, and the certificate it carries, which is also shown to whoever
 * dials a link, has no device name ({@link publicCertificate}). The note
 * goes over the direct links only, to devices of accounts the user
 * authorizes (contacts and subscriptions).
 *
 * Visible, the device is announced; invisible (status 0), it says goodbye
 * and stops announcing. With links on, it announces only once
 * it knows whether it listens for links, so the first announcement already
 * carries the endpoint. On a clean stop the goodbye goes out first and links
 * close after it (or after {@link GOODBYE_WAIT_MS}): a linked watcher then
 * goes from 2 straight to 0 instead of passing through 1.
 *
 * The announcement sequence number is kept in the account state; every
 * change calls `persist`.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { DhtClient } from "../dht/dht_client.ts";
import type { AccountKeys } from "../identity/account_keys.ts";
import { DeviceCertificate } from "../identity/device_certificate.ts";
import type { DeviceKeys } from "../identity/device_keys.ts";
import type { InfoHash } from "../identity/info_hash.ts";
import { RevocationList } from "../identity/revocation_list.ts";
import type { RandomBytes } from "../rng.ts";
import type { StreamNetwork } from "../channel/byte_stream.ts";
import { parseAddress, type PeerAddress } from "../transport.ts";
import {
  ConnectionManager,
  endpointOf,
} from "../channel/connection_manager.ts";
import type {
  ChannelCloseReason,
  ChannelPeer,
} from "../channel/secure_channel.ts";
import type { PunchedPaths } from "../channel/link_socket.ts";
import { LinkRendezvous } from "../channel/link_rendezvous.ts";
import { PresenceAnnouncer } from "./announcer.ts";
import type { PresenceProfile } from "./presence_profile.ts";

/**
 * The address contacts dial: `channelHost` with our listening port, or the
 * port it names itself (`203.0.113.7:4300`, `[2001:db8::1]:4300`).
 */
function advertised(host: string, port: number): PeerAddress {
  if (/:[0-9]+$/.test(host) && (!host.includes("::") || host.startsWith("["))) {
    try {
      return parseAddress(host);
    } catch {
      // Not host:port after all (an IPv6 address alone): the host itself.
    }
  }
  const bare = host.startsWith("[") && host.endsWith("]")
    ? host.slice(1, -1)
    : host;
  return { host: bare, port };
}

/** Longest wait for the goodbye's acknowledgement on stop. */
export const GOODBYE_WAIT_MS = 2_000;

/**
 * The certificate a device shows in public: the account's certificate for
 * it with the same keys and validity but no name (the name stays in the
 * certificate sealed boxes carry, which only their recipients read).
 * Signatures are deterministic, so every call gives the same bytes.
 *
 * @param account The account keys (every device of the account has them).
 * @param device This device's keys.
 * @param certificate The account's certificate for this device.
 * @returns `certificate` itself if it has no name, else a nameless copy.
 */
export function publicCertificate(
  account: AccountKeys,
  device: DeviceKeys,
  certificate: DeviceCertificate,
): DeviceCertificate {
  if (certificate.name === "") return certificate;
  return DeviceCertificate.issue(account, device, {
    issuedMs: certificate.issuedMs,
    lifetimeMs: certificate.expiresMs - certificate.issuedMs,
  });
}

/** The persisted fields the publisher reads and keeps up to date. */
export interface PublishedState {
  /** Last announcement sequence number (a restart continues above it). */
  announcementSeq: number;
  /** The account's newest revocation list (encoded), published with the announcement. */
  readonly revocationList?: Uint8Array;
  /** The port links were last accepted on (tried first when none is configured). */
  linkPort?: number;
}

/** A contact's device dialled at start, before the DHT shows it. */
export interface ResumableDevice {
  /** Its certificate (checked valid and not revoked by the caller). */
  readonly certificate: DeviceCertificate;
  /** The endpoints it announced last. */
  readonly endpoints: readonly string[];
}

/** What a {@link PresencePublisher} runs on. */
export interface PresencePublisherOptions {
  /** The account id: its hash is where the announcement is put. */
  readonly accountId: InfoHash;
  /** This device's keys: they sign announcements and authenticate links. */
  readonly device: DeviceKeys;
  /**
   * The account's certificate for this device as shown in public: in the
   * announcement and to whoever dials a link (see {@link publicCertificate}).
   */
  readonly certificate: DeviceCertificate;
  /** The account's mailbox certificate, published when the profile uses mailboxes. */
  readonly mailbox?: DeviceCertificate;
  /** The DHT announcements are put on. */
  readonly dht: DhtClient;
  /** The clock of the announcer's refreshes, the links' timers and the goodbye wait. */
  readonly clock: Clock;
  /** Randomness for the links' handshakes. */
  readonly randomBytes: RandomBytes;
  /** Announcement lifetimes and whether links are on. */
  readonly profile: PresenceProfile;
  /** Streams for direct links; none: no links. */
  readonly streams?: StreamNetwork;
  /**
   * The daemon's DHT socket shared for links through NATs (candidate
   * exchange, hole punching, links over UDP); none: TCP links only.
   */
  readonly paths?: PunchedPaths;
  /** Port links are accepted on (0: any free one; unset: `state.linkPort` when free). */
  readonly channelPort?: number;
  /** Host announced for links, when the listening address is not reachable as is. */
  readonly channelHost?: string;
  /** The account's persisted state. */
  readonly state: PublishedState;
  /** Saves the account state (resolves once durable). */
  persist(): Promise<void>;
  /** Wraps asynchronous work the simulator must wait for. */
  track<T>(work: Promise<T>): Promise<T>;
  /** A peer that proved its device key may link (see `ConnectionManager`). */
  authorize(peer: ChannelPeer): boolean;
  /**
   * Contacts' devices and the endpoints they announced in an earlier run,
   * dialled once as links start (`ConnectionManager.resume`). None: links
   * wait for the DHT.
   */
  resumable?(): Iterable<ResumableDevice>;
  /**
   * A link to an account opened, closed (`closeReason` says why) or changed
   * its note.
   */
  onLinkChange(uri: string, closeReason?: ChannelCloseReason): void;
}

/** This device's own presence: announcement and direct links. */
export class PresencePublisher {
  readonly #options: PresencePublisherOptions;
  #announcer?: PresenceAnnouncer;
  #links?: ConnectionManager;
  #rendezvous?: LinkRendezvous;
  #endpoints: readonly string[] = [];
  #running = false;
  #note = "";
  #visible = true;

  /**
   * A publisher, visible with an empty note until told otherwise.
   *
   * @param options See {@link PresencePublisherOptions}.
   */
  constructor(options: PresencePublisherOptions) {
    this.#options = options;
  }

  /** The direct links while running with links on. */
  get links(): ConnectionManager | undefined {
    return this.#links;
  }

  /** The candidate exchange while running with links through NATs on. */
  get rendezvous(): LinkRendezvous | undefined {
    return this.#rendezvous;
  }

  /** Starts links (then announces), or announces at once when visible. */
  start(): void {
    this.#running = true;
    const { streams, profile } = this.#options;
    if (streams !== undefined && profile.channels) this.#startLinks(streams);
    else if (this.#visible) this.#startAnnouncer();
  }

  /** Listens for links, then announces with the endpoint. */
  #startLinks(streams: StreamNetwork): void {
    const options = this.#options;
    const identity = {
      device: options.device,
      certificate: options.certificate,
    };
    const paths = options.paths;
    let rendezvous: LinkRendezvous | undefined;
    const links = new ConnectionManager({
      identity,
      clock: options.clock,
      randomBytes: options.randomBytes,
      streams,
      punched: paths?.streams,
      paths: paths === undefined ? undefined : {
        want: (certificate) => rendezvous?.want(certificate),
        dialFailed: (certificate) => rendezvous?.dialFailed(certificate),
        lost: (certificate, punched) => rendezvous?.lost(certificate, punched),
        forget: (deviceHex) => rendezvous?.forget(deviceHex),
      },
      authorize: (peer) => options.authorize(peer),
      onChange: (uri, closeReason) => options.onLinkChange(uri, closeReason),
    });
    this.#links = links;
    if (paths !== undefined) {
      const selfHex = options.device.id.toString();
      rendezvous = new LinkRendezvous({
        dht: options.dht,
        clock: options.clock,
        randomBytes: options.randomBytes,
        identity,
        paths,
        wanted: (deviceHex) => links.wantedDevice(deviceHex),
        linked: (deviceHex) => links.isLinked(deviceHex),
        authorize: (peer) => options.authorize(peer),
        onPunched: (certificate, address) => {
          // The lower device id dials, the other accepts (its socket expects
          // the punched address): one link, the one both sides keep.
          const peerHex = certificate.deviceId.toString();
          if (selfHex < peerHex) links.connectPunched(peerHex, address);
        },
      });
      rendezvous.start();
      this.#rendezvous = rendezvous;
    }
    links.publish(this.#visible, this.#note);
    // The port of the last run, if free: contacts may have remembered it.
    const listening = links.start(
      options.channelPort ?? options.state.linkPort ?? 0,
    );
    // Contacts that kept their address link now, not after the DHT (an
    // invisible device dials no one before it must).
    const resumable = this.#visible ? options.resumable?.() ?? [] : [];
    for (const device of resumable) {
      links.resume(device.certificate, device.endpoints);
    }
    const announced = listening.then(
      (address) => {
        if (options.state.linkPort !== address.port) {
          options.state.linkPort = address.port;
          options.persist();
        }
        const host = options.channelHost;
        this.#endpoints = [
          endpointOf(
            host === undefined ? address : advertised(host, address.port),
          ),
        ];
      },
      () => {
        // No listener (port taken): we can still dial out.
        this.#endpoints = [];
      },
    );
    void options.track(announced).then(() => {
      if (this.#links !== links || !this.#visible) return;
      if (this.#announcer === undefined) this.#startAnnouncer();
      else if (this.#endpoints.length > 0) {
        // Started meanwhile (by `publish`) without the endpoint: add it.
        this.#announcer.setEndpoints(this.#endpoints);
        options.state.announcementSeq = this.#announcer.seq;
        options.persist();
      }
    });
  }

  #startAnnouncer(): void {
    const options = this.#options;
    const { state } = options;
    this.#announcer = new PresenceAnnouncer({
      dht: options.dht,
      clock: options.clock,
      accountId: options.accountId,
      device: options.device,
      certificate: options.certificate,
      mailbox: options.profile.mailbox ? options.mailbox : undefined,
      revocationList: state.revocationList === undefined
        ? undefined
        : RevocationList.decode(state.revocationList),
      profile: options.profile,
      minSeq: state.announcementSeq,
    });
    this.#announcer.setEndpoints(this.#endpoints);
    this.#announcer.start();
    state.announcementSeq = this.#announcer.seq;
    options.persist();
  }

  /**
   * Sets this device's presence; while running it is published at once:
   * invisible says goodbye, visible announces the device (if it was not)
   * and sends `note` over the links.
   *
   * @param visible False: status 0, hidden.
   * @param note Status note.
   */
  publish(visible: boolean, note: string): void {
    this.#note = note;
    this.#visible = visible;
    if (!this.#running) return;
    const { state } = this.#options;
    this.#links?.publish(this.#visible, note);
    if (!this.#visible) {
      this.#announcer?.stop();
      if (this.#announcer) state.announcementSeq = this.#announcer.seq;
      this.#announcer = undefined;
      this.#options.persist();
      return;
    }
    if (this.#announcer === undefined) this.#startAnnouncer();
  }

  /**
   * Publishes an account record (a revocation list) beside the announcement.
   *
   * @param record The signed record's bytes.
   */
  publishRecord(record: Uint8Array): void {
    this.#announcer?.publishRecord(record);
  }

  /**
   * A clean stop: the goodbye (when the profile sends one), then links close.
   *
   * @param then Runs after the links closed (the account's final save).
   * @returns Resolves once `then`'s work has, at most
   *   {@link GOODBYE_WAIT_MS} after the goodbye went out.
   */
  stop(then: () => Promise<void>): Promise<void> {
    this.#running = false;
    const announcer = this.#announcer;
    this.#announcer = undefined;
    const goodbye = new Promise<void>((resolve) => {
      if (announcer === undefined) return resolve();
      const timer = this.#options.clock.setTimer(GOODBYE_WAIT_MS, resolve);
      announcer.stop(() => {
        timer.cancel();
        resolve();
      });
      this.#options.state.announcementSeq = announcer.seq;
    });
    const links = this.#links;
    this.#links = undefined;
    this.#rendezvous?.stop();
    this.#rendezvous = undefined;
    // Not tracked: the wait is on the clock, which a driver must keep moving.
    return goodbye.then(() => {
      links?.stop();
      return then();
    });
  }

  /** Stops at once: links drop, no goodbye (a crash). */
  crash(): void {
    this.#running = false;
    this.#links?.crash();
    this.#links = undefined;
    this.#rendezvous?.stop();
    this.#rendezvous = undefined;
    this.#announcer = undefined;
  }
}
