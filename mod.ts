/**
 * Contact management over a DHT, the way Jami does it: device presence
 * announced on the DHT at the account hash, trust requests sealed to each
 * device's inbox at `InfoHash("inbox:" + deviceId)`.
 *
 * Layers, each using only the ones below (see `docs/architecture.md`):
 * the daemon (`Daemon` with its `PresenceManager` and
 * `ConfigurationManager`, Jami's API), the contacts protocol (presence,
 * trust requests, contacts), direct links (authenticated channel, SIP,
 * PIDF), the DHT node (`DhtNode`, an OpenDHT-compatible node behind the
 * `DhtClient` seam), identity (keys, certificates, revocation lists, signed
 * records, sealed boxes), and the seams the core runs on (`Clock`, `Rng`,
 * `Transport`, `Storage`) with real adapters (system clock and randomness,
 * UDP, TCP, files) and fakes for tests (`ManualClock`, `MemoryStorage`).
 *
 * @example A device announces itself; a contact verifies the announcement
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   AccountKeys, DeviceCertificate, DeviceKeys, InfoHash, ManualClock,
 *   parseUri, rngBytes, seededRng, SignedRecord,
 * } from "./mod.ts";
 *
 * const clock = new ManualClock();
 * const random = rngBytes(seededRng("example"));
 * const account = AccountKeys.generate(random);
 * const device = DeviceKeys.generate(random);
 * const certificate = DeviceCertificate.issue(account, device, {
 *   name: "phone", issuedMs: clock.now(),
 * });
 *
 * // The device signs its announcement; the body carries its certificate.
 * const announcement = SignedRecord.sign(device, {
 *   type: "device-announcement", seq: 1, createdMs: clock.now(),
 *   expiresMs: clock.now() + 60_000, body: certificate.bytes,
 * });
 *
 * // A contact knows only the URI. It checks that the record is signed by a
 * // device that this very account certified.
 * const accountId = parseUri(`jami:${account.id}`);
 * const received = SignedRecord.decode(announcement.bytes);
 * const carried = DeviceCertificate.decode(received.body);
 * carried.verify({ accountId, nowMs: clock.now() });
 * received.verify({ signer: carried.deviceId, nowMs: clock.now() });
 * assert.ok(carried.deviceId.equals(device.id));
 * assert.equal(InfoHash.get(account.publicKey).toString(), accountId.toString());
 * ```
 *
 * @example A daemon on a real device: UDP, TCP links, files, all closed by stop()
 * ```ts
 * import assert from "node:assert/strict";
 * import { openUdpDaemon } from "./mod.ts";
 *
 * const dataDir = await Deno.makeTempDir();
 * // bootstrap: [{ host: "bootstrap.jami.net", port: 4222 }] on the real network.
 * const daemon = await openUdpDaemon({ dataDir, scryptLog2N: 10 });
 * const account = await daemon.createAccount({ deviceName: "laptop" });
 * daemon.start();
 * assert.deepEqual(daemon.listAccounts(), [account]);
 * await daemon.stop(); // goodbye, state flushed, socket closed, lock freed
 * await Deno.remove(dataDir, { recursive: true });
 * ```
 *
 * @module
 */
