/**
 * A {@link Daemon} on a real device in one call: system clock, system
 * randomness, a UDP socket, TCP streams for direct links and file storage
 * in a locked data directory. Its `stop()` says goodbye, flushes state and
 * then closes the socket and frees the lock, so a script that awaits `stop()`
 * exits by itself.
 *
 * @module
 */
import { networkInterfaces } from "node:os";
import {
  Daemon,
  type DaemonResource,
  type DaemonWarning,
} from "../daemon/daemon.ts";
import { RelayServer } from "../channel/relay_server.ts";
import type { DhtNodeConfig } from "../dht/dht_node.ts";
import type { PresenceProfile } from "../presence/presence_profile.ts";
import type { PeerAddress } from "../transport.ts";
import { DataDirLock } from "./data_dir_lock.ts";
import { FileStorage } from "./file_storage.ts";
import { systemClock } from "./system_clock.ts";
import { systemRandomBytes, systemRng } from "./system_random.ts";
import { TcpStreamNetwork } from "./tcp_stream_network.ts";
import { AddressInUseError, UdpBindError } from "./udp_transport.ts";
import {
  type AnyUdpTransport,
  bindUdpTransport,
} from "./datagram_transport.ts";

/** Options of {@link openUdpDaemon}. */
export interface UdpDaemonOptions {
  /** Directory of the account archives and state; created (mode 0700) and locked. */
  readonly dataDir: string;
  /** Passphrase of the account archives. @default {""} */
  readonly passphrase?: string;
  /**
   * Local address for UDP and TCP: "::" binds IPv4 and IPv6 on one socket
   * each (falling back to "0.0.0.0" without IPv6). @default {"127.0.0.1"}
   */
  readonly host?: string;
  /** UDP port, and TCP port for direct links; 0 picks a free one. @default {0} */
  readonly port?: number;
  /** If `port` is taken, bind a free port instead of failing. @default {false} */
  readonly freePortIfTaken?: boolean;
  /**
   * Read and write the UDP socket in batches (`recvmmsg`/`sendmmsg` through
   * FFI: Linux, `--allow-ffi`), at a fraction of the CPU per datagram; where
   * that cannot run, opening fails with `UdpBindError`. @default {false}
   */
  readonly batchedUdp?: boolean;
  /** DHT nodes to join (resolved addresses). @default {[]} */
  readonly bootstrap?: readonly PeerAddress[];
  /** Direct links to contacts over TCP (status 2); off: presence stops at status 1. @default {true} */
  readonly links?: boolean;
  /**
   * Host contacts dial for direct links, alone or as `host:port` /
   * `[v6]:port` (a forwarded port). @default {the bound host, or for
   * 0.0.0.0 and :: this machine's first non-loopback IPv4 address}
   */
  readonly advertise?: string;
  /** Other DHT node settings (id, network, timing). */
  readonly dht?: Omit<DhtNodeConfig, "bootstrap">;
  /** A relay for links where both NATs are symmetric (see `DaemonOptions.relay`). @default {none} */
  readonly relay?: PeerAddress;
  /**
   * Also serve as a relay (`RelayServer`) on this UDP port of `host`, for
   * contacts' devices behind symmetric NATs; the daemon closes it on stop.
   * @default {not served}
   */
  readonly relayServePort?: number;
  /** Presence and delivery parameters. @default {OUR_PROFILE} */
  readonly profile?: PresenceProfile;
  /** scrypt cost of new archives (log2 N, 10..18). @default {17} */
  readonly scryptLog2N?: number;
  /** Told about files skipped or recovered while opening (see `DaemonOptions.onWarning`). */
  readonly onWarning?: (warning: DaemonWarning) => void;
}

