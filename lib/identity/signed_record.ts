/**
 * `SignedRecord`: the envelope of every record we publish (device
 * certificate, announcement, goodbye, revocation list, receipts).
 *
 * The signature covers a canonical msgpack tuple of a domain tag, the type,
 * sequence number, creation and expiry times, the signer's public key and the
 * body, so a signature made for one type or one signer never verifies as
 * another.
 *
 * @example Sign, encode, decode, verify
 * ```ts
 * import assert from "node:assert/strict";
 * import { SignedRecord } from "./signed_record.ts";
 * import { AccountKeys } from "./account_keys.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 *
 * const account = AccountKeys.generate(rngBytes(seededRng(3)));
 * const record = SignedRecord.sign(account, {
 *   type: "goodbye", seq: 1, createdMs: 1_000, expiresMs: 61_000,
 *   body: new Uint8Array([1, 2, 3]),
 * });
 * const received = SignedRecord.decode(record.bytes);
 * received.verify({ signer: account.id, nowMs: 2_000 });
 * assert.deepEqual(received.body, new Uint8Array([1, 2, 3]));
 * ```
 *
 * @module
 */
import { ed25519Verify, KEY_BYTES, SIGNATURE_BYTES } from "../crypto.ts";
import {
  decodeTuple,
  encodeTuple,
  readBytes,
  readInteger,
  readText,
} from "./_codec.ts";
import {
  BadSignatureError,
  MalformedRecordError,
  RecordExpiredError,
  RecordFromFutureError,
  SignerMismatchError,
} from "./errors.ts";
import { InfoHash } from "./info_hash.ts";
import type { Signer } from "./signer.ts";

/** Largest body a record may carry: OpenDHT's 64 KiB value limit. */
export const MAX_RECORD_BODY_BYTES = 65_536;
/** Longest record type, in characters (lowercase kebab-case). */
export const MAX_RECORD_TYPE_LENGTH = 32;
/** Default tolerance for a creation time ahead of the verifier's clock: 5 minutes. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000;

const RECORD_TAG = "sr1";
const SIGNING_DOMAIN = "jami-contacts/record/v1";
const TYPE_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** What the signer decides; the envelope adds the key and signature. */
export interface SignedRecordFields {
  /** Record type, lowercase kebab-case, e.g. `"device-announcement"`. */
  readonly type: string;
  /** Sequence number; a newer record of the same kind has a higher one. */
  readonly seq: number;
  /** Creation time, epoch ms. */
  readonly createdMs: number;
  /** Expiry time, epoch ms; after it the record is refused. */
  readonly expiresMs: number;
  /** Opaque body, at most {@link MAX_RECORD_BODY_BYTES}. */
  readonly body: Uint8Array;
}

/** How to verify a record. */
export interface VerifyRecordOptions {
  /** The id (SHA-1 of public key) that must have signed; omitted means "any signer". */
  readonly signer?: InfoHash;
  /** The record type that is expected; omitted means any. */
  readonly type?: string;
  /** Time of the check, epoch ms. */
  readonly nowMs: number;
  /** Accepted creation time ahead of `nowMs`. @default {5 minutes} */
  readonly maxClockSkewMs?: number;
  /**
   * Accept a record past its expiry (evidence that stays true, such as a
   * revocation). @default {false}
   */
  readonly acceptExpired?: boolean;
  /**
   * The Ed25519 check, called only once the cheap checks (type, signer id)
   * passed; tests inject a counting one. @default {ed25519Verify}
   */
  readonly verifySignature?: SignatureVerifier;
}

/** An Ed25519 verification function: true if `signature` is `publicKey`'s over `message`. */
export type SignatureVerifier = (
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
) => boolean;

function validateFields(fields: SignedRecordFields): void {
  if (typeof fields.type !== "string" || !TYPE_PATTERN.test(fields.type)) {
    throw new TypeError(
      `Cannot sign record: type "${fields.type}" is not lowercase kebab-case of at most ${MAX_RECORD_TYPE_LENGTH} characters`,
    );
  }
  for (const name of ["seq", "createdMs", "expiresMs"] as const) {
    const value = fields[name];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(
        `Cannot sign record: ${name} must be a non-negative integer, got ${value}`,
      );
    }
  }
  if (fields.expiresMs < fields.createdMs) {
    throw new RangeError("Cannot sign record: expiresMs is before createdMs");
  }
  if (!(fields.body instanceof Uint8Array)) {
    throw new TypeError("Cannot sign record: body is not a Uint8Array");
  }
  if (fields.body.length > MAX_RECORD_BODY_BYTES) {
    throw new RangeError(
      `Cannot sign record: body has ${fields.body.length} bytes, limit is ${MAX_RECORD_BODY_BYTES}`,
    );
  }
}

function signedBytes(
  fields: SignedRecordFields,
  signerKey: Uint8Array,
): Uint8Array {
  return encodeTuple([
    SIGNING_DOMAIN,
    fields.type,
    fields.seq,
    fields.createdMs,
    fields.expiresMs,
    signerKey,
    fields.body,
  ]);
}

