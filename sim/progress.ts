/**
 * Progress of a simulation run, for the person waiting at the terminal.
 *
 * Scenarios report {@link ProgressUpdate}s: which phase they are in, labelled
 * counts and the virtual time simulated, nothing measured on the host. The
 * runner hands them to a {@link ProgressReporter}, which adds the wall time
 * (elapsed and an estimate of what is left of the phase) and writes one line
 * to stderr, at most once a second on a terminal (rewriting the line in
 * place) and less often, one plain line each, when stderr is a file or a
 * pipe. Wall time only decides what is shown and when; it never reaches the
 * simulation, so results stay the same for a seed.
 *
 * @example A line in a log file
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProgressReporter } from "./progress.ts";
 *
 * let wallMs = 0;
 * const lines: string[] = [];
 * const progress = new ProgressReporter({
 *   label: "lookup",
 *   terminal: false,
 *   now: () => wallMs,
 *   write: (text) => lines.push(text),
 * });
 * progress.update({
 *   phase: "running",
 *   phaseIndex: 2,
 *   phaseCount: 2,
 *   counts: [{ label: "lookups", value: 250, total: 1_000 }],
 * });
 * wallMs = 30_000;
 * progress.update({
 *   phase: "running",
 *   phaseIndex: 2,
 *   phaseCount: 2,
 *   counts: [{ label: "lookups", value: 500, total: 1_000 }],
 * });
 * assert.equal(
 *   lines[1],
 *   "[lookup] 2/2 running: lookups 500 of 1,000 (50 %) | elapsed 30 s, ETA 30 s\n",
 * );
 * ```
 *
 * @module
 */
import { formatCount, formatDurationMs } from "./units.ts";

/** One labelled count of a {@link ProgressUpdate}, e.g. "detections 74 of 425". */
export interface ProgressCount {
  /** What is counted, e.g. "accounts created". */
  readonly label: string;
  /** How many so far. */
  readonly value: number;
  /** How many in all, when known. */
  readonly total?: number;
}

/** Where a scenario is: virtual figures only, deterministic for a seed. */
export interface ProgressUpdate {
  /** Name of the phase, e.g. "building network", "making contacts", "running". */
  readonly phase: string;
  /** Number of the phase, from 1. */
  readonly phaseIndex: number;
  /** Phases of the scenario. */
  readonly phaseCount: number;
  /** Labelled counts; the first one with a total measures the phase's progress when there is no virtual time. */
  readonly counts?: readonly ProgressCount[];
  /** Virtual time simulated in this phase so far, ms. */
  readonly virtualMs?: number;
  /** Virtual time this phase simulates in all, ms. */
  readonly virtualTotalMs?: number;
}

/** A scenario's progress callback. */
export type ProgressCallback = (update: ProgressUpdate) => void;

/** Reports one phase of a scenario: its counts and the virtual time done. */
export type PhaseProgress<Phase extends string> = (
  phase: Phase,
  counts: ProgressCount[],
  virtual?: { ms: number; totalMs: number },
) => void;

/**
 * A scenario's progress reporter over its fixed list of `phases`: numbers
 * each update by its phase's place in the list and hands it to `onProgress`
 * (none: updates go nowhere).
 */
export function phaseProgress<Phase extends string>(
  phases: readonly Phase[],
  onProgress: ProgressCallback | undefined,
): PhaseProgress<Phase> {
  const callback = onProgress ?? (() => {});
  return (phase, counts, virtual) =>
    callback({
      phase,
      phaseIndex: phases.indexOf(phase) + 1,
      phaseCount: phases.length,
      counts,
      virtualMs: virtual?.ms,
      virtualTotalMs: virtual?.totalMs,
    });
}

/**
 * Share of its phase an update has done, from 0 to 1: virtual time done over
 * total when given, else the first count with a total.
 *
 * @param update The update.
 * @returns The share, or undefined when the update does not tell.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { phaseFraction } from "./progress.ts";
 *
 * assert.equal(phaseFraction({
 *   phase: "running", phaseIndex: 1, phaseCount: 1,
 *   virtualMs: 150_000, virtualTotalMs: 600_000,
 * }), 0.25);
 * ```
 */
