/**
 * Scenario `inbox`: trust requests to targets that are offline when they
 * are sent, for one minute to seven days, from senders that come and go.
 *
 * Each request has its own sender and target account (one device each) on a
 * public DHT of plain nodes. Request k's target is online for a few minutes,
 * then leaves (half crash, half clean) at t_k; its sender comes online and
 * sends the request 1 minute to 1 hour later, stays for a session, then comes
 * back for short sessions now and then (sender churn) until its contact is
 * confirmed. The target comes back
 * after an offline time drawn log-uniformly from `minOfflineMs` to
 * `maxOfflineMs`, accepts the request as soon as it is shown, crashes 30 s
 * later and restarts a minute after that (a redelivery must not be shown
 * again), then stays online for an hour.
 *
 * Report: `delivered_ratio` (requests shown at their target by the end),
 * `delivery_after_online_ms` (the later of target back online and request
 * sent → request shown),
 * `duplicates_shown`, `confirmations_delivered_ratio` (acceptances that
 * reached the sender — its contact became confirmed — among those whose
 * sender came online at some point after the acceptance, the only ones that
 * can arrive), `bytes_per_request` (all bytes to and from device hosts,
 * presence included, per request).
 *
 * @module
 */
import { forkRng, randomInt, seededRng } from "../../lib/rng.ts";
import {
  OUR_PROFILE,
  type PresenceProfile,
} from "../../lib/presence/presence_profile.ts";
import { type CdfPoint, Samples } from "../metrics.ts";
import { phaseProgress, type ProgressCallback } from "../progress.ts";
import { DaemonSwarm, type DeviceSlot } from "../daemon_swarm.ts";
import { SIMULATION_EPOCH_MS } from "../../lib/testing/testnet.ts";
import type { LatencySummary } from "./presence.ts";

/** Options of {@link runInboxScenario}. */
export interface InboxScenarioOptions {
  /** Requests (each with its own sender and target). */
  readonly requests: number;
  /** Plain DHT nodes. @default {100} */
  readonly infraNodes?: number;
  /** Seed of every random choice; the same seed replays the run exactly. */
  readonly seed: number | string;
  /** Shortest target offline time. @default {1 minute} */
  readonly minOfflineMs?: number;
  /** Longest target offline time. @default {7 days} */
  readonly maxOfflineMs?: number;
  /** Requests are sent over this period. @default {12 hours} */
  readonly spreadMs?: number;
  /** Run on this long after the last target is back. @default {2 days} */
  readonly tailMs?: number;
  /** A sender stays away between visits for a time in this range. @default {[6 h, 30 h]} */
  readonly senderAwayMs?: readonly [number, number];
  /**
   * The request is sent this long after its target left (uniform): early,
   * Jami still sees the target's record; after 10 minutes it does not.
   * @default {[1 min, 1 h]}
   */
  readonly sendDelayMs?: readonly [number, number];
  /** Packet loss. @default {0} */
  readonly lossProbability?: number;
  /** Profile. @default {OUR_PROFILE} */
  readonly profile?: PresenceProfile;
  /** Called with the progress of each phase; the runner shows it on stderr. */
  readonly onProgress?: ProgressCallback;
}

