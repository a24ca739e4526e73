/**
 * Probe: how long a Jami-profile watcher takes to see a crash, by the
 * crashed device's age. One watcher and one device on a 30-node simulated
 * DHT (seed 5); the device starts, is seen online, crashes `age` seconds
 * after it started, and the watcher's status 0 is timed. Prints one JSON
 * line per age.
 *
 * Usage: `deno run --allow-read --allow-env sim/jami_crash_phase.ts 5,18,100,300,585,700`
 *
 * The announcement lives 600 s on the storing nodes and is refreshed every
 * 590 s, so the crash is seen 600 s after the last refresh: about
 * 600 − age in the first cycle, (590 + 600) − age in the second. The real
 * jami-daemon runs (killed seconds after they announced) took 582–595 s;
 * `docs/figures.md` compares them.
 *
 * @module
 */
import { DaemonSwarm } from "./daemon_swarm.ts";
import { JAMI_PROFILE } from "../lib/presence/presence_profile.ts";

/** Most 10 s steps waited for the status 0 after a crash (over 13 minutes). */
const MAX_WAIT_STEPS = 80;

/**
 * Crashes a Jami-profile device `ageS` seconds after it started and times
 * its watcher's status 0.
 *
 * @param ageS Seconds between the device's start and its crash.
 * @returns Virtual milliseconds until the watcher saw it online, and seconds until it saw the crash (-1: never).
 */
export async function crashAtAge(
  ageS: number,
): Promise<{ onlineAfterMs: number; crashToOfflineS: number }> {
  const swarm = await DaemonSwarm.create({
    seed: 5,
    infraNodes: 30,
    profile: JAMI_PROFILE,
  });
  const device = await swarm.addDevice();
  const watcher = await swarm.addDevice();
  const deviceId = await swarm.createAccount(device);
  const watcherId = await swarm.createAccount(watcher);
  await device.daemon!.config.addContact(deviceId, watcherId);
  await watcher.daemon!.config.addContact(watcherId, deviceId);
  swarm.start(watcher);
  await swarm.run(30_000);
  let onlineAt = -1;
  let offlineAt = -1;
  watcher.daemon!.presence.on("newBuddyNotification", (event) => {
    if (event.buddyUri !== deviceId) return;
    const now = swarm.clock.now();
    if (event.status > 0 && onlineAt < 0) onlineAt = now;
    if (event.status === 0 && onlineAt >= 0 && offlineAt < 0) offlineAt = now;
  });
  watcher.daemon!.presence.subscribeBuddy(watcherId, deviceId, true);
  const startedAt = swarm.clock.now();
  swarm.start(device);
  await swarm.run(ageS * 1_000);
  const crashedAt = swarm.clock.now();
  swarm.crash(device);
  for (let step = 0; step < MAX_WAIT_STEPS && offlineAt < 0; step++) {
    await swarm.run(10_000);
  }
  swarm.shutdown();
  return {
    onlineAfterMs: Math.round(onlineAt - startedAt),
    crashToOfflineS: offlineAt < 0
      ? -1
      : Math.round((offlineAt - crashedAt) / 100) / 10,
  };
}

if (import.meta.main) {
  const ages = (Deno.args[0] ?? "5,18,100,300,585,700").split(",").map(Number);
  for (const age of ages) {
    const result = await crashAtAge(age);
    console.log(JSON.stringify({
      age_at_crash_s: age,
      online_seen_after_ms: result.onlineAfterMs,
      crash_to_offline_s: result.crashToOfflineS,
    }));
  }
}