/**
 * Opens a daemon over UDP with its data in `dataDir` (not started). The
 * daemon owns the socket and the directory lock: `stop()` closes them.
 * Nothing is left open when this throws.
 *
 * @param options Data directory, address, bootstrap and settings.
 * @returns The daemon, its address in `daemon.dht.address`.
 * @throws {DataDirLockedError} If another process uses `dataDir`.
 * @throws {UdpBindError} If the socket cannot be bound.
 * @throws {WrongPassphraseError} If an archive does not open with the passphrase.
 *
 * @example Two daemons on loopback meet, then stop
 * ```ts
 * import assert from "node:assert/strict";
 * import { openUdpDaemon } from "./udp_daemon.ts";
 * import { systemClock } from "./system_clock.ts";
 *
 * const root = await Deno.makeTempDir();
 * const alice = await openUdpDaemon({ dataDir: `${root}/a`, scryptLog2N: 10 });
 * const bob = await openUdpDaemon({
 *   dataDir: `${root}/b`,
 *   scryptLog2N: 10,
 *   bootstrap: [alice.dht.address],
 * });
 * alice.start();
 * bob.start();
 * for (let i = 0; i < 100 && alice.dht.routingTable.size === 0; i++) {
 *   await new Promise<void>((resolve) => systemClock.setTimer(20, resolve));
 * }
 * assert.equal(alice.dht.routingTable.size, 1);
 * await Promise.all([alice.stop(), bob.stop()]);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function openUdpDaemon(
  options: UdpDaemonOptions,
): Promise<Daemon> {
  const host = options.host ?? "127.0.0.1";
  const lock = await DataDirLock.acquire(options.dataDir);
  let transport: AnyUdpTransport | undefined;
  let relaySocket: AnyUdpTransport | undefined;
  try {
    // The lock comes first: opening the storage removes temporary files,
    // which must not be another running node's writes in flight.
    const storage = await FileStorage.open(options.dataDir);
    transport = await bindUdp(
      host,
      options.port ?? 0,
      options.freePortIfTaken ?? false,
      options.batchedUdp ?? false,
    );
    // "::" falls back to "0.0.0.0" where IPv6 is off: links bind the same.
    const boundHost = transport.localAddress.host;
    const resources: DaemonResource[] = [transport, lock];
    if (options.relayServePort !== undefined) {
      relaySocket = await bindUdp(
        boundHost,
        options.relayServePort,
        false,
        options.batchedUdp ?? false,
      );
      const server = new RelayServer({
        socket: relaySocket,
        clock: systemClock,
        randomBytes: systemRandomBytes,
      });
      const socket = relaySocket;
      resources.unshift({
        close: () => {
          server.close();
          return socket.close();
        },
      });
    }
    const links = options.links ?? true;
    const daemon = await Daemon.open({
      transport,
      clock: systemClock,
      rng: systemRng(),
      randomBytes: systemRandomBytes,
      storage,
      passphrase: options.passphrase,
      profile: options.profile,
      scryptLog2N: options.scryptLog2N,
      dht: {
        ...options.dht,
        bootstrap: options.bootstrap ?? [],
        localHosts: options.dht?.localHosts ??
          localHosts(boundHost, options.advertise),
      },
      ...(links
        ? {
          streams: new TcpStreamNetwork({ host: boundHost }),
          channelPort: transport.localAddress.port,
          channelHost: options.advertise ?? advertisedHost(boundHost),
        }
        : {}),
      ...(options.relay === undefined ? {} : { relay: options.relay }),
      resources,
      onWarning: options.onWarning,
    });
    transports.set(daemon, transport);
    return daemon;
  } catch (error) {
    await relaySocket?.close();
    await transport?.close();
    await lock.release();
    throw error;
  }
}

/** The UDP socket of each daemon {@link openUdpDaemon} opened. */
const transports = new WeakMap<Daemon, AnyUdpTransport>();

/**
 * The UDP socket of a daemon from {@link openUdpDaemon}, for its kernel
 * figures (`kernelStats()`).
 *
 * @param daemon A daemon.
 * @returns Its socket, or `undefined` for a daemon opened otherwise.
 */
export function udpTransportOf(
  daemon: Daemon,
): AnyUdpTransport | undefined {
  return transports.get(daemon);
}

async function bindUdp(
  host: string,
  port: number,
  freePortIfTaken: boolean,
  batched: boolean,
): Promise<AnyUdpTransport> {
  try {
    return await bindOnce(host, port, batched);
  } catch (error) {
    if (!(error instanceof AddressInUseError) || !freePortIfTaken) throw error;
    return await bindOnce(host, 0, batched);
  }
}

/**
 * Binds `host`; the dual-stack wildcard "::" falls back to "0.0.0.0" on a
 * machine without IPv6 (any failure other than the port being taken).
 */
async function bindOnce(
  host: string,
  port: number,
  batched: boolean,
): Promise<AnyUdpTransport> {
  try {
    return await bindUdpTransport({ host, port, batched });
  } catch (error) {
    if (
      host !== "::" || error instanceof AddressInUseError ||
      (error instanceof UdpBindError && error.code === "EBATCHUNAVAILABLE")
    ) throw error;
    return await bindUdpTransport({ host: "0.0.0.0", port, batched });
  }
}

/**
 * This machine's own addresses, for the DHT node to tell a public host from
 * one behind a NAT (`DhtNodeConfig.localHosts`): for a wildcard bind every
 * interface address, and the advertised host (without a port) if any. A
 * bound host needs nothing more: the node compares with it anyway. Reading
 * the interfaces needs `--allow-sys=networkInterfaces` (without it, only
 * the advertised host).
 *
 * @param bound The bound host.
 * @param advertise `UdpDaemonOptions.advertise`, if set.
 * @returns Hosts (maybe none).
 */
export function localHosts(bound: string, advertise?: string): string[] {
  const hosts: string[] = [];
  if (advertise !== undefined) {
    // "host", "host:port" or "[v6]:port".
    const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(advertise);
    const v4Port = /^([^:]+):\d+$/.exec(advertise);
    hosts.push(bracketed?.[1] ?? v4Port?.[1] ?? advertise);
  }
  if (bound !== "0.0.0.0" && bound !== "::") return hosts;
  let interfaces: ReturnType<typeof networkInterfaces>;
  try {
    interfaces = networkInterfaces();
  } catch {
    // No `--allow-sys=networkInterfaces`: unknown, renewals stay short.
    return hosts;
  }
  for (const addresses of Object.values(interfaces)) {
    for (const address of addresses ?? []) {
      if (!address.internal) hosts.push(address.address);
    }
  }
  return hosts;
}

/**
 * The host contacts dial: the bound one, or for a wildcard bind the first
 * non-internal IPv4 address (loopback when there is none). Reading the
 * interfaces needs `--allow-sys=networkInterfaces`.
 *
 * @param bound The bound host.
 * @returns The host to advertise.
 */
export function advertisedHost(bound: string): string {
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
