/**
 * Whether a hole punch between two devices can work, from what each knows
 * of its own NAT ({@link LinkNat}, carried in the sealed candidate set).
 *
 * A punch needs each side's probes to reach the other. Behind an
 * address-dependent ("symmetric") NAT, our probes to a contact leave from a
 * port made for that contact, which is in no candidate we could announce:
 * they get in only where the contact's NAT lets in any port of a host it
 * sent to (a full cone: endpoint-independent filtering) or there is no NAT.
 * So:
 *
 * | ours \ theirs | public | independent | dependent | unknown |
 * | ------------- | ------ | ----------- | --------- | ------- |
 * | public        | yes    | yes         | yes       | yes     |
 * | independent   | yes    | yes         | maybe     | yes     |
 * | dependent     | yes    | maybe       | never     | yes     |
 * | unknown       | yes    | yes         | yes       | yes     |
 *
 * "maybe": a full cone works, a port-restricted NAT (most home routers)
 * does not, and a device cannot tell which filtering its NAT does, so the
 * caller tries a few times and stops after failures. "unknown" (a device
 * whose DHT repliers send no `sp`, or that just started) is tried as before.
 *
 * @example Two symmetric NATs never punch; a full cone may
 * ```ts
 * import assert from "node:assert/strict";
 * import { punchOutlook } from "./punch_outlook.ts";
 *
 * assert.equal(punchOutlook("dependent", "dependent"), "never");
 * assert.equal(punchOutlook("dependent", "independent"), "maybe");
 * assert.equal(punchOutlook("dependent", "public"), "yes");
 * assert.equal(punchOutlook("unknown", "dependent"), "yes");
 * ```
 *
 * @module
 */

/**
 * What a device knows of its NAT: none (`"public"`: its observed IP is its
 * own), an endpoint-independent mapping, an address-dependent one
 * (symmetric), or not known yet.
 */
export type LinkNat = "public" | "independent" | "dependent" | "unknown";

/** Every {@link LinkNat}, in wire order (its index is its code in a candidate set). */
export const LINK_NATS: readonly LinkNat[] = [
  "unknown",
  "public",
  "independent",
  "dependent",
];

/** Whether a punch can work: surely not, perhaps (a few tries), or as far as we know. */
export type PunchOutlook = "never" | "maybe" | "yes";

/**
 * The outlook of a punch between us and a contact; symmetric in its
 * arguments. See the module documentation for the table.
 *
 * @param ours What we know of our NAT.
 * @param theirs What the contact's newest set said of its NAT.
 * @returns The outlook.
 */
export function punchOutlook(ours: LinkNat, theirs: LinkNat): PunchOutlook {
  if (ours === "dependent" && theirs === "dependent") return "never";
  if (
    (ours === "dependent" && theirs === "independent") ||
    (ours === "independent" && theirs === "dependent")
  ) {
    return "maybe";
  }
  return "yes";
}
