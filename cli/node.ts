/**
 * `deno task run`: a daemon with one account over UDP, and a console.
 *
 * ```sh
 * deno task run                                   # data in ~/.local/share/dht-contacts
 * deno task run --data-dir ./alice --port 4300 --bootstrap none
 * deno task run --no-console --json               # a service: JSON events on stdout
 * deno task run --demo                            # two accounts on loopback, the whole flow
 * deno task run --jami                            # a Jami-format account (created on first run)
 * deno task run --import-jami-archive archive.gz  # a device of an existing Jami account
 * ```
 *
 * Console input is a line per command. When stdin ends, a terminal's Ctrl-D
 * quits; a pipe or /dev/null that ends does not: the node keeps running
 * until SIGINT or SIGTERM (and says so), so `deno task run </dev/null` and
 * service managers work. `--no-console` does not read stdin at all.
 *
 * @module
 */
import { isIP } from "node:net";
import { parseArgs } from "node:util";
import denoJson from "../deno.json" with { type: "json" };
import type { Daemon } from "../lib/daemon/daemon.ts";
import { formatUri, parseUri } from "../lib/identity/uri.ts";
import { useCurveOperations } from "../lib/crypto.ts";
import { NATIVE_CURVES } from "../lib/io/native_curves.ts";
import { openUdpDaemon } from "../lib/io/udp_daemon.ts";
import {
  formatAddress,
  parseAddress,
  type PeerAddress,
} from "../lib/transport.ts";
import { DEFAULT_BOOTSTRAP, resolveAddresses } from "./dht.ts";
import { BootstrapResolver, resolveBootstrap } from "./bootstrap_resolver.ts";
import { openLoopbackDaemon } from "./loopback_daemon.ts";
import { BoundedLineReader } from "./_bounded_lines.ts";
import {
  CONSOLE_HELP,
  formatStats,
  MAX_CONSOLE_LINE_BYTES,
  printEvents,
  runCommand,
  UsageError,
} from "./_console.ts";
import { LOG_LEVELS, type LogLevel, Output } from "./_output.ts";
import {
  PassphraseAbortedError,
  PassphraseUnavailableError,
  promptSecret,
} from "./_passphrase.ts";

export { runCommand };

/** The package version, from deno.json. */
export const VERSION: string = denoJson.version;

/** With `--log-level debug`, the node's counters are printed this often: 30 s. */
const DEBUG_STATS_INTERVAL_MS = 30_000;

/** A bootstrap that got no answer in this long is reported: 5 s. */
const BOOTSTRAP_REPORT_MS = 5_000;

const USAGE = `Usage: deno task run [options]

Runs a contact-management daemon with one account over UDP and opens a console.
The account is created on first run and kept (encrypted) in the data directory;
one node at a time may use a data directory (a second one is refused).

Options:
  --data-dir DIR          where the account lives
                          (default: $XDG_DATA_HOME/dht-contacts or ~/.local/share/dht-contacts)
  --passphrase-file FILE  read the archive passphrase from FILE (else a prompt
                          on a terminal; never from the command line)
  --no-passphrase         use an empty passphrase (required when there is no
                          terminal and no --passphrase-file)
  --port N                UDP port, and TCP port for direct links to contacts
                          (default 4222; a free port if taken)
  --host ADDR             address to bind (default ::, IPv4 and IPv6 on one
                          socket; 0.0.0.0 where IPv6 is off)
  --advertise HOST[:PORT] address contacts dial for direct links, [v6]:port for
                          IPv6 with a port (default: the bound address, or
                          this machine's first non-loopback IPv4 address when
                          bound to a wildcard)
  --no-links              no direct links: presence stops at status 1
  --udp-batch             read and write the UDP socket in batches (recvmmsg and
                          sendmmsg: Linux, run with --allow-ffi added to the
                          task's flags); a fraction of the CPU per datagram for
                          a busy node
  --relay HOST:PORT       a relay (another node's --relay-serve) for links to
                          contacts whose NAT and ours cannot punch (both
                          symmetric); it forwards the link's ciphertext only
  --relay-serve PORT      also serve as such a relay on this UDP port (run it on
                          a reachable host; bounded per address and in all)
  --bootstrap LIST        host:port,... to join, or "none" (default ${DEFAULT_BOOTSTRAP})
  --name NAME             this device's name (default "console")
  --no-console            do not read stdin: run until SIGINT or SIGTERM
                          (for services; without it, a stdin that ends on a
                          pipe or /dev/null also keeps the node running)
  --json                  one JSON event per line on stdout, for scripts
                          ({"type", "level", "time", ..., "text"})
  --log-level LEVEL       error, warn, info (default) or debug
  -v, --verbose           same as --log-level debug (adds DHT counters every 30 s)
  --jami                  run a Jami-format account instead (RSA keys and values
                          jamid 13.7 reads: its contacts see our presence and
                          requests, we see theirs); created on the first run
                          (key generation takes seconds, progress is shown),
                          loaded afterwards; one data directory may hold both
  --import-jami-archive FILE
                          add this device to the Jami account in FILE (jamid's
                          archive.gz, or one exported here), then run it
                          (implies --jami)
  --archive-password-env VAR
                          the archive's password is in environment variable
                          VAR (else a prompt on a terminal; without one, the
                          archive must have no password)
  --jami-bits N           RSA key size of a new Jami account or device
                          (default 4096, as Jami; 2048 for quick tests)
  --demo                  run two accounts on loopback and walk through the flow
  --version               print the version and exit
  -h, --help              show this help

Exit status: 0 after a clean stop, 1 on a runtime error (wrong passphrase,
data directory in use or damaged, unreadable passphrase file, bind failure),
2 on a bad command line.

${CONSOLE_HELP}`;