export function phaseFraction(update: ProgressUpdate): number | undefined {
  const { virtualMs, virtualTotalMs } = update;
  if (virtualMs !== undefined && virtualTotalMs !== undefined) {
    return virtualTotalMs > 0 ? clamp(virtualMs / virtualTotalMs) : 1;
  }
  const count = update.counts?.find((c) => c.total !== undefined);
  if (count === undefined) return undefined;
  return count.total! > 0 ? clamp(count.value / count.total!) : 1;
}

function clamp(fraction: number): number {
  return Math.min(1, Math.max(0, fraction));
}

/**
 * Wall time left in a phase, assuming the rest goes at the pace so far.
 *
 * @param fraction Share of the phase done, from 0 to 1.
 * @param phaseElapsedMs Wall time spent in the phase so far.
 * @returns Milliseconds, or undefined before there is any pace to go by.
 *
 * @example A quarter done in 10 s: 30 s to go
 * ```ts
 * import assert from "node:assert/strict";
 * import { estimateRemainingMs } from "./progress.ts";
 *
 * assert.equal(estimateRemainingMs(0.25, 10_000), 30_000);
 * assert.equal(estimateRemainingMs(0, 10_000), undefined);
 * ```
 */
export function estimateRemainingMs(
  fraction: number,
  phaseElapsedMs: number,
): number | undefined {
  if (!(fraction > 0) || !(phaseElapsedMs > 0)) return undefined;
  return phaseElapsedMs * (1 - fraction) / fraction;
}

/** Wall-clock figures of a {@link formatProgressLine}. */
export interface ProgressTiming {
  /** Since the run started. */
  readonly elapsedMs: number;
  /** Since this phase started. */
  readonly phaseElapsedMs: number;
}

/**
 * One progress line (no line end): label, phase, counts, virtual time,
 * elapsed wall time, ETA of the phase; or, with `done`, the phase's time.
 *
 * @param label Prefix in brackets, e.g. "presence/ours".
 * @param update Where the scenario is.
 * @param timing Wall-clock figures.
 * @param done Whether the phase is over.
 * @returns The line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatProgressLine } from "./progress.ts";
 *
 * assert.equal(
 *   formatProgressLine("presence/ours", {
 *     phase: "running", phaseIndex: 4, phaseCount: 4,
 *     virtualMs: 150_000, virtualTotalMs: 600_000,
 *     counts: [{ label: "crash detections", value: 74 }],
 *   }, { elapsedMs: 70_000, phaseElapsedMs: 20_000 }),
 *   "[presence/ours] 4/4 running: virtual 2.5 min of 10 min (25 %), crash detections 74 | elapsed 1.17 min, ETA 1 min",
 * );
 * ```
 */
export function formatProgressLine(
  label: string,
  update: ProgressUpdate,
  timing: ProgressTiming,
  done = false,
): string {
  const parts: string[] = [];
  const fraction = phaseFraction(update);
  const percent = fraction === undefined || done
    ? ""
    : ` (${Math.floor(fraction * 100)} %)`;
  const { virtualMs, virtualTotalMs } = update;
  if (virtualMs !== undefined) {
    parts.push(
      `virtual ${formatDurationMs(virtualMs)}${
        virtualTotalMs === undefined
          ? ""
          : ` of ${formatDurationMs(virtualTotalMs)}`
      }${percent}`,
    );
  }
  let percentShown = virtualMs !== undefined && virtualTotalMs !== undefined;
  for (const count of update.counts ?? []) {
    let text = `${count.label} ${formatCount(count.value)}`;
    if (count.total !== undefined) {
      text += ` of ${formatCount(count.total)}`;
      if (!percentShown) text += percent;
      percentShown = true;
    }
    parts.push(text);
  }
  const head =
    `[${label}] ${update.phaseIndex}/${update.phaseCount} ${update.phase}${
      done ? " done" : ""
    }`;
  const body = parts.length > 0 ? `: ${parts.join(", ")}` : "";
  let tail: string;
  if (done) {
    tail = `in ${formatDurationMs(timing.phaseElapsedMs)}`;
  } else {
    const remaining = fraction === undefined
      ? undefined
      : estimateRemainingMs(fraction, timing.phaseElapsedMs);
    tail = `elapsed ${formatDurationMs(timing.elapsedMs)}, ETA ${
      remaining === undefined ? "?" : formatDurationMs(remaining)
    }`;
  }
  return `${head}${body} | ${tail}`;
}

