/**
 * `deno task run`: a daemon with one account over UDP, and a console.
 *
 * ```sh
 * deno task run                                   # data in ~/.local/share/dht-contacts
 * deno task run --data-dir ./alice --port 4300 --bootstrap none
 * deno task run --demo                            # two accounts on loopback, the whole flow
 * ```
 *
 * @module
 */
import { createInterface } from "node:readline";
import process from "node:process";
import { parseArgs } from "node:util";
import { networkInterfaces } from "node:os";
import { Daemon } from "../lib/daemon/daemon.ts";
import { FileStorage } from "../lib/io/file_storage.ts";
import { formatUri, parseUri } from "../lib/identity/uri.ts";
import { systemClock } from "../lib/io/system_clock.ts";
import { systemRandomBytes } from "../lib/io/system_random.ts";
import {
  formatAddress,
  parseAddress,
  type PeerAddress,
} from "../lib/transport.ts";
import { AddressInUseError, UdpTransport } from "../lib/io/udp_transport.ts";
import { TcpStreamNetwork } from "../lib/io/tcp_stream_network.ts";
import { DEFAULT_BOOTSTRAP, resolveAddresses, systemRng } from "./dht.ts";
import { openLoopbackDaemon } from "./loopback_daemon.ts";

const USAGE = `Usage: deno task run [options]

Runs a contact-management daemon with one account over UDP and opens a console.
The account is created on first run and kept (encrypted) in the data directory.

Options:
  --data-dir DIR          where the account lives
                          (default: $XDG_DATA_HOME/dht-contacts or ~/.local/share/dht-contacts)
  --passphrase-file FILE  read the archive passphrase from FILE (else a prompt
                          on a terminal; never from the command line)
  --port N                UDP port, and TCP port for direct links to contacts
                          (default 4222; a free port if taken)
  --host ADDR             address to bind (default 0.0.0.0)
  --advertise HOST        address contacts dial for direct links (default: the
                          bound address, or this machine's first non-loopback
                          IPv4 address when bound to 0.0.0.0)
  --no-links              no direct links: presence stops at status 1
  --bootstrap LIST        host:port,... to join, or "none" (default ${DEFAULT_BOOTSTRAP})
  --name NAME             this device's name (default "console")
  --demo                  run two accounts on loopback and walk through the flow
  -h, --help              show this help

Console commands:
  add <uri> [message]     send a trust request (and add the contact)
  requests                pending requests
  accept <uri>            accept a request
  discard <uri>           drop a request silently
  remove <uri> [--ban]    remove a contact (and ban it)
  contacts                contacts and their presence
  watch <uri>             subscribe to a contact's presence
  status <note>           publish a note ("status" alone clears it)
  whoami                  account, device, address
  help                    this list
  quit                    clean shutdown (goodbye to contacts)
`;

class UsageError extends Error {}

interface Options {
  dataDir: string;
  passphraseFile?: string;
  port: number;
  host: string;
  advertise?: string;
  links: boolean;
  bootstrap: PeerAddress[] | "none";
  name: string;
  demo: boolean;
}

function defaultDataDir(): string {
  const xdg = Deno.env.get("XDG_DATA_HOME");
  if (xdg) return `${xdg}/dht-contacts`;
  const home = Deno.env.get("HOME") ?? ".";
  return `${home}/.local/share/dht-contacts`;
}

