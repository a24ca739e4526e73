/**
 * A throwaway daemon on 127.0.0.1: UDP DHT node on a free port, TCP links,
 * state in memory, a cheap archive KDF. For `deno task run --demo` and the
 * loopback tests.
 *
 * @module
 */
import { Daemon } from "../lib/daemon/daemon.ts";
import { MemoryStorage } from "../lib/testing/memory_storage.ts";
import { systemClock } from "../lib/io/system_clock.ts";
import { systemRandomBytes } from "../lib/io/system_random.ts";
import { TcpStreamNetwork } from "../lib/io/tcp_stream_network.ts";
import type { PeerAddress } from "../lib/transport.ts";
import { UdpTransport } from "../lib/io/udp_transport.ts";
import { systemRng } from "../lib/io/system_random.ts";

/** A loopback daemon and its UDP transport (which `daemon.stop()` closes). */
export interface LoopbackDaemon {
  readonly daemon: Daemon;
  readonly transport: UdpTransport;
}

/**
 * Opens a daemon on 127.0.0.1 (not started).
 *
 * @param bootstrap DHT nodes to join (none: the first node of a network).
 * @returns The daemon and its transport.
 */
export async function openLoopbackDaemon(
  bootstrap: PeerAddress[],
): Promise<LoopbackDaemon> {
  const transport = await UdpTransport.bind({ host: "127.0.0.1", port: 0 });
  const daemon = await Daemon.open({
    transport,
    clock: systemClock,
    rng: systemRng(),
    randomBytes: systemRandomBytes,
    storage: new MemoryStorage(),
    scryptLog2N: 10,
    dht: { bootstrap },
    streams: new TcpStreamNetwork({ host: "127.0.0.1" }),
    resources: [transport],
  });
  return { daemon, transport };
}
