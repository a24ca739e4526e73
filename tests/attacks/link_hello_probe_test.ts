/**
 * Issue 13, item 11 (link handshake DoS), part (b): a stranger's hello must
 * get no identity back, and cost the responder no signature.
 *
 * Before the fix (protocol version 1) the responder answered any 38-byte
 * hello with its own hello and an auth frame: it signed the transcript and
 * sent its device certificate (account id, device name) to whoever
 * connected, before the peer had shown anything. Now (version 2) the
 * initiator proves itself first: the responder sends not one byte to a
 * version-1 hello, a hello whose MAC was not keyed by its static key, or a
 * valid hello with no auth frame; and to a stranger that authenticates but
 * is refused, only a close frame sealed under keys the stranger itself
 * agreed on.
 */
import assert from "node:assert/strict";
import { memoryStreamPair } from "../../lib/channel/byte_stream.ts";
import {
  type ChannelCloseReason,
  SecureChannel,
} from "../../lib/channel/secure_channel.ts";
import {
  CloseCode,
  decodeLength,
  encodeInitiatorHello,
  FrameType,
  LENGTH_PREFIX_BYTES,
} from "../../lib/channel/_secure_channel_wire.ts";
import { x25519PublicKey } from "../../lib/crypto.ts";
import { AccountKeys } from "../../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../../lib/identity/device_keys.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../../lib/rng.ts";
import { initiatorFlight } from "../_link_helpers.ts";

const randomBytes = rngBytes(seededRng("hello probe"));
const START_MS = new ManualClock().now();

function issue(name: string) {
  const device = DeviceKeys.generate(randomBytes);
  const account = AccountKeys.generate(randomBytes);
  const certificate = DeviceCertificate.issue(account, device, {
    issuedMs: START_MS,
    name,
  });
  return { device, account, certificate };
}

/** Bob listens; `bytes` arrive from a stranger; what does Bob say? */
async function probe(
  clock: ManualClock,
  bob: ReturnType<typeof issue>,
  bytes: Uint8Array[],
) {
  const [stranger, bobEnd] = memoryStreamPair();
  const answered: Uint8Array[] = [];
  stranger.onData((chunk) => answered.push(chunk.slice()));
  let authorized = 0;
  const channel = SecureChannel.accept(bobEnd, {
    identity: bob,
    clock,
    randomBytes,
    authorize: () => {
      authorized += 1;
      return false;
    },
  });
  const closes: ChannelCloseReason[] = [];
  channel.onClose((reason) => closes.push(reason));
  for (const chunk of bytes) stranger.write(chunk);
  for (let i = 0; i < 10; i++) await Promise.resolve();
  if (closes.length === 0) {
    clock.advance(10_000);
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }
  const all = new Uint8Array(answered.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of answered) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return { answer: all, closes, authorized };
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

function identityBytes(bob: ReturnType<typeof issue>): Uint8Array[] {
  return [
    bob.certificate.bytes,
    bob.certificate.accountId.bytes,
    bob.account.publicKey,
    bob.device.publicKey,
    new TextEncoder().encode("bob's phone"),
  ];
}

Deno.test("link hello probe: a version-1 hello (38 bytes, the old protocol) gets not one byte back", async () => {
  const clock = new ManualClock();
  const bob = issue("bob's phone");
  // Built by hand: "DCSC", version 1, kind 1 (initiator), an ephemeral key.
  const hello = new Uint8Array(38);
  hello.set(new TextEncoder().encode("DCSC"));
  hello.set([1, 1], 4);
  hello.set(x25519PublicKey(randomBytes(32)), 6);
  const { answer, closes, authorized } = await probe(clock, bob, [hello]);
  assert.equal(answer.length, 0);
  for (const secret of identityBytes(bob)) assert.ok(!contains(answer, secret));
  assert.deepEqual(closes, ["protocol"]);
  assert.equal(authorized, 0);
});

Deno.test("link hello probe: a hello not keyed by the responder's static key gets not one byte back", async () => {
  const clock = new ManualClock();
  const bob = issue("bob's phone");
  const guessed = DeviceKeys.generate(randomBytes).encryptionKey;
  const hello = encodeInitiatorHello(
    x25519PublicKey(randomBytes(32)),
    guessed,
  );
  const { answer, closes } = await probe(clock, bob, [hello]);
  assert.equal(answer.length, 0);
  assert.deepEqual(closes, ["protocol"]);
});

Deno.test("link hello probe: a valid hello with no auth frame gets not one byte back, and times out", async () => {
  const clock = new ManualClock();
  const bob = issue("bob's phone");
  // The stranger read Bob's certificate on the DHT: it knows his static key.
  const hello = encodeInitiatorHello(
    x25519PublicKey(randomBytes(32)),
    bob.certificate.encryptionKey,
  );
  const { answer, closes } = await probe(clock, bob, [hello]);
  assert.equal(answer.length, 0);
  assert.deepEqual(closes, ["timeout"]);
});

Deno.test("link hello probe: a stranger that authenticates and is refused gets one sealed close frame, no identity", async () => {
  const clock = new ManualClock();
  const bob = issue("bob's phone");
  const mallory = issue("mallory");
  const { hello, auth, early } = initiatorFlight(
    randomBytes,
    bob.certificate.encryptionKey,
    mallory.certificate.bytes,
    mallory.device,
  );
  const { answer, closes, authorized } = await probe(clock, bob, [hello, auth]);
  assert.equal(authorized, 1);
  assert.deepEqual(closes, ["refused"]);
  for (const secret of identityBytes(bob)) assert.ok(!contains(answer, secret));
  // Exactly one frame, and it is a refusal under the early keys.
  const header = answer.subarray(0, LENGTH_PREFIX_BYTES);
  assert.equal(answer.length, LENGTH_PREFIX_BYTES + decodeLength(header));
  const plaintext = early.opener.open(
    header,
    answer.subarray(LENGTH_PREFIX_BYTES),
  );
  assert.deepEqual(
    plaintext,
    new Uint8Array([FrameType.CLOSE, CloseCode.REFUSED]),
  );
});
