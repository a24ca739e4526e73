/**
 * `ConnectivityMonitor`: tells whether this node can still reach the DHT,
 * from nothing but its own traffic, on the injected clock.
 *
 * The rule: the node is **offline** once requests to at least
 * {@link OFFLINE_MIN_DESTINATIONS} different addresses have gone out with
 * no datagram of any kind received since, and `silenceMs` has passed since
 * the second of them left. Any datagram received (a reply, a request, a
 * push: anything of our network that decodes) makes it **online** again at
 * once. Outgoing requests are what make silence meaningful: an idle node
 * that asks nothing is never declared offline, and one dead peer is not
 * enough (two destinations are).
 *
 * `silenceMs` comes from the RPC timing ({@link connectivitySilenceMs}):
 * twice the whole life of a request (all its sends, the wait after the
 * last, the largest jitter), 11.5 s with the default timing. By then both
 * requests have expired unanswered, and every other node we exchanged with
 * has had two full request lifetimes to say anything.
 *
 * @example Silence after two requests, then one reply
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectivityMonitor } from "./connectivity_monitor.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 *
 * const clock = new ManualClock(0);
 * const seen: string[] = [];
 * const monitor = new ConnectivityMonitor({
 *   clock,
 *   silenceMs: 10_000,
 *   onChange: (state) => seen.push(state),
 * });
 * monitor.sent({ host: "192.0.2.1", port: 4222 });
 * monitor.sent({ host: "192.0.2.2", port: 4222 });
 * clock.advance(10_000);
 * assert.equal(monitor.state, "offline");
 * monitor.heard();
 * assert.deepEqual(seen, ["offline", "online"]);
 * ```
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";
import type { PeerAddress } from "../transport.ts";
import type { RpcTiming } from "./rpc_engine.ts";

/** Distinct destinations of unanswered requests needed before silence counts. */
export const OFFLINE_MIN_DESTINATIONS = 2;

/** Whether the node hears the DHT. */
export type ConnectivityState = "online" | "offline";

/** What a {@link ConnectivityMonitor} runs on and whom it tells. */
export interface ConnectivityMonitorOptions {
  /** The clock the silence is measured on (virtual in the simulator). */
  readonly clock: Clock;
  /** Silence, after the second unanswered destination, that means offline; Infinity: never. */
  readonly silenceMs: number;
  /** Told of every change, with the time it was decided. */
  readonly onChange?: (state: ConnectivityState, atMs: number) => void;
}

/**
 * The silence that means offline for a given RPC timing: twice the longest
 * life of one request (every send, the wait after the last, and the
 * largest jitter of each gap).
 *
 * @param timing The RPC timing (defaults as in `RpcEngine`).
 * @returns Milliseconds; 11,500 with the default timing.
 *
 * @example The default
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectivitySilenceMs } from "./connectivity_monitor.ts";
 *
 * assert.equal(connectivitySilenceMs({}), 11_500);
 * ```
 */
export function connectivitySilenceMs(timing: RpcTiming = {}): number {
  const attempts = timing.attempts ?? 3;
  const firstRetryMs = timing.firstRetryMs ?? 1_000;
  const jitterMs = timing.retryJitterMs ?? 250;
  const lastMs = timing.expireAfterLastMs ?? 2_000;
  // Gaps double: 1 s, 2 s, … between the sends.
  let lifeMs = lastMs + attempts * jitterMs;
  for (let gap = 0; gap < attempts - 1; gap++) {
    lifeMs += firstRetryMs * 2 ** gap;
  }
  return 2 * lifeMs;
}

/** Decides online/offline from what a node sends and hears. */
export class ConnectivityMonitor {
  readonly #options: ConnectivityMonitorOptions;
  /**
   * Made on first use: a monitor may have no listener, and an empty Set
   * costs ~150 bytes (a DhtNode's monitor always has one, its `onChange`).
   */
  #listeners:
    | Set<(state: ConnectivityState, atMs: number) => void>
    | undefined;
  /**
   * Destinations of requests sent since the last datagram heard, distinct by
   * host and port (at most 2 kept). A short array, not a `Set` of formatted
   * addresses: this runs for every request and every datagram, and the
   * string per request and the table per clear were a few per cent of a
   * large simulation.
   */
  readonly #unanswered: PeerAddress[] = [];
  /**
   * `#unanswered.length`, kept beside the state: a datagram heard while
   * nothing is unanswered and we are online reads only this object.
   */
  #unansweredCount = 0;
  #state: ConnectivityState = "online";
  /**
   * When the second unanswered destination's request left; undefined while
   * fewer than two are unanswered.
   */
  #silentSinceMs?: number;
  /**
   * One lazy timer: a datagram heard does not cancel it (a busy node hears
   * thousands a second); when it fires it decides, or waits out the rest.
   */
  #timer?: Timer;
  #changedAtMs: number;

