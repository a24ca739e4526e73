/**
 * Contact management over a DHT, the way Jami does it. Each device keeps a
 * signed `DeviceAnnouncement` on the DHT at its account hash (the SHA-1 of
 * the account key), so contacts that listen there see it come and go
 * (`newBuddyNotification`, status 0 offline, 1 on the DHT, 2 directly
 * linked); trust requests are sealed to each device of the target and put at
 * `SHA-1("inbox:" + deviceId)`, retried until a signed receipt comes back.
 *
 * The entry point is {@link Daemon}, Jami's daemon API in TypeScript idiom:
 * `daemon.presence` ({@link PresenceManager}: `subscribeBuddy`, `publish`,
 * `newBuddyNotification`) and `daemon.config`
 * ({@link ConfigurationManager}: `sendTrustRequest`, `acceptTrustRequest`,
 * `discardTrustRequest`, `addContact`, `removeContact`, their events).
 * {@link openUdpDaemon} opens one on a real device (UDP, TCP links, files in
 * a locked data directory, the system clock and randomness).
 *
 * The rest is what the daemon is built from, for those who need a layer
 * alone: the contact protocol (presence records and tracking, trust-request
 * inbox messages, contact lists and account state), direct links
 * (`SecureChannel`, `SipSession`, PIDF), the DHT node (also the `./dht`
 * entry point), identity (also `./identity`), and the seams the protocol runs
 * on (`Clock`, `Rng`/`RandomBytes`, `Transport`, `Storage`) with their real
 * adapters. Deterministic fakes for tests (virtual time, memory storage, a
 * simulated network, a testnet of DHT nodes) are in the `./testing` entry
 * point. See `docs/api.md` for the API tour and `docs/architecture.md` for the
 * layers.
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
 * daemon.presence.on("newBuddyNotification", (n) => console.log(n.buddyUri, n.status));
 * daemon.config.on("incomingTrustRequest", (r) => console.log("request from", r.from));
 * daemon.start();
 * assert.deepEqual(daemon.listAccounts(), [account]);
 * await daemon.stop(); // goodbye, state flushed, socket closed, lock freed
 * await Deno.remove(dataDir, { recursive: true });
 * ```
 *
 * @example Two daemons become contacts, on a simulated network in virtual time
 * ```ts
 * import assert from "node:assert/strict";
 * import { Daemon } from "./mod.ts";
 * import {
 *   ManualClock, MemoryStorage, rngBytes, seededRng, SimulatedNetwork,
 * } from "./lib/testing/mod.ts";
 *
 * const clock = new ManualClock(1_700_000_000_000);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const open = (seed: number, bootstrap = [] as { host: string; port: number }[]) =>
 *   Daemon.open({
 *     transport: network.attach(), clock, rng: seededRng(seed),
 *     randomBytes: rngBytes(seededRng(seed + 100)),
 *     storage: new MemoryStorage(), scryptLog2N: 10, dht: { bootstrap },
 *   });
 * const alice = await open(2);
 * const bob = await open(3, [alice.dht.address]);
 * const a = await alice.createAccount({ deviceName: "laptop" });
 * const b = await bob.createAccount({ deviceName: "phone" });
 * alice.start();
 * bob.start();
 * const run = async (ms: number) => { // virtual time; a real clock just runs
 *   for (let t = 0; t < ms; t += 100) {
 *     clock.advance(100);
 *     await alice.whenIdle();
 *     await bob.whenIdle();
 *   }
 * };
 * const seen: number[] = [];
 * alice.presence.on("newBuddyNotification", (n) => seen.push(n.status));
 * bob.config.on("incomingTrustRequest", (r) => bob.config.acceptTrustRequest(b, r.from));
 * bob.presence.publish(b, 1, "at my desk");
 * alice.presence.subscribeBuddy(a, `jami:${b}`, true);
 * await alice.config.sendTrustRequest(a, b, new TextEncoder().encode("BEGIN:VCARD…"));
 * await run(10_000);
 * assert.equal(alice.config.getContactDetails(a, b)?.confirmed, true);
 * assert.equal(seen.at(-1), 1); // Bob is online on the DHT
 * const stopping = bob.stop(); // a signed goodbye: Alice sees status 0 at once
 * await run(3_000);
 * await stopping;
 * assert.equal(seen.at(-1), 0);
 * const last = alice.stop();
 * await run(3_000);
 * await last;
 * ```
 *
 * @module
 */
