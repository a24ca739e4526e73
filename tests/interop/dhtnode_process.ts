/**
 * A real OpenDHT node for interoperability tests: `dhtnode` (OpenDHT 2.4,
 * Debian package `dhtnode`) run as a subprocess and driven through its
 * interactive shell, one command per line on stdin, its answers read line by
 * line from stdout. Every wait is bounded; {@link DhtnodeProcess.close} kills
 * the process (tests call it in `finally`).
 *
 * @module
 */

/** Where `dhtnode` is looked for, in order. */
const DHTNODE_CANDIDATES = ["/usr/bin/dhtnode", "/usr/local/bin/dhtnode"];

/**
 * The dhtnode binary path, or undefined when OpenDHT is not installed. The
 * `DHTNODE` environment variable, when set, is the only place looked at.
 */
export function findDhtnode(): string | undefined {
  const override = Deno.env.get("DHTNODE");
  for (const path of override === undefined ? DHTNODE_CANDIDATES : [override]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not there: try the next one.
    }
  }
  return undefined;
}

/** A value as dhtnode prints it: `Value[id:<hex> … data…]`. */
export interface PrintedValue {
  /** Value id. */
  readonly id: bigint;
  /** The whole printed line, for payload checks. */
  readonly text: string;
}

/** A `Listen: found N values [expired]` event with its values. */
export interface ListenLine {
  /** True for an expiry notice. */
  readonly expired: boolean;
  /** The values listed under it. */
  readonly values: readonly PrintedValue[];
}

/** Options of {@link DhtnodeProcess.start}. */
export interface DhtnodeOptions {
  /** `host:port` to bootstrap from (`-b`). */
  readonly bootstrap?: string;
  /** Extra arguments. */
  readonly args?: readonly string[];
  /** UDP port (`-p`). @default {0} (a free one) */
  readonly port?: number;
  /**
   * A command line the binary is run under, e.g. `["ip", "netns", "exec",
   * "<name>"]` to run it in a network namespace (a wrapper that execs it, so
   * that killing the process kills dhtnode). @default {[]}
   */
  readonly wrapper?: readonly string[];
}