export * from "./lib/identity/errors.ts";
export {
  INFO_HASH_BITS,
  INFO_HASH_BYTES,
  InfoHash,
} from "./lib/identity/info_hash.ts";
export type { Signer } from "./lib/identity/signer.ts";
export { AccountKeys } from "./lib/identity/account_keys.ts";
export { DeviceKeys, type DeviceSecrets } from "./lib/identity/device_keys.ts";
export {
  DEFAULT_MAX_CLOCK_SKEW_MS,
  MAX_RECORD_BODY_BYTES,
  MAX_RECORD_TYPE_LENGTH,
  SignedRecord,
  type SignedRecordFields,
  type VerifyRecordOptions,
} from "./lib/identity/signed_record.ts";
export {
  DEFAULT_CERTIFICATE_LIFETIME_MS,
  DEVICE_CERTIFICATE_TYPE,
  DeviceCertificate,
  type IssueDeviceCertificateOptions,
  MAX_DEVICE_NAME_LENGTH,
  type VerifyDeviceCertificateOptions,
} from "./lib/identity/device_certificate.ts";
export {
  type CreateRevocationListOptions,
  DEFAULT_REVOCATION_LIFETIME_MS,
  MAX_REVOKED_DEVICES,
  REVOCATION_LIST_TYPE,
  RevocationList,
} from "./lib/identity/revocation_list.ts";
export {
  MAX_PURPOSE_LENGTH,
  MAX_SEALED_MESSAGE_BYTES,
  type OpenedSealedBox,
  openSealedBox,
  type OpenSealedBoxOptions,
  peekSealedBox,
  sealBox,
  type SealBoxOptions,
} from "./lib/identity/sealed_box.ts";
export { formatUri, parseUri } from "./lib/identity/uri.ts";
export {
  type AccountArchiveContents,
  DEFAULT_SCRYPT_LOG2_N,
  type EncodeAccountArchiveOptions,
  MAX_ARCHIVE_BYTES,
} from "./lib/identity/account_archive.ts";
export {
  loadAccountArchive,
  saveAccountArchive,
  type SaveAccountArchiveOptions,
} from "./lib/io/account_archive_file.ts";
export type { Clock, Timer } from "./lib/clock.ts";
export { ManualClock } from "./lib/testing/manual_clock.ts";
export { SystemClock, systemClock } from "./lib/io/system_clock.ts";
export {
  bytesRng,
  forkRng,
  type RandomBytes,
  randomInt,
  randomUint32,
  type Rng,
  rngBytes,
  seededRng,
} from "./lib/rng.ts";
export { systemRandomBytes, systemRng } from "./lib/io/system_random.ts";
export {
  type DatagramHandler,
  formatAddress,
  MAX_DATAGRAM_BYTES,
  parseAddress,
  type PeerAddress,
  type Transport,
} from "./lib/transport.ts";
export {
  AddressInUseError,
  type KernelUdpStats,
  UdpBindError,
  UdpTransport,
  type UdpTransportOptions,
} from "./lib/io/udp_transport.ts";
export {
  MAX_STORAGE_VALUE_BYTES,
  type Storage,
  validateStorageKey,
} from "./lib/storage.ts";
export { MemoryStorage } from "./lib/testing/memory_storage.ts";
export { FileStorage } from "./lib/io/file_storage.ts";
export {
  writeFileAtomic,
  type WriteFileAtomicOptions,
} from "./lib/io/atomic_file.ts";
export {
  DhtNode,
  type DhtNodeComponents,
  type DhtNodeConfig,
  type DhtNodeStats,
  LISTEN_NODES,
  REANNOUNCE_MARGIN_MS,
} from "./lib/dht/dht_node.ts";
export type {
  DhtClient,
  GetCallbacks,
  ListenEvent,
  ListenHandle,
  OperationHandle,
  PermanentPutHandle,
} from "./lib/dht/dht_client.ts";
export {
  type DhtQuery,
  type DhtValue,
  ErrorCode,
  type NodeInfo,
  ValueField,
  type WhereTerm,
} from "./lib/dht/messages.ts";
export type {
  SearchNode,
  SearchNodeState,
  SearchResult,
} from "./lib/dht/search.ts";
export type { RpcCounters, RpcTiming } from "./lib/dht/rpc_engine.ts";
export {
  BUCKET_SIZE,
  type HeardResult,
  NODE_EXPIRE_TIME_MS,
  NODE_GOOD_TIME_MS,
  type NodeState,
  type RoutingNode,
  RoutingTable,
} from "./lib/dht/routing_table.ts";
export type { ValueStoreLimits } from "./lib/dht/value_store.ts";
export {
  BUILT_IN_VALUE_TYPES,
  DEFAULT_VALUE_LIFETIME_MS,
  MAX_VALUE_BYTES,
  type ValueType,
} from "./lib/dht/value_type.ts";
export { WireError, type WireErrorReason } from "./lib/dht/wire/errors.ts";
export {
  Daemon,
  type DaemonOptions,
  type DaemonResource,
  type DaemonWarning,
  type NewDeviceOptions,
} from "./lib/daemon/daemon.ts";
export { openUdpDaemon, type UdpDaemonOptions } from "./lib/io/udp_daemon.ts";
export {
  DATA_DIR_LOCK_FILE,
  DataDirLock,
  DataDirLockedError,
} from "./lib/io/data_dir_lock.ts";
export {
  Account,
  type AccountComponents,
  type AccountCounters,
  type AccountEvent,
  type AccountIdentity,
  type BuddyDevice,
  type BuddyStatus,
  GOODBYE_WAIT_MS,
  SENDER_QUOTA_PER_HOUR,
} from "./lib/daemon/account.ts";
export {
  type NewBuddyNotification,
  type PresenceEventMap,
  PresenceManager,
} from "./lib/daemon/presence_manager.ts";
export {
  type ConfigurationEventMap,
  ConfigurationManager,
  type ContactDetails,
  type TrustRequest,
} from "./lib/daemon/configuration_manager.ts";
export * from "./lib/daemon/errors.ts";
export { TypedEventTarget } from "./lib/daemon/typed_event_target.ts";
export { WorkTracker } from "./lib/daemon/work_tracker.ts";
export {
  ACCOUNT_RECORD_VALUE_TYPE,
  ANNOUNCEMENT_VALUE_TYPE,
  JAMI_PROFILE,
  OUR_PROFILE,
  presenceNodeConfig,
  type PresenceProfile,
  presenceValueTypes,
} from "./lib/presence/presence_profile.ts";
export {
  type CreateAnnouncementOptions,
  DEVICE_ANNOUNCEMENT_TYPE,
  DeviceAnnouncement,
  MAX_ENDPOINTS,
  MAX_NOTE_LENGTH,
  type VerifyAnnouncementOptions,
} from "./lib/presence/device_announcement.ts";
export {
  BuddyTracker,
  type BuddyTrackerOptions,
  MAX_RECORDS_PER_DEVICE,
  MAX_TRACKED_DEVICES,
  MAX_TRACKED_VALUES,
  type TrackedDevice,
  type TrackerCounters,
} from "./lib/presence/buddy_tracker.ts";
export {
  announcementValueId,
  derivedValueId,
  PresenceAnnouncer,
  type PresenceAnnouncerOptions,
} from "./lib/presence/announcer.ts";
export {
  decodeInboxMessage,
  encodeInboxMessage,
  INBOX_LIFETIME_MS,
  INBOX_PURPOSE,
  INBOX_VALUE_TYPE,
  inboxKey,
  type InboxMessage,
  type InboxMessageKind,
  inboxValueId,
  MAX_TRUST_REQUEST_PAYLOAD_BYTES,
  MESSAGE_ID_BYTES,
} from "./lib/trust/inbox_message.ts";
export {
  isMailboxCertificate,
  MAILBOX_CERTIFICATE_LIFETIME_MS,
  MAILBOX_NAME,
  mailboxCertificate,
  mailboxKeys,
} from "./lib/trust/mailbox.ts";
export {
  type Contact,
  ContactList,
  ContactListFullError,
  isActiveContact,
  MAX_CONTACTS,
  mergeContact,
} from "./lib/contacts/contact_list.ts";
export {
  type AccountState,
  AccountStateStore,
  decodeAccountState,
  emptyAccountState,
  encodeAccountState,
  MAX_OUTBOX_ENTRIES,
  MAX_PEERS,
  MAX_PENDING_REQUESTS,
  MAX_SEEN_IDS,
  type OutboxEntry,
  type PeerRecord,
  type PendingRequest,
  StateCorruptError,
} from "./lib/contacts/account_state.ts";
export {
  decodeSyncSnapshot,
  encodeSyncSnapshot,
  MAX_SNAPSHOT_BYTES,
  type SyncSnapshot,
} from "./lib/contacts/sync_snapshot.ts";
export {
  decodeAccountArchive,
  encodeAccountArchive,
} from "./lib/identity/account_archive.ts";
export type {
  ByteStream,
  StreamCloseReason,
  StreamListener,
  StreamNetwork,
} from "./lib/channel/byte_stream.ts";
export {
  type ChannelCloseReason,
  type ChannelIdentity,
  ChannelNotOpenError,
  type ChannelPeer,
  type ChannelState,
  type ChannelStats,
  DEFAULT_DEAD_AFTER_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_KEEPALIVE_MS,
  SecureChannel,
  type SecureChannelOptions,
} from "./lib/channel/secure_channel.ts";
export {
  DEFAULT_MAX_SIP_MESSAGE_BYTES,
  type SipLink,
  SipRequestFailedError,
  type SipRequestFailure,
  SipSession,
  type SipSessionOptions,
  type SipSessionStats,
} from "./lib/channel/sip_session.ts";
export {
  buildPidf,
  MalformedPidfError,
  type MalformedPidfReason,
  MAX_PIDF_BYTES,
  MAX_PIDF_DEPTH,
  MAX_PIDF_NOTE_LENGTH,
  parsePidf,
  PIDF_CONTENT_TYPE,
  type PresenceDocument,
} from "./lib/channel/pidf.ts";
export {
  type ConnectionCounters,
  ConnectionManager,
  type ConnectionManagerOptions,
  emptyConnectionCounters,
  endpointOf,
  type LinkStatus,
} from "./lib/channel/connection_manager.ts";
export {
  TcpConnectError,
  TcpConnectTimeoutError,
  TcpListenError,
  TcpStreamNetwork,
  type TcpStreamNetworkOptions,
} from "./lib/io/tcp_stream_network.ts";
