/**
 * The DHT nodes a daemon knew when it last ran, kept in its storage under
 * {@link KNOWN_NODES_KEY} so that a restart starts its lookups from them
 * instead of from the bootstrap nodes alone (as OpenDHT's `exportNodes` /
 * `importNodes` and Jami's node cache do). A device that restarts then skips
 * the bootstrap ping and the first hops: in the simulator, the slowest
 * host's announcement left 1.64 s after its start, five trips of 180 ms one
 * way in a row (docs/figures.md, "300 accounts against the Jami profile").
 *
 * The record is a small JSON document, `{"v":1,"nodes":[["<40 hex>","host",
 * port], …]}`, at most {@link MAX_KNOWN_NODES} nodes. It is read as hostile:
 * anything malformed gives no node (a warning, never an error), and a node
 * from it is only a candidate, as one a stranger's reply names would be.
 *
 * @example Round trip
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeKnownNodes, encodeKnownNodes } from "./known_nodes.ts";
 * import { InfoHash } from "../identity/info_hash.ts";
 *
 * const nodes = [{ id: InfoHash.get("a"), address: { host: "192.0.2.1", port: 4222 } }];
 * const back = decodeKnownNodes(encodeKnownNodes(nodes));
 * assert.equal(back.length, 1);
 * assert.ok(back[0].id.equals(nodes[0].id));
 * assert.deepEqual(back[0].address, nodes[0].address);
 * assert.deepEqual(decodeKnownNodes(new TextEncoder().encode("{")), []);
 * ```
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";
import type { DhtNode } from "../dht/dht_node.ts";
import type { NodeInfo } from "../dht/messages.ts";
import { InfoHash } from "../identity/info_hash.ts";
import type { Storage } from "../storage.ts";

/** Storage key of the record. */
export const KNOWN_NODES_KEY = "dht-nodes.json";

/** Nodes kept at most (OpenDHT exports a few dozen). */
export const MAX_KNOWN_NODES = 64;

/** Longest host kept (an IPv6 address with a zone fits). */
const MAX_HOST_LENGTH = 64;

/** An IPv4 or IPv6 literal: a host name would cost a DNS lookup per send. */
const IP_LITERAL = /^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*)$/;

/** Largest record read (64 nodes of a few dozen bytes each, with room). */
const MAX_RECORD_BYTES = 16_384;

/**
 * Encodes nodes for storage, keeping the first {@link MAX_KNOWN_NODES}.
 *
 * @param nodes Nodes, best first.
 * @returns The record.
 */
export function encodeKnownNodes(nodes: readonly NodeInfo[]): Uint8Array {
  const kept = nodes.slice(0, MAX_KNOWN_NODES).map((node) => [
    node.id.toString(),
    node.address.host,
    node.address.port,
  ]);
  return new TextEncoder().encode(JSON.stringify({ v: 1, nodes: kept }));
}

/**
 * Decodes a stored record; anything malformed gives no node.
 *
 * @param bytes The record, as read from storage.
 * @returns Its well-formed nodes (at most {@link MAX_KNOWN_NODES}).
 */
export function decodeKnownNodes(bytes: Uint8Array): NodeInfo[] {
  if (bytes.length > MAX_RECORD_BYTES) return [];
  let record: unknown;
  try {
    record = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes),
    );
  } catch {
    return [];
  }
  if (typeof record !== "object" || record === null) return [];
  const { v, nodes } = record as { v?: unknown; nodes?: unknown };
  if (v !== 1 || !Array.isArray(nodes)) return [];
  const out: NodeInfo[] = [];
  for (const entry of nodes.slice(0, MAX_KNOWN_NODES)) {
    if (!Array.isArray(entry) || entry.length !== 3) continue;
    const [id, host, port] = entry;
    if (typeof id !== "string" || !/^[0-9a-f]{40}$/.test(id)) continue;
    if (
      typeof host !== "string" || host.length > MAX_HOST_LENGTH ||
      !IP_LITERAL.test(host)
    ) continue;
    if (!Number.isInteger(port) || port < 1 || port > 65_535) continue;
    out.push({ id: InfoHash.fromHex(id), address: { host, port } });
  }
  return out;
}

