/**
 * The daemon's own connectivity, as a typed event: `connectivity`, raised
 * by {@link Daemon} when its DHT node stops hearing the network (state
 * `"offline"`) and when it hears it again (`"online"`). While offline,
 * contacts' presence is held: no `newBuddyNotification` says a contact went
 * offline because we could not hear it. Back online, every watched account
 * is looked up again and only real changes are told.
 *
 * @example Log the changes
 * ```ts
 * import assert from "node:assert/strict";
 * import { TypedEventTarget } from "./typed_event_target.ts";
 * import type { DaemonEventMap } from "./connectivity_event.ts";
 *
 * const daemon = new TypedEventTarget<DaemonEventMap>();
 * const seen: string[] = [];
 * daemon.on("connectivity", (c) => seen.push(`${c.state}@${c.atMs}`));
 * daemon.emit("connectivity", { state: "offline", atMs: 5_000 });
 * assert.deepEqual(seen, ["offline@5000"]);
 * ```
 *
 * @module
 */
import type { ConnectivityState } from "../dht/connectivity_monitor.ts";

export type { ConnectivityState };

/** Detail of `connectivity`. */
export interface ConnectivityEvent {
  /** `"offline"`: the DHT went silent to our requests; `"online"`: heard again. */
  readonly state: ConnectivityState;
  /** When it was decided, on the daemon's clock (milliseconds). */
  readonly atMs: number;
}

/** Events of the `Daemon` itself (its managers have their own). */
export interface DaemonEventMap {
  /** Our own node lost or regained the DHT. */
  connectivity: ConnectivityEvent;
}
