/**
 * A real Jami daemon (`jamid` 13.7, Debian package `jami-daemon`) for
 * interoperability tests: a private D-Bus session bus (`dbus-daemon`), one
 * `jamid` with its home in a temporary directory, and `jamid_driver.py`
 * (python3-dbus) that turns D-Bus calls and signals into JSON lines. Meant to
 * run inside a private network namespace (see `jami_scenario.ts`); every
 * wait is bounded and {@link JamidProcess.close} kills the three processes by
 * PID.
 *
 * @module
 */

/** Where Debian installs the daemon (`JAMID` overrides it). */
export const JAMID: string = Deno.env.get("JAMID") ?? "/usr/libexec/jamid";
/** The interpreter that sees python3-dbus and python3-gi (`JAMI_PYTHON` overrides it). */
export const JAMI_PYTHON: string = Deno.env.get("JAMI_PYTHON") ??
  "/usr/bin/python3";

const DRIVER = new URL("./jamid_driver.py", import.meta.url).pathname;

/** A D-Bus signal as the driver forwards it (`ay` arguments as hex). */
export interface JamidSignal {
  /** Signal name, e.g. `incomingTrustRequest`. */
  readonly signal: string;
  /** Its arguments, in D-Bus order. */
  readonly args: readonly unknown[];
  /** When the driver got it (Unix seconds). */
  readonly t: number;
}

/** Options of {@link JamidProcess.start}. */
export interface JamidOptions {
  /** Temporary directory for the bus socket, jamid's home and its log. */
  readonly dir: string;
  /** Told each child's PID as it starts (so a parent can kill leftovers). */
  readonly onPid?: (name: string, pid: number) => void;
  /** Start-up limit (bus, daemon, driver ready). @default {30_000} */
  readonly timeoutMs?: number;
}

/** Account settings for a Jami account that only uses the local DHT node. */
export function localJamiAccount(
  alias: string,
  bootstrap: string,
): Record<string, string> {
  return {
    "Account.type": "RING",
    "Account.alias": alias,
    "Account.archivePassword": "",
    // The bootstrap list: only the namespace's dhtnode.
    "Account.hostname": bootstrap,
    "Account.upnpEnabled": "false",
    "TURN.enable": "false",
    "STUN.enable": "false",
    "Account.proxyEnabled": "false",
    "Account.peerDiscovery": "false",
    "Account.accountDiscovery": "false",
    "Account.accountPublish": "false",
    "Account.localInterface": "lo",
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reads lines from a byte stream and hands each to `sink`; `undefined` at the end. */
async function pumpLines(
  stream: ReadableStream<Uint8Array>,
  sink: (line: string | undefined) => void,
): Promise<void> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      const parts = buffer.split("\n");
      buffer = parts.pop() ?? "";
      for (const line of parts) sink(line);
    }
  } catch {
    // Killed: the stream errors out.
  }
  sink(undefined);
}

/** One jamid on its own session bus, driven over JSON lines. */
export class JamidProcess {
  /** jamid's debug log (`-c -d`), for failure reports. */
  readonly logPath: string;
  /** Every forwarded signal, in arrival order. */
  readonly signals: JamidSignal[] = [];
  readonly #bus: Deno.ChildProcess;
  readonly #jamid: Deno.ChildProcess;
  readonly #driver: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #answers = new Map<number, Record<string, unknown>>();
  #waiters: (() => void)[] = [];
  #nextId = 1;
  #ready: boolean | undefined;
  #readyError = "";
  #ended = false;
  readonly #reading: Promise<void>;

  private constructor(
    bus: Deno.ChildProcess,
    jamid: Deno.ChildProcess,
    driver: Deno.ChildProcess,
    logPath: string,
  ) {
    this.#bus = bus;
    this.#jamid = jamid;
    this.#driver = driver;
    this.logPath = logPath;
    this.#stdin = driver.stdin.getWriter();
    this.#reading = pumpLines(driver.stdout, (line) => this.#onLine(line));
  }

