/**
 * Fuzzes the TCP link port: a real {@link ConnectionManager} accepts
 * streams on an in-memory stream network while hostile hosts open
 * connections and write mutated handshakes (genuine first flights of a
 * contact and of strangers, version-1 hellos, sealed frames, garbage), in
 * random chunks, closing some streams early and leaving others silent. Every
 * `pingEvery` streams a genuine contact dials in with a real
 * {@link SecureChannel}; it counts as answered when the link opens. Time is
 * a {@link ManualClock} that moves with the streams, so handshake timeouts
 * fire during the run.
 *
 * A crash is an error escaping the manager or a channel: thrown out of a
 * stream callback or a timer, or left as an unhandled rejection.
 *
 * @module
 */
import { ConnectionManager } from "../../lib/channel/connection_manager.ts";
import {
  type ChannelIdentity,
  SecureChannel,
} from "../../lib/channel/secure_channel.ts";
import { FrameType } from "../../lib/channel/_secure_channel_wire.ts";
import { concatBytes } from "../../lib/crypto.ts";
import { AccountKeys } from "../../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../../lib/identity/device_keys.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { memoryStreamNetwork } from "../../lib/testing/memory_stream_network.ts";
import {
  forkRng,
  type RandomBytes,
  rngBytes,
  seededRng,
} from "../../lib/rng.ts";
import type { PeerAddress } from "../../lib/transport.ts";
import { initiatorFlight } from "../_link_helpers.ts";
import { Mutator } from "./_mutator.ts";
import { CrashCatcher, type FuzzReport, memoryNow } from "./_report.ts";

/** Options of {@link fuzzLinkPort}. */
export interface LinkFuzzOptions {
  /** Seed of every choice. */
  readonly seed: string;
  /** Hostile streams to open (Infinity: until `durationMs`). */
  readonly packets: number;
  /** Stop after this much wall-clock time, if sooner. */
  readonly durationMs?: number;
  /** A genuine contact dials in every this many streams. @default {50} */
  readonly pingEvery?: number;
  /** Wall clock for `durationMs` and the report. */
  readonly wallClock?: () => number;
}

function identity(randomBytes: RandomBytes, nowMs: number, name: string) {
  const account = AccountKeys.generate(randomBytes);
  const device = DeviceKeys.generate(randomBytes);
  const certificate = DeviceCertificate.issue(account, device, {
    issuedMs: nowMs,
    name,
  });
  return { device, certificate } satisfies ChannelIdentity;
}

/** A whole first flight (hello and sealed auth frame) from `who` to `to`. */
function firstFlight(
  randomBytes: RandomBytes,
  who: ChannelIdentity,
  to: ChannelIdentity,
): Uint8Array {
  const { hello, auth, early } = initiatorFlight(
    randomBytes,
    to.certificate.encryptionKey,
    who.certificate.bytes,
    who.device,
  );
  const extra = early.sealer.seal(FrameType.DATA, new Uint8Array([1, 2, 3]));
  return concatBytes(hello, auth, extra);
}

/** Lets memory streams deliver: they hand bytes over on microtasks. */
async function flush(rounds = 8): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/**
 * Runs the link-port fuzzer.
 *
 * @param options Seed, stream count, duration, ping spacing.
 * @returns The report; `crashes` must be empty.
 */
