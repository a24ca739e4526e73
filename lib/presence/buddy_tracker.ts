/**
 * `BuddyTracker`: watches one contact's account hash and derives its
 * presence from what is stored there.
 *
 * It listens at the account hash, and for every value:
 * - a {@link DeviceAnnouncement} counts only if the device signed it, the
 *   tracked account certified the device, the device is not revoked, and the
 *   record is within its validity window (anything else is dropped and
 *   counted);
 * - every revocation list signed by the account adds to the devices it
 *   revoked (the union: two devices may publish the same sequence number;
 *   an expired list still counts), and devices it revokes go offline at
 *   once;
 * - the account's mailbox certificate is kept for senders.
 *
 * Per device it keeps the live values and the highest sequence seen: the
 * device is online while its newest live record is not a goodbye and the
 * newest record's signed validity lasts, so a record that expires while a
 * newer one lives changes nothing (no flapping), and a replayed older record
 * cannot undo a goodbye (storing nodes keep a goodbye until the records
 * before it are no longer valid, so a tracker started later hears it too).
 * Online never outlasts the signed expiry of the newest record, however
 * often anyone re-puts it. The contact's status is 1 while any device is
 * online, else 0; every change calls `onChange`.
 *
 * Announcements are public, so anyone can re-put a device's signed record
 * under other value ids. Values are therefore deduplicated by device and
 * sequence: one value id per record (the device's own,
 * {@link announcementValueId}, once heard, else the first heard), and the
 * newest {@link MAX_RECORDS_PER_DEVICE} records per device. Copies take no
 * slot, so they cannot crowd out a newer record or another device, and their
 * expiry is not the record's; a confirmation `get` (below) looks for the
 * record under any id.
 *
 * When some storing nodes report an expiry while others have not (a missed
 * refresh, or a holder that died), the tracker waits `expiryCheckMs` and asks
 * the DHT (`get`) whether the value is still stored anywhere before believing
 * it. A check that no node answered while our own node hears nothing back
 * (`reachable` false) proves nothing: it is asked again later, the wait
 * doubling up to 30 s, and the values stay as they are meanwhile. After an
 * outage of our own, {@link BuddyTracker.recheck} looks everything up again.
 *
 * Stock OpenDHT storing nodes do not know our announcement type: they keep it
 * 10 minutes and push every refresh of it to listeners. With `quietOfflineMs`
 * set, those pushes are heartbeats: a device whose records were refreshed by
 * pushes at least once, or are held by a storing node we listen at that
 * pushes refreshes (the listen reports them `audible`: the node answered our
 * listen without naming their type among those whose refreshes it keeps
 * quiet; our own nodes name the announcement type), and then heard nothing
 * (no refresh, no new record) for `quietOfflineMs` is shown offline, long
 * before the 10-minute value lapses; a later push brings it back. Counting
 * from `audible` matters for a device that crashes less than one refresh
 * period after we first heard it: no refresh of it is ever pushed to us. Our
 * own storing nodes push no refreshes, so a device they alone hold is never
 * judged this way (its value expires in seconds there). The silence may also be that of the listen's storing nodes (all of them died):
 * a device going quiet makes the listen renew at its nodes
 * (`ListenHandle.check`), which moves it if they are gone, and the next push
 * brings the device back.
 * Silence is judged only while our own node hears the DHT (`reachable`):
 * when we do not, every push stops for reasons of our own, so the judgment
 * waits ({@link SILENCE_PAUSE_POLL_MS} at a time) and nobody goes quiet;
 * {@link BuddyTracker.recheck}, after an outage of our own, starts every
 * device's silence afresh (the relocated listens need time to hear the next
 * refresh).
 *
 * While something else vouches for the devices (a direct link to each:
 * `BuddySubscriptions.settle`), {@link BuddyTracker.pause} stops the listen
 * and freezes what is known: a device online stays online, no expiry or
 * silence is judged, and the account hash is only looked up every
 * {@link PAUSED_POLL_MS} for devices not known yet.
 * {@link BuddyTracker.resume} listens again and looks up what changed.
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";
import type {
  DhtClient,
  ListenHandle,
  OperationHandle,
} from "../dht/dht_client.ts";
import type { DhtValue } from "../dht/messages.ts";
import type { SearchResult } from "../dht/search.ts";
import { DeviceCertificate } from "../identity/device_certificate.ts";
import type { InfoHash } from "../identity/info_hash.ts";
import { RevocationList } from "../identity/revocation_list.ts";
import { RevokedDevices } from "../identity/revoked_devices.ts";
import { SignedRecord } from "../identity/signed_record.ts";
import { isMailboxCertificate } from "../trust/mailbox.ts";
import { announcementValueId } from "./announcer.ts";
import {
  DEVICE_ANNOUNCEMENT_TYPE,
  DeviceAnnouncement,
} from "./device_announcement.ts";
import {
  ANNOUNCEMENT_VALUE_TYPE,
  GOODBYE_VALUE_TYPE,
} from "./presence_profile.ts";

/**
 * While our own node hears nothing back (`reachable` false), a device due to
 * be judged by silence is looked at again this much later instead.
 */