interface Options {
  dataDir: string;
  passphraseFile?: string;
  noPassphrase: boolean;
  port: number;
  host: string;
  advertise?: string;
  links: boolean;
  udpBatch: boolean;
  relay?: PeerAddress;
  relayServePort?: number;
  bootstrap: PeerAddress[] | "none";
  name: string;
  demo: boolean;
  jami: boolean;
  importJamiArchive?: string;
  archivePasswordEnv?: string;
  jamiBits: number;
  console: boolean;
  json: boolean;
  logLevel: LogLevel;
}

function defaultDataDir(): string {
  const xdg = Deno.env.get("XDG_DATA_HOME");
  if (xdg) return `${xdg}/dht-contacts`;
  const home = Deno.env.get("HOME") ?? ".";
  return `${home}/.local/share/dht-contacts`;
}

/**
 * A port as typed: decimal digits only (no sign, no `0x`, no exponent),
 * 0 to 65535.
 *
 * @param text The `--port` value.
 * @returns The port.
 * @throws {UsageError} If it is anything else.
 */
export function parsePort(text: string): number {
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new UsageError(
      `--port expects a decimal number from 0 to 65535, got "${
        text.slice(0, 40)
      }"`,
    );
  }
  return port;
}

/** A DNS name: dot-separated labels of letters, digits and inner hyphens. */
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Checks `--advertise`: an IPv4 or IPv6 address or a host name, alone
 * (contacts dial the `--port`) or with the port contacts should dial
 * (`203.0.113.7:4300`, `[2001:db8::1]:4300`, a port forwarded by a router).
 * An IPv6 address may be written with or without brackets when alone.
 *
 * @param text The `--advertise` value.
 * @returns The host, or `host:port` with brackets around an IPv6 host.
 * @throws {UsageError} If it is not a host, or a host and a port.
 */
export function checkAdvertise(text: string): string {
  const quoted = JSON.stringify(text.slice(0, 80));
  const wildcard = () =>
    new UsageError(
      `--advertise expects an address contacts can dial, got the wildcard ${quoted}`,
    );
  const bare = /^\[[^\]]*\]$/.test(text) ? text.slice(1, -1) : text;
  if (isIP(bare) !== 0) {
    if (bare === "0.0.0.0" || bare === "::") throw wildcard();
    return bare;
  }
  if (/:[0-9]+$/.test(text)) {
    let address: PeerAddress;
    try {
      address = parseAddress(text);
    } catch (error) {
      throw new UsageError(`--advertise: ${(error as Error).message}`);
    }
    if (address.host === "0.0.0.0" || address.host === "::") throw wildcard();
    if (address.port === 0) {
      throw new UsageError(
        `--advertise: port 0 cannot be dialled, got ${quoted}`,
      );
    }
    if (isIP(address.host) === 0 && !HOSTNAME.test(address.host)) {
      throw new UsageError(
        `--advertise expects an IP address or a host name, got ${quoted}`,
      );
    }
    return formatAddress(address);
  }
  if (/^[0-9.]+$/.test(text) || !HOSTNAME.test(text)) {
    throw new UsageError(
      `--advertise expects an IP address or a host name, got ${quoted}`,
    );
  }
  return text;
}

