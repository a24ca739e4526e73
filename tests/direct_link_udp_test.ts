/**
 * Status 2 on the real stack, on 127.0.0.1 only: two daemons, each with a
 * UDP DHT node and TCP links, one of them in a child process that the test
 * kills with SIGKILL. Every wait is bounded; the measured times are printed,
 * and asserted only against the generous limits.
 */
import assert from "node:assert/strict";
import { formatAddress } from "../lib/transport.ts";
import { openLoopbackDaemon } from "../cli/loopback_daemon.ts";

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

interface Peer {
  readonly id: string;
  readonly child: Deno.ChildProcess;
  readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  kill(): Promise<void>;
}

/** Starts the peer process (tests/fixtures/link_peer.ts) and reads its id. */
async function spawnPeer(
  bootstrap: string,
  friend: string,
): Promise<Peer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./fixtures/link_peer.ts", import.meta.url).pathname,
      bootstrap,
      friend,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const kill = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already dead.
    }
    await child.status;
    await writer.close().catch(() => {});
    await child.stdout.cancel().catch(() => {});
  };
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the peer process ended early");
      first += value;
    }
    reader.releaseLock();
    return { id: JSON.parse(first.split("\n")[0]).id, child, writer, kill };
  } catch (error) {
    await kill();
    throw error;
  }
}

async function openAlice() {
  const { daemon, transport } = await openLoopbackDaemon([]);
  const id = await daemon.createAccount({ deviceName: "alice" });
  daemon.start();
  const close = async () => {
    await daemon.stop();
    await transport.close();
  };
  return { daemon, id, address: formatAddress(transport.localAddress), close };
}

Deno.test({
  name: "Loopback: a banned peer's link is closed and its redials are refused",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const alice = await openAlice();
    const a = alice.id;
    const peer = await spawnPeer(alice.address, a);
    try {
      await alice.daemon.config.addContact(a, peer.id);
      alice.daemon.presence.subscribeBuddy(a, peer.id, true);
      await waitFor(
        "status 2",
        () => alice.daemon.presence.getSubscriptions(a)[0]?.status === 2,
        20_000,
      );
      const account = alice.daemon.account(a);
      const refusedBefore = account.linkCounters.refused;
      await alice.daemon.config.removeContact(a, peer.id, true);
      assert.deepEqual(alice.daemon.presence.getSubscriptions(a), []);
      // The peer still sees Alice on the DHT and dials again: 5 s after the
      // close, or when its listen first shows her if it had not yet.
      const refusedMs = await waitFor(
        "a refused redial",
        () => account.linkCounters.refused > refusedBefore,
        15_000,
      );
      console.log(`redial refused ${refusedMs} ms after the ban`);
      assert.equal(
        alice.daemon.presence.getDevices(a, peer.id).length,
        0,
      );
    } finally {
      await peer.kill();
      await alice.close();
    }
  },
});

Deno.test({
  name:
    "Loopback: 0 → 1 → 2 with the note over TCP+SIP, note updates, SIGKILL of the peer → 1 → 0",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { daemon: alice, id: a, address, close } = await openAlice();
    const statuses: number[] = [];
    alice.presence.on("newBuddyNotification", (event) => {
      statuses.push(event.status);
    });
    const peer = await spawnPeer(address, a);
    const { child, writer } = peer;
    try {
      const b = peer.id;
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
      await peer.kill();
      await close();
    }
  },
});
