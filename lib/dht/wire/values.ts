/**
 * OpenDHT values on the wire (§9 of `docs/opendht-wire.md`): {@link packValue}
 * and {@link unpackValue} for one value's msgpack, {@link signedValueBody}
 * for the bytes a signature covers, {@link valueStorageSize} for what a
 * value is charged against storage limits. Also the value tree and value
 * parser that the message encoder and decoder of this folder use.
 *
 * @module
 */
import { InfoHash } from "../../identity/info_hash.ts";
import type { DhtValue } from "../messages.ts";
import {
  checkUint,
  checkUint64,
  guarded,
  type Item,
  MAX_UINT16,
  MAX_UINT32,
  PackedWire,
  TEXT_ENCODER,
  toBytes,
  type Wire,
  WireMap,
} from "./_msgpack.ts";
import {
  asBlob,
  asInfoHash,
  asText,
  asUint,
  asUint64,
  findMapValue,
} from "./_items.ts";
import { WireError } from "./errors.ts";

/** `Value::msgpack_pack_to_sign`: `to` only when non-zero, `utype` only when non-empty. */
function bodyWire(value: DhtValue): WireMap {
  const signed = value.owner !== undefined;
  const recipient = signed && value.recipient !== undefined &&
      !value.recipient.equals(InfoHash.ZERO)
    ? value.recipient.bytes
    : undefined;
  return new WireMap([
    ["seq", signed ? checkUint(value.seq ?? 0, MAX_UINT16, "seq") : undefined],
    ["owner", value.owner],
    ["to", recipient],
    ["type", checkUint(value.type, MAX_UINT16, "value type")],
    ["data", value.data],
    ["utype", value.userType === "" ? undefined : value.userType],
  ]);
}

/**
 * `Value::msgpack_pack`: `{id, dat, [p]}`, `p` only when non-zero; for
 * the `values` of messages (encode.ts).
 */
export function valueWire(value: DhtValue): WireMap {
  const dat = value.cypher ?? new WireMap([
    ["body", bodyWire(value)],
    ["sig", value.owner === undefined ? undefined : value.signature],
  ]);
  return new WireMap([
    ["id", checkUint64(value.id, "value id")],
    ["dat", dat],
    [
      "p",
      value.priority
        ? checkUint(value.priority, MAX_UINT32, "priority")
        : undefined,
    ],
  ]);
}

/**
 * Packs one value as OpenDHT does (`Value::msgpack_pack`): `{id, dat, [p]}`,
 * `dat` being the ciphertext (bin) or `{body, [sig]}`. Fragmentation (§14)
 * cuts these bytes into pieces.
 *
 * @param value The value.
 * @returns Its msgpack bytes.
 * @throws {RangeError} If the id, type, seq or priority is out of range.
 * @example Pack and unpack
 * ```ts
 * import assert from "node:assert/strict";
 * import { packValue, unpackValue } from "./values.ts";
 *
 * const value = { id: 2n ** 60n, type: 0, data: new TextEncoder().encode("hi"), userType: "text/plain" };
 * const bytes = packValue(value);
 * assert.equal(bytes[0], 0x82);
 * assert.deepEqual(unpackValue(bytes), value);
 * ```
 */
export function packValue(value: DhtValue): Uint8Array {
  const cached = (value as SealedValue)[PACKED];
  if (cached) return cached;
  const bytes = toBytes(valueWire(value));
  if (cached === null) (value as SealedValue)[PACKED] = bytes;
  return bytes;
}

/**
 * The mark of a sealed value (see {@link sealValue}), kept on the value
 * itself: `null` until it is first packed, then its packed bytes. A
 * non-enumerable own property, so that a sealed value still compares
 * equal to an unsealed copy. (A `WeakSet` and a `WeakMap` did this before:
 * with every stored value in them, each doubling of their tables stopped
 * the node for up to 16 ms while it stored 20,000 values a second, and
 * the collector marks weak tables at extra cost; docs/figures.md.)
 */
const PACKED = Symbol("packed value");

/** A value as {@link sealValue} marks it. */
type SealedValue = DhtValue & { [PACKED]?: Uint8Array | null };

/**
 * Marks a value that no one will change any more (a stored copy decoded
 * from the network, referenced only by the store): from then on
 * {@link packValue} packs it once and returns the same bytes, which callers
 * must not change, and {@link packedValueWire} hands them to the encoder.
 * Every get answer carries its stored values; packing each once is the
 * point.
 *
 * @param value The value; it and its bytes must not change after this.
 *
 * @example A sealed value is packed once
 * ```ts
 * import assert from "node:assert/strict";
 * import { packValue, sealValue } from "./values.ts";
 *
 * const value = { id: 1n, type: 0, data: new Uint8Array([1, 2]) };
 * sealValue(value);
 * assert.equal(packValue(value), packValue(value));
 * ```
 */
export function sealValue(value: DhtValue): void {
  // A frozen value cannot take the mark: it is packed at every use instead.
  if (PACKED in value || !Object.isExtensible(value)) return;
  Object.defineProperty(value, PACKED, { value: null, writable: true });
}

/**
 * A value as the encoder writes it: its packed bytes when it is sealed
 * (the same bytes {@link valueWire} gives), else its tree.
 *
 * @param value A value.
 * @returns What to write for it.
 */
export function packedValueWire(value: DhtValue): Wire {
  return PACKED in value ? new PackedWire(packValue(value)) : valueWire(value);
}

