/**
 * `qr` in `listen` replies (our extension, ignored by OpenDHT): the value
 * types whose refreshes a storing node does not push. Round trip through
 * both encoders and the decoder, the fast decoder's hand-over to the
 * general one, and hostile shapes ignored (the reply still decodes, as from
 * a node that pushes every refresh).
 */
import assert from "node:assert/strict";
import { InfoHash } from "../lib/identity/info_hash.ts";
import {
  type DhtMessage,
  type DhtReply,
  MAX_QUIET_REFRESH_TYPES,
} from "../lib/dht/messages.ts";
import { decodeMessage } from "../lib/dht/wire/decode.ts";
import { decodeMessageFast } from "../lib/dht/wire/_decode_fast.ts";
import {
  encodeMessage,
  encodeMessageFast,
  encodeMessageTree,
} from "../lib/dht/wire/encode.ts";
import { ValueStore } from "../lib/dht/value_store.ts";
import {
  ANNOUNCEMENT_VALUE_TYPE,
  GOODBYE_VALUE_TYPE,
  OUR_PROFILE,
  presenceValueTypes,
} from "../lib/presence/presence_profile.ts";
import {
  OUR_STORE_POLICY,
  STOCK_OPENDHT_STORE_POLICY,
} from "../lib/dht/store_policy.ts";

const reply: DhtReply = {
  kind: "reply",
  tid: 7,
  network: 0,
  userAgent: "RNG1",
  senderId: InfoHash.get("storing node"),
  seenAddress: Uint8Array.from([192, 0, 2, 1]),
  quietRefreshTypes: [ANNOUNCEMENT_VALUE_TYPE, GOODBYE_VALUE_TYPE],
};

/** `message` with its sender id as hex: `assert.deepEqual` sees no fields in an InfoHash. */
function hexSender(message: DhtMessage) {
  return {
    ...message,
    senderId: "senderId" in message ? message.senderId?.toString() : undefined,
  };
}

Deno.test("qr: a listen reply's quiet refresh types survive both encoders and the decoder", () => {
  const fast = encodeMessageFast(reply);
  const tree = encodeMessageTree(reply);
  assert.ok(fast !== undefined);
  assert.equal(fast.toHex(), tree.toHex());
  assert.deepEqual(
    hexSender(decodeMessage(encodeMessage(reply).slice())),
    hexSender(reply),
  );
  // The fast decoder hands such a reply to the general one.
  assert.equal(decodeMessageFast(tree.slice()), undefined);
  const { quietRefreshTypes: _, ...plain } = reply;
  assert.deepEqual(
    hexSender(decodeMessage(encodeMessage(plain).slice())),
    hexSender(plain),
  );
});

/** The reply's bytes with `qr` replaced by `item` (msgpack bytes). */
function withQr(item: Uint8Array): Uint8Array {
  const bytes = encodeMessageTree({ ...reply, quietRefreshTypes: [1] });
  const hex = bytes.toHex();
  // "qr" (a2 71 72) then [1] (91 01).
  const at = hex.indexOf("a27172" + "9101");
  assert.ok(at >= 0);
  return Uint8Array.fromHex(
    hex.slice(0, at + 6) + item.toHex() + hex.slice(at + 10),
  );
}

Deno.test("qr: too many types, a negative or oversized type, or not an array: ignored, the reply still decodes", () => {
  const tooMany = [0xdc, 0, MAX_QUIET_REFRESH_TYPES + 1];
  for (let i = 0; i <= MAX_QUIET_REFRESH_TYPES; i++) tooMany.push(1);
  for (
    const item of [
      Uint8Array.from(tooMany),
      Uint8Array.from([0x91, 0xff]), // -1
      Uint8Array.from([0x91, 0xce, 0, 1, 0, 0]), // 65536
      Uint8Array.from([0xc3]), // true
      Uint8Array.from([0x91, 0xa1, 0x61]), // ["a"]
    ]
  ) {
    const decoded = decodeMessage(withQr(item)) as DhtReply;
    assert.equal(decoded.kind, "reply", item.toHex());
    assert.equal(decoded.quietRefreshTypes, undefined, item.toHex());
    assert.equal(decoded.tid, reply.tid);
  }
});

Deno.test("qr: our store names the announcement and goodbye types; a stock node's names none", () => {
  const types = presenceValueTypes(OUR_PROFILE);
  assert.deepEqual(
    new ValueStore({}, OUR_STORE_POLICY.storeTypes(types)).quietRefreshTypes,
    [ANNOUNCEMENT_VALUE_TYPE, GOODBYE_VALUE_TYPE],
  );
  assert.deepEqual(
    new ValueStore({}, STOCK_OPENDHT_STORE_POLICY.storeTypes(types))
      .quietRefreshTypes,
    [],
  );
});
