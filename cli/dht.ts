/**
 * `deno task dht get|put|listen <key> …`: a low-level tool for any OpenDHT
 * network (the public one by default), built on the real {@link DhtNode} over
 * a {@link UdpTransport} with the system clock and system randomness.
 *
 * - `get <key>` prints the values found, one per line, then exits (status 1
 *   when there are none).
 * - `put <key> <text>` stores the text (user type `text/plain`, like
 *   dhtnode's `p`); with `--permanent` it keeps it alive until Ctrl-C or
 *   `--timeout`.
 * - `listen <key>` prints values as they arrive and expire, until Ctrl-C or
 *   `--timeout`.
 *
 * A key of 40 hex characters is used as is; anything else is hashed with
 * SHA-1, as OpenDHT's `InfoHash::get` (and dhtnode) do.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolveBootstrap } from "./bootstrap_resolver.ts";
import { DhtNode } from "../lib/dht/dht_node.ts";
import type { ListenEvent } from "../lib/dht/dht_client.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { systemClock } from "../lib/io/system_clock.ts";
import { systemRandomBytes, systemRng } from "../lib/io/system_random.ts";
import { parseAddress, type PeerAddress } from "../lib/transport.ts";
import { UdpBindError, UdpTransport } from "../lib/io/udp_transport.ts";

/** The public OpenDHT/Jami bootstrap node. */
export const DEFAULT_BOOTSTRAP = "bootstrap.jami.net:4222";

/** Default time limit of `get` and `put`, in seconds. */
const DEFAULT_TIMEOUT_S = 30;

const USAGE = `Usage: deno task dht <command> <key> [value] [options]

Talks to an OpenDHT network (the public Jami network by default) with our DHT
node.

Commands:
  get <key>            print the values stored at <key>, then exit
                       (none found: "no values found at <key>" on stderr,
                       exit status 1)
  put <key> <text>     store <text> at <key> (user type text/plain)
  listen <key>         print values as they arrive and expire, until Ctrl-C
                       or --timeout

<key> is 40 hex characters, or any text (hashed with SHA-1 as OpenDHT does).

Options:
  --bootstrap host:port[,host:port…]
                       nodes to join through (default ${DEFAULT_BOOTSTRAP})
  --bind <address>     local address to bind (default 0.0.0.0)
  --port <n>           local UDP port (default 0 = any)
  --timeout <seconds>  stop after this long (default ${DEFAULT_TIMEOUT_S} for get
                       and put, none for listen and put --permanent)
  --type <n>           value type for put (default 0, 10-minute life;
                       5 = ICE candidates, 1 minute)
  --permanent          put: keep refreshing the value until Ctrl-C or --timeout
  --network <n>        network id (default 0, the public network)
  -h, --help           show this help

Example:
  deno task dht put my-key hello
  deno task dht get my-key
`;

/** Bad command line: shown with the usage, exit status 2. */
export class UsageError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A parsed command line. */
export interface DhtCommand {
  /** The subcommand: the first word of the command line. */
  readonly command: "get" | "put" | "listen";
  /** The key, hashed if needed. */
  readonly key: InfoHash;
  /** The text to put. */
  readonly value?: string;
  /** Bootstrap nodes, names not yet resolved. */
  readonly bootstrap: readonly PeerAddress[];
  /** Local address the UDP socket binds to (`--bind`, default 0.0.0.0). */
  readonly bind: string;
  /** Local UDP port (`--port`); 0 lets the system pick a free one. */
  readonly port: number;
  /** Time limit in milliseconds, if any. */
  readonly timeoutMs?: number;
  /** Value type for put. */
  readonly type: number;
  /** `--permanent`: keep the put value alive by refreshing it until Ctrl-C or the timeout. */
  readonly permanent: boolean;
  /** OpenDHT network id (`--network`); nodes ignore other networks, 0 is the public one. */
  readonly network: number;
}

function integer(text: string, name: string, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) > max) {
    throw new UsageError(
      `--${name} "${text}" is not an integer from 0 to ${max}`,
    );
  }
  return Number(text);
}

/**
 * Reads the command line.
 *
 * @param args Arguments after the script name.
 * @returns The command, or "help".
 * @throws {UsageError} On a bad flag, command, key or value.
 */
export function parseCommand(args: readonly string[]): DhtCommand | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        bootstrap: { type: "string" },
        bind: { type: "string" },
        port: { type: "string" },
        timeout: { type: "string" },
        type: { type: "string" },
        permanent: { type: "boolean" },
        network: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  const [command, keyText, ...rest] = positionals;
  if (command !== "get" && command !== "put" && command !== "listen") {
    throw new UsageError(
      command === undefined
        ? "Missing command"
        : `Unknown command "${command}"`,
    );
  }
  if (keyText === undefined) throw new UsageError("Missing <key>");
  const wanted = command === "put" ? 1 : 0;
  if (rest.length !== wanted) {
    throw new UsageError(
      command === "put"
        ? "put takes <key> and one <text> (quote it if it has spaces)"
        : `${command} takes only <key>`,
    );
  }
  if (values.permanent && command !== "put") {
    throw new UsageError("--permanent applies to put only");
  }
  let bootstrap: PeerAddress[];
  try {
    bootstrap = (values.bootstrap ?? DEFAULT_BOOTSTRAP).split(",")
      .map((text) => parseAddress(text.trim()));
  } catch (error) {
    throw new UsageError(`--bootstrap: ${(error as Error).message}`);
  }
  const timeoutText = values.timeout;
  let timeoutMs: number | undefined;
  if (timeoutText !== undefined) {
    const seconds = Number(timeoutText);
    if (!/^\d+(\.\d+)?$/.test(timeoutText) || !(seconds > 0)) {
      throw new UsageError(
        `--timeout "${timeoutText}" is not a positive number of seconds`,
      );
    }
    timeoutMs = seconds * 1_000;
  } else if (command === "get" || (command === "put" && !values.permanent)) {
    timeoutMs = DEFAULT_TIMEOUT_S * 1_000;
  }
  return {
    command,
    key: /^[0-9a-fA-F]{40}$/.test(keyText)
      ? InfoHash.fromHex(keyText)
      : InfoHash.get(keyText),
    value: rest[0],
    bootstrap,
    bind: values.bind ?? "0.0.0.0",
    port: integer(values.port ?? "0", "port", 65535),
    timeoutMs,
    type: integer(values.type ?? "0", "type", 65535),
    permanent: values.permanent ?? false,
    network: integer(values.network ?? "0", "network", 0xffff_ffff),
  };
}

