/**
 * Fragmentation of large value sets (§14 of `docs/opendht-wire.md`). A put,
 * update or get answer whose values are many (≥ 50) or big (≥ 600 packed
 * bytes in total) carries only their packed sizes in `values`; each packed
 * value then follows in `y: "p"` datagrams of at most 1280 bytes with the
 * same tid. {@link encodeWithValueParts} produces those datagrams;
 * {@link ValuePartAssembler} puts incoming ones back together.
 *
 * @example Send, then receive, a 3000-byte value
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../identity/info_hash.ts";
 * import { decodeMessage } from "./wire/decode.ts";
 * import { encodeWithValueParts, ValuePartAssembler } from "./value_parts.ts";
 *
 * const value = { id: 5n, type: 0, data: new Uint8Array(3000) };
 * const datagrams = encodeWithValueParts({
 *   kind: "request", method: "put", tid: 11, network: 0, userAgent: "RNG1",
 *   senderId: InfoHash.get("me"), key: InfoHash.get("key"), values: [value],
 *   token: new Uint8Array(32),
 * });
 * assert.equal(datagrams.length, 4); // header + 3 parts
 * const assembler = new ValuePartAssembler();
 * const results = datagrams.map((bytes) => assembler.receive("192.0.2.1:4222", decodeMessage(bytes), 0));
 * const put = results[3];
 * assert.ok(put?.kind === "request" && put.method === "put");
 * assert.equal(put.values[0].data.length, 3000);
 * ```
 *
 * @module
 */
import type {
  DhtMessage,
  DhtReply,
  DhtValue,
  DhtValuePart,
  PutRequest,
  UpdateRequest,
} from "./messages.ts";
import { encodeMessage } from "./wire/encode.ts";
import { WireError } from "./wire/errors.ts";
import { packValue, unpackValue } from "./wire/values.ts";

/** Values go inline only when there are fewer than this many (`packValueHeader`). */
export const MAX_INLINE_VALUE_COUNT = 50;

/** ...and their packed sizes add up to less than this (MAX_PACKET_VALUE_SIZE). */
export const MAX_INLINE_VALUES_BYTES = 600;

/** Largest piece of a packed value in one value-part datagram (OpenDHT's MTU). */
export const VALUE_PART_BYTES = 1280;

/** Announced sizes above this are ignored: MAX_VALUE_SIZE (64 KiB) plus 32 bytes of header. */
export const MAX_ANNOUNCED_VALUE_BYTES: number = 64 * 1024 + 32;

/** A partial message is dropped this long after its header (RX_MAX_PACKET_TIME, 10 s). */
export const PARTIAL_MAX_AGE_MS = 10_000;

/** ...or this long after its last progress (RX_TIMEOUT, 3 s). */
export const PARTIAL_IDLE_MS = 3_000;

/**
 * A part that comes before its header (datagrams of one burst reordered on
 * the way) is kept this long, in case the header follows.
 */
export const EARLY_PART_MAX_AGE_MS = 1_000;
/** Most parts kept ahead of their headers, from all sources together. */
export const EARLY_PART_MAX_COUNT = 64;

/** Default bound on partial messages held at once. */
const DEFAULT_MAX_PARTIALS = 32;

/** Default bound on bytes announced by all held partial messages: 4 MiB. */
const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** How values travel: inline, or as sizes plus pieces. */
export interface ValueSplit {
  /** True when the values fit inline in `values`. */
  readonly inline: boolean;
  /** Packed size of each value (fragmented only). */
  readonly sizes?: readonly number[];
  /** For each value, its packed bytes cut into pieces of ≤ 1280 bytes (fragmented only). */
  readonly parts?: readonly (readonly Uint8Array[])[];
}

/**
 * Decides, as OpenDHT's `packValueHeader` does, whether `values` go inline
 * (fewer than 50 and under 600 packed bytes in total) or fragmented, and
 * cuts each packed value into ≤ 1280-byte pieces when fragmented.
 *
 * @param values The values of one message.
 * @returns The plan.
 * @example A 3038-byte packed value becomes 1280 + 1280 + 478
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitValues } from "./value_parts.ts";
 *
 * const split = splitValues([{ id: 0x5555555555555555n, type: 0, data: new Uint8Array(3000) }]);
 * assert.equal(split.inline, false);
 * assert.deepEqual(split.sizes, [3038]);
 * assert.deepEqual(split.parts?.[0].map((piece) => piece.length), [1280, 1280, 478]);
 * assert.equal(splitValues([{ id: 1n, type: 0, data: new Uint8Array(10) }]).inline, true);
 * ```
 */