/** Options that take a value, whose value may look like a negative number. */
const VALUE_OPTIONS = new Set(["--port", "--relay-serve"]);

function parseFlags(args: readonly string[]) {
  // node:util's parseArgs takes "--port -1" for a missing value followed by
  // an option and says "ambiguous"; say what is wrong with the value instead.
  for (let i = 0; i + 1 < args.length; i++) {
    if (VALUE_OPTIONS.has(args[i]) && /^-[0-9]/.test(args[i + 1])) {
      parsePort(args[i + 1]);
    }
  }
  try {
    return parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        "data-dir": { type: "string" },
        "passphrase-file": { type: "string" },
        "no-passphrase": { type: "boolean" },
        port: { type: "string" },
        host: { type: "string" },
        advertise: { type: "string" },
        "no-links": { type: "boolean" },
        "udp-batch": { type: "boolean" },
        relay: { type: "string" },
        "relay-serve": { type: "string" },
        bootstrap: { type: "string" },
        name: { type: "string" },
        "no-console": { type: "boolean" },
        json: { type: "boolean" },
        "log-level": { type: "string" },
        verbose: { type: "boolean", short: "v" },
        demo: { type: "boolean" },
        jami: { type: "boolean" },
        "import-jami-archive": { type: "string" },
        "archive-password-env": { type: "string" },
        "jami-bits": { type: "string" },
        version: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function parseOptions(
  args: readonly string[],
): Options | "help" | "version" {
  const values = parseFlags(args);
  if (values.help) return "help";
  if (values.version) return "version";
  const port = parsePort(values.port ?? "4222");
  const advertise = values.advertise === undefined
    ? undefined
    : checkAdvertise(values.advertise);
  let relay: PeerAddress | undefined;
  if (values.relay !== undefined) {
    try {
      relay = parseAddress(values.relay);
    } catch (error) {
      throw new UsageError(`--relay: ${(error as Error).message}`);
    }
  }
  const relayServePort = values["relay-serve"] === undefined
    ? undefined
    : parsePort(values["relay-serve"]);
  const bootstrapText = values.bootstrap ?? DEFAULT_BOOTSTRAP;
  let bootstrap: PeerAddress[] | "none" = "none";
  if (bootstrapText !== "none") {
    try {
      bootstrap = bootstrapText.split(",").filter(Boolean).map(parseAddress);
    } catch (error) {
      throw new UsageError(`--bootstrap: ${(error as Error).message}`);
    }
  }
  if (values["passphrase-file"] !== undefined && values["no-passphrase"]) {
    throw new UsageError(
      "--passphrase-file and --no-passphrase exclude each other",
    );
  }
  const logLevel = values.verbose ? "debug" : values["log-level"] ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(
      `--log-level expects ${LOG_LEVELS.join(", ")}, got "${logLevel}"`,
    );
  }
  const jamiBits = Number(values["jami-bits"] ?? "4096");
  if (![2048, 3072, 4096].includes(jamiBits)) {
    throw new UsageError(
      `--jami-bits expects 2048, 3072 or 4096, got "${
        String(values["jami-bits"]).slice(0, 20)
      }"`,
    );
  }
  return {
    jami: (values.jami ?? false) ||
      values["import-jami-archive"] !== undefined,
    importJamiArchive: values["import-jami-archive"],
    archivePasswordEnv: values["archive-password-env"],
    jamiBits,
    dataDir: values["data-dir"] ?? defaultDataDir(),
    passphraseFile: values["passphrase-file"],
    noPassphrase: values["no-passphrase"] ?? false,
    port,
    host: values.host ?? "::",
    advertise,
    links: !(values["no-links"] ?? false),
    udpBatch: values["udp-batch"] ?? false,
    relay,
    relayServePort,
    bootstrap,
    name: values.name ?? "console",
    demo: values.demo ?? false,
    console: !(values["no-console"] ?? false),
    json: values.json ?? false,
    logLevel: logLevel as LogLevel,
  };
}

/** An input problem found before anything was created: one line, exit 1. */
class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

/** Reads the passphrase before anything is created on disk. */
async function readPassphrase(options: Options): Promise<string> {
  if (options.passphraseFile !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(options.passphraseFile);
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound
        ? "no such file"
        : (error as Error).message;
      throw new InputError(
        `Cannot read passphrase file "${options.passphraseFile}": ${reason}`,
      );
    }
    return text.replace(/\r?\n$/, "");
  }
  if (options.noPassphrase) return "";
  // Read without echo; without a terminal, refuse rather than use "".
  if (Deno.stdin.isTerminal()) {
    return await promptSecret("Archive passphrase (empty for none): ");
  }
  throw new PassphraseUnavailableError();
}

