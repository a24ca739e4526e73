/**
 * The options, link status and counters of a `ConnectionManager`
 * (`connection_manager.ts` re-exports them).
 *
 * @example Counters start at zero
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyConnectionCounters } from "./connection_manager_options.ts";
 *
 * assert.equal(emptyConnectionCounters().resumeDials, 0);
 * ```
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { RandomBytes } from "../rng.ts";
import type { DeviceCertificate } from "../identity/device_certificate.ts";
import type { StreamNetwork } from "./byte_stream.ts";
import type {
  ChannelCloseReason,
  ChannelIdentity,
  ChannelPeer,
} from "./secure_channel.ts";

/** Options of a `ConnectionManager`. */
export interface ConnectionManagerOptions {
  /** This device and its certificate. */
  readonly identity: ChannelIdentity;
  /** Time (keepalives, backoff). */
  readonly clock: Clock;
  /** Randomness for the ephemeral X25519 key of each link handshake. */
  readonly randomBytes: RandomBytes;
  /** Where links are opened and accepted. */
  readonly streams: StreamNetwork;
  /**
   * Streams over hole-punched UDP paths (`LinkSocket.paths`): accepted
   * into the same handshake slots as `streams`, dialled by
   * `ConnectionManager.connectPunched`. None: TCP only.
   */
  readonly punched?: StreamNetwork;
  /** Told when a link would need a punched path (see {@link LinkPathEvents}). */
  readonly paths?: LinkPathEvents;
  /**
   * Whether a peer that proved its device key may link (a contact, not
   * banned, device not revoked). Called before any SIP is read. Also called
   * on an incoming link with the identity the peer's certificate claims,
   * before its signatures are checked, so that a stranger is refused
   * without costing a signature check: keep it a pure lookup.
   */
  readonly authorize: (peer: ChannelPeer) => boolean;
  /**
   * A link to this account opened or closed, or its note changed. On a
   * close, `closeReason` says why (`"remote"`: the peer closed it with a
   * close frame, as a device shutting down cleanly does; `"timeout"`: it
   * fell silent).
   */
  readonly onChange: (
    accountHex: string,
    closeReason?: ChannelCloseReason,
  ) => void;
  /**
   * The higher device id dials after this long if no link is up. Both
   * dialling at once (0) made two links race: the one kept replaced the
   * first up, and watchers saw status 2, then 1, then 2. @default {250}
   */
  readonly dialFallbackMs?: number;
  /**
   * Redial delay after the first failed dial or handshake of a wanted
   * device. @default {500}
   */
  readonly firstRedialMs?: number;
  /** Redial delay after the second failure (doubles up to 5 minutes). @default {5000} */
  readonly redialMs?: number;
  /** Most open links at once; more are refused. @default {512} */
  readonly maxLinks?: number;
  /**
   * Most accepted handshakes at once from one origin (IPv4 address, IPv6
   * /64); more are closed at once, before a byte is read. @default {4}
   */
  readonly maxHandshakesPerOrigin?: number;
  /**
   * Most handshakes accepted from one origin in a minute, unless its host is
   * a known contact address; more streams are closed at once. Bounds the
   * work rapid reconnects cost (each handshake can cost a key agreement, or
   * signature checks for a claimed contact). @default {30}
   */
  readonly maxHandshakesPerOriginPerMinute?: number;
  /**
   * Most accepted handshakes at once from hosts that are not known contact
   * addresses; more are closed at once. @default {64}
   */
  readonly maxStrangerHandshakes?: number;
  /**
   * Accepted handshakes kept for hosts a wanted device announced or a link
   * came from, on top of the strangers' ones. @default {32}
   */
  readonly reservedHandshakes?: number;
  /** An accepted or dialled handshake not done after this long closes. @default {5_000} */
  readonly handshakeTimeoutMs?: number;
  /** Keepalive period of each link. */
  readonly keepaliveMs?: number;
  /** A link silent this long is dead. */
  readonly deadAfterMs?: number;
}

/**
 * What the candidate exchange (`LinkRendezvous`) hears from the manager, to
 * decide when to punch.
 */
export interface LinkPathEvents {
  /** A device is wanted and not linked (called on each `connect` until linked). */
  want(certificate: DeviceCertificate): void;
  /** A dial or dialled handshake to a wanted device failed. */
  dialFailed(certificate: DeviceCertificate): void;
  /** A link to a device still wanted closed; `punched` if it ran over UDP. */
  lost(certificate: DeviceCertificate, punched: boolean): void;
  /** A device is no longer wanted. */
  forget(deviceHex: string): void;
}

/** What a watcher knows of an account's links. */
export interface LinkStatus {
  /** At least one link to the account is up and its device is visible. */
  readonly connected: boolean;
  /** The newest note received over a link, if any. */
  readonly note: string | undefined;
}

/** Counters of a `ConnectionManager`. */
export interface ConnectionCounters {
  /** Links that came up (handshake done, the peer's first PIDF received). */
  linksOpened: number;
  /** Of {@link ConnectionCounters.linksOpened}, those over a punched UDP path. */
  punchedLinksOpened: number;
  /** Links closed (any reason). */
  linksClosed: number;
  /** Peers refused by `authorize` or the handshake. */
  refused: number;
  /** Dials that failed to connect. */
  dialFailures: number;
  /** Dials at remembered endpoints at start (`ConnectionManager.resume`). */
  resumeDials: number;
  /** PIDF documents handed to a link's SIP session, acknowledged or not. */
  pidfSent: number;
  /** PIDF documents that parsed, named the linked account, and updated its note. */
  pidfReceived: number;
  /** PIDF documents dropped (malformed, wrong entity). */
  pidfDropped: number;
}

/**
 * Counters at zero.
 *
 * @returns A fresh object.
 */
export function emptyConnectionCounters(): ConnectionCounters {
  return {
    linksOpened: 0,
    punchedLinksOpened: 0,
    linksClosed: 0,
    refused: 0,
    dialFailures: 0,
    resumeDials: 0,
    pidfSent: 0,
    pidfReceived: 0,
    pidfDropped: 0,
  };
}