export function splitValues(values: readonly DhtValue[]): ValueSplit {
  const packed = values.map(packValue);
  const total = packed.reduce((sum, bytes) => sum + bytes.length, 0);
  if (
    packed.length < MAX_INLINE_VALUE_COUNT && total < MAX_INLINE_VALUES_BYTES
  ) {
    return { inline: true };
  }
  return {
    inline: false,
    sizes: packed.map((bytes) => bytes.length),
    parts: packed.map((bytes) => {
      // OpenDHT's loop always sends at least one piece, even for 0 bytes.
      const pieces = [bytes.subarray(0, VALUE_PART_BYTES)];
      for (
        let offset = VALUE_PART_BYTES;
        offset < bytes.length;
        offset += VALUE_PART_BYTES
      ) {
        pieces.push(bytes.subarray(offset, offset + VALUE_PART_BYTES));
      }
      return pieces;
    }),
  };
}

/** The messages that may carry values: put, update, and replies. */
type ValueCarrier = PutRequest | UpdateRequest | DhtReply;

function asValueCarrier(message: DhtMessage): ValueCarrier | undefined {
  if (message.kind === "reply") return message;
  if (
    message.kind === "request" &&
    (message.method === "put" || message.method === "update")
  ) {
    return message;
  }
  return undefined;
}

/** `message` with `values` replaced (and `valueSizes` removed). */
function withValues(
  message: ValueCarrier,
  values: readonly DhtValue[],
): ValueCarrier {
  const { valueSizes: _sizes, values: _values, ...rest } = message;
  return { ...rest, values } as ValueCarrier;
}

/**
 * Encodes a message into the datagrams to send: just the message when its
 * values go inline (or it has none), else a header whose `values` are the
 * packed sizes followed by the `y: "p"` value parts, offsets 0, 1280, …
 * For a request, send them all again on every retry (same tid).
 *
 * @param message Any message; only put, update and replies with `values` are fragmented.
 * @returns The datagrams, header first.
 * @throws {RangeError} As {@link encodeMessage}.
 * @example A small value stays inline
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../identity/info_hash.ts";
 * import { encodeWithValueParts } from "./value_parts.ts";
 *
 * const datagrams = encodeWithValueParts({
 *   kind: "reply", tid: 3, network: 0, senderId: InfoHash.get("me"),
 *   values: [{ id: 1n, type: 0, data: new Uint8Array(8) }],
 * });
 * assert.equal(datagrams.length, 1);
 * ```
 */
export function encodeWithValueParts(message: DhtMessage): Uint8Array[] {
  const carrier = asValueCarrier(message);
  const values = carrier?.values;
  if (
    carrier === undefined || values === undefined ||
    carrier.valueSizes !== undefined
  ) {
    return [encodeMessage(message)];
  }
  const split = splitValues(values);
  if (split.inline) return [encodeMessage(message)];
  const { values: _values, ...rest } = carrier;
  const header = {
    ...rest,
    ...(carrier.kind === "request" && carrier.method === "put"
      ? { values: [] }
      : {}),
    valueSizes: split.sizes,
  } as ValueCarrier;
  const datagrams = [encodeMessage(header)];
  split.parts!.forEach((pieces, index) => {
    pieces.forEach((data, piece) => {
      const part: DhtValuePart = {
        kind: "value-part",
        tid: message.tid,
        network: message.network,
        parts: [{ index, offset: piece * VALUE_PART_BYTES, data }],
      };
      datagrams.push(encodeMessage(part));
    });
  });
  return datagrams;
}

/** Why the assembler dropped something; counted in {@link ValuePartAssembler.dropped}. */
export type ValuePartDropReason =
  /** A part whose (source, tid) has no open partial message. */
  | "unknown-tid"
  /** A part overlapping the bytes received (or a part held ahead of a gap), or overrunning the size. */
  | "out-of-order"
  /** A partial message timed out (10 s after its header or 3 s without progress). */
  | "expired"
  /** A header while the maximum number of partial messages was held. */
  | "too-many-partials"
  /** A header whose announced bytes would exceed the buffer budget. */
  | "over-budget"
  /** A header for a (source, tid) already being assembled (a retry; its parts still count). */
  | "duplicate-header"
  /** An announced size above {@link MAX_ANNOUNCED_VALUE_BYTES}, not waited for. */
  | "oversized"
  /** Reassembled bytes that are not a value. */
  | "bad-value";