/** Resolves when SIGINT or SIGTERM arrives; `dispose` removes the listeners. */
function signalReceived(): { promise: Promise<string>; dispose(): void } {
  let resolve!: (signal: string) => void;
  const promise = new Promise<string>((r) => resolve = r);
  const onInt = () => resolve("SIGINT");
  const onTerm = () => resolve("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  return {
    promise,
    dispose() {
      Deno.removeSignalListener("SIGINT", onInt);
      Deno.removeSignalListener("SIGTERM", onTerm);
    },
  };
}

async function openNode(
  options: Options,
  output: Output,
): Promise<{ daemon: Daemon; unresolved: PeerAddress[] }> {
  const passphrase = await readPassphrase(options);
  const { resolved: bootstrap, unresolved, errors } =
    options.bootstrap === "none"
      ? { resolved: [], unresolved: [], errors: [] }
      : await resolveBootstrap(options.bootstrap);
  for (const { host, message } of errors) {
    output.event(
      "bootstrapUnresolved",
      `cannot resolve bootstrap "${host}" (${message}): trying again in 5 s, then less often`,
      { host, message },
      "warn",
    );
  }
  const daemon = await openUdpDaemon({
    dataDir: options.dataDir,
    passphrase,
    host: options.host,
    port: options.port,
    freePortIfTaken: true,
    bootstrap,
    links: options.links,
    batchedUdp: options.udpBatch,
    advertise: options.advertise,
    ...(options.relay === undefined
      ? {}
      : { relay: (await resolveAddresses([options.relay]))[0] }),
    relayServePort: options.relayServePort,
    onWarning: (warning) =>
      output.event(warning.kind, warning.message, { key: warning.key }, "warn"),
  });
  const bound = daemon.dht.address.port;
  if (options.port !== 0 && bound !== options.port) {
    output.event(
      "portTaken",
      `port ${options.port} is taken; using ${bound}`,
      { wanted: options.port, port: bound },
      "warn",
    );
  }
  return { daemon, unresolved };
}

function reportBootstrap(
  daemon: Daemon,
  options: Options,
  output: Output,
  resolver: BootstrapResolver,
) {
  if (options.bootstrap === "none") {
    output.event("standalone", "standalone (no bootstrap)");
    return;
  }
  const timer = setTimeout(() => {
    const nodes = daemon.dht.routingTable.size;
    if (nodes === 0) {
      const waiting = resolver.pending.length === options.bootstrap.length;
      output.event(
        "bootstrap",
        waiting
          ? "no bootstrap address yet: its name is looked up again until it resolves (others can join us meanwhile)"
          : "no bootstrap peer answered within 5 s: trying again after 2, 4 and 8 s, then every 10 s (others can join us meanwhile)",
        { nodes },
        "warn",
      );
    } else {
      output.event("bootstrap", `joined the DHT (${nodes} nodes known)`, {
        nodes,
      });
    }
  }, BOOTSTRAP_REPORT_MS);
  Deno.unrefTimer(timer);
}

