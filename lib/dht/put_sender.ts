/**
 * `PutSender`: sends `put` requests to nodes that gave us a write token and
 * counts their acknowledgements. One-shot puts, permanent puts and storage
 * replication all store values this way; it keeps the routing table told of
 * who answered (heard) and who did not (failed), as every request the node
 * sends does.
 *
 * @example A put to a node without a token is refused at once
 * ```ts
 * import assert from "node:assert/strict";
 * import { PutSender } from "./put_sender.ts";
 * import { InfoHash } from "../identity/info_hash.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 *
 * let sent = 0;
 * const sender = new PutSender({
 *   clock: new ManualClock(0),
 *   rpc: { request: () => { sent += 1; return { tid: 0, cancel() {} }; } },
 *   table: { heard: () => ({ kind: "self" }), failed() {} },
 * });
 * const node = { id: InfoHash.get("n"), address: { host: "10.0.0.1", port: 1 } };
 * let acks = -1;
 * sender.putToNodes([node], InfoHash.get("k"), { id: 1n, type: 0, data: new Uint8Array() }, undefined, (stored) => acks = stored);
 * assert.equal(acks, 0);
 * assert.equal(sent, 0);
 * ```
 *
 * @module
 */
import type { InfoHash } from "../identity/info_hash.ts";
import type { Clock } from "../clock.ts";
import type { PeerAddress } from "../transport.ts";
import type { DhtValue } from "./messages.ts";
import type { RpcEngine } from "./rpc_engine.ts";
import type { RoutingTable } from "./routing_table.ts";

/** A node to put at: its id, address and the write token it gave us. */
export interface PutTarget {
  /** The node's id. */
  readonly id: InfoHash;
  /** Where the node answers. */
  readonly address: PeerAddress;
  /** Its write token, from a lookup; without one the node is not asked. */
  readonly token?: Uint8Array;
}

/** What a {@link PutSender} sends through and reports to. */
export interface PutSenderServices {
  /** Reads the time at which nodes were heard or failed. */
  readonly clock: Clock;
  /** Sends the requests. */
  readonly rpc: Pick<RpcEngine, "request">;
  /** Told of nodes that answered and nodes that never did. */
  readonly table: Pick<RoutingTable, "heard" | "failed">;
}

/** Sends `put` requests and reports acknowledgements. */
export class PutSender {
  readonly #services: PutSenderServices;

  /**
   * A sender over the node's RPC engine and routing table.
   *
   * @param services Clock, RPC engine, routing table.
   */
  constructor(services: PutSenderServices) {
    this.#services = services;
  }

  /**
   * Puts `value` at one node. A node without a token is not asked: `onAck`
   * is told `false` at once.
   *
   * @param node Node and its write token.
   * @param key Key.
   * @param value Value.
   * @param createdMs Creation time to send (whole seconds), or none.
   * @param onAck Whether the node stored it, and the error code if it said no.
   */
  send(
    node: PutTarget,
    key: InfoHash,
    value: DhtValue,
    createdMs: number | undefined,
    onAck?: (ok: boolean, code?: number) => void,
  ): void {
    if (node.token === undefined) {
      onAck?.(false);
      return;
    }
    const { clock, rpc, table } = this.#services;
    rpc.request(node.address, node.id, {
      method: "put",
      key,
      values: [value],
      token: node.token,
      ...(createdMs === undefined
        ? {}
        : { createdSeconds: Math.floor(createdMs / 1_000) }),
    }, {
      onReply: (reply, from) => {
        table.heard(reply.senderId, from, clock.now(), true);
        onAck?.(true);
      },
      onError: (error) => onAck?.(false, error.code),
      onExpired: () => {
        table.failed(node.id, clock.now());
        onAck?.(false);
      },
    });
  }

  /**
   * Puts `value` at each of `nodes`, in order.
   *
   * @param nodes Nodes and their write tokens.
   * @param key Key.
   * @param value Value.
   * @param createdMs Creation time to send (whole seconds), or none.
   * @param onDone The number of acknowledgements, once every node answered
   * (at once when `nodes` is empty).
   * @param onNodeAck Each node that acknowledged, as it does.
   */
  putToNodes<N extends PutTarget>(
    nodes: readonly N[],
    key: InfoHash,
    value: DhtValue,
    createdMs: number | undefined,
    onDone?: (stored: number) => void,
    onNodeAck?: (node: N) => void,
  ): void {
    let waiting = nodes.length;
    let stored = 0;
    if (waiting === 0) onDone?.(0);
    for (const node of nodes) {
      this.send(node, key, value, createdMs, (ok) => {
        if (ok) {
          stored += 1;
          onNodeAck?.(node);
        }
        if (--waiting === 0) onDone?.(stored);
      });
    }
  }
}