export * from "./lib/identity/mod.ts";
export {
  loadAccountArchive,
  saveAccountArchive,
  type SaveAccountArchiveOptions,
} from "./lib/io/account_archive_file.ts";
export type { Clock, Timer } from "./lib/clock.ts";
export {
  type ClockEventSource,
  ManualClock,
} from "./lib/testing/manual_clock.ts";
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
export * from "./lib/dht/mod.ts";
export {
  type CreateJamiAccountOptions,
  Daemon,
  type DaemonOptions,
  type DaemonResource,
  type DaemonWarning,
  type ImportJamiArchiveOptions,
  type NewDeviceOptions,
} from "./lib/daemon/daemon.ts";
export type {
  AccountKind,
  ManagedAccount,
  ManagedTrustRequest,
  SendTrustRequestOptions,
} from "./lib/daemon/managed_account.ts";
export {
  JamiAccount,
  type JamiAccountComponents,
} from "./lib/jami/jami_account.ts";
export type { JamiIdentity } from "./lib/jami/jami_identity.ts";
export {
  type JamiHash,
  JamiPrivateKey,
  JamiPublicKey,
} from "./lib/jami/rsa_key.ts";
export { JamiCertificateChain } from "./lib/jami/certificate_chain.ts";
export { JamiCertificate } from "./lib/jami/certificate.ts";
export { JamiRevocationList } from "./lib/jami/revocation_list.ts";
export {
  emptyJamiAccountState,
  type JamiAccountState,
  JamiAccountStateStore,
  type JamiOutboxEntry,
  type JamiPendingRequest,
} from "./lib/jami/jami_account_state.ts";
export type {
  ConnectivityEvent,
  DaemonEventMap,
} from "./lib/daemon/connectivity_event.ts";
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
  MAX_OUTBOX_PAYLOAD_BYTES,
  MAX_PEER_CERTIFICATE_BYTES,
  MAX_PEER_DEVICES,
  MAX_PEERS,
  MAX_PENDING_PAYLOAD_BYTES,
  MAX_PENDING_REQUESTS,
  MAX_SEEN_IDS,
  MAX_SENT_TO_DEVICES,
  type OutboxEntry,
  type PeerRecord,
  type PendingRequest,
  StateCorruptError,
  StateFullError,
} from "./lib/contacts/account_state.ts";
export {
  decodeSyncSnapshot,
  encodeSyncSnapshot,
  MAX_SNAPSHOT_BYTES,
  type SyncSnapshot,
} from "./lib/contacts/sync_snapshot.ts";
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
  type LinkPathEvents,
  type LinkStatus,
} from "./lib/channel/connection_manager.ts";
export {
  type LinkSocketCounters,
  type LocalAddresses,
  type PunchedPaths,
} from "./lib/channel/link_socket.ts";
export { type LinkRendezvousCounters } from "./lib/channel/link_rendezvous.ts";
export { type LinkNat } from "./lib/channel/punch_outlook.ts";
export { type RelayJoinOptions } from "./lib/channel/relay_join.ts";
export {
  type HolePunchOptions,
  type HolePunchResult,
} from "./lib/channel/hole_punch.ts";
export {
  TcpConnectError,
  TcpConnectTimeoutError,
  TcpListenError,
  TcpStreamNetwork,
  type TcpStreamNetworkOptions,
} from "./lib/io/tcp_stream_network.ts";
