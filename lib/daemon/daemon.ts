/**
 * `Daemon`: accounts on one device, over one DHT node, with Jami's API —
 * `presence` ({@link PresenceManager}) and `config`
 * ({@link ConfigurationManager}).
 *
 * It runs over any {@link Transport} and {@link Clock}: UDP and the system
 * clock in `deno task run`, the simulated network and virtual time in
 * `deno task sim`. Account secrets are kept in the {@link Storage} as
 * passphrase-encrypted archives; each account's state next to them.
 *
 * A daemon also holds Jami-format accounts ({@link Daemon.createJamiAccount},
 * {@link Daemon.importJamiArchive}; `docs/jami.md`): the managers route each
 * call by account id to either kind ({@link Daemon.accountKind}).
 *
 * @example Two daemons on a simulated network become contacts
 * ```ts
 * import assert from "node:assert/strict";
 * import { Daemon } from "./daemon.ts";
 * import { ManualClock, MemoryStorage, seededRng, SimulatedNetwork } from "../testing/mod.ts";
 *
 * const clock = new ManualClock(1_700_000_000_000);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const open = (seed: number, bootstrap = [] as { host: string; port: number }[]) =>
 *   Daemon.open({
 *     transport: network.attach(), clock, rng: seededRng(seed),
 *     storage: new MemoryStorage(), scryptLog2N: 10, dht: { bootstrap },
 *   });
 * const alice = await open(2);
 * const bob = await open(3, [alice.dht.address]);
 * const a = await alice.createAccount();
 * const b = await bob.createAccount();
 * alice.start();
 * bob.start();
 * // Let virtual time run (and pending writes settle) for 10 seconds.
 * const run = async (ms: number) => {
 *   for (let t = 0; t < ms; t += 100) {
 *     clock.advance(100);
 *     await alice.whenIdle();
 *     await bob.whenIdle();
 *   }
 * };
 * await run(5_000);
 * let asked = "";
 * bob.config.on("incomingTrustRequest", (r) => asked = r.from);
 * await alice.config.sendTrustRequest(a, b, new TextEncoder().encode("hi"));
 * await run(10_000);
 * assert.equal(asked, a);
 * await bob.config.acceptTrustRequest(b, a);
 * await run(10_000);
 * assert.equal(alice.config.getContactDetails(a, b)?.confirmed, true);
 * // A clean stop waits (on the clock) for the goodbye's acknowledgement.
 * const stopping = Promise.all([alice.stop(), bob.stop()]);
 * await run(3_000);
 * await stopping;
 * ```
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import { KnownNodesKeeper } from "./known_nodes.ts";
import { DhtNode, type DhtNodeConfig } from "../dht/dht_node.ts";
import { AccountKeys } from "../identity/account_keys.ts";
import {
  decodeAccountArchive,
  encodeAccountArchive,
} from "../identity/account_archive.ts";
import { DeviceCertificate } from "../identity/device_certificate.ts";
import { DeviceKeys } from "../identity/device_keys.ts";
import { parseUri } from "../identity/uri.ts";
import { forkRng, type RandomBytes, type Rng } from "../rng.ts";
import { systemRandomBytes } from "../io/system_random.ts";
import { openDhtValuePolicy } from "../io/opendht_value_policy.ts";
import type { Storage } from "../storage.ts";
import type { PeerAddress, Transport } from "../transport.ts";
import { LinkSocket, type LinkSocketCounters } from "../channel/link_socket.ts";
import type { LinkNat } from "../channel/punch_outlook.ts";
import {
  AccountStateStore,
  decodeAccountState,
  emptyAccountState,
  StateCorruptError,
} from "../contacts/account_state.ts";
import {
  OUR_PROFILE,
  presenceNodeConfig,
  type PresenceProfile,
} from "../presence/presence_profile.ts";
import { MAILBOX_NAME } from "../trust/mailbox.ts";
import { Account, type AccountEvent, type AccountIdentity } from "./account.ts";
import { ConfigurationManager } from "./configuration_manager.ts";
import { MissingArchiveError, UnknownAccountError } from "./errors.ts";
import { PresenceManager } from "./presence_manager.ts";
import { WorkTracker } from "./work_tracker.ts";
import { TypedEventTarget } from "./typed_event_target.ts";
import type { DaemonEventMap } from "./connectivity_event.ts";
import type { StreamNetwork } from "../channel/byte_stream.ts";
import type { AccountKind, ManagedAccount } from "./managed_account.ts";
import { JamiAccount } from "../jami/jami_account.ts";
import {
  emptyJamiAccountState,
  JamiAccountStateStore,
} from "../jami/jami_account_state.ts";
import {
  createJamiAccountMaterial,
  exportJamiAccountMaterial,
  importJamiAccountMaterial,
  JAMI_IDENTITY_KEY,
  type JamiAccountMaterial,
  jamiIdentityKeyFor,
  openJamiAccountMaterial,
  sealJamiAccountMaterial,
} from "../jami/jami_account_files.ts";

/** What a daemon runs on, and its settings. */
export interface DaemonOptions {
  /** Datagrams for the DHT node. */
  readonly transport: Transport;
  /** Time of the DHT node and every account: timers (refreshes, retries) and timestamps; virtual in the simulator. */
  readonly clock: Clock;
  /** Randomness peers may learn without harm (jitter; seeded in the simulator). Never used for keys. */
  readonly rng: Rng;
  /** Where archives and state live. */
  readonly storage: Storage;
  /**
   * Source of key material, message ids and the DHT node's secrets and ids:
   * a cryptographic one; only the simulator passes a seeded one.
   * @default {systemRandomBytes}
   */
  readonly randomBytes?: RandomBytes;
  /** Presence and delivery parameters. @default {OUR_PROFILE} */
  readonly profile?: PresenceProfile;
  /** DHT node settings (bootstrap, id, …); the profile's are merged in. */
  readonly dht?: DhtNodeConfig;
  /** Passphrase of the account archives. @default {""} */
  readonly passphrase?: string;
  /** scrypt cost of new archives (log2 N, 10..18). @default {17} */
  readonly scryptLog2N?: number;
  /** Tracks state writes in flight (share one across simulated daemons). @default {a new one} */
  readonly work?: WorkTracker;
  /**
   * Streams for direct links to contacts' devices (status 2, notes as PIDF
   * over SIP): TCP (`TcpStreamNetwork`) or the simulator's. Without
   * it, presence stops at status 1.
   */
  readonly streams?: StreamNetwork;
  /**
   * Links through NATs: with `streams` and a profile with channels, the DHT
   * socket is shared with candidate exchange, hole punching and links over
   * UDP (`LinkSocket`), so a device behind a NAT can reach status 2 with
   * another. @default {true}
   */
  readonly punchedLinks?: boolean;
  /**
   * A relay the user configured (`RelayServer`, e.g. `--relay-serve` of a
   * reachable node of theirs or a friend's): named in our candidate sets,
   * and joined, with the exchange's token, where our NAT and a contact's
   * rule a punch out (both symmetric). The link's secure channel runs end
   * to end through it. @default {none}
   */
  readonly relay?: PeerAddress;
  /**
   * Port each account accepts links on; 0 picks a free one per account.
   * Unset: the port of the account's last run when it is free (contacts may
   * have remembered it), else a free one.
   */
  readonly channelPort?: number;
  /** Host announced for links when the listening address is a wildcard. */
  readonly channelHost?: string;
  /**
   * What the daemon owns: closed in order at the end of {@link Daemon.stop}
   * (and by {@link Daemon.crash}). `openUdpDaemon` lists its UDP socket and
   * data-directory lock here. Anything not listed, by default the
   * `transport` and `streams` above, stays the caller's to close after
   * `stop()` resolves. @default {[]}
   */
  readonly resources?: readonly DaemonResource[];
  /**
   * Told, while {@link Daemon.open} runs, about storage it skipped or
   * repaired: stray files named like accounts, and damaged state replaced
   * by its previous generation; later, about a background or final save
   * that failed. @default {ignore them}
   */
  readonly onWarning?: (warning: DaemonWarning) => void;
}

