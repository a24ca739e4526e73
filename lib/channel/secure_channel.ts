/**
 * `SecureChannel`: a mutually authenticated, encrypted, framed message
 * channel between two devices over a {@link ByteStream}. It is a small state
 * machine, "handshake" → "open" → "closed", driven by the bytes that arrive
 * and by timers on the injected {@link Clock}; it never reads the time or
 * draws randomness by itself.
 *
 * ## Protocol
 *
 * 1. The initiator sends its hello: `"DCSC"`, version `1`, kind `1`, and a
 *    fresh ephemeral X25519 public key (38 bytes, unframed).
 * 2. The responder answers with its own hello (kind `2`). Both compute the
 *    transcript hash `h = SHA-256("dcsc/1 transcript" ‖ hello₁ ‖ hello₂)` and
 *    derive one AES-256-GCM key per direction with HKDF-SHA-256 over the
 *    X25519 shared secret, salt `h`, info
 *    `"dcsc/1 key initiator to responder"` or
 *    `"dcsc/1 key responder to initiator"`.
 * 3. Everything after the hellos is a frame: a 4-byte big-endian length,
 *    then the AES-GCM ciphertext (the length prefix is the associated data).
 *    The nonce is a per-direction frame counter (4 zero bytes, 8-byte
 *    big-endian counter). The plaintext starts with a type byte:
 *    `1` auth, `2` data, `3` ping, `4` pong, `5` close (+ code byte:
 *    `0` normal, `1` refused).
 * 4. The responder sends its auth frame right after its hello; the initiator
 *    checks it first and sends its own only if it accepts the responder, so
 *    the initiator's identity is never shown to a device it did not want.
 *    An auth frame holds the device certificate (2-byte length, bytes) and
 *    an Ed25519 signature by the device key over
 *    `"dcsc/1 auth initiator" ‖ h` (or `responder`). The signature binds the
 *    device to this session's ephemeral keys, so an auth frame recorded or
 *    relayed from another session never verifies.
 * 5. The receiver of an auth frame checks that the certificate decodes and
 *    verifies at `clock.now()` (signed by its account, within its validity),
 *    that its device key made the signature, that the device is
 *    `expectedDeviceId` when given, and finally asks `authorize`. Any failure
 *    closes the channel "refused" and tells the peer with a close frame.
 *
 * Hostile bytes never throw: a wrong hello, a length prefix over the maximum,
 * a frame that fails to decrypt or comes out of turn closes the channel
 * "protocol"; what stays buffered is always less than one frame. A handshake
 * still unfinished after `handshakeTimeoutMs` closes "timeout", and so does
 * an open channel that received nothing for `deadAfterMs`; the initiator
 * sends a ping whenever it sent nothing for `keepaliveMs`, and the responder
 * answers with a pong (only one side pings: if both did, their pings would
 * fall in step and double the idle traffic).
 *
 * @example Two devices open a channel and exchange a message
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "../identity/account_keys.ts";
 * import { DeviceCertificate } from "../identity/device_certificate.ts";
 * import { DeviceKeys } from "../identity/device_keys.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 * import { memoryStreamPair } from "./byte_stream.ts";
 * import { type ChannelIdentity, SecureChannel } from "./secure_channel.ts";
 *
 * const randomBytes = rngBytes(seededRng(1));
 * const clock = new ManualClock();
 * function identity(): ChannelIdentity {
 *   const account = AccountKeys.generate(randomBytes);
 *   const device = DeviceKeys.generate(randomBytes);
 *   const certificate = DeviceCertificate.issue(account, device, { issuedMs: clock.now() });
 *   return { device, certificate };
 * }
 * const alice = identity();
 * const bob = identity();
 * const [aliceStream, bobStream] = memoryStreamPair();
 * const authorize = () => true;
 * const toBob = SecureChannel.initiate(aliceStream, {
 *   identity: alice, clock, randomBytes, authorize,
 *   expectedDeviceId: bob.certificate.deviceId,
 * });
 * const toAlice = SecureChannel.accept(bobStream, { identity: bob, clock, randomBytes, authorize });
 * const received = new Promise<string>((resolve) =>
 *   toAlice.onMessage((bytes) => resolve(new TextDecoder().decode(bytes)))
 * );
 * toBob.onOpen(() => toBob.send(new TextEncoder().encode("hello Bob")));
 * assert.equal(await received, "hello Bob");
 * assert.ok(toAlice.peer?.accountId.equals(alice.certificate.accountId));
 * toBob.close();
 * ```
 *
 * @module
 */
