/**
 * One X.509 certificate of a Jami chain ({@link JamiCertificate}): parsed by
 * `@peculiar/x509` (names, extensions, dates) and by the DER walker of
 * `_der.ts` for the raw parts jamid compares byte for byte (TBS, signature,
 * serial INTEGER bytes, issuer and subject DNs).
 *
 * @example Parse a certificate and read its Jami fields
 * ```ts
 * import assert from "node:assert/strict";
 * import { JamiPrivateKey } from "./rsa_key.ts";
 * import { createJamiCertificate, JamiCertificate } from "./certificate.ts";
 *
 * const key = await JamiPrivateKey.generate(2048);
 * const der = await createJamiCertificate({
 *   commonName: "Jami CA",
 *   subjectKey: key.publicKey,
 *   issuerKey: key,
 *   isCa: true,
 *   serial: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
 *   now: Date.UTC(2026, 0, 1),
 * });
 * const cert = await JamiCertificate.fromDer(der);
 * assert.equal(cert.commonName, "Jami CA");
 * assert.equal(cert.uid, key.publicKey.infoHash.toString());
 * assert.ok(cert.isCa && cert.isSelfIssued);
 * ```
 *
 * @module
 */
import "npm:reflect-metadata@^0.2.2";
import * as x509 from "npm:@peculiar/x509@^2.2.0";
import { bytesEqual } from "../crypto.ts";
import {
  children,
  der,
  derOid,
  expectTag,
  oidText,
  readOne,
  readTime,
  TAG,
  type Tlv,
} from "./_der.ts";
import { JamiFormatError } from "./errors.ts";
import { encodePem } from "./_pem.ts";
import {
  type JamiHash,
  type JamiPrivateKey,
  JamiPublicKey,
} from "./rsa_key.ts";

/** Largest DER certificate accepted (a Jami RSA-4096 certificate is about 1.4 KB). */
export const MAX_CERTIFICATE_BYTES = 4096;
/** Validity of Jami certificates: 10 years (3650 days), in milliseconds. */
export const JAMI_CERTIFICATE_VALIDITY_MS = 3650 * 24 * 3600 * 1000;

/** OID of the LDAP userId attribute (`UID=` in Jami subjects). */
export const OID_UID = "0.9.2342.19200300.100.1.1";
const OID_CN = "2.5.4.3";
const SIGNATURE_HASHES: Readonly<Record<string, JamiHash>> = {
  "1.2.840.113549.1.1.11": "SHA-256",
  "1.2.840.113549.1.1.12": "SHA-384",
  "1.2.840.113549.1.1.13": "SHA-512",
};
/** OIDs of the RSA signature algorithms by digest. */
export const RSA_SIGNATURE_OIDS: Readonly<Record<JamiHash, string>> = {
  "SHA-256": "1.2.840.113549.1.1.11",
  "SHA-384": "1.2.840.113549.1.1.12",
  "SHA-512": "1.2.840.113549.1.1.13",
};
const KNOWN_EXTENSIONS = new Set([
  "2.5.29.14", // subjectKeyIdentifier
  "2.5.29.15", // keyUsage
  "2.5.29.17", // subjectAltName
  "2.5.29.19", // basicConstraints
  "2.5.29.35", // authorityKeyIdentifier
  "2.5.29.37", // extKeyUsage
]);

/** The digest of an RSA AlgorithmIdentifier, or undefined for any other algorithm. */
export function signatureHash(algorithm: Tlv): JamiHash | undefined {
  const parts = algorithm.tag === TAG.SEQUENCE
    ? children(algorithm, "algorithm", 2)
    : [];
  if (parts.length === 0 || parts[0].tag !== TAG.OID) return undefined;
  if (parts.length === 2 && parts[1].tag !== TAG.NULL) return undefined;
  return SIGNATURE_HASHES[oidText(parts[0].content)];
}

/** Reads the text of the first attribute `oid` of a DER Name. */
function nameAttribute(name: Tlv, oid: string): string | undefined {
  for (const rdn of children(name, "name", 16)) {
    for (const attribute of children(rdn, "name", 4)) {
      const [type, value] = children(attribute, "name", 2);
      if (type?.tag === TAG.OID && oidText(type.content) === oid && value) {
        return new TextDecoder().decode(value.content);
      }
    }
  }
  return undefined;
}