/** Limits of a {@link ValuePartAssembler}. */
export interface ValuePartAssemblerOptions {
  /**
   * Most partial messages held at once; further headers are dropped.
   * @default {32}
   */
  readonly maxPartials?: number;
  /**
   * Most bytes announced by all held partial messages together.
   * @default {4194304}
   */
  readonly maxBufferedBytes?: number;
}

/** One value being received: its announced size and the pieces so far. */
interface Slot {
  readonly index: number;
  readonly size: number;
  readonly pieces: Uint8Array[];
  received: number;
  /** Pieces that came before a gap, by offset (bounded by the size). */
  readonly ahead: Map<number, Uint8Array>;
  aheadBytes: number;
}

interface PartialMessage {
  readonly header: ValueCarrier;
  readonly slots: Map<number, Slot>;
  readonly announcedBytes: number;
  readonly startMs: number;
  lastProgressMs: number;
}

function deadlineMs(partial: PartialMessage): number {
  return Math.min(
    partial.startMs + PARTIAL_MAX_AGE_MS,
    partial.lastProgressMs + PARTIAL_IDLE_MS,
  );
}

function checkLimit(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot create assembler: ${name} ${value} is not a positive integer`,
    );
  }
  return value;
}

/**
 * Reassembles fragmented messages, keyed by (source address, tid) as
 * OpenDHT HEAD does. A part whose offset is past the bytes received so far
 * is kept until the gap is filled (OpenDHT 2.4.12 drops it and relies on the
 * sender's retry, which re-sends everything: a 50-part value reordered by
 * the network then never completes); a part overlapping what was received,
 * or overrunning the size, is dropped. A part that comes before its header
 * (counted as `unknown-tid`) is kept {@link EARLY_PART_MAX_AGE_MS} in case
 * the header follows (at most {@link EARLY_PART_MAX_COUNT} such parts).
 * Bounded: at most `maxPartials` messages and `maxBufferedBytes` announced
 * bytes are held; partials are dropped 10 s after their header or 3 s
 * without progress. Time comes in as `nowMs`; call {@link expire} at
 * {@link nextWakeupMs}.
 *
 * @example Parts may come in any order; overruns are dropped
 * ```ts
 * import assert from "node:assert/strict";
 * import { InfoHash } from "../identity/info_hash.ts";
 * import { ValuePartAssembler } from "./value_parts.ts";
 *
 * const assembler = new ValuePartAssembler();
 * const header = { kind: "reply", tid: 4, network: 0, senderId: InfoHash.get("n"), valueSizes: [2000] } as const;
 * assert.equal(assembler.receive("a", header, 0), undefined);
 * const late = { kind: "value-part", tid: 4, network: 0, parts: [{ index: 0, offset: 1280, data: new Uint8Array(721) }] } as const;
 * assert.equal(assembler.receive("a", late, 1), undefined);
 * assert.equal(assembler.dropped["out-of-order"], 1);
 * assert.equal(assembler.nextWakeupMs(), 3000);
 * ```
 */
export class ValuePartAssembler {
  readonly #maxPartials: number;
  readonly #maxBufferedBytes: number;
  /**
   * Made on first use: most nodes of a large simulation never receive a
   * value in parts, and an empty Map costs ~150 bytes.
   */
  #partials: Map<string, PartialMessage> | undefined;
  /** Parts that came before their header, oldest first (bounded). */
  readonly #early: { key: string; part: DhtValuePart; atMs: number }[] = [];
  readonly #dropped: Record<ValuePartDropReason, number> = {
    "unknown-tid": 0,
    "out-of-order": 0,
    "expired": 0,
    "too-many-partials": 0,
    "over-budget": 0,
    "duplicate-header": 0,
    "oversized": 0,
    "bad-value": 0,
  };
  #bufferedBytes = 0;

  /**
   * Makes an empty assembler.
   *
   * @param options Most messages assembled at once and most bytes buffered; each has a default.
   * @throws {RangeError} If a limit is not a positive integer.
   */
  constructor(options: ValuePartAssemblerOptions = {}) {
    this.#maxPartials = checkLimit(
      options.maxPartials ?? DEFAULT_MAX_PARTIALS,
      "maxPartials",
    );
    this.#maxBufferedBytes = checkLimit(
      options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
      "maxBufferedBytes",
    );
  }

  /** Number of partial messages held. */
  get partialCount(): number {
    return this.#partials?.size ?? 0;
  }

  /** Bytes announced by the partial messages held. */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** How many things were dropped, by reason (a copy). */
  get dropped(): Readonly<Record<ValuePartDropReason, number>> {
    return { ...this.#dropped };
  }

  /**
   * Takes every decoded message from `source` (after the network check).
   *
   * @param source The sender's address as text (e.g. `formatAddress(from)`).
   * @param message The decoded message.
   * @param nowMs Current time, milliseconds on a monotonic timeline.
   * @returns The message to process now: `message` itself when it is not
   * fragmented; the completed message (values filled in, `valueSizes`
   * removed) when a part completes one; undefined while waiting or dropped.
   */
  receive(
    source: string,
    message: DhtMessage,
    nowMs: number,
  ): DhtMessage | undefined {
    if (message.kind === "value-part") {
      return this.#onPart(source, message, nowMs);
    }
    const carrier = asValueCarrier(message);
    if (carrier?.valueSizes === undefined) return message;
    return this.#onHeader(source, carrier, carrier.valueSizes, nowMs);
  }

  /**
   * Drops partial messages whose time is up.
   *
   * @param nowMs Current time, milliseconds.
   * @returns How many were dropped.
   */
  expire(nowMs: number): number {
    let count = 0;
    if (this.#partials === undefined) return count;
    for (const [key, partial] of this.#partials) {
      if (nowMs >= deadlineMs(partial)) {
        this.#drop(key, partial, "expired");
        count++;
      }
    }
    return count;
  }

  /**
   * When {@link expire} next has something to do.
   *
   * @returns The earliest deadline in milliseconds, or undefined when nothing is held.
   */
  nextWakeupMs(): number | undefined {
    let earliest: number | undefined;
    if (this.#partials === undefined) return earliest;
    for (const partial of this.#partials.values()) {
      const deadline = deadlineMs(partial);
      if (earliest === undefined || deadline < earliest) earliest = deadline;
    }
    return earliest;
  }

  #onHeader(
    source: string,
    header: ValueCarrier,
    sizes: readonly number[],
    nowMs: number,
  ): DhtMessage | undefined {
    const slots = new Map<number, Slot>();
    sizes.forEach((size, index) => {
      if (size > MAX_ANNOUNCED_VALUE_BYTES) this.#dropped.oversized++;
      else {slots.set(index, {
          index,
          size,
          pieces: [],
          received: 0,
          ahead: new Map(),
          aheadBytes: 0,
        });}
    });
    if (slots.size === 0) return withValues(header, []);
    const key = partialKey(source, header.tid);
    const partials = this.#partials ??= new Map();
    const existing = partials.get(key);
    if (existing !== undefined && nowMs >= deadlineMs(existing)) {
      this.#drop(key, existing, "expired");
    }
    if (partials.has(key)) {
      this.#dropped["duplicate-header"]++;
      return undefined;
    }
    if (partials.size >= this.#maxPartials) this.expire(nowMs);
    if (partials.size >= this.#maxPartials) {
      this.#dropped["too-many-partials"]++;
      return undefined;
    }
    let announcedBytes = 0;
    for (const slot of slots.values()) announcedBytes += slot.size;
    if (this.#bufferedBytes + announcedBytes > this.#maxBufferedBytes) {
      this.#dropped["over-budget"]++;
      return undefined;
    }
    this.#bufferedBytes += announcedBytes;
    const partial = {
      header,
      slots,
      announcedBytes,
      startMs: nowMs,
      lastProgressMs: nowMs,
    };
    partials.set(key, partial);
    // Zero-size values are complete at once (and will not unpack).
    const done = this.#completeIfDone(key, partial);
    if (done !== undefined) return done;
    return this.#replayEarly(source, key, nowMs);
  }

  #keepEarly(key: string, part: DhtValuePart, nowMs: number): void {
    while (
      this.#early.length > 0 &&
      (this.#early.length >= EARLY_PART_MAX_COUNT ||
        nowMs - this.#early[0].atMs > EARLY_PART_MAX_AGE_MS)
    ) this.#early.shift();
    // Copied: the datagram's buffer may be reused.
    const parts = part.parts.map((piece) => ({
      ...piece,
      data: piece.data.slice(),
    }));
    this.#early.push({ key, part: { ...part, parts }, atMs: nowMs });
  }

  /** Feeds the parts of `key` that came before its header, if still fresh. */
  #replayEarly(
    source: string,
    key: string,
    nowMs: number,
  ): DhtMessage | undefined {
    const parts: DhtValuePart[] = [];
    for (let i = this.#early.length - 1; i >= 0; i--) {
      const early = this.#early[i];
      if (early.key !== key) continue;
      this.#early.splice(i, 1);
      if (nowMs - early.atMs <= EARLY_PART_MAX_AGE_MS) {
        parts.unshift(early.part);
      }
    }
    for (const part of parts) {
      const done = this.#onPart(source, part, nowMs);
      if (done !== undefined) return done;
    }
    return undefined;
  }

  #onPart(
    source: string,
    message: DhtValuePart,
    nowMs: number,
  ): DhtMessage | undefined {
    const key = partialKey(source, message.tid);
    const partial = this.#partials?.get(key);
    if (partial === undefined) {
      this.#dropped["unknown-tid"]++;
      this.#keepEarly(key, message, nowMs);
      return undefined;
    }
    if (nowMs >= deadlineMs(partial)) {
      this.#drop(key, partial, "expired");
      return undefined;
    }
    let progressed = false;
    for (const piece of message.parts) {
      const slot = partial.slots.get(piece.index);
      if (slot === undefined || slot.received >= slot.size) continue;
      const end = piece.offset + piece.data.length;
      if (
        piece.offset < slot.received || end > slot.size ||
        (piece.offset > slot.received &&
          (slot.ahead.has(piece.offset) ||
            slot.aheadBytes + piece.data.length > slot.size - slot.received))
      ) {
        this.#dropped["out-of-order"]++;
        continue;
      }
      progressed = true;
      if (piece.offset > slot.received) {
        // Datagrams of one burst may be reordered on the way (OpenDHT drops
        // them and waits for the retry, which a long value never survives).
        slot.ahead.set(piece.offset, piece.data.slice());
        slot.aheadBytes += piece.data.length;
        continue;
      }
      slot.pieces.push(piece.data.slice());
      slot.received += piece.data.length;
      for (let next = slot.ahead.get(slot.received); next !== undefined;) {
        slot.ahead.delete(slot.received);
        slot.aheadBytes -= next.length;
        if (slot.received + next.length > slot.size) break;
        slot.pieces.push(next);
        slot.received += next.length;
        next = slot.ahead.get(slot.received);
      }
    }
    if (!progressed) return undefined;
    partial.lastProgressMs = nowMs;
    return this.#completeIfDone(key, partial);
  }

  #completeIfDone(
    key: string,
    partial: PartialMessage,
  ): DhtMessage | undefined {
    for (const slot of partial.slots.values()) {
      if (slot.received < slot.size) return undefined;
    }
    this.#partials?.delete(key);
    this.#bufferedBytes -= partial.announcedBytes;
    const values: DhtValue[] = [];
    const slots = [...partial.slots.values()].sort((a, b) => a.index - b.index);
    for (const slot of slots) {
      try {
        values.push(unpackValue(concat(slot.pieces, slot.size)));
      } catch (error) {
        if (!(error instanceof WireError)) throw error;
        this.#dropped["bad-value"]++;
      }
    }
    return withValues(partial.header, values);
  }

  #drop(
    key: string,
    partial: PartialMessage,
    reason: ValuePartDropReason,
  ): void {
    this.#partials?.delete(key);
    this.#bufferedBytes -= partial.announcedBytes;
    this.#dropped[reason]++;
  }
}

/** Tids are digits, so a space cannot occur in the tid half of the key. */
function partialKey(source: string, tid: number): string {
  return `${tid} ${source}`;
}

function concat(pieces: readonly Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}
