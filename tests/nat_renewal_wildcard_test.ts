/**
 * Listen renewal and a wildcard bind: a node bound to "0.0.0.0"/"::" never
 * sees its bound host as its observed public IP, so without its own
 * addresses (`localHosts`) a public host would renew every listen every
 * 25 s forever. On the simulator (virtual time), the node's transport
 * reports a wildcard local address while its peers see its real one.
 */
import assert from "node:assert/strict";
import { DhtNode } from "../lib/dht/dht_node.ts";
import { localHosts } from "../lib/io/udp_daemon.ts";
import { Testnet } from "../lib/testing/testnet.ts";
import { forkRng, rngBytes, seededRng } from "../lib/rng.ts";
import type { Transport } from "../lib/transport.ts";

/** `transport` as a socket bound to the wildcard sees itself. */
function wildcard(transport: Transport, host: string): Transport {
  return {
    localAddress: { host, port: transport.localAddress.port },
    send: (to, bytes) => transport.send(to, bytes),
    receive: (handler) => transport.receive(handler),
    close: () => transport.close(),
  };
}

/** A public node bound to `bindHost`, after it has heard its observed IP. */
function publicNode(
  bindHost: string | undefined,
  hosts?: (real: string) => string[],
) {
  const net = Testnet.create({ nodes: 12, seed: 8 });
  const transport = net.network.attach();
  const real = transport.localAddress.host;
  const rng = seededRng("wildcard");
  const node = new DhtNode(
    {
      transport: bindHost === undefined
        ? transport
        : wildcard(transport, bindHost),
      clock: net.clock,
      rng,
      randomBytes: rngBytes(forkRng(rng, "bytes")),
    },
    {
      bootstrap: net.transports.slice(0, 3).map((t) => t.localAddress),
      localHosts: hosts?.(real),
    },
  );
  node.start();
  net.clock.advance(30_000);
  const result = {
    real,
    observed: node.observedHost,
    behindNat: node.behindNat,
  };
  node.stop();
  net.stop();
  return result;
}

Deno.test("DhtNode.behindNat: a public node bound to its address is not behind a NAT", () => {
  const bound = publicNode(undefined);
  assert.equal(bound.observed, bound.real);
  assert.equal(bound.behindNat, false);
});

Deno.test("DhtNode.behindNat: a wildcard bind is unknown (behind) unless the observed IP is one of localHosts", () => {
  for (const bind of ["0.0.0.0", "::"]) {
    const unknown = publicNode(bind);
    assert.equal(unknown.observed, unknown.real);
    assert.equal(unknown.behindNat, true, bind);
    const known = publicNode(bind, (real) => ["192.0.2.80", real]);
    assert.equal(known.behindNat, false, bind);
    // Its interfaces are not the observed IP: a NAT in front.
    const natted = publicNode(bind, () => ["192.168.1.20", "fe80::1"]);
    assert.equal(natted.behindNat, true, bind);
  }
});

Deno.test("DhtNode.behindNat: an IPv4-mapped local address matches the observed IPv4", () => {
  const mapped = publicNode("::", (real) => [`::FFFF:${real}`]);
  assert.equal(mapped.behindNat, false);
});

Deno.test("localHosts: the advertised host without its port; nothing more for a bound host", () => {
  assert.deepEqual(localHosts("192.0.2.5"), []);
  assert.deepEqual(localHosts("192.0.2.5", "203.0.113.9:4222"), [
    "203.0.113.9",
  ]);
  assert.deepEqual(localHosts("192.0.2.5", "[2001:db8::9]:4222"), [
    "2001:db8::9",
  ]);
  assert.deepEqual(localHosts("192.0.2.5", "2001:db8::9"), ["2001:db8::9"]);
  // A wildcard bind adds this machine's non-loopback addresses.
  assert.ok(!localHosts("0.0.0.0").includes("127.0.0.1"));
});