const VALUE_LINE = /^\s*Value\[id:([0-9a-f]+)\b/;

/** One running `dhtnode` with its shell. */
export class DhtnodeProcess {
  /** The node id (hex). */
  readonly id: string;
  /** The UDP port it listens on (all addresses). */
  readonly port: number;
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: string[] = [];
  #waiters: (() => void)[] = [];
  #ended = false;
  /** Index of the first line not yet consumed by a `next…` call. */
  #cursor = 0;
  readonly #reading: Promise<void>;

  private constructor(
    child: Deno.ChildProcess,
    header: { id: string; port: number },
    lines: string[],
    reading: (sink: (line: string | undefined) => void) => Promise<void>,
  ) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    this.id = header.id;
    this.port = header.port;
    this.#lines.push(...lines);
    this.#reading = reading((line) => {
      if (line === undefined) this.#ended = true;
      else this.#lines.push(line);
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
  }

  /**
   * Starts `dhtnode -p <port>` and waits (≤ `timeoutMs`) for its banner.
   *
   * @param binary Path of dhtnode.
   * @param options Bootstrap and extra arguments.
   * @param timeoutMs Start-up limit.
   * @returns The running node.
   */
  static async start(
    binary: string,
    options: DhtnodeOptions = {},
    timeoutMs = 5_000,
  ): Promise<DhtnodeProcess> {
    const args = ["-p", String(options.port ?? 0)];
    if (options.bootstrap !== undefined) args.push("-b", options.bootstrap);
    args.push(...(options.args ?? []));
    const [command, ...prefix] = [...(options.wrapper ?? []), binary];
    const child = new Deno.Command(command, {
      args: [...prefix, ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let buffer = "";
    const early: string[] = [];
    let banner: { id: string; port: number } | undefined;
    const deadline = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    try {
      while (banner === undefined) {
        const { value, done } = await reader.read();
        if (done) {
          throw new Error(
            `Cannot start dhtnode: it exited before its banner (${
              early.join(" | ")
            })`,
          );
        }
        buffer += value;
        const parts = buffer.split("\n");
        buffer = parts.pop() ?? "";
        for (const line of parts) {
          const match = /node ([0-9a-f]{40}) running on port (\d+)/.exec(line);
          if (match) banner = { id: match[1], port: Number(match[2]) };
          else early.push(line);
        }
      }
    } catch (error) {
      child.kill("SIGKILL");
      await child.status;
      throw error;
    } finally {
      clearTimeout(deadline);
    }
    const pump = async (sink: (line: string | undefined) => void) => {
      try {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          const parts = buffer.split("\n");
          buffer = parts.pop() ?? "";
          // The shell prompt ">> " prefixes whatever is printed after it,
          // sometimes cut short (CI once saw ">OpenDHT node …" after `ll`);
          // no line of dhtnode's own starts with ">".
          for (const line of parts) sink(line.replace(/^(?:>+ ?)+/, ""));
        }
      } catch {
        // Killed: the stream errors out.
      }
      sink(undefined);
    };
    return new DhtnodeProcess(child, banner, early, pump);
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Every line printed so far (after the banner). */
  get output(): readonly string[] {
    return this.#lines;
  }

  /**
   * Sends one shell command.
   *
   * @param line The command, e.g. `g <key>`.
   */
  async command(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /**
   * Waits (≤ `timeoutMs`) for a line matching `pattern` at or after the
   * cursor, moves the cursor past it and returns its index.
   *
   * @param pattern What to wait for.
   * @param timeoutMs Limit.
   * @param what Description for the error.
   * @returns The index of the matching line.
   * @throws {Error} On timeout or if dhtnode exited.
   */
  async waitFor(
    pattern: RegExp,
    timeoutMs: number,
    what: string,
  ): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      for (let i = this.#cursor; i < this.#lines.length; i++) {
        if (pattern.test(this.#lines[i])) {
          this.#cursor = i + 1;
          return i;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.#ended) {
        throw new Error(
          `dhtnode: ${what}: no line matching ${pattern} within ${timeoutMs} ms; last lines:\n  ${
            this.#lines.slice(-15).join("\n  ")
          }`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Waits (≤ `timeoutMs`) for the next `Listen: found N values [expired]`
   * notice and for its N value lines (they may arrive in a later chunk).
   *
   * @param timeoutMs Limit.
   * @param what Description for the error.
   * @returns The notice.
   */
  async nextListen(timeoutMs: number, what: string): Promise<ListenLine> {
    const deadline = Date.now() + timeoutMs;
    const pattern = /^Listen: found (\d+) values( expired)? \(/;
    const index = await this.waitFor(pattern, timeoutMs, what);
    const match = pattern.exec(this.#lines[index]);
    const count = Number(match?.[1]);
    while (this.valuesAfter(index).length < count) {
      await this.waitFor(VALUE_LINE, deadline - Date.now(), `${what} (values)`);
    }
    const values = this.valuesAfter(index).slice(0, count);
    this.#cursor = Math.max(this.#cursor, index + 1 + count);
    return { expired: match?.[2] !== undefined, values };
  }

  /** Value lines right after line `index`. */
  valuesAfter(index: number): PrintedValue[] {
    const values: PrintedValue[] = [];
    for (let i = index + 1; i < this.#lines.length; i++) {
      const match = VALUE_LINE.exec(this.#lines[i]);
      if (!match) break;
      values.push({ id: BigInt("0x" + match[1]), text: this.#lines[i] });
    }
    return values;
  }

  /**
   * Runs `g <key>` and returns the values found once the get completes.
   *
   * @param key 40 hex characters.
   * @param timeoutMs Limit.
   * @returns Values printed by "Get: found" lines.
   */
  async get(key: string, timeoutMs = 10_000): Promise<PrintedValue[]> {
    this.#cursor = this.#lines.length;
    await this.command(`g ${key}`);
    const start = this.#cursor;
    const end = await this.waitFor(
      /^Get: (completed|failure)/,
      timeoutMs,
      "get",
    );
    const values: PrintedValue[] = [];
    for (let i = start; i < end; i++) {
      if (/^Get: found/.test(this.#lines[i])) {
        values.push(...this.valuesAfter(i));
      }
    }
    return values;
  }

  /**
   * Runs `lr` and returns the ids in its IPv4 routing table.
   *
   * @param timeoutMs Limit.
   * @returns Node ids (hex).
   */
  async routingTable(timeoutMs = 3_000): Promise<string[]> {
    return (await this.routingEntries(timeoutMs)).map((entry) => entry.id);
  }

  /**
   * Runs `lr` and returns its IPv4 routing table with each node's address
   * as dhtnode sees it (behind a NAT: the NAT's public address and port).
   *
   * @param timeoutMs Limit.
   * @returns Node ids (hex) and `host:port` addresses.
   */
  async routingEntries(
    timeoutMs = 3_000,
  ): Promise<{ id: string; address: string }[]> {
    this.#cursor = this.#lines.length;
    await this.command("lr");
    const start = await this.waitFor(/IPv4 routing table/, timeoutMs, "lr");
    const end = await this.waitFor(/IPv6 routing table/, timeoutMs, "lr");
    const entries: { id: string; address: string }[] = [];
    for (let i = start + 1; i < end; i++) {
      const match = /^\s*Node ([0-9a-f]{40}) (\S+)/.exec(this.#lines[i]);
      if (match) entries.push({ id: match[1], address: match[2] });
    }
    return entries;
  }

  /**
   * Runs `ld <key>` and returns how many values dhtnode itself stores there.
   *
   * @param key 40 hex characters.
   * @param timeoutMs Limit.
   * @returns The count (0 when it has no storage for the key).
   */
  async storedCount(key: string, timeoutMs = 3_000): Promise<number> {
    const start = this.#cursor = this.#lines.length;
    await this.command(`ld ${key}`);
    await this.command("ll");
    // `ld` prints nothing for an unknown key; `ll` marks the end of its answer.
    const end = await this.waitFor(/^OpenDHT node/, timeoutMs, "ld");
    for (let i = start; i < end; i++) {
      const match = new RegExp(`^Storage ${key} \\d+ list\\., (\\d+) values`)
        .exec(this.#lines[i]);
      if (match) return Number(match[1]);
    }
    return 0;
  }

  /** Kills the process and waits for it (idempotent). */
  async close(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await this.#child.status;
    await this.#reading;
    try {
      await this.#stdin.close();
    } catch {
      // The pipe is broken once the process is gone.
    }
  }
}
