/**
 * SecureChannel: the handshake, the frames and the timers, driven over
 * in-memory streams in virtual time (ManualClock), with hostile peers played
 * byte by byte through the private wire helpers. One test runs the channel
 * over real TCP on loopback with the system clock.
 */
import assert from "node:assert/strict";
import {
  type ByteStream,
  memoryStreamPair,
  type StreamCloseReason,
} from "../lib/channel/byte_stream.ts";
import {
  type ChannelCloseReason,
  type ChannelIdentity,
  ChannelNotOpenError,
  type ChannelPeer,
  DEFAULT_DEAD_AFTER_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_KEEPALIVE_MS,
  SecureChannel,
  type SecureChannelOptions,
} from "../lib/channel/secure_channel.ts";
import { ReceiveBuffer } from "../lib/channel/_receive_buffer.ts";
import {
  authMessage,
  CloseCode,
  decodeAuthBody,
  decodeInitiatorHello,
  decodeLength,
  decodeResponderHello,
  deriveEarly,
  deriveSession,
  encodeAuthBody,
  encodeInitiatorHello,
  encodeLength,
  encodeResponderHello,
  FrameType,
  helloMacKey,
  INITIATOR_HELLO_BYTES,
  LENGTH_PREFIX_BYTES,
  RESPONDER_HELLO_BYTES,
  type SessionKeys,
} from "../lib/channel/_secure_channel_wire.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { x25519PublicKey, x25519Shared } from "../lib/crypto.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { type RandomBytes, rngBytes, seededRng } from "../lib/rng.ts";
import { systemClock } from "../lib/io/system_clock.ts";
import { TcpStreamNetwork } from "../lib/io/tcp_stream_network.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Party {
  readonly account: AccountKeys;
  readonly device: DeviceKeys;
  readonly certificate: DeviceCertificate;
  readonly identity: ChannelIdentity;
}

function party(
  randomBytes: RandomBytes,
  issuedMs: number,
  account: AccountKeys = AccountKeys.generate(randomBytes),
): Party {
  const device = DeviceKeys.generate(randomBytes);
  const certificate = DeviceCertificate.issue(account, device, { issuedMs });
  return { account, device, certificate, identity: { device, certificate } };
}

/** Lets every queued microtask run: memory streams deliver on microtasks. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Advances virtual time in steps, letting bytes flow after each one. */
async function advance(
  clock: ManualClock,
  totalMs: number,
  stepMs = 100,
): Promise<void> {
  for (let elapsedMs = 0; elapsedMs < totalMs; elapsedMs += stepMs) {
    clock.advance(Math.min(stepMs, totalMs - elapsedMs));
    await settle();
  }
}

/** Everything one channel reported, with the virtual time of its close. */
interface Observed {
  readonly opened: ChannelPeer[];
  readonly messages: string[];
  readonly closes: ChannelCloseReason[];
  closedAtMs: number | undefined;
}

function observe(channel: SecureChannel, clock: ManualClock): Observed {
  const observed: Observed = {
    opened: [],
    messages: [],
    closes: [],
    closedAtMs: undefined,
  };
  channel.onOpen((peer) => observed.opened.push(peer));
  channel.onMessage((bytes) => observed.messages.push(decoder.decode(bytes)));
  channel.onClose((reason) => {
    observed.closes.push(reason);
    observed.closedAtMs = clock.now();
  });
  return observed;
}

/**
 * A stream wrapper between a channel and its memory stream: it records what
 * the channel writes, can rewrite or drop it, and can inject bytes as if
 * they came from the peer. A muted tap also keeps its close to itself, like
 * a link that went dead.
 */
class Tap implements ByteStream {
  readonly remote: ByteStream["remote"];
  readonly written: Uint8Array[] = [];
  muted = false;
  rewrite: ((bytes: Uint8Array) => Uint8Array) | undefined;
  readonly #inner: ByteStream;
  #onData: ((bytes: Uint8Array) => void) | undefined;
  #onClose: ((reason: StreamCloseReason) => void) | undefined;

  constructor(inner: ByteStream) {
    this.#inner = inner;
    this.remote = inner.remote;
    inner.onData((bytes) => {
      if (!this.muted) this.#onData?.(bytes);
    });
    inner.onClose((reason) => this.#onClose?.(reason));
  }

  write(bytes: Uint8Array): void {
    this.written.push(bytes.slice());
    if (this.muted) return;
    this.#inner.write(this.rewrite === undefined ? bytes : this.rewrite(bytes));
  }

  onData(handler: (bytes: Uint8Array) => void): void {
    this.#onData = handler;
  }

  onClose(handler: (reason: StreamCloseReason) => void): void {
    this.#onClose = handler;
  }

  close(): void {
    if (this.muted) this.#onClose?.("local");
    else this.#inner.close();
  }

  inject(bytes: Uint8Array): void {
    this.#onData?.(bytes);
  }
}

/** One clock, one seeded source of randomness, and Alice and Bob on separate accounts. */
function setup(seed: number, startMs?: number) {
  const clock = new ManualClock(startMs);
  const randomBytes = rngBytes(seededRng(seed));
  const alice = party(randomBytes, clock.now());
  const bob = party(randomBytes, clock.now());
  const mallory = party(randomBytes, clock.now());
  function options(
    self: Party,
    extra: Partial<SecureChannelOptions> = {},
  ): SecureChannelOptions {
    return {
      identity: self.identity,
      clock,
      randomBytes,
      authorize: () => true,
      ...extra,
    };
  }
  return { clock, randomBytes, alice, bob, mallory, options };
}

/** Alice initiates to Bob over two taps; both channels observed. */
function connect(
  context: ReturnType<typeof setup>,
  aliceExtra: Partial<SecureChannelOptions> = {},
  bobExtra: Partial<SecureChannelOptions> = {},
) {
  const { clock, alice, bob, options } = context;
  const [aliceEnd, bobEnd] = memoryStreamPair();
  const aliceTap = new Tap(aliceEnd);
  const bobTap = new Tap(bobEnd);
  const toBob = SecureChannel.initiate(
    aliceTap,
    options(alice, { expectedPeer: bob.certificate, ...aliceExtra }),
  );
  const toAlice = SecureChannel.accept(bobTap, options(bob, bobExtra));
  return {
    aliceTap,
    bobTap,
    toBob,
    toAlice,
    atAlice: observe(toBob, clock),
    atBob: observe(toAlice, clock),
  };
}

/**
 * A hand-played peer on the raw end of a memory stream: it reads hellos and
 * frames and writes whatever the test wants, using the channel's own codec.
 */
class RawPeer {
  readonly stream: ByteStream;
  readonly buffer: ReceiveBuffer = new ReceiveBuffer();
  closedWith: StreamCloseReason | undefined;