/** Something {@link Daemon.open} skipped or repaired in storage. */
export interface DaemonWarning {
  /**
   * `strayFile`: a key named like an account's archive or state that is not
   * one (not a 40-hex id, or an archive holding another account), or a
   * damaged `dht-nodes.json` (the DHT nodes known at the last run), ignored.
   * `stateRecovered`: an account's state was damaged; its previous
   * generation was loaded and written back (changes made after it are lost).
   * `saveFailed`: a save of an account's state (or of `dht-nodes.json`)
   * that nobody awaited failed (a background write, or the final one on
   * {@link Daemon.stop}, which goes on); changes since its last good save
   * may be lost.
   */
  readonly kind: "strayFile" | "stateRecovered" | "saveFailed";
  /** The storage key concerned (a file name in a data directory). */
  readonly key: string;
  /** What happened, in a sentence. */
  readonly message: string;
}

/** Something a daemon closes when it stops (a socket, a lock). */
export interface DaemonResource {
  /** Frees it; called once, after the goodbyes and the last state write. */
  close(): void | Promise<void>;
}

/** Options of {@link Daemon.createJamiAccount}. */
export interface CreateJamiAccountOptions {
  /** RSA modulus size of the CA, account and device keys. @default {4096} */
  readonly bits?: number;
  /** Told each key-generation step ("ca", "account", "device", …) as it starts. */
  readonly onProgress?: (step: string) => void;
}