/**
 * Resolves host names to every address, IPv4 and IPv6 (a dual-stack node
 * reaches either; a v4-only socket counts its sends to IPv6 addresses as
 * send errors, nothing worse); names that fail are reported on stderr.
 */
export async function resolveAddresses(
  addresses: readonly PeerAddress[],
): Promise<PeerAddress[]> {
  const { resolved, errors } = await resolveBootstrap(addresses);
  for (const { host, message } of errors) {
    console.error(`dht: cannot resolve "${host}": ${message}`);
  }
  return resolved;
}

export { systemRng };

function randomValueId(): bigint {
  const bytes = systemRandomBytes(8);
  const id = new DataView(bytes.buffer).getBigUint64(0);
  return id === 0n ? 1n : id;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * One value as a line: id (hex, as dhtnode prints it), type, user type and
 * the data as text when it is UTF-8 without control characters, else hex.
 *
 * @param value A value as received, plain, signed or encrypted.
 * @returns The line.
 */
export function formatValue(value: DhtValue): string {
  let data: string;
  try {
    const text = UTF8.decode(value.data);
    // deno-lint-ignore no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(text)) throw new TypeError("binary");
    data = JSON.stringify(text);
  } catch {
    data = "0x" +
      Array.from(value.data, (byte) => byte.toString(16).padStart(2, "0"))
        .join("");
  }
  const parts = [`id=${value.id.toString(16)}`, `type=${value.type}`];
  if (value.userType) parts.push(`utype=${JSON.stringify(value.userType)}`);
  if (value.owner) parts.push("signed");
  if (value.cypher) parts.push("encrypted");
  parts.push(`data=${data}`);
  return parts.join(" ");
}

/**
 * Runs one command; returns the exit status.
 *
 * @param args Arguments after the script name.
 * @returns 0 on success, 1 on failure, 2 on a bad command line.
 */
export async function main(args: readonly string[]): Promise<number> {
  let command: DhtCommand | "help";
  try {
    command = parseCommand(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`dht: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (command === "help") {
    console.log(USAGE);
    return 0;
  }
  const bootstrap = await resolveAddresses(command.bootstrap);
  if (bootstrap.length === 0) {
    console.error("dht: no bootstrap address could be resolved");
    return 1;
  }
  let transport: UdpTransport;
  try {
    transport = await UdpTransport.bind({
      host: command.bind,
      port: command.port,
    });
  } catch (error) {
    if (!(error instanceof UdpBindError)) throw error;
    console.error(`dht: ${error.message}`);
    return 1;
  }
  const node = new DhtNode(
    { transport, clock: systemClock, rng: systemRng() },
    // Client mode: this process exits after one command, so it must not
    // stay in other nodes' routing tables as a dead node.
    { network: command.network, client: true },
  );
  let finish!: (status: number) => void;
  const finished = new Promise<number>((resolve) => finish = resolve);
  const onSignal = () => finish(0);
  Deno.addSignalListener("SIGINT", onSignal);
  const timer = command.timeoutMs === undefined ? undefined : setTimeout(() => {
    if (command.command !== "listen" && !command.permanent) {
      console.error("dht: timed out");
      finish(1);
    } else finish(0);
  }, command.timeoutMs);
  try {
    node.start();
    node.bootstrap(bootstrap, (answered) => {
      if (answered === 0) {
        console.error("dht: no bootstrap node answered");
        finish(1);
        return;
      }
      run(node, command, finish);
    });
    return await finished;
  } finally {
    clearTimeout(timer);
    Deno.removeSignalListener("SIGINT", onSignal);
    node.stop();
    await transport.close();
  }
}

function run(
  node: DhtNode,
  command: DhtCommand,
  finish: (status: number) => void,
): void {
  const { key } = command;
  switch (command.command) {
    case "get":
      node.get(key, {
        onValues: (values) => {
          for (const value of values) console.log(formatValue(value));
        },
        onDone: (values) => {
          if (values.length === 0) {
            console.error(`dht: no values found at ${key.toString()}`);
          }
          finish(values.length > 0 ? 0 : 1);
        },
      });
      return;
    case "put": {
      const value: DhtValue = {
        id: randomValueId(),
        type: command.type,
        data: new TextEncoder().encode(command.value ?? ""),
        userType: "text/plain",
      };
      node.put(key, value, {
        permanent: command.permanent,
        onDone: (stored) => {
          console.log(
            `stored id=${value.id.toString(16)} on ${stored} node(s)`,
          );
          if (stored === 0) finish(1);
          else if (!command.permanent) finish(0);
        },
      });
      return;
    }
    case "listen":
      node.listen(key, (event: ListenEvent) => {
        if (event.kind === "added") {
          for (const value of event.values) console.log(formatValue(value));
        } else if (event.kind === "expired") {
          for (const id of event.ids) {
            console.log(`expired id=${id.toString(16)}`);
          }
        }
      });
      return;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
