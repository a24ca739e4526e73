/**
 * The network-cut scenario: one device loses its network for a while (10
 * minutes by default) while its daemon keeps running, as a laptop whose
 * Wi-Fi drops. It measures what that device's user is told:
 *
 * - false offlines: a contact reported offline (status 0) while it was up
 *   all along, during the cut or after it (target 0);
 * - notifications during the cut at all (target 0: presence is held);
 * - its own `connectivity` events: offline after the cut, online after the
 *   return, and how long each took;
 * - real changes that happened during the cut, reported after the return:
 *   a contact that crashed, one that left cleanly, one that came online
 *   (each: time from the return to the notification);
 * - notifications in the 3 minutes after the return (no storm).
 *
 * Five devices, five accounts: the cut one (A) subscribes to the four
 * others; B stays up (linked to A, status 2), C crashes 3 minutes into the
 * cut, E stops cleanly at 4 minutes, D starts at 5 minutes. B, C and E
 * subscribe to A, so that links between them and A are authorised.
 *
 * @example A short cut (slow: a whole swarm)
 * ```ts ignore
 * import { runNetworkCutScenario } from "./network_cut.ts";
 * const report = await runNetworkCutScenario({ seed: 1, cutMs: 120_000 });
 * console.log(report.false_offline_events);
 * ```
 *
 * @module
 */
import { DaemonSwarm, type DeviceSlot } from "../daemon_swarm.ts";
import type { PresenceProfile } from "../../lib/presence/presence_profile.ts";

const MINUTE = 60_000;

/** Options of {@link runNetworkCutScenario}. */
export interface NetworkCutOptions {
  /** Seed of everything random. */
  readonly seed: number | string;
  /** Plain DHT nodes. @default {60} */
  readonly infraNodes?: number;
  /** How long the device's network is cut. @default {600000} (10 minutes) */
  readonly cutMs?: number;
  /** Median one-way latency. @default {50} */
  readonly medianOneWayMs?: number;
  /** Presence profile. @default {OUR_PROFILE} */
  readonly profile?: PresenceProfile;
  /**
   * Hold presence while our node is offline (the default); false turns the
   * connectivity monitor off on the cut device, to measure what it fixes.
   * @default {true}
   */
  readonly hold?: boolean;
  /**
   * Share of the plain DHT nodes that behave as stock OpenDHT (their
   * pushed refreshes make the silence rule, `quietOfflineMs`, judge
   * contacts). @default {0}
   */
  readonly stockShare?: number;
}

/** What the cut device's user was told, with times relative to the cut and the return. */
export interface NetworkCutReport {
  /** Length of the cut. */
  readonly cut_ms: number;
  /** Status-0 notifications for a contact whose device ran at that moment (during the cut or after). */
  readonly false_offline_events: number;
  /** Presence notifications of any kind while the network was cut. */
  readonly notifications_during_cut: number;
  /** Our own connectivity events, `state@ms` from the start of the cut. */
  readonly connectivity: readonly string[];
  /** From the cut to the `offline` event (undefined: never raised). */
  readonly offline_detect_ms: number | undefined;
  /** From the return to the `online` event. */
  readonly online_detect_ms: number | undefined;
  /** From the return to "C offline" (C crashed during the cut). */
  readonly crashed_reported_ms: number | undefined;
  /** From the return to "E offline" (E left cleanly during the cut). */
  readonly left_reported_ms: number | undefined;
  /** From the return to "D online" (D came online during the cut). */
  readonly came_online_reported_ms: number | undefined;
  /** From the return to B at status 2 again (its link redialled); undefined if it never left 2. */
  readonly relinked_ms: number | undefined;
  /** Notifications in the 3 minutes after the return (all buddies). */
  readonly notifications_after_return: number;
  /** Every notification A received from the cut on: `buddy:status@ms` from the cut. */
  readonly log: readonly string[];
}

/**
 * Runs the scenario.
 *
 * @param options Seed, DHT size, length of the cut.
 * @returns The report.
 */
