/**
 * Jami's certificate revocation list (`docs/jami.md`, spec §1.5): an X.509
 * v2 CRL signed by the account key (sha512WithRSAEncryption), issuer = the
 * account DN, one entry per revoked device certificate serial, a CRL Number
 * extension; put unsigned (type 0, data = msgpack bin of the DER) at the
 * account id. Serials are compared as raw INTEGER bytes: jamid's are 8
 * random bytes, negative about half the time, which some X.509 libraries
 * refuse in a CRL, so this module reads and writes the DER itself.
 *
 * @example Revoke a device and check it
 * ```ts
 * import assert from "node:assert/strict";
 * import { createJamiIdentity } from "./jami_identity.ts";
 * import { JamiRevocationList } from "./revocation_list.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const now = Date.UTC(2026, 0, 1);
 * const identity = await createJamiIdentity({ bits: 2048, now, random: rngBytes(seededRng(3)) });
 * const serial = identity.deviceChain.device.serial;
 * const crl = await JamiRevocationList.create(
 *   identity.accountKey, identity.accountChain.device, [serial], now,
 * );
 * const parsed = JamiRevocationList.fromDer(crl.der);
 * assert.ok(await parsed.verify(identity.accountKey.publicKey));
 * assert.ok(parsed.isRevoked(serial));
 * await assert.rejects(identity.deviceChain.validate(now, parsed));
 * ```
 *
 * @module
 */
import { bytesEqual, concatBytes } from "../crypto.ts";
import {
  children,
  der,
  derOid,
  derTime,
  derUint,
  expectTag,
  readOne,
  readTime,
  TAG,
} from "./_der.ts";
import {
  JAMI_CERTIFICATE_VALIDITY_MS,
  type JamiCertificate,
  RSA_SIGNATURE_OIDS,
  signatureHash,
} from "./certificate.ts";
import { JamiFormatError } from "./errors.ts";
import type { JamiHash, JamiPrivateKey, JamiPublicKey } from "./rsa_key.ts";

/** Largest DER CRL accepted. */
export const MAX_CRL_BYTES = 65_536;
/** Most revoked entries read from one CRL. */
export const MAX_CRL_ENTRIES = 1024;
const OID_CRL_NUMBER = "2.5.29.20";

/** A parsed (or created) revocation list. */
export class JamiRevocationList {
  /** The DER CRL. */
  readonly der: Uint8Array;
  /** The DER of the issuer Name. */
  readonly issuerName: Uint8Array;
  /** thisUpdate, Unix milliseconds. */
  readonly thisUpdate: number;
  /** nextUpdate, Unix milliseconds, if present. */
  readonly nextUpdate: number | undefined;
  /** Revoked serials, raw INTEGER content bytes. */
  readonly revokedSerials: readonly Uint8Array[];
  readonly #tbs: Uint8Array;
  readonly #signature: Uint8Array;
  readonly #hash: JamiHash;

  private constructor(
    der: Uint8Array,
    fields: {
      issuerName: Uint8Array;
      thisUpdate: number;
      nextUpdate: number | undefined;
      revokedSerials: Uint8Array[];
      tbs: Uint8Array;
      signature: Uint8Array;
      hash: JamiHash;
    },
  ) {
    this.der = der;
    this.issuerName = fields.issuerName;
    this.thisUpdate = fields.thisUpdate;
    this.nextUpdate = fields.nextUpdate;
    this.revokedSerials = fields.revokedSerials;
    this.#tbs = fields.tbs;
    this.#signature = fields.signature;
    this.#hash = fields.hash;
  }

