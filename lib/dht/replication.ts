/**
 * `Replication`: storage maintenance. Values stored here are copied to the
 * current closest nodes of their keys that lack them (or hold an older
 * sequence number), so they survive their holders leaving.
 *
 * Not every holder does it: only the one that believes it is the closest
 * (the primary) and any that believe they are no longer among the closest
 * (handing over), judged from the routing table, and only values that
 * outlive the next round (short-lived values are kept alive by their
 * publishers); every holder copying every value to every other holder would
 * cost 64 puts per value per round.
 *
 * The lookup is a get that selects ids and sequence numbers, the probe
 * OpenDHT sends before re-announcing a permanent value: an OpenDHT node takes
 * an identical put as a refresh, so a blind re-put would make its copy live
 * a whole lifetime longer (and our nodes would tell their listeners
 * "refreshed").
 *
 * A key whose probe found nothing to copy backs off (doubling up to
 * {@link MAX_REPLICATION_BACKOFF} rounds) while its closest known nodes and
 * its values stay the same: in a quiet network long-lived values (inbox
 * messages, 7 days) otherwise cost one lookup per key every round.
 *
 * @module
 */
import type { InfoHash } from "../identity/info_hash.ts";
import type { Clock } from "../clock.ts";
import { type DhtQuery, type DhtReply, ValueField } from "./messages.ts";
import type { PutSender } from "./put_sender.ts";
import type { RoutingTable } from "./routing_table.ts";
import { TARGET_NODES } from "./search.ts";
import type { Lookups } from "./lookups.ts";
import type { StoredValue, ValueStore } from "./value_store.ts";

/** Most rounds a key with up-to-date replicas waits between probes. */
export const MAX_REPLICATION_BACKOFF = 8;

/** Keys looked at per round, at most. */
const KEYS_PER_ROUND = 256;

/** What a replicating node asks before copying values: ids and sequence numbers held. */
const REPLICATION_PROBE: DhtQuery = {
  select: [ValueField.Id, ValueField.SeqNum],
  where: [],
};

/** The outcome of a key's last probe. */
interface ReplicationState {
  /** Closest known nodes and stored values at the last probe. */
  readonly signature: string;
  /** Wait until the next probe while the signature stays the same. */
  readonly intervalMs: number;
  /** When the key may be probed again if nothing changed. */
  readonly nextMs: number;
}

/** What {@link Replication} reads and sends through. */
export interface ReplicationServices {
  /** Our node id: decides whether we are the primary for a key. */
  readonly selfId: InfoHash;
  /** Reads the time at which a probe ended. */
  readonly clock: Clock;
  /** Our storage: the keys and values to copy. */
  readonly store: Pick<ValueStore, "keys" | "storedValues">;
  /** Our view of each key's closest nodes. */
  readonly table: Pick<RoutingTable, "closest">;
  /** Runs the probes (`get` lookups). */
  readonly lookups: Pick<Lookups, "start">;
  /** Sends the copies. */
  readonly puts: Pick<PutSender, "send">;
}

function replicationSignature(
  known: readonly { readonly id: InfoHash }[],
  stored: readonly StoredValue[],
): string {
  const nodes = known.map((node) => node.id.toString()).join();
  const values = stored.map((entry) =>
    `${entry.value.id}:${entry.value.seq ?? 0}`
  )
    .join();
  return `${nodes}/${values}`;
}

/** Value id → sequence number, from a get answer (fields or whole values). */
function heldIds(reply: DhtReply): Map<bigint, number> {
  const held = new Map<bigint, number>();
  for (const value of reply.values ?? []) held.set(value.id, value.seq ?? 0);
  const fields = reply.fields;
  if (fields === undefined || fields.fields.length === 0) return held;
  const order = [...new Set(fields.fields)].sort((a, b) => a - b);
  const idAt = order.indexOf(ValueField.Id);
  const seqAt = order.indexOf(ValueField.SeqNum);
  if (idAt < 0) return held;
  for (let i = 0; i + order.length <= fields.values.length; i += order.length) {
    const id = fields.values[i + idAt];
    const seq = seqAt < 0 ? 0 : fields.values[i + seqAt];
    if (typeof id === "bigint") {
      held.set(id, typeof seq === "number" ? seq : Number(seq ?? 0));
    }
  }
  return held;
}