/** Options of {@link Daemon.importJamiArchive}. */
export interface ImportJamiArchiveOptions {
  /** RSA modulus size of this device's new key. @default {4096} */
  readonly bits?: number;
}

/** Options of {@link Daemon.createAccount} and {@link Daemon.linkDevice}. */
export interface NewDeviceOptions {
  /** Device name shown to the account's other devices. @default {"device"} */
  readonly deviceName?: string;
}

const ARCHIVE_SUFFIX = ".archive";
const ARCHIVE_PREFIX = "account-";
const STATE_SUFFIX = ".state";
/** An account's archive key; the id is 40 lowercase hex. */
const ARCHIVE_KEY = /^account-([0-9a-f]{40})\.archive$/;
/** An account's state key (see `AccountStateStore.keyFor`). */
const STATE_KEY = /^account-([0-9a-f]{40})\.state$/;

function archiveKeyFor(accountId: string): string {
  return `${ARCHIVE_PREFIX}${accountId}${ARCHIVE_SUFFIX}`;
}

/**
 * Accounts on one device. Its own event, `connectivity`
 * ({@link DaemonEventMap}), says when its DHT node loses or regains the
 * network.
 */
export class Daemon extends TypedEventTarget<DaemonEventMap> {
  /** The DHT node all accounts share. */
  readonly dht: DhtNode;
  /** Subscribe to buddies, read their status and publish our own, per account. */
  readonly presence: PresenceManager;
  /** Trust requests and contacts API. */
  readonly config: ConfigurationManager;
  /** Presence and delivery parameters, from the options or {@link OUR_PROFILE}. */
  readonly profile: PresenceProfile;
  readonly #options: DaemonOptions;
  readonly #randomBytes: RandomBytes;
  readonly #accounts = new Map<string, Account>();
  readonly #jamiAccounts = new Map<string, JamiAccount>();
  readonly #work: WorkTracker;
  /** The DHT socket shared with links through NATs, when they are on. */
  readonly #linkSocket: LinkSocket | undefined;
  #running = false;
  /** Keeps the DHT nodes worth a restart (`dht-nodes.json`). */
  readonly #knownNodes: KnownNodesKeeper;
  #stopping: Promise<void> | undefined;
  #released: Promise<void> | undefined;