  /**
   * Parses a DER CRL (hostile input: bounded and checked). Parsing does not
   * verify: call {@link verify}.
   *
   * @param bytes The DER.
   * @returns The list.
   * @throws {JamiFormatError} If the bytes are not an RSA-signed X.509 CRL.
   */
  static fromDer(bytes: Uint8Array): JamiRevocationList {
    const what = "revocation list";
    if (!(bytes instanceof Uint8Array) || bytes.length > MAX_CRL_BYTES) {
      throw new JamiFormatError(what, "not a DER CRL of bounded size");
    }
    const copy = bytes.slice();
    const top = children(
      expectTag(readOne(copy, what), TAG.SEQUENCE, what),
      what,
      3,
    );
    const tbs = expectTag(top[0], TAG.SEQUENCE, what);
    const hash = signatureHash(expectTag(top[1], TAG.SEQUENCE, what));
    const bits = expectTag(top[2], TAG.BIT_STRING, what);
    if (top.length !== 3 || hash === undefined || bits.content[0] !== 0) {
      throw new JamiFormatError(what, "not an RSA SHA-2 signed CRL");
    }
    const fields = children(tbs, what, 8);
    let at = fields[0]?.tag === TAG.INTEGER ? 1 : 0;
    if (signatureHash(expectTag(fields[at++], TAG.SEQUENCE, what)) !== hash) {
      throw new JamiFormatError(what, "inner and outer algorithms differ");
    }
    const issuer = expectTag(fields[at++], TAG.SEQUENCE, what);
    const thisUpdate = readTime(fields[at++] ?? issuer, what);
    let nextUpdate: number | undefined;
    const next = fields[at];
    if (next?.tag === TAG.UTC_TIME || next?.tag === TAG.GENERALIZED_TIME) {
      nextUpdate = readTime(next, what);
      at++;
    }
    const revokedSerials: Uint8Array[] = [];
    if (fields[at]?.tag === TAG.SEQUENCE) {
      for (const entry of children(fields[at], what, MAX_CRL_ENTRIES)) {
        const parts = children(expectTag(entry, TAG.SEQUENCE, what), what, 3);
        const serial = expectTag(parts[0], TAG.INTEGER, what).content;
        if (serial.length === 0 || serial.length > 20) {
          throw new JamiFormatError(what, "bad serial");
        }
        revokedSerials.push(serial.slice());
      }
    }
    return new JamiRevocationList(copy, {
      issuerName: issuer.whole.slice(),
      thisUpdate,
      nextUpdate,
      revokedSerials,
      tbs: tbs.whole.slice(),
      signature: bits.content.slice(1),
      hash,
    });
  }

  /**
   * Checks the list's signature with the issuer's key (the account key).
   *
   * @param accountKey The expected signer.
   * @returns Whether the signature verifies.
   */
  verify(accountKey: JamiPublicKey): Promise<boolean> {
    return accountKey.verify(this.#tbs, this.#signature, this.#hash);
  }

  /**
   * Whether a serial is listed, comparing the raw INTEGER bytes.
   *
   * @param serialBytes A certificate's {@link JamiCertificate.serial}.
   * @returns True if revoked.
   */
  isRevoked(serialBytes: Uint8Array): boolean {
    return this.revokedSerials.some((serial) =>
      bytesEqual(serial, serialBytes)
    );
  }

  /**
   * Creates a CRL as jamid does (`revokeDevice`): v2, sha512WithRSA, issuer
   * the account DN, thisUpdate = `now`, nextUpdate = `now` + 10 years, one
   * entry per serial revoked at `now`. The CRL Number is `now` in Unix
   * milliseconds, so that later lists have larger numbers (RFC 5280
   * §5.2.3; jamid writes an 8-byte number).
   *
   * @param accountKey The account private key.
   * @param accountCert The account certificate (its subject is the issuer).
   * @param revokedSerials Serials (raw INTEGER bytes) to list.
   * @param now Unix milliseconds.
   * @returns The signed list.
   */
  static async create(
    accountKey: JamiPrivateKey,
    accountCert: JamiCertificate,
    revokedSerials: readonly Uint8Array[],
    now: number,
  ): Promise<JamiRevocationList> {
    const algorithm = der(
      TAG.SEQUENCE,
      derOid(RSA_SIGNATURE_OIDS["SHA-512"]),
      der(TAG.NULL),
    );
    const at = Math.floor(now / 1000) * 1000;
    const entries = revokedSerials.map((serial) =>
      der(TAG.SEQUENCE, der(TAG.INTEGER, serial), derTime(at))
    );
    const extensions = der(
      TAG.CONTEXT_0,
      der(
        TAG.SEQUENCE,
        der(
          TAG.SEQUENCE,
          derOid(OID_CRL_NUMBER),
          der(TAG.OCTET_STRING, derUint(at)),
        ),
      ),
    );
    const tbs = der(
      TAG.SEQUENCE,
      derUint(1),
      algorithm,
      accountCert.subjectName,
      derTime(at),
      derTime(at + JAMI_CERTIFICATE_VALIDITY_MS),
      ...(entries.length > 0 ? [der(TAG.SEQUENCE, ...entries)] : []),
      extensions,
    );
    const signature = await accountKey.sign(tbs, "SHA-512");
    const crl = der(
      TAG.SEQUENCE,
      tbs,
      algorithm,
      der(TAG.BIT_STRING, concatBytes(Uint8Array.of(0), signature)),
    );
    return JamiRevocationList.fromDer(crl);
  }
}
