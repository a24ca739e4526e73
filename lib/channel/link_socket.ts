/**
 * The daemon's DHT socket, shared with links through NATs: the DHT node,
 * hole punches ({@link HolePunch}) and streams over punched paths
 * ({@link DatagramStreams}) all send from it, so that every punch and link
 * leaves through the NAT mapping DHT peers observed ({@link PunchDemux}
 * splits what arrives).
 *
 * Each account gets its own view ({@link LinkSocket.paths}): it starts
 * punches (at most {@link LinkSocketOptions.maxPunches} at once over the
 * whole socket) and says which addresses it expects links from (the
 * candidates and the punched address of its own punches, added by
 * {@link PunchedPaths.punch} itself). An incoming
 * stream goes to the account that expects its source address and, there,
 * into the `ConnectionManager`'s handshake slots; a stream from any other
 * address is closed before a byte is read, so the socket accepts nothing
 * from a host no account punched towards. A contact reached through a relay
 * ({@link PunchedPaths.relay}) gets a virtual address (the relay's host
 * tagged with our channel there): segments to it leave wrapped for the
 * channel to the relay, and the relay's DATA on the channel arrive from it.
 *
 * @example Two daemons' sockets punch, then open a stream
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 * import { SimulatedNetwork } from "../testing/simulated_network.ts";
 * import { LinkSocket } from "./link_socket.ts";
 *
 * const clock = new ManualClock(0);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const randomBytes = rngBytes(seededRng(2));
 * const [a, b] = [network.attach(), network.attach()];
 * const local = { candidates: () => [], behindNat: () => false as boolean | undefined };
 * const pathsA = new LinkSocket({ socket: a, clock, randomBytes }).paths(local);
 * const pathsB = new LinkSocket({ socket: b, clock, randomBytes }).paths(local);
 * const token = new Uint8Array(16).fill(3);
 * const results: string[] = [];
 * pathsA.punch({ token, candidates: [b.localAddress] }, (r) => results.push(r.kind));
 * pathsB.punch({ token, candidates: [a.localAddress] }, (r) => results.push(r.kind));
 * clock.runUntilIdle();
 * assert.deepEqual(results, ["punched", "punched"]);
 * const accepted: string[] = [];
 * await pathsB.streams.listen(0, (s) => accepted.push(s.remote.host));
 * const connecting = pathsA.streams.connect(b.localAddress);
 * clock.advance(1_000);
 * const stream = await connecting;
 * stream.write(new Uint8Array([1]));
 * clock.advance(1_000);
 * assert.deepEqual(accepted, [a.localAddress.host]);
 * ```
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";
import type { RandomBytes } from "../rng.ts";
import {
  formatAddress,
  type PeerAddress,
  type Transport,
} from "../transport.ts";
import type {
  ByteStream,
  StreamListener,
  StreamNetwork,
} from "./byte_stream.ts";
import { DatagramStreams } from "./datagram_streams.ts";
import {
  HolePunch,
  type HolePunchOptions,
  type HolePunchResult,
} from "./hole_punch.ts";
import { PunchDemux } from "./punch_demux.ts";
import {
  RelayCookies,
  RelayJoin,
  type RelayJoinOptions,
} from "./relay_join.ts";
import { decodeRelayData, encodeRelayData } from "./_relay_wire.ts";
import { isStreamDatagram } from "./_datagram_stream_wire.ts";
import type { LinkNat } from "./punch_outlook.ts";

/** What a {@link LinkSocket} runs on. */
export interface LinkSocketComponents {
  /** The DHT's UDP socket (taken over: give the DHT node {@link LinkSocket.dht}). */
  readonly socket: Transport;
  /** The clock of punches and stream timers. */
  readonly clock: Clock;
  /** Cryptographic randomness for stream ids. */
  readonly randomBytes: RandomBytes;
}

