/**
 * Real NATs on one Linux machine: network namespaces, veth pairs and
 * nftables masquerade, built for a test and always torn down.
 *
 * ```
 *   host1 203.0.113.11   host2 203.0.113.12      (public hosts, one bridge)
 *              └──────────┬──────────┘
 *     pub: a router, 203.0.113.1 (the bootstrap), 198.51.100.1, 192.0.2.1
 *              ┌──────────┴──────────┐
 *   nat-a 198.51.100.2        nat-b 192.0.2.2     (masquerade out of wan)
 *              │                     │
 *   dev-a 192.168.1.2         dev-b 192.168.1.2   (each behind its router)
 * ```
 *
 * - `pub` is the "Internet": a router (IPv4 forwarding on) with a bridge for
 *   the public hosts, where it has 203.0.113.1 (the test's bootstrap
 *   `dhtnode`), and one link and subnet per NAT, so that a datagram from one
 *   NAT to the other crosses a router as on the Internet.
 * - `host1`, `host2`: more public hosts (one `dhtnode` each in the test).
 *   A node believes its observed public address only when 3 distinct IPs
 *   agree (`lib/dht/observed_address.ts`), and `dhtnode` has no option to
 *   bind one address, so each replier needs its own namespace.
 * - `nat-a`, `nat-b`: routers, `wan` towards pub and `lan` towards their
 *   device, IPv4 forwarding on, and an nftables ruleset: masquerade out of
 *   `wan` (Linux's masquerade: endpoint-independent mapping, the source port
 *   kept when free) and a forward filter that lets in only replies to what
 *   went out (conntrack matches the whole 5-tuple: port-restricted
 *   filtering). No port forwards. The router's own input from `wan` is
 *   what `routerInput` says: `"drop"` (the default) drops what is not a
 *   reply, as home routers do (OpenWrt's WAN zone rejects input); with
 *   `"accept"` (a bare Linux box used as a router), a datagram from the
 *   Internet to one of the router's public ports is accepted and
 *   conntrack keeps that flow 30 s, so the device's datagrams to that
 *   sender then leave from another port: the port is kept only when free
 *   (`tests/nat_netns_test.ts` shows both).
 * - `dev-a`, `dev-b`: one device each, default route via its router. The
 *   private networks overlap (both 192.168.1.0/24, both devices at
 *   192.168.1.2) as two home networks do, unless `privateSubnets` is
 *   `"distinct"` (then dev-b is in 192.168.2.0/24).
 *
 * Names are `<prefix>-<pid>-<random>-<role>`: parallel runs cannot collide,
 * and {@link cleanupStaleNamespaces} removes those of runs whose process is
 * gone (a crash or a SIGKILL skipped their `close`). Every command is bounded
 * in time and a failure throws {@link NetnsCommandError} with its stderr.
 * Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN), `ip` (iproute2) and `nft`.
 *
 * @module
 */

/** The prefix of every namespace this module makes. */
export const NETNS_PREFIX = "dhtc";

/** Longest any one `ip`/`nft`/`sysctl` command may take: 10 s. */
const COMMAND_LIMIT_MS = 10_000;

/** pub's address on the public hosts' bridge, where the bootstrap runs. */
const PUBLIC_HUB = "203.0.113.1";
/** pub's end of nat-a's link (198.51.100.0/24; nat-a is .2). */
const NAT_A_GATEWAY = "198.51.100.1";
/** pub's end of nat-b's link (192.0.2.0/24; nat-b is .2). */
const NAT_B_GATEWAY = "192.0.2.1";

/** A command that failed, exited non-zero or ran out of time. */
export class NetnsCommandError extends Error {
  /** The command line, as run. */
  readonly command: readonly string[];
  /** Its exit code (-1 when it could not start or was killed). */
  readonly code: number;
  /** What it printed on stderr. */
  readonly stderr: string;

  /**
   * @param command The command line.
   * @param code Exit code, or -1.
   * @param stderr Its stderr, or why it did not run.
   */
  constructor(command: readonly string[], code: number, stderr: string) {
    super(
      `Cannot run "${command.join(" ")}": ${
        code === -1 ? "" : `exit code ${code}: `
      }${stderr.trim() || "(no stderr)"}`,
    );
    this.name = "NetnsCommandError";
    this.command = command;
    this.code = code;
    this.stderr = stderr;
  }
}

/** Options of {@link runCommand}. */
export interface RunOptions {
  /** Written to the command's stdin, which is then closed. */
  readonly stdin?: string;
  /** Killed (SIGKILL) after this long. @default {10000} */
  readonly timeoutMs?: number;
}