export const SILENCE_PAUSE_POLL_MS = 5_000;

/**
 * While paused ({@link BuddyTracker.pause}), the account hash is looked up
 * (`get`) this often, so that a device of the account that was not known
 * (a new one) is found within this bound: 30 minutes.
 */
export const PAUSED_POLL_MS = 30 * 60_000;

/** Most devices tracked per contact. */
export const MAX_TRACKED_DEVICES = 64;
/** Most live records (one value id each) tracked per device: the newest. */
export const MAX_RECORDS_PER_DEVICE = 4;
/** Longest wait between expiry checks that no node answered: 30 s. */
export const MAX_INCONCLUSIVE_CHECK_MS = 30_000;
/** Most live values tracked per contact. */
export const MAX_TRACKED_VALUES = MAX_TRACKED_DEVICES * MAX_RECORDS_PER_DEVICE;

/** What the tracker knows about one device. */
export interface TrackedDevice {
  /** The device's verified certificate. */
  readonly certificate: DeviceCertificate;
  /** Its newest verified announcement. */
  readonly announcement: DeviceAnnouncement;
  /** Online: the newest live record is not a goodbye. */
  readonly online: boolean;
}

/** Counters of a tracker. */
export interface TrackerCounters {
  /** Values refused (bad signature, foreign signer, revoked, expired, malformed). */
  rejected: number;
  /** Confirmation `get`s run after partial expiries. */
  expiryChecks: number;
}

interface DeviceState {
  certificate: DeviceCertificate;
  /** Newest announcement (live or not). */
  newest: DeviceAnnouncement;
  /**
   * Live value ids of this device's announcements → seq: one id per seq, at
   * most {@link MAX_RECORDS_PER_DEVICE}, the highest seqs.
   */
  live: Map<bigint, number>;
  /** Highest sequence number of a goodbye heard (live records at or below it do not count). */
  goodbyeSeq: number;
  /** Online at the last update. */
  online: boolean;
  /** Its note or endpoints changed since the last update. */
  edited?: boolean;
  /** When a push last showed it alive (a refresh of a record, or a new record). */
  lastBeatMs: number;
  /** When it was first heard (see {@link BuddyTracker.pause}). */
  readonly firstHeardMs: number;
  /**
   * A storing node we listen at pushed a refresh of its records, or holds
   * them and pushes refreshes (`audible`): silence means something.
   */
  beating: boolean;
  /** Beating, then silent for `quietOfflineMs`: shown offline until the next push. */
  quiet: boolean;
}

/** Options of a {@link BuddyTracker}. */
export interface BuddyTrackerOptions {
  /** The DHT node to listen with. */
  readonly dht: DhtClient;
  /** Time source for record validity and expiry checks. */
  readonly clock: Clock;
  /** The tracked account: its hash is the key listened at. */
  readonly accountId: InfoHash;
  /** See the module doc; 0 believes expiries as reported. */
  readonly expiryCheckMs: number;
  /**
   * A device whose records' refreshes were pushed (stock storing nodes) and
   * then stopped for this long is offline (see the module doc); 0 or absent:
   * only expiries count. @default {0}
   */
  readonly quietOfflineMs?: number;
  /**
   * How many storing nodes to listen at (1 to 4; see
   * `PresenceProfile.listenNodes`). @default {4}
   */
  readonly listenNodes?: number;
  /**
   * While paused, the account hash is looked up this often (see
   * {@link BuddyTracker.pause}). @default {PAUSED_POLL_MS}
   */
  readonly pausedPollMs?: number;
  /** Called with the new status (0 or 1) on every change. */
  readonly onChange: (status: 0 | 1) => void;
  /**
   * False while our own node hears nothing back from the DHT (see
   * `ConnectivityMonitor.silent`): a lookup no node answered is then no
   * evidence that a record is gone. @default {always true}
   */
  readonly reachable?: () => boolean;
  /** Called when a device comes online or goes offline. */
  readonly onDevice?: (device: TrackedDevice) => void;
  /** Called with every verified revocation list heard (the account's own devices merge them). */
  readonly onRevocationList?: (list: RevocationList) => void;
}

