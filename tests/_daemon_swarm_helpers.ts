/**
 * Helpers for the daemon simulation tests: a swarm with two accounts on two
 * devices, and an event log that follows a device across restarts.
 */
import assert from "node:assert/strict";
import { DaemonSwarm, type DeviceSlot } from "../sim/daemon_swarm.ts";
import type { Daemon } from "../lib/daemon/daemon.ts";
import type { ConfigurationEventMap } from "../lib/daemon/configuration_manager.ts";
import type { PresenceEventMap } from "../lib/daemon/presence_manager.ts";
import type { PresenceProfile } from "../lib/presence/presence_profile.ts";

/** Everything a daemon told its user, in order, with the virtual time. */
export type LoggedEvent =
  & { atMs: number }
  & (
    | {
      [K in keyof ConfigurationEventMap]: {
        type: K;
        detail: ConfigurationEventMap[K];
      };
    }[keyof ConfigurationEventMap]
    | {
      type: "newBuddyNotification";
      detail: PresenceEventMap["newBuddyNotification"];
    }
  );

const CONFIG_EVENTS: (keyof ConfigurationEventMap)[] = [
  "incomingTrustRequest",
  "contactAdded",
  "contactRemoved",
  "trustRequestDelivered",
  "trustRequestAccepted",
  "trustRequestExpired",
  "confirmationDelivered",
  "confirmationExpired",
];

/** An event log for one device; call {@link EventLog.attach} after each restart. */
export class EventLog {
  readonly events: LoggedEvent[] = [];
  readonly #swarm: DaemonSwarm;

  constructor(swarm: DaemonSwarm, slot: DeviceSlot) {
    this.#swarm = swarm;
    this.attach(slot.daemon!);
  }

  /** Records the events of `daemon` (a restarted device has a new one). */
  attach(daemon: Daemon): void {
    for (const type of CONFIG_EVENTS) {
      daemon.config.on(type, (detail) =>
        this.events.push(
          { type, detail, atMs: this.#swarm.clock.now() } as LoggedEvent,
        ));
    }
    daemon.presence.on("newBuddyNotification", (detail) =>
      this.events.push({
        type: "newBuddyNotification",
        detail,
        atMs: this.#swarm.clock.now(),
      }));
  }

  /** Events of one type. */
  of<K extends LoggedEvent["type"]>(
    type: K,
  ): Extract<LoggedEvent, { type: K }>[] {
    return this.events.filter((event) => event.type === type) as Extract<
      LoggedEvent,
      { type: K }
    >[];
  }

  /** How many events of `type`. */
  count(type: LoggedEvent["type"]): number {
    return this.of(type).length;
  }
}

/** Two accounts, one device each, both online and settled. */
export interface Pair {
  swarm: DaemonSwarm;
  alice: DeviceSlot;
  bob: DeviceSlot;
  /** Alice's account id. */
  a: string;
  /** Bob's account id. */
  b: string;
  aliceLog: EventLog;
  bobLog: EventLog;
}

/** Options of {@link pair}. */
export interface PairOptions {
  /** Infrastructure DHT nodes. @default {30} */
  infraNodes?: number;
  /** Start Bob's device. @default {true} */
  startBob?: boolean;
  /** Profile. */
  profile?: PresenceProfile;
}

/**
 * Builds a swarm with Alice and Bob, starts them and lets 5 s pass.
 *
 * @param seed Seed.
 * @param options Options.
 * @returns The pair.
 */
export async function pair(
  seed: string,
  options: PairOptions = {},
): Promise<Pair> {
  const swarm = await DaemonSwarm.create({
    seed,
    infraNodes: options.infraNodes ?? 30,
    profile: options.profile,
  });
  const alice = await swarm.addDevice();
  const bob = await swarm.addDevice();
  const a = await swarm.createAccount(alice);
  const b = await swarm.createAccount(bob);
  const aliceLog = new EventLog(swarm, alice);
  const bobLog = new EventLog(swarm, bob);
  swarm.start(alice);
  if (options.startBob ?? true) swarm.start(bob);
  await swarm.run(5_000);
  return { swarm, alice, bob, a, b, aliceLog, bobLog };
}

/**
 * Restarts `slot` and re-attaches `log` to the new daemon before it starts.
 *
 * @param swarm Swarm.
 * @param slot Device.
 * @param log Its log.
 */
export async function restart(
  swarm: DaemonSwarm,
  slot: DeviceSlot,
  log: EventLog,
): Promise<void> {
  await swarm.restart(slot);
  log.attach(slot.daemon!);
  // It starts at the end of a run() step.
  for (let i = 0; i < 100 && !slot.online; i++) await swarm.run(20, 20);
  assert.ok(slot.online, "device did not come back");
}

/**
 * Stops `slot` cleanly, running the clock until it is done.
 *
 * @param swarm Swarm.
 * @param slot Device.
 */
export async function stopCleanly(
  swarm: DaemonSwarm,
  slot: DeviceSlot,
): Promise<void> {
  let done = false;
  const stopping = swarm.stop(slot).then(() => done = true);
  for (let i = 0; i < 100 && !done; i++) await swarm.run(100);
  await stopping;
}

/**
 * Runs until `condition` holds, in steps of `stepMs`, at most `maxMs`.
 *
 * @param swarm Swarm.
 * @param condition What to wait for.
 * @param maxMs Give up after this long (virtual).
 * @param stepMs Step.
 * @returns Virtual time it took.
 */
export async function runUntil(
  swarm: DaemonSwarm,
  condition: () => boolean,
  maxMs: number,
  stepMs = 100,
): Promise<number> {
  const start = swarm.clock.now();
  while (!condition()) {
    if (swarm.clock.now() - start >= maxMs) {
      assert.fail(`condition not met within ${maxMs} ms of virtual time`);
    }
    await swarm.run(stepMs);
  }
  return swarm.clock.now() - start;
}

/** UTF-8 bytes. */
export function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}
