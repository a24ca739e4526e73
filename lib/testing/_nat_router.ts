/**
 * The NAT part of a simulated network: which hosts sit behind a
 * {@link NatBox}, the public address of each box, and the translated
 * datagrams in flight. The network asks it at send time where a datagram
 * goes and what source address it carries, and at delivery whether the
 * target's box lets it in.
 *
 * A NATed host's own address (10.x.y.z) is private: only its box reaches
 * it, so a datagram sent there from another host is dropped as
 * `unroutable`. The box's public address is `100.64.0.0/10` plus the host
 * index (RFC 6598 shared space, so it never collides with the 10/8 hosts).
 *
 * @example Route through a box
 * ```ts
 * import assert from "node:assert/strict";
 * import { seededRng } from "../rng.ts";
 * import { NatRouter } from "./_nat_router.ts";
 *
 * const router = new NatRouter();
 * const box = router.add(1, { kind: "full-cone", rng: seededRng(1) });
 * assert.equal(box.publicHost, "100.64.0.2");
 * ```
 *
 * @module
 */

import type { PeerAddress } from "../transport.ts";
import type { Rng } from "../rng.ts";
import { NatBox, type NatKind } from "./nat_box.ts";

/** Options of {@link NatRouter.add}. */
export interface PutBehindNatOptions {
  /** Mapping and filtering behaviour. */
  readonly kind: NatKind;
  /** Draws the box's public ports. */
  readonly rng: Rng;
  /** Idle time before a mapping is forgotten. @default {30000} */
  readonly timeoutMs?: number;
  /** Keep the host's port as public port when free (Linux masquerade). @default {false} */
  readonly preservePort?: boolean;
}

/** What the network's NAT layer dropped. */
export interface NatDropCounts {
  /** Datagrams sent to a NATed host's private address from outside. */
  readonly unroutable: number;
  /** Datagrams a box's filter dropped (no live mapping or no permission). */
  readonly filtered: number;
}

/** A translated datagram in flight. */
export interface NatPacket {
  /** The sending host's index. */
  readonly source: number;
  /** The source address the receiver sees. */
  readonly from: PeerAddress;
  /** `from` as `host:port`. */
  readonly fromKey: string;
  /** The target's box, when the datagram was sent to its public address. */
  readonly box: NatBox | undefined;
  /** The public port it was sent to. */
  readonly publicPort: number;
}

/** Largest host index whose box gets a 100.64.0.0/10 address. */
const MAX_NAT_INDEX = 0x3f_ff_fd;

/** The public host of the box in front of host `index`. */
export function natPublicHost(index: number): string {
  const number = index + 1;
  return `100.${64 + ((number >>> 16) & 0x3f)}.${(number >>> 8) & 0xff}.${
    number & 0xff
  }`;
}

/** See the module documentation. */
export class NatRouter {
  readonly #boxes = new Map<number, NatBox>();
  readonly #byPublicHost = new Map<string, number>();
  readonly #pending = new Map<number, NatPacket>();
  #nextId = 0;
  #unroutable = 0;
  #filtered = 0;

  /** Whether any host is behind a box. */
  get active(): boolean {
    return this.#boxes.size > 0;
  }

  /**
   * Puts a host behind a new box, replacing any earlier one.
   *
   * @param hostIndex The host.
   * @param options Kind, rng and timeout.
   * @returns The box.
   * @throws {RangeError} If the index is too large for the public range.
   */
  add(hostIndex: number, options: PutBehindNatOptions): NatBox {
    if (hostIndex > MAX_NAT_INDEX) {
      throw new RangeError(
        `Cannot put host ${hostIndex} behind a NAT: index too large`,
      );
    }
    const box = new NatBox({
      ...options,
      publicHost: natPublicHost(hostIndex),
    });
    this.#boxes.set(hostIndex, box);
    this.#byPublicHost.set(box.publicHost, hostIndex);
    return box;
  }

  /**
   * The box in front of a host.
   *
   * @param hostIndex The host.
   * @returns Its box, or `undefined` if it is reachable directly.
   */
  boxOf(hostIndex: number): NatBox | undefined {
    return this.#boxes.get(hostIndex);
  }

  /**
   * Routes one datagram at send time.
   *
   * @param nowMs Virtual time.
   * @param source The sending host.
   * @param sourceAddress Its own address.
   * @param to The destination address.
   * @param resolve Finds the host attached at an address (no NAT involved).
   * @returns `undefined` when no box is involved (route as usual); `-1` when
   * the datagram is unroutable (counted); otherwise the target host and the
   * packet to register with {@link NatRouter.register} once it is queued.
   */
  route(
    nowMs: number,
    source: number,
    sourceAddress: PeerAddress,
    to: PeerAddress,
    toKey: string,
    resolve: () => number | undefined,
  ): undefined | -1 | { target: number; packet: NatPacket } {
    const sourceBox = this.#boxes.get(source);
    const publicTarget = this.#byPublicHost.get(to.host);
    let target: number | undefined;
    let targetBox: NatBox | undefined;
    if (publicTarget !== undefined) {
      target = publicTarget;
      targetBox = this.#boxes.get(publicTarget);
    } else {
      target = resolve();
      if (target === undefined) return undefined;
      if (target !== source && this.#boxes.has(target)) {
        this.#unroutable++;
        return -1;
      }
      if (sourceBox === undefined) return undefined;
    }
    const from = sourceBox === undefined
      ? sourceAddress
      : sourceBox.outboundAddress(nowMs, toKey, sourceAddress.port);
    const packet: NatPacket = {
      source,
      from,
      fromKey: `${from.host}:${from.port}`,
      box: targetBox,
      publicPort: to.port,
    };
    return { target, packet };
  }

  /**
   * Keeps a queued packet until its delivery.
   *
   * @param packet From {@link NatRouter.route}.
   * @returns The negative number to queue as its source.
   */
  register(packet: NatPacket): number {
    const id = this.#nextId++;
    this.#pending.set(id, packet);
    return -(id + 1);
  }

  /**
   * Takes a queued packet back at delivery.
   *
   * @param encoded The number {@link NatRouter.register} returned.
   * @returns The packet.
   */
  take(encoded: number): NatPacket {
    const id = -encoded - 1;
    const packet = this.#pending.get(id)!;
    this.#pending.delete(id);
    return packet;
  }

  /**
   * Applies the target's filter at delivery.
   *
   * @param nowMs Virtual time.
   * @param packet The packet.
   * @returns Whether it reaches the target.
   */
  admits(nowMs: number, packet: NatPacket): boolean {
    if (packet.box === undefined) return true;
    if (packet.box.inbound(nowMs, packet.publicPort, packet.fromKey)) {
      return true;
    }
    this.#filtered++;
    return false;
  }

  /**
   * Drop counters.
   *
   * @returns A fresh plain object.
   */
  drops(): NatDropCounts {
    return { unroutable: this.#unroutable, filtered: this.#filtered };
  }
}