/** Watches one account's presence. */
export class BuddyTracker {
  /** The tracked account. */
  readonly accountId: InfoHash;
  /** Records rejected (bad signature, wrong account, revoked) and expiry checks made. */
  readonly counters: TrackerCounters = { rejected: 0, expiryChecks: 0 };
  readonly #options: BuddyTrackerOptions;
  readonly #devices = new Map<string, DeviceState>();
  /** Value id → device hex, for values that are announcements. */
  readonly #valueDevice = new Map<bigint, string>();
  readonly #expiring = new Set<bigint>();
  readonly #revoked: RevokedDevices;
  #mailbox?: DeviceCertificate;
  #listen?: ListenHandle;
  #checkTimer?: Timer;
  #check?: OperationHandle;
  #recheck?: OperationHandle;
  /** Who waits for the running re-check; told also if it is cut short. */
  #recheckDone?: () => void;
  #expiryTimer?: Timer;
  #status: 0 | 1 = 0;
  /** Expiry checks in a row that no node answered. */
  #inconclusiveChecks = 0;
  /** Paused: no listen; devices online at the pause stay online. */
  #paused = false;
  /** pause() was asked and waits for the silence rule's evidence (see pause()). */
  #pauseWanted = false;
  #pauseTimer?: Timer;
  #pollTimer?: Timer;
  #poll?: OperationHandle;

  /**
   * A tracker (call {@link BuddyTracker.start}).
   *
   * @param options See {@link BuddyTrackerOptions}.
   */
  constructor(options: BuddyTrackerOptions) {
    this.#options = options;
    this.accountId = options.accountId;
    this.#revoked = new RevokedDevices(options.accountId);
  }

  /** 0 offline, 1 at least one device online. */
  get status(): 0 | 1 {
    return this.#status;
  }

  /** True between {@link BuddyTracker.pause} and {@link BuddyTracker.resume}. */
  get paused(): boolean {
    return this.#paused;
  }

  /** The account's mailbox certificate, once seen. */
  get mailbox(): DeviceCertificate | undefined {
    return this.#mailbox;
  }

  /** The devices the account revoked: the union of its verified lists. */
  get revocationList(): RevokedDevices {
    return this.#revoked;
  }