/** Settings of a {@link LinkSocket}. */
export interface LinkSocketOptions {
  /**
   * Punches running at once over all accounts; more are refused. A device
   * coming online punches to each NATed contact device at once (up to two
   * tokens each), so this bounds the probes a burst sends: 64 punches of 2
   * candidates are 640 probes of 21 bytes a second. @default {64}
   */
  readonly maxPunches?: number;
  /** Expected source addresses kept per account (oldest forgotten first). @default {64} */
  readonly maxExpected?: number;
  /**
   * A punch that succeeded still answers the peer's probes this long (its
   * slot stays taken), so that the peer's punch ends too. @default {5_000}
   */
  readonly lingerMs?: number;
}

/** What an account knows of its own addresses, for its candidates. */
export interface LocalAddresses {
  /** Our addresses for a contact to punch to (observed IP + port, bound address). */
  candidates(): PeerAddress[];
  /**
   * Whether our DHT node is behind a NAT (its observed public IP is not
   * one of ours), or `undefined` while it does not know its public IP yet.
   */
  behindNat(): boolean | undefined;
  /**
   * What we know of our NAT, for the contact to judge whether a punch can
   * work (`punchOutlook`); without it, `"public"` when not behind a NAT,
   * else `"unknown"`.
   */
  nat?(): LinkNat;
  /**
   * The relay the user configured (`RelayServer`), offered to contacts in
   * our sets for when our NATs cannot punch; `undefined` for none.
   */
  configuredRelay?(): PeerAddress | undefined;
}

/** One account's use of the shared socket. */
export interface PunchedPaths extends LocalAddresses {
  /** Streams over punched paths: `connect` to a punched address, `listen` for expected ones. */
  readonly streams: StreamNetwork;
  /**
   * Starts a punch from the shared socket.
   *
   * @param options Token and the peer's candidates.
   * @param onResult Told once how it ended.
   * @returns False if too many punches run (nothing started).
   */
  punch(
    options: HolePunchOptions,
    onResult: (result: HolePunchResult) => void,
  ): boolean;
  /**
   * Joins a relay from the shared socket ({@link RelayJoin}); counts as a
   * punch towards {@link LinkSocketOptions.maxPunches}, and ends as one:
   * "punched" at the relay's address once it paired us with the contact.
   *
   * @param options Token and the relay's address.
   * @param onResult Told once how it ended.
   * @returns False if too many punches run (nothing started).
   */
  relay?(
    options: RelayJoinOptions,
    onResult: (result: HolePunchResult) => void,
  ): boolean;
  /**
   * Accepts streams from this address for this account from now on.
   *
   * @param address A contact's candidate or punched address.
   */
  expect(address: PeerAddress): void;
  /** Stops accepting for this account and stops its punches. */
  close(): void;
}

/** Counters of a {@link LinkSocket}. */
export interface LinkSocketCounters {
  /** Punches started. */
  punchesStarted: number;
  /** Punches refused (too many running). */
  punchesRefused: number;
  /** Streams closed at once: from an address no account expects. */
  streamsRefused: number;
}

/** What a view runs: punches and relay joins alike. */
type Attempt = HolePunch | RelayJoin;

interface View {
  readonly expected: Set<string>;
  readonly punches: Set<Attempt>;
  handler?: (stream: ByteStream) => void;
}

/** The shared socket; see the module documentation. */
export class LinkSocket {
  /** The transport to give the DHT node: the socket minus punch and stream datagrams. */
  readonly dht: Transport;
  /** Running totals, for tests and the simulator. */
  readonly counters: LinkSocketCounters = {
    punchesStarted: 0,
    punchesRefused: 0,
    streamsRefused: 0,
  };
  readonly #clock: Clock;
  readonly #socket: Transport;
  readonly #components: LinkSocketComponents;
  #streams: DatagramStreams;
  readonly #views = new Set<View>();
  readonly #maxPunches: number;
  readonly #maxExpected: number;
  readonly #lingerMs: number;
  #punchCount = 0;
  /** Timers ending the lingering of punches that succeeded. */
  readonly #lingering = new Set<Timer>();
  /** The relays' cookies for this socket, shared by its joins. */
  readonly #relayCookies = new RelayCookies();
  /** Virtual address key → the relay and channel behind it. */
  readonly #virtual = new Map<
    string,
    { relay: PeerAddress; channel: number; address: PeerAddress }
  >();
  /** Relay address key and channel → the virtual address. */
  readonly #byChannel = new Map<string, PeerAddress>();