  constructor(stream: ByteStream) {
    this.stream = stream;
    stream.onData((bytes) => this.buffer.push(bytes.slice()));
    stream.onClose((reason) => this.closedWith = reason);
  }

  /** The initiator's hello, checked against the MAC key of `responder`. */
  takeInitiatorHello(
    responder: Party,
  ): { hello: Uint8Array; key: Uint8Array } {
    const hello = this.buffer.take(INITIATOR_HELLO_BYTES);
    assert.ok(hello !== undefined, "no hello buffered");
    const key = decodeInitiatorHello(
      hello,
      helloMacKey(responder.device.encryptionKey),
    );
    assert.ok(key !== undefined, "not a hello");
    return { hello, key };
  }

  takeResponderHello(): { hello: Uint8Array; key: Uint8Array } {
    const hello = this.buffer.take(RESPONDER_HELLO_BYTES);
    assert.ok(hello !== undefined, "no hello buffered");
    const key = decodeResponderHello(hello);
    assert.ok(key !== undefined, "not a hello");
    return { hello, key };
  }

  takeFrame(): { header: Uint8Array; ciphertext: Uint8Array } {
    const header = this.buffer.take(LENGTH_PREFIX_BYTES);
    assert.ok(header !== undefined, "no frame buffered");
    const ciphertext = this.buffer.take(decodeLength(header));
    assert.ok(ciphertext !== undefined, "frame incomplete");
    return { header, ciphertext };
  }