import type { Clock, Timer } from "../clock.ts";
import { ed25519Verify, TAG_BYTES, x25519PublicKey } from "../crypto.ts";
import { DeviceCertificate } from "../identity/device_certificate.ts";
import type { DeviceKeys } from "../identity/device_keys.ts";
import type { InfoHash } from "../identity/info_hash.ts";
import type { RandomBytes } from "../rng.ts";
import type { ByteStream } from "./byte_stream.ts";
import { ReceiveBuffer } from "./_receive_buffer.ts";
import {
  authMessage,
  CloseCode,
  decodeAuthBody,
  decodeHello,
  decodeLength,
  deriveSession,
  encodeAuthBody,
  encodeHello,
  FrameType,
  HELLO_BYTES,
  HELLO_HEADER_BYTES,
  isHelloHeader,
  LENGTH_PREFIX_BYTES,
  MAX_AUTH_PLAINTEXT_BYTES,
  MIN_FRAME_BYTES,
  type Role,
  type SessionKeys,
} from "./_secure_channel_wire.ts";

/** The initiator sends a ping when it sent nothing for this long: 2.5 s. */
export const DEFAULT_KEEPALIVE_MS = 2_500;
/** Close "timeout" when nothing was received for this long: 7.5 s, three keepalives. */
export const DEFAULT_DEAD_AFTER_MS = 7_500;
/** Close "timeout" when the handshake is not done after this long: 5 s. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;
/** Largest application message by default: 64 KiB of plaintext. */
export const DEFAULT_MAX_MESSAGE_BYTES = 65_536;
/** Largest `maxMessageBytes` accepted: 16 MiB. */
export const MAX_MESSAGE_BYTES_LIMIT = 16 * 1024 * 1024;

/** Who this device is on a channel: its keys and its account's certificate for them. */
export interface ChannelIdentity {
  /** This device's keys; the device key signs the handshake transcript. */
  readonly device: DeviceKeys;
  /** The account's certificate for `device`, sent to the peer. */
  readonly certificate: DeviceCertificate;
}

/** The other end of a channel, once its certificate and signature checked out. */
export interface ChannelPeer {
  /** The peer's account. */
  readonly accountId: InfoHash;
  /** The peer's device. */
  readonly deviceId: InfoHash;
  /** The peer's verified device certificate. */
  readonly certificate: DeviceCertificate;
}

/**
 * Why a channel closed: `"local"` this side called `close()`; `"remote"` the
 * peer sent a close frame; `"timeout"` the handshake took too long or the
 * peer fell silent; `"refused"` this side refused the peer's identity, or the
 * peer refused ours; `"protocol"` the peer sent bytes that break the
 * protocol; `"stream"` the underlying stream closed without a close frame.
 */
export type ChannelCloseReason =
  | "local"
  | "remote"
  | "timeout"
  | "refused"
  | "protocol"
  | "stream";

/** The public state of a channel. */
export type ChannelState = "handshake" | "open" | "closed";

/** Counters of one channel. */
export interface ChannelStats {
  /** Bytes written to the stream: hellos and whole frames. */
  readonly bytesSent: number;
  /** Bytes read from the stream, whether or not they made sense. */
  readonly bytesReceived: number;
  /** Application messages encrypted and written as DATA frames. */
  readonly messagesSent: number;
  /** Application messages delivered to the message handler. */
  readonly messagesReceived: number;
}

