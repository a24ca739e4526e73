/**
 * What an idle link costs the simulator (issue 16):
 * `deno bench --allow-read bench/link_keepalive_bench.ts`. Opens 1,000 and
 * 10,000 {@link SecureChannel} pairs over the simulator's streams
 * (`SimulatedStreamNetwork`, 50 ms each way) with native curves, as
 * `sim presence` runs them, then each iteration moves the clock on by one
 * keepalive period (7 s): every pair exchanges one ping and one pong,
 * sealed, carried and opened by the real channel code, with its timers.
 * Divide the time per iteration by twice the pairs for the cost of a frame;
 * the difference between the two groups is what the count of links alone
 * adds (cache, timer heap).
 *
 * @module
 */
import { SecureChannel } from "../lib/channel/secure_channel.ts";
import {
  type ChannelIdentity,
  DEFAULT_KEEPALIVE_MS,
} from "../lib/channel/secure_channel_options.ts";
import { useCurveOperations } from "../lib/crypto.ts";
import { AccountKeys } from "../lib/identity/account_keys.ts";
import { DeviceCertificate } from "../lib/identity/device_certificate.ts";
import { DeviceKeys } from "../lib/identity/device_keys.ts";
import { NATIVE_CURVES } from "../lib/io/native_curves.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";
import { SimulatedStreamNetwork } from "../sim/stream_network.ts";

useCurveOperations(NATIVE_CURVES);

const IDENTITIES = 200;
const PORT = 7_000;

/** `pairs` open channel pairs on one clock, ready to idle. */
async function idleLinks(pairs: number): Promise<ManualClock> {
  const clock = new ManualClock(0);
  const randomBytes = rngBytes(seededRng(`keepalive bench ${pairs}`));
  const network = new SimulatedNetwork({
    clock,
    rng: seededRng("keepalive bench network"),
    latency: { oneWayMs: () => 50 },
    jitterMsMax: 0,
  });
  const streams = new SimulatedStreamNetwork(network, clock);
  const identities: ChannelIdentity[] = Array.from(
    { length: IDENTITIES },
    () => {
      const device = DeviceKeys.generate(randomBytes);
      const account = AccountKeys.generate(randomBytes);
      return {
        device,
        certificate: DeviceCertificate.issue(account, device, { issuedMs: 0 }),
      };
    },
  );
  const channels: SecureChannel[] = [];
  for (let i = 0; i < pairs; i++) {
    const dialler = network.attach();
    const listener = network.attach();
    const mine = identities[(2 * i) % IDENTITIES];
    const theirs = identities[(2 * i + 1) % IDENTITIES];
    await streams.host(listener.hostIndex).listen(PORT, (stream) => {
      channels.push(
        SecureChannel.accept(stream, {
          identity: theirs,
          clock,
          randomBytes,
          authorize: () => true,
        }),
      );
    });
    streams.host(dialler.hostIndex).connect({
      host: listener.localAddress.host,
      port: PORT,
    }).then((stream) => {
      channels.push(
        SecureChannel.initiate(stream, {
          identity: mine,
          clock,
          randomBytes,
          authorize: () => true,
          expectedPeer: theirs.certificate,
        }),
      );
    });
  }
  // Connects and handshakes: a few round trips, with the promises settled.
  for (let ms = 0; ms < 3_000; ms += 10) {
    clock.advance(10);
    for (let turn = 0; turn < 5; turn++) await Promise.resolve();
  }
  const open = channels.filter((channel) => channel.state === "open").length;
  if (open !== 2 * pairs) {
    throw new Error(`Only ${open} of ${2 * pairs} channel ends opened`);
  }
  return clock;
}

for (const pairs of [1_000, 10_000]) {
  const clock = await idleLinks(pairs);
  Deno.bench({
    name: `${pairs.toLocaleString("en")} idle links, one keepalive period (${
      (2 * pairs).toLocaleString("en")
    } frames)`,
    group: "idle links",
    baseline: pairs === 1_000,
    fn: () => {
      clock.advance(DEFAULT_KEEPALIVE_MS);
    },
  });
}