function parseOptions(args: readonly string[]): Options | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        "data-dir": { type: "string" },
        "passphrase-file": { type: "string" },
        port: { type: "string" },
        host: { type: "string" },
        advertise: { type: "string" },
        "no-links": { type: "boolean" },
        bootstrap: { type: "string" },
        name: { type: "string" },
        demo: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values = parsed.values;
  if (values.help) return "help";
  const port = Number(values.port ?? "4222");
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port expects 0 to 65535, got "${values.port}"`);
  }
  const bootstrapText = values.bootstrap ?? DEFAULT_BOOTSTRAP;
  let bootstrap: PeerAddress[] | "none" = "none";
  if (bootstrapText !== "none") {
    try {
      bootstrap = bootstrapText.split(",").filter(Boolean).map(parseAddress);
    } catch (error) {
      throw new UsageError(`--bootstrap: ${(error as Error).message}`);
    }
  }
  return {
    dataDir: values["data-dir"] ?? defaultDataDir(),
    passphraseFile: values["passphrase-file"],
    port,
    host: values.host ?? "0.0.0.0",
    advertise: values.advertise,
    links: !(values["no-links"] ?? false),
    bootstrap,
    name: values.name ?? "console",
    demo: values.demo ?? false,
  };
}

async function readPassphrase(options: Options): Promise<string> {
  if (options.passphraseFile !== undefined) {
    const text = await Deno.readTextFile(options.passphraseFile);
    return text.replace(/\r?\n$/, "");
  }
  if (Deno.stdin.isTerminal()) {
    return prompt("Archive passphrase (empty for none):") ?? "";
  }
  console.error(
    "run: no --passphrase-file and no terminal: the archive uses an empty passphrase",
  );
  return "";
}

async function bindUdp(host: string, port: number): Promise<UdpTransport> {
  try {
    return await UdpTransport.bind({ host, port });
  } catch (error) {
    if (!(error instanceof AddressInUseError) || port === 0) throw error;
    console.error(`run: port ${port} is taken; using a free port`);
    return await UdpTransport.bind({ host, port: 0 });
  }
}

function short(uri: string): string {
  return `${uri.slice(0, 8)}…`;
}

const STATUS = ["offline", "online (DHT)", "connected"];

/** Wires the daemon's events to console output. */
function printEvents(daemon: Daemon, print: (line: string) => void): void {
  daemon.presence.on("newBuddyNotification", (n) =>
    print(
      `presence ${formatUri(parseUri(n.buddyUri))}: ${STATUS[n.status]}${
        n.lineStatus ? ` "${n.lineStatus}"` : ""
      }`,
    ));
  daemon.config.on("incomingTrustRequest", (r) =>
    print(
      `request from ${formatUri(parseUri(r.from))}: "${
        new TextDecoder().decode(r.payload).slice(0, 200)
      }" (accept ${r.from} / discard ${r.from})`,
    ));
  daemon.config.on(
    "contactAdded",
    (c) =>
      print(`contact ${short(c.uri)} added${c.confirmed ? ", confirmed" : ""}`),
  );
  daemon.config.on(
    "contactRemoved",
    (c) =>
      print(`contact ${short(c.uri)} removed${c.banned ? " and banned" : ""}`),
  );
  daemon.config.on(
    "trustRequestDelivered",
    (d) => print(`request to ${short(d.uri)} delivered`),
  );
  daemon.config.on(
    "trustRequestAccepted",
    (d) => print(`request to ${short(d.uri)} accepted`),
  );
  daemon.config.on(
    "trustRequestExpired",
    (d) => print(`request to ${short(d.uri)} expired undelivered`),
  );
}

/**
 * Runs one console command.
 *
 * @param daemon The running daemon the console controls.
 * @param accountId The console's account, whose contacts and presence the commands act on.
 * @param line The command line.
 * @returns Text to print, or "quit".
 */
export async function runCommand(
  daemon: Daemon,
  accountId: string,
  line: string,
): Promise<string | "quit"> {
  const [command, ...rest] = line.trim().split(/\s+/);
  const arg = rest[0];
  const needUri = () => {
    if (arg === undefined) throw new UsageError(`${command} needs a URI`);
    return arg;
  };
  switch (command) {
    case "":
      return "";
    case "help":
      return USAGE.slice(USAGE.indexOf("Console commands:"));
    case "whoami":
      return `account ${formatUri(parseUri(accountId))}\ndevice  ${
        daemon.account(accountId).deviceId
      }\naddress ${
        formatAddress(daemon.dht.address)
      }, ${daemon.dht.routingTable.size} DHT nodes known`;
    case "add": {
      const message = rest.slice(1).join(" ");
      const id = await daemon.config.sendTrustRequest(
        accountId,
        needUri(),
        new TextEncoder().encode(message),
      );
      daemon.presence.subscribeBuddy(accountId, needUri(), true);
      return `request ${id.slice(0, 8)} queued (retried until delivered)`;
    }
    case "requests": {
      const list = daemon.config.getTrustRequests(accountId);
      return list.length === 0
        ? "no pending request"
        : list.map((r) =>
          `${r.from} at ${new Date(r.received * 1_000).toISOString()}: "${
            new TextDecoder().decode(r.payload).slice(0, 200)
          }"`
        ).join("\n");
    }
    case "accept":
      await daemon.config.acceptTrustRequest(accountId, needUri());
      daemon.presence.subscribeBuddy(accountId, needUri(), true);
      return "accepted";
    case "discard":
      return await daemon.config.discardTrustRequest(accountId, needUri())
        ? "discarded"
        : "no request from that account";
    case "remove": {
      const ban = rest.includes("--ban");
      await daemon.config.removeContact(accountId, needUri(), ban);
      return ban ? "removed and banned" : "removed";
    }
    case "contacts": {
      const presence = new Map(
        daemon.presence.getSubscriptions(accountId).map((s) => [s.buddy, s]),
      );
      const list = daemon.config.getContacts(accountId);
      return list.length === 0 ? "no contact" : list.map((c) => {
        const p = presence.get(c.id);
        const state = c.banned
          ? "banned"
          : `${c.confirmed ? "confirmed" : "pending"}, ${
            p ? STATUS[p.status] : "not watched"
          }${p?.lineStatus ? ` "${p.lineStatus}"` : ""}`;
        return `${c.id} ${state}`;
      }).join("\n");
    }
    case "watch":
      daemon.presence.subscribeBuddy(accountId, needUri(), true);
      return "watching";
    case "status": {
      const note = rest.join(" ");
      daemon.presence.publish(accountId, 1, note);
      return note ? `note set: "${note}"` : "note cleared";
    }
    case "quit":
    case "exit":
      return "quit";
    default:
      throw new UsageError(`unknown command "${command}" (try help)`);
  }
}