export async function runNetworkCutScenario(
  options: NetworkCutOptions,
): Promise<NetworkCutReport> {
  const cutMs = options.cutMs ?? 10 * MINUTE;
  const swarm = await DaemonSwarm.create({
    seed: options.seed,
    infraNodes: options.infraNodes ?? 60,
    medianOneWayMs: options.medianOneWayMs,
    profile: options.profile,
    stockShare: options.stockShare,
    deviceDht: options.hold === false
      ? { connectivitySilenceMs: Infinity }
      : undefined,
  });
  const clock = swarm.clock;
  const names = ["A", "B", "C", "D", "E"] as const;
  const slots = new Map<string, DeviceSlot>();
  const ids = new Map<string, string>();
  for (const name of names) {
    const slot = await swarm.addDevice();
    slots.set(name, slot);
    ids.set(name, await swarm.createAccount(slot));
  }
  const nameOf = new Map([...ids].map(([name, id]) => [id, name]));
  const a = slots.get("A")!;
  const id = (name: string) => ids.get(name)!;
  for (const name of names) {
    if (name !== "D") swarm.start(slots.get(name)!);
  }
  const log: { name: string; status: number; atMs: number }[] = [];
  const connectivity: { state: string; atMs: number }[] = [];
  a.daemon!.presence.on("newBuddyNotification", (n) => {
    log.push({
      name: nameOf.get(n.buddyUri) ?? "?",
      status: n.status,
      atMs: clock.now(),
    });
  });
  a.daemon!.on("connectivity", (c) => connectivity.push(c));
  for (const name of ["B", "C", "D", "E"]) {
    a.daemon!.presence.subscribeBuddy(id("A"), id(name), true);
  }
  for (const name of ["B", "C", "E"]) {
    slots.get(name)!.daemon!.presence.subscribeBuddy(id(name), id("A"), true);
  }
  // D subscribes once it runs (it is not started yet).
  swarm.onStart = (slot) => {
    if (slot === slots.get("D")) {
      slot.daemon!.presence.subscribeBuddy(id("D"), id("A"), true);
    }
  };
  await swarm.run(2 * MINUTE);

  const cutAt = clock.now();
  const returnAt = cutAt + cutMs;
  swarm.setNetworkCut(a, true);
  const crashAtMs = Math.min(3 * MINUTE, cutMs / 4);
  const leaveAtMs = Math.min(4 * MINUTE, cutMs / 3);
  const arriveAtMs = Math.min(5 * MINUTE, cutMs / 2);
  const events: [number, () => void | Promise<void>][] = [
    [crashAtMs, () => swarm.crash(slots.get("C")!)],
    [leaveAtMs, () => {
      void swarm.stop(slots.get("E")!);
    }],
    [arriveAtMs, () => swarm.start(slots.get("D")!)],
  ];
  /** Ground truth: whether a contact's device ran at `atMs`. */
  const up = (name: string, atMs: number): boolean => {
    const t = atMs - cutAt;
    if (name === "C") return t < crashAtMs;
    if (name === "E") return t < leaveAtMs;
    if (name === "D") return t >= arriveAtMs;
    return true;
  };
  let elapsed = 0;
  for (const [atMs, act] of events) {
    await swarm.run(atMs - elapsed);
    elapsed = atMs;
    await act();
  }
  await swarm.run(cutMs - elapsed);
  swarm.setNetworkCut(a, false);
  await swarm.run(3 * MINUTE);
  swarm.shutdown();

  const after = (name: string, test: (status: number) => boolean) =>
    log.find((e) => e.name === name && e.atMs >= returnAt && test(e.status));
  const since = (entry: { atMs: number } | undefined, fromMs: number) =>
    entry === undefined ? undefined : Math.round(entry.atMs - fromMs);
  const fromCut = log.filter((e) => e.atMs >= cutAt);
  const bLeft2 = fromCut.some((e) => e.name === "B" && e.status !== 2);
  return {
    cut_ms: cutMs,
    false_offline_events:
      fromCut.filter((e) => e.status === 0 && up(e.name, e.atMs)).length,
    notifications_during_cut:
      log.filter((e) => e.atMs >= cutAt && e.atMs < returnAt).length,
    connectivity: connectivity.map((c) =>
      `${c.state}@${Math.round(c.atMs - cutAt)}`
    ),
    offline_detect_ms: since(
      connectivity.find((c) => c.state === "offline" && c.atMs >= cutAt),
      cutAt,
    ),
    online_detect_ms: since(
      connectivity.find((c) => c.state === "online" && c.atMs >= returnAt),
      returnAt,
    ),
    crashed_reported_ms: since(after("C", (s) => s === 0), returnAt),
    left_reported_ms: since(after("E", (s) => s === 0), returnAt),
    came_online_reported_ms: since(after("D", (s) => s > 0), returnAt),
    relinked_ms: bLeft2
      ? since(after("B", (s) => s === 2), returnAt)
      : undefined,
    notifications_after_return:
      log.filter((e) => e.atMs >= returnAt && e.atMs < returnAt + 3 * MINUTE)
        .length,
    log: fromCut.map((e) =>
      `${e.name}:${e.status}@${Math.round(e.atMs - cutAt)}`
    ),
  };
}
