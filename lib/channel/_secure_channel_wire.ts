/**
 * The secure channel's wire: hello codec, key schedule, frame sealing and
 * the authentication payload. All wire numbers of the channel live here;
 * `secure_channel.ts` holds the state machine, and tests use these helpers
 * to play a hostile peer byte by byte.
 *
 * @module
 */
import {
  AesGcmKey,
  bytesEqual,
  concatBytes,
  hkdfSha256,
  hmacSha256,
  KEY_BYTES,
  sha256,
  SIGNATURE_BYTES,
  TAG_BYTES,
  utf8,
} from "../crypto.ts";

/** "DCSC": direct contact secure channel. */
export const MAGIC: Uint8Array = utf8("DCSC");
/**
 * Protocol version carried in every hello. Version 1 (the responder showed
 * its certificate first) is no longer spoken: a version-1 hello is refused
 * like garbage, without an answer.
 */
export const VERSION = 2;

/** Which end of the handshake a party plays. */
export type Role = "initiator" | "responder";

/** Hello kinds: a hello sent by one role is never accepted as the other's. */
export const HELLO_INITIATOR = 0x01;
/** Hello kind of the responder. */
export const HELLO_RESPONDER = 0x02;
/** Magic (4), version (1), kind (1): checked as soon as they arrive. */
export const HELLO_HEADER_BYTES = 6;
/** Truncated HMAC-SHA-256 that ends the initiator's hello. */
export const HELLO_MAC_BYTES = 16;
/** The responder's hello: header then a 32-byte ephemeral X25519 public key. */
export const RESPONDER_HELLO_BYTES: number = HELLO_HEADER_BYTES + KEY_BYTES;
/**
 * The initiator's hello: header, 32-byte ephemeral X25519 public key, then a
 * MAC keyed by the responder's static X25519 key (public, from its
 * certificate): only who knows whom it dials gets past the first check.
 */
export const INITIATOR_HELLO_BYTES: number = HELLO_HEADER_BYTES + KEY_BYTES +
  HELLO_MAC_BYTES;

/** Length prefix of every encrypted frame: 4 bytes, big-endian. */
export const LENGTH_PREFIX_BYTES = 4;
/** AES-GCM nonce: 4 zero bytes then a 64-bit big-endian frame counter. */
export const NONCE_BYTES = 12;
/** Shortest valid frame: a type byte and the tag. */
export const MIN_FRAME_BYTES: number = 1 + TAG_BYTES;

/** Frame types: the first plaintext byte. */
export const FrameType = {
  /** Device certificate and transcript signature; first frame each way. */
  AUTH: 0x01,
  /** One application message. */
  DATA: 0x02,
  /** Keepalive; the peer answers with a pong. */
  PING: 0x03,
  /** Answer to a ping. */
  PONG: 0x04,
  /** Orderly close; one code byte follows. */
  CLOSE: 0x05,
  /** The initiator accepted the responder; empty; the responder then opens. */
  CONFIRM: 0x06,
} as const;

/** Close codes: the byte after a close frame's type. */
export const CloseCode = {
  /** The sender closed the channel. */
  NORMAL: 0x00,
  /** The sender refused the receiver's identity. */
  REFUSED: 0x01,
} as const;

/** Largest certificate accepted in an auth frame. */
export const MAX_CERTIFICATE_BYTES = 4_096;
/** Largest auth plaintext: type, 2-byte certificate length, certificate, signature. */
export const MAX_AUTH_PLAINTEXT_BYTES: number = 1 + 2 + MAX_CERTIFICATE_BYTES +
  SIGNATURE_BYTES;
/** Largest frame (after its length prefix) accepted before the channel is open. */
export const MAX_HANDSHAKE_FRAME_BYTES: number = MAX_AUTH_PLAINTEXT_BYTES +
  TAG_BYTES;

const MAC_LABEL = utf8("dcsc/2 hello mac");
const EARLY_LABEL = utf8("dcsc/2 initiator");
const TRANSCRIPT_LABEL = utf8("dcsc/2 transcript");
const EARLY_KEY_LABEL: Readonly<Record<Role, Uint8Array>> = {
  initiator: utf8("dcsc/2 early key initiator to responder"),
  responder: utf8("dcsc/2 early key responder to initiator"),
};
const KEY_LABEL: Readonly<Record<Role, Uint8Array>> = {
  initiator: utf8("dcsc/2 key initiator to responder"),
  responder: utf8("dcsc/2 key responder to initiator"),
};
const AUTH_LABEL: Readonly<Record<Role, Uint8Array>> = {
  initiator: utf8("dcsc/2 auth initiator"),
  responder: utf8("dcsc/2 auth responder"),
};