/**
 * The bytes an OpenDHT signature covers (§9.3, `Value::getToSign`): the
 * body map packed canonically as `seq, owner, [to], type, data, [utype]`
 * (`type, data, [utype]` when unsigned). `to` is left out when absent or
 * zero, `utype` when empty, as OpenDHT does.
 *
 * @param value A plain or signed value.
 * @returns The bytes to verify with the owner's key (RSA PKCS#1 v1.5, SHA-512).
 * @throws {TypeError} If the value is encrypted (its body is inside the cypher).
 * @example The unsigned body
 * ```ts
 * import assert from "node:assert/strict";
 * import { signedValueBody } from "./values.ts";
 *
 * const body = signedValueBody({ id: 1n, type: 3, data: new Uint8Array([9]) });
 * // {type: 3, data: bin(09)}
 * assert.deepEqual(body, Uint8Array.from([0x82, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x03, 0xa4, 0x64, 0x61, 0x74, 0x61, 0xc4, 0x01, 0x09]));
 * ```
 */
export function signedValueBody(value: DhtValue): Uint8Array {
  if (value.cypher !== undefined) {
    throw new TypeError("Cannot build signed body: the value is encrypted");
  }
  return toBytes(bodyWire(value));
}

/**
 * The size OpenDHT charges a value against limits (`Value::size`):
 * len(data) + len(cypher) + len(sig) + len(utype).
 *
 * @param value A plain, signed or encrypted value.
 * @returns The charged size in bytes.
 * @example A plain value
 * ```ts
 * import assert from "node:assert/strict";
 * import { valueStorageSize } from "./values.ts";
 *
 * assert.equal(valueStorageSize({ id: 1n, type: 0, data: new Uint8Array(5), userType: "text/plain" }), 15);
 * ```
 */
export function valueStorageSize(value: DhtValue): number {
  return value.data.length + (value.cypher?.length ?? 0) +
    (value.signature?.length ?? 0) +
    utf8Length(value.userType ?? "");
}

/** Bytes of `text` in UTF-8, without encoding it for the common ASCII case. */
function utf8Length(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) return TEXT_ENCODER.encode(text).length;
  }
  return text.length;
}

/**
 * `Value::msgpack_unpack`; normalises p = 0, utype = "" and a zero `to` to
 * absent; for the `values` of messages (decode.ts).
 */
export function decodeValue(item: Item): DhtValue {
  if (item.type !== "map" || item.entries.length < 2) {
    throw new WireError(
      "bad-value",
      "a value is not a map of 2 or more entries",
    );
  }
  const idItem = findMapValue(item, "id", "bad-value");
  const datItem = findMapValue(item, "dat", "bad-value");
  if (idItem === undefined || datItem === undefined) {
    throw new WireError("bad-value", "a value lacks id or dat");
  }
  const id = asUint64(idItem, "bad-value", "value id");
  const priorityItem = findMapValue(item, "p", "bad-value");
  const priority = priorityItem === undefined
    ? 0
    : asUint(priorityItem, MAX_UINT32, "bad-value", "value priority");
  const withPriority = priority === 0 ? {} : { priority };
  if (datItem.type === "bin") {
    return {
      id,
      type: 0,
      data: new Uint8Array(0),
      cypher: datItem.bytes.slice(),
      ...withPriority,
    };
  }
  return { id, ...decodeDat(datItem), ...withPriority };
}

type ValueContent = Omit<DhtValue, "id" | "priority">;

function decodeDat(dat: Item): ValueContent {
  const body = findMapValue(dat, "body", "bad-value");
  if (body === undefined) {
    throw new WireError("bad-value", "a value lacks body");
  }
  const data = findMapValue(body, "data", "bad-value");
  const type = findMapValue(body, "type", "bad-value");
  if (data === undefined || type === undefined) {
    throw new WireError("bad-value", "a value body lacks data or type");
  }
  const utypeItem = findMapValue(body, "utype", "bad-value");
  const userType = utypeItem === undefined
    ? ""
    : asText(utypeItem, "bad-value", "utype");
  const plain: ValueContent = {
    type: asUint(type, MAX_UINT16, "bad-value", "value type"),
    data: asBlob(data, "bad-value", "value data"),
    ...(userType === "" ? {} : { userType }),
  };
  const owner = findMapValue(body, "owner", "bad-value");
  if (owner === undefined) return plain;
  const seq = findMapValue(body, "seq", "bad-value");
  const signature = findMapValue(dat, "sig", "bad-value");
  if (seq === undefined || signature === undefined) {
    throw new WireError("bad-value", "a signed value lacks seq or sig");
  }
  const to = findMapValue(body, "to", "bad-value");
  const recipient = to === undefined
    ? undefined
    : asInfoHash(to, "bad-value", "to");
  return {
    ...plain,
    owner: asBlob(owner, "bad-value", "owner"),
    seq: asUint(seq, MAX_UINT16, "bad-value", "seq"),
    ...(recipient === undefined || recipient.equals(InfoHash.ZERO)
      ? {}
      : { recipient }),
    signature: asBlob(signature, "bad-value", "sig"),
  };
}

/**
 * Unpacks one value packed by {@link packValue} or by OpenDHT (for instance
 * reassembled from value parts).
 *
 * @param bytes The msgpack bytes of one value map.
 * @returns The value.
 * @throws {WireError} With reason `"bad-value"`, `"bad-msgpack"` or `"too-large"`.
 * @example A malformed value
 * ```ts
 * import assert from "node:assert/strict";
 * import { unpackValue } from "./values.ts";
 * import { WireError } from "./errors.ts";
 *
 * assert.throws(() => unpackValue(new Uint8Array([0x80])), WireError);
 * ```
 */
export function unpackValue(bytes: Uint8Array): DhtValue {
  return guarded(bytes, (item) => decodeValue(item));
}