/**
 * Shortens a line to fit `columns - 1` characters (so that the terminal does
 * not wrap it), cutting the counts in the middle and keeping the wall-time
 * part after the last " | ".
 */
function fitLine(line: string, columns: number): string {
  const room = Math.max(20, columns - 1);
  if (line.length <= room) return line;
  const bar = line.lastIndexOf(" | ");
  const tail = bar === -1 ? "" : line.slice(bar);
  const head = line.slice(0, bar === -1 ? line.length : bar);
  const keep = room - tail.length - 1;
  if (keep < 10) return `${line.slice(0, room - 1)}…`;
  return `${head.slice(0, keep)}…${tail}`;
}

/** Options of a {@link ProgressReporter}. */
export interface ProgressReporterOptions {
  /** Prefix of every line, e.g. "presence/ours". */
  readonly label: string;
  /** Writes text as is (stderr in the runner). */
  readonly write: (text: string) => void;
  /** Wall clock, ms (display only). */
  readonly now: () => number;
  /** Whether the output is a terminal: one line rewritten in place; else one line per update. */
  readonly terminal: boolean;
  /** Terminal width (0: unknown): longer lines are cut so that they can be rewritten. @default {120} */
  readonly columns?: number;
  /** Least wall time between two updates shown. @default {1 s on a terminal, 10 s otherwise} */
  readonly intervalMs?: number;
}

/**
 * Shows {@link ProgressUpdate}s as lines, throttled by wall time. A new
 * phase is always shown at once, after a "done" line for the one before.
 */
export class ProgressReporter {
  readonly #options: ProgressReporterOptions;
  readonly #intervalMs: number;
  readonly #startMs: number;
  #phaseStartMs: number;
  #lastShownMs = -Infinity;
  #last: ProgressUpdate | undefined;
  /** A terminal line is shown and not yet ended. */
  #open = false;

  /**
   * Creates a reporter; the run's elapsed time counts from now.
   *
   * @param options Output, clock and mode.
   */
  constructor(options: ProgressReporterOptions) {
    this.#options = options;
    this.#intervalMs = options.intervalMs ??
      (options.terminal ? 1_000 : 10_000);
    this.#startMs = options.now();
    this.#phaseStartMs = this.#startMs;
  }

  /**
   * Takes an update; shows it if the phase is new or the interval has passed.
   *
   * @param update Where the scenario is.
   */
  update(update: ProgressUpdate): void {
    const now = this.#options.now();
    const last = this.#last;
    if (last !== undefined && last.phase !== update.phase) {
      this.#show(last, now, true);
      this.#phaseStartMs = now;
      this.#lastShownMs = -Infinity;
    }
    this.#last = update;
    if (now - this.#lastShownMs < this.#intervalMs) return;
    this.#show(update, now, false);
  }

  /**
   * Writes a line of its own (a message, not progress), below the progress line.
   *
   * @param text The line, without line end.
   */
  message(text: string): void {
    this.#endLine();
    this.#options.write(`${text}\n`);
  }

  /** Ends the current phase with its "done" line; the next update starts afresh. */
  finish(): void {
    const last = this.#last;
    if (last === undefined) return;
    this.#show(last, this.#options.now(), true);
    this.#last = undefined;
  }

  #show(update: ProgressUpdate, now: number, done: boolean): void {
    this.#lastShownMs = now;
    const line = formatProgressLine(this.#options.label, update, {
      elapsedMs: now - this.#startMs,
      phaseElapsedMs: now - this.#phaseStartMs,
    }, done);
    if (!this.#options.terminal) {
      this.#options.write(`${line}\n`);
      return;
    }
    const width = this.#options.columns;
    const cut = fitLine(line, width !== undefined && width > 0 ? width : 120);
    // Carriage return, the line, erase to its end.
    this.#options.write(`\r${cut}\x1b[K${done ? "\n" : ""}`);
    this.#open = !done;
  }

  #endLine(): void {
    if (!this.#open) return;
    this.#options.write("\n");
    this.#open = false;
  }
}
