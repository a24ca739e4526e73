/**
 * Fuzzes a real {@link DhtNode} through its UDP entry point: mutated and
 * random datagrams from many sources, mutated answers to the node's own
 * requests (with their real tids, from the addresses it asked), and, every
 * `pingEvery` packets, a valid ping from an honest address whose answer is
 * checked. The node runs on a {@link ManualClock} whose time moves with the
 * packets, so its timers (timeouts, expiry, maintenance) fire during the
 * run. Seeds: the OpenDHT 2.4.12 packets captured in `tests/vectors/opendht`
 * plus one of each request our own encoder writes.
 *
 * A crash is an error escaping the node: thrown out of its receive
 * handler, out of a timer, or left as an unhandled rejection. Errors its
 * RPC engine caught inside are reported as `handlerErrors`.
 *
 * @module
 */
import { DhtNode } from "../../lib/dht/dht_node.ts";
import type { DhtMessage, DhtRequest } from "../../lib/dht/messages.ts";
import { decodeMessage } from "../../lib/dht/wire/decode.ts";
import { encodeMessage } from "../../lib/dht/wire/encode.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { forkRng, rngBytes, seededRng } from "../../lib/rng.ts";
import {
  type DatagramHandler,
  formatAddress,
  type PeerAddress,
  type Transport,
} from "../../lib/transport.ts";
import { Mutator } from "./_mutator.ts";
import { CrashCatcher, type FuzzReport, memoryNow } from "./_report.ts";

/** Options of {@link fuzzDhtNode}. */
export interface DhtFuzzOptions {
  /** Seed of every choice. */
  readonly seed: string;
  /** Hostile datagrams to send (Infinity: until `durationMs`). */
  readonly packets: number;
  /** Stop after this much wall-clock time, if sooner. */
  readonly durationMs?: number;
  /** A valid ping every this many packets. @default {50} */
  readonly pingEvery?: number;
  /** Wall clock for `durationMs` and the report (the fuzzer's, not the node's). */
  readonly wallClock?: () => number;
}

const NODE_ADDRESS: PeerAddress = { host: "10.0.0.1", port: 4222 };
const PINGER: PeerAddress = { host: "198.51.100.7", port: 4222 };
/** Addresses the node bootstraps from and keeps asking: their answers are fuzzed. */
const FUZZ_PEERS: PeerAddress[] = Array.from(
  { length: 8 },
  (_, i) => ({ host: `203.0.113.${i + 1}`, port: 4222 }),
);

