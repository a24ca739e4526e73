/**
 * ByteKinds: DHT bytes of the counted hosts by message kind. Hand-built
 * messages go through its observer as the simulated network would call it:
 * an update push is named by what it carries, a reply by its query's method
 * (also when a plain node asked and a counted host answers), and traffic
 * between two uncounted hosts counts nowhere.
 */
import assert from "node:assert/strict";
import { ByteKinds } from "../sim/byte_kinds.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { encodeMessage } from "../lib/dht/wire/encode.ts";

const HEADER = { network: 0, userAgent: "RNG1" };

function query(tid: number, method: "ping" | "find"): Uint8Array {
  return encodeMessage(
    method === "ping"
      ? { kind: "request", method, senderId: InfoHash.get("q"), tid, ...HEADER }
      : {
        kind: "request",
        method,
        senderId: InfoHash.get("q"),
        target: InfoHash.get("t"),
        tid,
        ...HEADER,
      },
  );
}

function reply(tid: number): Uint8Array {
  return encodeMessage({
    kind: "reply",
    senderId: InfoHash.get("r"),
    tid,
    ...HEADER,
  });
}

Deno.test("ByteKinds names update pushes by what they carry and replies by their query", () => {
  const kinds = new ByteKinds(new Set([0]));
  const push = encodeMessage({
    kind: "request",
    method: "update",
    senderId: InfoHash.get("s"),
    socketId: 3,
    refreshed: [5n],
    expired: [6n],
    tid: 9,
    ...HEADER,
  });
  const find = query(4, "find");
  const answer = reply(4);
  kinds.observer("received", 1, 0, push);
  kinds.observer("sent", 0, 1, find);
  kinds.observer("received", 1, 0, answer);
  assert.deepEqual(kinds.bytes(), {
    "update exp+re": push.length,
    find: find.length,
    "find reply": answer.length,
  });
});

Deno.test("ByteKinds counts a counted host's reply to a plain node's query under its method, and nothing between plain nodes", () => {
  const kinds = new ByteKinds(new Set([0]));
  // Plain nodes 1 and 2 talk: nothing counts, and their tids do not match
  // the counted host's reply below.
  kinds.observer("sent", 1, 2, query(8, "find"));
  kinds.observer("received", 1, 2, query(8, "find"));
  kinds.observer("sent", 2, 1, reply(8));
  kinds.observer("received", 2, 1, reply(8));
  assert.deepEqual(kinds.bytes(), {});
  // Plain node 1 pings host 0, which answers.
  const ping = query(8, "ping");
  const pong = reply(8);
  kinds.observer("sent", 1, 0, ping);
  kinds.observer("received", 1, 0, ping);
  kinds.observer("sent", 0, 1, pong);
  kinds.observer("received", 0, 1, pong);
  assert.deepEqual(kinds.bytes(), {
    ping: ping.length,
    "ping reply": pong.length,
  });
});

Deno.test("ByteKinds names puts, errors, value parts, values pushes and unanswered replies", () => {
  const kinds = new ByteKinds(new Set([0]));
  const value = { id: 1n, type: 0, data: new Uint8Array(40) };
  const put = encodeMessage({
    kind: "request",
    method: "put",
    senderId: InfoHash.get("q"),
    key: InfoHash.get("k"),
    values: [value],
    token: new Uint8Array(32),
    tid: 300,
    ...HEADER,
  });
  const refused = encodeMessage({
    kind: "error",
    senderId: InfoHash.get("r"),
    code: 401,
    message: "Unauthorized",
    tid: 300,
    ...HEADER,
  });
  const push = encodeMessage({
    kind: "request",
    method: "update",
    senderId: InfoHash.get("s"),
    socketId: 3,
    values: [value],
    tid: 70_000,
    ...HEADER,
  });
  const part = encodeMessage({
    kind: "value-part",
    tid: 5,
    network: 0,
    parts: [{ index: 0, offset: 0, data: new Uint8Array(8) }],
  });
  kinds.observer("sent", 0, 1, put);
  kinds.observer("received", 1, 0, refused);
  kinds.observer("received", 1, 0, push);
  kinds.observer("received", 2, 0, part);
  // The same tid from another host was never asked by host 0.
  kinds.observer("received", 2, 0, reply(300));
  // The error above consumed the pending put: a second answer is unknown.
  kinds.observer("received", 1, 0, reply(300));
  assert.deepEqual(kinds.bytes(), {
    "unknown reply": 2 * reply(300).length,
    put: put.length,
    "update values": push.length,
    "put error": refused.length,
    part: part.length,
  });
});

Deno.test("ByteKinds decodes a method it does not know, and counts what is not a message as other", () => {
  const kinds = new ByteKinds(new Set([0]));
  // {"y": "q", "q": "zap", "t": bin [1, 2]}, hand-packed.
  const zap = Uint8Array.from([
    0x83,
    0xa1,
    0x79,
    0xa1,
    0x71,
    0xa1,
    0x71,
    0xa3,
    0x7a,
    0x61,
    0x70,
    0xa1,
    0x74,
    0xc4,
    0x02,
    0x01,
    0x02,
  ]);
  // {"y": "r", "t": bin [1, 2]}: its answer.
  const answer = Uint8Array.from([
    0x82,
    0xa1,
    0x79,
    0xa1,
    0x72,
    0xa1,
    0x74,
    0xc4,
    0x02,
    0x01,
    0x02,
  ]);
  const truncated = zap.subarray(0, 12);
  const notMap = Uint8Array.from([0x93, 0x01, 0x02, 0x03]);
  kinds.observer("sent", 0, 1, zap);
  kinds.observer("received", 1, 0, answer);
  kinds.observer("sent", 0, 1, truncated);
  kinds.observer("sent", 0, 1, notMap);
  kinds.observer("sent", 0, undefined, zap);
  assert.deepEqual(kinds.bytes(), {
    other: truncated.length + notMap.length + zap.length,
    zap: zap.length,
    "zap reply": answer.length,
  });
});
