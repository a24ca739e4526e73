/**
 * What one incoming link hello costs the responder (issue 13, item 11):
 * `deno bench bench/link_handshake_bench.ts`. Each case feeds a fresh
 * responding {@link SecureChannel} the bytes a peer would send, all in one
 * synchronous call, so the time is the responder's CPU for them.
 *
 * Cases, cheapest first: a version-1 hello (refused on its version byte), a
 * hello whose MAC was not keyed by our static key (one HMAC), a valid hello
 * with a garbage auth frame (one X25519, then AES-GCM fails), a stranger
 * with a valid certificate (one X25519, refused by `screen` before any
 * signature check), and a contact that is accepted (X25519, two Ed25519
 * verifications, our ephemeral key, one more X25519 and a signature).
 *
 * @module
 */
import type { ByteStream } from "../lib/channel/byte_stream.ts";
import { SecureChannel } from "../lib/channel/secure_channel.ts";
import { encodeInitiatorHello } from "../lib/channel/_secure_channel_wire.ts";
import { clearVerifyCache, x25519PublicKey } from "../lib/crypto.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import { concatBytes } from "../lib/crypto.ts";
import { initiatorFlight } from "../tests/_link_helpers.ts";

const randomBytes = rngBytes(seededRng("link handshake bench"));
const clock = new ManualClock();

function issue() {
  const device = DeviceKeys.generate(randomBytes);
  const certificate = DeviceCertificate.issue(
    AccountKeys.generate(randomBytes),
    device,
    { issuedMs: clock.now() },
  );
  return { device, certificate };
}

const bob = issue();
const stranger = issue();
const contact = issue();

/** A stream that delivers the bytes we push synchronously and drops writes. */
class SinkStream implements ByteStream {
  readonly remote = { host: "192.0.2.1", port: 40_000 };
  bytesWritten = 0;
  #data: ((bytes: Uint8Array) => void) | undefined;
  write(bytes: Uint8Array): void {
    this.bytesWritten += bytes.length;
  }
  onData(handler: (bytes: Uint8Array) => void): void {
    this.#data = handler;
  }
  onClose(): void {}
  close(): void {}
  push(bytes: Uint8Array): void {
    this.#data?.(bytes);
  }
}

function respond(bytes: Uint8Array, authorize: boolean): number {
  const stream = new SinkStream();
  const channel = SecureChannel.accept(stream, {
    identity: bob,
    clock,
    randomBytes,
    authorize: () => authorize,
    // As the connection manager does: the same lookup, before the checks.
    screen: () => authorize,
  });
  stream.push(bytes);
  channel.abandon();
  return stream.bytesWritten;
}

/** A whole first flight from `who` to Bob: hello and sealed auth frame. */
function firstFlight(who: ReturnType<typeof issue>): Uint8Array {
  const { hello, auth } = initiatorFlight(
    randomBytes,
    bob.certificate.encryptionKey,
    who.certificate.bytes,
    who.device,
  );
  return concatBytes(hello, auth);
}

const v1Hello = concatBytes(
  new TextEncoder().encode("DCSC"),
  new Uint8Array([1, 1]),
  x25519PublicKey(randomBytes(32)),
);
const wrongMac = encodeInitiatorHello(
  x25519PublicKey(randomBytes(32)),
  stranger.certificate.encryptionKey,
);
const garbageAuth = (() => {
  const flight = firstFlight(stranger);
  flight[flight.length - 1] ^= 0x01;
  return flight;
})();
// Pre-built flights, one per iteration, so signature checks are not cached.
const strangerFlights = Array.from({ length: 64 }, () => firstFlight(stranger));
const contactFlights = Array.from({ length: 64 }, () => firstFlight(contact));
let next = 0;

Deno.bench("link hello: version 1 (old protocol), refused", () => {
  respond(v1Hello, true);
});
Deno.bench("link hello: MAC not keyed by our static key", () => {
  respond(wrongMac, true);
});
Deno.bench("link hello: valid hello, garbage auth frame", () => {
  respond(garbageAuth, true);
});
Deno.bench("link hello: stranger authenticates, refused", () => {
  clearVerifyCache();
  respond(strangerFlights[next++ % strangerFlights.length], false);
});
Deno.bench("link hello: contact authenticates, accepted", () => {
  clearVerifyCache();
  respond(contactFlights[next++ % contactFlights.length], true);
});
