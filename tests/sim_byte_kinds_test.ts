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