  /**
   * Takes over the socket's receive handler.
   *
   * @param components Socket, clock, randomness.
   * @param options Bounds.
   */
  constructor(
    components: LinkSocketComponents,
    options: LinkSocketOptions = {},
  ) {
    this.#clock = components.clock;
    this.#socket = components.socket;
    this.#maxPunches = options.maxPunches ?? 64;
    this.#maxExpected = options.maxExpected ?? 64;
    this.#lingerMs = options.lingerMs ?? 5_000;
    const demux = new PunchDemux(components.socket);
    this.dht = demux.dht;
    this.#components = components;
    this.#streams = this.#newStreams();
    demux.onPunch((bytes, from) => this.#onPunchDatagram(bytes, from));
    demux.onStream((bytes, from) => this.#streams.handle(bytes, from));
  }

  /**
   * The virtual address of a contact reached through a relay on a channel:
   * the relay's host tagged with the channel, its port. Segments to it are
   * wrapped for the channel and sent to the relay; the relay's DATA on that
   * channel arrive from it. At most `maxExpected` kept, oldest forgotten.
   */
  #relayed(relay: PeerAddress, channel: number): PeerAddress {
    const address = { host: `${relay.host}#${channel}`, port: relay.port };
    const key = formatAddress(address);
    this.#virtual.delete(key);
    this.#virtual.set(key, { relay, channel, address });
    this.#byChannel.set(`${formatAddress(relay)}/${channel}`, address);
    if (this.#virtual.size > this.#maxExpected) {
      const [oldKey, old] = this.#virtual.entries().next().value!;
      this.#virtual.delete(oldKey);
      this.#byChannel.delete(`${formatAddress(old.relay)}/${old.channel}`);
    }
    return address;
  }

  /** Stream segments leave here: wrapped for a relay, or as they are. */
  #sendSegment(to: PeerAddress, bytes: Uint8Array): void {
    const relayed = this.#virtual.get(formatAddress(to));
    if (relayed === undefined) this.#socket.send(to, bytes);
    else {
      this.#socket.send(relayed.relay, encodeRelayData(relayed.channel, bytes));
    }
  }

  #newStreams(): DatagramStreams {
    const socket = this.#components.socket;
    const streams = new DatagramStreams({
      socket: {
        get localAddress() {
          return socket.localAddress;
        },
        send: (to, bytes) => this.#sendSegment(to, bytes),
      },
      clock: this.#components.clock,
      randomBytes: this.#components.randomBytes,
    });
    void streams.listen(0, (stream) => this.#route(stream));
    return streams;
  }