/**
 * Runs one command to its end, bounded in time.
 *
 * @param command The program and its arguments.
 * @param options Input and time limit.
 * @returns Its stdout.
 * @throws {NetnsCommandError} If it cannot start, exits non-zero or times out.
 */
export async function runCommand(
  command: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  const timeoutMs = options.timeoutMs ?? COMMAND_LIMIT_MS;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command[0], {
      args: command.slice(1),
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    throw new NetnsCommandError(command, -1, (error as Error).message);
  }
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin));
      await writer.close();
    }
    const { code, stdout, stderr } = await child.output();
    const text = new TextDecoder().decode(stderr);
    if (killed) {
      throw new NetnsCommandError(
        command,
        -1,
        `killed after ${timeoutMs} ms; stderr: ${text}`,
      );
    }
    if (code !== 0) throw new NetnsCommandError(command, code, text);
    return new TextDecoder().decode(stdout);
  } finally {
    clearTimeout(timer);
  }
}

/** The namespaces of one topology, by role. */
export interface NetnsNames {
  readonly pub: string;
  readonly host1: string;
  readonly host2: string;
  readonly natA: string;
  readonly natB: string;
  readonly devA: string;
  readonly devB: string;
}

/** The roles, in creation order. */
const ROLES = [
  "pub",
  "host1",
  "host2",
  "natA",
  "natB",
  "devA",
  "devB",
] as const;

/** IPv4 addresses of one topology. */
export interface NetnsAddresses {
  /** The bridge in `pub`, where the bootstrap runs. */
  readonly pub: string;
  readonly host1: string;
  readonly host2: string;
  /** nat-a's public (`wan`) address: what the Internet sees of dev-a. */
  readonly natA: string;
  /** nat-b's public address: what the Internet sees of dev-b. */
  readonly natB: string;
  /** dev-a's private address. */
  readonly devA: string;
  /** dev-b's private address. */
  readonly devB: string;
}

/** Options of {@link NetnsTopology.create}. */
export interface NetnsTopologyOptions {
  /**
   * `"same"`: both private networks are 192.168.1.0/24 (as two home
   * networks usually are); `"distinct"`: dev-b is in 192.168.2.0/24.
   * @default {"same"}
   */
  readonly privateSubnets?: "same" | "distinct";
  /**
   * The NAT routers' own input from the public side: `"drop"` all but
   * replies (home routers), or `"accept"` it (a Linux box with no input
   * filter; see the module documentation).
   * @default {"drop"}
   */
  readonly routerInput?: "drop" | "accept";
}

