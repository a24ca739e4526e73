/**
 * One load generator process of `bench/dht_vs_dhtnode.ts`: a few UDP
 * sockets that keep a fixed number of get or put requests in flight at one
 * server (a closed loop), made as cheap as possible so that several of them
 * can saturate a server:
 *
 * - requests are encoded once per key (and, for puts, per socket, as the
 *   token is bound to the socket's address) and only patched per send: the
 *   tid, and a put's value id (a fresh one every time, so every put stores
 *   a new value, as in the first version of this bench);
 * - a reply is not decoded: a small msgpack skipper reads its tid and
 *   whether it is an error;
 * - the sockets read and write in batches (`MmsgTransport`, `recvmmsg` and
 *   `sendmmsg` through FFI; `--transport datagram` for
 *   `Deno.listenDatagram`), so that a generator needs a few µs of CPU per
 *   request, well under what either server needs.
 *
 * With `--rate <n>` it runs an open loop instead: it sends `n` requests a
 * second on a fixed schedule whatever the server answers, and a latency is
 * measured from the time the schedule gave the request, not from when the
 * generator got round to sending it (so a generator or server that falls
 * behind is charged for it, not hidden: no coordinated omission). That is
 * how two servers' latencies compare at the same offered load; the closed
 * loop measures capacity, where each server runs at its own rate.
 *
 * It talks to its parent over stdin/stdout, one line each: prints `ready`
 * once every socket has its token; then `go` starts the load, `measure`
 * starts counting (after the warm-up), `stop` stops counting and prints one
 * JSON line with the counts, the latencies (ms, sorted) and this process's
 * CPU seconds over the measurement; closing stdin ends it.
 *
 * Arguments: `--host`, `--port`, `--op get|put`, `--concurrency <n>`,
 * `--sockets <n>`, `--index <i>` (this generator's number, which keeps the
 * value ids of several generators apart), `--transport mmsg|datagram`,
 * `--rate <n>` (requests per second, open loop; 0, the default: closed).
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { DhtMessage, DhtRequest } from "../lib/dht/messages.ts";
import { decodeMessage } from "../lib/dht/wire/decode.ts";
import { encodeMessage } from "../lib/dht/wire/encode.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { seededRng } from "../lib/rng.ts";
import type { PeerAddress, Transport } from "../lib/transport.ts";
import { DatagramTransport } from "../lib/io/datagram_transport.ts";
import { MmsgTransport } from "../lib/io/mmsg_transport.ts";
import { cpuSeconds, GET_KEYS, getKey, PUT_KEYS, putKey } from "./_dht_keys.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    op: { type: "string", default: "get" },
    concurrency: { type: "string", default: "16" },
    sockets: { type: "string", default: "2" },
    index: { type: "string", default: "0" },
    transport: { type: "string", default: "mmsg" },
    rate: { type: "string", default: "0" },
  },
});
const HOST = flags.host;
const PORT = Number(flags.port);
const OPERATION = flags.op === "put" ? "put" : "get";
const CONCURRENCY = Number(flags.concurrency);
const SOCKETS = Number(flags.sockets);
const INDEX = Number(flags.index);
const LOST_AFTER_MS = 1_000;
const TO: PeerAddress = { host: HOST, port: PORT };
const TRANSPORT = flags.transport === "datagram" ? "datagram" : "mmsg";
/** Requests per second of the open loop; 0 for the closed loop. */
const RATE = Number(flags.rate) > 0 ? Number(flags.rate) : 0;
/** Open loop: requests in flight at most (more are counted lost at once). */
const OPEN_IN_FLIGHT_MAX = 65_536;
/** Tids from here on are always written as msgpack uint32 (0xce + 4 bytes). */
const TID_BASE = 0x1000_0000;
/** Value ids from here on are always written as msgpack uint64 (0xcf + 8 bytes). */
const VALUE_ID_BASE = 0x8000_0000_0000_0000n;

const rng = seededRng(`bench-dht-load-${INDEX}`);

/** Where a template's patched fields start. */
interface Template {
  readonly bytes: Uint8Array;
  readonly tidAt: number;
  readonly valueIdAt: number;
}