/** A parsed certificate with the raw parts needed for jamid's checks. */
export class JamiCertificate {
  /** The whole DER. */
  readonly der: Uint8Array;
  /** The DER TBSCertificate (what the issuer signed). */
  readonly tbs: Uint8Array;
  /** The signature value. */
  readonly signature: Uint8Array;
  /** Digest of the signature algorithm (RSA only). */
  readonly hash: JamiHash;
  /** The serial number's INTEGER content bytes, as encoded (may be negative). */
  readonly serial: Uint8Array;
  /** The DER of the issuer Name. */
  readonly issuerName: Uint8Array;
  /** The DER of the subject Name. */
  readonly subjectName: Uint8Array;
  /** Subject CN, if any. */
  readonly commonName: string | undefined;
  /** Subject UID (the key id hex in Jami certificates), if any. */
  readonly uid: string | undefined;
  /** Start of validity, Unix milliseconds. */
  readonly notBefore: number;
  /** End of validity, Unix milliseconds. */
  readonly notAfter: number;
  /** basicConstraints CA:TRUE. */
  readonly isCa: boolean;
  /** keyUsage flags, undefined without a keyUsage extension. */
  readonly keyUsage: number | undefined;
  /** OIDs of critical extensions this codec does not know. */
  readonly unknownCriticalExtensions: readonly string[];
  /** The subject public key. */
  readonly publicKey: JamiPublicKey;

  private constructor(
    fields: Omit<JamiCertificate, "isSelfIssued" | "toPem">,
  ) {
    this.der = fields.der;
    this.tbs = fields.tbs;
    this.signature = fields.signature;
    this.hash = fields.hash;
    this.serial = fields.serial;
    this.issuerName = fields.issuerName;
    this.subjectName = fields.subjectName;
    this.commonName = fields.commonName;
    this.uid = fields.uid;
    this.notBefore = fields.notBefore;
    this.notAfter = fields.notAfter;
    this.isCa = fields.isCa;
    this.keyUsage = fields.keyUsage;
    this.unknownCriticalExtensions = fields.unknownCriticalExtensions;
    this.publicKey = fields.publicKey;
  }

  /** Issuer and subject names are the same bytes. */
  get isSelfIssued(): boolean {
    return bytesEqual(this.issuerName, this.subjectName);
  }

  /**
   * Parses a DER certificate (hostile input: bounded and checked).
   *
   * @param bytes The DER.
   * @returns The certificate.
   * @throws {JamiFormatError} If it is not an X.509 v3 certificate with an
   * RSA key and an RSA SHA-2 signature.
   */
  static async fromDer(bytes: Uint8Array): Promise<JamiCertificate> {
    const what = "certificate";
    if (
      !(bytes instanceof Uint8Array) || bytes.length > MAX_CERTIFICATE_BYTES
    ) {
      throw new JamiFormatError(what, "not a DER certificate of bounded size");
    }
    const der = bytes.slice();
    const top = children(
      expectTag(readOne(der, what), TAG.SEQUENCE, what),
      what,
      3,
    );
    const tbsTlv = expectTag(top[0], TAG.SEQUENCE, what);
    const hash = signatureHash(expectTag(top[1], TAG.SEQUENCE, what));
    const bits = expectTag(top[2], TAG.BIT_STRING, what);
    if (top.length !== 3 || hash === undefined || bits.content[0] !== 0) {
      throw new JamiFormatError(what, "not an RSA SHA-2 signed certificate");
    }
    const fields = children(tbsTlv, what, 10);
    const offset = fields[0]?.tag === TAG.CONTEXT_0 ? 1 : 0;
    const serial = expectTag(fields[offset], TAG.INTEGER, what).content;
    const innerHash = signatureHash(
      expectTag(fields[offset + 1], TAG.SEQUENCE, what),
    );
    if (innerHash !== hash || serial.length === 0 || serial.length > 20) {
      throw new JamiFormatError(what, "bad serial or signature algorithm");
    }
    const issuer = expectTag(fields[offset + 2], TAG.SEQUENCE, what);
    const validity = children(
      expectTag(fields[offset + 3], TAG.SEQUENCE, what),
      what,
      2,
    );
    const subject = expectTag(fields[offset + 4], TAG.SEQUENCE, what);
    const spki = expectTag(fields[offset + 5], TAG.SEQUENCE, what);
    if (validity.length !== 2) throw new JamiFormatError(what, "bad validity");
    const publicKey = await JamiPublicKey.fromSpki(spki.whole);
    const extensions = parseExtensions(der);
    return new JamiCertificate({
      der,
      tbs: tbsTlv.whole.slice(),
      signature: bits.content.slice(1),
      hash,
      serial: serial.slice(),
      issuerName: issuer.whole.slice(),
      subjectName: subject.whole.slice(),
      commonName: nameAttribute(subject, OID_CN),
      uid: nameAttribute(subject, OID_UID),
      notBefore: readTime(validity[0], what),
      notAfter: readTime(validity[1], what),
      ...extensions,
      publicKey,
    });
  }

