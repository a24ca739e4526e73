/**
 * A Jami certificate chain (device ← account ← CA, leaf first, as in
 * `ring_device.crt` and the type-8 value) and jamid's check of a peer
 * device (`foundPeerDevice` + OpenDHT `TrustList::verify`, GnuTLS profile
 * MEDIUM; `docs/jami.md`):
 *
 * 1. the device certificate must not be self-signed (the top issuer is not the device);
 * 2. each certificate is signed by the next (RSA, SHA-256/384/512), whose
 *    subject is its issuer, and which is a CA (basicConstraints CA:TRUE,
 *    keyCertSign when a keyUsage is present);
 * 3. every certificate is valid at `now`, RSA keys of at least 2048 bits,
 *    no unknown critical extension;
 * 4. no certificate is listed in a revocation list signed by its issuer,
 *    comparing serials as raw INTEGER bytes (half of Jami's are negative).
 *
 * The account id is the key id of the device certificate's issuer.
 *
 * @example Validate a fresh identity's device chain
 * ```ts
 * import assert from "node:assert/strict";
 * import { createJamiIdentity } from "./jami_identity.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const now = Date.UTC(2026, 0, 1);
 * const identity = await createJamiIdentity({ bits: 2048, now, random: rngBytes(seededRng(1)) });
 * await identity.deviceChain.validate(now + 1000);
 * assert.equal(await identity.deviceChain.accountId(), identity.accountId);
 * assert.equal(await identity.deviceChain.deviceId(), identity.deviceId);
 * ```
 *
 * @module
 */
import { bytesEqual } from "../crypto.ts";
import { JamiCertificate } from "./certificate.ts";
import { JamiCertificateError, JamiFormatError } from "./errors.ts";
import { decodePem } from "./_pem.ts";
import type { JamiRevocationList } from "./revocation_list.ts";

/** Largest PEM chain accepted (a 3-certificate RSA-4096 chain is about 5.6 KB). */
export const MAX_CHAIN_PEM_BYTES = 16_384;
/** Most certificates in a chain. */
export const MAX_CHAIN_CERTIFICATES = 4;
/** keyUsage keyCertSign bit of `@peculiar/x509`'s flags. */
const KEY_CERT_SIGN = 32;

/** A parsed certificate chain, leaf (device) first. */
export class JamiCertificateChain {
  /** The certificates, leaf first. */
  readonly certificates: readonly JamiCertificate[];

  private constructor(certificates: readonly JamiCertificate[]) {
    this.certificates = certificates;
  }

  /**
   * Builds a chain from parsed certificates, leaf first.
   *
   * @param certificates 1 to {@link MAX_CHAIN_CERTIFICATES} certificates.
   * @returns The chain.
   * @throws {JamiFormatError} If there are none or too many.
   */
  static fromCertificates(
    certificates: readonly JamiCertificate[],
  ): JamiCertificateChain {
    if (
      certificates.length === 0 ||
      certificates.length > MAX_CHAIN_CERTIFICATES
    ) {
      throw new JamiFormatError(
        "certificate chain",
        `${certificates.length} certificates`,
      );
    }
    return new JamiCertificateChain([...certificates]);
  }

  /**
   * Parses a PEM chain (hostile input: at most {@link MAX_CHAIN_PEM_BYTES}
   * and {@link MAX_CHAIN_CERTIFICATES} certificates). Parsing does not
   * validate: call {@link validate}.
   *
   * @param pem The PEM text or its bytes (a type-8 value's data, once unpacked).
   * @returns The chain.
   * @throws {JamiFormatError} If the text is too large, has no certificate,
   * too many, or one does not parse.
   */
  static async fromPem(
    pem: string | Uint8Array,
  ): Promise<JamiCertificateChain> {
    const what = "certificate chain";
    if (pem instanceof Uint8Array) {
      if (pem.length > MAX_CHAIN_PEM_BYTES) {
        throw new JamiFormatError(what, `${pem.length} bytes`);
      }
      pem = new TextDecoder().decode(pem);
    }
    if (typeof pem !== "string") throw new JamiFormatError(what, "not text");
    const blocks = decodePem(
      pem,
      what,
      MAX_CHAIN_PEM_BYTES,
      MAX_CHAIN_CERTIFICATES,
    ).filter((block) => block.label === "CERTIFICATE");
    if (blocks.length === 0) throw new JamiFormatError(what, "no certificate");
    const certificates: JamiCertificate[] = [];
    for (const block of blocks) {
      certificates.push(await JamiCertificate.fromDer(block.der));
    }
    return JamiCertificateChain.fromCertificates(certificates);
  }

  /** The device (leaf) certificate. */
  get device(): JamiCertificate {
    return this.certificates[0];
  }