  /** Devices known, online or not. */
  devices(): TrackedDevice[] {
    return [...this.#devices.values()].map((state) => this.#view(state));
  }

  /** Starts listening. */
  start(): void {
    if (this.#listen !== undefined) return;
    this.#listen = this.#options.dht.listen(this.accountId, (event) => {
      switch (event.kind) {
        case "added":
          for (const value of event.values) this.#onValue(value);
          break;
        case "expired":
          this.#onListenExpired(event.ids);
          break;
        case "expiring":
          this.#onExpiring(event.ids);
          break;
        case "refreshed":
          this.#onRefreshed(event.ids);
          break;
        case "audible":
          this.#onAudible(event.ids);
          break;
      }
      this.#update();
    }, { nodes: this.#options.listenNodes });
  }

  /** Stops listening and forgets everything (status back to 0, silently). */
  stop(): void {
    this.#listen?.cancel();
    this.#listen = undefined;
    this.#endPause();
    this.#checkTimer?.cancel();
    this.#check?.cancel();
    this.#endRecheck();
    this.#expiryTimer?.cancel();
    this.#devices.clear();
    this.#valueDevice.clear();
    this.#expiring.clear();
    this.#inconclusiveChecks = 0;
    this.#status = 0;
  }

  /**
   * Looks again after an outage of our own, when pushes may have been
   * missed: moves the listen, and asks the DHT (`get`) what is stored now.
   * Values found are taken as pushed; tracked records the lookup did not
   * find are dropped (the `get` is the same evidence an expiry check
   * gathers), unless no node answered it while our own node hears nothing
   * back (then nothing is dropped). The silence rule's count starts again
   * for every device not already quiet.
   *
   * @param onDone Called once the lookup ended (also when stopped meanwhile).
   */
  recheck(onDone?: () => void): void {
    if (this.#listen === undefined) {
      onDone?.();
      return;
    }
    this.#listen.relocate();
    this.#lookUp(onDone);
  }

  /**
   * Stops listening while something else vouches for every online device
   * (the account links to each of them directly: a link notices a silent
   * device within its dead timer). The devices and records known stay, and
   * a device online now stays online while paused, however old its record
   * grows (its re-signed records are not heard); no expiry is judged. The
   * account hash is looked up every `pausedPollMs` meanwhile, so that a
   * device not known yet is found within that bound (it is then reported as
   * usual, and its subscriber resumes). Does nothing unless listening.
   *
   * With the silence rule on (`quietOfflineMs`), the pause waits until
   * every device was heard `quietOfflineMs` ago without a refresh pushed,
   * and never comes while refreshes are pushed: on stock storing nodes the
   * rule needs those pushes (a crashed device is seen by their silence, and
   * the 10-minute records do not lapse), so the listen stays.
   */
  pause(): void {
    if (this.#listen === undefined || this.#paused) return;
    this.#pauseWanted = true;
    this.#tryPause();
  }

  #tryPause(): void {
    this.#pauseTimer?.cancel();
    this.#pauseTimer = undefined;
    if (!this.#pauseWanted || this.#paused || this.#listen === undefined) {
      return;
    }
    const quietMs = this.#options.quietOfflineMs ?? 0;
    if (quietMs > 0) {
      let readyMs = -Infinity;
      for (const state of this.#devices.values()) {
        if (state.beating) return;
        readyMs = Math.max(readyMs, state.firstHeardMs + quietMs);
      }
      const waitMs = readyMs - this.#options.clock.now();
      if (waitMs > 0) {
        this.#pauseTimer = this.#options.clock.setTimer(
          waitMs,
          () => this.#tryPause(),
        );
        return;
      }
    }
    this.#listen.cancel();
    this.#listen = undefined;
    this.#checkTimer?.cancel();
    this.#checkTimer = undefined;
    this.#check?.cancel();
    this.#check = undefined;
    this.#expiring.clear();
    this.#inconclusiveChecks = 0;
    this.#endRecheck();
    this.#expiryTimer?.cancel();
    this.#expiryTimer = undefined;
    this.#paused = true;
    this.#armPoll();
  }

  /**
   * Ends a pause (or a pause still waiting, see {@link BuddyTracker.pause}):
   * listens again and looks the account hash up (`get`), as
   * {@link BuddyTracker.recheck} does, so that what changed meanwhile (a
   * goodbye, a lapsed record, a newer one) is reported at once.
   *
   * @param onDone Called once that look-up ended (at once when not paused).
   */
  resume(onDone?: () => void): void {
    this.#pauseWanted = false;
    this.#pauseTimer?.cancel();
    this.#pauseTimer = undefined;
    if (!this.#paused) {
      onDone?.();
      return;
    }
    this.#endPause();
    this.start();
    this.#lookUp(onDone);
  }

  #endPause(): void {
    this.#paused = false;
    this.#pauseWanted = false;
    this.#pauseTimer?.cancel();
    this.#pauseTimer = undefined;
    this.#pollTimer?.cancel();
    this.#pollTimer = undefined;
    this.#poll?.cancel();
    this.#poll = undefined;
  }

