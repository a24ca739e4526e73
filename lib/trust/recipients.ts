/**
 * Whom a message to an account is sealed to: the devices its tracker sees,
 * the devices it was heard from before (kept in the account's
 * {@link PeerRecord}s, so a target that is offline now can still be
 * reached), and its mailbox. Every certificate is checked again at each use:
 * an expired, revoked or foreign one is no recipient.
 *
 * @example A peer's device remembered, then a recipient
 * ```ts
 * import assert from "node:assert/strict";
 * import { messageRecipients, rememberPeerDevice } from "./recipients.ts";
 * import type { PeerRecord } from "../contacts/account_state.ts";
 * import { AccountKeys } from "../identity/account_keys.ts";
 * import { DeviceCertificate } from "../identity/device_certificate.ts";
 * import { DeviceKeys } from "../identity/device_keys.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const random = rngBytes(seededRng("recipients"));
 * const bob = AccountKeys.generate(random);
 * const phone = DeviceKeys.generate(random);
 * const certificate = DeviceCertificate.issue(bob, phone, { issuedMs: 1_000 });
 * const peers = new Map<string, PeerRecord>();
 * rememberPeerDevice(peers, bob.id.toString(), certificate, 2_000);
 * const recipients = messageRecipients(bob.id.toString(), {
 *   peer: peers.get(bob.id.toString()),
 *   nowMs: 3_000,
 *   onlineOnly: false,
 *   mailbox: false,
 * });
 * assert.ok(recipients[0].deviceId.equals(phone.id));
 * ```
 *
 * @module
 */
import {
  isRememberableEndpoint,
  MAX_PEER_CERTIFICATE_BYTES,
  MAX_PEER_DEVICES,
  MAX_PEER_ENDPOINT_DEVICES,
  MAX_PEER_ENDPOINTS,
  MAX_PEERS,
  type PeerRecord,
} from "../contacts/account_state.ts";
import type { DhtValue } from "../dht/messages.ts";
import { DeviceCertificate } from "../identity/device_certificate.ts";
import { InfoHash } from "../identity/info_hash.ts";
import type { BuddyTracker } from "../presence/buddy_tracker.ts";
import { isMailboxCertificate } from "./mailbox.ts";

/**
 * Remembers a device certificate a peer used (announced, or sealed a message
 * with), newest last, replacing an older one of the same device; at most
 * {@link MAX_PEER_DEVICES} per peer, none over
 * {@link MAX_PEER_CERTIFICATE_BYTES}. With
 * {@link MAX_PEERS} peers known, the one heard of least recently is
 * forgotten for a new one. With `endpoints` (what the device announced while
 * online), they are remembered too, for the last
 * {@link MAX_PEER_ENDPOINT_DEVICES} devices that announced any.
 *
 * @param peers The account's peer records, by account hex.
 * @param uri The peer's account hex.
 * @param certificate The device's certificate.
 * @param nowMs Current time, epoch ms.
 * @param endpoints Its announced direct-link endpoints, if it is online.
 * @returns Whether the remembered endpoints changed (worth a save).
 */
export function rememberPeerDevice(
  peers: Map<string, PeerRecord>,
  uri: string,
  certificate: DeviceCertificate,
  nowMs: number,
  endpoints?: readonly string[],
): boolean {
  // Bounded so the state file stays under its limit (`account_state.ts`).
  if (certificate.bytes.length > MAX_PEER_CERTIFICATE_BYTES) return false;
  let peer = peers.get(uri);
  if (peer === undefined) {
    if (peers.size >= MAX_PEERS) {
      let oldest: string | undefined;
      let oldestMs = Infinity;
      for (const [key, value] of peers) {
        if (value.seenMs < oldestMs) [oldest, oldestMs] = [key, value.seenMs];
      }
      if (oldest !== undefined) peers.delete(oldest);
    }
    peer = { uri, devices: [], seenMs: nowMs };
    peers.set(uri, peer);
  }
  peer.seenMs = nowMs;
  const id = certificate.deviceId;
  peer.devices = peer.devices.filter((known) => {
    try {
      return !DeviceCertificate.decode(known).deviceId.equals(id);
    } catch {
      return false;
    }
  });
  peer.devices.push(certificate.bytes);
  if (peer.devices.length > MAX_PEER_DEVICES) peer.devices.shift();
  return endpoints === undefined
    ? false
    : rememberEndpoints(peer, id.toString(), endpoints);
}

