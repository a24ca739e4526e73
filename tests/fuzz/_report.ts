/**
 * What a fuzz run reports, and how crashes are caught: an error thrown out
 * of the target's entry points, out of a timer it armed, or from a promise
 * it left rejected with no handler.
 *
 * @module
 */

/** Memory as `Deno.memoryUsage()` reports it, in bytes. */
export interface MemorySnapshot {
  /** Resident set size of the process. */
  readonly rss: number;
  /** V8 heap in use. */
  readonly heapUsed: number;
}

/** The outcome of one fuzz run against one target. */
export interface FuzzReport {
  /** "dht" (the UDP DHT node) or "link" (the TCP link port). */
  readonly target: string;
  /** The seed the run replays from. */
  readonly seed: string;
  /** Hostile packets (DHT datagrams, or link streams) sent. */
  readonly packetsSent: number;
  /** Bytes in them. */
  readonly bytesSent: number;
  /** Errors that escaped the target (must stay empty), first ones kept. */
  readonly crashes: readonly string[];
  /** How many errors escaped in all. */
  readonly crashCount: number;
  /** Valid pings (DHT pings, or genuine link handshakes) interleaved. */
  readonly pingsSent: number;
  /** Of those, answered (a pong, or a link that opened). */
  readonly pingsAnswered: number;
  /** Target-specific counters worth a look (errors caught inside it, refusals…). */
  readonly notes: Readonly<Record<string, number>>;
  /** Memory before the run. */
  readonly memoryBefore: MemorySnapshot;
  /** Memory after the run (after a GC when `--expose-gc` is on). */
  readonly memoryAfter: MemorySnapshot;
  /** Wall-clock time of the run. */
  readonly elapsedMs: number;
}

/** Most crash messages kept in a report. */
const MAX_KEPT = 20;

/**
 * Collects errors escaping a target while installed: synchronous throws
 * handed to {@link CrashCatcher.record}, and uncaught errors and unhandled
 * rejections that reach the global scope (prevented from ending the
 * process).
 */
export class CrashCatcher {
  readonly messages: string[] = [];
  count = 0;
  readonly #onError = (event: ErrorEvent) => {
    event.preventDefault();
    this.record(event.error ?? event.message);
  };
  readonly #onRejection = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    this.record(event.reason);
  };

  /** Starts listening to global errors. */
  install(): void {
    globalThis.addEventListener("error", this.#onError);
    globalThis.addEventListener("unhandledrejection", this.#onRejection);
  }

  /** Stops listening to global errors. */
  uninstall(): void {
    globalThis.removeEventListener("error", this.#onError);
    globalThis.removeEventListener("unhandledrejection", this.#onRejection);
  }

  /** Counts one escaped error. */
  record(error: unknown): void {
    this.count += 1;
    if (this.messages.length < MAX_KEPT) {
      this.messages.push(
        error instanceof Error
          ? `${error.name}: ${error.message}\n${error.stack ?? ""}`
          : String(error),
      );
    }
  }
}

/** Memory now, after a GC when the runtime exposes one. */
export function memoryNow(): MemorySnapshot {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = Deno.memoryUsage();
  return { rss, heapUsed };
}