  /** While paused: a `get` every `pausedPollMs`; what it finds is taken as pushed. */
  #armPoll(): void {
    const pollMs = this.#options.pausedPollMs ?? PAUSED_POLL_MS;
    this.#pollTimer = this.#options.clock.setTimer(pollMs, () => {
      this.#pollTimer = undefined;
      let finished = false;
      const poll = this.#options.dht.get(this.accountId, {
        onDone: (values) => {
          finished = true;
          this.#poll = undefined;
          if (!this.#paused) return;
          for (const value of values) this.#onValue(value);
          this.#armPoll();
          // Last: a new device reported here may end the pause.
          this.#update();
        },
      });
      if (!finished) this.#poll = poll;
    });
  }

  /**
   * Asks the DHT (`get`) what is stored now; values found are taken as
   * pushed, tracked records not found are dropped when the look-up is
   * conclusive, and the silence rule's count starts again.
   */
  #lookUp(onDone: (() => void) | undefined): void {
    // Silence during our own outage says nothing: count it from now.
    const now = this.#options.clock.now();
    for (const state of this.#devices.values()) {
      if (state.beating && !state.quiet) state.lastBeatMs = now;
    }
    this.#endRecheck();
    this.#recheckDone = onDone;
    // A get with no candidate ends at once, inside the call.
    let finished = false;
    const handle = this.#options.dht.get(this.accountId, {
      // What the first nodes answer counts at once, as if pushed (a
      // goodbye found needs no other node's word).
      onValues: (values) => {
        for (const value of values) this.#onValue(value);
        this.#update();
      },
      onDone: (values, result) => {
        finished = true;
        this.#recheck = undefined;
        for (const value of values) this.#onValue(value);
        if (this.#conclusive(result)) {
          this.#inconclusiveChecks = 0;
          this.#dropMissing(values);
        }
        this.#update();
        this.#endRecheck();
      },
    });
    if (!finished) this.#recheck = handle;
  }

  /**
   * Whether a lookup's outcome is evidence: some node answered, or none did
   * while our own node still hears the network (then the holders are gone).
   */
  #conclusive(result: SearchResult | undefined): boolean {
    return answered(result) || (this.#options.reachable?.() ?? true);
  }

  /** Cancels the running re-check, if any, and tells who waited for it. */
  #endRecheck(): void {
    this.#recheck?.cancel();
    this.#recheck = undefined;
    const done = this.#recheckDone;
    this.#recheckDone = undefined;
    done?.();
  }

  /** Drops tracked values that a conclusive `get` did not return. */
  #dropMissing(values: readonly DhtValue[]): void {
    const found = new Set(values.map((value) => value.id));
    const lost = new Map<string, Set<number>>();
    for (const [id, hex] of [...this.#valueDevice]) {
      if (found.has(id)) continue;
      const seq = this.#devices.get(hex)?.live.get(id);
      if (seq !== undefined) {
        lost.set(hex, (lost.get(hex) ?? new Set()).add(seq));
      }
      this.#onExpired(id);
    }
    if (lost.size > 0) this.#recover(lost, values);
  }

  /**
   * Feeds a value found some other way (a `get`), as if pushed.
   *
   * @param value A value stored at the account hash.
   */
  offer(value: DhtValue): void {
    this.#onValue(value);
    this.#update();
  }

  #view(state: DeviceState): TrackedDevice {
    return {
      certificate: state.certificate,
      announcement: state.newest,
      online: this.#isOnline(state),
    };
  }

  #isOnline(state: DeviceState): boolean {
    // Paused: its link vouches for a device that was online (see pause()).
    if (this.#paused && state.online && !state.newest.goodbye) return true;
    return !state.newest.goodbye && !state.quiet &&
      liveAfterGoodbye(state) > 0 &&
      state.newest.expiresMs > this.#options.clock.now();
  }

  /** Refreshes pushed by storing nodes: heartbeats of the devices whose records they are. */
  #onRefreshed(ids: readonly bigint[]): void {
    if (!this.#options.quietOfflineMs) return;
    const now = this.#options.clock.now();
    for (const id of ids) {
      const hex = this.#valueDevice.get(id);
      const state = hex === undefined ? undefined : this.#devices.get(hex);
      if (state === undefined) continue;
      state.lastBeatMs = now;
      state.beating = true;
      state.quiet = false;
    }
  }

  /**
   * A storing node that pushes refreshes (a stock one) holds these records:
   * their device's refreshes will be pushed, so its silence means something
   * from now on, before the first refresh push. Without this, a device that
   * crashed less than one refresh period (14 s) after we first heard it was
   * never judged by silence and stayed online for the stock node's 10
   * minutes. A quiet device is not brought back: only a push does that.
   */
  #onAudible(ids: readonly bigint[]): void {
    if (!this.#options.quietOfflineMs) return;
    const now = this.#options.clock.now();
    for (const id of ids) {
      const hex = this.#valueDevice.get(id);
      const state = hex === undefined ? undefined : this.#devices.get(hex);
      if (state === undefined || state.beating) continue;
      state.beating = true;
      state.lastBeatMs = now;
    }
  }

  #onValue(value: DhtValue): void {
    let record: SignedRecord;
    try {
      record = SignedRecord.decode(value.data);
    } catch {
      this.counters.rejected += 1;
      return;
    }
    const now = this.#options.clock.now();
    try {
      switch (record.type) {
        case DEVICE_ANNOUNCEMENT_TYPE:
          this.#onAnnouncement(value.id, DeviceAnnouncement.fromRecord(record));
          return;
        case "revocation-list": {
          const list = RevocationList.decode(value.data);
          if (this.#revoked.add(list, now).length > 0) {
            for (const [hex, state] of this.#devices) {
              if (this.#revoked.isRevoked(state.certificate.deviceId)) {
                this.#dropDevice(hex);
              }
            }
          }
          this.#options.onRevocationList?.(list);
          return;
        }
        case "device-certificate": {
          const certificate = DeviceCertificate.decode(value.data);
          if (!isMailboxCertificate(certificate)) return;
          certificate.verify({ accountId: this.accountId, nowMs: now });
          if (
            this.#mailbox === undefined ||
            certificate.issuedMs > this.#mailbox.issuedMs
          ) this.#mailbox = certificate;
          return;
        }
        default:
          this.counters.rejected += 1;
      }
    } catch {
      this.counters.rejected += 1;
    }
  }

  #onAnnouncement(valueId: bigint, announcement: DeviceAnnouncement): void {
    const known = this.#devices.get(announcement.deviceId.toString());
    // A copy of the newest record under another id: nothing to verify or keep.
    if (
      known !== undefined && !this.#valueDevice.has(valueId) &&
      announcement.seq === known.newest.seq &&
      sameBytes(announcement.bytes, known.newest.bytes) &&
      [...known.live.values()].includes(announcement.seq) &&
      valueId !== announcementValueId(announcement.deviceId, announcement.seq)
    ) return;
    const now = this.#options.clock.now();
    announcement.verify({
      accountId: this.accountId,
      nowMs: now,
      revocationList: this.#revoked,
    });
    const hex = announcement.deviceId.toString();
    let state = this.#devices.get(hex);
    if (state === undefined) {
      if (this.#devices.size >= MAX_TRACKED_DEVICES) {
        this.counters.rejected += 1;
        return;
      }
      state = {
        certificate: announcement.certificate,
        newest: announcement,
        live: new Map(),
        goodbyeSeq: -Infinity,
        online: false,
        lastBeatMs: now,
        firstHeardMs: now,
        beating: false,
        quiet: false,
      };
      this.#devices.set(hex, state);
    }
    // A replay of something older than a goodbye we saw is ignored.
    if (announcement.seq < state.goodbyeSeq) return;
    if (!this.#holdSlot(hex, state, valueId, announcement)) return;
    // A device judged gone by its silence comes back with a refresh push or
    // a newer record, not with the record it went quiet on: a stock node
    // hands that one out again to every new or renewed listen for 10
    // minutes after a crash.
    if (!state.quiet || announcement.seq > state.newest.seq) {
      state.lastBeatMs = now;
      state.quiet = false;
    }
    if (announcement.goodbye) {
      state.goodbyeSeq = Math.max(state.goodbyeSeq, announcement.seq);
    }
    if (announcement.seq >= state.newest.seq) {
      if (
        announcement.note !== state.newest.note ||
        announcement.endpoints.join() !== state.newest.endpoints.join()
      ) state.edited = true;
      state.newest = announcement;
      state.certificate = announcement.certificate;
    }
  }

  /**
   * Gives `valueId` the slot of its record (device and seq), if it deserves
   * one: a record keeps the id it was first heard under unless its device's
   * own id comes; copies under other ids take nothing. A device keeps the
   * ids of its newest {@link MAX_RECORDS_PER_DEVICE} records.
   *
   * @returns False if the value is a copy or too old to track.
   */
  #holdSlot(
    hex: string,
    state: DeviceState,
    valueId: bigint,
    announcement: DeviceAnnouncement,
  ): boolean {
    const seq = announcement.seq;
    const held = state.live.get(valueId);
    if (held !== undefined) {
      if (held === seq) {
        // Heard again: no longer expiring.
        this.#expiring.delete(valueId);
        return true;
      }
      // The id now carries another record of the device: re-file it.
      this.#forget(state, valueId);
    }
    for (const [id, other] of state.live) {
      if (other !== seq) continue;
      if (valueId !== announcementValueId(announcement.deviceId, seq)) {
        return false;
      }
      // The device's own id replaces a copy heard first.
      this.#forget(state, id);
      break;
    }
    if (state.live.size >= MAX_RECORDS_PER_DEVICE) {
      let lowest: bigint | undefined;
      let lowestSeq = Infinity;
      for (const [id, other] of state.live) {
        if (other < lowestSeq) [lowest, lowestSeq] = [id, other];
      }
      if (lowest === undefined || lowestSeq > seq) return false;
      this.#forget(state, lowest);
    }
    if (
      this.#valueDevice.size >= MAX_TRACKED_VALUES &&
      !this.#valueDevice.has(valueId)
    ) {
      this.counters.rejected += 1;
      return false;
    }
    state.live.set(valueId, seq);
    this.#valueDevice.set(valueId, hex);
    this.#expiring.delete(valueId);
    return true;
  }

  #forget(state: DeviceState, valueId: bigint): void {
    state.live.delete(valueId);
    this.#valueDevice.delete(valueId);
    this.#expiring.delete(valueId);
  }

  #onExpired(valueId: bigint): void {
    this.#expiring.delete(valueId);
    const hex = this.#valueDevice.get(valueId);
    if (hex === undefined) return;
    this.#valueDevice.delete(valueId);
    this.#devices.get(hex)?.live.delete(valueId);
  }

  /**
   * Every storing node we listen at says these values expired. With checks
   * on, a device's last live record is only dropped after a `get` confirms
   * it (our storing nodes may just have stopped being its holders).
   */
  #onListenExpired(ids: readonly bigint[]): void {
    if (this.#options.expiryCheckMs <= 0) {
      for (const id of ids) this.#onExpired(id);
      return;
    }
    const check: bigint[] = [];
    for (const id of ids) {
      const hex = this.#valueDevice.get(id);
      const state = hex === undefined ? undefined : this.#devices.get(hex);
      const last = state !== undefined && liveAfterGoodbye(state) === 1 &&
        state.live.has(id) && !state.newest.goodbye &&
        state.live.get(id) === state.newest.seq;
      if (last) check.push(id);
      else this.#onExpired(id);
    }
    if (check.length > 0) this.#onExpiring(check);
  }

  #onExpiring(ids: readonly bigint[]): void {
    const relevant = ids.filter((id) => this.#valueDevice.has(id));
    if (relevant.length === 0) return;
    if (this.#options.expiryCheckMs <= 0) return;
    for (const id of relevant) this.#expiring.add(id);
    if (this.#checkTimer !== undefined || this.#check !== undefined) return;
    this.#armCheck();
  }

  /**
   * Runs the expiry check after `expiryCheckMs`, doubled for each check in
   * a row that nobody answered, up to {@link MAX_INCONCLUSIVE_CHECK_MS}.
   */
  #armCheck(): void {
    const delayMs = Math.min(
      this.#options.expiryCheckMs * 2 ** this.#inconclusiveChecks,
      Math.max(this.#options.expiryCheckMs, MAX_INCONCLUSIVE_CHECK_MS),
    );
    this.#checkTimer = this.#options.clock.setTimer(delayMs, () => {
      this.#checkTimer = undefined;
      this.#runExpiryCheck();
    });
  }

  #runExpiryCheck(): void {
    if (this.#expiring.size === 0 || this.#listen === undefined) return;
    this.counters.expiryChecks += 1;
    const checking = new Set(this.#expiring);
    // A get with no candidate ends at once, inside the call: keep the
    // handle only while it runs.
    let finished = false;
    const check = this.#options.dht.get(this.accountId, {
      onDone: (values, result) => {
        finished = true;
        this.#check = undefined;
        if (!this.#conclusive(result)) {
          // Nobody answered while our own node hears nothing back: that
          // proves nothing. Ask again later, less and less often; the
          // values stay as they are meanwhile.
          this.#inconclusiveChecks += 1;
          this.#armCheck();
          return;
        }
        this.#inconclusiveChecks = 0;
        const found = new Set(values.map((value) => value.id));
        let survived = false;
        /** Records (device hex → seqs) whose tracked id is gone. */
        const lost = new Map<string, Set<number>>();
        for (const id of checking) {
          if (!this.#expiring.has(id)) continue;
          if (!found.has(id)) {
            const hex = this.#valueDevice.get(id);
            const seq = hex === undefined
              ? undefined
              : this.#devices.get(hex)?.live.get(id);
            if (hex !== undefined && seq !== undefined) {
              lost.set(hex, (lost.get(hex) ?? new Set()).add(seq));
            }
            this.#onExpired(id);
          } else {
            this.#expiring.delete(id);
            survived = true;
          }
        }
        // The same record may live on under another id (a copy was heard
        // first): it takes the slot back.
        if (lost.size > 0) this.#recover(lost, values);
        // Still stored elsewhere: our listen sits on stale nodes; move it.
        if (survived) this.#listen?.relocate();
        this.#update();
        if (this.#expiring.size > 0) this.#onExpiring([...this.#expiring]);
      },
    });
    if (!finished) this.#check = check;
  }

  #recover(
    lost: ReadonlyMap<string, ReadonlySet<number>>,
    values: readonly DhtValue[],
  ): void {
    for (const value of values) {
      if (
        (value.type !== ANNOUNCEMENT_VALUE_TYPE &&
          value.type !== GOODBYE_VALUE_TYPE) ||
        this.#valueDevice.has(value.id)
      ) continue;
      let announcement: DeviceAnnouncement;
      try {
        announcement = DeviceAnnouncement.decode(value.data);
      } catch {
        continue;
      }
      const seqs = lost.get(announcement.deviceId.toString());
      if (seqs?.has(announcement.seq)) this.#onValue(value);
    }
  }

  #dropDevice(hex: string): void {
    const state = this.#devices.get(hex);
    if (state === undefined) return;
    for (const id of state.live.keys()) this.#valueDevice.delete(id);
    this.#devices.delete(hex);
    this.#options.onDevice?.({ ...this.#view(state), online: false });
  }

  /** Recomputes device and account status, and arms the validity timer. */
  #update(): void {
    const now = this.#options.clock.now();
    let online = false;
    let nextExpiry = Infinity;
    const changed: DeviceState[] = [];
    const quietMs = this.#options.quietOfflineMs ?? 0;
    // Our own silence stops every push: judge nobody by silence meanwhile.
    const paused = quietMs > 0 && !(this.#options.reachable?.() ?? true);
    let silenced = false;
    for (const state of this.#devices.values()) {
      // Paused, nothing is pushed to us: silence says nothing.
      if (
        quietMs > 0 && state.beating && !state.quiet && !this.#paused &&
        now >= state.lastBeatMs + quietMs
      ) {
        if (paused) {
          state.lastBeatMs = now - quietMs +
            Math.min(quietMs, SILENCE_PAUSE_POLL_MS);
        } else {
          state.quiet = true;
          silenced = true;
        }
      }
      const is = this.#isOnline(state);
      if (is) {
        online = true;
        nextExpiry = Math.min(nextExpiry, state.newest.expiresMs);
        if (quietMs > 0 && state.beating) {
          nextExpiry = Math.min(nextExpiry, state.lastBeatMs + quietMs);
        }
      }
      if (state.online !== is || (is && state.edited)) {
        state.online = is;
        state.edited = false;
        changed.push(state);
      }
    }
    this.#expiryTimer?.cancel();
    this.#expiryTimer = undefined;
    if (nextExpiry !== Infinity && !this.#paused) {
      this.#expiryTimer = this.#options.clock.setTimer(
        Math.max(0, nextExpiry - now),
        () => this.#update(),
      );
    }
    // Silence may also be our listen nodes' death (all of them at once): a
    // renewal finds out, and moves the listen if so; the next push then
    // brings the device back. Two small requests per crash otherwise.
    if (silenced) this.#listen?.check?.();
    // Listeners see the new account status when told of a device.
    const status = online ? 1 : 0;
    const statusChanged = status !== this.#status;
    this.#status = status;
    for (const state of changed) this.#options.onDevice?.(this.#view(state));
    if (statusChanged) this.#options.onChange(status);
  }
}

/**
 * Whether a lookup heard from any node. A lookup nobody answered (our own
 * network is down) proves nothing about what is stored. A result left out
 * (as some fakes do) counts as answered.
 */
function answered(result: SearchResult | undefined): boolean {
  return result === undefined || result.nodes.length > 0;
}

/** Live records of a device newer than its last goodbye. */
function liveAfterGoodbye(state: DeviceState): number {
  let count = 0;
  for (const seq of state.live.values()) if (seq > state.goodbyeSeq) count++;
  return count;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
