/**
 * Scenario `presence`: accounts that are each other's contacts watch each
 * other while their devices come and go, and we measure how fast and how
 * truly watchers see it.
 *
 * Setup: a public DHT of plain nodes, and `accounts` daemons (one device
 * each). Every account gets between `minContacts` and `maxContacts` contacts
 * (an undirected random graph), adds them and subscribes to their presence.
 * Devices start over the first minute and the network settles; then churn
 * runs for `durationMs`: sessions and downtimes from the churn spec, a share
 * of leaves are crashes (no goodbye), the rest clean shutdowns.
 *
 * Measured against the simulator's ground truth, for every (watcher, device)
 * pair where the watcher was online and settled (running for 20 s) when the
 * device changed, had seen the device's previous state (a device that
 * crashes a second after starting was never seen online, so its crash is not
 * a change for anyone), and stayed online until it saw the change or the
 * device changed again:
 * - `online_detect_ms`: device start → watcher's status 1 event;
 * - `offline_graceful_ms`: clean shutdown → status 0;
 * - `offline_crash_ms`: crash → status 0;
 * - `missed`: changes a watcher never saw before the next change (one that
 *   lasted under 5 s is counted in `changes_too_short` instead);
 * - `false_offline_events`: status 0 events while the device was online;
 * - `presence_bytes_per_device_hour`: bytes sent and received by device
 *   hosts (their DHT node included) per online device-hour, measured phase;
 *   `presence_bytes_by_kind` splits them by DHT message kind.
 *
 * @module
 */
import { forkRng, randomInt, seededRng } from "../../lib/rng.ts";
import {
  OUR_PROFILE,
  type PresenceProfile,
} from "../../lib/presence/presence_profile.ts";
import { ChurnSchedule } from "../churn/schedule.ts";
import { type ChurnSpec, formatChurnSpec } from "../churn/spec.ts";
import { type CdfPoint, Samples } from "../metrics.ts";
import { phaseProgress, type ProgressCallback } from "../progress.ts";
import { formatDurationMs } from "../units.ts";
import { DaemonSwarm, type DeviceSlot } from "../daemon_swarm.ts";
import { formatNatSpec, type NatSpec } from "../nat_spec.ts";
import { ByteKinds } from "../byte_kinds.ts";
import type { NatDropCounts } from "../../lib/testing/simulated_network.ts";
import { SIMULATION_EPOCH_MS } from "../../lib/testing/testnet.ts";

/** Options of {@link runPresenceScenario}. */
export interface PresenceScenarioOptions {
  /** Accounts (one device each). */
  readonly accounts: number;
  /** Plain DHT nodes. @default {accounts} */
  readonly infraNodes?: number;
  /** Seed of every random choice; the same seed replays the run exactly. */
  readonly seed: number | string;
  /** Measured virtual duration, ms. */
  readonly durationMs: number;
  /** Device churn (undefined: none). */
  readonly churn?: ChurnSpec;
  /** Share of leaves that are crashes. @default {0.5} */
  readonly crashProbability?: number;
  /** Packet loss. @default {0} */
  readonly lossProbability?: number;
  /**
   * A random online device publishes a new note this often (0: never); its
   * linked watchers' delay is `note_delivery_ms`. Each note also re-signs
   * and republishes the device's DHT announcement. @default {0}
   */
  readonly noteEveryMs?: number;
  /** Median one-way latency between hosts (6 is LAN-like). @default {50} */
  readonly medianOneWayMs?: number;
  /** Fewest contacts per account. @default {20} */
  readonly minContacts?: number;
  /** Most contacts per account. @default {100} */
  readonly maxContacts?: number;
  /** Profile. @default {OUR_PROFILE} */
  readonly profile?: PresenceProfile;
  /**
   * Share of the plain DHT nodes that behave as stock OpenDHT 2.4 nodes (our
   * value types unknown to them: kept 10 minutes, refreshes pushed); the
   * devices' own nodes are ours. @default {0}
   */
  readonly stockShare?: number;
  /** Called with the progress of each phase; the runner shows it on stderr. */
  readonly onProgress?: ProgressCallback;
  /** Devices behind NATs (`--nat`). @default {none} */
  readonly nat?: NatSpec;
  /** A public relay every device names (`--relay`; `DaemonSwarmOptions.relay`). @default {false} */
  readonly relay?: boolean;
}

