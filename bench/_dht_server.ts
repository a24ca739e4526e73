/**
 * Our DHT node as a stand-alone UDP server for `bench/dht_vs_dhtnode.ts`:
 * binds 127.0.0.1 (any port, or `--port`) with `recvmmsg`/`sendmmsg`
 * through FFI (`--transport mmsg`, the default, which needs `--allow-ffi`),
 * `Deno.listenDatagram` (`--transport datagram`) or `node:dgram`
 * (`--transport dgram`), lifts the request rate limits (as
 * `dhtnode -U` does) and the storage quota per origin (all the load comes
 * from 127.0.0.1, so without that most puts past the first 4 MiB would be
 * answered with a cheap quota error instead of being stored), prints
 * `port <n>` and serves until killed or until its stdin closes. Tokens and
 * ids come from the system's cryptographic source, as in `deno task run`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DhtNode } from "../lib/dht/dht_node.ts";
import { bytesRng } from "../lib/rng.ts";
import { systemRandomBytes } from "../lib/io/system_random.ts";
import { systemClock } from "../lib/io/system_clock.ts";
import { DatagramTransport } from "../lib/io/datagram_transport.ts";
import { UdpTransport } from "../lib/io/udp_transport.ts";
import { MmsgTransport } from "../lib/io/mmsg_transport.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string", default: "0" },
    transport: { type: "string", default: "mmsg" },
  },
});
const bind = values.transport === "dgram"
  ? UdpTransport.bind
  : values.transport === "datagram"
  ? DatagramTransport.bind
  : MmsgTransport.bind;
const transport = await bind({ host: "127.0.0.1", port: Number(values.port) });
const node = new DhtNode(
  { transport, clock: systemClock, rng: bytesRng(systemRandomBytes) },
  {
    requestsPerSecond: Infinity,
    requestsPerSecondPerIp: Infinity,
    limits: { maxBytesPerOrigin: Infinity },
  },
);
node.start();
console.log(`port ${transport.localAddress.port}`);
// Serve until the parent closes our stdin (or kills us).
for await (const _ of Deno.stdin.readable) {
  // Input is ignored.
}
node.stop();
await transport.close();
