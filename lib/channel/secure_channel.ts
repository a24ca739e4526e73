/**
 * `SecureChannel`: a mutually authenticated, encrypted, framed message
 * channel between two devices over a {@link ByteStream}. It is a small state
 * machine, "handshake" → "open" → "closed", driven by the bytes that arrive
 * and by timers on the injected {@link Clock}; it never reads the time or
 * draws randomness by itself.
 *
 * ## Protocol (version 2)
 *
 * The initiator dials a device it knows: it has the responder's certificate
 * (from the DHT), so it knows the responder's static X25519 key `S`. The
 * initiator proves itself first; the responder does no signature, no key
 * generation and sends not one byte before the initiator has authenticated
 * and been authorized, so a stranger learns nothing of who listens at an
 * address, and a silent or garbage connection costs the responder nothing.
 *
 * 1. The initiator sends its hello (54 bytes, unframed): `"DCSC"`, version
 *    `2`, kind `1`, a fresh ephemeral X25519 key `e₁`, and a 16-byte
 *    HMAC-SHA-256 of those 38 bytes keyed by `SHA-256("dcsc/2 hello mac" ‖ S)`.
 *    The responder checks the header as it arrives and the MAC (one hash)
 *    before any curve operation; a version-1 hello is refused unanswered.
 * 2. Right after its hello, the initiator sends its auth frame under the
 *    *early* keys: HKDF-SHA-256 over `es = X25519(e₁, S)`, salt
 *    `h₁ = SHA-256("dcsc/2 initiator" ‖ hello₁ ‖ S)`, one info label per
 *    direction (`"dcsc/2 early key initiator to responder"`, `… responder to
 *    initiator`). Only the dialled device can read the initiator's
 *    certificate. Its signature covers `"dcsc/2 auth initiator" ‖ h₁`: its
 *    ephemeral key and whom it dialled.
 * 3. The responder checks that auth frame (below) and asks `authorize`. If
 *    it refuses, it sends a close frame (`refused`) under the early keys and
 *    closes. If it accepts, it draws its ephemeral key `e₂` and sends its
 *    hello (38 bytes: `"DCSC"`, `2`, kind `2`, `e₂`), then its auth frame
 *    under the session keys: HKDF-SHA-256 over `ee ‖ es` (`ee = X25519(e₁,
 *    e₂)`, which makes them forward secret), salt
 *    `h₂ = SHA-256("dcsc/2 transcript" ‖ h₁ ‖ hello₂)`, info
 *    `"dcsc/2 key initiator to responder"` or `… responder to initiator`;
 *    its signature covers `"dcsc/2 auth responder" ‖ h₂`.
 *    Right after them it may send data frames under the session keys
 *    ({@link SecureChannel.onAccepted}, "half-round-trip data"): only the
 *    holder of `e₁`, the initiator it has just authenticated and
 *    authorized, can read them, so a replayed first flight learns nothing.
 * 4. The initiator checks the responder's auth frame, and that it comes
 *    from the device and static key it dialled; if it accepts, it sends a
 *    confirm frame (empty) and opens (data frames that follow the auth
 *    frame are then delivered); else a close frame (`refused`). The
 *    responder opens on the confirm frame: it proves the initiator holds
 *    `e₁`, so a recorded first flight replayed by someone else never opens.
 * 5. Every frame is a 4-byte big-endian length, then the AES-GCM ciphertext
 *    (the length prefix is the associated data). The nonce is a
 *    per-direction, per-key frame counter (4 zero bytes, 8-byte big-endian
 *    counter). The plaintext starts with a type byte: `1` auth, `2` data,
 *    `3` ping, `4` pong, `5` close (+ code byte: `0` normal, `1` refused),
 *    `6` confirm. Until the channel is open, a frame may hold at most one
 *    auth frame's worth of bytes.
 * 6. An auth frame holds the device certificate (2-byte length, bytes) and
 *    the Ed25519 signature by the device key. Its receiver checks that the
 *    certificate decodes, asks `screen` (when given) about the account it
 *    claims before any signature is checked, then that the certificate
 *    verifies at `clock.now()` (signed by its account, within its
 *    validity), that its device key made the signature, that it is the
 *    `expectedPeer` when given, and finally asks `authorize`. Any failure closes the channel "refused" and tells the
 *    peer with a close frame.
 *
 * Hostile bytes never throw: a wrong hello or MAC, a length prefix over the
 * maximum, a frame that fails to decrypt or comes out of turn closes the
 * channel "protocol"; what stays buffered is always less than one frame. A
 * handshake still unfinished after `handshakeTimeoutMs` closes "timeout",
 * and so does an open channel that received nothing for `deadAfterMs`; the
 * initiator sends a ping whenever it sent nothing for `keepaliveMs`, and the
 * responder answers with a pong (only one side pings: if both did, their
 * pings would fall in step and double the idle traffic).
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
 *   expectedPeer: bob.certificate,
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
import { x25519PublicKey, x25519Shared } from "../crypto.ts";
import type { RandomBytes } from "../rng.ts";
import type { ByteStream } from "./byte_stream.ts";
import { ReceiveBuffer } from "./_receive_buffer.ts";
import { authFrame, checkAuth } from "./_secure_channel_auth.ts";
import { readSettings, type Settings } from "./_secure_channel_settings.ts";
import {
  CloseCode,
  decodeInitiatorHello,
  decodeLength,
  decodeResponderHello,
  deriveEarly,
  deriveSession,
  encodeInitiatorHello,
  encodeResponderHello,
  FrameType,
  HELLO_HEADER_BYTES,
  helloBytes,
  helloMacKey,
  isHelloHeader,
  LENGTH_PREFIX_BYTES,
  MAGIC,
  MAX_HANDSHAKE_FRAME_BYTES,
  MIN_FRAME_BYTES,
  type Role,
  type SessionKeys,
} from "./_secure_channel_wire.ts";
import type {
  ChannelIdentity,
  ChannelPeer,
  SecureChannelOptions,
} from "./secure_channel_options.ts";
import {
  type ChannelCloseReason,
  ChannelNotOpenError,
  type ChannelState,
  type ChannelStats,
} from "./secure_channel_status.ts";

/** The body of a ping (sealed, never kept). */
const EMPTY = new Uint8Array(0);

