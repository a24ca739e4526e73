/**
 * Simulated TCP streams over a {@link SimulatedNetwork}: the direct
 * channels of the simulated daemons run over these with the same code
 * (handshake, frames, SIP, PIDF) as over real TCP.
 *
 * The model: connecting takes one round trip (the server sees the stream
 * after one way); bytes arrive in order, one way later, as TCP delivers
 * them once loss is repaired (loss and bandwidth are not modelled); a
 * clean close reaches the other end one way later. A host that crashes or
 * goes offline ({@link SimulatedStreamNetwork.hostDown}) drops its streams
 * silently, as a pulled cable does: the peer learns of it only from its own
 * keepalive. Bytes sent to a host whose stream is gone (it restarted) draw a
 * reset. Connecting to an offline host fails after `connectTimeoutMs`, to
 * an online host without listener after a round trip, to a host behind a
 * NAT (`SimulatedNetwork.putBehindNat`) after `connectTimeoutMs`, as its
 * NAT drops the SYN; a NATed host's own connects go through.
 *
 * @example Two hosts exchange bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../lib/testing/manual_clock.ts";
 * import { seededRng } from "../lib/rng.ts";
 * import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";
 * import { SimulatedStreamNetwork } from "./stream_network.ts";
 *
 * const clock = new ManualClock(0);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const [a, b] = [network.attach(), network.attach()];
 * const streams = new SimulatedStreamNetwork(network, clock);
 * const received: number[] = [];
 * const listener = await streams.host(b.hostIndex).listen(0, (stream) => {
 *   stream.onData((bytes) => received.push(...bytes));
 * });
 * const opening = streams.host(a.hostIndex).connect(listener.localAddress);
 * clock.runUntilIdle();
 * (await opening).write(new Uint8Array([1, 2]));
 * clock.runUntilIdle();
 * assert.deepEqual(received, [1, 2]);
 * ```
 *
 * @module
 */
import type {
  ByteStream,
  StreamCloseReason,
  StreamListener,
  StreamNetwork,
} from "../lib/channel/byte_stream.ts";
import type { ManualClock } from "../lib/testing/manual_clock.ts";
import { formatAddress, type PeerAddress } from "../lib/transport.ts";
import type { SimulatedNetwork } from "../lib/testing/simulated_network.ts";
import { SlabCopier } from "../lib/io/_slab_copier.ts";

/** Why a simulated connect failed. */
export class StreamConnectError extends Error {
  /** "refused" (no listener) or "timeout" (host offline). */
  readonly reason: "refused" | "timeout";

  /**
   * A failed connect.
   *
   * @param to The address that was dialled.
   * @param reason `"refused"` (nobody listens there) or `"timeout"` (the host is down).
   */
  constructor(to: PeerAddress, reason: "refused" | "timeout") {
    super(`Cannot connect to ${formatAddress(to)}: ${reason}`);
    this.name = "StreamConnectError";
    this.reason = reason;
  }
}

/** Options of {@link SimulatedStreamNetwork}. */
export interface SimulatedStreamNetworkOptions {
  /** A connect to an offline host fails after this long. @default {3000} */
  readonly connectTimeoutMs?: number;
  /** Bytes added per write for TCP/IP headers in the counters. @default {52} */
  readonly headerBytes?: number;
}

const FIRST_PORT = 5_000;

/** One end of a simulated stream. */
class StreamEnd implements ByteStream {
  readonly remote: PeerAddress;
  readonly host: number;
  peer!: StreamEnd;
  /** When the last byte sent from this end arrives (keeps order). */
  lastArrivalMs = 0;
  open = true;
  #data: ((bytes: Uint8Array) => void) | undefined;
  #close: ((reason: StreamCloseReason) => void) | undefined;
  readonly #net: SimulatedStreamNetwork;

  constructor(net: SimulatedStreamNetwork, host: number, remote: PeerAddress) {
    this.#net = net;
    this.host = host;
    this.remote = remote;
  }

