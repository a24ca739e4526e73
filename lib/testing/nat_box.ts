/**
 * A simulated NAT in front of one host: the address and port translation of
 * a home router or a Linux masquerade, for a {@link SimulatedNetwork} to
 * apply to the datagrams its host sends and receives.
 *
 * Three kinds, as RFC 4787 names their behaviours:
 *
 * - `"eim-prf"`: endpoint-independent mapping (one public port for the
 *   host's socket, whatever the destination) with port-restricted filtering
 *   (a datagram in is let through only from an address and port the host has
 *   sent to). Linux masquerade and most home routers.
 * - `"symmetric"`: address-dependent mapping (a new public port per
 *   destination address and port), port-restricted filtering. Some carrier
 *   and corporate NATs.
 * - `"full-cone"`: endpoint-independent mapping and filtering: once the
 *   host has sent anything, anyone may reach it at its public port.
 *
 * Mappings and permissions expire after `timeoutMs` without traffic: a
 * datagram out refreshes its mapping and the permission for its
 * destination; a datagram let in refreshes them too (Linux conntrack does;
 * some routers only count traffic out). An expired mapping is forgotten, and
 * the next datagram out gets a fresh port drawn from the box's `rng`
 * (routers that keep the old port when free exist; this is the harder case
 * for anyone holding our old address). Ports are drawn from 1024 to 65535,
 * deterministic for a seed. The box holds at most `maxEntries` permissions;
 * past that, expired ones are pruned, then the oldest mapping goes, as a
 * conntrack table that is full.
 *
 * TCP is not translated: the network model treats a NATed host as
 * unreachable for inbound streams (connects time out) and lets its own
 * outbound streams through.
 *
 * @example A reply passes, an unsolicited datagram does not
 * ```ts
 * import assert from "node:assert/strict";
 * import { seededRng } from "../rng.ts";
 * import { NatBox } from "./nat_box.ts";
 *
 * const nat = new NatBox({ kind: "eim-prf", publicHost: "100.64.0.1", rng: seededRng(1) });
 * const port = nat.outbound(0, "192.0.2.1:4222");
 * assert.equal(nat.inbound(10, port, "192.0.2.1:4222"), true);
 * assert.equal(nat.inbound(10, port, "192.0.2.9:4222"), false);
 * assert.equal(nat.outbound(20, "192.0.2.9:4222"), port); // same port: EIM
 * assert.equal(nat.inbound(60_000, port, "192.0.2.1:4222"), false); // expired
 * ```
 *
 * @module
 */

import { randomInt, type Rng } from "../rng.ts";
import type { PeerAddress } from "../transport.ts";

/** The NAT behaviours the simulator models; see the module documentation. */
export type NatKind = "eim-prf" | "symmetric" | "full-cone";

/** Every {@link NatKind}, in the order `--nat` documents them. */
export const NAT_KINDS: readonly NatKind[] = [
  "eim-prf",
  "symmetric",
  "full-cone",
];

/** Idle time after which a UDP mapping is forgotten: Linux's `nf_conntrack_udp_timeout`. */
export const DEFAULT_NAT_TIMEOUT_MS = 30_000;

/** Permissions a box holds before it prunes. */
const DEFAULT_MAX_ENTRIES = 4_096;

const FIRST_PORT = 1_024;
const PORT_SPAN = 65_536 - FIRST_PORT;

/** Options of a {@link NatBox}. */
export interface NatBoxOptions {
  /** Mapping and filtering behaviour. */
  readonly kind: NatKind;
  /** The public address the box translates to. */
  readonly publicHost: string;
  /** Draws the public ports; one draw per new mapping (more on a collision). */
  readonly rng: Rng;
  /** Idle time before a mapping or permission is forgotten. @default {30000} */
  readonly timeoutMs?: number;
  /** Most permissions held at once. @default {4096} */
  readonly maxEntries?: number;
  /**
   * Keep the host's own port as the public port when it is free, as Linux
   * masquerade does (and many home routers); otherwise ports are random.
   * @default {false}
   */
  readonly preservePort?: boolean;
}

/** What a box has done, for reports. */
export interface NatBoxStats {
  /** Mappings created (a refreshed mapping counts once). */
  readonly mappingsCreated: number;
  /** Datagrams in that the filter dropped (no mapping, or no permission). */
  readonly filtered: number;
  /** Mappings live at the time asked. */
  readonly liveMappings: number;
}

interface Mapping {
  readonly key: string;
  readonly address: PeerAddress;
  lastMs: number;
  /** Remote address key → last traffic with it, ms. */
  readonly permits: Map<string, number>;
}

/**
 * One NAT box; see the module documentation for the model.
 *
 * @example Symmetric: a port per destination
 * ```ts
 * import assert from "node:assert/strict";
 * import { seededRng } from "../rng.ts";
 * import { NatBox } from "./nat_box.ts";
 *
 * const nat = new NatBox({ kind: "symmetric", publicHost: "100.64.0.2", rng: seededRng(2) });
 * assert.notEqual(nat.outbound(0, "192.0.2.1:1"), nat.outbound(0, "192.0.2.2:1"));
 * ```
 */
export class NatBox {
  /** Mapping and filtering behaviour. */
  readonly kind: NatKind;
  /** The public address the box translates to. */
  readonly publicHost: string;
  /** Idle time before a mapping or permission is forgotten, ms. */
  readonly timeoutMs: number;
  readonly #rng: Rng;
  readonly #maxEntries: number;
  readonly #preservePort: boolean;
  readonly #byKey = new Map<string, Mapping>();
  readonly #byPort = new Map<number, Mapping>();
  #permitCount = 0;
  #mappingsCreated = 0;
  #filtered = 0;