/** The offset of `needle` in `haystack` (which must hold it once). */
function offsetOf(haystack: Uint8Array, needle: readonly number[]): number {
  let found = -1;
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    if (found !== -1) throw new Error("template field found twice");
    found = i;
  }
  if (found === -1) throw new Error("template field not found");
  return found;
}

const TID_MARK = 0xfedc_ba98;
const VALUE_ID_MARK = 0xfedc_ba98_7654_3210n;

function template(request: DhtRequest): Template {
  const bytes = encodeMessage(request).slice();
  // "t" (fixstr) then the uint32 mark.
  const tidAt = offsetOf(bytes, [0xa1, 0x74, 0xce, 0xfe, 0xdc, 0xba, 0x98]) +
    3;
  const valueIdAt = request.method === "put"
    ? offsetOf(bytes, [0xcf, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10]) +
      1
    : -1;
  return { bytes, tidAt, valueIdAt };
}

function randomData(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(rng() * 256);
  return bytes;
}

// ---------------------------------------------------------------------------
// Reading a reply's tid without decoding it.

/** Offset after the msgpack item at `at` (throws on anything malformed). */
function skip(bytes: Uint8Array, at: number, depth: number): number {
  if (depth > 16) throw new Error("too deep");
  const head = bytes[at];
  if (
    head <= 0x7f || head >= 0xe0 || head === 0xc0 || head === 0xc2 ||
    head === 0xc3
  ) return at + 1;
  if (head <= 0x8f) return skipItems(bytes, at + 1, 2 * (head & 0x0f), depth);
  if (head <= 0x9f) return skipItems(bytes, at + 1, head & 0x0f, depth);
  if (head <= 0xbf) return at + 1 + (head & 0x1f);
  switch (head) {
    case 0xc4:
    case 0xd9:
      return at + 2 + bytes[at + 1];
    case 0xc5:
    case 0xda:
      return at + 3 + ((bytes[at + 1] << 8) | bytes[at + 2]);
    case 0xcc:
    case 0xd0:
      return at + 2;
    case 0xcd:
    case 0xd1:
      return at + 3;
    case 0xce:
    case 0xd2:
      return at + 5;
    case 0xcf:
    case 0xd3:
      return at + 9;
    case 0xdc:
      return skipItems(
        bytes,
        at + 3,
        (bytes[at + 1] << 8) | bytes[at + 2],
        depth,
      );
    case 0xde:
      return skipItems(
        bytes,
        at + 3,
        2 * ((bytes[at + 1] << 8) | bytes[at + 2]),
        depth,
      );
  }
  throw new Error(`unexpected msgpack byte 0x${head.toString(16)}`);
}

function skipItems(
  bytes: Uint8Array,
  at: number,
  count: number,
  depth: number,
): number {
  for (let i = 0; i < count; i++) at = skip(bytes, at, depth + 1);
  return at;
}

/** An int at `at` (positive forms only), or -1. */
function readUint(bytes: Uint8Array, at: number): number {
  const head = bytes[at];
  if (head <= 0x7f) return head;
  if (head === 0xcc) return bytes[at + 1];
  if (head === 0xcd) return (bytes[at + 1] << 8) | bytes[at + 2];
  if (head === 0xce) {
    return ((bytes[at + 1] << 24) | (bytes[at + 2] << 16) |
      (bytes[at + 3] << 8) | bytes[at + 4]) >>> 0;
  }
  return -1;
}

/** The tid of a reply (negated, minus one, for an error), or undefined. */
function replyTid(bytes: Uint8Array): number | undefined {
  const head = bytes[0];
  if (head < 0x80 || head > 0x8f) return undefined;
  let at = 1;
  let tid = -1;
  let error = false;
  let reply = false;
  for (let i = 0; i < (head & 0x0f); i++) {
    const key = bytes[at];
    if (key === 0xa1) {
      const name = bytes[at + 1];
      at += 2;
      if (name === 0x74) tid = readUint(bytes, at); // "t"
      else if (name === 0x65) error = true; // "e"
      else if (name === 0x72) reply = true; // "r"
    } else at = skip(bytes, at, 0);
    at = skip(bytes, at, 0);
  }
  if (tid < 0 || !(reply || error)) return undefined;
  return error ? -tid - 1 : tid;
}

// ---------------------------------------------------------------------------
// Sockets and the closed loop.