/**
 * Reads console lines until quit or the end of `input` (stdin). Lines over
 * {@link MAX_CONSOLE_LINE_BYTES} are refused without being kept or echoed.
 *
 * @param daemon The running daemon.
 * @param accountId The console's account.
 * @param output Where answers go.
 * @param input The console's bytes.
 * @returns Why the console ended.
 */
export async function readConsole(
  daemon: Daemon,
  accountId: string,
  output: Output,
  input: ReadableStream<Uint8Array> = Deno.stdin.readable,
): Promise<"quit" | "eof"> {
  output.event("console", 'type "help" for commands');
  const reader = new BoundedLineReader(input, MAX_CONSOLE_LINE_BYTES);
  for await (const line of reader.lines()) {
    if (typeof line !== "string") {
      const message =
        `line of ${line.overlongBytes} bytes refused: the limit is ${MAX_CONSOLE_LINE_BYTES} bytes`;
      output.reply("commandError", `error: ${message}`, {
        command: "",
        message,
      });
      continue;
    }
    const command = line.trim().split(/\s+/)[0];
    try {
      const result = await runCommand(daemon, accountId, line);
      if (result.quit) return "quit";
      if (result.text) {
        output.reply("reply", result.text, { command, ...result.data });
      }
    } catch (error) {
      output.reply("commandError", `error: ${(error as Error).message}`, {
        command,
        message: (error as Error).message,
      });
    }
  }
  return "eof";
}

/** The archive password: from `--archive-password-env`, a prompt, or none. */
async function readArchivePassword(
  options: Options,
): Promise<string | undefined> {
  if (options.archivePasswordEnv !== undefined) {
    const value = Deno.env.get(options.archivePasswordEnv);
    if (value === undefined) {
      throw new InputError(
        `--archive-password-env: environment variable "${options.archivePasswordEnv}" is not set`,
      );
    }
    return value;
  }
  if (Deno.stdin.isTerminal()) {
    const text = await promptSecret("Jami archive password (empty for none): ");
    return text === "" ? undefined : text;
  }
  return undefined;
}

/** The Jami account of the data directory: loaded, imported or created. */
async function jamiAccountOf(
  daemon: Daemon,
  options: Options,
  output: Output,
): Promise<string> {
  if (options.importJamiArchive !== undefined) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(options.importJamiArchive);
    } catch (error) {
      throw new InputError(
        `Cannot read Jami archive "${options.importJamiArchive}": ${
          (error as Error).message
        }`,
      );
    }
    const password = await readArchivePassword(options);
    output.event("jamiKeyGeneration", "generating this device's key…");
    const id = await daemon.importJamiArchive(bytes, password, {
      bits: options.jamiBits,
    });
    output.event(
      "jamiAccountImported",
      `imported Jami account ${id} as a new device`,
      { account: id },
    );
    return id;
  }
  const existing = daemon.listAccounts().find((id) =>
    daemon.accountKind(id) === "jami"
  );
  if (existing !== undefined) return existing;
  const started = performance.now();
  const id = await daemon.createJamiAccount({
    bits: options.jamiBits,
    onProgress: (step) =>
      output.event(
        "jamiKeyGeneration",
        `generating keys: ${step} (${
          ((performance.now() - started) / 1_000).toFixed(1)
        } s)`,
        { step },
      ),
  });
  output.event(
    "accountCreated",
    `created a new Jami account in ${options.dataDir}`,
    { dataDir: options.dataDir, account: id, kind: "jami" },
  );
  return id;
}