  /**
   * A box with no mapping.
   *
   * @param options Kind, public host, rng and limits.
   * @throws {RangeError} If `timeoutMs` or `maxEntries` is not positive.
   */
  constructor(options: NatBoxOptions) {
    const { timeoutMs = DEFAULT_NAT_TIMEOUT_MS } = options;
    const { maxEntries = DEFAULT_MAX_ENTRIES } = options;
    if (!(timeoutMs > 0) || !(maxEntries >= 1)) {
      throw new RangeError(
        `Cannot create NAT box: timeoutMs ${timeoutMs} and maxEntries ${maxEntries} must be positive`,
      );
    }
    this.kind = options.kind;
    this.publicHost = options.publicHost;
    this.timeoutMs = timeoutMs;
    this.#rng = options.rng;
    this.#maxEntries = maxEntries;
    this.#preservePort = options.preservePort ?? false;
  }

  /**
   * Translates a datagram going out to `remoteKey`: creates or refreshes its
   * mapping and the permission for `remoteKey`.
   *
   * @param nowMs Virtual time.
   * @param remoteKey The destination as `host:port`.
   * @param localPort The host's own port, kept as public port by a
   * `preservePort` box when free.
   * @returns The public address the datagram leaves from (one object per mapping).
   */
  outboundAddress(
    nowMs: number,
    remoteKey: string,
    localPort = 0,
  ): PeerAddress {
    if (this.#permitCount >= this.#maxEntries) this.#prune(nowMs);
    const key = this.kind === "symmetric" ? remoteKey : "";
    let mapping = this.#byKey.get(key);
    if (mapping !== undefined && nowMs - mapping.lastMs >= this.timeoutMs) {
      this.#forget(mapping);
      mapping = undefined;
    }
    if (mapping === undefined) mapping = this.#create(key, localPort);
    mapping.lastMs = nowMs;
    if (!mapping.permits.has(remoteKey)) this.#permitCount++;
    mapping.permits.set(remoteKey, nowMs);
    return mapping.address;
  }

  /**
   * {@link NatBox.outboundAddress}, returning the port only.
   *
   * @param nowMs Virtual time.
   * @param remoteKey The destination as `host:port`.
   * @returns The public port.
   */
  outbound(nowMs: number, remoteKey: string): number {
    return this.outboundAddress(nowMs, remoteKey).port;
  }

  /**
   * Filters a datagram coming in at `publicPort` from `remoteKey`; one let
   * through refreshes its mapping and permission.
   *
   * @param nowMs Virtual time.
   * @param publicPort The port it was sent to.
   * @param remoteKey Its source as `host:port`.
   * @returns Whether it reaches the host.
   */
  inbound(nowMs: number, publicPort: number, remoteKey: string): boolean {
    const mapping = this.#byPort.get(publicPort);
    if (mapping === undefined || nowMs - mapping.lastMs >= this.timeoutMs) {
      if (mapping !== undefined) this.#forget(mapping);
      this.#filtered++;
      return false;
    }
    const permitMs = mapping.permits.get(remoteKey);
    const permitted = permitMs !== undefined &&
      nowMs - permitMs < this.timeoutMs;
    if (!permitted && this.kind !== "full-cone") {
      this.#filtered++;
      return false;
    }
    mapping.lastMs = nowMs;
    if (permitted) mapping.permits.set(remoteKey, nowMs);
    return true;
  }

  /**
   * Counters and the live mapping count.
   *
   * @param nowMs Virtual time, to tell live mappings from expired ones.
   * @returns A fresh plain object.
   */
  stats(nowMs: number): NatBoxStats {
    let live = 0;
    for (const mapping of this.#byKey.values()) {
      if (nowMs - mapping.lastMs < this.timeoutMs) live++;
    }
    return {
      mappingsCreated: this.#mappingsCreated,
      filtered: this.#filtered,
      liveMappings: live,
    };
  }

  #create(key: string, localPort: number): Mapping {
    let port = this.#preservePort && localPort > 0 &&
        !this.#byPort.has(localPort)
      ? localPort
      : FIRST_PORT + randomInt(this.#rng, PORT_SPAN);
    // Bounded: the box never holds more than maxEntries mappings.
    while (this.#byPort.has(port)) {
      port = FIRST_PORT + randomInt(this.#rng, PORT_SPAN);
    }
    const mapping: Mapping = {
      key,
      address: Object.freeze({ host: this.publicHost, port }),
      lastMs: 0,
      permits: new Map(),
    };
    this.#byKey.set(key, mapping);
    this.#byPort.set(port, mapping);
    this.#mappingsCreated++;
    return mapping;
  }

  #forget(mapping: Mapping): void {
    this.#byKey.delete(mapping.key);
    this.#byPort.delete(mapping.address.port);
    this.#permitCount -= mapping.permits.size;
  }

  /** Drops expired permissions and mappings; if still full, the oldest mapping. */
  #prune(nowMs: number): void {
    let oldest: Mapping | undefined;
    for (const mapping of [...this.#byKey.values()]) {
      if (nowMs - mapping.lastMs >= this.timeoutMs) {
        this.#forget(mapping);
        continue;
      }
      for (const [remote, lastMs] of mapping.permits) {
        if (nowMs - lastMs >= this.timeoutMs) {
          mapping.permits.delete(remote);
          this.#permitCount--;
        }
      }
      if (oldest === undefined || mapping.lastMs < oldest.lastMs) {
        oldest = mapping;
      }
    }
    if (this.#permitCount >= this.#maxEntries && oldest !== undefined) {
      this.#forget(oldest);
    }
  }
}