function rememberEndpoints(
  peer: PeerRecord,
  deviceHex: string,
  endpoints: readonly string[],
): boolean {
  const kept = endpoints.slice(0, MAX_PEER_ENDPOINTS).filter(
    isRememberableEndpoint,
  );
  const map: Map<string, readonly string[]> = peer.endpoints ??= new Map();
  const known = map.get(deviceHex);
  const same = known !== undefined && known.length === kept.length &&
    known.every((endpoint, index) => endpoint === kept[index]);
  // The last one to announce goes last (the first to go when full).
  map.delete(deviceHex);
  if (kept.length > 0) map.set(deviceHex, kept);
  while (map.size > MAX_PEER_ENDPOINT_DEVICES) {
    map.delete(map.keys().next().value!);
  }
  return !same && (kept.length > 0 || known !== undefined);
}

/** What {@link messageRecipients} looks at. */
export interface RecipientSources {
  /** The target's tracker, if it is watched. */
  readonly tracker?: BuddyTracker;
  /** What the account remembers of the target; its mailbox is updated from the tracker's. */
  readonly peer?: PeerRecord;
  /** Current time, epoch ms (certificates are checked at it). */
  readonly nowMs: number;
  /** Only devices the tracker sees online (no remembered ones). */
  readonly onlineOnly: boolean;
  /** Also the target's mailbox (the profile uses mailboxes). */
  readonly mailbox: boolean;
}

/**
 * The valid certificates a message to `uri` is sealed to, one per device:
 * tracked devices, then remembered ones, then the mailbox.
 *
 * @param uri Target account hex.
 * @param sources Tracker, peer record, time and options.
 * @returns The recipients (a later certificate of a device replaces an earlier one).
 */
export function messageRecipients(
  uri: string,
  sources: RecipientSources,
): DeviceCertificate[] {
  const { tracker, peer, nowMs, onlineOnly } = sources;
  const revocationList = tracker?.revocationList;
  const result = new Map<string, DeviceCertificate>();
  const consider = (certificate: DeviceCertificate) => {
    try {
      certificate.verify({
        accountId: InfoHash.fromHex(uri),
        nowMs,
        revocationList,
      });
      result.set(certificate.deviceId.toString(), certificate);
    } catch {
      // Expired, revoked or forged: not a recipient.
    }
  };
  for (const device of tracker?.devices() ?? []) {
    if (!onlineOnly || device.online) consider(device.certificate);
  }
  if (!onlineOnly) {
    for (const bytes of peer?.devices ?? []) {
      const certificate = decodeCertificate(bytes);
      if (certificate !== undefined) consider(certificate);
    }
  }
  if (sources.mailbox) {
    const mailbox = tracker?.mailbox;
    if (mailbox !== undefined) {
      if (
        peer !== undefined &&
        mailbox.bytes.length <= MAX_PEER_CERTIFICATE_BYTES
      ) peer.mailbox = mailbox.bytes;
      consider(mailbox);
    } else if (peer?.mailbox !== undefined) {
      const certificate = decodeCertificate(peer.mailbox);
      if (certificate !== undefined && isMailboxCertificate(certificate)) {
        consider(certificate);
      }
    }
  }
  return [...result.values()];
}

/**
 * The newest valid mailbox certificate of an account among values found at
 * its account hash.
 *
 * @param values Values stored at the account hash.
 * @param accountId The account.
 * @param nowMs Current time, epoch ms.
 * @returns The certificate, or undefined if none is valid.
 */
export function newestMailbox(
  values: readonly DhtValue[],
  accountId: InfoHash,
  nowMs: number,
): DeviceCertificate | undefined {
  let best: DeviceCertificate | undefined;
  for (const value of values) {
    try {
      const certificate = DeviceCertificate.decode(value.data);
      if (!isMailboxCertificate(certificate)) continue;
      certificate.verify({ accountId, nowMs });
      if (best === undefined || certificate.issuedMs > best.issuedMs) {
        best = certificate;
      }
    } catch {
      // Not a (valid) mailbox certificate of this account.
    }
  }
  return best;
}

function decodeCertificate(bytes: Uint8Array): DeviceCertificate | undefined {
  try {
    return DeviceCertificate.decode(bytes);
  } catch {
    return undefined;
  }
}