export {
  type ChannelIdentity,
  type ChannelPeer,
  DEFAULT_DEAD_AFTER_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_KEEPALIVE_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
  MAX_MESSAGE_BYTES_LIMIT,
  type SecureChannelOptions,
} from "./secure_channel_options.ts";
export {
  type ChannelCloseReason,
  ChannelNotOpenError,
  type ChannelState,
  type ChannelStats,
} from "./secure_channel_status.ts";

/** Internal states; the public {@link ChannelState} folds the first three into "handshake". */
type Phase =
  /**
   * The initiator sent its hello and auth frame and waits for the
   * responder's hello (or its refusal under the early keys); the responder
   * waits for the initiator's hello.
   */
  | {
    readonly kind: "await-hello";
    readonly initiator?: {
      readonly ephemeralSecret: Uint8Array;
      readonly staticShared: Uint8Array;
      readonly early: SessionKeys;
    };
  }
  /**
   * Keys for the peer's auth frame: the early keys on the responder, the
   * session keys on the initiator.
   */
  | { readonly kind: "await-auth"; readonly keys: SessionKeys }
  /** The responder accepted the initiator and waits for its confirm frame. */
  | {
    readonly kind: "await-confirm";
    readonly session: SessionKeys;
    readonly peer: ChannelPeer;
  }
  | {
    readonly kind: "open";
    readonly session: SessionKeys;
    readonly peer: ChannelPeer;
  }
  | { readonly kind: "closed"; readonly reason: ChannelCloseReason };