/** Collaborators and settings of a {@link SecureChannel}. */
export interface SecureChannelOptions {
  /** This device's keys and certificate. */
  readonly identity: ChannelIdentity;
  /** Time for certificate checks and every timer. */
  readonly clock: Clock;
  /** Source of the ephemeral X25519 secret. */
  readonly randomBytes: RandomBytes;
  /**
   * Called once the peer proved its device key and its certificate verified
   * (signature by its account, validity at `clock.now()`). Return false to
   * refuse (unknown, banned, revoked): the channel then closes with
   * "refused" before any application message is delivered. If it throws,
   * the channel closes "refused" and the exception propagates.
   */
  readonly authorize: (peer: ChannelPeer) => boolean;
  /** Refuse the peer unless it is this device; meant for the initiator. */
  readonly expectedDeviceId?: InfoHash;
  /** The initiator pings when it sent nothing for this long (the responder only answers). @default {2_500} */
  readonly keepaliveMs?: number;
  /** Close "timeout" when nothing was received for this long. @default {7_500} */
  readonly deadAfterMs?: number;
  /** Close "timeout" if the handshake is not done this long after creation. @default {5_000} */
  readonly handshakeTimeoutMs?: number;
  /** Largest application message, in plaintext bytes. @default {65_536} */
  readonly maxMessageBytes?: number;
}

/**
 * `send()` was called on a channel that is not open.
 *
 * @example Sending during the handshake
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChannelNotOpenError } from "./secure_channel.ts";
 *
 * const error = new ChannelNotOpenError("handshake");
 * assert.equal(error.state, "handshake");
 * assert.equal(error.message, 'Cannot send on secure channel: state is "handshake"');
 * ```
 */
export class ChannelNotOpenError extends Error {
  /** The channel's state when `send()` was called. */
  readonly state: ChannelState;

  /**
   * Creates the error.
   *
   * @param state The channel's state, "handshake" or "closed".
   */
  constructor(state: ChannelState) {
    super(`Cannot send on secure channel: state is "${state}"`);
    this.name = "ChannelNotOpenError";
    this.state = state;
  }
}

/** Internal states; the public {@link ChannelState} folds the first two into "handshake". */
type Phase =
  /** Waiting for the peer's hello; the initiator has sent its own. */
  | {
    readonly kind: "await-hello";
    readonly ephemeralSecret: Uint8Array;
    readonly ownHello: Uint8Array | undefined;
  }
  /** Keys derived, waiting for the peer's auth frame. */
  | { readonly kind: "await-auth"; readonly session: SessionKeys }
  | {
    readonly kind: "open";
    readonly session: SessionKeys;
    readonly peer: ChannelPeer;
  }
  | { readonly kind: "closed"; readonly reason: ChannelCloseReason };

interface Settings {
  readonly keepaliveMs: number;
  readonly deadAfterMs: number;
  readonly handshakeTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** Largest ciphertext after a length prefix. */
  readonly maxFrameBytes: number;
}

function checkDuration(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(
      `Cannot create secure channel: ${name} ${value} is not a positive number`,
    );
  }
  return value;
}

function readSettings(options: SecureChannelOptions): Settings {
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (
    !Number.isInteger(maxMessageBytes) || maxMessageBytes < 1 ||
    maxMessageBytes > MAX_MESSAGE_BYTES_LIMIT
  ) {
    throw new RangeError(
      `Cannot create secure channel: maxMessageBytes ${maxMessageBytes} is not an integer from 1 to ${MAX_MESSAGE_BYTES_LIMIT}`,
    );
  }
  const { device, certificate } = options.identity;
  if (!certificate.deviceId.equals(device.id)) {
    throw new TypeError(
      `Cannot create secure channel: certificate is for device "${certificate.deviceId}", not "${device.id}"`,
    );
  }
  return {
    keepaliveMs: checkDuration(
      "keepaliveMs",
      options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS,
    ),
    deadAfterMs: checkDuration(
      "deadAfterMs",
      options.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS,
    ),
    handshakeTimeoutMs: checkDuration(
      "handshakeTimeoutMs",
      options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    ),
    maxMessageBytes,
    maxFrameBytes: Math.max(1 + maxMessageBytes, MAX_AUTH_PLAINTEXT_BYTES) +
      TAG_BYTES,
  };
}