  /**
   * A monitor that starts online.
   *
   * @param options Clock, silence and the change callback.
   * @throws {RangeError} If `silenceMs` is not a positive number.
   */
  constructor(options: ConnectivityMonitorOptions) {
    if (!(options.silenceMs > 0)) {
      throw new RangeError(
        `Cannot create connectivity monitor: silenceMs ${options.silenceMs} is not positive`,
      );
    }
    this.#options = options;
    this.#changedAtMs = options.clock.now();
    if (options.onChange !== undefined) {
      (this.#listeners ??= new Set()).add(options.onChange);
    }
  }

  /** Online or offline, as last decided. */
  get state(): ConnectivityState {
    return this.#state;
  }

  /**
   * True while requests to two nodes are unanswered and nothing was heard
   * since (the offline decision is pending), and while offline: a lookup
   * nobody answered then proves nothing about what is stored. Never with
   * `silenceMs` Infinity (the monitor switched off).
   */
  get silent(): boolean {
    // A monitor that never decides (silenceMs Infinity) is switched off.
    return this.#state === "offline" ||
      (this.#silentSinceMs !== undefined &&
        Number.isFinite(this.#options.silenceMs));
  }

  /** When the state last changed (construction time if never). */
  get changedAtMs(): number {
    return this.#changedAtMs;
  }

  /**
   * Adds a listener told of every change.
   *
   * @param listener Receives the new state and the time.
   * @returns A function that removes it.
   */
  onChange(
    listener: (state: ConnectivityState, atMs: number) => void,
  ): () => void {
    const listeners = this.#listeners ??= new Set();
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /**
   * A request went out (first send only; retries add nothing).
   *
   * @param to Its destination.
   */
  sent(to: PeerAddress): void {
    if (this.#unansweredCount >= OFFLINE_MIN_DESTINATIONS) return;
    const unanswered = this.#unanswered;
    for (const known of unanswered) {
      if (known.host === to.host && known.port === to.port) return;
    }
    unanswered.push(to);
    this.#unansweredCount = unanswered.length;
    if (unanswered.length < OFFLINE_MIN_DESTINATIONS) return;
    this.#silentSinceMs = this.#options.clock.now();
    if (this.#state === "online") this.#arm(this.#options.silenceMs);
  }

  /** A datagram of our network arrived: the network works. */
  heard(): void {
    // The common case: nothing to clear (the silence starts only with a
    // second unanswered destination).
    if (this.#unansweredCount === 0 && this.#state === "online") return;
    this.#unanswered.length = 0;
    this.#unansweredCount = 0;
    this.#silentSinceMs = undefined;
    if (this.#state === "offline") this.#set("online");
  }

  /** Cancels the timer (the node stopped). */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#unanswered.length = 0;
    this.#unansweredCount = 0;
    this.#silentSinceMs = undefined;
  }

  #arm(delayMs: number): void {
    if (this.#timer !== undefined || !Number.isFinite(delayMs)) return;
    this.#timer = this.#options.clock.setTimer(delayMs, () => {
      this.#timer = undefined;
      this.#decide();
    });
  }

  /** The timer fired: offline if the silence lasted, else wait out the rest. */
  #decide(): void {
    if (this.#silentSinceMs === undefined || this.#state === "offline") return;
    const dueMs = this.#silentSinceMs + this.#options.silenceMs;
    const now = this.#options.clock.now();
    if (now >= dueMs) this.#set("offline");
    else this.#arm(dueMs - now);
  }

  #set(state: ConnectivityState): void {
    this.#state = state;
    this.#changedAtMs = this.#options.clock.now();
    if (this.#listeners === undefined) return;
    for (const listener of [...this.#listeners]) {
      listener(state, this.#changedAtMs);
    }
  }
}
