/**
 * Shares the DHT's UDP socket with hole punching and the streams that run
 * over a punched path: a punch must leave from the socket whose NAT mapping
 * DHT peers observed, and the link must then use the same mapping, so the
 * socket is split in three. Datagrams starting with the punch magic
 * (`"RNGP"`) or the relay magic (`"RNGR"`, a relay's answers to
 * `RelayJoin`) go to the punch handler, those starting with the stream magic
 * (`"RNGS"`, `DatagramStreams.handle`) to the stream handler, all others to
 * the DHT node, which gets a {@link Transport} of its own. A DHT message is
 * a msgpack map and never starts with `"R"`.
 *
 * @example The DHT and a punch on one socket
 * ```ts
 * import assert from "node:assert/strict";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { seededRng } from "../rng.ts";
 * import { SimulatedNetwork } from "../testing/simulated_network.ts";
 * import { PunchDemux } from "./punch_demux.ts";
 *
 * const clock = new ManualClock(0);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const [a, b] = [network.attach(), network.attach()];
 * const demux = new PunchDemux(b);
 * const log: string[] = [];
 * demux.dht.receive(() => log.push("dht"));
 * demux.onPunch(() => log.push("punch"));
 * demux.onStream(() => log.push("stream"));
 * a.send(b.localAddress, new TextEncoder().encode("RNGP-probe"));
 * a.send(b.localAddress, new Uint8Array([0x81]));
 * a.send(b.localAddress, new TextEncoder().encode("RNGS-segment"));
 * clock.runUntilIdle();
 * assert.deepEqual(log.sort(), ["dht", "punch", "stream"]);
 * ```
 *
 * @module
 */

import type { DatagramHandler, PeerAddress, Transport } from "../transport.ts";
import { isPunchDatagram } from "./hole_punch.ts";
import { isStreamDatagram } from "./_datagram_stream_wire.ts";
import { isRelayDatagram } from "./_relay_wire.ts";

/** One socket, two readers; see the module documentation. */
export class PunchDemux {
  /** The transport to give the DHT node: the socket minus punch datagrams. */
  readonly dht: Transport;
  #dhtHandler: DatagramHandler | undefined;
  #punchHandler: DatagramHandler | undefined;
  #streamHandler: DatagramHandler | undefined;

  /**
   * Takes over the socket's receive handler.
   *
   * @param socket The shared socket.
   */
  constructor(socket: Transport) {
    socket.receive((bytes, from) => {
      if (isPunchDatagram(bytes) || isRelayDatagram(bytes)) {
        this.#punchHandler?.(bytes, from);
      } else if (isStreamDatagram(bytes)) this.#streamHandler?.(bytes, from);
      else this.#dhtHandler?.(bytes, from);
    });
    const receive = (handler: DatagramHandler): void => {
      this.#dhtHandler = handler;
    };
    this.dht = {
      get localAddress(): PeerAddress {
        return socket.localAddress;
      },
      send: (to, bytes) => socket.send(to, bytes),
      receive,
      close: () => socket.close(),
    };
  }

  /**
   * Sets the single handler of punch datagrams, replacing any earlier one.
   *
   * @param handler Usually `HolePunch.handle` of the running punches.
   */
  onPunch(handler: DatagramHandler): void {
    this.#punchHandler = handler;
  }

  /**
   * Sets the single handler of stream datagrams, replacing any earlier one;
   * until one is set they are dropped.
   *
   * @param handler Usually `DatagramStreams.handle` of the socket's streams.
   */
  onStream(handler: DatagramHandler): void {
    this.#streamHandler = handler;
  }
}