/** p50/p95/p99 and count. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

/** Report of a presence run (deterministic for a seed). */
export interface PresenceReport {
  readonly scenario: "presence";
  readonly profile: string;
  readonly accounts: number;
  readonly nodes: number;
  /** Share of plain DHT nodes that are stock OpenDHT 2.4 (present only when above 0). */
  readonly stock_share?: number;
  /** Bytes the relay forwarded per device-hour (present only with `--relay`). */
  readonly relay_bytes_per_device_hour?: number;
  readonly seed: number | string;
  readonly churn: string;
  readonly contacts_per_account: { min: number; mean: number; max: number };
  readonly online_detect_ms: LatencySummary;
  readonly offline_graceful_ms: LatencySummary;
  readonly offline_crash_ms: LatencySummary;
  /** Device start → watcher's status 2 (direct link up); empty without channels. */
  readonly connected_detect_ms: LatencySummary;
  /**
   * The same links, counted from the moment both sides had seen each other
   * online (the later of the watcher's and the device's first status 1 or 2
   * about the other) to the watcher's status 2: the link's own part, after
   * presence. Leaves out watchers that still showed the device online from
   * before it started (its leave not noticed yet).
   */
  readonly connected_after_seen_ms: LatencySummary;
  /**
   * The transport's floor under each `connected_detect_ms` sample: five
   * one-way latencies between the two hosts (a TCP connect's round trip,
   * the handshake's round trip, the confirm with the first PIDF). No link
   * over TCP with this handshake comes up sooner, whoever dials and however
   * fast presence is; a far host's samples are slow by this much alone.
   */
  readonly connected_floor_ms: LatencySummary;
  /**
   * Each `connected_detect_ms` sample minus its floor: what presence
   * detection, dialing and the handshake's processing add on top of the
   * network.
   */
  readonly connected_over_floor_ms: LatencySummary;
  /** Crash → watcher's status below 2, for watchers that were linked. */
  readonly link_loss_detect_ms: LatencySummary;
  /** New note published → each linked watcher's notification with it. */
  readonly note_delivery_ms: LatencySummary;
  /**
   * Direct-link bytes over TCP (TCP/IP headers included) per online
   * device-hour; links over punched UDP count in the presence bytes.
   */
  readonly link_bytes_per_device_hour: number;
  /** Links opened over the whole run (counted at both ends), by path. */
  readonly links_opened: { tcp: number; punched_udp: number };
  readonly missed: {
    online: number;
    offline_graceful: number;
    offline_crash: number;
  };
  /** Changes not yet seen by some watchers when the run ended (not misses: time ran out). */
  readonly unseen_at_end: {
    online: number;
    offline_graceful: number;
    offline_crash: number;
  };
  readonly false_offline_events: number;
  /** (Watcher, change) pairs not counted: the state lasted under 5 s. */
  readonly changes_too_short: number;
  readonly presence_bytes_per_device_hour: number;
  /**
   * The same bytes by DHT message kind, per online device-hour (see
   * `sim/byte_kinds.ts`), largest first.
   */
  readonly presence_bytes_by_kind: Record<string, number>;
  readonly device_leaves: number;
  /** `--nat` as given, and what the NATs dropped; only with `--nat`. */
  readonly nat?: { spec: string; behind: number } & NatDropCounts;
  readonly sim_seconds: number;
  /** CDFs of the latencies (for `--report`); every metric, empty when nothing was measured. */
  readonly cdf?: Record<string, CdfPoint[]>;
  /** Why a CDF is empty, by metric (for `--report`; not in `--json`). */
  readonly cdfNotes?: Record<string, string>;
}

/** A change superseded sooner than this is not counted as missed. */
const SHORTEST_CHANGE_MS = 5_000;

/** Watcher must have been running this long to count. */
const SETTLED_MS = 20_000;

/** Devices start over this long, then run alone until the measured part. */
const STARTUP_MS = 120_000;

/** Phases shown in progress. */
const PHASES = [
  "building network",
  "creating accounts",
  "adding contacts",
  "starting devices",
  "running",
] as const;

/** Progress is reported this many times per virtual-time phase at most. */
const PROGRESS_STEPS = 1_000;