/** First save after a start: a device that crashes soon still keeps its nodes. */
const FIRST_SAVE_MS = 60_000;
/** Later saves, while running. */
const SAVE_MS = 600_000;

/** A warning about the record, in the shape of the daemon's. */
export interface KnownNodesWarning {
  /** `strayFile`: a damaged record, ignored; `saveFailed`: a write failed. */
  readonly kind: "strayFile" | "saveFailed";
  /** Always {@link KNOWN_NODES_KEY}. */
  readonly key: string;
  /** What happened, in a sentence. */
  readonly message: string;
}

/** What a {@link KnownNodesKeeper} reads and writes through. */
export interface KnownNodesKeeperOptions {
  /** Times the saves. */
  readonly clock: Clock;
  /** Where the record lives. */
  readonly storage: Storage;
  /** The node whose good nodes are kept. */
  readonly dht: Pick<DhtNode, "exportNodes">;
  /** Tracks a background save (the daemon's `whenIdle` waits for it). */
  readonly track: (work: Promise<void>) => void;
  /** Told of a failed save. */
  readonly onWarning: (warning: KnownNodesWarning) => void;
}

/**
 * Saves a running node's good nodes a minute after its start, every 10
 * minutes, and on a clean stop (a crash keeps the last save).
 */
export class KnownNodesKeeper {
  readonly #o: KnownNodesKeeperOptions;
  #timer: Timer | undefined;

  /**
   * A keeper, not started.
   *
   * @param options Clock, storage, node, tracking and warnings.
   */
  constructor(options: KnownNodesKeeperOptions) {
    this.#o = options;
  }

  /**
   * The nodes kept by an earlier run, if any; a damaged record is a
   * warning and no node.
   *
   * @param storage Where the record lives.
   * @param keys The storage's keys (read once by the caller).
   * @param warn Told of a damaged record.
   * @returns The nodes to import.
   */
  static async load(
    storage: Storage,
    keys: readonly string[],
    warn: (warning: KnownNodesWarning) => void,
  ): Promise<NodeInfo[]> {
    if (!keys.includes(KNOWN_NODES_KEY)) return [];
    const bytes = await storage.get(KNOWN_NODES_KEY);
    if (bytes === undefined) return [];
    const nodes = decodeKnownNodes(bytes);
    if (bytes.length > 0 && nodes.length === 0) {
      warn({
        kind: "strayFile",
        key: KNOWN_NODES_KEY,
        message:
          `ignored "${KNOWN_NODES_KEY}": not a list of DHT nodes (it is rewritten as the node runs)`,
      });
    }
    return nodes;
  }

  /** Schedules the first save; the later ones follow. */
  start(): void {
    this.#schedule(FIRST_SAVE_MS);
  }

  /** Stops the saves and saves once more; resolves when written (or warned). */
  async stop(): Promise<void> {
    this.crash();
    await this.#save();
  }

  /** Stops the saves without a last one, as a killed process would. */
  crash(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #schedule(delayMs: number): void {
    this.#timer?.cancel();
    this.#timer = this.#o.clock.setTimer(delayMs, () => {
      this.#timer = undefined;
      this.#o.track(this.#save());
      this.#schedule(SAVE_MS);
    });
  }

  /** Writes the record; a failure is a warning, never thrown. */
  async #save(): Promise<void> {
    const nodes = this.#o.dht.exportNodes(MAX_KNOWN_NODES);
    if (nodes.length === 0) return;
    try {
      await this.#o.storage.set(KNOWN_NODES_KEY, encodeKnownNodes(nodes));
    } catch (error) {
      this.#o.onWarning({
        kind: "saveFailed",
        key: KNOWN_NODES_KEY,
        message: `could not save "${KNOWN_NODES_KEY}": ${
          (error as Error)?.message ?? String(error)
        }`,
      });
    }
  }
}
