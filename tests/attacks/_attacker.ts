/**
 * A hostile host on a {@link Testnet}: it speaks the wire protocol by hand
 * (any node id, any socket id), collects tokens, and records every answer
 * and every byte it is sent.
 */
import type { Testnet } from "../../lib/testing/testnet.ts";
import type { DhtNode } from "../../lib/dht/dht_node.ts";
import type { DhtRequest } from "../../lib/dht/messages.ts";
import { decodeMessage } from "../../lib/dht/wire/decode.ts";
import { encodeMessage } from "../../lib/dht/wire/encode.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import type { SimulatedTransport } from "../../lib/testing/simulated_network.ts";

/** A request as the attacker writes it: the helper fills kind, network and tid. */
export type AttackRequest = DhtRequest extends infer R
  ? R extends DhtRequest ? Omit<R, "kind" | "network" | "tid"> : never
  : never;

/** One hostile host. */
export class Attacker {
  readonly transport: SimulatedTransport;
  /** Answer per tid: "ok" or "e<code>". */
  readonly answers = new Map<number, string>();
  /** Tokens by node address text. */
  readonly tokens = new Map<string, Uint8Array>();
  /** Bytes and datagrams received, per sender address text. */
  readonly received = new Map<string, { bytes: number; datagrams: number }>();
  #tid = 1;

  /**
   * @param net The network.
   * @param host The attacker's IP address.
   */
  constructor(net: Testnet, host: string, port = 4222) {
    this.transport = net.network.attach({ host, port });
    this.transport.receive((bytes, from) => {
      const text = `${from.host}:${from.port}`;
      const seen = this.received.get(text) ?? { bytes: 0, datagrams: 0 };
      seen.bytes += bytes.length;
      seen.datagrams += 1;
      this.received.set(text, seen);
      let message;
      try {
        message = decodeMessage(bytes);
      } catch {
        return;
      }
      if (message.kind === "reply") {
        this.answers.set(message.tid, "ok");
        if (message.token !== undefined) this.tokens.set(text, message.token);
      } else if (message.kind === "error") {
        this.answers.set(message.tid, `e${message.code}`);
      }
    });
  }

  /**
   * Sends `request` to `node`.
   *
   * @returns The tid used, and the datagram's size.
   */
  send(node: DhtNode, request: AttackRequest): { tid: number; bytes: number } {
    const tid = this.#tid++;
    const bytes = encodeMessage(
      { ...request, kind: "request", network: 0, tid } as DhtRequest,
    );
    this.transport.send(node.address, bytes);
    return { tid, bytes: bytes.length };
  }

  /** Token `node` gave us (after {@link Attacker.askToken} and some time). */
  tokenOf(node: DhtNode): Uint8Array {
    const token = this.tokens.get(`${node.address.host}:${node.address.port}`);
    if (token === undefined) throw new Error("no token yet");
    return token;
  }

  /** Asks `node` for a token (a find). */
  askToken(node: DhtNode): void {
    this.send(node, {
      method: "find",
      senderId: InfoHash.get(`attacker ${this.transport.localAddress.host}`),
      target: node.id,
    });
  }
}
