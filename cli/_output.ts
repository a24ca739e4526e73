/**
 * What `deno task run` prints: lines for people, or with `--json` one JSON
 * object a line on stdout for scripts. Every line is an event with a `type`
 * and a level; `--log-level` (or `-v`) filters by level.
 *
 * Text mode: info and debug on stdout, warnings and errors on stderr
 * prefixed with "run: ". JSON mode: everything on stdout as
 * `{"type", "level", "time", …fields, "text"}`. Answers to console commands
 * are printed whatever the level.
 *
 * @module
 */

/** Levels, least verbose first. */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Where output goes (stdout and stderr lines; replaced in tests). */
export interface OutputSinks {
  /** Writes one line to stdout. */
  stdout(line: string): void;
  /** Writes one line to stderr. */
  stderr(line: string): void;
}

const CONSOLE_SINKS: OutputSinks = {
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
};

/** Prints events as text or JSON lines, filtered by level. */
export class Output {
  /** `--json`: one JSON object a line on stdout. */
  readonly json: boolean;
  /** The most verbose level printed. */
  readonly level: LogLevel;
  readonly #sinks: OutputSinks;

  /**
   * Creates the output.
   *
   * @param options JSON or text, the level, and where lines go.
   */
  constructor(
    options: { json: boolean; level: LogLevel; sinks?: OutputSinks },
  ) {
    this.json = options.json;
    this.level = options.level;
    this.#sinks = options.sinks ?? CONSOLE_SINKS;
  }

  /**
   * True if events of `level` are printed.
   *
   * @param level The level of an event about to be built.
   * @returns Whether it would be printed.
   */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) <= LOG_LEVELS.indexOf(this.level);
  }

  /**
   * Prints one event.
   *
   * @param type What happened, in camelCase (`started`, `presence`, …).
   * @param text The line people read.
   * @param fields Data for scripts (JSON mode only).
   * @param level Its level. @default {"info"}
   */
  event(
    type: string,
    text: string,
    fields: Record<string, unknown> = {},
    level: LogLevel = "info",
  ): void {
    if (this.enabled(level)) this.#print(type, text, fields, level);
  }

  /**
   * Prints the answer to a console command, whatever the level: the user
   * asked for it.
   *
   * @param type `reply` or `commandError`.
   * @param text The line people read.
   * @param fields Data for scripts (JSON mode only).
   */
  reply(type: string, text: string, fields: Record<string, unknown>): void {
    this.#print(type, text, fields, "info");
  }

  #print(
    type: string,
    text: string,
    fields: Record<string, unknown>,
    level: LogLevel,
  ): void {
    if (this.json) {
      this.#sinks.stdout(JSON.stringify(
        { type, level, time: new Date().toISOString(), ...fields, text },
        (_key, value) => typeof value === "bigint" ? value.toString() : value,
      ));
    } else if (level === "error" || level === "warn") {
      this.#sinks.stderr(`run: ${text}`);
    } else {
      this.#sinks.stdout(text);
    }
  }
}