/** The hello kind a role sends. */
export function helloKind(role: Role): number {
  return role === "initiator" ? HELLO_INITIATOR : HELLO_RESPONDER;
}

/** The whole length of a hello sent by `role`. */
export function helloBytes(role: Role): number {
  return role === "initiator" ? INITIATOR_HELLO_BYTES : RESPONDER_HELLO_BYTES;
}

/**
 * The key of the initiator hello's MAC for a responder: SHA-256 over a label
 * and the responder's static X25519 public key.
 */
export function helloMacKey(responderStaticKey: Uint8Array): Uint8Array {
  return sha256(concatBytes(MAC_LABEL, responderStaticKey));
}

function helloMac(macKey: Uint8Array, covered: Uint8Array): Uint8Array {
  return hmacSha256(macKey, covered).slice(0, HELLO_MAC_BYTES);
}

/**
 * Encodes the initiator's hello: magic, version, kind, ephemeral public key,
 * and the MAC of all that under {@link helloMacKey} of the responder.
 */
export function encodeInitiatorHello(
  ephemeralKey: Uint8Array,
  responderStaticKey: Uint8Array,
): Uint8Array {
  const covered = concatBytes(
    MAGIC,
    new Uint8Array([VERSION, HELLO_INITIATOR]),
    ephemeralKey,
  );
  return concatBytes(
    covered,
    helloMac(helloMacKey(responderStaticKey), covered),
  );
}

/** Encodes the responder's hello: magic, version, kind, ephemeral public key. */
export function encodeResponderHello(ephemeralKey: Uint8Array): Uint8Array {
  return concatBytes(
    MAGIC,
    new Uint8Array([VERSION, HELLO_RESPONDER]),
    ephemeralKey,
  );
}

/**
 * Whether `header` could start a hello from `role`: each of its first
 * {@link HELLO_HEADER_BYTES} bytes matches magic, version and kind. A
 * shorter `header` is checked as far as it goes, so garbage fails fast.
 */
export function isHelloHeader(header: Uint8Array, role: Role): boolean {
  const expected = [...MAGIC, VERSION, helloKind(role)];
  const count = Math.min(header.length, HELLO_HEADER_BYTES);
  for (let index = 0; index < count; index++) {
    if (header[index] !== expected[index]) return false;
  }
  return true;
}

/**
 * The ephemeral key of a whole initiator hello whose MAC checks under
 * `macKey` ({@link helloMacKey} of our own static key), or undefined.
 * Costs one HMAC: no curve operation before the MAC matched.
 */
export function decodeInitiatorHello(
  hello: Uint8Array,
  macKey: Uint8Array,
): Uint8Array | undefined {
  if (
    hello.length !== INITIATOR_HELLO_BYTES || !isHelloHeader(hello, "initiator")
  ) {
    return undefined;
  }
  const macAt = INITIATOR_HELLO_BYTES - HELLO_MAC_BYTES;
  const expected = helloMac(macKey, hello.subarray(0, macAt));
  if (!bytesEqual(expected, hello.subarray(macAt))) return undefined;
  return hello.slice(HELLO_HEADER_BYTES, macAt);
}

/** The ephemeral key of a whole responder hello, or undefined if it is not one. */
export function decodeResponderHello(
  hello: Uint8Array,
): Uint8Array | undefined {
  if (
    hello.length !== RESPONDER_HELLO_BYTES || !isHelloHeader(hello, "responder")
  ) {
    return undefined;
  }
  return hello.slice(HELLO_HEADER_BYTES);
}

/**
 * Seals frames for one direction, counting nonces from zero. A frame is valid
 * until the next one is sealed: write it at once, or copy it.
 */
export class FrameSealer {
  readonly #key: AesGcmKey;
  #counter = 0;
  /** Where frames are sealed, grown to the largest so far. */
  #frames = new Uint8Array(64);
  /** Rewritten for every frame: seal and open use it before returning. */
  readonly #nonce = new Uint8Array(NONCE_BYTES);

  /**
   * Starts at frame counter 0 with a 32-byte AES-256-GCM key, expanded once
   * for the channel's life.
   */
  constructor(key: Uint8Array) {
    this.#key = new AesGcmKey(key);
  }

