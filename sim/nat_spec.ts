/**
 * The `--nat SPEC` option of the simulator: which share of devices sits
 * behind which kind of NAT (see lib/testing/nat_box.ts), and the mapping
 * timeout.
 *
 * Grammar: `none`, or comma-separated items, each `KIND:SHARE` (KIND one of
 * `eim-prf`, `symmetric`, `full-cone`; SHARE from 0 to 1; the shares sum to
 * at most 1, the rest of the devices are directly reachable) or
 * `timeout:DURATION` (mapping idle timeout, e.g. `30s`, `2m`; default 30 s).
 * Plain DHT nodes (the storing nodes) are always public.
 *
 * @example Eight devices in ten behind a home router, one behind a symmetric NAT
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseNatSpec, pickNatKind } from "./nat_spec.ts";
 *
 * const spec = parseNatSpec("eim-prf:0.8,symmetric:0.1,timeout:60s");
 * assert.equal(spec.timeoutMs, 60_000);
 * assert.equal(pickNatKind(spec, 0.85), "symmetric");
 * assert.equal(pickNatKind(spec, 0.95), undefined);
 * ```
 *
 * @module
 */

import { NAT_KINDS, type NatKind } from "../lib/testing/nat_box.ts";
import { DEFAULT_NAT_TIMEOUT_MS } from "../lib/testing/nat_box.ts";
import { parseDuration } from "./churn/spec.ts";

/** A parsed `--nat` option. */
export interface NatSpec {
  /** Kinds with their shares of devices, in the order given. */
  readonly shares: readonly {
    readonly kind: NatKind;
    readonly share: number;
  }[];
  /** Mapping idle timeout, ms. */
  readonly timeoutMs: number;
}

/** A `--nat` text that does not follow the grammar. */
export class NatSpecError extends Error {
  /**
   * A bad spec.
   *
   * @param text The spec.
   * @param why What is wrong.
   */
  constructor(text: string, why: string) {
    super(`Cannot parse NAT spec "${text}": ${why}`);
    this.name = "NatSpecError";
  }
}

/**
 * Parses a `--nat` option; see the module documentation for the grammar.
 *
 * @param text The option's value.
 * @returns The spec (no share for `none`).
 * @throws {NatSpecError} If the text does not follow the grammar.
 */
export function parseNatSpec(text: string): NatSpec {
  if (text === "none") {
    return { shares: [], timeoutMs: DEFAULT_NAT_TIMEOUT_MS };
  }
  const shares: { kind: NatKind; share: number }[] = [];
  let timeoutMs = DEFAULT_NAT_TIMEOUT_MS;
  let total = 0;
  for (const item of text.split(",")) {
    const [name, value, extra] = item.split(":");
    if (value === undefined || extra !== undefined) {
      throw new NatSpecError(text, `"${item}" is not NAME:VALUE`);
    }
    if (name === "timeout") {
      try {
        timeoutMs = parseDuration(value);
      } catch {
        throw new NatSpecError(text, `"${value}" is not a duration`);
      }
      if (!(timeoutMs > 0)) throw new NatSpecError(text, "timeout must be > 0");
      continue;
    }
    if (!(NAT_KINDS as readonly string[]).includes(name)) {
      throw new NatSpecError(
        text,
        `unknown kind "${name}" (${NAT_KINDS.join(", ")})`,
      );
    }
    const share = Number(value);
    if (value.trim() === "" || !(share >= 0 && share <= 1)) {
      throw new NatSpecError(text, `share "${value}" is not from 0 to 1`);
    }
    if (shares.some((entry) => entry.kind === name)) {
      throw new NatSpecError(text, `"${name}" is given twice`);
    }
    total += share;
    shares.push({ kind: name as NatKind, share });
  }
  if (total > 1 + 1e-9) {
    throw new NatSpecError(text, `shares sum to ${total}, more than 1`);
  }
  return { shares, timeoutMs };
}

/**
 * The kind of NAT a device gets, from one uniform draw.
 *
 * @param spec The spec.
 * @param draw A number in [0, 1) from the seeded rng.
 * @returns The kind, or `undefined` for a directly reachable device.
 */
export function pickNatKind(spec: NatSpec, draw: number): NatKind | undefined {
  let cumulative = 0;
  for (const { kind, share } of spec.shares) {
    cumulative += share;
    if (draw < cumulative) return kind;
  }
  return undefined;
}

/**
 * Writes a spec back in the grammar, for reports.
 *
 * @param spec The spec.
 * @returns E.g. `eim-prf:1,timeout:30s`.
 */
export function formatNatSpec(spec: NatSpec): string {
  if (spec.shares.length === 0) return "none";
  const items = spec.shares.map(({ kind, share }) => `${kind}:${share}`);
  if (spec.timeoutMs !== DEFAULT_NAT_TIMEOUT_MS) {
    items.push(`timeout:${spec.timeoutMs / 1_000}s`);
  }
  return items.join(",");
}
