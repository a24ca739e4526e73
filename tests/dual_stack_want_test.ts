/**
 * A DHT node on a dual-stack socket ("::") asks its peers for nodes of both
 * families (`w` = [2, 10], as OpenDHT numbers them), so that IPv4 peers also
 * return their IPv6 nodes and the reverse; a node bound to one family asks
 * for none (peers then answer with the requester's own family).
 */
import assert from "node:assert/strict";
import { DhtNode } from "../lib/dht/dht_node.ts";
import { decodeMessage } from "../lib/dht/wire/decode.ts";
import { WANT_IPV4, WANT_IPV6 } from "../lib/dht/messages.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { seededRng } from "../lib/rng.ts";
import type {
  DatagramHandler,
  PeerAddress,
  Transport,
} from "../lib/transport.ts";

class RecordingTransport implements Transport {
  readonly sent: Uint8Array[] = [];
  constructor(readonly localAddress: PeerAddress) {}
  send(_to: PeerAddress, bytes: Uint8Array): void {
    this.sent.push(bytes);
  }
  receive(_handler: DatagramHandler): void {}
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function wantOfFirstGet(host: string): readonly number[] | undefined {
  const clock = new ManualClock(1_000_000);
  const transport = new RecordingTransport({ host, port: 4222 });
  const node = new DhtNode({ transport, clock, rng: seededRng(host) });
  node.routingTable.heard(
    InfoHash.get("peer"),
    { host: "192.0.2.1", port: 4222 },
    clock.now(),
    true,
  );
  node.get(InfoHash.get("key"), {});
  const requests = transport.sent.map((bytes) => decodeMessage(bytes))
    .filter((message) => message.kind === "request");
  const get = requests.find((message) =>
    message.kind === "request" && message.method === "get"
  );
  assert.ok(get !== undefined, "no get was sent");
  node.stop();
  return (get as { want?: readonly number[] }).want;
}

Deno.test("DhtNode on a dual-stack socket asks for both families (w = [2, 10])", () => {
  assert.deepEqual(wantOfFirstGet("::"), [WANT_IPV4, WANT_IPV6]);
});

Deno.test("DhtNode on a single-family socket asks for no family (its own)", () => {
  assert.equal(wantOfFirstGet("127.0.0.1"), undefined);
  assert.equal(wantOfFirstGet("::1"), undefined);
});