interface Pending {
  readonly kind: "online" | "graceful" | "crash";
  readonly atMs: number;
  /** Watchers (account index) still to see it. */
  readonly waiting: Set<number>;
}

function summarize(samples: Samples): LatencySummary {
  const round = (value: number) => Math.round(value);
  return {
    count: samples.count,
    p50: round(samples.percentile(50)),
    p95: round(samples.percentile(95)),
    p99: round(samples.percentile(99)),
  };
}

/**
 * Runs the presence scenario.
 *
 * @param options Options.
 * @returns The report.
 */
export async function runPresenceScenario(
  options: PresenceScenarioOptions,
): Promise<PresenceReport> {
  const progress = phaseProgress(PHASES, options.onProgress);
  const profile = options.profile ?? OUR_PROFILE;
  const infraNodes = options.infraNodes ?? options.accounts;
  const joined = (value: number) =>
    progress("building network", [{
      label: "DHT nodes joined",
      value,
      total: infraNodes,
    }]);
  joined(0);
  const swarm = await DaemonSwarm.create({
    seed: options.seed,
    infraNodes,
    profile,
    lossProbability: options.lossProbability,
    medianOneWayMs: options.medianOneWayMs,
    onProgress: joined,
    nat: options.nat,
    stockShare: options.stockShare,
    relay: options.relay,
  });
  joined(infraNodes);
  const rng = forkRng(seededRng(`${options.seed}/presence`), "graph");
  const n = options.accounts;
  const slots: DeviceSlot[] = [];
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    progress("creating accounts", [{ label: "accounts", value: i, total: n }]);
    const slot = await swarm.addDevice();
    slots.push(slot);
    ids.push(await swarm.createAccount(slot));
  }
  progress("creating accounts", [{ label: "accounts", value: n, total: n }]);
  const indexOfAccount = new Map(ids.map((id, i) => [id, i]));

  // Contact graph: each account draws a wanted degree, then links to random
  // accounts that still want more (or anyone, at the end).
  const minContacts = Math.min(options.minContacts ?? 20, n - 1);
  const maxContacts = Math.min(options.maxContacts ?? 100, n - 1);
  const contacts: Set<number>[] = ids.map(() => new Set());
  const wanted = ids.map(() =>
    minContacts + randomInt(rng, maxContacts - minContacts + 1)
  );
  for (let i = 0; i < n; i++) {
    let guard = 0;
    while (contacts[i].size < wanted[i] && guard++ < 20 * n) {
      const j = randomInt(rng, n);
      if (j === i || contacts[i].has(j)) continue;
      if (contacts[j].size >= maxContacts) continue;
      contacts[i].add(j);
      contacts[j].add(i);
    }
  }
  const contactTotal = contacts.reduce((sum, set) => sum + set.size, 0);
  let contactsAdded = 0;
  for (let i = 0; i < n; i++) {
    progress("adding contacts", [
      { label: "contacts added", value: contactsAdded, total: contactTotal },
      { label: "accounts done", value: i, total: n },
    ]);
    for (const j of contacts[i]) {
      await slots[i].daemon!.config.addContact(ids[i], ids[j]);
    }
    contactsAdded += contacts[i].size;
  }
  progress("adding contacts", [
    { label: "contacts added", value: contactsAdded, total: contactTotal },
    { label: "accounts done", value: n, total: n },
  ]);

  // Ground truth and what each watcher saw.
  const online = new Array<boolean>(n).fill(false);
  const startedMs = new Array<number>(n).fill(Infinity);
  const seen: Map<number, 0 | 1 | 2>[] = ids.map(() => new Map());
  const pending: (Pending | undefined)[] = new Array(n);
  const detect = {
    online: new Samples(),
    graceful: new Samples(),
    crash: new Samples(),
  };
  const missed = { online: 0, graceful: 0, crash: 0 };
  // Direct links (status 2): start → watcher at 2; crash → watcher below 2.
  const linkDetect = {
    connected: new Samples(),
    afterSeen: new Samples(),
    floor: new Samples(),
    overFloor: new Samples(),
    loss: new Samples(),
  };
  // Five one-way latencies: TCP connect, handshake round trip, confirm.
  const linkFloorMs = (i: number, j: number) =>
    5 * swarm.network.latencyMs(slots[i].index, slots[j].index);
  // When each watcher last began to see each device online (0 → 1 or 2).
  const seenOnlineMs: Map<number, number>[] = ids.map(() => new Map());
  const linkPending: (
    | { atMs: number; waiting: Set<number>; kind: "connected" | "loss" }
    | undefined
  )[] = new Array(n);
  // Notes: now and then an online device publishes a new note; linked
  // watchers (status 2) must see it.
  const noteDelays = new Samples();
  const notePending:
    ({ text: string; atMs: number; waiting: Set<number> } | undefined)[] =
      new Array(n);
  let notesPublished = 0;
  let falseOffline = 0;
  let shortChanges = 0;
  let measuring = false;
  const clock = swarm.clock;

  const subscribe = (i: number) => {
    const daemon = slots[i].daemon!;
    daemon.presence.on("newBuddyNotification", (event) => {
      if (slots[i].daemon !== daemon) return;
      const j = indexOfAccount.get(event.buddyUri);
      if (j === undefined) return;
      if (event.status === 0) seenOnlineMs[i].delete(j);
      else if ((seen[i].get(j) ?? 0) === 0) seenOnlineMs[i].set(j, clock.now());
      seen[i].set(j, event.status);
      const note = notePending[j];
      if (
        note !== undefined && note.waiting.has(i) &&
        event.lineStatus === note.text
      ) {
        note.waiting.delete(i);
        noteDelays.add(clock.now() - note.atMs);
      }
      const link = linkPending[j];
      if (link !== undefined && link.waiting.has(i)) {
        if ((event.status === 2) === (link.kind === "connected")) {
          link.waiting.delete(i);
          const samples = link.kind === "connected"
            ? linkDetect.connected
            : linkDetect.loss;
          samples.add(clock.now() - link.atMs);
          if (link.kind === "connected") {
            const floorMs = linkFloorMs(i, j);
            linkDetect.floor.add(floorMs);
            linkDetect.overFloor.add(clock.now() - link.atMs - floorMs);
          }
          const watcherSaw = seenOnlineMs[i].get(j) ?? -Infinity;
          const deviceSaw = seenOnlineMs[j].get(i);
          if (
            link.kind === "connected" && watcherSaw >= link.atMs &&
            deviceSaw !== undefined
          ) {
            linkDetect.afterSeen.add(
              clock.now() - Math.max(watcherSaw, deviceSaw),
            );
          }
        }
      }
      const change = pending[j];
      // Offline while the device has been up for a while: a false offline.
      if (
        measuring && event.status === 0 && online[j] &&
        clock.now() - startedMs[j] > 30_000
      ) {
        falseOffline += 1;
      }
      if (change === undefined || !change.waiting.has(i)) return;
      const expected = change.kind === "online" ? 1 : 0;
      if ((event.status === 0 ? 0 : 1) !== expected) return;
      change.waiting.delete(i);
      const delay = clock.now() - change.atMs;
      if (change.kind === "online") detect.online.add(delay);
      else if (change.kind === "graceful") detect.graceful.add(delay);
      else detect.crash.add(delay);
    });
    for (const j of contacts[i]) {
      daemon.presence.subscribeBuddy(ids[i], ids[j], true);
    }
  };

  const change = (j: number, kind: Pending["kind"]) => {
    const old = pending[j];
    // A state that lasted less than SHORTEST_CHANGE_MS cannot be asked of
    // anyone (a device that crashes 20 ms after starting): not a miss.
    const tooShort = old !== undefined &&
      clock.now() - old.atMs < SHORTEST_CHANGE_MS;
    if (old !== undefined && tooShort) {
      shortChanges += old.waiting.size;
    } else if (old !== undefined && measuring) {
      if (old.kind === "online") missed.online += old.waiting.size;
      else if (old.kind === "graceful") missed.graceful += old.waiting.size;
      else missed.crash += old.waiting.size;
    }
    const now = clock.now();
    const waiting = new Set<number>();
    if (measuring) {
      for (const i of contacts[j]) {
        if (!online[i] || now - startedMs[i] < SETTLED_MS) continue;
        // Only a watcher that saw the state before can see it change.
        const saw = seen[i].get(j) ?? 0;
        if ((kind === "online") === (saw === 0)) waiting.add(i);
      }
    }
    pending[j] = { kind, atMs: now, waiting };
    if (!profile.channels || !measuring) return;
    const linkWaiting = new Set<number>();
    for (const i of contacts[j]) {
      if (!online[i] || now - startedMs[i] < SETTLED_MS) continue;
      if (kind === "online" || seen[i].get(j) === 2) linkWaiting.add(i);
    }
    linkPending[j] = kind === "graceful" ? undefined : {
      kind: kind === "online" ? "connected" : "loss",
      atMs: now,
      waiting: linkWaiting,
    };
  };

  const bringUp = (i: number) => {
    online[i] = true;
    startedMs[i] = clock.now();
    seen[i].clear();
    seenOnlineMs[i].clear();
    change(i, "online");
  };

  const slotIndex = new Map(slots.map((slot, i) => [slot, i]));
  swarm.onStart = (slot) => {
    const i = slotIndex.get(slot)!;
    subscribe(i);
    bringUp(i);
  };
  // Progress of a virtual-time phase, at most PROGRESS_STEPS times.
  const onlineCount = () => online.filter(Boolean).length;
  const watchPhase = (totalMs: number, show: (ms: number) => void) => {
    const startMs = clock.now();
    const everyMs = totalMs / PROGRESS_STEPS;
    let nextMs = startMs;
    const step = () => {
      if (clock.now() < nextMs) return;
      nextMs = clock.now() + everyMs;
      show(Math.min(clock.now() - startMs, totalMs));
    };
    step();
    swarm.onStep = step;
  };
  watchPhase(STARTUP_MS, (ms) =>
    progress("starting devices", [
      { label: "devices online", value: onlineCount(), total: n },
    ], { ms, totalMs: STARTUP_MS }));
  // Start everyone over the first minute.
  for (let i = 0; i < n; i++) {
    const slot = slots[i];
    clock.setTimer(randomInt(rng, 60_000), () => swarm.start(slot));
  }
  await swarm.run(STARTUP_MS);

  // A watcher that left stops waiting (it cannot see anything).
  const leaveWatchers = (i: number) => {
    for (const change of pending) change?.waiting.delete(i);
    for (const change of linkPending) change?.waiting.delete(i);
  };

  const bytesAtStart = swarm.deviceBytes(slots);
  const kinds = new ByteKinds(new Set(slots.map((slot) => slot.index)));
  swarm.network.observe(kinds.observer);
  const linkBytesAtStart = swarm.linkBytes(slots);
  const relayBytesAtStart = swarm.relay?.counters.forwardedBytes ?? 0;
  let deviceOnlineMs = 0;
  let lastTickMs = clock.now();
  const tick = () => {
    const now = clock.now();
    deviceOnlineMs += online.filter(Boolean).length * (now - lastTickMs);
    lastTickMs = now;
  };
  measuring = true;
  const churn = new ChurnSchedule({
    clock,
    rng: forkRng(rng, "churn"),
    hostCount: n,
    spec: options.churn,
    durationMs: options.durationMs,
    crashProbability: options.crashProbability ?? 0.5,
  }, {
    onLeave: (i, kind) => {
      tick();
      online[i] = false;
      leaveWatchers(i);
      if (kind === "crash") {
        swarm.crash(slots[i]);
        change(i, "crash");
      } else {
        swarm.stop(slots[i]);
        change(i, "graceful");
      }
    },
    onJoin: (i) => {
      tick();
      // It starts at the end of this step (onStart above).
      swarm.restart(slots[i]);
    },
  });
  churn.start();
  const noteRng = forkRng(rng, "notes");
  const publishNote = () => {
    if (!measuring) return;
    const upDevices = [...online.keys()].filter((j) => online[j]);
    if (upDevices.length > 0) {
      const j = upDevices[randomInt(noteRng, upDevices.length)];
      const text = `note ${++notesPublished}`;
      const waiting = new Set<number>();
      for (const i of contacts[j]) {
        if (online[i] && seen[i].get(j) === 2) waiting.add(i);
      }
      notePending[j] = { text, atMs: clock.now(), waiting };
      slots[j].daemon!.presence.publish(ids[j], 1, text);
    }
    clock.setTimer(noteEveryMs, publishNote);
  };
  const noteEveryMs = options.noteEveryMs ?? 0;
  if (noteEveryMs > 0) clock.setTimer(noteEveryMs, publishNote);
  watchPhase(options.durationMs, (ms) =>
    progress("running", [
      { label: "devices online", value: onlineCount(), total: n },
      { label: "device leaves", value: churn.counts().leaves },
      { label: "detections: online", value: detect.online.count },
      { label: "clean offline", value: detect.graceful.count },
      { label: "crash", value: detect.crash.count },
      {
        label: "still awaited",
        value: pending.reduce(
          (sum, change) => sum + (change?.waiting.size ?? 0),
          0,
        ),
      },
    ], { ms, totalMs: options.durationMs }));
  const steps = 20;
  for (let step = 1; step <= steps; step++) {
    await swarm.run(options.durationMs / steps);
    tick();
  }
  swarm.onStep = undefined;
  churn.stop();
  measuring = false;
  // Changes still waiting at the end are not misses: time ran out.
  tick();
  const unseen = { online: 0, graceful: 0, crash: 0 };
  for (const change of pending) {
    if (change === undefined) continue;
    if (change.kind === "online") unseen.online += change.waiting.size;
    else if (change.kind === "graceful") unseen.graceful += change.waiting.size;
    else unseen.crash += change.waiting.size;
  }
  const bytes = swarm.deviceBytes(slots) - bytesAtStart;
  swarm.network.observe(undefined);
  const linkBytes = swarm.linkBytes(slots) - linkBytesAtStart;
  const hours = deviceOnlineMs / 3_600_000;
  const degrees = contacts.map((set) => set.size);
  const report: PresenceReport = {
    scenario: "presence",
    profile: profile.name,
    accounts: n,
    nodes: infraNodes,
    ...(options.stockShare ? { stock_share: options.stockShare } : {}),
    ...(swarm.relay === undefined ? {} : {
      relay_bytes_per_device_hour: Math.round(
        (swarm.relay.counters.forwardedBytes - relayBytesAtStart) / hours,
      ),
    }),
    seed: options.seed,
    churn: formatChurnSpec(options.churn),
    contacts_per_account: {
      min: Math.min(...degrees),
      mean: Math.round(degrees.reduce((a, b) => a + b, 0) / n * 10) / 10,
      max: Math.max(...degrees),
    },
    online_detect_ms: summarize(detect.online),
    offline_graceful_ms: summarize(detect.graceful),
    offline_crash_ms: summarize(detect.crash),
    missed: {
      online: missed.online,
      offline_graceful: missed.graceful,
      offline_crash: missed.crash,
    },
    unseen_at_end: {
      online: unseen.online,
      offline_graceful: unseen.graceful,
      offline_crash: unseen.crash,
    },
    false_offline_events: falseOffline,
    changes_too_short: shortChanges,
    presence_bytes_per_device_hour: Math.round(bytes / Math.max(hours, 1e-9)),
    presence_bytes_by_kind: Object.fromEntries(
      Object.entries(kinds.bytes()).map((
        [kind, total],
      ) => [kind, Math.round(total / Math.max(hours, 1e-9))]),
    ),
    connected_detect_ms: summarize(linkDetect.connected),
    connected_after_seen_ms: summarize(linkDetect.afterSeen),
    connected_floor_ms: summarize(linkDetect.floor),
    connected_over_floor_ms: summarize(linkDetect.overFloor),
    link_loss_detect_ms: summarize(linkDetect.loss),
    note_delivery_ms: summarize(noteDelays),
    link_bytes_per_device_hour: Math.round(
      linkBytes / Math.max(hours, 1e-9),
    ),
    links_opened: {
      tcp: swarm.linksOpened().tcp,
      punched_udp: swarm.linksOpened().punched,
    },
    device_leaves: churn.counts().leaves,
    ...(options.nat === undefined ? {} : {
      nat: {
        spec: formatNatSpec(options.nat),
        behind:
          slots.filter((slot) => swarm.network.natOf(slot.index) !== undefined)
            .length,
        ...swarm.network.natDrops(),
      },
    }),
    sim_seconds: Math.round((clock.now() - SIMULATION_EPOCH_MS) / 1_000),
    cdf: {
      online_detect_ms: detect.online.cdf(100),
      offline_graceful_ms: detect.graceful.cdf(100),
      offline_crash_ms: detect.crash.cdf(100),
      connected_detect_ms: linkDetect.connected.cdf(100),
      link_loss_detect_ms: linkDetect.loss.cdf(100),
      note_delivery_ms: noteDelays.cdf(100),
    },
    cdfNotes: emptyCdfNotes({
      profile,
      durationMs: options.durationMs,
      counts: churn.counts(),
      samples: {
        online_detect_ms: detect.online.count,
        offline_graceful_ms: detect.graceful.count,
        offline_crash_ms: detect.crash.count,
        connected_detect_ms: linkDetect.connected.count,
        link_loss_detect_ms: linkDetect.loss.count,
        note_delivery_ms: noteDelays.count,
      },
      unseen,
      missed,
      notesPublished,
    }),
  };
  swarm.shutdown();
  return report;
}