interface Slot {
  socket: Socket;
  tid: number;
  sentAt: number;
}

class Socket {
  readonly id = InfoHash.random(rng);
  readonly transport: Transport;
  templates: Template[] = [];
  /** Answers to the first (decoded) requests, by tid. */
  readonly waiting = new Map<number, (message: DhtMessage) => void>();

  constructor(transport: Transport, onReply: (tid: number) => void) {
    this.transport = transport;
    transport.receive((message) => this.#receive(message, onReply));
  }

  static async open(onReply: (tid: number) => void): Promise<Socket> {
    const bind = TRANSPORT === "datagram"
      ? DatagramTransport.bind
      : MmsgTransport.bind;
    return new Socket(await bind({ host: "127.0.0.1", port: 0 }), onReply);
  }

  /** A reply is read where it lies, never decoded (but for the first ones). */
  #receive(message: Uint8Array, onReply: (tid: number) => void): void {
    if (this.waiting.size > 0) {
      let decoded: DhtMessage;
      try {
        decoded = decodeMessage(message.slice());
      } catch {
        return;
      }
      const done = this.waiting.get(decoded.tid);
      this.waiting.delete(decoded.tid);
      done?.(decoded);
      return;
    }
    let tid: number | undefined;
    try {
      tid = replyTid(message);
    } catch {
      return;
    }
    if (tid !== undefined) onReply(tid);
  }

  /** Sends `bytes`, which the caller must not change until the next turn. */
  send(bytes: Uint8Array): void {
    this.transport.send(TO, bytes);
  }

  /** A get through the full codec, for the token. */
  token(): Promise<Uint8Array> {
    const tid = TID_BASE - 1 - Math.floor(rng() * 0xffff);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("no token from the server")),
        2_000,
      );
      this.waiting.set(tid, (message) => {
        clearTimeout(timer);
        if (message.kind === "reply" && message.token !== undefined) {
          resolve(message.token);
        } else reject(new Error("the server gave no token"));
      });
      this.send(encodeMessage({
        kind: "request",
        method: "get",
        tid,
        network: 0,
        senderId: this.id,
        key: getKey(0),
      }));
    });
  }
}

const sockets: Socket[] = [];
const slots: Slot[] = [];
let running = false;
let measuring = false;
let completed = 0;
let errors = 0;
let lost = 0;
let latencies: number[] = [];
let nextTid = TID_BASE + INDEX * 0x0100_0000;
let nextValueId = BigInt(INDEX) << 40n;
let cpuAtStart = 0;
/** Slot of each tid in flight. */
const inFlight = new Map<number, number>();

/** Patches a template of `socket` with a new tid (returned) and sends it. */
function sendNext(socket: Socket): number {
  const keyIndex = Math.floor(rng() * socket.templates.length);
  const { bytes: template, tidAt, valueIdAt } = socket.templates[keyIndex];
  // MmsgTransport copies what it queues at once: the template is patched in
  // place; Deno.listenDatagram's send reads the bytes later.
  const bytes = TRANSPORT === "mmsg" ? template : template.slice();
  const tid = nextTid;
  nextTid = nextTid >= 0xffff_fff0 ? TID_BASE : nextTid + 1;
  bytes[tidAt] = tid >>> 24;
  bytes[tidAt + 1] = (tid >>> 16) & 0xff;
  bytes[tidAt + 2] = (tid >>> 8) & 0xff;
  bytes[tidAt + 3] = tid & 0xff;
  if (valueIdAt >= 0) {
    const id = VALUE_ID_BASE + nextValueId++;
    new DataView(bytes.buffer).setBigUint64(valueIdAt, id);
  }
  socket.send(bytes);
  return tid;
}

function issue(slotIndex: number): void {
  if (!running) return;
  const slot = slots[slotIndex];
  inFlight.delete(slot.tid);
  slot.sentAt = performance.now();
  slot.tid = sendNext(slot.socket);
  inFlight.set(slot.tid, slotIndex);
}

// The open loop: the schedule, and the scheduled send time of each tid.
let openStart = 0;
let openSent = 0;
const openInFlight = new Map<number, number>();
let openTicker: ReturnType<typeof setInterval> | undefined;