/**
 * The host contacts dial: the bound one, or for a wildcard bind the first
 * non-internal IPv4 address (loopback when there is none).
 */
function advertisedHost(bound: string): string {
  if (bound !== "0.0.0.0" && bound !== "::") return bound;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === "IPv4" && !address.internal) {
        return address.address;
      }
    }
  }
  return "127.0.0.1";
}

async function runNode(options: Options): Promise<number> {
  const storage = await FileStorage.open(options.dataDir);
  const passphrase = await readPassphrase(options);
  const transport = await bindUdp(options.host, options.port);
  const bootstrap = options.bootstrap === "none"
    ? []
    : await resolveAddresses(options.bootstrap);
  const daemon = await Daemon.open({
    transport,
    clock: systemClock,
    rng: systemRng(),
    randomBytes: systemRandomBytes,
    storage,
    passphrase,
    dht: { bootstrap },
    ...(options.links
      ? {
        streams: new TcpStreamNetwork({ host: options.host }),
        channelPort: transport.localAddress.port,
        channelHost: options.advertise ?? advertisedHost(options.host),
      }
      : {}),
  });
  let accountId = daemon.listAccounts()[0];
  if (accountId === undefined) {
    accountId = await daemon.createAccount({ deviceName: options.name });
    console.log(`created a new account in ${options.dataDir}`);
  }
  const print = (line: string) => console.log(line);
  printEvents(daemon, print);
  daemon.start();
  console.log(`account ${formatUri(parseUri(accountId))}`);
  console.log(`listening on UDP ${formatAddress(transport.localAddress)}`);
  if (options.bootstrap === "none") {
    console.log("standalone (no bootstrap)");
  } else {
    const timer = setTimeout(() => {
      if (daemon.dht.routingTable.size === 0) {
        console.log(
          "no bootstrap peer answered within 5 s: running standalone (others can still join us)",
        );
      } else {
        console.log(
          `joined the DHT (${daemon.dht.routingTable.size} nodes known)`,
        );
      }
    }, 5_000);
    Deno.unrefTimer(timer);
  }
  // Contacts are watched from the start.
  for (const contact of daemon.config.getContacts(accountId)) {
    if (!contact.banned) {
      daemon.presence.subscribeBuddy(accountId, contact.id, true);
    }
  }
  let stopping: Promise<number> | undefined;
  const shutdown = (): Promise<number> => {
    stopping ??= (async () => {
      console.log("stopping: goodbye to contacts, saving state…");
      await daemon.stop();
      await transport.close();
      return 0;
    })();
    return stopping;
  };
  const onSignal = () => shutdown().then((code) => Deno.exit(code));
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  console.log('type "help" for commands');
  const input = createInterface({ input: process.stdin });
  for await (const line of input) {
    try {
      const out = await runCommand(daemon, accountId, line);
      if (out === "quit") break;
      if (out) console.log(out);
    } catch (error) {
      console.log(`error: ${(error as Error).message}`);
    }
  }
  input.close();
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
  return await shutdown();
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
    await alice.daemon.stop();
    await bob.daemon.stop();
    await alice.transport.close();
    await bob.transport.close();
  }
}

/**
 * Entry point.
 *
 * @param args Command-line arguments.
 * @returns Exit code.
 */
export async function main(args: readonly string[]): Promise<number> {
  let options: Options | "help";
  try {
    options = parseOptions(args);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options === "help") {
    console.log(USAGE);
    return 0;
  }
  if (options.demo) return await runDemo();
  try {
    return await runNode(options);
  } catch (error) {
    // Wrong passphrase, damaged archive or state, port or permission
    // problems: one clear line, not a stack trace.
    console.error(`run: ${(error as Error).name}: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