  private constructor(options: DaemonOptions) {
    super();
    this.#options = options;
    this.profile = options.profile ?? OUR_PROFILE;
    this.#work = options.work ?? new WorkTracker();
    // Keys never come from the rng: a seeded generator (or one whose state a
    // peer recovered) would give them away.
    this.#randomBytes = options.randomBytes ?? systemRandomBytes;
    // Punches and UDP links leave from the DHT socket: its NAT mapping is
    // the one DHT peers observed, which our candidates announce.
    this.#linkSocket = options.streams !== undefined &&
        this.profile.channels && (options.punchedLinks ?? true)
      ? new LinkSocket({
        socket: options.transport,
        clock: options.clock,
        randomBytes: this.#randomBytes,
      })
      : undefined;
    this.dht = new DhtNode(
      {
        transport: this.#linkSocket?.dht ?? options.transport,
        clock: options.clock,
        rng: forkRng(options.rng, "dht"),
        randomBytes: this.#randomBytes,
      },
      {
        // Jami's values are stored here too: OpenDHT's signature and
        // certificate-key rules apply to them (`docs/jami.md`).
        valuePolicy: openDhtValuePolicy,
        ...presenceNodeConfig(this.profile),
        ...options.dht,
      },
    );
    this.#knownNodes = new KnownNodesKeeper({
      clock: options.clock,
      storage: options.storage,
      dht: this.dht,
      track: (work) => this.#work.track(work),
      onWarning: (warning) => options.onWarning?.(warning),
    });
    this.dht.connectivity.onChange((state, atMs) => {
      if (!this.#running) return;
      for (const account of this.#accounts.values()) {
        account.setConnectivity(state);
      }
      this.emit("connectivity", { state, atMs });
    });
    const lookup = (accountId: string) => this.#managed(accountId);
    this.presence = new PresenceManager(lookup);
    this.config = new ConfigurationManager(lookup);
  }

  /**
   * Opens a daemon and loads the accounts found in its storage (not started).
   *
   * @param options Components and settings.
   * @returns The daemon.
   * @throws {WrongPassphraseError} If an archive does not open with the passphrase.
   * @throws {ArchiveCorruptError} If an archive is damaged.
   * @throws {StateCorruptError} If an account's state is damaged and no
   *   good previous generation is kept (see {@link Storage.getPrevious}).
   * @throws {MissingArchiveError} If an account's state is present without its archive.
   */
  static async open(options: DaemonOptions): Promise<Daemon> {
    const daemon = new Daemon(options);
    const warn = options.onWarning ?? (() => {});
    const keys = await options.storage.keys();
    const archives = new Map<string, string>();
    const states = new Map<string, string>();
    for (const key of keys) {
      if (!key.startsWith(ARCHIVE_PREFIX)) continue;
      const archive = ARCHIVE_KEY.exec(key);
      const state = STATE_KEY.exec(key);
      if (archive !== null) archives.set(archive[1], key);
      else if (state !== null) states.set(state[1], key);
      else if (key.endsWith(ARCHIVE_SUFFIX) || key.endsWith(STATE_SUFFIX)) {
        warn({
          kind: "strayFile",
          key,
          message:
            `ignored "${key}": named like an account file but not "${ARCHIVE_PREFIX}<40 hex>${ARCHIVE_SUFFIX}" or "${STATE_SUFFIX}"`,
        });
      }
    }
    for (const [id, stateKey] of states) {
      if (!archives.has(id)) {
        throw new MissingArchiveError(id, archiveKeyFor(id), stateKey);
      }
    }
    for (const [id, key] of [...archives].sort(([a], [b]) => a < b ? -1 : 1)) {
      const bytes = await options.storage.get(key);
      if (bytes === undefined) continue;
      const contents = await decodeAccountArchive(
        bytes,
        options.passphrase ?? "",
        key,
      );
      if (contents.account.id.toString() !== id) {
        warn({
          kind: "strayFile",
          key,
          message: `ignored "${key}": it holds account ${contents.account.id}`,
        });
        continue;
      }
      await daemon.#addAccount(contents);
    }
    await daemon.#loadJamiAccounts(keys);
    daemon.dht.importNodes(
      await KnownNodesKeeper.load(options.storage, keys, warn),
    );
    return daemon;
  }

  /** Opens every `jami-<id>.identity` of the storage. */
  async #loadJamiAccounts(keys: readonly string[]): Promise<void> {
    const storage = this.#options.storage;
    for (const key of keys) {
      const match = JAMI_IDENTITY_KEY.exec(key);
      if (match === null) continue;
      const bytes = await storage.get(key);
      if (bytes === undefined) continue;
      const material = await openJamiAccountMaterial(
        bytes,
        this.#options.passphrase ?? "",
        key,
      );
      if (material.identity.accountId !== match[1]) {
        this.#options.onWarning?.({
          kind: "strayFile",
          key,
          message:
            `ignored "${key}": it holds Jami account ${material.identity.accountId}`,
        });
        continue;
      }
      await this.#addJamiAccount(material);
    }
  }

  /**
   * The stored state of account `id`, or its previous generation (written
   * back, with a warning) when the current one is damaged.
   */
  async #loadState(id: string): Promise<AccountStateStore | undefined> {
    const storage = this.#options.storage;
    try {
      return await AccountStateStore.load(storage, id);
    } catch (error) {
      if (!(error instanceof StateCorruptError)) throw error;
      const previous = await storage.getPrevious?.(
        AccountStateStore.keyFor(id),
      );
      if (previous === undefined) throw error;
      let state;
      try {
        state = decodeAccountState(previous);
      } catch {
        throw error;
      }
      const store = new AccountStateStore(storage, id, state);
      // Written back now, so the damaged bytes become the previous
      // generation and the good ones the current.
      await store.save();
      this.#options.onWarning?.({
        kind: "stateRecovered",
        key: AccountStateStore.keyFor(id),
        message:
          `${error.message}; loaded its previous generation instead (changes saved after it are lost)`,
      });
      return store;
    }
  }

  /** True between start and stop. */
  get running(): boolean {
    return this.#running;
  }

  /** Counters of the socket shared with links through NATs, if they are on. */
  get linkSocketCounters(): LinkSocketCounters | undefined {
    return this.#linkSocket?.counters;
  }

  /**
   * Where a contact may punch to us: our public IP as DHT peers observed
   * it with the public port our own DHT repliers saw, if it is not ours,
   * and with the DHT port (a port-keeping NAT maps it to itself), and the
   * bound address unless it is a wildcard.
   */
  #candidates(): PeerAddress[] {
    const { host, port } = this.dht.address;
    const candidates: PeerAddress[] = [];
    const observed = this.dht.observedHost;
    // A NAT that keeps one public port but not ours: the port our DHT
    // repliers saw (`sp`), first.
    const seenPort = this.dht.observedPort;
    if (observed !== undefined && seenPort !== undefined && seenPort !== port) {
      candidates.push({ host: observed, port: seenPort });
    }
    if (observed !== undefined) candidates.push({ host: observed, port });
    if (host !== "0.0.0.0" && host !== "::" && host !== observed) {
      candidates.push({ host, port });
    }
    return candidates;
  }

  /** What we know of our NAT, for our candidate sets (`punchOutlook`). */
  #nat(): LinkNat {
    if (this.dht.observedHost === undefined) return "unknown";
    if (!this.dht.behindNat) return "public";
    return this.dht.observedMapping ?? "unknown";
  }

  /** Asynchronous work (state writes) not finished yet. */
  get pendingWork(): number {
    return this.#work.size;
  }

  /** Resolves once every pending state write has finished. */
  whenIdle(): Promise<void> {
    return this.#work.whenIdle();
  }

  #track = <T>(work: Promise<T>): Promise<T> => this.#work.track(work);

  async #addAccount(identity: AccountIdentity): Promise<Account> {
    const id = identity.account.id.toString();
    const store = await this.#loadState(id) ??
      new AccountStateStore(this.#options.storage, id, emptyAccountState());
    const account = new Account({
      identity,
      dht: this.dht,
      clock: this.#options.clock,
      randomBytes: this.#randomBytes,
      profile: this.profile,
      store,
      emit: (event) => this.#emit(id, event),
      onSaveError: (error) =>
        (this.#options.onWarning ?? (() => {}))({
          kind: "saveFailed",
          key: AccountStateStore.keyFor(id),
          message: `could not save "${AccountStateStore.keyFor(id)}": ${
            (error as Error)?.message ?? String(error)
          }`,
        }),
      track: this.#track,
      streams: this.#options.streams,
      paths: this.#linkSocket?.paths({
        candidates: () => this.#candidates(),
        behindNat: () =>
          this.dht.observedHost === undefined ? undefined : this.dht.behindNat,
        nat: () => this.#nat(),
        configuredRelay: () => this.#options.relay,
      }),
      channelPort: this.#options.channelPort,
      channelHost: this.#options.channelHost,
      reachable: () => !this.dht.connectivity.silent,
    });
    this.#accounts.set(id, account);
    if (this.#running) account.start();
    // An account added during an outage holds its contacts' presence too.
    if (this.#running && this.dht.connectivity.state === "offline") {
      account.setConnectivity("offline");
    }
    return account;
  }

  async #addJamiAccount(material: JamiAccountMaterial): Promise<JamiAccount> {
    const id = material.identity.accountId;
    const storage = this.#options.storage;
    const store = await JamiAccountStateStore.load(storage, id) ??
      new JamiAccountStateStore(storage, id, emptyJamiAccountState());
    const account = new JamiAccount({
      identity: material.identity,
      dht: this.dht,
      clock: this.#options.clock,
      randomBytes: this.#randomBytes,
      store,
      emit: (event) => this.#emit(id, event),
      onSaveError: (error) =>
        (this.#options.onWarning ?? (() => {}))({
          kind: "saveFailed",
          key: JamiAccountStateStore.keyFor(id),
          message: `could not save "${JamiAccountStateStore.keyFor(id)}": ${
            (error as Error)?.message ?? String(error)
          }`,
        }),
      track: this.#track,
      revocationList: () => material.revocationList,
    });
    this.#jamiAccounts.set(id, account);
    this.#jamiMaterial.set(id, material);
    if (this.#running) account.start();
    return account;
  }

  readonly #jamiMaterial = new Map<string, JamiAccountMaterial>();

  #emit(accountId: string, event: AccountEvent): void {
    switch (event.type) {
      case "newBuddyNotification": {
        const { type, ...detail } = event;
        this.presence.emit(type, { accountId, ...detail });
        return;
      }
      case "incomingTrustRequest": {
        // Jami reports the receive time in seconds.
        const { type, receiveTime, ...detail } = event;
        this.config.emit(type, {
          accountId,
          ...detail,
          receiveTime: Math.floor(receiveTime / 1_000),
        });
        return;
      }
      default: {
        const { type, ...detail } = event;
        // Every other event carries the same fields in the manager's map.
        (this.config.emit as (t: string, d: unknown) => void)(type, {
          accountId,
          ...detail,
        });
      }
    }
  }

  /**
   * The running account `accountId`.
   *
   * @param accountId Account id (URI forms accepted).
   * @returns The account.
   * @throws {UnknownAccountError} If there is none.
   */
  account(accountId: string): Account {
    let id: string;
    try {
      id = parseUri(accountId).toString();
    } catch {
      throw new UnknownAccountError(accountId);
    }
    const account = this.#accounts.get(id);
    if (account === undefined) throw new UnknownAccountError(accountId);
    return account;
  }

  /**
   * The running Jami account `accountId`.
   *
   * @param accountId Jami account id (URI forms accepted).
   * @returns The account.
   * @throws {UnknownAccountError} If there is none.
   */
  jamiAccount(accountId: string): JamiAccount {
    let id: string;
    try {
      id = parseUri(accountId).toString();
    } catch {
      throw new UnknownAccountError(accountId);
    }
    const account = this.#jamiAccounts.get(id);
    if (account === undefined) throw new UnknownAccountError(accountId);
    return account;
  }

  /** Either kind of account, for the managers. */
  #managed(accountId: string): ManagedAccount {
    let id: string;
    try {
      id = parseUri(accountId).toString();
    } catch {
      throw new UnknownAccountError(accountId);
    }
    const account = this.#accounts.get(id) ?? this.#jamiAccounts.get(id);
    if (account === undefined) throw new UnknownAccountError(accountId);
    return account;
  }

  /**
   * Which protocol account `accountId` speaks.
   *
   * @param accountId An account of this daemon (URI forms accepted).
   * @returns `"dht-contacts"` (ours) or `"jami"`.
   * @throws {UnknownAccountError} If there is none.
   */
  accountKind(accountId: string): AccountKind {
    return this.#managed(accountId).kind;
  }

  /** Account ids on this daemon: ours, then Jami-format ones. */
  listAccounts(): string[] {
    return [...this.#accounts.keys(), ...this.#jamiAccounts.keys()];
  }

  /**
   * Starts the DHT node and every account.
   *
   * @throws {Error} If `stop()` already closed the daemon's own resources.
   */
  start(): void {
    if (this.#running) return;
    if (this.#released !== undefined) {
      throw new Error("Cannot start daemon: stop() closed its resources");
    }
    this.#running = true;
    this.#stopping = undefined;
    this.dht.start();
    this.#knownNodes.start();
    for (const account of this.#accounts.values()) account.start();
    for (const account of this.#jamiAccounts.values()) account.start();
  }

  /**
   * Stops cleanly: goodbyes sent (and acknowledged, or given up after 2 s),
   * state flushed, the DHT node stopped, then the daemon's own
   * {@link DaemonOptions.resources} closed. A transport or stream network
   * passed in without being listed there is not closed: the caller closes
   * it after this resolves. Calls while stopping share one promise.
   *
   * @returns Resolves once everything is stopped and closed.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.#running) {
      this.#running = false;
      // A failed final save is reported, never thrown: the rest still stops.
      const warn = this.#options.onWarning ?? (() => {});
      await Promise.all(
        [...this.#accounts.values(), ...this.#jamiAccounts.values()].map((
          account,
        ) => {
          const key = account.kind === "jami"
            ? JamiAccountStateStore.keyFor(account.id)
            : AccountStateStore.keyFor(account.id);
          return account.stop().catch((error: unknown) =>
            warn({
              kind: "saveFailed",
              key,
              message: `could not save "${key}" on stop: ${
                (error as Error)?.message ?? String(error)
              }`,
            })
          );
        }),
      );
      await this.#knownNodes.stop();
      await this.whenIdle();
      this.dht.stop();
      this.#linkSocket?.close();
    }
    await this.#release();
  }

  /** Closes the owned resources once, all of them even if one fails. */
  #release(): Promise<void> {
    const resources = this.#options.resources ?? [];
    if (resources.length === 0) return Promise.resolve();
    this.#released ??= (async () => {
      const errors: unknown[] = [];
      for (const resource of resources) {
        try {
          await resource.close();
        } catch (error) {
          errors.push(error);
        }
      }
      if (errors.length > 0) throw errors[0];
    })();
    return this.#released;
  }

  /**
   * Stops at once with no goodbye and no final write, as a killed process
   * would (for simulations and tests). Writes already started complete.
   */
  crash(): void {
    this.#running = false;
    this.#knownNodes.crash();
    for (const account of this.#accounts.values()) account.crash();
    for (const account of this.#jamiAccounts.values()) account.crash();
    this.dht.stop();
    this.#linkSocket?.crash();
    // A killed process loses its sockets and locks too; nobody awaits this.
    this.#release().catch(() => {});
  }

  async #saveArchive(identity: AccountIdentity): Promise<void> {
    const bytes = await encodeAccountArchive(identity, {
      passphrase: this.#options.passphrase ?? "",
      scryptLog2N: this.#options.scryptLog2N,
      randomBytes: this.#randomBytes,
    });
    await this.#options.storage.set(
      archiveKeyFor(identity.account.id.toString()),
      bytes,
    );
  }

  #newDevice(account: AccountKeys, options: NewDeviceOptions): AccountIdentity {
    const deviceName = options.deviceName ?? "device";
    if (deviceName === MAILBOX_NAME) {
      throw new RangeError(`Device name "${MAILBOX_NAME}" is reserved`);
    }
    const device = DeviceKeys.generate(this.#randomBytes);
    const certificate = DeviceCertificate.issue(account, device, {
      name: deviceName,
      issuedMs: Math.floor(this.#options.clock.now()),
    });
    return { account, device, certificate };
  }

  /**
   * Creates an account with this device as its first device; the archive is
   * written before this resolves.
   *
   * @param options Device name.
   * @returns The account id.
   */
  async createAccount(options: NewDeviceOptions = {}): Promise<string> {
    const identity = this.#newDevice(
      AccountKeys.generate(this.#randomBytes),
      options,
    );
    await this.#track(this.#saveArchive(identity));
    const account = await this.#addAccount(identity);
    return account.id;
  }

  /**
   * The account's archive, to link another device (encrypted with `passphrase`).
   *
   * @param accountId A running account of this daemon (40 hex).
   * @param passphrase Passphrase for the exported archive.
   * @returns Archive bytes.
   */
  async exportAccount(
    accountId: string,
    passphrase: string,
  ): Promise<Uint8Array> {
    const account = this.account(accountId);
    return await encodeAccountArchive(account.identity, {
      passphrase,
      scryptLog2N: this.#options.scryptLog2N,
      randomBytes: this.#randomBytes,
    });
  }

  /**
   * Links this device to an existing account from its exported archive: a
   * new device key, certified by the account.
   *
   * @param archive Bytes from {@link Daemon.exportAccount}.
   * @param passphrase The export passphrase.
   * @param options Device name.
   * @returns The account id.
   * @throws {WrongPassphraseError} If the passphrase is wrong.
   * @throws {ArchiveCorruptError} If the archive is damaged.
   */
  async linkDevice(
    archive: Uint8Array,
    passphrase: string,
    options: NewDeviceOptions = {},
  ): Promise<string> {
    const contents = await decodeAccountArchive(archive, passphrase);
    const id = contents.account.id.toString();
    if (this.#accounts.has(id)) return id;
    const identity = this.#newDevice(contents.account, options);
    await this.#track(this.#saveArchive(identity));
    const account = await this.#addAccount(identity);
    return account.id;
  }

  /**
   * Creates a Jami-format account (CA, account and device keys and
   * certificates, as jamid makes them) with this device as its first
   * device; its sealed identity is written before this resolves.
   *
   * @param options Key size (RSA-4096 by default, as Jami) and a progress callback.
   * @returns The Jami account id (40 hex).
   */
  async createJamiAccount(
    options: CreateJamiAccountOptions = {},
  ): Promise<string> {
    const material = await createJamiAccountMaterial({
      bits: options.bits,
      onProgress: options.onProgress,
      now: this.#options.clock.now(),
      random: this.#randomBytes,
    });
    await this.#track(this.#saveJamiMaterial(material));
    const account = await this.#addJamiAccount(material);
    return account.id;
  }

  /**
   * Adds a Jami account from its archive (`archive.gz` as jamid exports
   * it, or {@link Daemon.exportJamiArchive}'s bytes) as a new device of it:
   * a new device key and certificate issued by the account key. If the
   * account is already on this daemon, nothing changes.
   *
   * @param bytes The archive.
   * @param password Its password, if it has one.
   * @param options This device's key size.
   * @returns The Jami account id (40 hex).
   * @throws {JamiArchiveError} If the archive is damaged or the password wrong.
   */
  async importJamiArchive(
    bytes: Uint8Array,
    password?: string,
    options: ImportJamiArchiveOptions = {},
  ): Promise<string> {
    const { accountId, material } = await importJamiAccountMaterial(
      bytes,
      password,
      {
        bits: options.bits,
        now: this.#options.clock.now(),
        random: this.#randomBytes,
        // An account already here keeps its device: no new key is made.
        skip: (id) => this.#jamiAccounts.has(id),
      },
    );
    if (material === undefined) return accountId;
    await this.#track(this.#saveJamiMaterial(material));
    const account = await this.#addJamiAccount(material);
    return account.id;
  }

  /**
   * The archive of a Jami account (jamid's `archive.gz` format), to import
   * it on another device, here or in jamid.
   *
   * @param accountId A Jami account of this daemon.
   * @param password Encrypts the archive (argon2 + AES-GCM, as jamid) when given.
   * @returns The archive bytes.
   * @throws {UnknownAccountError} If there is no such Jami account.
   */
  async exportJamiArchive(
    accountId: string,
    password?: string,
  ): Promise<Uint8Array> {
    const account = this.jamiAccount(accountId);
    return await exportJamiAccountMaterial(
      this.#jamiMaterial.get(account.id)!,
      password,
      account.state.revocationList,
    );
  }

  async #saveJamiMaterial(material: JamiAccountMaterial): Promise<void> {
    const bytes = await sealJamiAccountMaterial(material, {
      passphrase: this.#options.passphrase ?? "",
      scryptLog2N: this.#options.scryptLog2N,
      randomBytes: this.#randomBytes,
    });
    await this.#options.storage.set(
      jamiIdentityKeyFor(material.identity.accountId),
      bytes,
    );
  }

  /**
   * Revokes another device of an account (lost or stolen); contacts then
   * ignore it.
   *
   * @param accountId A running account of this daemon (40 hex), which signs the revocation.
   * @param deviceId The device to revoke (40 hex).
   */
  async revokeDevice(accountId: string, deviceId: string): Promise<void> {
    if (this.#managed(accountId).kind === "jami") {
      await this.jamiAccount(accountId).revokeDevice(deviceId);
      return;
    }
    await this.account(accountId).revokeDevice(deviceId);
  }

  /**
   * Removes an account from this device (goodbye, then its archive and
   * state are deleted).
   *
   * @param accountId A running account of this daemon (40 hex).
   */
  async removeAccount(accountId: string): Promise<void> {
    if (this.#managed(accountId).kind === "jami") {
      const jami = this.jamiAccount(accountId);
      await jami.stop();
      this.#jamiAccounts.delete(jami.id);
      this.#jamiMaterial.delete(jami.id);
      await new JamiAccountStateStore(
        this.#options.storage,
        jami.id,
        emptyJamiAccountState(),
      ).remove();
      await this.#options.storage.delete(jamiIdentityKeyFor(jami.id));
      return;
    }
    const account = this.account(accountId);
    await account.stop();
    this.#accounts.delete(account.id);
    // State first: a crash in between must not leave state without its
    // archive, which would stop the next open (MissingArchiveError).
    await new AccountStateStore(
      this.#options.storage,
      account.id,
      emptyAccountState(),
    ).remove();
    await this.#options.storage.delete(archiveKeyFor(account.id));
  }
}