  /**
   * The certificate as one PEM block (64-column lines).
   *
   * @returns The PEM text.
   */
  toPem(): string {
    return encodePem("CERTIFICATE", this.der);
  }
}

function parseExtensions(
  der: Uint8Array,
): Pick<JamiCertificate, "isCa" | "keyUsage" | "unknownCriticalExtensions"> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der.slice());
  } catch (error) {
    throw new JamiFormatError("certificate", "X.509 parse failed", {
      cause: error,
    });
  }
  let isCa = false;
  let keyUsage: number | undefined;
  const unknownCriticalExtensions: string[] = [];
  try {
    for (const extension of cert.extensions) {
      if (extension instanceof x509.BasicConstraintsExtension) {
        isCa = extension.ca;
      } else if (extension instanceof x509.KeyUsagesExtension) {
        keyUsage = extension.usages;
      } else if (extension.critical && !KNOWN_EXTENSIONS.has(extension.type)) {
        unknownCriticalExtensions.push(extension.type);
      }
    }
  } catch (error) {
    throw new JamiFormatError("certificate", "bad extension", {
      cause: error,
    });
  }
  return { isCa, keyUsage, unknownCriticalExtensions };
}

/** DER Name `CN=<commonName>, UID=<uid>` with PrintableStrings, as GnuTLS writes Jami's. */
export function jamiName(commonName: string, uid: string): Uint8Array {
  const attribute = (oid: string, text: string) =>
    der(
      TAG.SET,
      der(
        TAG.SEQUENCE,
        derOid(oid),
        der(TAG.PRINTABLE_STRING, new TextEncoder().encode(text)),
      ),
    );
  return der(
    TAG.SEQUENCE,
    attribute(OID_CN, commonName),
    attribute(OID_UID, uid),
  );
}

/** What {@link createJamiCertificate} needs. */
export interface JamiCertificateOptions {
  /** Subject CN: "Jami CA", "Jami" or "Jami device". */
  readonly commonName: string;
  /** The certified key; the subject UID is its key id. */
  readonly subjectKey: JamiPublicKey;
  /** The signing key (the subject's own for a self-signed CA). */
  readonly issuerKey: JamiPrivateKey;
  /** The issuer's certificate; absent for a self-signed certificate. */
  readonly issuer?: JamiCertificate;
  /** CA and account certificates: SKI, critical basicConstraints CA:TRUE and keyUsage keyCertSign + cRLSign. Device: no extensions. */
  readonly isCa: boolean;
  /** The serial INTEGER bytes (8 random bytes, first < 0x80, in practice). */
  readonly serial: Uint8Array;
  /** Start of validity, Unix milliseconds (truncated to seconds); valid for 10 years. */
  readonly now: number;
}

/**
 * Issues a certificate as jamid does (§1.1): v3, sha384WithRSAEncryption,
 * subject `CN=<name>, UID=<key id hex>`, validity now … now + 3650 days;
 * for CA certificates SKI = SHA-1 of the whole SPKI (not RFC 5280's
 * method 1), basicConstraints and keyUsage critical.
 *
 * @param options See {@link JamiCertificateOptions}.
 * @returns The DER certificate.
 */
export async function createJamiCertificate(
  options: JamiCertificateOptions,
): Promise<Uint8Array> {
  const subjectId = options.subjectKey.infoHash.toString();
  const subject = jamiName(options.commonName, subjectId);
  const issuerName = options.issuer?.subjectName ?? subject;
  const notBefore = Math.floor(options.now / 1000) * 1000;
  const extensions = options.isCa
    ? [
      new x509.SubjectKeyIdentifierExtension(subjectId),
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
    ]
    : [];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Array.from(
      options.serial,
      (b) => b.toString(16).padStart(2, "0"),
    ).join(""),
    subject: new x509.Name(subject.slice()),
    issuer: new x509.Name(issuerName.slice()),
    notBefore: new Date(notBefore),
    notAfter: new Date(notBefore + JAMI_CERTIFICATE_VALIDITY_MS),
    signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" },
    publicKey: new x509.PublicKey(options.subjectKey.spki.slice()),
    signingKey: await options.issuerKey.signingKey("SHA-384"),
    extensions,
  });
  return new Uint8Array(cert.rawData);
}
