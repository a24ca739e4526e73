/**
 * Where-clauses of get and listen queries, applied by the storing node
 * (OpenDHT `Where::getFilter`): terms combine with AND.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matchesQuery } from "./value_query.ts";
 * import { ValueField } from "./messages.ts";
 *
 * const value = { id: 7n, type: 3, data: new Uint8Array() };
 * assert.ok(matchesQuery(value, { select: [], where: [{ field: ValueField.Id, value: 7n }] }));
 * assert.ok(!matchesQuery(value, { select: [], where: [{ field: ValueField.ValueType, value: 4 }] }));
 * ```
 *
 * @module
 */
import { bytesEqual, sha1, utf8 } from "../crypto.ts";
import { type DhtQuery, type DhtValue, ValueField } from "./messages.ts";

function asBigInt(value: bigint | number | Uint8Array): bigint | undefined {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) {
    return BigInt(value);
  }
  return undefined;
}

/**
 * Whether `value` passes every where-term of `query` (no query: true).
 * Unknown fields never match, so a query we do not understand selects nothing.
 *
 * @param value A stored value.
 * @param query The query, if any.
 * @returns True when it matches.
 */
export function matchesQuery(value: DhtValue, query?: DhtQuery): boolean {
  if (query === undefined) return true;
  for (const term of query.where) {
    switch (term.field) {
      case ValueField.Id:
        if (asBigInt(term.value) !== value.id) return false;
        break;
      case ValueField.ValueType:
        if (asBigInt(term.value) !== BigInt(value.type)) return false;
        break;
      case ValueField.OwnerPk:
        if (
          value.owner === undefined || !(term.value instanceof Uint8Array) ||
          !bytesEqual(sha1(value.owner), term.value)
        ) return false;
        break;
      case ValueField.UserType:
        if (
          !(term.value instanceof Uint8Array) ||
          !bytesEqual(utf8(value.userType ?? ""), term.value)
        ) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}