/** Outcome of checking a peer's auth frame. */
type AuthOutcome =
  | { readonly kind: "accepted"; readonly peer: ChannelPeer }
  | { readonly kind: "refused" }
  | { readonly kind: "malformed" };

/**
 * One secure channel over one stream; see the module documentation for the
 * protocol. Create it with {@link SecureChannel.initiate} on the connecting
 * side and {@link SecureChannel.accept} on the accepting side, then set the
 * handlers before control returns to the event loop: events are not
 * replayed for handlers set later. Exceptions thrown by handlers propagate
 * to whoever delivered the bytes (the stream).
 *
 * @example A refused peer never gets a message through
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountKeys } from "../identity/account_keys.ts";
 * import { DeviceCertificate } from "../identity/device_certificate.ts";
 * import { DeviceKeys } from "../identity/device_keys.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 * import { memoryStreamPair } from "./byte_stream.ts";
 * import { type ChannelCloseReason, SecureChannel } from "./secure_channel.ts";
 *
 * const randomBytes = rngBytes(seededRng(2));
 * const clock = new ManualClock();
 * const account = AccountKeys.generate(randomBytes);
 * const [one, two] = [DeviceKeys.generate(randomBytes), DeviceKeys.generate(randomBytes)];
 * const identity = (device: DeviceKeys) => ({
 *   device,
 *   certificate: DeviceCertificate.issue(account, device, { issuedMs: clock.now() }),
 * });
 * const [a, b] = memoryStreamPair();
 * const initiator = SecureChannel.initiate(a, {
 *   identity: identity(one), clock, randomBytes, authorize: () => true,
 * });
 * const responder = SecureChannel.accept(b, {
 *   identity: identity(two), clock, randomBytes, authorize: () => false,
 * });
 * const closed = new Promise<ChannelCloseReason>((resolve) => initiator.onClose(resolve));
 * initiator.onOpen(() => initiator.send(new Uint8Array([1])));
 * responder.onMessage(() => assert.fail("a refused peer's message was delivered"));
 * assert.equal(await closed, "refused");
 * assert.equal(responder.state, "closed");
 * ```
 */
export class SecureChannel {
  /** True on the side that called {@link SecureChannel.initiate}. */
  readonly initiator: boolean;
  readonly #stream: ByteStream;
  readonly #identity: ChannelIdentity;
  readonly #clock: Clock;
  readonly #authorize: (peer: ChannelPeer) => boolean;
  readonly #expectedDeviceId: InfoHash | undefined;
  readonly #settings: Settings;
  readonly #buffer = new ReceiveBuffer();
  #phase: Phase;
  #peer: ChannelPeer | undefined;
  #onOpen: ((peer: ChannelPeer) => void) | undefined;
  #onMessage: ((bytes: Uint8Array) => void) | undefined;
  #onClose: ((reason: ChannelCloseReason) => void) | undefined;
  // One slot per timer purpose; all cancelled on close.
  #handshakeTimer: Timer | undefined;
  #keepaliveTimer: Timer | undefined;
  #deadTimer: Timer | undefined;
  #lastSentMs: number;
  #lastReceivedMs: number;
  #bytesSent = 0;
  #bytesReceived = 0;
  #messagesSent = 0;
  #messagesReceived = 0;

