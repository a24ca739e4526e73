/**
 * `StorePolicy`: which value types a node's store knows, so the same
 * {@link DhtNode} code can play either one of our nodes or a stock OpenDHT
 * 2.4 node (the simulator's `--stock-share`).
 *
 * - {@link OUR_STORE_POLICY}: the application's types (`DhtNodeConfig.valueTypes`)
 *   apply before OpenDHT's built-in ones: our announcement lives its short
 *   lifetime and its refreshes are not pushed, our goodbye its own lifetime.
 * - {@link STOCK_OPENDHT_STORE_POLICY}: only OpenDHT's built-in table
 *   (`docs/opendht-wire.md` §10). Every type of ours is unknown: kept the
 *   default 10 minutes, refreshes pushed to listeners (`re`), expiries pushed
 *   too (`exp`, 2.4.12 pushes them at the value's expiry, §11.4), edits
 *   refused (the default edit policy of an unwrapped type), no type-specific
 *   size limit beyond 64 KiB.
 *
 * The client side of the node (how long it thinks its own permanent puts
 * live) still uses the application's types: the policy is about what the
 * node does with values others store at it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OUR_STORE_POLICY, STOCK_OPENDHT_STORE_POLICY } from "./store_policy.ts";
 * const ours = new Map([[0x6a61, { id: 0x6a61, name: "a", lifetimeMs: 24_000, maxBytes: 4_096 }]]);
 * assert.equal(OUR_STORE_POLICY.storeTypes(ours)?.get(0x6a61)?.lifetimeMs, 24_000);
 * assert.equal(STOCK_OPENDHT_STORE_POLICY.storeTypes(ours), undefined);
 * ```
 *
 * @module
 */
import type { ValueType } from "./value_type.ts";

/** What a node's value store applies to the values others put at it. */
export interface StorePolicy {
  /** Name, for reports. */
  readonly name: "ours" | "stock-opendht-2.4";
  /**
   * The extra value types the store consults before OpenDHT's built-in
   * table, given the application's.
   *
   * @param appTypes The application's types (`DhtNodeConfig.valueTypes`).
   * @returns Types for the store (undefined: the built-in table only).
   */
  storeTypes(
    appTypes: ReadonlyMap<number, ValueType> | undefined,
  ): ReadonlyMap<number, ValueType> | undefined;
}

/** Our nodes: the application's types apply. */
export const OUR_STORE_POLICY: StorePolicy = {
  name: "ours",
  storeTypes: (appTypes) => appTypes,
};

/** A stock OpenDHT 2.4 node: our types are unknown to it. */
export const STOCK_OPENDHT_STORE_POLICY: StorePolicy = {
  name: "stock-opendht-2.4",
  storeTypes: () => undefined,
};
