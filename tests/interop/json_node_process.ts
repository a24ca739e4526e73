/**
 * Our CLI as a user runs it (`deno task run … --json`), as a subprocess
 * driven through its console: commands written on stdin, one JSON event a
 * line read from stdout (`{"type", "level", "time", …, "text"}`, see
 * `cli/_output.ts`). Every wait is bounded; {@link JsonNodeProcess.kill}
 * sends SIGKILL (tests call {@link JsonNodeProcess.close} in `finally`).
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };
import { collectOutput } from "../_bounded_deno.ts";

/** One line of `--json` output, with when this process read it. */
export interface JsonEvent {
  /** `started`, `presence`, `reply`, … */
  readonly type: string;
  /** Every other field of the line. */
  readonly [field: string]: unknown;
}

/** An event and the `performance.now()` at which it was read. */
export interface ReceivedEvent {
  readonly event: JsonEvent;
  readonly atMs: number;
}

/** The `run` task's arguments after `deno` (its permissions, `main.ts`). */
export function runTaskArgs(): string[] {
  const [deno, ...args] = denoJson.tasks.run.command.split(/\s+/);
  if (deno !== "deno") {
    throw new TypeError(`Cannot read the run task: "${deno}" is not deno`);
  }
  return args;
}

/** Options of {@link JsonNodeProcess.start}. */
export interface JsonNodeOptions {
  /** The repository root (where `main.ts` is). */
  readonly cwd: string;
  /** Options after the task's (`--data-dir …`); `--json` is added. */
  readonly args: readonly string[];
  /**
   * A command line `deno` runs under, e.g. `["ip", "netns", "exec", ns]`
   * (it must exec `deno`, so that a kill reaches the node). @default {[]}
   */
  readonly wrapper?: readonly string[];
}

/** One running node of ours, with its JSON events. */
export class JsonNodeProcess {
  /** Every event read so far, in order. */
  readonly events: ReceivedEvent[] = [];
  /** Raw output, for failure messages. */
  readonly output = { stdout: "", stderr: "" };
  /** Resolves with the exit status once the process ended. */
  readonly exited: Promise<Deno.CommandStatus>;
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #parsed = 0;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    const reading = collectOutput(child, this.output);
    this.exited = (async () => {
      const status = await child.status;
      await reading;
      return status;
    })();
  }

  /**
   * Starts the node.
   *
   * @param options Where, how, and the options.
   * @returns The running process (not yet ready: wait for `started`).
   */
  static start(options: JsonNodeOptions): JsonNodeProcess {
    const [command, ...prefix] = [...(options.wrapper ?? []), Deno.execPath()];
    const child = new Deno.Command(command, {
      args: [...prefix, ...runTaskArgs(), ...options.args, "--json"],
      cwd: options.cwd,
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new JsonNodeProcess(child);
  }

  /** The process id (deno's, the wrapper having exec'd it). */
  get pid(): number {
    return this.#child.pid;
  }

  /**
   * Writes one console command.
   *
   * @param line The command, e.g. `add jami:…`.
   */
  async send(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(`${line}\n`));
  }

  /** Parses the complete stdout lines not parsed yet into {@link events}. */
  #parse(): void {
    const end = this.output.stdout.lastIndexOf("\n");
    if (end < this.#parsed) return;
    const lines = this.output.stdout.slice(this.#parsed, end).split("\n");
    this.#parsed = end + 1;
    const atMs = performance.now();
    for (const line of lines) {
      if (!line.startsWith("{")) continue;
      try {
        this.events.push({ event: JSON.parse(line), atMs });
      } catch {
        // Not an event (a stray line): only events count.
      }
    }
  }

  /**
   * Waits (≤ `timeoutMs`) for an event at or after index `from` of
   * {@link events} that `match` accepts. Polls every 20 ms, so `atMs` is
   * within 20 ms of the line's arrival.
   *
   * @param what Description for the error.
   * @param match The test.
   * @param options Limit (ms) and the first index looked at.
   * @returns The event and its index.
   * @throws {Error} On timeout or if the process ended, with its output's end.
   */
  async waitFor(
    what: string,
    match: (event: JsonEvent) => boolean,
    options: { timeoutMs: number; from?: number },
  ): Promise<ReceivedEvent & { index: number }> {
    const started = performance.now();
    let ended = false;
    this.exited.then(() => ended = true);
    for (let index = options.from ?? 0;;) {
      this.#parse();
      for (; index < this.events.length; index++) {
        if (match(this.events[index].event)) {
          return { ...this.events[index], index };
        }
      }
      if (ended || performance.now() - started > options.timeoutMs) {
        throw new Error(
          `${what}: not seen within ${options.timeoutMs} ms${
            ended ? " (the node exited)" : ""
          }; last output:\n${this.output.stdout.slice(-3_000)}\nstderr:\n${
            this.output.stderr.slice(-2_000)
          }`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Sends a command and waits for its `reply` (or `commandError`).
   *
   * @param line The command.
   * @param timeoutMs Limit.
   * @returns The reply event.
   * @throws {Error} On a `commandError` or a timeout.
   */
  async command(line: string, timeoutMs: number): Promise<JsonEvent> {
    const from = this.mark();
    const name = line.trim().split(/\s+/)[0];
    await this.send(line);
    const { event } = await this.waitFor(
      `the answer to "${name}"`,
      (e) =>
        (e.type === "reply" || e.type === "commandError") && e.command === name,
      { timeoutMs, from },
    );
    if (event.type === "commandError") {
      throw new Error(`"${line}" failed: ${event.text}`);
    }
    return event;
  }

  /**
   * Reads what has arrived, and returns the index the next event will have:
   * a `from` for {@link JsonNodeProcess.waitFor} that skips every earlier event.
   *
   * @returns The number of events read so far.
   */
  mark(): number {
    this.#parse();
    return this.events.length;
  }

  /** Sends SIGKILL (no goodbye, no save), as `kill -9` does. */
  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }

  /** Kills the process and waits for it and its output (idempotent). */
  async close(): Promise<void> {
    await this.#stdin.close().catch(() => {});
    this.kill();
    await this.exited;
  }
}
