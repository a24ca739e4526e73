/**
 * Value types: lifetime and size limit are properties of the type, as in
 * OpenDHT (`src/default_types.cpp`). Types this table does not know live
 * {@link DEFAULT_VALUE_LIFETIME_MS}, like OpenDHT's unregistered types.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { valueTypeOf } from "./value_type.ts";
 * assert.equal(valueTypeOf(4).lifetimeMs, 7 * 24 * 3_600_000);
 * assert.equal(valueTypeOf(4242).lifetimeMs, 10 * 60_000);
 * ```
 *
 * @module
 */

/** Largest value OpenDHT stores: 64 KiB. */
export const MAX_VALUE_BYTES = 65_536;
/** Lifetime of a value of an unknown type: 10 minutes. */
export const DEFAULT_VALUE_LIFETIME_MS = 10 * 60_000;

/** What a storing node knows about a type. */
export interface ValueType {
  /** Type id (uint16). */
  readonly id: number;
  /** Name, for logs. */
  readonly name: string;
  /** How long a value lives after its creation (or last refresh). */
  readonly lifetimeMs: number;
  /** Largest accepted value, by OpenDHT's size measure. */
  readonly maxBytes: number;
  /**
   * Refreshes are not pushed to listeners (only new and expired values are).
   * For liveness records refreshed every few seconds, whose listeners only
   * care about arrival and expiry. @default {false}
   */
  readonly quietRefresh?: boolean;
}

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

/** OpenDHT's built-in types (`docs/opendht-wire.md` §10). */
export const BUILT_IN_VALUE_TYPES: readonly ValueType[] = [
  { id: 0, name: "User Data", lifetimeMs: 10 * MINUTE_MS },
  { id: 1, name: "DHT message", lifetimeMs: 5 * MINUTE_MS },
  { id: 2, name: "Internet Service Announcement", lifetimeMs: 15 * MINUTE_MS },
  { id: 3, name: "IM message", lifetimeMs: 5 * MINUTE_MS },
  { id: 4, name: "Certificate trust request", lifetimeMs: 7 * DAY_MS },
  { id: 5, name: "ICE candidates", lifetimeMs: 1 * MINUTE_MS },
  { id: 8, name: "Certificate", lifetimeMs: 7 * DAY_MS },
].map((type) => ({ ...type, maxBytes: MAX_VALUE_BYTES }));

const BY_ID = new Map(BUILT_IN_VALUE_TYPES.map((type) => [type.id, type]));

/**
 * The type record for `id`; unknown ids get the default lifetime.
 *
 * @param id Type id.
 * @param extra Additional types (an application's own), consulted first.
 * @returns The type.
 */
export function valueTypeOf(
  id: number,
  extra?: ReadonlyMap<number, ValueType>,
): ValueType {
  return extra?.get(id) ?? BY_ID.get(id) ?? {
    id,
    name: "unknown",
    lifetimeMs: DEFAULT_VALUE_LIFETIME_MS,
    maxBytes: MAX_VALUE_BYTES,
  };
}