/** True while process `pid` exists on this machine. */
function processExists(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** The names of every namespace (`ip netns list`), without their ids. */
async function listNamespaces(): Promise<string[]> {
  const text = await runCommand(["ip", "netns", "list"]);
  return text.split("\n").map((line) => line.split(" ")[0]).filter(Boolean);
}

/** Kills every process inside namespace `name`, then deletes it. */
async function deleteNamespace(name: string): Promise<void> {
  // A namespace's processes outlive `ip netns del` (it only unlinks the
  // name), so they go first.
  const pids = await runCommand(["ip", "netns", "pids", name]).catch(() => "");
  for (const pid of pids.split("\n").filter(Boolean).map(Number)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  await runCommand(["ip", "netns", "del", name]);
}

/**
 * Deletes the namespaces of earlier runs whose process is gone: names
 * `<NETNS_PREFIX>-<pid>-…` with no live `<pid>`.
 *
 * @returns The namespaces deleted.
 * @throws {NetnsCommandError} If listing or deleting fails.
 */
export async function cleanupStaleNamespaces(): Promise<string[]> {
  const stale: string[] = [];
  for (const name of await listNamespaces()) {
    const match = new RegExp(`^${NETNS_PREFIX}-(\\d+)-`).exec(name);
    if (match && !processExists(Number(match[1]))) stale.push(name);
  }
  for (const name of stale) await deleteNamespace(name);
  return stale;
}

/**
 * Whether the tests that need root (network or mount namespaces) must run
 * here and fail when they cannot, instead of being ignored: in CI, or with
 * `REQUIRE_OPENDHT=1` or `REQUIRE_NETNS=1`.
 */
export const ROOT_TESTS_REQUIRED: boolean = Deno.env.get("CI") !== undefined ||
  Deno.env.get("REQUIRE_OPENDHT") === "1" ||
  Deno.env.get("REQUIRE_NETNS") === "1";

/**
 * Why namespaces cannot be made here, or `undefined` when they can: tries
 * `ip netns add` and `nft` in a throwaway namespace.
 *
 * @returns A sentence for a skip or failure message, or `undefined`.
 */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (Deno.uid() !== 0) {
    return "not root (`ip netns add` and nftables need root)";
  }
  const name = `${NETNS_PREFIX}-${Deno.pid}-probe`;
  try {
    await runCommand(["ip", "netns", "add", name]);
  } catch (error) {
    return `\`ip netns add\` failed: ${(error as Error).message}`;
  }
  try {
    await runCommand(["ip", "netns", "exec", name, "nft", "list", "ruleset"]);
  } catch (error) {
    return `nftables is missing or unusable (apt-get install -y nftables): ${
      (error as Error).message
    }`;
  } finally {
    await deleteNamespace(name).catch(() => {});
  }
  return undefined;
}

/** nat-a's and nat-b's ruleset: masquerade out of `wan`, only replies in. */
function natRuleset(input: "drop" | "accept"): string {
  const inputChain = input === "drop"
    ? `
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan" ct state != established,related drop
  }`
    : "";
  return `
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" masquerade
  }
}
table inet filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan" oifname "wan" accept
  }${inputChain}
}
`;
}

/** A running topology; {@link NetnsTopology.close} deletes it. */
export class NetnsTopology {
  /** The namespaces, by role. */
  readonly names: NetnsNames;
  /** The IPv4 addresses, by role. */
  readonly addresses: NetnsAddresses;
  #closed = false;
  readonly #routerInput: "drop" | "accept";

  private constructor(
    names: NetnsNames,
    addresses: NetnsAddresses,
    routerInput: "drop" | "accept",
  ) {
    this.names = names;
    this.addresses = addresses;
    this.#routerInput = routerInput;
  }

  /**
   * Builds the topology of the module documentation. On any failure what
   * was made is deleted before the error is thrown.
   *
   * @param options Private subnets, the routers' input policy.
   * @returns The topology, up and routed.
   * @throws {NetnsCommandError} With the failing command's stderr.
   */
  static async create(
    options: NetnsTopologyOptions = {},
  ): Promise<NetnsTopology> {
    const suffix = Array.from(
      crypto.getRandomValues(new Uint8Array(3)),
      (byte) => byte.toString(16).padStart(2, "0"),
    ).join("");
    const base = `${NETNS_PREFIX}-${Deno.pid}-${suffix}`;
    const names = {
      pub: `${base}-pub`,
      host1: `${base}-host1`,
      host2: `${base}-host2`,
      natA: `${base}-nat-a`,
      natB: `${base}-nat-b`,
      devA: `${base}-dev-a`,
      devB: `${base}-dev-b`,
    };
    const distinct = options.privateSubnets === "distinct";
    const addresses = {
      pub: PUBLIC_HUB,
      host1: "203.0.113.11",
      host2: "203.0.113.12",
      natA: "198.51.100.2",
      natB: "192.0.2.2",
      devA: "192.168.1.2",
      devB: distinct ? "192.168.2.2" : "192.168.1.2",
    };
    const topology = new NetnsTopology(
      names,
      addresses,
      options.routerInput ?? "drop",
    );
    try {
      await topology.#build(distinct ? "192.168.2" : "192.168.1");
    } catch (error) {
      await topology.close().catch(() => {});
      throw error;
    }
    return topology;
  }

  async #build(networkB: string): Promise<void> {
    const { names, addresses } = this;
    for (const role of ROLES) {
      await runCommand(["ip", "netns", "add", names[role]]);
      await this.#ip(names[role], "link set lo up");
    }
    // pub is a router: the public hosts share its bridge, each NAT has its
    // own link and subnet, so a datagram between the NATs crosses one hop
    // (its TTL drops, as on the Internet).
    await this.#forward(names.pub);
    await this.#ip(names.pub, "link add br0 type bridge");
    await this.#ip(names.pub, `addr add ${PUBLIC_HUB}/24 dev br0`);
    await this.#ip(names.pub, "link set br0 up");
    const attached = [
      ["host1", "eth0", PUBLIC_HUB],
      ["host2", "eth0", PUBLIC_HUB],
      ["natA", "wan", NAT_A_GATEWAY],
      ["natB", "wan", NAT_B_GATEWAY],
    ] as const;
    for (const [role, inside, gateway] of attached) {
      const port = `to-${role.toLowerCase()}`;
      await this.#ip(
        names.pub,
        `link add ${port} type veth peer name ${inside} netns ${names[role]}`,
      );
      if (gateway === PUBLIC_HUB) {
        await this.#ip(names.pub, `link set ${port} master br0`);
        await this.#ip(names.pub, `link set ${port} up`);
      } else {
        await this.#ip(names.pub, `addr add ${gateway}/24 dev ${port}`);
        await this.#ip(names.pub, `link set ${port} up`);
        // What pub itself sends to a NAT (the bootstrap's replies) leaves
        // from 203.0.113.1, the address it was asked at: from the link's
        // own address it would match no conntrack entry and be dropped.
        const subnet = `${gateway.slice(0, gateway.lastIndexOf("."))}.0/24`;
        await this.#ip(
          names.pub,
          `route replace ${subnet} dev ${port} src ${PUBLIC_HUB}`,
        );
      }
      await this.#ip(
        names[role],
        `addr add ${addresses[role]}/24 dev ${inside}`,
      );
      await this.#ip(names[role], `link set ${inside} up`);
      await this.#ip(names[role], `route add default via ${gateway}`);
    }
    const lans = [
      ["natA", "devA", "192.168.1"],
      ["natB", "devB", networkB],
    ] as const;
    for (const [router, device, network] of lans) {
      await this.#ip(
        names[router],
        `link add lan type veth peer name eth0 netns ${names[device]}`,
      );
      await this.#ip(names[router], `addr add ${network}.1/24 dev lan`);
      await this.#ip(names[router], "link set lan up");
      await this.#ip(names[device], `addr add ${network}.2/24 dev eth0`);
      await this.#ip(names[device], "link set eth0 up");
      await this.#ip(names[device], `route add default via ${network}.1`);
      await this.#forward(names[router]);
      await runCommand(
        ["ip", "netns", "exec", names[router], "nft", "-f", "-"],
        { stdin: natRuleset(this.#routerInput) },
      );
    }
  }

  /** Turns IPv4 forwarding on in `namespace`. */
  async #forward(namespace: string): Promise<void> {
    await this.run(namespace, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
  }

  /** `ip -n <ns> <args>`. */
  async #ip(namespace: string, args: string): Promise<void> {
    await runCommand(["ip", "-n", namespace, ...args.split(" ")]);
  }

  /**
   * The command line that runs `command` inside namespace `namespace`
   * (`ip netns exec` execs it: the process keeps the PID spawned).
   *
   * @param namespace One of {@link NetnsTopology.names}.
   * @param command The program and its arguments.
   * @returns The wrapped command line.
   */
  inside(namespace: string, command: readonly string[]): string[] {
    return ["ip", "netns", "exec", namespace, ...command];
  }

  /**
   * Runs `command` to its end inside `namespace`, bounded in time.
   *
   * @param namespace One of {@link NetnsTopology.names}.
   * @param command The program and its arguments.
   * @param options Input and time limit.
   * @returns Its stdout.
   * @throws {NetnsCommandError} If it fails or times out.
   */
  run(
    namespace: string,
    command: readonly string[],
    options: RunOptions = {},
  ): Promise<string> {
    return runCommand(this.inside(namespace, command), options);
  }

  /**
   * Sends UDP datagrams from `from` (bound to `fromPort`) to
   * `toHost:toPort` in `to`, where a listener reports the source address of
   * the first one that arrives: through a NAT, the router's public address
   * (and, Linux masquerade keeping free ports, `fromPort`). Both sides are
   * small `deno eval` scripts, bounded in time.
   *
   * @param route Sender and listener namespaces, the listener's address and
   *   both ports.
   * @returns The source address the listener saw, and whether its answer
   *   came back to the sender.
   * @throws {NetnsCommandError} If nothing arrived within 15 s.
   */
  async udpSourceSeen(route: {
    from: string;
    fromPort: number;
    to: string;
    toHost: string;
    toPort: number;
  }): Promise<{ host: string; port: number; answered: boolean }> {
    // The listener answers the first datagram; the sender stops at that
    // answer, which also proves replies come back through the NAT.
    const listener = `
      const socket = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: ${route.toPort} });
      const [, from] = await socket.receive();
      await socket.send(new TextEncoder().encode("ack"), from);
      console.log(JSON.stringify({ host: from.hostname, port: from.port }));
      socket.close();`;
    // Up to 150 datagrams 100 ms apart: the listener may start seconds
    // after the sender on a loaded machine.
    const sender = `
      const socket = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: ${route.fromPort} });
      const to = { transport: "udp", hostname: "${route.toHost}", port: ${route.toPort} };
      let answered = false;
      socket.receive().then(() => answered = true, () => {});
      for (let i = 0; i < 150 && !answered; i++) {
        await socket.send(new TextEncoder().encode("probe " + i), to);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      console.log(answered ? "answered" : "unanswered");
      socket.close();`;
    const deno = [Deno.execPath(), "eval", "--no-config", "--unstable-net"];
    const [seen, answer] = await Promise.all([
      this.run(route.to, [...deno, listener], { timeoutMs: 20_000 }),
      this.run(route.from, [...deno, sender], { timeoutMs: 20_000 }),
    ]);
    return { ...JSON.parse(seen), answered: answer.trim() === "answered" };
  }

  /**
   * Sends one UDP datagram from `from` (bound to `fromPort`) to
   * `toHost:toPort` and returns (a `deno eval` script, bounded in time).
   * Sent to a router's public address, it leaves a conntrack entry there
   * for 30 s (Linux's timeout for an unanswered UDP flow).
   *
   * @param route Sender namespace and port, destination.
   * @throws {NetnsCommandError} If the script fails.
   */
  async sendUdp(route: {
    from: string;
    fromPort: number;
    toHost: string;
    toPort: number;
  }): Promise<void> {
    const script = `
      const socket = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: ${route.fromPort} });
      await socket.send(new TextEncoder().encode("first"), { transport: "udp", hostname: "${route.toHost}", port: ${route.toPort} });
      socket.close();`;
    await this.run(route.from, [
      Deno.execPath(),
      "eval",
      "--no-config",
      "--unstable-net",
      script,
    ]);
  }

  /**
   * A UDP hole punch between dev-a and dev-b, outside our code: each side
   * binds `port` and sends probes every 200 ms to the other's router at
   * `port` (up to 25) until it hears one; dev-b starts `skewMs` after
   * dev-a, as a rendezvous through the DHT would have it. With
   * `openingTtl`, each side first sends 3 datagrams with that TTL (enough
   * to pass its own NAT, which records the mapping, and to die before the
   * other's) and dev-a sends its first full probe only once dev-b has
   * opened too. `deno eval` scripts on `node:dgram` (for `setTTL`).
   *
   * @param punch The port, dev-b's delay, and the opening TTL if any.
   * @returns The addresses each side heard from.
   * @throws {NetnsCommandError} If a script fails or runs past 30 s.
   */
  async punch(punch: {
    port: number;
    skewMs: number;
    openingTtl?: number;
  }): Promise<{ heardByA: string[]; heardByB: string[] }> {
    const script = (to: string, startMs: number, probeAfterMs: number) => `
      import dgram from "node:dgram";
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      const started = performance.now();
      await sleep(${startMs});
      const socket = dgram.createSocket("udp4");
      await new Promise((resolve) => socket.bind(${punch.port}, resolve));
      const heard = new Set();
      socket.on("message", (_bytes, from) => heard.add(from.address + ":" + from.port));
      const send = (text) => new Promise((resolve) => socket.send(text, ${punch.port}, "${to}", resolve));
      if (${punch.openingTtl ?? 0} > 0) {
        socket.setTTL(${punch.openingTtl ?? 64});
        for (let i = 0; i < 3; i++) await send("open");
        socket.setTTL(64);
      }
      await sleep(Math.max(0, ${probeAfterMs} - (performance.now() - started)));
      for (let i = 0; i < 25 && heard.size === 0; i++) {
        await send("probe");
        await sleep(200);
      }
      // A few more, so that the other side hears us too once we heard it.
      for (let i = 0; i < 3; i++) {
        await send("probe");
        await sleep(100);
      }
      console.log(JSON.stringify([...heard]));
      socket.close();`;
    const deno = [Deno.execPath(), "eval", "--no-config"];
    // dev-a's first full probe waits for dev-b's opening when there is one.
    const probeAfterMs = punch.openingTtl === undefined
      ? 0
      : punch.skewMs + 500;
    const [heardByA, heardByB] = await Promise.all([
      this.run(this.names.devA, [
        ...deno,
        script(this.addresses.natB, 0, probeAfterMs),
      ], { timeoutMs: 30_000 }),
      this.run(this.names.devB, [
        ...deno,
        script(this.addresses.natA, punch.skewMs, 0),
      ], { timeoutMs: 30_000 }),
    ]);
    return { heardByA: JSON.parse(heardByA), heardByB: JSON.parse(heardByB) };
  }

  /**
   * Kills every process left in the namespaces and deletes them (those that
   * exist; idempotent).
   *
   * @throws {AggregateError} Of the deletions that failed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const existing = new Set(await listNamespaces());
    const errors: unknown[] = [];
    for (const role of [...ROLES].reverse()) {
      const name = this.names[role];
      if (!existing.has(name)) continue;
      await deleteNamespace(name).catch((error) => errors.push(error));
    }
    if (errors.length > 0) {
      throw new AggregateError(errors, "Cannot delete every namespace");
    }
  }
}
