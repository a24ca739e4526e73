/**
 * The captured Jami 13.7 vectors (tests/vectors/jami-13.7-vectors.json) and
 * cached keys, for the tests of lib/jami/.
 */
import { JamiPrivateKey } from "../../lib/jami/rsa_key.ts";

/** One captured value. */
export interface VectorValue {
  readonly name: string;
  readonly kind:
    | "certificate"
    | "device_announcement"
    | "encrypted_trust_request"
    | "revocation_list";
  readonly key: string;
  readonly packed: string;
  readonly account?: string;
  readonly decrypt_with?: string;
  readonly sender?: string;
}

/** One identity of the vectors (only the fields the tests read). */
export interface VectorIdentity {
  readonly account_id: string;
  readonly device_key_pem?: string;
  readonly device_chain_pem?: string;
  readonly device1_chain_pem?: string;
  readonly device2_chain_pem?: string;
  readonly account_key_pem?: string;
  readonly ca_key_pem?: string;
  readonly device_long_id_dbus?: string;
  readonly device1_long_id_dbus?: string;
  readonly device2_long_id_dbus?: string;
  readonly device_long_id?: string;
  readonly device_sha1?: string;
  readonly archive_json?: Record<string, string>;
  readonly archive_ringAccountCRL?: string;
  readonly receipt?: string;
  readonly receipt_signature?: string;
}

/** The vectors file. */
export interface Vectors {
  readonly values: readonly VectorValue[];
  readonly identities: Readonly<Record<string, VectorIdentity>>;
  // deno-lint-ignore no-explicit-any
  readonly facts: any;
}

/** The parsed vectors. */
export const VECTORS: Vectors = JSON.parse(
  await Deno.readTextFile(
    new URL("../vectors/jami-13.7-vectors.json", import.meta.url),
  ),
);

/** Bytes of a lowercase hex string. */
export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const deviceKeys = new Map<string, Promise<JamiPrivateKey>>();

/** The device private key of a vector identity (parsed once). */
export function deviceKey(identity: string): Promise<JamiPrivateKey> {
  let key = deviceKeys.get(identity);
  if (key === undefined) {
    const pem = VECTORS.identities[identity].device_key_pem;
    if (pem === undefined) throw new Error(`${identity} has no device key`);
    key = JamiPrivateKey.fromPem(pem);
    deviceKeys.set(identity, key);
  }
  return key;
}

/** The captured values of one kind. */
export function valuesOf(kind: VectorValue["kind"]): VectorValue[] {
  return VECTORS.values.filter((v) => v.kind === kind);
}