/** What {@link emptyCdfNotes} explains from. */
interface EmptyCdfFacts {
  readonly profile: PresenceProfile;
  readonly durationMs: number;
  /** Churn in the measured part. */
  readonly counts: {
    joins: number;
    leaves: number;
    crashes: number;
    cleanLeaves: number;
  };
  /** Samples of each latency. */
  readonly samples: Record<string, number>;
  /** (Watcher, change) pairs still unseen at the end, by kind. */
  readonly unseen: { online: number; graceful: number; crash: number };
  /** (Watcher, change) pairs missed: the device changed again first. */
  readonly missed: { online: number; graceful: number; crash: number };
  readonly notesPublished: number;
}

/**
 * Why each empty latency has no sample, from what the run did: so that a
 * plot without a line says why instead of leaving the reader to guess.
 */
function emptyCdfNotes(facts: EmptyCdfFacts): Record<string, string> {
  const { profile, counts, unseen, missed } = facts;
  const measured = formatDurationMs(facts.durationMs);
  const lapse = `the ${formatDurationMs(profile.dhtLifetimeMs)} record lapses`;
  const noRestart =
    `no device came back online in the measured ${measured}: ${counts.leaves} left, none returned before the end (a longer --duration gives restarts)`;
  const notSeen = (
    kind: "online" | "graceful" | "crash",
    change: string,
    how: string,
  ) => {
    const parts: string[] = [];
    if (missed[kind] > 0) {
      parts.push(
        `${
          missed[kind]
        } (watcher, ${change}) pairs missed: the device changed again first`,
      );
    }
    if (unseen[kind] > 0) {
      parts.push(`${unseen[kind]} still pending when the run ended`);
    }
    if (parts.length === 0) {
      return kind === "online"
        ? "no restart was a change for any watcher: those online and settled still showed the device online (they had not seen it leave)"
        : `no watcher online and settled had seen the device online before its ${change}`;
    }
    return `${parts.join("; ")}; ${how}`;
  };
  const noLinks =
    `no direct links in the ${profile.name} profile (channels off): status 2 is never reached`;
  const notes: Record<string, string> = {};
  const why: Record<string, () => string> = {
    online_detect_ms: () =>
      counts.joins === 0
        ? noRestart
        : notSeen("online", "restart", "a restart is seen once announced"),
    offline_graceful_ms: () =>
      counts.cleanLeaves === 0
        ? `no clean shutdown in the measured ${measured}`
        : notSeen(
          "graceful",
          "clean shutdown",
          profile.goodbye
            ? "a clean shutdown is seen by its goodbye"
            : `no goodbye in the ${profile.name} profile: a clean shutdown is seen when ${lapse}`,
        ),
    offline_crash_ms: () =>
      counts.crashes === 0
        ? `no crash in the measured ${measured}`
        : notSeen("crash", "crash", `a crash is seen when ${lapse}`),
    connected_detect_ms: () =>
      !profile.channels
        ? noLinks
        : counts.joins === 0
        ? noRestart
        : "no watcher saw a restarted device reach status 2",
    link_loss_detect_ms: () =>
      !profile.channels
        ? noLinks
        : counts.crashes === 0
        ? `no crash in the measured ${measured}`
        : "no crashed device had a linked watcher",
    note_delivery_ms: () =>
      facts.notesPublished === 0
        ? "no notes published (the runner's --note-every is not set)"
        : !profile.channels
        ? `${noLinks}; notes are measured at linked watchers only`
        : `${facts.notesPublished} notes published, none had a linked watcher online`,
  };
  for (const [metric, count] of Object.entries(facts.samples)) {
    if (count === 0) notes[metric] = why[metric]();
  }
  return notes;
}