  /**
   * A whole frame: length prefix, then the sealed type byte and body, built
   * and sealed in one buffer.
   */
  seal(type: number, body: Uint8Array): Uint8Array {
    // In the sealer's own buffer, which the next frame overwrites: a stream
    // copies what it does not send at once (`ByteStream.write`), and a
    // buffer per frame cost a microsecond (most frames are keepalives).
    const size = LENGTH_PREFIX_BYTES + 1 + body.length + TAG_BYTES;
    if (this.#frames.length < size) {
      this.#frames = new Uint8Array(Math.max(size, 2 * this.#frames.length));
    }
    const frame = this.#frames.subarray(0, size);
    writeLength(frame, frame.length - LENGTH_PREFIX_BYTES);
    frame[LENGTH_PREFIX_BYTES] = type;
    frame.set(body, LENGTH_PREFIX_BYTES + 1);
    this.#key.sealInPlace(
      writeNonce(this.#nonce, this.#counter++),
      frame,
      LENGTH_PREFIX_BYTES,
    );
    return frame;
  }
}

/** Opens frames of one direction, expecting nonces in order from zero. */
export class FrameOpener {
  readonly #key: AesGcmKey;
  #counter = 0;
  /** Rewritten for every frame: seal and open use it before returning. */
  readonly #nonce = new Uint8Array(NONCE_BYTES);

  /**
   * Starts at frame counter 0 with a 32-byte AES-256-GCM key, expanded once
   * for the channel's life.
   */
  constructor(key: Uint8Array) {
    this.#key = new AesGcmKey(key);
  }

  /**
   * The plaintext of the next frame, or undefined if it fails to
   * authenticate (the counter then stays put: the channel is dead anyway).
   * Decrypted in place: the plaintext is a view of `ciphertext`'s bytes (a
   * buffer per frame cost a microsecond; most frames are keepalives).
   */
  open(header: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
    const plaintext = this.#key.openInPlace(
      writeNonce(this.#nonce, this.#counter),
      ciphertext,
      header,
    );
    if (plaintext !== undefined) this.#counter++;
    return plaintext;
  }
}

/** Writes a 4-byte big-endian length prefix at the start of `frame`. */
function writeLength(frame: Uint8Array, length: number): void {
  frame[0] = length >>> 24;
  frame[1] = length >>> 16;
  frame[2] = length >>> 8;
  frame[3] = length;
}

/** The 4-byte big-endian length prefix of a frame. */
export function encodeLength(length: number): Uint8Array {
  const header = new Uint8Array(LENGTH_PREFIX_BYTES);
  new DataView(header.buffer).setUint32(0, length);
  return header;
}

/** Reads a 4-byte big-endian length prefix. */
export function decodeLength(header: Uint8Array): number {
  return new DataView(header.buffer, header.byteOffset, LENGTH_PREFIX_BYTES)
    .getUint32(0);
}

/** Writes the nonce of frame `counter` into `nonce` and returns it. */
function writeNonce(nonce: Uint8Array, counter: number): Uint8Array {
  if (!Number.isSafeInteger(counter)) {
    // 2^53 frames in one direction: unreachable, but never reuse a nonce.
    throw new RangeError(`Cannot seal frame: counter ${counter} is exhausted`);
  }
  const high = Math.floor(counter / 0x1_0000_0000);
  const low = counter >>> 0;
  nonce[4] = high >>> 24;
  nonce[5] = high >>> 16;
  nonce[6] = high >>> 8;
  nonce[7] = high;
  nonce[8] = low >>> 24;
  nonce[9] = low >>> 16;
  nonce[10] = low >>> 8;
  nonce[11] = low;
  return nonce;
}

/** The keys and transcript hash of one session, from one party's view. */
export interface SessionKeys {
  /** What each side's auth signature covers (see {@link authMessage}). */
  readonly transcriptHash: Uint8Array;
  /** Seals what this party sends. */
  readonly sealer: FrameSealer;
  /** Opens what the peer sends. */
  readonly opener: FrameOpener;
}

function sessionKeys(
  role: Role,
  secret: Uint8Array,
  transcriptHash: Uint8Array,
  labels: Readonly<Record<Role, Uint8Array>>,
): SessionKeys {
  const peerRole: Role = role === "initiator" ? "responder" : "initiator";
  return {
    transcriptHash,
    sealer: new FrameSealer(
      hkdfSha256(secret, transcriptHash, labels[role], KEY_BYTES),
    ),
    opener: new FrameOpener(
      hkdfSha256(secret, transcriptHash, labels[peerRole], KEY_BYTES),
    ),
  };
}