  write(bytes: Uint8Array): void {
    if (!this.open || bytes.length === 0) return;
    this.#net.transmit(this, this.#net.copies.copy(bytes, 0, bytes.length));
  }

  onData(handler: (bytes: Uint8Array) => void): void {
    this.#data = handler;
  }

  onClose(handler: (reason: StreamCloseReason) => void): void {
    this.#close = handler;
  }

  close(): void {
    if (!this.open) return;
    this.finish("local");
    this.#net.sendFin(this);
  }

  deliver(bytes: Uint8Array): void {
    if (this.open) this.#data?.(bytes);
  }

  finish(reason: StreamCloseReason): void {
    if (!this.open) return;
    this.open = false;
    this.#net.forget(this);
    this.#close?.(reason);
  }

  /** Gone without a word (its host crashed). */
  vanish(): void {
    this.open = false;
  }
}

/** Simulated streams between the hosts of one {@link SimulatedNetwork}. */
export class SimulatedStreamNetwork {
  readonly #network: SimulatedNetwork;
  readonly #clock: ManualClock;
  readonly #connectTimeoutMs: number;
  readonly #headerBytes: number;
  readonly #listeners = new Map<string, (stream: ByteStream) => void>();
  readonly #nextPort = new Map<number, number>();
  readonly #ends = new Map<number, Set<StreamEnd>>();
  readonly #bytes = new Map<number, number>();
  readonly #hostsByName = new Map<string, number>();
  #scannedHosts = 0;
  /**
   * Where the bytes each end writes are copied (the writer may reuse its
   * buffer): shared slabs, since a typed array per write cost a microsecond.
   */
  readonly copies: SlabCopier = new SlabCopier();

  /**
   * Streams between the hosts of `network`.
   *
   * @param network The datagram network (hosts, addresses, latency).
   * @param clock Its clock.
   * @param options Timeouts and header size.
   */
  constructor(
    network: SimulatedNetwork,
    clock: ManualClock,
    options: SimulatedStreamNetworkOptions = {},
  ) {
    this.#network = network;
    this.#clock = clock;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 3_000;
    this.#headerBytes = options.headerBytes ?? 52;
  }