/** Sends every request the schedule has made due by now. */
function openTick(): void {
  if (!running) return;
  const now = performance.now();
  const due = Math.floor((now - openStart) * RATE / 1_000);
  for (; openSent < due; openSent++) {
    const scheduledAt = openStart + openSent * 1_000 / RATE;
    if (openInFlight.size >= OPEN_IN_FLIGHT_MAX) {
      if (measuring) lost += 1;
      continue;
    }
    const tid = sendNext(sockets[openSent % sockets.length]);
    openInFlight.set(tid, scheduledAt);
  }
}

function onOpenReply(signedTid: number): void {
  const tid = signedTid < 0 ? -signedTid - 1 : signedTid;
  const scheduledAt = openInFlight.get(tid);
  if (scheduledAt === undefined) return;
  openInFlight.delete(tid);
  if (!measuring) return;
  if (signedTid < 0) errors += 1;
  else {
    completed += 1;
    latencies.push(performance.now() - scheduledAt);
  }
}

function openSweep(): void {
  const now = performance.now();
  for (const [tid, scheduledAt] of openInFlight) {
    if (now - scheduledAt <= LOST_AFTER_MS) break; // in schedule order
    openInFlight.delete(tid);
    if (measuring) lost += 1;
  }
}

function onReply(signedTid: number): void {
  if (RATE > 0) return onOpenReply(signedTid);
  const tid = signedTid < 0 ? -signedTid - 1 : signedTid;
  const slotIndex = inFlight.get(tid);
  if (slotIndex === undefined) return;
  inFlight.delete(tid);
  const slot = slots[slotIndex];
  if (measuring) {
    if (signedTid < 0) errors += 1;
    else {
      completed += 1;
      latencies.push(performance.now() - slot.sentAt);
    }
  }
  issue(slotIndex);
}

function sweep(): void {
  const now = performance.now();
  for (let index = 0; index < slots.length; index++) {
    const slot = slots[index];
    if (inFlight.has(slot.tid) && now - slot.sentAt > LOST_AFTER_MS) {
      if (measuring) lost += 1;
      issue(index);
    }
  }
}

for (let i = 0; i < SOCKETS; i++) sockets.push(await Socket.open(onReply));
for (const socket of sockets) {
  const token = await socket.token();
  const keys = OPERATION === "get" ? GET_KEYS : PUT_KEYS;
  for (let k = 0; k < keys; k++) {
    socket.templates.push(template(
      OPERATION === "get"
        ? {
          kind: "request",
          method: "get",
          tid: TID_MARK,
          network: 0,
          senderId: socket.id,
          key: getKey(k),
        }
        : {
          kind: "request",
          method: "put",
          tid: TID_MARK,
          network: 0,
          senderId: socket.id,
          key: putKey(k),
          values: [{ id: VALUE_ID_MARK, type: 0, data: randomData(32) }],
          token,
        },
    ));
  }
}
for (let i = 0; i < CONCURRENCY; i++) {
  slots.push({ socket: sockets[i % SOCKETS], tid: -1, sentAt: 0 });
}
console.log("ready");

let sweeper: ReturnType<typeof setInterval> | undefined;
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let pending = "";
for await (const chunk of lines) {
  pending += chunk;
  let newline;
  while ((newline = pending.indexOf("\n")) >= 0) {
    const command = pending.slice(0, newline).trim();
    pending = pending.slice(newline + 1);
    if (command === "go") {
      running = true;
      if (RATE > 0) {
        openStart = performance.now();
        sweeper = setInterval(openSweep, 100);
        openTicker = setInterval(openTick, 1);
      } else {
        sweeper = setInterval(sweep, 100);
        for (let i = 0; i < slots.length; i++) issue(i);
      }
    } else if (command === "measure") {
      completed = 0;
      errors = 0;
      lost = 0;
      latencies = [];
      measuring = true;
      cpuAtStart = cpuSeconds(Deno.pid);
    } else if (command === "stop") {
      measuring = false;
      running = false;
      const cpu = cpuSeconds(Deno.pid) - cpuAtStart;
      clearInterval(sweeper);
      clearInterval(openTicker);
      latencies.sort((a, b) => a - b);
      console.log(JSON.stringify({ completed, errors, lost, cpu, latencies }));
    }
  }
}
await Promise.all(sockets.map((socket) => socket.transport.close()));