  private constructor(
    role: Role,
    stream: ByteStream,
    options: SecureChannelOptions,
  ) {
    this.#settings = readSettings(options);
    this.initiator = role === "initiator";
    this.#stream = stream;
    this.#identity = options.identity;
    this.#clock = options.clock;
    this.#authorize = options.authorize;
    this.#expectedDeviceId = options.expectedDeviceId;
    this.#lastSentMs = this.#lastReceivedMs = this.#clock.now();
    const ephemeralSecret = options.randomBytes(32);
    const ownHello = this.initiator
      ? encodeHello("initiator", x25519PublicKey(ephemeralSecret))
      : undefined;
    this.#phase = { kind: "await-hello", ephemeralSecret, ownHello };
    stream.onData((bytes) => this.#receive(bytes));
    stream.onClose(() => this.#finish("stream"));
    this.#handshakeTimer = this.#clock.setTimer(
      this.#settings.handshakeTimeoutMs,
      () => this.#finish("timeout"),
    );
    if (ownHello !== undefined) this.#write(ownHello);
  }

  /**
   * Starts the handshake as the connecting side: sends the hello at once.
   *
   * @param stream A freshly opened stream; the channel takes it over.
   * @param options Identity, clock, randomness, authorization and timings.
   * @returns The channel, in state "handshake".
   * @throws {RangeError} If a timing or `maxMessageBytes` is out of range.
   * @throws {TypeError} If the certificate is not for the identity's device.
   *
   * @example Start a handshake
   * ```ts
   * import assert from "node:assert/strict";
   * import { AccountKeys } from "../identity/account_keys.ts";
   * import { DeviceCertificate } from "../identity/device_certificate.ts";
   * import { DeviceKeys } from "../identity/device_keys.ts";
   * import { ManualClock } from "../testing/manual_clock.ts";
   * import { rngBytes, seededRng } from "../rng.ts";
   * import { memoryStreamPair } from "./byte_stream.ts";
   * import { SecureChannel } from "./secure_channel.ts";
   *
   * const randomBytes = rngBytes(seededRng(3));
   * const clock = new ManualClock();
   * const device = DeviceKeys.generate(randomBytes);
   * const certificate = DeviceCertificate.issue(AccountKeys.generate(randomBytes), device, { issuedMs: 0 });
   * const [stream] = memoryStreamPair();
   * const channel = SecureChannel.initiate(stream, {
   *   identity: { device, certificate }, clock, randomBytes, authorize: () => true,
   * });
   * assert.equal(channel.state, "handshake");
   * assert.equal(channel.stats.bytesSent, 38);
   * clock.advance(5_000);
   * assert.equal(channel.state, "closed");
   * ```
   */
  static initiate(
    stream: ByteStream,
    options: SecureChannelOptions,
  ): SecureChannel {
    return new SecureChannel("initiator", stream, options);
  }

  /**
   * Waits for a handshake as the accepting side.
   *
   * @param stream A freshly accepted stream; the channel takes it over.
   * @param options Identity, clock, randomness, authorization and timings.
   * @returns The channel, in state "handshake".
   * @throws {RangeError} If a timing or `maxMessageBytes` is out of range.
   * @throws {TypeError} If the certificate is not for the identity's device.
   *
   * @example Garbage instead of a hello closes the channel
   * ```ts
   * import assert from "node:assert/strict";
   * import { AccountKeys } from "../identity/account_keys.ts";
   * import { DeviceCertificate } from "../identity/device_certificate.ts";
   * import { DeviceKeys } from "../identity/device_keys.ts";
   * import { ManualClock } from "../testing/manual_clock.ts";
   * import { rngBytes, seededRng } from "../rng.ts";
   * import { memoryStreamPair } from "./byte_stream.ts";
   * import { type ChannelCloseReason, SecureChannel } from "./secure_channel.ts";
   *
   * const randomBytes = rngBytes(seededRng(4));
   * const device = DeviceKeys.generate(randomBytes);
   * const certificate = DeviceCertificate.issue(AccountKeys.generate(randomBytes), device, { issuedMs: 0 });
   * const [client, server] = memoryStreamPair();
   * const channel = SecureChannel.accept(server, {
   *   identity: { device, certificate }, clock: new ManualClock(), randomBytes, authorize: () => true,
   * });
   * const closed = new Promise<ChannelCloseReason>((resolve) => channel.onClose(resolve));
   * client.write(new TextEncoder().encode("GET / HTTP/1.1\r\n"));
   * assert.equal(await closed, "protocol");
   * ```
   */
  static accept(
    stream: ByteStream,
    options: SecureChannelOptions,
  ): SecureChannel {
    return new SecureChannel("responder", stream, options);
  }

  /** "handshake" until the peer is verified and authorized, then "open", then "closed". */
  get state(): ChannelState {
    const kind = this.#phase.kind;
    return kind === "open" || kind === "closed" ? kind : "handshake";
  }

  /** The verified, authorized peer; undefined until open. Kept after close. */
  get peer(): ChannelPeer | undefined {
    return this.#peer;
  }

  /** Why the channel closed; undefined while it is not closed. */
  get closeReason(): ChannelCloseReason | undefined {
    return this.#phase.kind === "closed" ? this.#phase.reason : undefined;
  }

  /** A snapshot of the channel's counters. */
  get stats(): ChannelStats {
    return {
      bytesSent: this.#bytesSent,
      bytesReceived: this.#bytesReceived,
      messagesSent: this.#messagesSent,
      messagesReceived: this.#messagesReceived,
    };
  }

  /**
   * Sets the handler called once when the channel opens, replacing any
   * earlier one.
   *
   * @param handler Called with the verified, authorized peer.
   */
  onOpen(handler: (peer: ChannelPeer) => void): void {
    this.#onOpen = handler;
  }

  /**
   * Sets the handler for application messages, replacing any earlier one.
   * Messages arriving while no handler is set are dropped (and counted).
   *
   * @param handler Called with each message, in order.
   */
  onMessage(handler: (bytes: Uint8Array) => void): void {
    this.#onMessage = handler;
  }

  /**
   * Sets the handler called exactly once when the channel closes, replacing
   * any earlier one.
   *
   * @param handler Called with the reason.
   */
  onClose(handler: (reason: ChannelCloseReason) => void): void {
    this.#onClose = handler;
  }

  /**
   * Sends one application message.
   *
   * @param bytes The message, at most `maxMessageBytes`.
   * @throws {ChannelNotOpenError} If the channel is not open.
   * @throws {RangeError} If the message is longer than `maxMessageBytes`.
   */
  send(bytes: Uint8Array): void {
    const phase = this.#phase;
    if (phase.kind !== "open") throw new ChannelNotOpenError(this.state);
    if (bytes.length > this.#settings.maxMessageBytes) {
      throw new RangeError(
        `Cannot send on secure channel: message of ${bytes.length} bytes exceeds ${this.#settings.maxMessageBytes}`,
      );
    }
    this.#sendFrame(phase.session, FrameType.DATA, bytes);
    this.#messagesSent++;
  }

  /**
   * Closes the channel with reason "local": sends an encrypted close frame
   * once keys are agreed, then closes the stream. Idempotent.
   */
  close(): void {
    this.#finish("local", CloseCode.NORMAL);
  }

  /**
   * Drops the channel without a word, as a crashed process would: no close
   * frame, the stream is not closed, the close handler is not called; every
   * timer is cancelled. Idempotent.
   */
  abandon(): void {
    if (this.#phase.kind === "closed") return;
    this.#onClose = undefined;
    this.#onMessage = undefined;
    this.#phase = { kind: "closed", reason: "local" };
    this.#handshakeTimer?.cancel();
    this.#keepaliveTimer?.cancel();
    this.#deadTimer?.cancel();
    this.#handshakeTimer = this.#keepaliveTimer = this.#deadTimer = undefined;
    this.#buffer.clear();
  }

  #write(bytes: Uint8Array): void {
    this.#bytesSent += bytes.length;
    this.#lastSentMs = this.#clock.now();
    this.#stream.write(bytes);
  }

  #sendFrame(session: SessionKeys, type: number, body: Uint8Array): void {
    this.#write(session.sealer.seal(type, body));
  }