/** A transport the fuzzer drives by hand: it delivers and collects datagrams. */
class FuzzTransport implements Transport {
  readonly localAddress = NODE_ADDRESS;
  handler: DatagramHandler | undefined;
  readonly sent: Array<{ to: PeerAddress; bytes: Uint8Array }> = [];
  send(to: PeerAddress, bytes: Uint8Array): void {
    this.sent.push({ to, bytes });
  }
  receive(handler: DatagramHandler): void {
    this.handler = handler;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Captured OpenDHT packets, split into requests and the rest (answers, parts). */
export interface DhtCorpus {
  /** Requests (`y: "q"`). */
  readonly requests: Uint8Array[];
  /** Replies, errors and value parts. */
  readonly answers: Uint8Array[];
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}

/**
 * The seed packets: every packet of the OpenDHT captures in `directory`,
 * plus one of each request kind from our own encoder.
 *
 * @param directory Where the `*.json` captures are.
 */
export async function loadDhtCorpus(directory: URL): Promise<DhtCorpus> {
  const corpus: DhtCorpus = { requests: [], answers: [] };
  for await (const entry of Deno.readDir(directory)) {
    if (!entry.name.endsWith(".json")) continue;
    const capture = JSON.parse(
      await Deno.readTextFile(new URL(entry.name, directory)),
    ) as { packets: Array<{ hex: string; decoded?: { y?: string } }> };
    for (const packet of capture.packets) {
      const bytes = hexBytes(packet.hex);
      if (packet.decoded?.y === "q") corpus.requests.push(bytes);
      else corpus.answers.push(bytes);
    }
  }
  const senderId = InfoHash.get("fuzz sender");
  const key = InfoHash.get("fuzz key");
  const token = new Uint8Array(32).fill(7);
  const base = { kind: "request", network: 0, tid: 1, senderId } as const;
  const own: DhtRequest[] = [
    { ...base, method: "ping" },
    { ...base, method: "find", target: key, want: [2, 10] },
    { ...base, method: "get", key, token },
    {
      ...base,
      method: "put",
      key,
      token,
      values: [{ id: 42n, type: 0, data: new Uint8Array([1, 2, 3]) }],
    },
    { ...base, method: "listen", key, token, socketId: 9, version: 1 },
    { ...base, method: "refresh", key, token, valueId: 42n },
    {
      ...base,
      method: "update",
      socketId: 9,
      key,
      values: [{ id: 43n, type: 0, data: new Uint8Array([4]) }],
    },
  ];
  for (const request of own) corpus.requests.push(encodeMessage(request));
  return corpus;
}

/** An answer from the corpus rewritten to match a request the node sent. */
function answerFor(
  corpus: DhtCorpus,
  mutator: Mutator,
  tid: number,
): Uint8Array | undefined {
  for (let tries = 0; tries < 4; tries++) {
    let message: DhtMessage;
    try {
      message = decodeMessage(mutator.pick(corpus.answers));
    } catch {
      continue;
    }
    if (message.kind === "value-part") continue;
    try {
      return encodeMessage({
        ...message,
        tid,
        senderId: message.senderId ?? InfoHash.get(`peer ${tid}`),
      } as DhtMessage);
    } catch {
      continue;
    }
  }
  return undefined;
}

/** A corpus request re-encoded with `token`, or undefined if it has none. */
function withToken(
  seed: Uint8Array,
  token: Uint8Array,
): Uint8Array | undefined {
  try {
    const message = decodeMessage(seed);
    if (message.kind !== "request" || !("token" in message)) return undefined;
    return encodeMessage({ ...message, token } as DhtMessage);
  } catch {
    return undefined;
  }
}

/**
 * Runs the DHT fuzzer.
 *
 * @param corpus Seed packets ({@link loadDhtCorpus}).
 * @param options Seed, packet count, duration, ping spacing.
 * @returns The report; `crashes` must be empty.
 */
export function fuzzDhtNode(
  corpus: DhtCorpus,
  options: DhtFuzzOptions,
): FuzzReport {
  const wallClock = options.wallClock ?? (() => performance.now());
  const pingEvery = options.pingEvery ?? 50;
  const root = seededRng(`dht fuzz ${options.seed}`);
  const mutator = new Mutator(forkRng(root, "mutator"));
  const clock = new ManualClock();
  const transport = new FuzzTransport();
  const catcher = new CrashCatcher();
  const memoryBefore = memoryNow();
  const startedMs = wallClock();
  catcher.install();
  const node = new DhtNode({
    transport,
    clock,
    rng: forkRng(root, "node"),
    randomBytes: rngBytes(forkRng(root, "node bytes")),
  }, { bootstrap: FUZZ_PEERS });
  /** Requests the node sent to fuzz peers, by tid, waiting for a (hostile) answer. */
  const asked: Array<{ to: PeerAddress; tid: number }> = [];
  const pingTids = new Set<number>();
  /** Write tokens the node gave fuzz hosts, by address: they reach deeper. */
  const tokens = new Map<string, Uint8Array>();
  let packetsSent = 0;
  let bytesSent = 0;
  let pingsSent = 0;
  let pingsAnswered = 0;
  let nextPingTid = 1;
  const deliver = (bytes: Uint8Array, from: PeerAddress) => {
    try {
      transport.handler?.(bytes, from);
    } catch (error) {
      catcher.record(error);
    }
  };
  const collect = () => {
    for (const { to, bytes } of transport.sent) {
      let message: DhtMessage;
      try {
        message = decodeMessage(bytes);
      } catch (error) {
        catcher.record(
          new Error(`node sent an undecodable datagram: ${error}`),
        );
        continue;
      }
      if (formatAddress(to) === formatAddress(PINGER)) {
        if (message.kind === "reply" && pingTids.delete(message.tid)) {
          pingsAnswered += 1;
        }
      } else if (message.kind === "request") {
        asked.push({ to, tid: message.tid });
        if (asked.length > 256) asked.shift();
      } else if (message.kind === "reply" && message.token !== undefined) {
        tokens.set(formatAddress(to), message.token);
        if (tokens.size > 256) tokens.delete(tokens.keys().next().value!);
      }
    }
    transport.sent.length = 0;
  };
  try {
    node.start();
    // Something of its own to do, so that lookups run during the run.
    node.put(InfoHash.get("fuzz own key"), {
      id: 7n,
      type: 0,
      data: new Uint8Array([1]),
    });
    node.listen(InfoHash.get("fuzz own key"), () => {});
    collect();
    const deadline = options.durationMs === undefined
      ? Infinity
      : startedMs + options.durationMs;
    for (
      let i = 0;
      i < options.packets && (i % 64 !== 0 || wallClock() < deadline);
      i++
    ) {
      if (i % pingEvery === 0) {
        const tid = nextPingTid++;
        pingTids.add(tid);
        pingsSent += 1;
        deliver(
          encodeMessage({
            kind: "request",
            method: "ping",
            network: 0,
            tid,
            senderId: InfoHash.get(`honest pinger`),
          }),
          PINGER,
        );
        collect();
      }
      let bytes: Uint8Array | undefined;
      let from: PeerAddress;
      const roll = mutator.int(100);
      if (roll < 20 && asked.length > 0) {
        // Answer one of the node's own requests, from where it was sent.
        const request = asked.splice(mutator.int(asked.length), 1)[0];
        from = request.to;
        bytes = answerFor(corpus, mutator, request.tid);
        if (bytes !== undefined && mutator.chance(0.5)) {
          bytes = mutator.mutate(bytes, corpus.answers);
        }
      } else {
        from = mutator.chance(0.2) ? mutator.pick(FUZZ_PEERS) : {
          host: `192.0.2.${1 + mutator.int(64)}`,
          port: 4222 + mutator.int(2),
        };
        const token = tokens.get(formatAddress(from));
        if (roll < 45 && token !== undefined) {
          // A request carrying the token the node gave this address.
          bytes = withToken(mutator.pick(corpus.requests), token);
          if (bytes !== undefined && mutator.chance(0.3)) {
            bytes = mutator.mutate(bytes, corpus.requests);
          }
        }
      }
      if (bytes === undefined) {
        const seeds = roll < 70 ? corpus.requests : corpus.answers;
        bytes = mutator.chance(0.05)
          ? mutator.pick(seeds) // an unmutated seed now and then
          : mutator.mutate(mutator.pick(seeds), seeds);
      }
      packetsSent += 1;
      bytesSent += bytes.length;
      deliver(bytes, from);
      collect();
      if (i % 16 === 15) {
        try {
          clock.advance(16 + mutator.int(200));
        } catch (error) {
          catcher.record(error);
        }
        collect();
      }
    }
    try {
      clock.advance(60_000);
    } catch (error) {
      catcher.record(error);
    }
    collect();
  } finally {
    node.stop();
    catcher.uninstall();
  }
  const rpc = node.stats().rpc;
  return {
    target: "dht",
    seed: options.seed,
    packetsSent,
    bytesSent,
    crashes: catcher.messages,
    crashCount: catcher.count,
    pingsSent,
    pingsAnswered,
    notes: {
      handlerErrors: rpc.handlerErrors,
      droppedMalformed: rpc.droppedMalformed,
      droppedUnmatched: rpc.droppedUnmatched,
      droppedRateLimited: rpc.droppedRateLimited,
      storedValues: node.stats().storage.values,
      listeners: node.stats().storage.listeners,
    },
    memoryBefore,
    memoryAfter: memoryNow(),
    elapsedMs: wallClock() - startedMs,
  };
}