async function runNode(options: Options, output: Output): Promise<number> {
  const { daemon, unresolved } = await openNode(options, output);
  let accountId = daemon.listAccounts().find((id) =>
    daemon.accountKind(id) === "dht-contacts"
  );
  try {
    if (options.jami) {
      accountId = await jamiAccountOf(daemon, options, output);
    } else if (accountId === undefined) {
      accountId = await daemon.createAccount({ deviceName: options.name });
      output.event(
        "accountCreated",
        `created a new account in ${options.dataDir}`,
        { dataDir: options.dataDir, account: formatUri(parseUri(accountId)) },
      );
    }
  } catch (error) {
    await daemon.stop();
    throw error;
  }
  printEvents(daemon, output);
  daemon.start();
  const account = formatUri(parseUri(accountId));
  const address = formatAddress(daemon.dht.address);
  const kind = daemon.accountKind(accountId);
  output.event(
    "started",
    `account ${account}${kind === "jami" ? " (Jami)" : ""}`,
    {
      account,
      kind,
      device: kind === "jami"
        ? daemon.jamiAccount(accountId).deviceId
        : daemon.account(accountId).deviceId,
      address,
      version: VERSION,
    },
  );
  output.event("listening", `listening on UDP ${address}`, { address });
  // Names that did not resolve (no network yet) are looked up again.
  const resolver = new BootstrapResolver({
    names: unresolved,
    onResolved: (name, addresses) => {
      const added = daemon.dht.addBootstrap(addresses);
      output.event(
        "bootstrapResolved",
        `resolved bootstrap "${name.host}": ${addresses.length} address(es)`,
        { host: name.host, addresses: addresses.map(formatAddress), added },
      );
    },
  });
  resolver.start();
  reportBootstrap(daemon, options, output, resolver);
  const statsTimer = output.enabled("debug")
    ? setInterval(() => {
      const stats = daemon.dht.stats();
      const subscriptions = daemon.presence.getSubscriptions(accountId).length;
      output.event(
        "stats",
        formatStats(stats, subscriptions).replace(/\s*\n/g, "; "),
        { stats, subscriptions },
        "debug",
      );
    }, DEBUG_STATS_INTERVAL_MS)
    : undefined;
  // Contacts are watched from the start.
  for (const contact of daemon.config.getContacts(accountId)) {
    if (!contact.banned) {
      daemon.presence.subscribeBuddy(accountId, contact.id, true);
    }
  }
  const signal = signalReceived();
  let reason: string;
  if (options.console) {
    const consoleDone = readConsole(daemon, accountId, output);
    const first = await Promise.race([consoleDone, signal.promise]);
    if (first === "eof" && !Deno.stdin.isTerminal()) {
      output.event(
        "stdinClosed",
        "stdin closed: the node keeps running until SIGINT or SIGTERM (--no-console skips the console)",
      );
      reason = await signal.promise;
    } else reason = first;
  } else {
    output.event("waiting", "no console: running until SIGINT or SIGTERM");
    reason = await signal.promise;
  }
  clearInterval(statsTimer);
  resolver.stop();
  output.event(
    "stopping",
    "stopping: goodbye to contacts, saving state…",
    { reason },
  );
  // The listeners stay until the stop is done: a signal can arrive twice
  // (`deno task` forwards it, and `timeout` or a service manager may also
  // signal the whole process group), and without a listener the second one
  // would kill the process halfway through its goodbyes. The stop is
  // bounded: goodbyes are given up after 2 s.
  await daemon.stop();
  signal.dispose();
  output.event("stopped", "stopped", { reason });
  return 0;
}

const STATUS = ["offline", "online (DHT)", "connected"];

function short(uri: string): string {
  return `${uri.slice(0, 8)}…`;
}

/**
 * `--demo`: two accounts on loopback UDP go through request, acceptance,
 * presence (DHT, then a direct TCP link with a note as PIDF over SIP) and a
 * clean quit, with timings.
 *
 * @param timeoutMs Longest wait for any one step.
 * @returns Exit code (0 when every step happened).
 */
