/**
 * IPv6 on the real stack, on loopback only: two UDP daemons over `::1`
 * exchange presence, reach status 2 over a TCP link on `::1` and settle a
 * trust request; an IPv4-only node and a dual-stack node (bound to "::")
 * do the same with each other. Every wait is bounded. Skipped, with a
 * message, only where `::1` cannot be bound.
 */
import assert from "node:assert/strict";
import { openUdpDaemon } from "../lib/io/udp_daemon.ts";
import { UdpTransport } from "../lib/io/udp_transport.ts";
import type { Daemon } from "../lib/daemon/daemon.ts";
import type { PeerAddress } from "../lib/transport.ts";
import { systemClock } from "../lib/io/system_clock.ts";

async function ipv6LoopbackWorks(): Promise<boolean> {
  try {
    const probe = await UdpTransport.bind({ host: "::1" });
    await probe.close();
    return true;
  } catch {
    return false;
  }
}

const IPV6 = await ipv6LoopbackWorks();
if (!IPV6) {
  console.warn("ipv6_loopback_test: ::1 cannot be bound here, tests skipped");
}

function waitFor(
  what: string,
  check: () => boolean,
  timeoutMs: number,
): Promise<void> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (check()) return resolve();
      if (performance.now() - started > timeoutMs) {
        return reject(new Error(`timed out after ${timeoutMs} ms: ${what}`));
      }
      setTimeout(poll, 10);
    };
    poll();
  });
}

interface Node {
  readonly daemon: Daemon;
  readonly id: string;
}

async function open(
  root: string,
  name: string,
  host: string,
  bootstrap: PeerAddress[],
  advertise?: string,
): Promise<Node> {
  const daemon = await openUdpDaemon({
    dataDir: `${root}/${name}`,
    host,
    bootstrap,
    advertise,
    scryptLog2N: 10,
  });
  const id = await daemon.createAccount({ deviceName: name });
  return { daemon, id };
}

/** Presence both ways up to status 2, then a request accepted. */
async function presenceAndRequest(alice: Node, bob: Node): Promise<void> {
  const { daemon: a } = alice;
  const { daemon: b } = bob;
  a.presence.subscribeBuddy(alice.id, bob.id, true);
  b.presence.subscribeBuddy(bob.id, alice.id, true);
  const status = (d: Daemon, self: string) =>
    d.presence.getSubscriptions(self)[0]?.status ?? 0;
  await waitFor("alice sees bob at 2", () => status(a, alice.id) === 2, 20_000);
  await waitFor("bob sees alice at 2", () => status(b, bob.id) === 2, 20_000);
  let asked = "";
  b.config.on("incomingTrustRequest", async (request) => {
    asked = request.from;
    await b.config.acceptTrustRequest(bob.id, request.from);
  });
  let accepted = false;
  a.config.on("trustRequestAccepted", () => accepted = true);
  await a.config.sendTrustRequest(
    alice.id,
    bob.id,
    new TextEncoder().encode("hi over IPv6"),
  );
  await waitFor("the request arrives", () => asked === alice.id, 20_000);
  await waitFor("the acceptance returns", () => accepted, 20_000);
  assert.equal(a.config.getContactDetails(alice.id, bob.id)?.confirmed, true);
}

Deno.test({
  name:
    "IPv6: two UDP daemons over ::1 reach status 2 (TCP on ::1) and settle a trust request",
  ignore: !IPV6,
  fn: async () => {
    const root = await Deno.makeTempDir();
    const alice = await open(root, "alice", "::1", []);
    const bob = await open(root, "bob", "::1", [alice.daemon.dht.address]);
    try {
      assert.equal(alice.daemon.dht.address.host, "::1");
      alice.daemon.start();
      bob.daemon.start();
      await presenceAndRequest(alice, bob);
      // The link is on ::1: the endpoint Bob announced is bracketed IPv6.
      const devices = alice.daemon.presence.getDevices(alice.id, bob.id);
      assert.deepEqual(devices.map((device) => device.connected), [true]);
    } finally {
      await Promise.all([alice.daemon.stop(), bob.daemon.stop()]);
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "IPv6: an IPv4-only node and a dual-stack node interoperate (presence, status 2, a request)",
  ignore: !IPV6,
  fn: async () => {
    const root = await Deno.makeTempDir();
    const v4 = await open(root, "v4", "127.0.0.1", []);
    // Dual stack: "::" takes IPv4 peers too; links advertised on loopback.
    const dual = await open(
      root,
      "dual",
      "::",
      [v4.daemon.dht.address],
      "127.0.0.1",
    );
    try {
      assert.equal(dual.daemon.dht.address.host, "::");
      v4.daemon.start();
      dual.daemon.start();
      await presenceAndRequest(dual, v4);
      // The dual-stack node names its IPv4 peer by its IPv4 address.
      const peers = dual.daemon.dht.routingTable.closest(
        dual.daemon.dht.id,
        8,
        systemClock.now(),
        false,
      ).map((node) => node.address.host);
      assert.ok(peers.includes("127.0.0.1"), JSON.stringify(peers));
    } finally {
      await Promise.all([v4.daemon.stop(), dual.daemon.stop()]);
      await Deno.remove(root, { recursive: true });
    }
  },
});