/** A decoded or freshly signed record. Decoding checks structure only: call {@link SignedRecord.verify}. */
export class SignedRecord implements SignedRecordFields {
  /** Record type, lowercase kebab-case, e.g. `"device-announcement"`. */
  readonly type: string;
  /** Sequence number; a newer record of the same kind has a higher one. */
  readonly seq: number;
  /** Creation time, epoch ms. */
  readonly createdMs: number;
  /** Expiry time, epoch ms. */
  readonly expiresMs: number;
  /** Opaque body, at most {@link MAX_RECORD_BODY_BYTES}; covered by the signature. */
  readonly body: Uint8Array;
  /** The signer's 32-byte Ed25519 public key. */
  readonly signerKey: Uint8Array;
  /** SHA-1 of the signer key: the account or device id that signed. */
  readonly signerId: InfoHash;
  /** The 64-byte signature. */
  readonly signature: Uint8Array;
  /** The encoded record, as it travels. */
  readonly bytes: Uint8Array;

  private constructor(
    fields: SignedRecordFields,
    signerKey: Uint8Array,
    signature: Uint8Array,
    bytes: Uint8Array,
  ) {
    this.type = fields.type;
    this.seq = fields.seq;
    this.createdMs = fields.createdMs;
    this.expiresMs = fields.expiresMs;
    this.body = fields.body;
    this.signerKey = signerKey;
    this.signerId = InfoHash.get(signerKey);
    this.signature = signature;
    this.bytes = bytes;
  }

  /**
   * Signs `fields` with `signer`.
   *
   * @param signer Account or device keys.
   * @param fields Type, sequence, times and body.
   * @returns The signed record.
   * @throws {TypeError} For a bad type name or a body that is not bytes.
   * @throws {RangeError} For negative or non-integer numbers, expiry before creation, or an oversized body.
   */
  static sign(signer: Signer, fields: SignedRecordFields): SignedRecord {
    validateFields(fields);
    const body = fields.body.slice();
    const copy = { ...fields, body };
    const signature = signer.sign(signedBytes(copy, signer.publicKey));
    const bytes = encodeTuple([
      RECORD_TAG,
      copy.type,
      copy.seq,
      copy.createdMs,
      copy.expiresMs,
      signer.publicKey,
      body,
      signature,
    ]);
    return new SignedRecord(copy, signer.publicKey.slice(), signature, bytes);
  }

  /**
   * Decodes a record from untrusted bytes, checking structure only.
   *
   * @param bytes The encoded record.
   * @returns The record, not yet verified.
   * @throws {MalformedRecordError} If the bytes are not a well-formed record.
   */
  static decode(bytes: Uint8Array): SignedRecord {
    const what = "signed record";
    if (
      bytes instanceof Uint8Array &&
      bytes.length > MAX_RECORD_BODY_BYTES + 512
    ) {
      throw new MalformedRecordError(what, `too large (${bytes.length} bytes)`);
    }
    const fields = decodeTuple(bytes, what, RECORD_TAG, 8);
    const type = readText(fields, 1, what, MAX_RECORD_TYPE_LENGTH);
    if (!TYPE_PATTERN.test(type)) {
      throw new MalformedRecordError(what, `bad type "${type}"`);
    }
    const record: SignedRecordFields = {
      type,
      seq: readInteger(fields, 2, what),
      createdMs: readInteger(fields, 3, what),
      expiresMs: readInteger(fields, 4, what),
      body: readBytes(fields, 6, what),
    };
    if (record.body.length > MAX_RECORD_BODY_BYTES) {
      throw new MalformedRecordError(what, "body too large");
    }
    const signerKey = readBytes(fields, 5, what, KEY_BYTES);
    const signature = readBytes(fields, 7, what, SIGNATURE_BYTES);
    return new SignedRecord(record, signerKey, signature, bytes.slice());
  }

  /**
   * Verifies the expected type and signer id (cheap, first), the signature,
   * and the validity window. Returns normally when the record is acceptable.
   *
   * @param options Expected signer and type, and the time of the check.
   * @throws {BadSignatureError} If the signature does not verify under `signerKey`.
   * @throws {SignerMismatchError} If the record's signer key is not `options.signer`'s (checked before the signature).
   * @throws {MalformedRecordError} If the type is not `options.type`.
   * @throws {RecordExpiredError} If `nowMs` is at or after `expiresMs` (unless `acceptExpired`).
   * @throws {RecordFromFutureError} If `createdMs` is beyond `nowMs` plus the allowed skew.
   */
  verify(options: VerifyRecordOptions): void {
    const what = `${this.type} record`;
    if (options.type !== undefined && options.type !== this.type) {
      throw new MalformedRecordError(
        what,
        `expected type "${options.type}"`,
      );
    }
    // The cheap id check first: a record claiming another signer costs no
    // Ed25519 verification.
    if (options.signer !== undefined && !options.signer.equals(this.signerId)) {
      throw new SignerMismatchError(
        what,
        options.signer.toString(),
        this.signerId.toString(),
      );
    }
    const verifySignature = options.verifySignature ?? ed25519Verify;
    if (
      !verifySignature(
        this.signature,
        signedBytes(this, this.signerKey),
        this.signerKey,
      )
    ) {
      throw new BadSignatureError(what);
    }
    if (!options.acceptExpired && options.nowMs >= this.expiresMs) {
      throw new RecordExpiredError(what, this.expiresMs, options.nowMs);
    }
    const skew = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    if (this.createdMs > options.nowMs + skew) {
      throw new RecordFromFutureError(what, this.createdMs, options.nowMs);
    }
  }
}