  /** The account certificate (the device's issuer), if in the chain. */
  get account(): JamiCertificate | undefined {
    return this.certificates[1];
  }

  /** The CA certificate, if in the chain. */
  get ca(): JamiCertificate | undefined {
    return this.certificates[2];
  }

  /**
   * The Jami account id: key id (SHA-1 of the SPKI) of the device
   * certificate's issuer.
   *
   * @returns 40 lowercase hex characters.
   * @throws {JamiCertificateError} With reason `"too-short"` if the chain
   * holds only the device certificate.
   */
  accountId(): Promise<string> {
    const account = this.account;
    if (account === undefined) {
      return Promise.reject(
        new JamiCertificateError("too-short", "no account certificate"),
      );
    }
    return Promise.resolve(account.publicKey.infoHash.toString());
  }

  /**
   * The device SHA-1 id (key of the certificate value, `dev` of the
   * announcement, inbox key input).
   *
   * @returns 40 lowercase hex characters.
   */
  deviceId(): Promise<string> {
    return Promise.resolve(this.device.publicKey.infoHash.toString());
  }

  /**
   * Checks the chain as jamid checks a peer device (see the module doc).
   *
   * @param now Unix milliseconds.
   * @param crl A revocation list; used only if signed by an issuer of the
   * chain (a list signed by anyone else is ignored, as jamid pins only
   * lists its account certificate signed).
   * @throws {JamiCertificateError} With the reason of the first failed check.
   */
  async validate(now: number, crl?: JamiRevocationList): Promise<void> {
    const certs = this.certificates;
    const device = certs[0];
    if (device.isSelfIssued || certs.length === 1) {
      const self = device.isSelfIssued &&
        await device.publicKey.verify(
          device.tbs,
          device.signature,
          device.hash,
        );
      throw self
        ? new JamiCertificateError(
          "self-signed",
          "self-signed device certificate",
        )
        : new JamiCertificateError("too-short", "no issuer certificate");
    }
    for (let i = 0; i < certs.length; i++) {
      const cert = certs[i];
      if (cert.unknownCriticalExtensions.length > 0) {
        throw new JamiCertificateError(
          "bad-algorithm",
          `unknown critical extension ${cert.unknownCriticalExtensions[0]}`,
        );
      }
      if (now < cert.notBefore) {
        throw new JamiCertificateError(
          "not-yet-valid",
          `certificate ${i} is not yet valid`,
        );
      }
      if (now > cert.notAfter) {
        throw new JamiCertificateError(
          "expired",
          `certificate ${i} has expired`,
        );
      }
      const issuer = certs[i + 1];
      if (issuer === undefined) break;
      if (bytesEqual(issuer.publicKey.spki, device.publicKey.spki)) {
        throw new JamiCertificateError(
          "self-signed",
          "the device issued its own chain",
        );
      }
      await checkIssued(cert, issuer, i);
    }
    if (crl !== undefined) await checkRevocation(certs, crl);
  }

  /**
   * The chain as PEM, leaf first (the bytes of `ring_device.crt`).
   *
   * @returns The PEM text.
   */
  toPem(): string {
    return this.certificates.map((cert) => cert.toPem()).join("");
  }
}

async function checkIssued(
  cert: JamiCertificate,
  issuer: JamiCertificate,
  index: number,
): Promise<void> {
  if (!bytesEqual(cert.issuerName, issuer.subjectName)) {
    throw new JamiCertificateError(
      "issuer-mismatch",
      `certificate ${index + 1} is not the issuer of certificate ${index}`,
    );
  }
  if (!issuer.isCa) {
    throw new JamiCertificateError(
      "not-a-ca",
      `certificate ${index + 1} is not a CA`,
    );
  }
  if (
    issuer.keyUsage !== undefined && (issuer.keyUsage & KEY_CERT_SIGN) === 0
  ) {
    throw new JamiCertificateError(
      "not-a-ca",
      `certificate ${index + 1} may not sign certificates`,
    );
  }
  if (!await issuer.publicKey.verify(cert.tbs, cert.signature, cert.hash)) {
    throw new JamiCertificateError(
      "bad-signature",
      `certificate ${index} is not signed by certificate ${index + 1}`,
    );
  }
}

async function checkRevocation(
  certs: readonly JamiCertificate[],
  crl: JamiRevocationList,
): Promise<void> {
  for (let i = 0; i + 1 < certs.length; i++) {
    const issuer = certs[i + 1];
    if (!bytesEqual(crl.issuerName, issuer.subjectName)) continue;
    if (!await crl.verify(issuer.publicKey)) continue;
    if (crl.isRevoked(certs[i].serial)) {
      throw new JamiCertificateError("revoked", `certificate ${i} is revoked`);
    }
  }
}