  /**
   * The stream network as seen from one host.
   *
   * @param hostIndex The host's index in the datagram network.
   * @returns Its {@link StreamNetwork}.
   */
  host(hostIndex: number): StreamNetwork {
    return {
      connect: (to) => this.#connect(hostIndex, to),
      listen: (port, handler) => {
        try {
          return Promise.resolve(this.#listen(hostIndex, port, handler));
        } catch (error) {
          return Promise.reject(error);
        }
      },
    };
  }

  /**
   * The host crashed or lost its link: its streams stop without a word.
   *
   * @param hostIndex The host's index in the datagram network.
   */
  hostDown(hostIndex: number): void {
    for (const end of this.#ends.get(hostIndex) ?? []) end.vanish();
    this.#ends.delete(hostIndex);
  }

  /**
   * Stream bytes sent and received by a host (headers included).
   *
   * @param hostIndex The host's index in the datagram network.
   * @returns Bytes.
   */
  bytes(hostIndex: number): number {
    return this.#bytes.get(hostIndex) ?? 0;
  }

  /** @internal Sends bytes from `end` to its peer. */
  transmit(end: StreamEnd, bytes: Uint8Array): void {
    const peer = end.peer;
    this.#count(end.host, bytes.length);
    if (!this.#network.isHostOnline(end.host)) return;
    const arrival = this.#arrival(end);
    end.lastArrivalMs = arrival;
    this.#clock.setTimer(arrival - this.#clock.now(), () => {
      if (!this.#network.isHostOnline(peer.host)) return;
      this.#count(peer.host, bytes.length);
      if (peer.open) peer.deliver(bytes);
      else if (end.open) this.#reset(end);
    });
  }

  /** @internal A clean close travels to the peer. */
  sendFin(end: StreamEnd): void {
    const peer = end.peer;
    this.#count(end.host, 0);
    if (!this.#network.isHostOnline(end.host)) return;
    const arrival = this.#arrival(end);
    this.#clock.setTimer(arrival - this.#clock.now(), () => {
      if (this.#network.isHostOnline(peer.host)) peer.finish("remote");
    });
  }

  /** @internal */
  forget(end: StreamEnd): void {
    this.#ends.get(end.host)?.delete(end);
  }

  /** When bytes sent now from `end` arrive: one way later, never before earlier ones. */
  #arrival(end: StreamEnd): number {
    return Math.max(
      this.#clock.now() + this.#network.latencyMs(end.host, end.peer.host),
      end.lastArrivalMs,
    );
  }

  #reset(end: StreamEnd): void {
    // The peer's host restarted and knows nothing of this stream.
    this.#clock.setTimer(
      this.#network.latencyMs(end.peer.host, end.host),
      () => {
        end.finish("error");
      },
    );
  }

  #count(host: number, payload: number): void {
    this.#bytes.set(
      host,
      (this.#bytes.get(host) ?? 0) + payload + this.#headerBytes,
    );
  }

  #listen(
    hostIndex: number,
    port: number,
    handler: (stream: ByteStream) => void,
  ): StreamListener {
    const host = this.#network.addressOf(hostIndex).host;
    let bound = port;
    if (bound === 0) {
      bound = this.#nextPort.get(hostIndex) ?? FIRST_PORT;
      while (this.#listeners.has(`${host}:${bound}`)) bound++;
      this.#nextPort.set(hostIndex, bound + 1);
    }
    const key = `${host}:${bound}`;
    if (this.#listeners.has(key)) {
      throw new Error(`Cannot listen on ${key}: address in use`);
    }
    this.#listeners.set(key, handler);
    return {
      localAddress: { host, port: bound },
      close: () => {
        if (this.#listeners.get(key) === handler) this.#listeners.delete(key);
        return Promise.resolve();
      },
    };
  }

  #connect(hostIndex: number, to: PeerAddress): Promise<ByteStream> {
    const target = this.#hostNamed(to.host);
    return new Promise((resolve, reject) => {
      const fail = (reason: "refused" | "timeout", afterMs: number) => {
        this.#clock.setTimer(
          afterMs,
          () => reject(new StreamConnectError(to, reason)),
        );
      };
      // A NAT drops an unsolicited SYN: the dialler times out.
      if (
        target === undefined || !this.#network.isHostOnline(target) ||
        this.#network.natOf(target) !== undefined
      ) {
        fail("timeout", this.#connectTimeoutMs);
        return;
      }
      const oneWay = this.#network.latencyMs(hostIndex, target);
      const back = this.#network.latencyMs(target, hostIndex);
      this.#count(hostIndex, 0);
      this.#clock.setTimer(oneWay, () => {
        const handler = this.#listeners.get(formatAddress(to));
        if (!this.#network.isHostOnline(target)) {
          fail("timeout", this.#connectTimeoutMs - oneWay);
          return;
        }
        if (handler === undefined) {
          fail("refused", back);
          return;
        }
        const local = this.#network.addressOf(hostIndex);
        const client = new StreamEnd(this, hostIndex, to);
        const server = new StreamEnd(this, target, {
          host: local.host,
          port: 40_000 + hostIndex % 20_000,
        });
        client.peer = server;
        server.peer = client;
        this.#track(server);
        this.#count(target, 0);
        handler(server);
        this.#clock.setTimer(back, () => {
          if (!this.#network.isHostOnline(hostIndex)) return;
          this.#track(client);
          resolve(client);
        });
      });
    });
  }

  #hostNamed(name: string): number | undefined {
    while (this.#scannedHosts < this.#network.hostCount) {
      const index = this.#scannedHosts++;
      this.#hostsByName.set(this.#network.addressOf(index).host, index);
    }
    return this.#hostsByName.get(name);
  }

  #track(end: StreamEnd): void {
    let set = this.#ends.get(end.host);
    if (set === undefined) this.#ends.set(end.host, set = new Set());
    set.add(end);
  }
}
