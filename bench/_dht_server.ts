/**
 * Our DHT node as a stand-alone UDP server for `bench/dht_vs_dhtnode.ts`:
 * binds 127.0.0.1 (any port, or `--port`), lifts the request rate limits (as
 * `dhtnode -U` does), prints `port <n>` and serves until killed or until its
 * stdin closes.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DhtNode } from "../lib/dht/dht_node.ts";
import { seededRng } from "../lib/rng.ts";
import { systemClock } from "../lib/io/system_clock.ts";
import { bindUdpTransport } from "../lib/io/datagram_transport.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string", default: "0" } },
});
const transport = await bindUdpTransport({
  host: "127.0.0.1",
  port: Number(values.port),
});
const node = new DhtNode(
  { transport, clock: systemClock, rng: seededRng("bench-server") },
  { requestsPerSecond: Infinity, requestsPerSecondPerIp: Infinity },
);
node.start();
console.log(`port ${transport.localAddress.port}`);
// Serve until the parent closes our stdin (or kills us).
for await (const _ of Deno.stdin.readable) {
  // Input is ignored.
}
console.error(JSON.stringify(node.stats().rpc));
node.stop();
await transport.close();