  #receive(bytes: Uint8Array): void {
    if (this.#phase.kind === "closed") return;
    this.#bytesReceived += bytes.length;
    this.#lastReceivedMs = this.#clock.now();
    this.#buffer.push(bytes);
    // Each step consumes bytes or returns false; a handler may close the channel.
    while (!this.#isClosed() && this.#step()) {
      // Keep reading.
    }
  }

  /** Reads one hello or frame if it is all there; false when more bytes are needed. */
  #step(): boolean {
    const phase = this.#phase;
    switch (phase.kind) {
      case "await-hello":
        return this.#readHello(phase);
      case "await-auth":
      case "open":
        return this.#readFrame(phase.session);
      case "closed":
        return false;
    }
  }

  #readHello(phase: Phase & { kind: "await-hello" }): boolean {
    const peerRole: Role = this.initiator ? "responder" : "initiator";
    const header = this.#buffer.peek(
      Math.min(this.#buffer.length, HELLO_HEADER_BYTES),
    );
    if (header === undefined || header.length === 0) return false;
    if (!isHelloHeader(header, peerRole)) return this.#fail("protocol");
    const hello = this.#buffer.take(HELLO_BYTES);
    if (hello === undefined) return false;
    const peerEphemeralKey = decodeHello(hello, peerRole);
    if (peerEphemeralKey === undefined) return this.#fail("protocol");
    const ownHello = phase.ownHello ??
      encodeHello("responder", x25519PublicKey(phase.ephemeralSecret));
    const session = deriveSession({
      role: this.initiator ? "initiator" : "responder",
      ephemeralSecret: phase.ephemeralSecret,
      peerEphemeralKey,
      initiatorHello: this.initiator ? ownHello : hello,
      responderHello: this.initiator ? hello : ownHello,
    });
    if (session === undefined) return this.#fail("protocol");
    this.#phase = { kind: "await-auth", session };
    if (!this.initiator) {
      // The responder shows its identity first; the initiator decides.
      this.#write(ownHello);
      this.#sendAuth(session);
    }
    return true;
  }

  #readFrame(session: SessionKeys): boolean {
    const header = this.#buffer.peek(LENGTH_PREFIX_BYTES);
    if (header === undefined) return false;
    const length = decodeLength(header);
    if (length < MIN_FRAME_BYTES || length > this.#settings.maxFrameBytes) {
      return this.#fail("protocol");
    }
    if (this.#buffer.length < LENGTH_PREFIX_BYTES + length) return false;
    const lengthPrefix = this.#buffer.take(LENGTH_PREFIX_BYTES)!;
    const ciphertext = this.#buffer.take(length)!;
    const plaintext = session.opener.open(lengthPrefix, ciphertext);
    if (plaintext === undefined) return this.#fail("protocol");
    this.#dispatch(session, plaintext[0], plaintext.subarray(1));
    return true;
  }

  #dispatch(session: SessionKeys, type: number, body: Uint8Array): void {
    const open = this.#phase.kind === "open";
    if (type === FrameType.CLOSE && body.length === 1) {
      this.#finish(body[0] === CloseCode.REFUSED ? "refused" : "remote");
    } else if (type === FrameType.AUTH && !open) {
      this.#onAuth(session, body);
    } else if (type === FrameType.DATA && open) {
      this.#deliver(body);
    } else if (type === FrameType.PING && open && body.length === 0) {
      this.#sendFrame(session, FrameType.PONG, body);
    } else if (type === FrameType.PONG && open && body.length === 0) {
      // Receiving it already reset the dead timer.
    } else {
      this.#fail("protocol");
    }
  }

  #deliver(body: Uint8Array): void {
    if (body.length > this.#settings.maxMessageBytes) {
      this.#fail("protocol");
      return;
    }
    this.#messagesReceived++;
    this.#onMessage?.(body);
  }

  #sendAuth(session: SessionKeys): void {
    const role: Role = this.initiator ? "initiator" : "responder";
    const signature = this.#identity.device.sign(
      authMessage(role, session.transcriptHash),
    );
    const body = encodeAuthBody({
      certificate: this.#identity.certificate.bytes,
      signature,
    });
    this.#sendFrame(session, FrameType.AUTH, body);
  }

  #onAuth(session: SessionKeys, body: Uint8Array): void {
    const outcome = this.#checkAuth(session, body);
    if (outcome.kind === "malformed") {
      this.#fail("protocol");
      return;
    }
    if (outcome.kind === "refused") {
      this.#finish("refused", CloseCode.REFUSED);
      return;
    }
    let allowed = false;
    try {
      allowed = this.#authorize(outcome.peer) === true;
    } finally {
      if (!allowed) this.#finish("refused", CloseCode.REFUSED);
    }
    if (!allowed || this.#isClosed()) return;
    if (this.initiator) this.#sendAuth(session);
    this.#open(session, outcome.peer);
  }

  #checkAuth(session: SessionKeys, body: Uint8Array): AuthOutcome {
    const auth = decodeAuthBody(body);
    if (auth === undefined) return { kind: "malformed" };
    let certificate: DeviceCertificate;
    try {
      certificate = DeviceCertificate.decode(auth.certificate);
      certificate.verify({ nowMs: this.#clock.now() });
    } catch {
      // Undecodable, forged, expired or not yet valid: not a peer we can trust.
      return { kind: "refused" };
    }
    const peerRole: Role = this.initiator ? "responder" : "initiator";
    const signed = ed25519Verify(
      auth.signature,
      authMessage(peerRole, session.transcriptHash),
      certificate.devicePublicKey,
    );
    const expected = this.#expectedDeviceId;
    if (
      !signed ||
      (expected !== undefined && !expected.equals(certificate.deviceId))
    ) {
      return { kind: "refused" };
    }
    return {
      kind: "accepted",
      peer: {
        accountId: certificate.accountId,
        deviceId: certificate.deviceId,
        certificate,
      },
    };
  }

  #open(session: SessionKeys, peer: ChannelPeer): void {
    this.#phase = { kind: "open", session, peer };
    this.#peer = peer;
    this.#handshakeTimer?.cancel();
    this.#handshakeTimer = undefined;
    if (this.initiator) this.#armKeepalive();
    this.#armDead();
    this.#onOpen?.(peer);
  }

  /** Fires `keepaliveMs` after the last send; re-arms itself lazily. */
  #armKeepalive(): void {
    const dueMs = this.#lastSentMs + this.#settings.keepaliveMs;
    this.#keepaliveTimer = this.#clock.setTimer(
      dueMs - this.#clock.now(),
      () => {
        const phase = this.#phase;
        if (phase.kind !== "open") return;
        const idleMs = this.#clock.now() - this.#lastSentMs;
        if (idleMs >= this.#settings.keepaliveMs) {
          this.#sendFrame(phase.session, FrameType.PING, new Uint8Array(0));
        }
        this.#armKeepalive();
      },
    );
  }

  /** Fires `deadAfterMs` after the last receipt; re-arms itself lazily. */
  #armDead(): void {
    const dueMs = this.#lastReceivedMs + this.#settings.deadAfterMs;
    this.#deadTimer = this.#clock.setTimer(dueMs - this.#clock.now(), () => {
      if (this.#phase.kind !== "open") return;
      const silentMs = this.#clock.now() - this.#lastReceivedMs;
      if (silentMs >= this.#settings.deadAfterMs) this.#finish("timeout");
      else this.#armDead();
    });
  }

  /** A method, not a property test, so that type narrowing does not survive handler calls. */
  #isClosed(): boolean {
    return this.#phase.kind === "closed";
  }

  /** Closes for a protocol error; returns false so a read loop stops. */
  #fail(reason: "protocol"): false {
    this.#finish(reason);
    return false;
  }

  /**
   * The one way to "closed": tells the peer with a close frame when keys are
   * agreed and `code` is given, cancels every timer, closes the stream and
   * calls the close handler, once.
   */
  #finish(reason: ChannelCloseReason, code?: number): void {
    const phase = this.#phase;
    if (phase.kind === "closed") return;
    if (code !== undefined && phase.kind !== "await-hello") {
      this.#sendFrame(phase.session, FrameType.CLOSE, new Uint8Array([code]));
    }
    this.#phase = { kind: "closed", reason };
    this.#handshakeTimer?.cancel();
    this.#keepaliveTimer?.cancel();
    this.#deadTimer?.cancel();
    this.#handshakeTimer = this.#keepaliveTimer = this.#deadTimer = undefined;
    this.#buffer.clear();
    this.#stream.close();
    this.#onClose?.(reason);
  }
}
