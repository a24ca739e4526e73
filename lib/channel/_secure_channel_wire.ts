/**
 * The secure channel's wire: hello codec, key schedule, frame sealing and
 * the authentication payload. All wire numbers of the channel live here;
 * `secure_channel.ts` holds the state machine, and tests use these helpers
 * to play a hostile peer byte by byte.
 *
 * @module
 */
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  concatBytes,
  hkdfSha256,
  KEY_BYTES,
  sha256,
  SIGNATURE_BYTES,
  TAG_BYTES,
  utf8,
  x25519Shared,
} from "../crypto.ts";

/** "DCSC": direct contact secure channel. */
export const MAGIC: Uint8Array = utf8("DCSC");
/** Protocol version carried in every hello. */
export const VERSION = 1;

/** Which end of the handshake a party plays. */
export type Role = "initiator" | "responder";

/** Hello kinds: a hello sent by one role is never accepted as the other's. */
export const HELLO_INITIATOR = 0x01;
/** Hello kind of the responder. */
export const HELLO_RESPONDER = 0x02;
/** Magic (4), version (1), kind (1): checked as soon as they arrive. */
export const HELLO_HEADER_BYTES = 6;
/** A whole hello: header then a 32-byte ephemeral X25519 public key. */
export const HELLO_BYTES: number = HELLO_HEADER_BYTES + KEY_BYTES;

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

const TRANSCRIPT_LABEL = utf8("dcsc/1 transcript");
const KEY_LABEL: Readonly<Record<Role, Uint8Array>> = {
  initiator: utf8("dcsc/1 key initiator to responder"),
  responder: utf8("dcsc/1 key responder to initiator"),
};
const AUTH_LABEL: Readonly<Record<Role, Uint8Array>> = {
  initiator: utf8("dcsc/1 auth initiator"),
  responder: utf8("dcsc/1 auth responder"),
};

/** The hello kind a role sends. */
export function helloKind(role: Role): number {
  return role === "initiator" ? HELLO_INITIATOR : HELLO_RESPONDER;
}

/** Encodes a hello: magic, version, kind, ephemeral public key. */
export function encodeHello(role: Role, ephemeralKey: Uint8Array): Uint8Array {
  return concatBytes(
    MAGIC,
    new Uint8Array([VERSION, helloKind(role)]),
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

/** The ephemeral key of a whole hello from `role`, or undefined if it is not one. */
export function decodeHello(
  hello: Uint8Array,
  role: Role,
): Uint8Array | undefined {
  if (hello.length !== HELLO_BYTES || !isHelloHeader(hello, role)) {
    return undefined;
  }
  return hello.slice(HELLO_HEADER_BYTES);
}

/** Seals frames for one direction, counting nonces from zero. */
export class FrameSealer {
  readonly #key: Uint8Array;
  #counter = 0;

  /** Starts at frame counter 0 with a 32-byte AES-256-GCM key. */
  constructor(key: Uint8Array) {
    this.#key = key;
  }

  /** A whole frame: length prefix, then the sealed type byte and body. */
  seal(type: number, body: Uint8Array): Uint8Array {
    const plaintext = new Uint8Array(1 + body.length);
    plaintext[0] = type;
    plaintext.set(body, 1);
    const header = encodeLength(plaintext.length + TAG_BYTES);
    const ciphertext = aesGcmEncrypt(
      this.#key,
      nonceFor(this.#counter++),
      plaintext,
      header,
    );
    return concatBytes(header, ciphertext);
  }
}

/** Opens frames of one direction, expecting nonces in order from zero. */
export class FrameOpener {
  readonly #key: Uint8Array;
  #counter = 0;

  /** Starts at frame counter 0 with a 32-byte AES-256-GCM key. */
  constructor(key: Uint8Array) {
    this.#key = key;
  }

  /**
   * The plaintext of the next frame, or undefined if it fails to
   * authenticate (the counter then stays put: the channel is dead anyway).
   */
  open(header: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
    const plaintext = aesGcmDecrypt(
      this.#key,
      nonceFor(this.#counter),
      ciphertext,
      header,
    );
    if (plaintext !== undefined) this.#counter++;
    return plaintext;
  }
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

function nonceFor(counter: number): Uint8Array {
  if (!Number.isSafeInteger(counter)) {
    // 2^53 frames in one direction: unreachable, but never reuse a nonce.
    throw new RangeError(`Cannot seal frame: counter ${counter} is exhausted`);
  }
  const nonce = new Uint8Array(NONCE_BYTES);
  const view = new DataView(nonce.buffer);
  view.setUint32(4, Math.floor(counter / 0x1_0000_0000));
  view.setUint32(8, counter >>> 0);
  return nonce;
}

/** The keys and transcript hash of one session, from one party's view. */
export interface SessionKeys {
  /** SHA-256 over the transcript label and both hellos. */
  readonly transcriptHash: Uint8Array;
  /** Seals what this party sends. */
  readonly sealer: FrameSealer;
  /** Opens what the peer sends. */
  readonly opener: FrameOpener;
}

/** Inputs of {@link deriveSession}. */
export interface DeriveSessionInput {
  /** This party's role. */
  readonly role: Role;
  /** This party's ephemeral X25519 secret. */
  readonly ephemeralSecret: Uint8Array;
  /** The peer's ephemeral X25519 public key. */
  readonly peerEphemeralKey: Uint8Array;
  /** The initiator's whole hello. */
  readonly initiatorHello: Uint8Array;
  /** The responder's whole hello. */
  readonly responderHello: Uint8Array;
}

/**
 * Both direction keys: HKDF-SHA-256 over the X25519 shared secret, salted
 * with the transcript hash, one info label per direction.
 *
 * @returns The session, or undefined if the peer key is malformed or of low order.
 */
export function deriveSession(
  input: DeriveSessionInput,
): SessionKeys | undefined {
  const shared = x25519Shared(input.ephemeralSecret, input.peerEphemeralKey);
  if (shared === undefined) return undefined;
  const transcriptHash = sha256(
    concatBytes(TRANSCRIPT_LABEL, input.initiatorHello, input.responderHello),
  );
  const peerRole: Role = input.role === "initiator" ? "responder" : "initiator";
  const sendKey = hkdfSha256(
    shared,
    transcriptHash,
    KEY_LABEL[input.role],
    32,
  );
  const receiveKey = hkdfSha256(
    shared,
    transcriptHash,
    KEY_LABEL[peerRole],
    32,
  );
  return {
    transcriptHash,
    sealer: new FrameSealer(sendKey),
    opener: new FrameOpener(receiveKey),
  };
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
