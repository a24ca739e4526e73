/**
 * The DHT request path alone, without sockets: a `DhtNode` on a transport
 * that only keeps the last datagram it was given, answering the requests of
 * `deno task bench:dht` (a get of one of 64 keys holding one small value,
 * from an address that has not proven itself; a put of a new 32-byte value at
 * one of 1,024 keys, with a valid token) from four client ports of one host.
 * What `bench/dht_vs_dhtnode.ts` measures, minus the UDP I/O; profile it with
 * `deno run -A --cpu-prof bench/cpu_per_iteration.ts
 * bench/dht_request_path_bench.ts get` (which also prints CPU time per request). Figures:
 * `docs/figures.md`, "Where the UDP node's time goes".
 *
 * @module
 */
import { DhtNode } from "../lib/dht/dht_node.ts";
import type { DhtMessage, DhtRequest } from "../lib/dht/messages.ts";
import { decodeMessage } from "../lib/dht/wire/decode.ts";
import { encodeMessage } from "../lib/dht/wire/encode.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { ManualClock } from "../lib/testing/mod.ts";
import { seededRng } from "../lib/rng.ts";
import type { DatagramHandler, PeerAddress } from "../lib/transport.ts";

const clock = new ManualClock(1_700_000_000_000);
let deliver: DatagramHandler = () => {};
let last: Uint8Array = new Uint8Array(0);
const _node = new DhtNode(
  {
    transport: {
      localAddress: { host: "127.0.0.1", port: 4222 },
      receive(handler) {
        deliver = handler;
      },
      send(_to, bytes) {
        last = bytes;
      },
      close: () => Promise.resolve(),
    },
    clock,
    rng: seededRng("request-path-bench"),
  },
  { requestsPerSecond: Infinity, requestsPerSecondPerIp: Infinity },
);
const rng = seededRng("request-path-clients");
const clients: PeerAddress[] = [1, 2, 3, 4].map((i) => ({
  host: "127.0.0.1",
  port: 40_000 + i,
}));
const ids = clients.map(() => InfoHash.random(rng));
const getKeys = Array.from(
  { length: 64 },
  (_, i) => InfoHash.get(`bench get ${i}`),
);
const putKeys = Array.from(
  { length: 1_024 },
  (_, i) => InfoHash.get(`bench put ${i}`),
);

function ask(request: DhtRequest, from: PeerAddress): DhtMessage {
  deliver(encodeMessage(request).slice(), from);
  return decodeMessage(last.slice());
}

// Each client's token, then one value at every get key.
const tokens = clients.map((from, i) => {
  const reply = ask({
    kind: "request",
    method: "get",
    tid: 1,
    network: 0,
    senderId: ids[i],
    key: getKeys[0],
  }, from);
  if (reply.kind !== "reply" || reply.token === undefined) {
    throw new Error("no token");
  }
  return reply.token;
});
getKeys.forEach((key, k) =>
  ask({
    kind: "request",
    method: "put",
    tid: 2,
    network: 0,
    senderId: ids[0],
    key,
    token: tokens[0],
    values: [{ id: BigInt(k + 1), type: 0, data: new Uint8Array(32).fill(k) }],
  }, clients[0])
);

/** A request encoded once, with where its value id goes (puts). */
const gets = Array.from({ length: 256 }, (_, i) =>
  encodeMessage({
    kind: "request",
    method: "get",
    tid: 0x1000_0000 + i,
    network: 0,
    senderId: ids[i % 4],
    key: getKeys[i % 64],
  }).slice());
const VALUE_ID_MARK = 0xfedc_ba98_7654_3210n;
const puts = Array.from({ length: 1_024 }, (_, i) => {
  const bytes = encodeMessage({
    kind: "request",
    method: "put",
    tid: 0x1000_0000 + i,
    network: 0,
    senderId: ids[i % 4],
    key: putKeys[i],
    token: tokens[i % 4],
    values: [{
      id: VALUE_ID_MARK,
      type: 0,
      data: new Uint8Array(32).fill(i),
    }],
  }).slice();
  // The value id: uint64 (0xcf) then the mark's first bytes.
  const at = bytes.findIndex((byte, j) =>
    byte === 0xcf && bytes[j + 1] === 0xfe && bytes[j + 2] === 0xdc
  );
  return { bytes, valueIdAt: at + 1 };
});

let nextGet = 0;
let nextPut = 0;
let nextValueId = 1n;

Deno.bench("request path: get (one value, unproven requester)", () => {
  const i = nextGet++;
  deliver(gets[i % gets.length].slice(), clients[i % 4]);
});

Deno.bench("request path: put (a new 32-byte value)", () => {
  const i = nextPut++;
  const { bytes, valueIdAt } = puts[i % puts.length];
  const copy = bytes.slice();
  new DataView(copy.buffer).setBigUint64(
    valueIdAt,
    0x8000_0000_0000_0000n + nextValueId++,
  );
  deliver(copy, clients[i % 4]);
});
