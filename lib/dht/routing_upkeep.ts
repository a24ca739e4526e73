/**
 * `RoutingUpkeep`: keeps the routing table full of good nodes, as OpenDHT
 * does. A node that only sent us a request is dubious until it answers one
 * of ours, so it is pinged (or the dubious node it would replace is). At
 * every maintenance round each quiet bucket gets one `find` for a random id
 * in it, sent to the closest node we know, and the newcomers it returns that
 * would fit are pinged (they enter once they answer); and the least recently
 * heard dubious node is pinged again, so dead nodes expire and live ones
 * become good again.
 *
 * @module
 */
import type { InfoHash } from "../identity/info_hash.ts";
import type { Clock } from "../clock.ts";
import type { Rng } from "../rng.ts";
import type { PeerAddress } from "../transport.ts";
import type { RpcEngine } from "./rpc_engine.ts";
import type { RoutingTable } from "./routing_table.ts";
import { TARGET_NODES } from "./search.ts";

/** Quiet buckets refreshed per maintenance round, at most. */
const BUCKETS_PER_ROUND = 8;

/** What {@link RoutingUpkeep} reads, draws from and sends through. */
export interface RoutingUpkeepServices {
  /** Reads the time nodes were heard or failed at. */
  readonly clock: Clock;
  /**
   * Draws the random ids of refreshed buckets, which peers see: `DhtNode`
   * passes a view of its random bytes (`bytesRng`), not its `Rng`.
   */
  readonly rng: Rng;
  /** Sends the pings and `find`s. */
  readonly rpc: Pick<RpcEngine, "request">;
  /** The table kept up. */
  readonly table: Pick<
    RoutingTable,
    | "heard"
    | "failed"
    | "closest"
    | "wouldAccept"
    | "refreshTargets"
    | "dubious"
  >;
  /**
   * A pinged node answered (it is good now). `DhtNode` wakes the operations
   * whose lookup found nobody: the first node of a network, alone until
   * another one joins, has no bootstrap node whose answer would.
   */
  readonly onAnswered?: () => void;
}

/** Pings and bucket refreshes that keep the routing table good. */
export class RoutingUpkeep {
  readonly #services: RoutingUpkeepServices;
  readonly #bucketRefreshMs: number;

  /**
   * Upkeep of the node's table.
   *
   * @param services Clock, rng, RPC engine, routing table.
   * @param bucketRefreshMs A bucket with no answer for this long is refreshed.
   */
  constructor(services: RoutingUpkeepServices, bucketRefreshMs: number) {
    this.#services = services;
    this.#bucketRefreshMs = bucketRefreshMs;
  }

  /**
   * A node sent us a (non-client) request: it enters the table as dubious,
   * and it (or the dubious node it would replace) is pinged so that good
   * nodes fill the table.
   *
   * @param id The sender's id.
   * @param from Where the request came from.
   * @param nowMs When it arrived.
   */
  heardRequest(id: InfoHash, from: PeerAddress, nowMs: number): void {
    const heard = this.#services.table.heard(id, from, nowMs, false);
    if (heard.kind === "added") this.confirm(heard.node.id, from);
    else if (heard.kind === "full" && heard.pingCandidate !== undefined) {
      this.confirm(heard.pingCandidate.id, heard.pingCandidate.address);
    }
  }

  /**
   * Pings a node: it becomes good if it answers, and counts a failure if not.
   *
   * @param id The node's id.
   * @param address Its address.
   */
  confirm(id: InfoHash, address: PeerAddress): void {
    const { clock, rpc, table } = this.#services;
    rpc.request(address, id, { method: "ping" }, {
      onReply: (reply, from) => {
        table.heard(reply.senderId, from, clock.now(), true);
        this.#services.onAnswered?.();
      },
      onExpired: () => table.failed(id, clock.now()),
    });
  }

  /**
   * A maintenance round: refreshes quiet buckets and re-checks the least
   * recently heard dubious node.
   *
   * @param nowMs The time of the round.
   */
  maintain(nowMs: number): void {
    const { rng, table } = this.#services;
    // Bucket refresh as OpenDHT does it: one `find` for a random id of each
    // quiet bucket, sent to the closest node we know; nodes it returns that
    // would fit in our table are pinged (they enter once they answer).
    const targets = table.refreshTargets(nowMs, this.#bucketRefreshMs, rng);
    for (const target of targets.slice(0, BUCKETS_PER_ROUND)) {
      this.#refreshBucket(target);
    }
    // Keep the table honest: at every maintenance round, re-check the least
    // recently heard node (dead ones expire, live ones become good again).
    // Checking only every 5 minutes saved traffic but cost lookup success
    // under churn at 10,000 nodes.
    for (const node of table.dubious(1, nowMs)) {
      this.confirm(node.id, node.address);
    }
  }

  #refreshBucket(target: InfoHash): void {
    const { clock, rpc, table } = this.#services;
    const [via] = table.closest(target, 1, clock.now());
    if (via === undefined) return;
    rpc.request(via.address, via.id, { method: "find", target }, {
      onReply: (reply, from) => {
        const now = clock.now();
        table.heard(reply.senderId, from, now, true);
        // Newcomers that fit are pinged: this is how buckets emptied by churn
        // fill up again. (Capping it at two per refresh saved 10 % of the
        // traffic but cost about a point of lookup success at 10,000 nodes.)
        let pinged = 0;
        for (const node of [...(reply.nodes4 ?? []), ...(reply.nodes6 ?? [])]) {
          if (pinged >= TARGET_NODES) break;
          if (table.wouldAccept(node.id, now)) {
            this.confirm(node.id, node.address);
            pinged += 1;
          }
        }
      },
      onExpired: () => table.failed(via.id, clock.now()),
    });
  }
}