export async function fuzzLinkPort(
  options: LinkFuzzOptions,
): Promise<FuzzReport> {
  const wallClock = options.wallClock ?? (() => performance.now());
  const pingEvery = options.pingEvery ?? 50;
  const root = seededRng(`link fuzz ${options.seed}`);
  const mutator = new Mutator(forkRng(root, "mutator"));
  const randomBytes = rngBytes(forkRng(root, "keys"));
  const clock = new ManualClock();
  const network = memoryStreamNetwork();
  const bob = identity(randomBytes, clock.now(), "bob's phone");
  const alice = identity(randomBytes, clock.now(), "alice's laptop");
  const strangers = Array.from(
    { length: 3 },
    (_, i) => identity(randomBytes, clock.now(), `stranger ${i}`),
  );
  const contactAccount = alice.certificate.accountId.toString();
  const catcher = new CrashCatcher();
  const memoryBefore = memoryNow();
  const startedMs = wallClock();
  catcher.install();
  const manager = new ConnectionManager({
    identity: bob,
    clock,
    randomBytes,
    streams: network.host("bob"),
    authorize: (peer) => peer.accountId.toString() === contactAccount,
    onChange: () => {},
  });
  // Seeds: genuine and stranger first flights, an old hello, garbage.
  const seeds: Uint8Array[] = [
    firstFlight(randomBytes, alice, bob),
    ...strangers.map((stranger) => firstFlight(randomBytes, stranger, bob)),
    firstFlight(randomBytes, alice, strangers[0]),
    concatBytes(
      new TextEncoder().encode("DCSC"),
      new Uint8Array([1, 1]),
      randomBytes(32),
    ),
    new TextEncoder().encode("GET / HTTP/1.1\r\nHost: bob\r\n\r\n"),
  ];
  let packetsSent = 0;
  let bytesSent = 0;
  let pingsSent = 0;
  let pingsAnswered = 0;
  let address: PeerAddress | undefined;
  const step = (ms: number) => {
    try {
      clock.advance(ms);
    } catch (error) {
      catcher.record(error);
    }
  };
  try {
    address = await manager.start(0);
    // Bob knows where Alice announced herself (as he would from the DHT);
    // the port is closed, so links come from her side only.
    manager.connect(alice.certificate, ["alice:9"]);
    const deadline = options.durationMs === undefined
      ? Infinity
      : startedMs + options.durationMs;
    for (
      let i = 0;
      i < options.packets && (i % 16 !== 0 || wallClock() < deadline);
      i++
    ) {
      if (i % pingEvery === 0) {
        pingsSent += 1;
        if (await genuineLink(network.host("alice"), address)) {
          pingsAnswered += 1;
        }
      }
      const host = network.host(`mallory-${mutator.int(256)}`);
      const seed = mutator.pick(seeds);
      const bytes = mutator.chance(0.1) ? seed : mutator.mutate(seed, seeds);
      packetsSent += 1;
      bytesSent += bytes.length;
      const stream = await host.connect(address);
      stream.onData(() => {});
      let at = 0;
      while (at < bytes.length) {
        const chunk = 1 + mutator.int(Math.min(bytes.length - at, 400));
        stream.write(bytes.subarray(at, at + chunk));
        at += chunk;
        if (mutator.chance(0.3)) await flush(2);
      }
      if (mutator.chance(0.4)) stream.close();
      await flush();
      step(mutator.int(50));
    }
    step(60_000);
    await flush();
  } finally {
    manager.stop();
    await flush();
    catcher.uninstall();
  }
  const counters = manager.counters;
  return {
    target: "link",
    seed: options.seed,
    packetsSent,
    bytesSent,
    crashes: catcher.messages,
    crashCount: catcher.count,
    pingsSent,
    pingsAnswered,
    notes: {
      refused: counters.refused,
      linksOpened: counters.linksOpened,
      linksClosed: counters.linksClosed,
      pidfDropped: counters.pidfDropped,
    },
    memoryBefore,
    memoryAfter: memoryNow(),
    elapsedMs: wallClock() - startedMs,
  };

  /** Alice dials in with a real channel: true if it opened. */
  async function genuineLink(
    streams: ReturnType<typeof network.host>,
    to: PeerAddress,
  ): Promise<boolean> {
    const stream = await streams.connect(to);
    const channel = SecureChannel.initiate(stream, {
      identity: alice,
      clock,
      randomBytes,
      authorize: () => true,
      expectedPeer: bob.certificate,
    });
    let opened = false;
    channel.onOpen(() => opened = true);
    for (let i = 0; i < 4 && !opened; i++) await flush();
    channel.close();
    await flush();
    return opened;
  }
}