/** The early secret and transcript the responder keeps for deriving the session. */
interface EarlyState {
  readonly staticShared: Uint8Array;
  readonly transcriptHash: Uint8Array;
}

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
 * const bob = identity(two);
 * const initiator = SecureChannel.initiate(a, {
 *   identity: identity(one), clock, randomBytes, authorize: () => true,
 *   expectedPeer: bob.certificate,
 * });
 * const responder = SecureChannel.accept(b, {
 *   identity: bob, clock, randomBytes, authorize: () => false,
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
  readonly #screen: ((claimed: ChannelPeer) => boolean) | undefined;
  readonly #expectedPeer: SecureChannelOptions["expectedPeer"];
  readonly #randomBytes: RandomBytes;
  /** The responder's MAC key for initiator hellos. */
  readonly #helloMacKey: Uint8Array | undefined;
  /** On the responder, between the initiator's hello and its auth frame. */
  #early: EarlyState | undefined;
  /** On the responder, the initiator's ephemeral key until the answer. */
  #ephemeralPeerKey: Uint8Array | undefined;
  readonly #settings: Settings;
  readonly #buffer = new ReceiveBuffer();
  #phase: Phase;
  #peer: ChannelPeer | undefined;
  #onOpen: ((peer: ChannelPeer) => void) | undefined;
  #onAccepted: ((peer: ChannelPeer) => void) | undefined;
  #onMessage: ((bytes: Uint8Array) => void) | undefined;
  #onClose: ((reason: ChannelCloseReason) => void) | undefined;
  // One slot per timer purpose; all cancelled on close.
  #handshakeTimer: Timer | undefined;
  #keepaliveTimer: Timer | undefined;
  #deadTimer: Timer | undefined;
  /** `#lastSentMs` when the keepalive timer was armed (one is armed at a time). */
  #keepaliveArmedForMs = 0;
  /** `#lastReceivedMs` when the dead timer was armed. */
  #deadArmedForMs = 0;
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
    this.#screen = options.screen;
    this.#expectedPeer = options.expectedPeer;
    this.#randomBytes = options.randomBytes;
    this.#lastSentMs = this.#lastReceivedMs = this.#clock.now();
    let firstFlight: Uint8Array[] = [];
    if (this.initiator) {
      const peer = options.expectedPeer;
      if (peer === undefined) {
        throw new TypeError(
          "Cannot initiate secure channel: expectedPeer is required",
        );
      }
      const ephemeralSecret = options.randomBytes(32);
      const hello = encodeInitiatorHello(
        x25519PublicKey(ephemeralSecret),
        peer.encryptionKey,
      );
      const staticShared = x25519Shared(ephemeralSecret, peer.encryptionKey);
      const early = deriveEarly({
        role: "initiator",
        staticShared,
        initiatorHello: hello,
        responderStaticKey: peer.encryptionKey,
      });
      if (staticShared === undefined || early === undefined) {
        throw new TypeError(
          "Cannot initiate secure channel: the peer's encryption key is not a valid X25519 key",
        );
      }
      this.#phase = {
        kind: "await-hello",
        initiator: { ephemeralSecret, staticShared, early },
      };
      firstFlight = [hello, authFrame(this.#identity, early, "initiator")];
    } else {
      this.#helloMacKey = helloMacKey(options.identity.device.encryptionKey);
      this.#phase = { kind: "await-hello" };
    }
    stream.onData((bytes) => this.#receive(bytes));
    stream.onClose(() => this.#finish("stream"));
    this.#handshakeTimer = this.#clock.setTimer(
      this.#settings.handshakeTimeoutMs,
      () => this.#finish("timeout"),
    );
    for (const bytes of firstFlight) this.#write(bytes);
  }

  /**
   * Starts the handshake as the connecting side: sends the hello and the
   * auth frame (sealed to `expectedPeer`'s static key) at once.
   *
   * @param stream A freshly opened stream; the channel takes it over.
   * @param options Identity, clock, randomness, authorization and timings.
   * @returns The channel, in state "handshake".
   * @throws {RangeError} If a timing or `maxMessageBytes` is out of range.
   * @throws {TypeError} If the certificate is not for the identity's device,
   *   or `expectedPeer` is missing or has an invalid encryption key.
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
   * const issue = () => {
   *   const device = DeviceKeys.generate(randomBytes);
   *   const account = AccountKeys.generate(randomBytes);
   *   return { device, certificate: DeviceCertificate.issue(account, device, { issuedMs: 0 }) };
   * };
   * const alice = issue();
   * const bob = issue();
   * const [stream] = memoryStreamPair();
   * const channel = SecureChannel.initiate(stream, {
   *   identity: alice, clock, randomBytes, authorize: () => true,
   *   expectedPeer: bob.certificate,
   * });
   * assert.equal(channel.state, "handshake");
   * // The 54-byte hello, then the auth frame sealed to Bob's static key:
   * // length prefix, type, certificate length, certificate, signature, tag.
   * const authFrameBytes = 4 + 1 + 2 + alice.certificate.bytes.length + 64 + 16;
   * assert.equal(channel.stats.bytesSent, 54 + authFrameBytes);
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
   * Responder only: sets the handler called once the initiator is
   * authenticated and authorized and the answer is on its way, before the
   * confirm frame, replacing any earlier one. From then on {@link send}
   * works: what it sends follows the answer, half a round trip before the
   * channel could otherwise send, and only the initiator can read it. The
   * channel is not open yet (the initiator has not proven it holds its
   * ephemeral key), so nothing should treat the peer as connected until
   * {@link onOpen}; and if no confirm comes, the channel closes.
   *
   * @param handler Called with the authenticated, authorized initiator.
   */
  onAccepted(handler: (peer: ChannelPeer) => void): void {
    this.#onAccepted = handler;
  }

  /** Whether {@link send} works now: open, or a responder that has accepted. */
  get canSend(): boolean {
    const kind = this.#phase.kind;
    return kind === "open" || kind === "await-confirm";
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
   * @throws {ChannelNotOpenError} If the channel is not open (nor a
   *   responder that has accepted: {@link canSend}).
   * @throws {RangeError} If the message is longer than `maxMessageBytes`.
   */
  send(bytes: Uint8Array): void {
    const phase = this.#phase;
    if (phase.kind !== "open" && phase.kind !== "await-confirm") {
      throw new ChannelNotOpenError(this.state);
    }
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
        if (phase.initiator === undefined) return this.#readInitiatorHello();
        // The responder answers with its hello, or refuses under the early keys.
        if (this.#buffer.length === 0) return false;
        if (this.#buffer.peek(1)![0] !== MAGIC[0]) {
          return this.#readFrame(phase.initiator.early);
        }
        return this.#readResponderHello(phase.initiator);
      case "await-auth":
        return this.#readFrame(phase.keys);
      case "await-confirm":
      case "open":
        return this.#readFrame(phase.session);
      case "closed":
        return false;
    }
  }

  /**
   * Whether the buffered bytes may start a hello from `role`: false when
   * none are buffered yet, or (after closing "protocol") when they cannot.
   */
  #checkHeader(role: Role): boolean {
    const header = this.#buffer.peek(
      Math.min(this.#buffer.length, HELLO_HEADER_BYTES),
    );
    if (header === undefined || header.length === 0) return false;
    if (!isHelloHeader(header, role)) return this.#fail("protocol");
    return true;
  }

  /**
   * The responder's first step: header, then the MAC (one hash), then one
   * X25519 to derive the early keys. Nothing is sent.
   */
  #readInitiatorHello(): boolean {
    if (!this.#checkHeader("initiator")) return false;
    const hello = this.#buffer.take(helloBytes("initiator"));
    if (hello === undefined) return false;
    const peerEphemeralKey = decodeInitiatorHello(hello, this.#helloMacKey!);
    if (peerEphemeralKey === undefined) return this.#fail("protocol");
    const staticKey = this.#identity.device.encryptionKey;
    const staticShared = this.#identity.device.agree(peerEphemeralKey);
    const early = deriveEarly({
      role: "responder",
      staticShared,
      initiatorHello: hello,
      responderStaticKey: staticKey,
    });
    if (staticShared === undefined || early === undefined) {
      return this.#fail("protocol");
    }
    this.#early = { staticShared, transcriptHash: early.transcriptHash };
    this.#ephemeralPeerKey = peerEphemeralKey;
    this.#phase = { kind: "await-auth", keys: early };
    return true;
  }

  /** The initiator reads the responder's hello and derives the session keys. */
  #readResponderHello(
    own: NonNullable<(Phase & { kind: "await-hello" })["initiator"]>,
  ): boolean {
    if (!this.#checkHeader("responder")) return false;
    const hello = this.#buffer.take(helloBytes("responder"));
    if (hello === undefined) return false;
    const peerEphemeralKey = decodeResponderHello(hello);
    if (peerEphemeralKey === undefined) return this.#fail("protocol");
    const session = deriveSession({
      role: "initiator",
      ephemeralShared: x25519Shared(own.ephemeralSecret, peerEphemeralKey),
      earlyTranscriptHash: own.early.transcriptHash,
      staticShared: own.staticShared,
      responderHello: hello,
    });
    if (session === undefined) return this.#fail("protocol");
    this.#phase = { kind: "await-auth", keys: session };
    return true;
  }

  #readFrame(keys: SessionKeys): boolean {
    const header = this.#buffer.peek(LENGTH_PREFIX_BYTES);
    if (header === undefined) return false;
    const length = decodeLength(header);
    const maxBytes = this.#phase.kind === "open"
      ? this.#settings.maxFrameBytes
      : MAX_HANDSHAKE_FRAME_BYTES;
    if (length < MIN_FRAME_BYTES || length > maxBytes) {
      return this.#fail("protocol");
    }
    if (this.#buffer.length < LENGTH_PREFIX_BYTES + length) return false;
    const lengthPrefix = this.#buffer.take(LENGTH_PREFIX_BYTES)!;
    const ciphertext = this.#buffer.take(length)!;
    const plaintext = keys.opener.open(lengthPrefix, ciphertext);
    if (plaintext === undefined) return this.#fail("protocol");
    this.#dispatch(plaintext[0], plaintext.subarray(1));
    return true;
  }

  #dispatch(type: number, body: Uint8Array): void {
    const phase = this.#phase;
    if (type === FrameType.CLOSE && body.length === 1) {
      this.#finish(body[0] === CloseCode.REFUSED ? "refused" : "remote");
    } else if (type === FrameType.AUTH && phase.kind === "await-auth") {
      // A copy, as for data: the peer's certificate may be kept.
      this.#onAuth(phase.keys, body.slice());
    } else if (
      type === FrameType.CONFIRM && phase.kind === "await-confirm" &&
      body.length === 0
    ) {
      this.#open(phase.session, phase.peer);
    } else if (type === FrameType.DATA && phase.kind === "open") {
      this.#deliver(body);
    } else if (
      type === FrameType.PING && phase.kind === "open" && body.length === 0
    ) {
      this.#sendFrame(phase.session, FrameType.PONG, body);
    } else if (
      type === FrameType.PONG && phase.kind === "open" && body.length === 0
    ) {
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
    // A copy of its own: the body was decrypted in the received bytes,
    // which may be a view of a larger buffer.
    this.#onMessage?.(body.slice());
  }

  #onAuth(keys: SessionKeys, body: Uint8Array): void {
    const outcome = checkAuth(body, {
      transcriptHash: keys.transcriptHash,
      peerRole: this.initiator ? "responder" : "initiator",
      clock: this.#clock,
      screen: this.#screen,
      expectedPeer: this.initiator ? this.#expectedPeer : undefined,
    });
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
    if (this.initiator) {
      this.#sendFrame(keys, FrameType.CONFIRM, new Uint8Array(0));
      this.#open(keys, outcome.peer);
    } else {
      this.#answer(outcome.peer);
    }
  }

  /**
   * The responder, having accepted the initiator: its ephemeral key, hello
   * and auth frame, and then it waits for the confirm frame.
   */
  #answer(peer: ChannelPeer): void {
    const early = this.#early!;
    const peerEphemeralKey = this.#ephemeralPeerKey!;
    this.#early = undefined;
    this.#ephemeralPeerKey = undefined;
    const ephemeralSecret = this.#randomBytes(32);
    const hello = encodeResponderHello(x25519PublicKey(ephemeralSecret));
    const session = deriveSession({
      role: "responder",
      ephemeralShared: x25519Shared(ephemeralSecret, peerEphemeralKey),
      earlyTranscriptHash: early.transcriptHash,
      staticShared: early.staticShared,
      responderHello: hello,
    });
    if (session === undefined) {
      // The initiator's ephemeral key passed the early agreement, so this
      // cannot happen; close rather than trust it.
      this.#fail("protocol");
      return;
    }
    this.#phase = { kind: "await-confirm", session, peer };
    this.#write(hello);
    this.#write(authFrame(this.#identity, session, "responder"));
    this.#onAccepted?.(peer);
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

  /**
   * Fires `keepaliveMs` after the last send; re-arms itself lazily. Whether
   * anything was sent meanwhile is read from `#lastSentMs` itself, not from
   * `now - #lastSentMs >= keepaliveMs`: with fractional times (simulated
   * latencies) that difference can round to just below `keepaliveMs`, and
   * the timer then re-armed itself at zero delay forever.
   */
  #armKeepalive(): void {
    this.#keepaliveArmedForMs = this.#lastSentMs;
    const dueMs = this.#keepaliveArmedForMs + this.#settings.keepaliveMs;
    this.#keepaliveTimer = this.#clock.setTimer(
      dueMs - this.#clock.now(),
      this.#onKeepaliveDue,
    );
  }

  // The timers' callbacks are made once per channel, not per arming: a timer
  // lives seconds, so whatever it holds outlives a young-generation GC.
  readonly #onKeepaliveDue = (): void => {
    const phase = this.#phase;
    if (phase.kind !== "open") return;
    if (this.#lastSentMs === this.#keepaliveArmedForMs) {
      this.#sendFrame(phase.session, FrameType.PING, EMPTY);
    }
    this.#armKeepalive();
  };

  /** Fires `deadAfterMs` after the last receipt; re-arms itself lazily (see {@link #armKeepalive}). */
  #armDead(): void {
    this.#deadArmedForMs = this.#lastReceivedMs;
    const dueMs = this.#deadArmedForMs + this.#settings.deadAfterMs;
    this.#deadTimer = this.#clock.setTimer(
      dueMs - this.#clock.now(),
      this.#onDeadDue,
    );
  }

  readonly #onDeadDue = (): void => {
    if (this.#phase.kind !== "open") return;
    if (this.#lastReceivedMs === this.#deadArmedForMs) this.#finish("timeout");
    else this.#armDead();
  };

  /** The keys this side seals with now, if any were agreed. */
  #sendingKeys(): SessionKeys | undefined {
    const phase = this.#phase;
    switch (phase.kind) {
      case "await-hello":
        return phase.initiator?.early;
      case "await-auth":
        // The responder still answers under the early keys.
        return phase.keys;
      case "await-confirm":
      case "open":
        return phase.session;
      case "closed":
        return undefined;
    }
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
    const keys = this.#sendingKeys();
    if (code !== undefined && keys !== undefined) {
      this.#sendFrame(keys, FrameType.CLOSE, new Uint8Array([code]));
    }
    this.#early = undefined;
    this.#ephemeralPeerKey = undefined;
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