/** Inputs of {@link deriveEarly}. */
export interface DeriveEarlyInput {
  /** This party's role. */
  readonly role: Role;
  /**
   * X25519 of the initiator's ephemeral key and the responder's static key
   * ("es"); undefined if the peer key was of low order.
   */
  readonly staticShared: Uint8Array | undefined;
  /** The initiator's whole hello. */
  readonly initiatorHello: Uint8Array;
  /** The responder's static X25519 public key (from its certificate). */
  readonly responderStaticKey: Uint8Array;
}

/**
 * The early keys: they carry the initiator's auth frame, and the
 * responder's refusal, before the responder has sent anything else. Their
 * transcript hash, `SHA-256("dcsc/2 initiator" ‖ hello₁ ‖ responder static
 * key)`, is what the initiator signs: its ephemeral key and whom it dialled.
 *
 * @returns The early session, or undefined without a shared secret.
 */
export function deriveEarly(input: DeriveEarlyInput): SessionKeys | undefined {
  if (input.staticShared === undefined) return undefined;
  const transcriptHash = sha256(
    concatBytes(EARLY_LABEL, input.initiatorHello, input.responderStaticKey),
  );
  return sessionKeys(
    input.role,
    input.staticShared,
    transcriptHash,
    EARLY_KEY_LABEL,
  );
}

/** Inputs of {@link deriveSession}. */
export interface DeriveSessionInput {
  /** This party's role. */
  readonly role: Role;
  /** X25519 of both ephemeral keys ("ee"); undefined if of low order. */
  readonly ephemeralShared: Uint8Array | undefined;
  /** The transcript hash of the early session ({@link deriveEarly}). */
  readonly earlyTranscriptHash: Uint8Array;
  /** The early shared secret "es", mixed in. */
  readonly staticShared: Uint8Array;
  /** The responder's whole hello. */
  readonly responderHello: Uint8Array;
}

/**
 * The session keys: HKDF-SHA-256 over "ee ‖ es", salted with the transcript
 * hash `SHA-256("dcsc/2 transcript" ‖ early hash ‖ hello₂)`, one info label
 * per direction. "ee" makes them forward secret.
 *
 * @returns The session, or undefined if a peer key was malformed or of low order.
 */
export function deriveSession(
  input: DeriveSessionInput,
): SessionKeys | undefined {
  if (input.ephemeralShared === undefined) return undefined;
  const transcriptHash = sha256(
    concatBytes(
      TRANSCRIPT_LABEL,
      input.earlyTranscriptHash,
      input.responderHello,
    ),
  );
  return sessionKeys(
    input.role,
    concatBytes(input.ephemeralShared, input.staticShared),
    transcriptHash,
    KEY_LABEL,
  );
}

/** What a role signs with its device key: its auth label, then the transcript hash. */
export function authMessage(
  role: Role,
  transcriptHash: Uint8Array,
): Uint8Array {
  return concatBytes(AUTH_LABEL[role], transcriptHash);
}

/** The body of an auth frame (after the type byte). */
export interface AuthBody {
  /** The sender's encoded device certificate. */
  readonly certificate: Uint8Array;
  /** The sender's device signature over {@link authMessage}. */
  readonly signature: Uint8Array;
}

/** Encodes an auth body: 2-byte certificate length, certificate, signature. */
export function encodeAuthBody(auth: AuthBody): Uint8Array {
  if (auth.certificate.length > MAX_CERTIFICATE_BYTES) {
    throw new RangeError(
      `Cannot encode auth frame: certificate of ${auth.certificate.length} bytes exceeds ${MAX_CERTIFICATE_BYTES}`,
    );
  }
  const length = new Uint8Array([
    auth.certificate.length >> 8,
    auth.certificate.length & 0xff,
  ]);
  return concatBytes(length, auth.certificate, auth.signature);
}

/** Decodes an auth body, or returns undefined if its lengths do not add up. */
export function decodeAuthBody(body: Uint8Array): AuthBody | undefined {
  if (body.length < 2) return undefined;
  const certificateLength = (body[0] << 8) | body[1];
  if (
    certificateLength > MAX_CERTIFICATE_BYTES ||
    body.length !== 2 + certificateLength + SIGNATURE_BYTES
  ) {
    return undefined;
  }
  return {
    certificate: body.slice(2, 2 + certificateLength),
    signature: body.slice(2 + certificateLength),
  };
}
