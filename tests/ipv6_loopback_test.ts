/**
 * IPv6 on the real stack, on loopback only: two UDP daemons over `::1`
 * exchange presence, reach status 2 over a TCP link on `::1` and settle a
 * trust request; an IPv4-only node and a dual-stack node (bound to "::")
 * do the same with each other; a dual-stack DHT node relays values between
 * an IPv4-only and an IPv6-only node. Every wait is bounded. Skipped, with a
 * message, only where `::1` cannot be bound.
 */
import assert from "node:assert/strict";
import { openUdpDaemon } from "../lib/io/udp_daemon.ts";
import { UdpTransport } from "../lib/io/udp_transport.ts";
import type { Daemon } from "../lib/daemon/daemon.ts";
import type { PeerAddress } from "../lib/transport.ts";
import { SystemClock, systemClock } from "../lib/io/system_clock.ts";
import { DhtNode } from "../lib/dht/dht_node.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { seededRng } from "../lib/rng.ts";
import { within } from "./_within.ts";

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

Deno.test({
  name:
    "IPv6: a dual-stack DHT node joins an IPv4-only and an IPv6-only node (n4, n6, w)",
  ignore: !IPV6,
  fn: async () => {
    const clock = new SystemClock();
    const dualTransport = await UdpTransport.bind({ host: "::" });
    const v4Transport = await UdpTransport.bind({ host: "127.0.0.1" });
    const v6Transport = await UdpTransport.bind({ host: "::1" });
    const port = dualTransport.localAddress.port;
    const dual = new DhtNode({
      transport: dualTransport,
      clock,
      rng: seededRng("dual"),
    });
    const v4 = new DhtNode({
      transport: v4Transport,
      clock,
      rng: seededRng("v4"),
    }, { bootstrap: [{ host: "127.0.0.1", port }] });
    const v6 = new DhtNode({
      transport: v6Transport,
      clock,
      rng: seededRng("v6"),
    }, { bootstrap: [{ host: "::1", port }] });
    try {
      dual.start();
      const answered = await Promise.all([
        within<number>(
          3_000,
          "v4 bootstrap",
          (done) => v4.bootstrap([{ host: "127.0.0.1", port }], done),
        ),
        within<number>(
          3_000,
          "v6 bootstrap",
          (done) => v6.bootstrap([{ host: "::1", port }], done),
        ),
      ]);
      assert.deepEqual(answered, [1, 1]);
      // The dual-stack node names the IPv4 one by its IPv4 address (not
      // ::ffff:127.0.0.1), and knows both families.
      const known = () =>
        dual.routingTable.closest(dual.id, 8, clock.now(), false)
          .map((node) => node.address.host).sort();
      await waitFor("both peers known", () => known().length === 2, 3_000);
      assert.deepEqual(known(), ["127.0.0.1", "::1"]);
      // A value put by the IPv4-only node is found by the IPv6-only one:
      // the dual-stack node stores it and relays between the families.
      const key = InfoHash.get("across families");
      const stored = await within<number>(3_000, "put", (done) =>
        v4.put(key, {
          id: 7n,
          type: 0,
          data: new TextEncoder().encode("from IPv4"),
        }, { onDone: done }));
      assert.ok(stored >= 1, `stored on ${stored} nodes`);
      const found = await within<readonly { data: Uint8Array }[]>(
        3_000,
        "get",
        (done) => v6.get(key, { onDone: (values) => done(values) }),
      );
      assert.deepEqual(
        found.map((value) => new TextDecoder().decode(value.data)),
        ["from IPv4"],
      );
    } finally {
      for (const node of [dual, v4, v6]) node.stop();
      await Promise.all(
        [dualTransport, v4Transport, v6Transport].map((t) => t.close()),
      );
    }
  },
});
