/**
 * Link candidates: the addresses where a device may be reached over UDP
 * (its bound address, its public IP as DHT repliers observed it, with its
 * own port and any port a peer saw), and the token its {@link HolePunch}
 * uses, sealed to one device of a contact with a sealed box (purpose
 * `"link-candidates"`), so that only that device learns them and knows who
 * sent them. The box travels through the DHT (see docs/links.md, "Links
 * through NATs"); the codec here is the message inside.
 *
 * Format: the canonical msgpack tuple `["link-candidates-v1", issuedMs,
 * expiresMs, token (16 bytes), [[host, port], …]]`, at most
 * {@link MAX_PUNCH_CANDIDATES} candidates, hosts IPv4 or IPv6 text of at
 * most 45 characters, ports 1–65535. A candidate set expires (default 2
 * minutes): a stale one would punch towards mappings long gone. A set that
 * says what its sender knows of its NAT ({@link LinkNat}, for
 * `punchOutlook`) or names a relay is `["link-candidates-v2", …the same…,
 * nat, relay]`, `nat` the index in {@link LINK_NATS} (0 unknown, 1 public,
 * 2 independent, 3 dependent), `relay` nil or the `[host, port]` of a relay
 * the sender's user configured (`RelayServer`); a set with neither is
 * written as v1, and v1 sets are read as "unknown", no relay. (A device of the version before reads no v2 set: it cannot
 * link to a NATed device that knows its mapping until it is updated.)
 *
 * @example Seal to Bob's device, open there
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "../identity/account_keys.ts";
 * import { DeviceKeys } from "../identity/device_keys.ts";
 * import { DeviceCertificate } from "../identity/device_certificate.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 * import { openLinkCandidates, sealLinkCandidates } from "./link_candidates.ts";
 *
 * const random = rngBytes(seededRng(5));
 * const device = (account: AccountKeys) => {
 *   const keys = DeviceKeys.generate(random);
 *   return { device: keys, certificate: DeviceCertificate.issue(account, keys, { issuedMs: 0 }) };
 * };
 * const alice = device(AccountKeys.generate(random));
 * const bob = device(AccountKeys.generate(random));
 * const box = sealLinkCandidates({
 *   issuedMs: 1_000,
 *   expiresMs: 121_000,
 *   token: random(16),
 *   candidates: [{ host: "203.0.113.7", port: 4222 }],
 * }, { sender: alice, recipient: bob.certificate, randomBytes: random });
 * const opened = openLinkCandidates(box, { device: bob.device, nowMs: 2_000 });
 * assert.deepEqual(opened.candidates.candidates, [{ host: "203.0.113.7", port: 4222 }]);
 * assert.ok(opened.sender.deviceId.equals(alice.device.id));
 * ```
 *
 * @module
 */

import {
  decodeTuple,
  encodeTuple,
  readBytes,
  readInteger,
} from "../identity/_codec.ts";
import { MalformedRecordError } from "../identity/errors.ts";
import {
  openSealedBox,
  type OpenSealedBoxOptions,
  sealBox,
  type SealBoxOptions,
} from "../identity/sealed_box.ts";
import type { DeviceCertificate } from "../identity/device_certificate.ts";
import type { PeerAddress } from "../transport.ts";
import { MAX_PUNCH_CANDIDATES, PUNCH_TOKEN_BYTES } from "./hole_punch.ts";
import { LINK_NATS, type LinkNat } from "./punch_outlook.ts";

/** The sealed-box purpose of candidate messages. */
export const LINK_CANDIDATES_PURPOSE = "link-candidates";
const TAG = "link-candidates-v1";
const TAG_V2 = "link-candidates-v2";
const WHAT = "link candidates";
const MAX_HOST_LENGTH = 45;
/** Longest validity accepted: 10 minutes. */
export const MAX_CANDIDATES_LIFETIME_MS = 600_000;

/** What a device tells one contact device about where to punch. */
export interface LinkCandidates {
  /** When the set was made, epoch ms. */
  readonly issuedMs: number;
  /** After this, epoch ms, the set is refused. */
  readonly expiresMs: number;
  /** The {@link HolePunch} token, {@link PUNCH_TOKEN_BYTES} bytes. */
  readonly token: Uint8Array;
  /** Where to probe, at most {@link MAX_PUNCH_CANDIDATES}. */
  readonly candidates: readonly PeerAddress[];
  /** What the sender knows of its NAT. @default {"unknown"} */
  readonly nat?: LinkNat;
  /** A relay its user configured, for when the NATs cannot punch. */
  readonly relay?: PeerAddress;
}

/** A candidate set that is well formed but expired or not yet valid. */
export class LinkCandidatesExpiredError extends Error {
  /**
   * An expired set.
   *
   * @param expiresMs Its expiry.
   * @param nowMs The time of the check.
   */
  constructor(expiresMs: number, nowMs: number) {
    super(
      `Cannot use link candidates: valid until ${expiresMs}, now ${nowMs}`,
    );
    this.name = "LinkCandidatesExpiredError";
  }
}

/**
 * Encodes a candidate set.
 *
 * @param value The set.
 * @returns Canonical msgpack bytes.
 * @throws {MalformedRecordError} If it breaks the format's limits.
 */