export async function runDemo(timeoutMs = 20_000): Promise<number> {
  const t0 = performance.now();
  const stamp = () => `${((performance.now() - t0) / 1_000).toFixed(2)} s`;
  const say = (text: string) => console.log(`[${stamp()}] ${text}`);
  const open = openLoopbackDaemon;
  const waitFor = (what: string, check: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const started = performance.now();
      const poll = () => {
        if (check()) return resolve();
        if (performance.now() - started > timeoutMs) {
          return reject(new Error(`timed out waiting for ${what}`));
        }
        setTimeout(poll, 10);
      };
      poll();
    });
  const alice = await open([]);
  const bob = await open([alice.transport.localAddress]);
  try {
    const a = await alice.daemon.createAccount({ deviceName: "alice-laptop" });
    const b = await bob.daemon.createAccount({ deviceName: "bob-phone" });
    say(`alice ${short(a)} on ${formatAddress(alice.transport.localAddress)}`);
    say(`bob   ${short(b)} on ${formatAddress(bob.transport.localAddress)}`);
    const seen = new Map<string, number>();
    alice.daemon.presence.on("newBuddyNotification", (n) => {
      seen.set("alice-sees-bob", n.status);
      say(
        `alice sees bob ${STATUS[n.status]}${
          n.lineStatus ? ` "${n.lineStatus}"` : ""
        }`,
      );
    });
    let requested = false;
    bob.daemon.config.on("incomingTrustRequest", (r) => {
      requested = true;
      say(
        `bob gets a request from alice: "${
          new TextDecoder().decode(r.payload)
        }"`,
      );
    });
    let accepted = false;
    alice.daemon.config.on("trustRequestAccepted", () => {
      accepted = true;
      say("alice: bob accepted");
    });
    alice.daemon.start();
    bob.daemon.start();
    await waitFor(
      "the two nodes to meet",
      () =>
        alice.daemon.dht.routingTable.size > 0 &&
        bob.daemon.dht.routingTable.size > 0,
    );
    say("the two DHT nodes know each other");
    bob.daemon.presence.publish(b, 1, "on the train");
    say("alice: add bob");
    await alice.daemon.config.sendTrustRequest(
      a,
      b,
      new TextEncoder().encode("Hi Bob, it's Alice"),
    );
    alice.daemon.presence.subscribeBuddy(a, b, true);
    await waitFor("bob online", () => seen.get("alice-sees-bob") === 1);
    await waitFor("the request", () => requested);
    say("bob: accept");
    await bob.daemon.config.acceptTrustRequest(b, a);
    await waitFor(
      "the acceptance",
      () =>
        accepted &&
        alice.daemon.config.getContactDetails(a, b)?.confirmed === true,
    );
    say("contact confirmed on both sides");
    // Now contacts both ways: their devices link directly (TCP, SIP).
    bob.daemon.presence.subscribeBuddy(b, a, true);
    await waitFor(
      "the direct link",
      () => seen.get("alice-sees-bob") === 2,
    );
    say("bob: new note, sent as PIDF over the link");
    bob.daemon.presence.publish(b, 1, "arrived");
    await waitFor(
      "the new note",
      () =>
        alice.daemon.presence.getSubscriptions(a)[0]?.lineStatus === "arrived",
    );
    say("bob: quit (clean shutdown, signed goodbye)");
    await bob.daemon.stop();
    await waitFor("bob offline", () => seen.get("alice-sees-bob") === 0);
    say("done");
    return 0;
  } catch (error) {
    say(`demo failed: ${(error as Error).message}`);
    return 1;
  } finally {
    // Each daemon owns its socket: stop() closes it.
    await alice.daemon.stop();
    await bob.daemon.stop();
  }
}

/**
 * Entry point.
 *
 * @param args Command-line arguments.
 * @returns Exit code.
 */
export async function main(args: readonly string[]): Promise<number> {
  // Native Ed25519 and X25519: same bytes as noble's, handshakes 4 to 20
  // times cheaper.
  useCurveOperations(NATIVE_CURVES);
  let options: Options | "help" | "version";
  try {
    options = parseOptions(args);
  } catch (error) {
    console.error(`run: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options === "help") {
    console.log(USAGE);
    return 0;
  }
  if (options === "version") {
    console.log(`dht-contacts ${VERSION} (deno ${Deno.version.deno})`);
    return 0;
  }
  if (options.demo) return await runDemo();
  const output = new Output({ json: options.json, level: options.logLevel });
  try {
    return await runNode(options, output);
  } catch (error) {
    // Wrong passphrase, data directory in use or damaged, unreadable
    // passphrase file, port or permission problems: one clear line, not a
    // stack trace.
    const { name, message } = error as Error;
    // Our own input checks need no class name; the others keep it
    // (WrongPassphraseError, DataDirLockedError, …) for searching.
    const text = error instanceof InputError ||
        error instanceof PassphraseUnavailableError ||
        error instanceof PassphraseAbortedError
      ? message
      : `${name}: ${message}`;
    if (output.json) output.event("error", text, { name }, "error");
    else console.error(`run: ${text}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