  openFrame(session: SessionKeys): { type: number; body: Uint8Array } {
    const { header, ciphertext } = this.takeFrame();
    const plaintext = session.opener.open(header, ciphertext);
    assert.ok(plaintext !== undefined, "frame does not decrypt");
    return { type: plaintext[0], body: plaintext.subarray(1) };
  }
}

/**
 * The raw peer starts a handshake as initiator towards `responder`: it
 * writes its hello and returns the early keys (its auth frame is the test's
 * to write).
 */
function rawHello(raw: RawPeer, randomBytes: RandomBytes, responder: Party) {
  const secret = randomBytes(32);
  const staticKey = responder.device.encryptionKey;
  const hello = encodeInitiatorHello(x25519PublicKey(secret), staticKey);
  const staticShared = x25519Shared(secret, staticKey)!;
  const early = deriveEarly({
    role: "initiator",
    staticShared,
    initiatorHello: hello,
    responderStaticKey: staticKey,
  })!;
  raw.stream.write(hello);
  return { secret, staticShared, early };
}

/**
 * A whole handshake played by the raw peer as `initiator` towards
 * `responder`: hello, valid auth, the responder's answer, and the confirm
 * frame unless `confirm` is false. Returns the session keys.
 */
async function rawHandshake(
  raw: RawPeer,
  randomBytes: RandomBytes,
  initiator: Party,
  responder: Party,
  confirm = true,
): Promise<{ session: SessionKeys; responderAuth: Uint8Array }> {
  const { secret, staticShared, early } = rawHello(raw, randomBytes, responder);
  sendAuth(
    raw,
    early,
    initiator.certificate.bytes,
    initiator.device.sign(authMessage("initiator", early.transcriptHash)),
  );
  await settle();
  const answer = raw.takeResponderHello();
  const session = deriveSession({
    role: "initiator",
    ephemeralShared: x25519Shared(secret, answer.key),
    earlyTranscriptHash: early.transcriptHash,
    staticShared,
    responderHello: answer.hello,
  });
  assert.ok(session !== undefined);
  const auth = raw.openFrame(session);
  assert.equal(auth.type, FrameType.AUTH);
  if (confirm) {
    raw.stream.write(session.sealer.seal(FrameType.CONFIRM, new Uint8Array(0)));
    await settle();
  }
  return { session, responderAuth: auth.body };
}

function sendAuth(
  raw: RawPeer,
  session: SessionKeys,
  certificate: Uint8Array,
  signature: Uint8Array,
): void {
  raw.stream.write(
    session.sealer.seal(
      FrameType.AUTH,
      encodeAuthBody({ certificate, signature }),
    ),
  );
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

Deno.test("SecureChannel opens both ways and exchanges messages in order", async () => {
  const context = setup(1);
  const { toBob, toAlice, atAlice, atBob } = connect(context);
  assert.equal(toBob.state, "handshake");
  assert.equal(toBob.initiator, true);
  assert.equal(toAlice.initiator, false);
  await settle();
  assert.equal(toBob.state, "open");
  assert.equal(toAlice.state, "open");
  assert.ok(toBob.peer?.accountId.equals(context.bob.account.id));
  assert.ok(toBob.peer?.deviceId.equals(context.bob.device.id));
  assert.ok(toAlice.peer?.accountId.equals(context.alice.account.id));
  assert.ok(toAlice.peer?.deviceId.equals(context.alice.device.id));
  assert.equal(atAlice.opened.length, 1);
  assert.equal(atBob.opened.length, 1);

  toBob.send(encoder.encode("one"));
  toBob.send(encoder.encode("two"));
  toAlice.send(encoder.encode("three"));
  toBob.send(new Uint8Array(0));
  await settle();
  assert.deepEqual(atBob.messages, ["one", "two", ""]);
  assert.deepEqual(atAlice.messages, ["three"]);
  assert.equal(toBob.stats.messagesSent, 3);
  assert.equal(toAlice.stats.messagesReceived, 3);
  assert.equal(toBob.stats.bytesSent, toAlice.stats.bytesReceived);
  assert.equal(toAlice.stats.bytesSent, toBob.stats.bytesReceived);
});

Deno.test("SecureChannel: a responder that accepted sends before the confirm, and the initiator reads it right after its answer", async () => {
  const context = setup(31);
  const { aliceTap, bobTap, toBob, toAlice, atAlice, atBob } = connect(context);
  assert.equal(toAlice.canSend, false);
  assert.throws(
    () => toAlice.send(encoder.encode("too soon")),
    ChannelNotOpenError,
  );
  // Bob's confirm-time view: accepted (peer known), not yet open.
  let acceptedState: string | undefined;
  toAlice.onAccepted((peer) => {
    assert.ok(peer.deviceId.equals(context.alice.device.id));
    acceptedState = toAlice.state;
    assert.equal(toAlice.canSend, true);
    toAlice.send(encoder.encode("early note"));
  });
  // What Bob's side looked like when Alice read his message.
  const bobWhenRead: string[] = [];
  toBob.onMessage((bytes) => {
    atAlice.messages.push(decoder.decode(bytes));
    bobWhenRead.push(`${toAlice.state} ${aliceTap.written.length}`);
  });
  await settle();
  assert.equal(acceptedState, "handshake");
  // Bob wrote his hello, his auth frame and the data frame, in that order;
  // Alice read it before her confirm reached Bob (she had written her
  // hello, her auth frame and the confirm).
  assert.equal(bobTap.written.length, 3);
  assert.deepEqual(atAlice.messages, ["early note"]);
  assert.deepEqual(bobWhenRead, ["handshake 3"]);
  assert.equal(toBob.state, "open");
  assert.equal(toAlice.state, "open");
  assert.deepEqual(atBob.opened.length, 1);
  assert.equal(toAlice.stats.messagesSent, 1);
});

Deno.test("SecureChannel opens when every byte arrives in its own chunk", async () => {
  const context = setup(2);
  const { aliceTap, bobTap, toBob, toAlice, atBob } = connect(context);
  // Re-deliver every write one byte at a time: chunk boundaries carry no meaning.
  for (const tap of [aliceTap, bobTap]) {
    tap.rewrite = (bytes) => {
      const peerTap = tap === aliceTap ? bobTap : aliceTap;
      queueMicrotask(() => {
        for (const byte of bytes) peerTap.inject(new Uint8Array([byte]));
      });
      return new Uint8Array(0);
    };
  }
  await settle();
  assert.equal(toBob.state, "open");
  assert.equal(toAlice.state, "open");
  toBob.send(encoder.encode("split"));
  await settle();
  assert.deepEqual(atBob.messages, ["split"]);
});

Deno.test("SecureChannel closes both sides 'refused' and delivers nothing when the responder refuses", async () => {
  const context = setup(3);
  const seen: ChannelPeer[] = [];
  const { toBob, toAlice, atAlice, atBob } = connect(context, {}, {
    authorize: (peer) => {
      seen.push(peer);
      return false;
    },
  });
  // The initiator would send at once; it never opens.
  toBob.onOpen(() => toBob.send(encoder.encode("let me in")));
  await settle();
  assert.equal(seen.length, 1);
  assert.equal(atAlice.opened.length, 0);
  assert.ok(seen[0].deviceId.equals(context.alice.device.id));
  assert.deepEqual(atBob.closes, ["refused"]);
  assert.deepEqual(atBob.messages, []);
  assert.equal(toAlice.stats.messagesReceived, 0);
  assert.equal(toAlice.peer, undefined);
  assert.deepEqual(atAlice.closes, ["refused"]);
  assert.equal(toBob.state, "closed");
  assert.equal(toAlice.state, "closed");
});

Deno.test("SecureChannel: an initiator that refuses the responder opens nothing, and never shows its certificate in clear", async () => {
  const context = setup(4);
  let bobAsked = false;
  const { toBob, toAlice, atAlice, atBob, aliceTap, bobTap } = connect(
    context,
    {
      authorize: () => false,
    },
    {
      authorize: () => {
        bobAsked = true;
        return true;
      },
    },
  );
  await settle();
  assert.deepEqual(atAlice.closes, ["refused"]);
  assert.deepEqual(atBob.closes, ["refused"]);
  // The initiator proves itself first: Bob checked Alice before answering.
  assert.equal(bobAsked, true);
  assert.equal(toAlice.peer, undefined);
  assert.equal(toBob.peer, undefined);
  // Alice wrote her hello, her sealed auth frame and one close frame.
  assert.equal(aliceTap.written.length, 3);
  for (
    const [tap, certificate] of [
      [aliceTap, context.alice.certificate.bytes],
      [bobTap, context.bob.certificate.bytes],
    ] as const
  ) {
    assert.ok(
      tap.written.every((bytes) => indexOfBytes(bytes, certificate) < 0),
    );
  }
});

Deno.test("SecureChannel: a hello sealed to another device's key is refused unanswered", async () => {
  const context = setup(5);
  let authorizeCalls = 0;
  // Alice wants Mallory's device but reaches Bob's: the hello's MAC is
  // keyed by Mallory's static key, so Bob drops it without a word.
  const { atAlice, atBob, bobTap } = connect(context, {
    expectedPeer: context.mallory.certificate,
  }, {
    authorize: () => {
      authorizeCalls++;
      return true;
    },
  });
  await settle();
  assert.deepEqual(atBob.closes, ["protocol"]);
  assert.deepEqual(atAlice.closes, ["stream"]);
  assert.deepEqual(bobTap.written, []);
  assert.equal(authorizeCalls, 0);
  assert.equal(atAlice.opened.length, 0);
});

Deno.test("SecureChannel refuses a responder that is not the expected device", async () => {
  const context = setup(25);
  let authorizeCalls = 0;
  // Bob's static key, but Alice expects another device id.
  const { atAlice, atBob } = connect(context, {
    expectedPeer: {
      deviceId: context.mallory.device.id,
      encryptionKey: context.bob.certificate.encryptionKey,
    },
    authorize: () => {
      authorizeCalls++;
      return true;
    },
  });
  await settle();
  assert.deepEqual(atAlice.closes, ["refused"]);
  assert.deepEqual(atBob.closes, ["refused"]);
  assert.equal(authorizeCalls, 0);
  assert.equal(atAlice.opened.length, 0);
});

Deno.test("SecureChannel refuses forged, tampered and expired certificates", async (t) => {
  const context = setup(6);
  const { alice, mallory, clock } = context;
  const genuine = alice.certificate.bytes;

  // Mallory's account key in place of Alice's: the certificate now claims
  // Mallory's account, but Alice's account signed it.
  const claimsOther = genuine.slice();
  const at = indexOfBytes(claimsOther, alice.account.publicKey);
  assert.ok(at > 0);
  claimsOther.set(mallory.account.publicKey, at);

  // One flipped bit in the account signature at the end.
  const tampered = genuine.slice();
  tampered[tampered.length - 1] ^= 0x01;

  const expired = DeviceCertificate.issue(alice.account, alice.device, {
    issuedMs: clock.now() - 10_000,
    lifetimeMs: 5_000,
  }).bytes;
  const fromFuture = DeviceCertificate.issue(alice.account, alice.device, {
    issuedMs: clock.now() + 3_600_000,
  }).bytes;

  const cases: Array<[string, Uint8Array]> = [
    ["signed by a different account than it claims", claimsOther],
    ["tampered signature byte", tampered],
    ["expired", expired],
    ["issued in the future", fromFuture],
  ];
  for (const [name, bytes] of cases) {
    await t.step(name, async () => {
      const certificate = DeviceCertificate.decode(bytes);
      let authorized = false;
      const { atAlice, atBob } = connect(context, {
        identity: { device: alice.device, certificate },
      }, {
        authorize: () => authorized = true,
      });
      await settle();
      assert.deepEqual(atBob.closes, ["refused"]);
      assert.deepEqual(atAlice.closes, ["refused"]);
      assert.equal(authorized, false);
    });
  }
});

Deno.test("SecureChannel refuses a certificate whose device did not sign this transcript", async (t) => {
  const context = setup(7);
  const { alice, bob, mallory, randomBytes } = context;
  const cases: Array<[string, (early: SessionKeys) => Uint8Array]> = [
    // Alice's certificate, Mallory's device key.
    [
      "signature by another device key",
      (early) =>
        mallory.device.sign(authMessage("initiator", early.transcriptHash)),
    ],
    // Alice's key, but the responder's label: a reflected auth frame.
    [
      "signature over the other role's label",
      (early) =>
        alice.device.sign(authMessage("responder", early.transcriptHash)),
    ],
    [
      "signature over another transcript",
      () => alice.device.sign(authMessage("initiator", new Uint8Array(32))),
    ],
  ];
  for (const [name, sign] of cases) {
    await t.step(name, async () => {
      const [rawEnd, bobEnd] = memoryStreamPair();
      const raw = new RawPeer(rawEnd);
      const toAlice = SecureChannel.accept(bobEnd, context.options(bob));
      const atBob = observe(toAlice, context.clock);
      const { early } = rawHello(raw, randomBytes, bob);
      sendAuth(raw, early, alice.certificate.bytes, sign(early));
      await settle();
      assert.deepEqual(atBob.closes, ["refused"]);
      assert.equal(toAlice.peer, undefined);
      // Bob told the impostor why, under the early keys, and nothing else:
      // no hello, no certificate.
      const close = raw.openFrame(early);
      assert.equal(close.type, FrameType.CLOSE);
      assert.deepEqual(close.body, new Uint8Array([CloseCode.REFUSED]));
      assert.equal(raw.buffer.length, 0);
      assert.equal(raw.closedWith, "remote");
    });
  }
});

Deno.test("SecureChannel: screen refuses a claimed identity before any check, and grants nothing", async () => {
  const context = setup(26);
  const { alice } = context;
  const screened: string[] = [];
  let authorized = 0;
  const screenAll = (answer: boolean) => ({
    screen: (claimed: ChannelPeer) => {
      screened.push(claimed.accountId.toString());
      return answer;
    },
    authorize: () => {
      authorized++;
      return true;
    },
  });
  const refused = connect(context, {}, screenAll(false));
  await settle();
  assert.deepEqual(screened, [alice.account.id.toString()]);
  assert.equal(authorized, 0);
  assert.deepEqual(refused.atBob.closes, ["refused"]);
  assert.deepEqual(refused.atAlice.closes, ["refused"]);

  // A forged certificate passes the screen, then fails the checks.
  const tampered = alice.certificate.bytes.slice();
  tampered[tampered.length - 1] ^= 0x01;
  screened.length = 0;
  const forged = connect(context, {
    identity: {
      device: alice.device,
      certificate: DeviceCertificate.decode(tampered),
    },
  }, screenAll(true));
  await settle();
  assert.equal(screened.length, 1);
  assert.equal(authorized, 0);
  assert.deepEqual(forged.atBob.closes, ["refused"]);
  assert.equal(forged.toAlice.peer, undefined);
  assert.equal(forged.toBob.peer, undefined);
});

Deno.test("SecureChannel refuses a man in the middle relaying Alice's auth into a new session", async () => {
  const context = setup(8);
  const { alice, bob, mallory, clock, randomBytes } = context;

  // Alice dials Mallory, who plays the responder by hand and reads Alice's
  // certificate and signature (they were sealed to her static key).
  const [aliceEnd, malloryFacingAlice] = memoryStreamPair();
  const toMallory = SecureChannel.initiate(
    aliceEnd,
    context.options(alice, { expectedPeer: mallory.certificate }),
  );
  const atAlice = observe(toMallory, clock);
  const victim = new RawPeer(malloryFacingAlice);
  await settle();
  const aliceHello = victim.takeInitiatorHello(mallory);
  const staticShared = mallory.device.agree(aliceHello.key)!;
  const early = deriveEarly({
    role: "responder",
    staticShared,
    initiatorHello: aliceHello.hello,
    responderStaticKey: mallory.device.encryptionKey,
  })!;
  const stolen = decodeAuthBody(victim.openFrame(early).body)!;
  assert.deepEqual(stolen.certificate, alice.certificate.bytes);
  const secret = randomBytes(32);
  const malloryHello = encodeResponderHello(x25519PublicKey(secret));
  const sessionWithAlice = deriveSession({
    role: "responder",
    ephemeralShared: x25519Shared(secret, aliceHello.key),
    earlyTranscriptHash: early.transcriptHash,
    staticShared,
    responderHello: malloryHello,
  })!;
  victim.stream.write(malloryHello);
  sendAuth(
    victim,
    sessionWithAlice,
    mallory.certificate.bytes,
    mallory.device.sign(
      authMessage("responder", sessionWithAlice.transcriptHash),
    ),
  );
  await settle();
  assert.equal(toMallory.state, "open");

  // Mallory now poses as Alice towards Bob, sealing the stolen auth for a
  // session of her own: the signature covers Alice's ephemeral key and
  // Mallory's static key, not this hello and Bob.
  const [malloryFacingBob, bobEnd] = memoryStreamPair();
  const toAlice = SecureChannel.accept(bobEnd, context.options(bob));
  const atBob = observe(toAlice, clock);
  const impostor = new RawPeer(malloryFacingBob);
  const posing = rawHello(impostor, randomBytes, bob);
  sendAuth(impostor, posing.early, stolen.certificate, stolen.signature);
  await settle();
  assert.deepEqual(atBob.closes, ["refused"]);
  assert.equal(toAlice.peer, undefined);
  assert.deepEqual(atAlice.closes, []);
});

Deno.test("SecureChannel never opens on a recorded first flight replayed byte for byte", async () => {
  const context = setup(9);
  const { clock } = context;
  // Record a genuine session from Alice to Bob.
  const recorded = connect(context);
  await settle();
  assert.equal(recorded.toAlice.state, "open");
  // Alice wrote her hello, her auth frame and her confirm frame.
  const [hello, auth, confirm] = recorded.aliceTap.written;
  assert.equal(hello.length, INITIATOR_HELLO_BYTES);
  assert.equal(decodeLength(auth), auth.length - LENGTH_PREFIX_BYTES);

  // Replayed, the hello and auth frame still check out (they carry no
  // freshness from Bob), so Bob answers; but only Alice can read the
  // answer, and the recorded confirm frame does not open under new keys.
  for (const replay of [[hello, auth], [hello, auth, confirm]]) {
    const [rawEnd, bobEnd] = memoryStreamPair();
    const toAlice = SecureChannel.accept(
      bobEnd,
      context.options(context.bob),
    );
    const atBob = observe(toAlice, clock);
    // Bob sends data as soon as he has accepted (half-round-trip data):
    // only the holder of Alice's ephemeral key can read it.
    toAlice.onAccepted(() => toAlice.send(encoder.encode("for alice only")));
    const answer: number[] = [];
    rawEnd.onData((bytes) => answer.push(...bytes));
    for (const bytes of replay) rawEnd.write(bytes);
    await settle();
    assert.equal(toAlice.stats.messagesSent, 1);
    assert.equal(
      indexOfBytes(Uint8Array.from(answer), encoder.encode("for alice only")),
      -1,
    );
    assert.equal(toAlice.peer, undefined);
    assert.deepEqual(atBob.opened, []);
    if (replay.length === 3) {
      assert.deepEqual(atBob.closes, ["protocol"]);
    } else {
      assert.equal(toAlice.state, "handshake");
      await advance(clock, DEFAULT_HANDSHAKE_TIMEOUT_MS);
      assert.deepEqual(atBob.closes, ["timeout"]);
    }
  }
});

Deno.test("SecureChannel closes 'protocol' on a frame out of turn", async (t) => {
  const context = setup(24);
  const { alice, bob, randomBytes } = context;
  function responder() {
    const [rawEnd, bobEnd] = memoryStreamPair();
    const toAlice = SecureChannel.accept(bobEnd, context.options(bob));
    return {
      raw: new RawPeer(rawEnd),
      toAlice,
      atBob: observe(toAlice, context.clock),
    };
  }
  await t.step("data before the auth frame", async () => {
    const { raw, atBob } = responder();
    const { early } = rawHello(raw, randomBytes, bob);
    raw.stream.write(early.sealer.seal(FrameType.DATA, encoder.encode("hi")));
    await settle();
    assert.deepEqual(atBob.closes, ["protocol"]);
    assert.deepEqual(atBob.messages, []);
  });
  await t.step("data before the confirm frame", async () => {
    const { raw, atBob, toAlice } = responder();
    const { session } = await rawHandshake(raw, randomBytes, alice, bob, false);
    assert.equal(toAlice.state, "handshake");
    raw.stream.write(session.sealer.seal(FrameType.DATA, encoder.encode("hi")));
    await settle();
    assert.deepEqual(atBob.closes, ["protocol"]);
    assert.deepEqual(atBob.messages, []);
  });
  await t.step("a second auth frame once open", async () => {
    const { raw, atBob, toAlice } = responder();
    const { session } = await rawHandshake(raw, randomBytes, alice, bob);
    assert.equal(toAlice.state, "open");
    sendAuth(
      raw,
      session,
      alice.certificate.bytes,
      alice.device.sign(authMessage("initiator", session.transcriptHash)),
    );
    await settle();
    assert.deepEqual(atBob.closes, ["protocol"]);
  });
  await t.step("an unknown frame type", async () => {
    const { raw, atBob } = responder();
    const { early } = rawHello(raw, randomBytes, bob);
    raw.stream.write(early.sealer.seal(0x7f, new Uint8Array(0)));
    await settle();
    assert.deepEqual(atBob.closes, ["protocol"]);
  });
});

Deno.test("SecureChannel closes 'protocol' on a tampered ciphertext byte", async () => {
  const context = setup(10);
  const { aliceTap, toBob, atAlice, atBob } = connect(context);
  await settle();
  aliceTap.rewrite = (bytes) => {
    const copy = bytes.slice();
    copy[copy.length - 20] ^= 0x80;
    return copy;
  };
  toBob.send(encoder.encode("pay 10 euros to Alice"));
  await settle();
  assert.deepEqual(atBob.messages, []);
  assert.deepEqual(atBob.closes, ["protocol"]);
  // Bob closed the stream without a close frame; Alice sees it go.
  assert.deepEqual(atAlice.closes, ["stream"]);
});

Deno.test("SecureChannel closes 'protocol' on a length prefix over the maximum, before the frame arrives", async () => {
  const context = setup(11);
  const { bobTap, toAlice, atBob } = connect(context);
  await settle();
  assert.equal(toAlice.state, "open");
  bobTap.inject(encodeLength(0xffff_ffff));
  assert.deepEqual(atBob.closes, ["protocol"]);

  // Also while waiting for the auth frame (over one auth frame's worth is
  // too long there), and for a frame too short to hold a tag.
  for (const length of [5_000, 3]) {
    const [rawEnd, bobEnd] = memoryStreamPair();
    const channel = SecureChannel.accept(bobEnd, context.options(context.bob));
    const seen = observe(channel, context.clock);
    const raw = new RawPeer(rawEnd);
    rawHello(raw, context.randomBytes, context.bob);
    rawEnd.write(encodeLength(length));
    await settle();
    assert.deepEqual(seen.closes, ["protocol"], `length ${length}`);
    assert.equal(raw.closedWith, "remote");
  }
});

Deno.test("SecureChannel closes 'protocol' on a message over maxMessageBytes", async () => {
  const context = setup(12);
  const { toBob, atBob } = connect(context, {}, { maxMessageBytes: 16 });
  await settle();
  assert.throws(() => toBob.send(new Uint8Array(65_537)), RangeError);
  toBob.send(new Uint8Array(16));
  toBob.send(new Uint8Array(17));
  await settle();
  assert.equal(atBob.messages.length, 1);
  assert.deepEqual(atBob.closes, ["protocol"]);
});

Deno.test("SecureChannel closes 'protocol' on garbage instead of a hello, and never throws", async () => {
  const context = setup(13);
  const garbage = rngBytes(seededRng("garbage"));
  for (let round = 0; round < 20; round++) {
    const [rawEnd, channelEnd] = memoryStreamPair();
    const channel = round % 2 === 0
      ? SecureChannel.accept(channelEnd, context.options(context.bob))
      : SecureChannel.initiate(
        channelEnd,
        context.options(context.alice, {
          expectedPeer: context.bob.certificate,
        }),
      );
    const seen = observe(channel, context.clock);
    rawEnd.write(garbage(1 + (round * 37) % 200));
    await settle();
    assert.deepEqual(seen.closes, ["protocol"], `round ${round}`);
    assert.equal(seen.opened.length, 0);
  }
  // A hello from the wrong role is garbage too (a reflected hello).
  const [rawEnd, channelEnd] = memoryStreamPair();
  const channel = SecureChannel.initiate(
    channelEnd,
    context.options(context.alice, { expectedPeer: context.bob.certificate }),
  );
  const seen = observe(channel, context.clock);
  const reflected: Uint8Array[] = [];
  rawEnd.onData((bytes) => reflected.push(bytes));
  await settle();
  rawEnd.write(reflected[0]);
  await settle();
  assert.deepEqual(seen.closes, ["protocol"]);
});

Deno.test("SecureChannel closes 'timeout' when the handshake stalls for handshakeTimeoutMs", async () => {
  const context = setup(14);
  const { clock } = context;
  const [rawEnd, aliceEnd] = memoryStreamPair();
  const raw = new RawPeer(rawEnd);
  const startMs = clock.now();
  const channel = SecureChannel.initiate(
    aliceEnd,
    context.options(context.alice, { expectedPeer: context.bob.certificate }),
  );
  const seen = observe(channel, clock);
  // Three bytes of a plausible hello, then nothing.
  rawEnd.write(encodeResponderHello(new Uint8Array(32)).subarray(0, 3));
  await advance(clock, DEFAULT_HANDSHAKE_TIMEOUT_MS - 100);
  assert.equal(channel.state, "handshake");
  await advance(clock, 200);
  assert.deepEqual(seen.closes, ["timeout"]);
  assert.equal(seen.closedAtMs, startMs + DEFAULT_HANDSHAKE_TIMEOUT_MS);
  assert.equal(raw.closedWith, "remote");
  assert.equal(clock.pendingCount, 0);
});

Deno.test("SecureChannel closes 'timeout' deadAfterMs after a peer falls silent", async () => {
  const context = setup(15);
  const { clock } = context;
  const { aliceTap, bobTap, atAlice, atBob } = connect(context);
  await settle();
  // A whole number of keepalive periods: a ping and its pong just went by.
  await advance(clock, 3 * DEFAULT_KEEPALIVE_MS);
  assert.deepEqual(atAlice.closes, []);
  // The link goes dead in both directions; nothing arrives after this instant.
  const silentFromMs = clock.now();
  aliceTap.muted = true;
  bobTap.muted = true;
  await advance(clock, DEFAULT_DEAD_AFTER_MS - 100, 50);
  assert.deepEqual(atAlice.closes, []);
  await advance(clock, 200, 50);
  assert.deepEqual(atAlice.closes, ["timeout"]);
  assert.deepEqual(atBob.closes, ["timeout"]);
  // Both last heard from the peer at most one keepalive before the link died.
  for (const closedAtMs of [atAlice.closedAtMs!, atBob.closedAtMs!]) {
    assert.ok(closedAtMs <= silentFromMs + DEFAULT_DEAD_AFTER_MS);
    assert.ok(
      closedAtMs >=
        silentFromMs + DEFAULT_DEAD_AFTER_MS - DEFAULT_KEEPALIVE_MS,
    );
  }
  assert.equal(clock.pendingCount, 0);
});

Deno.test("SecureChannel closes 'timeout' at exactly deadAfterMs after the last byte", async () => {
  const context = setup(16);
  const { clock } = context;
  const { aliceTap, bobTap, atAlice } = connect(context, {
    keepaliveMs: 1_000,
    deadAfterMs: 3_000,
  });
  await settle();
  // Silence right after opening: the last bytes arrived at this very instant.
  const openedAtMs = clock.now();
  aliceTap.muted = true;
  bobTap.muted = true;
  await advance(clock, 5_000, 10);
  assert.deepEqual(atAlice.closes, ["timeout"]);
  assert.equal(atAlice.closedAtMs, openedAtMs + 3_000);
});

Deno.test("SecureChannel keeps an idle channel open for ten minutes of virtual time", async () => {
  const context = setup(17);
  const { clock } = context;
  const { toBob, toAlice, atAlice, atBob } = connect(context);
  await settle();
  const before = toBob.stats.bytesSent;
  await advance(clock, 10 * 60_000, 500);
  assert.deepEqual(atAlice.closes, []);
  assert.deepEqual(atBob.closes, []);
  assert.equal(toBob.state, "open");
  // Pings and pongs flowed: at least one 21-byte frame per keepalive
  // period, at most a ping and a pong.
  const periods = Math.floor((10 * 60_000) / DEFAULT_KEEPALIVE_MS);
  const keepaliveBytes = toBob.stats.bytesSent - before;
  assert.ok(keepaliveBytes >= periods * 21, `${keepaliveBytes} bytes`);
  assert.ok(keepaliveBytes <= periods * 42, `${keepaliveBytes} bytes`);
  assert.equal(toBob.stats.messagesSent, 0);
  toAlice.send(encoder.encode("still here"));
  await settle();
  assert.deepEqual(atAlice.messages, ["still here"]);
});

Deno.test("SecureChannel keepalive and dead timers keep their period at fractional virtual times", async () => {
  // Simulated latencies make times fractional. At some instants
  // `(t + keepalive) - t` rounds below the keepalive period; the timers
  // used to see "not idle long enough yet" there and re-arm at zero delay
  // forever (the clock then throws RangeError). Find such an instant (near
  // 10^6 ms they are common; near the default 1.7 · 10^12 they are not).
  const context = setup(18, 1_000_000);
  const { clock } = context;
  const period = DEFAULT_KEEPALIVE_MS;
  const base = clock.now();
  let at = base + 0.1234567;
  for (let i = 0; i < 1_000_000; i++) {
    const delay = (at + period) - at;
    if ((at + delay) - at < period) break;
    at += 0.37;
  }
  const delay = (at + period) - at;
  assert.ok((at + delay) - at < period, "no rounding instant found");
  clock.advanceTo(at);
  const { toBob, toAlice, atAlice, atBob } = connect(context);
  await settle();
  assert.equal(toBob.state, "open");
  await advance(clock, 60_000, 500);
  assert.deepEqual(atAlice.closes, []);
  assert.deepEqual(atBob.closes, []);
  assert.equal(toAlice.state, "open");
});

Deno.test("SecureChannel close() sends a close frame: the peer closes 'remote', each side once", async () => {
  const context = setup(18);
  const { clock } = context;
  const { toBob, toAlice, atAlice, atBob } = connect(context);
  await settle();
  toBob.close();
  toBob.close();
  assert.equal(toBob.state, "closed");
  assert.equal(toBob.closeReason, "local");
  await settle();
  assert.deepEqual(atAlice.closes, ["local"]);
  assert.deepEqual(atBob.closes, ["remote"]);
  assert.equal(toAlice.closeReason, "remote");
  // The peer stays known after close; timers are all gone.
  assert.ok(toAlice.peer?.deviceId.equals(context.alice.device.id));
  assert.equal(clock.pendingCount, 0);
  assert.throws(
    () => toBob.send(new Uint8Array(1)),
    (error: unknown) =>
      error instanceof ChannelNotOpenError && error.state === "closed",
  );
});

Deno.test("SecureChannel closes 'stream' when the stream ends without a close frame", async () => {
  const context = setup(19);
  const [aliceEnd, bobEnd] = memoryStreamPair();
  const toBob = SecureChannel.initiate(
    aliceEnd,
    context.options(context.alice, { expectedPeer: context.bob.certificate }),
  );
  const toAlice = SecureChannel.accept(bobEnd, context.options(context.bob));
  const atBob = observe(toAlice, context.clock);
  await settle();
  assert.equal(toBob.state, "open");
  aliceEnd.close();
  await settle();
  assert.deepEqual(atBob.closes, ["stream"]);
});

Deno.test("SecureChannel send() before open throws ChannelNotOpenError", async () => {
  const context = setup(20);
  const { toBob, toAlice } = connect(context);
  for (const channel of [toBob, toAlice]) {
    assert.throws(
      () => channel.send(encoder.encode("too early")),
      (error: unknown) =>
        error instanceof ChannelNotOpenError && error.state === "handshake" &&
        error.message === 'Cannot send on secure channel: state is "handshake"',
    );
  }
  await settle();
  toBob.send(encoder.encode("now"));
});

Deno.test("SecureChannel rejects invalid options", () => {
  const context = setup(21);
  const [stream] = memoryStreamPair();
  for (
    const extra of [
      { keepaliveMs: 0 },
      { deadAfterMs: -1 },
      { handshakeTimeoutMs: NaN },
      { maxMessageBytes: 0 },
      { maxMessageBytes: 1.5 },
      { maxMessageBytes: 32 * 1024 * 1024 },
    ]
  ) {
    assert.throws(
      () =>
        SecureChannel.initiate(
          stream,
          context.options(context.alice, {
            expectedPeer: context.bob.certificate,
            ...extra,
          }),
        ),
      RangeError,
      JSON.stringify(extra),
    );
  }
  // No device to dial, or one whose static key is of low order.
  for (
    const expectedPeer of [undefined, {
      deviceId: context.bob.device.id,
      encryptionKey: new Uint8Array(32),
    }]
  ) {
    assert.throws(
      () =>
        SecureChannel.initiate(
          stream,
          context.options(context.alice, { expectedPeer }),
        ),
      TypeError,
    );
  }
  // A certificate for another device than the keys.
  assert.throws(
    () =>
      SecureChannel.accept(
        stream,
        context.options(context.alice, {
          identity: {
            device: context.alice.device,
            certificate: context.bob.certificate,
          },
        }),
      ),
    TypeError,
  );
});

Deno.test("SecureChannel wire: hellos, auth bodies and frames round-trip", () => {
  const randomBytes = rngBytes(seededRng(22));
  const responderStatic = DeviceKeys.generate(randomBytes);
  const staticKey = responderStatic.encryptionKey;
  const macKey = helloMacKey(staticKey);
  const initiatorSecret = randomBytes(32);
  const key = x25519PublicKey(initiatorSecret);
  const initiatorHello = encodeInitiatorHello(key, staticKey);
  assert.equal(initiatorHello.length, INITIATOR_HELLO_BYTES);
  assert.deepEqual(decodeInitiatorHello(initiatorHello, macKey), key);
  // The MAC is keyed by the responder's static key, and covers the key.
  const otherMacKey = helloMacKey(
    DeviceKeys.generate(randomBytes).encryptionKey,
  );
  assert.equal(decodeInitiatorHello(initiatorHello, otherMacKey), undefined);
  const flipped = initiatorHello.slice();
  flipped[10] ^= 0x01;
  assert.equal(decodeInitiatorHello(flipped, macKey), undefined);
  assert.equal(decodeResponderHello(initiatorHello), undefined);

  const auth = { certificate: randomBytes(300), signature: randomBytes(64) };
  assert.deepEqual(decodeAuthBody(encodeAuthBody(auth)), auth);
  assert.equal(decodeAuthBody(encodeAuthBody(auth).subarray(1)), undefined);
  assert.throws(
    () => encodeAuthBody({ ...auth, certificate: new Uint8Array(5_000) }),
    RangeError,
  );

  const initiatorEarly = deriveEarly({
    role: "initiator",
    staticShared: x25519Shared(initiatorSecret, staticKey),
    initiatorHello,
    responderStaticKey: staticKey,
  })!;
  const responderEarly = deriveEarly({
    role: "responder",
    staticShared: responderStatic.agree(key),
    initiatorHello,
    responderStaticKey: staticKey,
  })!;
  assert.deepEqual(
    initiatorEarly.transcriptHash,
    responderEarly.transcriptHash,
  );
  const responderSecret = randomBytes(32);
  const responderHello = encodeResponderHello(x25519PublicKey(responderSecret));
  assert.equal(responderHello.length, RESPONDER_HELLO_BYTES);
  const initiator = deriveSession({
    role: "initiator",
    ephemeralShared: x25519Shared(
      initiatorSecret,
      x25519PublicKey(responderSecret),
    ),
    earlyTranscriptHash: initiatorEarly.transcriptHash,
    staticShared: x25519Shared(initiatorSecret, staticKey)!,
    responderHello,
  })!;
  const responder = deriveSession({
    role: "responder",
    ephemeralShared: x25519Shared(responderSecret, key),
    earlyTranscriptHash: responderEarly.transcriptHash,
    staticShared: responderStatic.agree(key)!,
    responderHello,
  })!;
  assert.deepEqual(initiator.transcriptHash, responder.transcriptHash);
  for (
    const [sender, receiver] of [
      [initiatorEarly, responderEarly],
      [initiator, responder],
      [responder, initiator],
    ]
  ) {
    for (const text of ["first", "second"]) {
      const frame = sender.sealer.seal(FrameType.DATA, encoder.encode(text));
      const header = frame.subarray(0, LENGTH_PREFIX_BYTES);
      assert.equal(decodeLength(header), frame.length - LENGTH_PREFIX_BYTES);
      const plaintext = receiver.opener.open(
        header,
        frame.subarray(LENGTH_PREFIX_BYTES),
      );
      assert.equal(plaintext?.[0], FrameType.DATA);
      assert.equal(decoder.decode(plaintext?.subarray(1)), text);
    }
  }
  // A low-order peer key gives no session.
  assert.equal(
    deriveSession({
      role: "initiator",
      ephemeralShared: x25519Shared(initiatorSecret, new Uint8Array(32)),
      earlyTranscriptHash: initiatorEarly.transcriptHash,
      staticShared: new Uint8Array(32),
      responderHello,
    }),
    undefined,
  );
});

Deno.test("ReceiveBuffer reads across chunk boundaries", () => {
  const buffer = new ReceiveBuffer();
  buffer.push(new Uint8Array([1, 2]));
  buffer.push(new Uint8Array([]));
  buffer.push(new Uint8Array([3, 4, 5]));
  assert.equal(buffer.length, 5);
  assert.equal(buffer.peek(6), undefined);
  assert.deepEqual(buffer.peek(3), new Uint8Array([1, 2, 3]));
  assert.deepEqual(buffer.take(1), new Uint8Array([1]));
  assert.deepEqual(buffer.take(3), new Uint8Array([2, 3, 4]));
  assert.equal(buffer.length, 1);
  assert.equal(buffer.take(2), undefined);
  assert.deepEqual(buffer.take(1), new Uint8Array([5]));
  assert.equal(buffer.length, 0);
});

Deno.test("SecureChannel works over TCP on loopback with the system clock", async () => {
  const randomBytes = rngBytes(seededRng(23));
  const issuedMs = systemClock.now() - 60_000;
  const alice = party(randomBytes, issuedMs);
  const bob = party(randomBytes, issuedMs);
  const network = new TcpStreamNetwork({ host: "127.0.0.1" });
  const bobClosed = Promise.withResolvers<ChannelCloseReason>();
  const received = Promise.withResolvers<string>();
  const listener = await network.listen(0, (stream) => {
    const channel = SecureChannel.accept(stream, {
      identity: bob.identity,
      clock: systemClock,
      randomBytes,
      authorize: (peer) => peer.accountId.equals(alice.account.id),
    });
    channel.onMessage((bytes) => {
      received.resolve(decoder.decode(bytes));
      channel.send(encoder.encode("hello Alice"));
    });
    channel.onClose(bobClosed.resolve);
  });
  const guard = Promise.withResolvers<never>();
  const guardTimer = setTimeout(
    () => guard.reject(new Error("TCP channel test took over 5 s")),
    5_000,
  );
  try {
    const stream = await Promise.race([
      network.connect(listener.localAddress),
      guard.promise,
    ]);
    const toBob = SecureChannel.initiate(stream, {
      identity: alice.identity,
      clock: systemClock,
      randomBytes,
      authorize: () => true,
      expectedPeer: bob.certificate,
    });
    const reply = Promise.withResolvers<string>();
    toBob.onMessage((bytes) => reply.resolve(decoder.decode(bytes)));
    toBob.onOpen(() => toBob.send(encoder.encode("hello Bob")));
    assert.equal(
      await Promise.race([received.promise, guard.promise]),
      "hello Bob",
    );
    assert.equal(
      await Promise.race([reply.promise, guard.promise]),
      "hello Alice",
    );
    toBob.close();
    assert.equal(
      await Promise.race([bobClosed.promise, guard.promise]),
      "remote",
    );
  } finally {
    clearTimeout(guardTimer);
    await listener.close();
  }
});

Deno.test("SecureChannel delivers each message in bytes of its own, which later frames leave as they were", async () => {
  const context = setup(41);
  const { aliceTap, bobTap, toBob, toAlice } = connect(context);
  const kept: Uint8Array[] = [];
  toAlice.onMessage((bytes) => kept.push(bytes));
  await settle();
  assert.equal(toAlice.state, "open");
  // Every write of Alice's reaches Bob joined with the next one, in one
  // chunk (frames are opened in the received bytes).
  let held: Uint8Array | undefined;
  aliceTap.rewrite = (bytes) => {
    if (held === undefined) {
      held = bytes.slice();
      return new Uint8Array(0);
    }
    const joined = new Uint8Array(held.length + bytes.length);
    joined.set(held);
    joined.set(bytes, held.length);
    held = undefined;
    queueMicrotask(() => bobTap.inject(joined));
    return new Uint8Array(0);
  };
  for (const text of ["one", "two", "three", "four"]) {
    toBob.send(encoder.encode(text));
  }
  await settle();
  assert.deepEqual(kept.map((bytes) => decoder.decode(bytes)), [
    "one",
    "two",
    "three",
    "four",
  ]);
  for (const bytes of kept) assert.equal(bytes.buffer.byteLength, bytes.length);
});