/** Report of an inbox run (deterministic for a seed). */
export interface InboxReport {
  readonly scenario: "inbox";
  readonly profile: string;
  readonly requests: number;
  readonly nodes: number;
  readonly seed: number | string;
  readonly offline_ms_range: [number, number];
  readonly delivered_ratio: number;
  readonly delivery_after_online_ms: LatencySummary;
  readonly duplicates_shown: number;
  /** Acceptances that reached their sender, of those whose sender came online after it. */
  readonly confirmations_delivered_ratio: number;
  /** Acceptances whose sender came online again before the end. */
  readonly confirmations_deliverable: number;
  readonly bytes_per_request: number;
  readonly sim_seconds: number;
  /** CDF of the delivery delay (for `--report`). */
  readonly cdf?: Record<string, CdfPoint[]>;
  /** Why a CDF is empty, by metric (for `--report`; not in `--json`). */
  readonly cdfNotes?: Record<string, string>;
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Phases shown in progress. */
const PHASES = ["building network", "creating accounts", "running"] as const;

/** Progress is reported this many times in the running phase at most. */
const PROGRESS_STEPS = 1_000;

interface Job {
  readonly sender: DeviceSlot;
  readonly target: DeviceSlot;
  senderId: string;
  targetId: string;
  readonly leaveMs: number;
  readonly offlineMs: number;
  /** The request is sent this long after the target left. */
  readonly sendDelayMs: number;
  returnedMs?: number;
  sentMs?: number;
  shown: number;
  accepted: boolean;
  acceptedMs?: number;
  /** The sender started again after the acceptance. */
  senderBack: boolean;
  confirmed: boolean;
}

/**
 * Runs the inbox scenario.
 *
 * @param options Options.
 * @returns The report.
 */
export async function runInboxScenario(
  options: InboxScenarioOptions,
): Promise<InboxReport> {
  const progress = phaseProgress(PHASES, options.onProgress);
  const profile = options.profile ?? OUR_PROFILE;
  const infraNodes = options.infraNodes ?? 100;
  const minOffline = options.minOfflineMs ?? MINUTE;
  const maxOffline = options.maxOfflineMs ?? 7 * DAY;
  const spread = options.spreadMs ?? 12 * HOUR;
  const [awayMin, awayMax] = options.senderAwayMs ?? [6 * HOUR, 30 * HOUR];
  const [sendMin, sendMax] = options.sendDelayMs ?? [MINUTE, HOUR];
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
    onProgress: joined,
  });
  joined(infraNodes);
  const rng = forkRng(seededRng(`${options.seed}/inbox`), "plan");
  const clock = swarm.clock;
  const startMs = clock.now();
  const jobs: Job[] = [];
  for (let k = 0; k < options.requests; k++) {
    progress("creating accounts", [{
      label: "accounts",
      value: 2 * k,
      total: 2 * options.requests,
    }]);
    const sender = await swarm.addDevice();
    const target = await swarm.addDevice();
    const logRange = Math.log(maxOffline / minOffline);
    jobs.push({
      sender,
      target,
      senderId: await swarm.createAccount(sender),
      targetId: await swarm.createAccount(target),
      leaveMs: startMs + 5 * MINUTE +
        Math.floor(spread * k / Math.max(1, options.requests)),
      offlineMs: Math.round(minOffline * Math.exp(rng() * logRange)),
      sendDelayMs: sendMin + randomInt(rng, sendMax - sendMin + 1),
      shown: 0,
      accepted: false,
      senderBack: false,
      confirmed: false,
    });
  }
  progress("creating accounts", [{
    label: "accounts",
    value: 2 * options.requests,
    total: 2 * options.requests,
  }]);
  const byTarget = new Map(jobs.map((job) => [job.target, job]));
  const bySender = new Map(jobs.map((job) => [job.sender, job]));
  const delays = new Samples();

  // Listeners go on every daemon instance as it starts.
  swarm.onStart = (slot) => {
    const daemon = slot.daemon!;
    const asTarget = byTarget.get(slot);
    if (asTarget !== undefined) {
      daemon.config.on("incomingTrustRequest", (event) => {
        if (event.from !== asTarget.senderId) return;
        asTarget.shown += 1;
        if (asTarget.shown > 1) return;
        // From the later of "target back" and "request sent".
        if (asTarget.returnedMs !== undefined) {
          delays.add(
            clock.now() -
              Math.max(asTarget.returnedMs, asTarget.sentMs ?? -Infinity),
          );
        }
        asTarget.accepted = true;
        asTarget.acceptedMs = clock.now();
        daemon.config.acceptTrustRequest(asTarget.targetId, event.from);
        // Crash soon after, restart a minute later: no second showing.
        clock.setTimer(30 * SECOND, () => {
          swarm.crash(slot);
          clock.setTimer(MINUTE, () => swarm.restart(slot));
        });
      });
    }
    const asSender = bySender.get(slot);
    if (asSender?.acceptedMs !== undefined) asSender.senderBack = true;
    if (asSender !== undefined) {
      daemon.config.on("contactAdded", (event) => {
        if (event.uri === asSender.targetId && event.confirmed) {
          asSender.confirmed = true;
        }
      });
    }
  };

  // Each job's timeline.
  for (const job of jobs) {
    clock.setTimer(job.leaveMs - 3 * MINUTE - clock.now(), () => {
      swarm.start(job.target);
    });
    clock.setTimer(job.leaveMs - clock.now(), () => {
      if (randomInt(rng, 2) === 0) swarm.crash(job.target);
      else swarm.stop(job.target);
      clock.setTimer(job.offlineMs, () => {
        job.returnedMs = clock.now();
        swarm.restart(job.target);
        // Online for an hour after coming back.
        clock.setTimer(HOUR, () => {
          if (job.target.online) swarm.stop(job.target);
        });
      });
    });
    clock.setTimer(
      job.leaveMs + job.sendDelayMs - 50 * SECOND - clock.now(),
      () => {
        swarm.start(job.sender);
        clock.setTimer(50 * SECOND, () => {
          job.sentMs = clock.now();
          job.sender.daemon!.config.sendTrustRequest(
            job.senderId,
            job.targetId,
            new TextEncoder().encode(`request ${job.senderId}`),
          );
        });
        // Sender churn: a first session, then short visits.
        const visit = (afterMs: number) => {
          clock.setTimer(afterMs, () => {
            swarm.stop(job.sender);
            const awayMs = awayMin + randomInt(rng, awayMax - awayMin + 1);
            // Nothing is left for a confirmed sender to do.
            if (job.confirmed) return;
            clock.setTimer(awayMs, () => {
              swarm.restart(job.sender);
              visit(20 * MINUTE + randomInt(rng, 40 * MINUTE));
            });
          });
        };
        visit(5 * MINUTE + randomInt(rng, 55 * MINUTE));
      },
    );
  }

  const endMs = Math.max(...jobs.map((job) => job.leaveMs + job.offlineMs)) +
    (options.tailMs ?? 2 * DAY);
  const slots = jobs.flatMap((job) => [job.sender, job.target]);
  const bytesBefore = swarm.deviceBytes(slots);
  const steps = 40;
  const total = endMs - clock.now();
  const runStartMs = clock.now();
  let nextProgressMs = runStartMs;
  swarm.onStep = () => {
    if (clock.now() < nextProgressMs) return;
    nextProgressMs = clock.now() + total / PROGRESS_STEPS;
    const count = (test: (job: Job) => boolean) => jobs.filter(test).length;
    progress("running", [
      {
        label: "requests sent",
        value: count((job) => job.sentMs !== undefined),
        total: jobs.length,
      },
      { label: "shown", value: count((job) => job.shown > 0) },
      { label: "confirmed", value: count((job) => job.confirmed) },
    ], { ms: Math.min(clock.now() - runStartMs, total), totalMs: total });
  };
  swarm.onStep();
  for (let step = 1; step <= steps; step++) {
    await swarm.run(total / steps);
  }
  swarm.onStep = undefined;
  const bytes = swarm.deviceBytes(slots) - bytesBefore;
  // A confirmation can only arrive while its sender is online.
  const deliverable = jobs.filter((job) =>
    job.accepted && (job.senderBack || job.confirmed)
  );
  const round = (value: number) => Math.round(value * 10_000) / 10_000;
  const report: InboxReport = {
    scenario: "inbox",
    profile: profile.name,
    requests: jobs.length,
    nodes: infraNodes,
    seed: options.seed,
    offline_ms_range: [minOffline, maxOffline],
    delivered_ratio: round(
      jobs.filter((job) => job.shown > 0).length / jobs.length,
    ),
    delivery_after_online_ms: {
      count: delays.count,
      p50: Math.round(delays.percentile(50)),
      p95: Math.round(delays.percentile(95)),
      p99: Math.round(delays.percentile(99)),
    },
    duplicates_shown: jobs.reduce(
      (sum, job) => sum + Math.max(0, job.shown - 1),
      0,
    ),
    confirmations_delivered_ratio: round(
      deliverable.filter((job) => job.confirmed).length /
        Math.max(1, deliverable.length),
    ),
    confirmations_deliverable: deliverable.length,
    bytes_per_request: Math.round(bytes / jobs.length),
    sim_seconds: Math.round((clock.now() - SIMULATION_EPOCH_MS) / 1_000),
    cdf: { delivery_after_online_ms: delays.cdf(100) },
    cdfNotes: delays.count > 0 ? {} : {
      delivery_after_online_ms: jobs.some((job) => job.shown > 0)
        ? "no request was shown after its target came back online"
        : "no request reached its target",
    },
  };
  swarm.shutdown();
  return report;
}