/** Copies stored values to the closest nodes that lack them, every period. */
export class Replication {
  readonly #services: ReplicationServices;
  readonly #periodMs: number;
  /**
   * Key hex → outcome of its last probe, for keys we replicate. Made on
   * first use: most nodes of a large simulation never replicate a key, and
   * an empty Map costs ~150 bytes.
   */
  #state: Map<string, ReplicationState> | undefined;
  #lastMs = -Infinity;

  /**
   * Replication over the node's storage, table and lookups.
   *
   * @param services Storage, routing table, lookups, puts, clock, our id.
   * @param periodMs Rounds are at least this far apart.
   */
  constructor(services: ReplicationServices, periodMs: number) {
    this.#services = services;
    this.#periodMs = periodMs;
  }

  /**
   * Called at every maintenance round: runs a replication round if the last
   * one is at least a period old.
   *
   * @param nowMs The time of the maintenance round.
   */
  maintain(nowMs: number): void {
    if (nowMs - this.#lastMs < this.#periodMs) return;
    this.#lastMs = nowMs;
    this.#replicate(nowMs);
  }

  #replicate(now: number): void {
    const { store, table, selfId } = this.#services;
    const keys = store.keys().slice(0, KEYS_PER_ROUND);
    const live = new Set<string>();
    for (const key of keys) {
      const stored = store.storedValues(key, now).filter((entry) =>
        entry.expiresMs > now + this.#periodMs
      );
      if (stored.length === 0) continue;
      const known = table.closest(key, TARGET_NODES, now);
      const primary = known.length === 0 ||
        key.compareDistance(selfId, known[0].id) < 0;
      const outside = known.length >= TARGET_NODES &&
        key.compareDistance(selfId, known[known.length - 1].id) > 0;
      if (!primary && !outside) continue;
      const hex = key.toString();
      live.add(hex);
      // A key whose last probe found every closest node up to date is not
      // probed again while neither its closest nodes (as we know them) nor
      // its values changed, until its backoff runs out.
      const signature = replicationSignature(known, stored);
      const last = this.#state?.get(hex);
      if (
        last !== undefined && last.signature === signature && now < last.nextMs
      ) continue;
      this.#probeReplicas(key, stored, signature, last?.intervalMs);
    }
    const state = this.#state;
    if (state === undefined) return;
    for (const hex of state.keys()) {
      if (!live.has(hex)) state.delete(hex);
    }
  }

  #probeReplicas(
    key: InfoHash,
    stored: readonly StoredValue[],
    signature: string,
    lastIntervalMs: number | undefined,
  ): void {
    const held = new Map<string, Map<bigint, number>>();
    this.#services.lookups.start(key, "get", {
      query: REPLICATION_PROBE,
      onReply: (reply, node) => held.set(node.id.toString(), heldIds(reply)),
      onDone: (result) => {
        let copied = 0;
        for (const node of result.nodes) {
          if (node.token === undefined) continue;
          const has = held.get(node.id.toString());
          for (const entry of stored) {
            const seq = has?.get(entry.value.id);
            if (seq !== undefined && seq >= (entry.value.seq ?? 0)) continue;
            this.#services.puts.send(node, key, entry.value, entry.createdMs);
            copied += 1;
          }
        }
        const intervalMs = copied > 0 || lastIntervalMs === undefined
          ? this.#periodMs
          : Math.min(
            2 * lastIntervalMs,
            MAX_REPLICATION_BACKOFF * this.#periodMs,
          );
        (this.#state ??= new Map()).set(key.toString(), {
          signature,
          intervalMs,
          nextMs: this.#services.clock.now() + intervalMs,
        });
      },
    });
  }
}