  /**
   * A view for one account.
   *
   * @param local Where the account's candidates come from.
   * @returns Its paths.
   */
  paths(local: LocalAddresses): PunchedPaths {
    const view: View = { expected: new Set(), punches: new Set() };
    this.#views.add(view);
    const streams: StreamNetwork = {
      connect: (to) => this.#streams.connect(to),
      listen: (_port, handler): Promise<StreamListener> => {
        view.handler = handler;
        return Promise.resolve({
          localAddress: this.#socket.localAddress,
          close: () => {
            if (view.handler === handler) view.handler = undefined;
            return Promise.resolve();
          },
        });
      },
    };
    return {
      streams,
      candidates: () => local.candidates(),
      behindNat: () => local.behindNat(),
      nat: () =>
        local.nat?.() ?? (local.behindNat() === false ? "public" : "unknown"),
      configuredRelay: () => local.configuredRelay?.(),
      punch: (options, onResult) =>
        this.#start(
          view,
          () => new HolePunch(this.#attemptComponents, options),
          options.candidates,
          onResult,
        ),
      relay: (options, onResult) => {
        const join = new RelayJoin(this.#attemptComponents, options);
        return this.#start(view, () => join, [], (result) => {
          if (result.kind !== "punched" || join.channel === undefined) {
            onResult(result);
            return;
          }
          const address = this.#relayed(options.relay, join.channel);
          this.#expect(view, address);
          onResult({ ...result, address });
        });
      },
      expect: (address) => this.#expect(view, address),
      close: () => {
        for (const punch of view.punches) punch.stop();
        this.#punchCount -= view.punches.size;
        view.punches.clear();
        view.handler = undefined;
        this.#views.delete(view);
      },
    };
  }

  /**
   * Stops every punch and accepts nothing more, without a word to anyone:
   * a killed process sends no FIN over UDP (the simulator's crash).
   */
  crash(): void {
    this.#stopPunches();
  }

  /**
   * Closes every stream (a FIN each) and stops every punch (the daemon
   * stops); the accounts' views stay, and new streams can be made after it
   * (a daemon started again).
   */
  close(): void {
    this.#stopPunches();
    this.#streams.close();
    this.#streams = this.#newStreams();
  }

  #stopPunches(): void {
    for (const timer of this.#lingering) timer.cancel();
    this.#lingering.clear();
    for (const view of this.#views) {
      for (const punch of view.punches) punch.stop();
      view.punches.clear();
      view.handler = undefined;
    }
    this.#punchCount = 0;
  }

  get #attemptComponents(): {
    transport: Transport;
    clock: Clock;
    cookies: RelayCookies;
  } {
    return {
      transport: this.#socket,
      clock: this.#clock,
      cookies: this.#relayCookies,
    };
  }

  #start(
    view: View,
    make: () => Attempt,
    expected: readonly PeerAddress[],
    onResult: (result: HolePunchResult) => void,
  ): boolean {
    if (!this.#views.has(view) || this.#punchCount >= this.#maxPunches) {
      this.counters.punchesRefused += 1;
      return false;
    }
    const punch = make();
    view.punches.add(punch);
    this.#punchCount += 1;
    this.counters.punchesStarted += 1;
    // The peer may open its stream before our own punch saw its ack.
    for (const candidate of expected) this.#expect(view, candidate);
    punch.onResult((result) => {
      if (result.kind === "punched") {
        this.#expect(view, result.address);
        // The peer's punch may not have seen our ack yet: keep answering
        // its probes for as long as it may probe.
        const linger = this.#clock.setTimer(this.#lingerMs, () => {
          this.#lingering.delete(linger);
          if (view.punches.delete(punch)) this.#punchCount -= 1;
        });
        this.#lingering.add(linger);
      } else if (view.punches.delete(punch)) {
        this.#punchCount -= 1;
      }
      onResult(result);
    });
    punch.start();
    return true;
  }

  #expect(view: View, address: PeerAddress): void {
    const key = formatAddress(address);
    view.expected.delete(key);
    view.expected.add(key);
    if (view.expected.size > this.#maxExpected) {
      const oldest = view.expected.values().next().value;
      if (oldest !== undefined) view.expected.delete(oldest);
    }
  }

  #onPunchDatagram(bytes: Uint8Array, from: PeerAddress): void {
    const data = decodeRelayData(bytes);
    if (data !== undefined) {
      // A contact's segment through a relay, on one of our channels there.
      const address = this.#byChannel.get(
        `${formatAddress(from)}/${data.channel}`,
      );
      if (address !== undefined && isStreamDatagram(data.payload)) {
        this.#streams.handle(data.payload, address);
      }
      return;
    }
    // At most `maxPunches` token comparisons per datagram.
    for (const view of this.#views) {
      for (const punch of view.punches) {
        if (punch.handle(bytes, from)) return;
      }
    }
  }

  #route(stream: ByteStream): void {
    const key = formatAddress(stream.remote);
    for (const view of this.#views) {
      if (view.handler !== undefined && view.expected.has(key)) {
        view.handler(stream);
        return;
      }
    }
    this.counters.streamsRefused += 1;
    stream.close();
  }
}