export function encodeLinkCandidates(value: LinkCandidates): Uint8Array {
  check(value);
  const fields = [
    value.issuedMs,
    value.expiresMs,
    value.token,
    value.candidates.map(({ host, port }) => [host, port]),
  ];
  const nat = LINK_NATS.indexOf(value.nat ?? "unknown");
  const relay = value.relay === undefined
    ? null
    : [value.relay.host, value.relay.port];
  return nat <= 0 && relay === null
    ? encodeTuple([TAG, ...fields])
    : encodeTuple([TAG_V2, ...fields, nat, relay]);
}

/**
 * Decodes a candidate set, hostile input allowed.
 *
 * @param bytes The message.
 * @returns The set.
 * @throws {MalformedRecordError} If it is not a well-formed set.
 */
export function decodeLinkCandidates(bytes: Uint8Array): LinkCandidates {
  let fields: unknown[];
  let nat: LinkNat = "unknown";
  let relay: PeerAddress | undefined;
  try {
    fields = decodeTuple(bytes, WHAT, TAG, 5);
  } catch (v1Error) {
    try {
      fields = decodeTuple(bytes, WHAT, TAG_V2, 7);
    } catch {
      throw v1Error;
    }
    const code = readInteger(fields, 5, WHAT);
    if (code >= LINK_NATS.length) {
      throw new MalformedRecordError(WHAT, "unknown nat");
    }
    nat = LINK_NATS[code];
    if (fields[6] !== null) relay = readAddress(fields[6]);
  }
  const list = fields[4];
  if (!Array.isArray(list) || list.length > MAX_PUNCH_CANDIDATES) {
    throw new MalformedRecordError(WHAT, "candidates is not a short list");
  }
  const candidates = list.map(readAddress);
  const value: LinkCandidates = {
    issuedMs: readInteger(fields, 1, WHAT),
    expiresMs: readInteger(fields, 2, WHAT),
    token: readBytes(fields, 3, WHAT, PUNCH_TOKEN_BYTES),
    candidates,
    ...(nat === "unknown" ? {} : { nat }),
    ...(relay === undefined ? {} : { relay }),
  };
  check(value);
  return value;
}

/**
 * Seals a candidate set to one contact device.
 *
 * @param value The set.
 * @param options Sender keys and certificate, the recipient's verified certificate, randomness.
 * @returns The sealed box, for the recipient's DHT inbox.
 * @throws {MalformedRecordError} If the set breaks the format's limits.
 */
export function sealLinkCandidates(
  value: LinkCandidates,
  options: Omit<SealBoxOptions, "purpose">,
): Uint8Array {
  return sealBox(encodeLinkCandidates(value), {
    ...options,
    purpose: LINK_CANDIDATES_PURPOSE,
  });
}

/**
 * Opens a sealed candidate set addressed to us and checks its validity.
 *
 * @param box The sealed box.
 * @param options Our device keys, the time, and the revocation lookup.
 * @returns The set and the sender's verified certificate (the caller checks it is a contact).
 * @throws {MalformedRecordError} If the box or the set is malformed.
 * @throws {LinkCandidatesExpiredError} If `nowMs` is outside its validity.
 * @throws Any error of `openSealedBox` (wrong recipient, bad signature, …).
 */
export function openLinkCandidates(
  box: Uint8Array,
  options: Omit<OpenSealedBoxOptions, "purpose">,
): { candidates: LinkCandidates; sender: DeviceCertificate } {
  const opened = openSealedBox(box, {
    ...options,
    purpose: LINK_CANDIDATES_PURPOSE,
  });
  const candidates = decodeLinkCandidates(opened.message);
  if (
    options.nowMs < candidates.issuedMs - 60_000 ||
    options.nowMs >= candidates.expiresMs
  ) {
    throw new LinkCandidatesExpiredError(candidates.expiresMs, options.nowMs);
  }
  return { candidates, sender: opened.sender };
}

function readAddress(entry: unknown): PeerAddress {
  if (
    !Array.isArray(entry) || entry.length !== 2 ||
    typeof entry[0] !== "string" || typeof entry[1] !== "number"
  ) {
    throw new MalformedRecordError(WHAT, "a candidate is not [host, port]");
  }
  return { host: entry[0], port: entry[1] };
}

function check(value: LinkCandidates): void {
  const lifetime = value.expiresMs - value.issuedMs;
  if (
    !Number.isSafeInteger(value.issuedMs) || value.issuedMs < 0 ||
    !Number.isSafeInteger(value.expiresMs) || lifetime <= 0 ||
    lifetime > MAX_CANDIDATES_LIFETIME_MS
  ) {
    throw new MalformedRecordError(WHAT, "bad validity");
  }
  if (
    !(value.token instanceof Uint8Array) ||
    value.token.length !== PUNCH_TOKEN_BYTES
  ) {
    throw new MalformedRecordError(WHAT, "bad token");
  }
  if (value.nat !== undefined && !LINK_NATS.includes(value.nat)) {
    throw new MalformedRecordError(WHAT, "unknown nat");
  }
  if (value.candidates.length > MAX_PUNCH_CANDIDATES) {
    throw new MalformedRecordError(WHAT, "too many candidates");
  }
  const addresses = value.relay === undefined
    ? value.candidates
    : [...value.candidates, value.relay];
  for (const { host, port } of addresses) {
    if (
      typeof host !== "string" || host.length === 0 ||
      host.length > MAX_HOST_LENGTH || !/^[0-9a-fA-F.:]+$/.test(host) ||
      !Number.isInteger(port) || port < 1 || port > 65_535
    ) {
      throw new MalformedRecordError(WHAT, "a candidate is not an IP and port");
    }
  }
}
