/**
 * Status 2 on the real stack, on 127.0.0.1 only: two daemons, each with a
 * UDP DHT node and TCP links, one of them in a child process that the test
 * kills with SIGKILL. Every wait is bounded; the measured times are printed,
 * and asserted only against the generous limits.
 */
import assert from "node:assert/strict";
import { Daemon } from "../lib/daemon/daemon.ts";
import { MemoryStorage } from "../lib/memory_storage.ts";
import { systemClock } from "../lib/system_clock.ts";
import { systemRandomBytes } from "../lib/system_random.ts";
import { TcpStreamNetwork } from "../lib/tcp_stream_network.ts";
import { formatAddress } from "../lib/transport.ts";
import { UdpTransport } from "../lib/udp_transport.ts";
import { systemRng } from "../cli/dht.ts";

function waitFor(
  what: string,
  check: () => boolean,
  timeoutMs: number,
): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (check()) return resolve(Math.round(performance.now() - started));
      if (performance.now() - started > timeoutMs) {
        return reject(new Error(`timed out after ${timeoutMs} ms: ${what}`));
      }
      setTimeout(poll, 5);
    };
    poll();
  });
}

Deno.test({
  name:
    "Loopback: 0 → 1 → 2 with the note over TCP+SIP, note updates, SIGKILL of the peer → 1 → 0",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const transport = await UdpTransport.bind({ host: "127.0.0.1", port: 0 });
    const alice = await Daemon.open({
      transport,
      clock: systemClock,
      rng: systemRng(),
      randomBytes: systemRandomBytes,
      storage: new MemoryStorage(),
      scryptLog2N: 10,
      dht: { bootstrap: [] },
      streams: new TcpStreamNetwork({ host: "127.0.0.1" }),
    });
    const a = await alice.createAccount({ deviceName: "alice" });
    alice.start();
    const statuses: number[] = [];
    alice.presence.on("newBuddyNotification", (event) => {
      statuses.push(event.status);
    });
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./fixtures/link_peer.ts", import.meta.url).pathname,
        formatAddress(transport.localAddress),
        a,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const writer = child.stdin.getWriter();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      let first = "";
      while (!first.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("the peer process ended early");
        first += value;
      }
      const b = JSON.parse(first.split("\n")[0]).id as string;
      await alice.config.addContact(a, b);
      alice.presence.subscribeBuddy(a, b, true);
      const seen = () => alice.presence.getSubscriptions(a)[0];

      const connectedMs = await waitFor(
        "status 2",
        () => seen().status === 2,
        20_000,
      );
      assert.equal(seen().lineStatus, "from the subprocess");
      assert.deepEqual(statuses.slice(0, 2), [1, 2]);
      assert.deepEqual(
        alice.presence.getDevices(a, b).map((device) => device.connected),
        [true],
      );

      await writer.write(new TextEncoder().encode("note out for lunch\n"));
      const noteMs = await waitFor(
        "the new note",
        () => seen().lineStatus === "out for lunch",
        5_000,
      );
      assert.equal(seen().status, 2);

      child.kill("SIGKILL");
      const lostMs = await waitFor(
        "link loss",
        () => seen().status < 2,
        10_000,
      );
      const offlineMs = await waitFor(
        "status 0",
        () => seen().status === 0,
        40_000,
      );
      console.log(
        `status 2 after ${connectedMs} ms, note update ${noteMs} ms, ` +
          `link loss ${lostMs} ms after SIGKILL, offline ${
            lostMs + offlineMs
          } ms after it`,
      );
      assert.deepEqual(statuses.slice(-2), [1, 0]);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already dead.
      }
      await child.status;
      await writer.close().catch(() => {});
      await child.stdout.cancel().catch(() => {});
      await alice.stop();
      await transport.close();
    }
  },
});