  /**
   * Starts the bus, jamid and the driver, and waits until jamid owns its
   * D-Bus name.
   *
   * @param options Directory, PID reporting, time limit.
   * @returns The running daemon.
   * @throws {Error} If any of them fails to start in time (all are killed).
   */
  static async start(options: JamidOptions): Promise<JamidProcess> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const onPid = options.onPid ?? (() => {});
    const bus = new Deno.Command("dbus-daemon", {
      args: [
        "--session",
        "--nofork",
        "--nopidfile",
        `--address=unix:path=${options.dir}/bus`,
        "--print-address=1",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    onPid("dbus-daemon", bus.pid);
    const started: Deno.ChildProcess[] = [bus];
    try {
      const address = await firstLine(bus.stdout, 5_000, "dbus-daemon");
      const home = `${options.dir}/home`;
      await Deno.mkdir(home, { recursive: true });
      const env = {
        DBUS_SESSION_BUS_ADDRESS: address,
        HOME: home,
        XDG_CONFIG_HOME: `${home}/.config`,
        XDG_DATA_HOME: `${home}/.local/share`,
        XDG_CACHE_HOME: `${home}/.cache`,
      };
      const logPath = `${options.dir}/jamid.log`;
      // `exec` keeps the PID: the shell only redirects jamid's output to its log.
      const jamid = new Deno.Command("sh", {
        args: ["-c", 'exec "$0" -c -d -p >"$1" 2>&1', JAMID, logPath],
        env,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      onPid("jamid", jamid.pid);
      started.push(jamid);
      const driver = new Deno.Command(JAMI_PYTHON, {
        args: [DRIVER, "--wait", String(timeoutMs / 1_000)],
        env,
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      onPid("jamid_driver", driver.pid);
      started.push(driver);
      const process = new JamidProcess(bus, jamid, driver, logPath);
      await process.#waitReady(timeoutMs + 5_000);
      return process;
    } catch (error) {
      for (const child of started) kill(child);
      await Promise.all(started.map((child) => child.status));
      throw error;
    }
  }

  /** PIDs of the bus, jamid and the driver. */
  get pids(): { bus: number; jamid: number; driver: number } {
    return {
      bus: this.#bus.pid,
      jamid: this.#jamid.pid,
      driver: this.#driver.pid,
    };
  }

  #onLine(line: string | undefined): void {
    if (line === undefined) this.#ended = true;
    else if (line.trim() !== "") {
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof message.signal === "string") {
        this.signals.push(message as unknown as JamidSignal);
      } else if (typeof message.id === "number") {
        this.#answers.set(message.id, message);
      } else if (typeof message.ready === "boolean") {
        this.#ready = message.ready;
        this.#readyError = String(message.error ?? "");
      }
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits until `check` returns something, or fails after `timeoutMs`. */
  async #until<T>(
    timeoutMs: number,
    what: string,
    check: () => T | undefined,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = check();
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0 || this.#ended) {
        throw new Error(
          `jamid: ${what}: ${
            this.#ended ? "driver exited" : `nothing within ${timeoutMs} ms`
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

  async #waitReady(timeoutMs: number): Promise<void> {
    const ready = await this.#until(
      timeoutMs,
      "driver ready",
      () => this.#ready,
    );
    if (!ready) throw new Error(`jamid: ${this.#readyError}`);
  }

  /**
   * Runs one driver command (see `jamid_driver.py` for the list).
   *
   * @param cmd Command name, e.g. `contacts`.
   * @param args Its arguments.
   * @param timeoutMs Limit.
   * @returns The D-Bus call's result, as JSON.
   * @throws {Error} If the call fails or does not answer in time.
   */
  async call(
    cmd: string,
    args: Record<string, unknown> = {},
    timeoutMs = 30_000,
  ): Promise<unknown> {
    const id = this.#nextId++;
    await this.#stdin.write(
      new TextEncoder().encode(JSON.stringify({ id, cmd, ...args }) + "\n"),
    );
    const answer = await this.#until(
      timeoutMs,
      cmd,
      () => this.#answers.get(id),
    );
    this.#answers.delete(id);
    if (answer.ok !== true) {
      throw new Error(`jamid: ${cmd} failed: ${answer.error}`);
    }
    return answer.result;
  }

  /**
   * Waits for a signal (received before or after the call) that `match`
   * accepts.
   *
   * @param name Signal name.
   * @param match Predicate on its arguments.
   * @param timeoutMs Limit.
   * @returns The signal.
   * @throws {Error} On timeout.
   */
  waitSignal(
    name: string,
    match: (args: readonly unknown[]) => boolean,
    timeoutMs: number,
  ): Promise<JamidSignal> {
    return this.#until(
      timeoutMs,
      `signal ${name}`,
      () =>
        this.signals.find((signal) =>
          signal.signal === name && match(signal.args)
        ),
    );
  }

  /**
   * Creates a Jami account and waits until it is registered on the DHT.
   *
   * @param details Account details (see {@link localJamiAccount}).
   * @param timeoutMs Limit for the keys and the registration.
   * @returns jamid's local account handle and the Jami id (`Account.username`).
   */
  async addAccount(
    details: Record<string, string>,
    timeoutMs = 60_000,
  ): Promise<{ handle: string; id: string }> {
    const handle = String(await this.call("add_account", { details }));
    await this.waitSignal(
      "registrationStateChanged",
      (args) => args[0] === handle && args[1] === "REGISTERED",
      timeoutMs,
    );
    const info = await this.call("details", { account: handle }) as Record<
      string,
      string
    >;
    return { handle, id: info["Account.username"] };
  }

  /** Kills jamid only (the bus and driver stay), like a crash. */
  async killDaemon(): Promise<void> {
    kill(this.#jamid);
    await this.#jamid.status;
  }

  /** The last `lines` lines of jamid's log matching `pattern`, for reports. */
  async logTail(pattern: RegExp, lines = 20): Promise<string[]> {
    try {
      const text = await Deno.readTextFile(this.logPath);
      return text.split("\n").filter((line) => pattern.test(line)).slice(
        -lines,
      );
    } catch {
      return [];
    }
  }

  /** Kills the driver, jamid and the bus, and waits for them (idempotent). */
  async close(): Promise<void> {
    for (const child of [this.#driver, this.#jamid, this.#bus]) kill(child);
    await Promise.all(
      [this.#driver, this.#jamid, this.#bus].map((child) => child.status),
    );
    await this.#reading;
    try {
      await this.#stdin.close();
    } catch {
      // The pipe is broken once the driver is gone.
    }
  }
}

function kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already exited.
  }
}

async function firstLine(
  stream: ReadableStream<Uint8Array>,
  timeoutMs: number,
  what: string,
): Promise<string> {
  let line: string | undefined;
  let ended = false;
  const reading = pumpLines(stream, (text) => {
    if (text === undefined) ended = true;
    else if (line === undefined) line = text.trim();
  });
  const deadline = Date.now() + timeoutMs;
  while (line === undefined && !ended && Date.now() < deadline) {
    await sleep(20);
  }
  if (line === undefined) {
    throw new Error(`${what}: no address printed within ${timeoutMs} ms`);
  }
  // Keep draining in the background (the pump ends when the process dies).
  void reading;
  return line;
}
