/**
 * SipSession over an in-memory link pair that delivers on a microtask: two
 * real sip.js user agents exchange MESSAGE and OPTIONS, and hostile bytes are
 * injected straight into one end. Every test closes both sessions and runs
 * with the op and resource sanitizers on, so a sip.js timer left armed (Timer
 * F, J or K) fails it.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_MAX_SIP_MESSAGE_BYTES,
  type SipLink,
  SipRequestFailedError,
  SipSession,
  type SipSessionOptions,
  type SipSessionStats,
} from "../lib/channel/sip_session.ts";
import { InvalidUriError } from "../lib/identity/errors.ts";
import { Grammar } from "npm:sip.js@^0.21.2";

const ALICE_HEX = "a1".repeat(20);
const BOB_HEX = "b2".repeat(20);
const CAROL_HEX = "c3".repeat(20);
const ALICE = `jami:${ALICE_HEX}`;
const BOB = `jami:${BOB_HEX}`;
const PIDF = '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="jami:' + ALICE_HEX +
  '">\n<tuple id="t1"><status><basic>open</basic></status></tuple>\n' +
  "</presence>";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Deno 2.9 runs tests without the op sanitizer unless asked; these ask, so
 * any timer sip.js leaves armed after the test fails it.
 */
function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: true, sanitizeResources: true });
}

/** One end of an in-memory link; records what it sends, can inject input. */
class MemoryLink implements SipLink {
  peer: MemoryLink | undefined;
  readonly sent: Uint8Array[] = [];
  closed = false;
  #receive: ((bytes: Uint8Array) => void) | undefined;
  #onClose: (() => void) | undefined;

  send(bytes: Uint8Array): void {
    if (this.closed) throw new Error("Cannot send: link closed");
    const copy = bytes.slice();
    this.sent.push(copy);
    const peer = this.peer;
    queueMicrotask(() => peer?.inject(copy));
  }

  onMessage(handler: (bytes: Uint8Array) => void): void {
    this.#receive = handler;
  }

  onClose(handler: () => void): void {
    this.#onClose = handler;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    queueMicrotask(() => {
      this.#onClose?.();
      this.peer?.close();
    });
  }

  /** Delivers bytes as if the peer had sent them (dropped once closed). */
  inject(bytes: Uint8Array | string): void {
    if (this.closed) return;
    this.#receive?.(typeof bytes === "string" ? encoder.encode(bytes) : bytes);
  }

  /** The sent messages as text. */
  sentText(): string[] {
    return this.sent.map((bytes) => decoder.decode(bytes));
  }
}

interface Pair {
  a: SipSession;
  b: SipSession;
  aLink: MemoryLink;
  bLink: MemoryLink;
}

/** Alice's and Bob's sessions over one link pair; `run` always closes both. */
async function withPair(
  run: (pair: Pair) => Promise<void>,
  options: {
    a?: Partial<SipSessionOptions>;
    b?: Partial<SipSessionOptions>;
  } = {},
): Promise<void> {
  const aLink = new MemoryLink();
  const bLink = new MemoryLink();
  aLink.peer = bLink;
  bLink.peer = aLink;
  const a = await SipSession.open({
    link: aLink,
    localUri: ALICE,
    remoteUri: BOB,
    ...options.a,
  });
  const b = await SipSession.open({
    link: bLink,
    localUri: BOB,
    remoteUri: ALICE,
    ...options.b,
  });
  try {
    await run({ a, b, aLink, bLink });
  } finally {
    await a.close();
    await b.close();
  }
}

/** Lets every queued delivery and answer run (deliveries are microtasks). */
async function drain(): Promise<void> {
  for (let turn = 0; turn < 50; turn += 1) await Promise.resolve();
}

function stats(
  malformed: number,
  oversized: number,
  sent: number,
  received: number,
): SipSessionStats {
  return { malformed, oversized, sent, received };
}

/** A request from Bob to Alice, hand-built; `headers` replace the defaults. */
function rawRequest(
  method: string,
  body = "",
  headers: Record<string, string | undefined> = {},
): string {
  const all: Record<string, string | undefined> = {
    Via: "SIP/2.0/TCP jami.invalid;branch=z9hG4bK0000042",
    To: `<sip:${ALICE_HEX}@jami.invalid>`,
    From: `<sip:${BOB_HEX}@jami.invalid>;tag=bobtag0001`,
    CSeq: `1 ${method}`,
    "Call-ID": "handmadecallid1",
    "Max-Forwards": "70",
    "Content-Type": body === "" ? undefined : "text/plain",
    "Content-Length": String(encoder.encode(body).length),
    ...headers,
  };
  const lines = Object.entries(all)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}: ${value}\r\n`);
  return `${method} sip:${ALICE_HEX}@jami.invalid SIP/2.0\r\n${
    lines.join("")
  }\r\n${body}`;
}

/** A response to Alice, hand-built. */
function rawResponse(statusLine: string, branch: string, cseq: string): string {
  return `SIP/2.0 ${statusLine}\r\n` +
    `Via: SIP/2.0/TCP jami.invalid;branch=${branch}\r\n` +
    `From: <sip:${ALICE_HEX}@jami.invalid>;tag=alicetag01\r\n` +
    `To: <sip:${BOB_HEX}@jami.invalid>;tag=bobtag0001\r\n` +
    `CSeq: ${cseq}\r\n` +
    "Call-ID: handmadecallid2\r\n" +
    "Content-Length: 0\r\n\r\n";
}

function isFailure(
  failure: SipRequestFailedError["failure"],
  statusCode: number,
  method = "MESSAGE",
): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof SipRequestFailedError, String(error));
    assert.equal(error.failure, failure);
    assert.equal(error.statusCode, statusCode);
    assert.equal(error.method, method);
    return true;
  };
}

test("SipSession.sendMessage() carries a PIDF body both ways, each answered 200 OK", async () => {
  await withPair(async ({ a, b, aLink, bLink }) => {
    const atAlice: string[][] = [];
    const atBob: string[][] = [];
    a.onMessage((contentType, body) => atAlice.push([contentType, body]));
    b.onMessage((contentType, body) => atBob.push([contentType, body]));

    await a.sendMessage("application/pidf+xml", PIDF);
    await b.sendMessage("application/pidf+xml", PIDF.replace("open", "closed"));

    assert.deepEqual(atBob, [["application/pidf+xml", PIDF]]);
    assert.deepEqual(atAlice, [[
      "application/pidf+xml",
      PIDF.replace("open", "closed"),
    ]]);
    const [request, answer] = aLink.sentText();
    assert.match(
      request,
      new RegExp(`^MESSAGE sip:${BOB_HEX}@jami\\.invalid SIP/2\\.0\r\n`),
    );
    assert.match(
      request,
      new RegExp(`\r\nFrom: <sip:${ALICE_HEX}@jami\\.invalid>;tag=`),
    );
    assert.match(
      request,
      /\r\nVia: SIP\/2\.0\/TCP jami\.invalid;branch=z9hG4bK\d{7}\r\n/,
    );
    assert.match(request, /\r\nContent-Type: application\/pidf\+xml\r\n/);
    assert.ok(request.endsWith(`\r\n\r\n${PIDF}`));
    assert.match(answer, /^SIP\/2\.0 200 OK\r\n/);
    assert.match(bLink.sentText()[0], /^SIP\/2\.0 200 OK\r\n/);
    assert.deepEqual(a.stats, stats(0, 0, 2, 2));
    assert.deepEqual(b.stats, stats(0, 0, 2, 2));
  });
});

test("SipSession.sendMessage() delivers a non-ASCII body whose Content-Length counts bytes", async () => {
  await withPair(async ({ a, b, aLink }) => {
    const bodies: string[] = [];
    b.onMessage((_, body) => bodies.push(body));
    const body = "Zoë est là 👋";
    await a.sendMessage("text/plain; charset=utf-8", body);
    assert.deepEqual(bodies, [body]);
    assert.match(
      aLink.sentText()[0],
      new RegExp(`\r\nContent-Length: ${encoder.encode(body).length}\r\n`),
    );
  });
});

test("SipSession.ping() sends OPTIONS and resolves on the peer's 200", async () => {
  await withPair(async ({ a, aLink, bLink }) => {
    await a.ping();
    assert.match(aLink.sentText()[0], /^OPTIONS sip:/);
    const [answer] = bLink.sentText();
    assert.match(answer, /^SIP\/2\.0 200 OK\r\n/);
    assert.match(answer, /\r\nAllow: MESSAGE, OPTIONS\r\n/);
    assert.deepEqual(a.stats, stats(0, 0, 1, 1));
  });
});

test("SipSession carries 50 messages in sequence, every request and answer the same byte count", async () => {
  await withPair(async ({ a, b, aLink, bLink }) => {
    const received: string[] = [];
    b.onMessage((_, body) => received.push(body));
    for (let index = 0; index < 50; index += 1) {
      await a.sendMessage(
        "application/pidf+xml",
        PIDF.replace("t1", `t${index % 10}`),
      );
    }
    assert.equal(received.length, 50);
    assert.equal(received[49], PIDF.replace("t1", "t9"));
    // Random branches, tags and Call-IDs have fixed lengths on the wire.
    assert.deepEqual(new Set(aLink.sent.map((bytes) => bytes.length)).size, 1);
    assert.deepEqual(new Set(bLink.sent.map((bytes) => bytes.length)).size, 1);
    assert.deepEqual(a.stats, stats(0, 0, 50, 50));
    assert.deepEqual(b.stats, stats(0, 0, 50, 50));
  });
});

test("SipSession.sendMessage() to a closed link rejects with SipRequestFailedError 'closed' (503)", async () => {
  await withPair(async ({ a, aLink }) => {
    // The link refuses before the session has heard of the close.
    aLink.close();
    await assert.rejects(
      a.sendMessage("text/plain", "hi"),
      isFailure("closed", 503),
    );
    // Once told, the session refuses without touching the link.
    await drain();
    await assert.rejects(
      a.sendMessage("text/plain", "hi"),
      isFailure("closed", 503),
    );
    await assert.rejects(a.ping(), isFailure("closed", 503, "OPTIONS"));
    assert.deepEqual(a.stats, stats(0, 0, 0, 0));
  });
});

test("SipSession.close() on one side rejects the other side's pending request", async () => {
  await withPair(async ({ a, b }) => {
    const pending = a.sendMessage("text/plain", "never answered");
    await b.close();
    await assert.rejects(pending, isFailure("closed", 503));
  });
});

test("SipSession.close() rejects its own pending requests, is idempotent, and refuses later ones", async () => {
  await withPair(async ({ a, aLink }) => {
    const message = a.sendMessage("text/plain", "in flight");
    const ping = a.ping();
    const closing = a.close();
    assert.equal(a.close(), closing);
    await closing;
    await assert.rejects(message, isFailure("closed", 503));
    await assert.rejects(ping, isFailure("closed", 503, "OPTIONS"));
    await assert.rejects(a.ping(), isFailure("closed", 503, "OPTIONS"));
    assert.ok(aLink.closed);
  });
});

test("SipSession drops and counts malformed input, then still works", async () => {
  await withPair(async ({ a, b, aLink }) => {
    const valid = rawRequest("MESSAGE", "hello");
    const inputs: Array<[string, Uint8Array | string]> = [
      ["garbage", "hello there"],
      ["empty", ""],
      ["start line only", "MESSAGE sip:x@y SIP/2.0\r\n"],
      ["truncated headers", valid.slice(0, valid.indexOf("\r\n\r\n") - 7)],
      ["no blank line", valid.slice(0, valid.indexOf("\r\n\r\n") + 2)],
      [
        "Content-Length too large",
        rawRequest("MESSAGE", "hello", { "Content-Length": "50" }),
      ],
      [
        "Content-Length too small",
        rawRequest("MESSAGE", "hello", { "Content-Length": "2" }),
      ],
      [
        "Content-Length missing",
        rawRequest("MESSAGE", "hello", { "Content-Length": undefined }),
      ],
      [
        "Content-Length not a number",
        rawRequest("MESSAGE", "hello", { "Content-Length": "5x" }),
      ],
      [
        "Call-ID missing",
        rawRequest("MESSAGE", "hi", { "Call-ID": undefined }),
      ],
      ["Via missing", rawRequest("MESSAGE", "hi", { Via: undefined })],
      [
        "Via without branch",
        rawRequest("MESSAGE", "hi", { Via: "SIP/2.0/TCP jami.invalid" }),
      ],
      ["bad From", rawRequest("MESSAGE", "hi", { From: "<<<" })],
      // sip.js's parser throws a TypeError on this one.
      [
        "response with a bad CSeq",
        rawResponse("200 OK", "z9hG4bK0000001", "nonsense"),
      ],
      [
        "status code 000",
        rawResponse("000 Zero", "z9hG4bK0000001", "1 MESSAGE"),
      ],
      [
        "binary",
        new Uint8Array(Array.from({ length: 256 }, (_, index) => index)),
      ],
      [
        "invalid UTF-8 in an otherwise valid request",
        new Uint8Array([
          ...encoder.encode(rawRequest("MESSAGE", "ab")).slice(0, -2),
          0xc3,
          0x28,
        ]),
      ],
    ];
    a.onMessage((_, body) => assert.fail(`delivered: ${body}`));
    for (const [what, input] of inputs) {
      const before = a.stats.malformed;
      // Nothing may escape back into the link's receive path.
      assert.doesNotThrow(() => aLink.inject(input), what);
      await drain();
      assert.equal(a.stats.malformed, before + 1, what);
    }
    assert.deepEqual(aLink.sent, []);
    assert.deepEqual(a.stats, stats(inputs.length, 0, 0, 0));

    const atAlice: string[] = [];
    a.onMessage((_, body) => atAlice.push(body));
    b.onMessage(() => {});
    await a.sendMessage("text/plain", "still here");
    await b.sendMessage("text/plain", "me too");
    await b.ping();
    assert.deepEqual(atAlice, ["me too"]);
  });
});

test("SipSession drops oversized input unread and counts it", async () => {
  await withPair(async ({ a, b, aLink }) => {
    const bodies: string[] = [];
    a.onMessage((_, body) => bodies.push(body));
    aLink.inject(new Uint8Array(DEFAULT_MAX_SIP_MESSAGE_BYTES + 1));
    const big = "x".repeat(DEFAULT_MAX_SIP_MESSAGE_BYTES);
    aLink.inject(rawRequest("MESSAGE", big));
    // Exactly at the limit is accepted.
    const header = rawRequest("MESSAGE", "");
    const fits = rawRequest(
      "MESSAGE",
      "y".repeat(DEFAULT_MAX_SIP_MESSAGE_BYTES - header.length - 100),
    );
    const padded = fits.replace(
      "Max-Forwards: 70",
      "Max-Forwards: 70\r\nX-Pad: " +
        "p".repeat(DEFAULT_MAX_SIP_MESSAGE_BYTES - fits.length - 9),
    );
    assert.equal(encoder.encode(padded).length, DEFAULT_MAX_SIP_MESSAGE_BYTES);
    aLink.inject(padded);
    await drain();
    assert.equal(bodies.length, 1);
    assert.deepEqual(a.stats, stats(0, 2, 1, 1));
    await b.sendMessage("text/plain", "after");
    assert.equal(bodies.at(-1), "after");
  });
});

test("SipSession: a peer with a smaller limit drops our request; close() then rejects it", async () => {
  await withPair(async ({ a, b }) => {
    b.onMessage(() => assert.fail("delivered"));
    const pending = a.sendMessage("text/plain", "z".repeat(1_000));
    await drain();
    assert.deepEqual(b.stats, stats(0, 1, 0, 0));
    // sip.js's Timer F (32 s) is armed for the request; close() clears it.
    await a.close();
    await assert.rejects(pending, isFailure("closed", 503));
  }, { b: { maxMessageBytes: 1_000 } });
});

test("SipSession.sendMessage() over maxMessageBytes rejects with 'oversized' (513) and sends nothing", async () => {
  await withPair(async ({ a, aLink }) => {
    await assert.rejects(
      a.sendMessage("text/plain", "z".repeat(600)),
      isFailure("oversized", 513),
    );
    assert.deepEqual(aLink.sent, []);
    assert.deepEqual(a.stats, stats(0, 0, 0, 0));
  }, { a: { maxMessageBytes: 600 } });
});

test("SipSession ignores a response that matches no request", async () => {
  await withPair(async ({ a, b, aLink }) => {
    aLink.inject(rawResponse("200 OK", "z9hG4bK0000007", "1 MESSAGE"));
    aLink.inject(rawResponse("486 Busy Here", "z9hG4bK1234567", "1 OPTIONS"));
    await drain();
    assert.deepEqual(a.stats, stats(0, 0, 0, 2));
    assert.deepEqual(aLink.sent, []);
    b.onMessage(() => {});
    await a.sendMessage("text/plain", "after");
    await a.ping();
  });
});

test("SipSession answers refused MESSAGEs with 480, 500, 403, 415 and other methods with 405", async () => {
  await withPair(async ({ a, b, aLink }) => {
    // No handler yet: 480.
    await assert.rejects(
      a.sendMessage("text/plain", "too early"),
      isFailure("rejected", 480),
    );
    // A throwing handler: 500, and the session carries on.
    b.onMessage(() => {
      throw new Error("handler bug");
    });
    await assert.rejects(a.sendMessage("text/plain", "boom"), (error) => {
      assert.ok(error instanceof SipRequestFailedError);
      assert.equal(error.statusCode, 500);
      assert.equal(error.reasonPhrase, "Internal Server Error");
      assert.equal(
        error.message,
        'Cannot send MESSAGE: the peer answered 500 "Internal Server Error"',
      );
      return true;
    });

    const delivered: string[] = [];
    a.onMessage((_, body) => delivered.push(body));
    const sentBefore = aLink.sent.length;
    const answers = () =>
      aLink.sentText().slice(sentBefore).map((text) => text.split("\r\n")[0]);
    // Distinct branches and Call-IDs: sip.js answers 482 to a request that
    // repeats the From tag, Call-ID and CSeq of one still in its table.
    let sequence = 100;
    const fresh = () => {
      sequence += 1;
      return {
        Via: `SIP/2.0/TCP jami.invalid;branch=z9hG4bK${sequence}`,
        "Call-ID": `handmadecallid${sequence}`,
      };
    };
    aLink.inject(rawRequest("MESSAGE", "spoofed", {
      ...fresh(),
      From: `<sip:${CAROL_HEX}@jami.invalid>;tag=caroltag01`,
    }));
    aLink.inject(rawRequest("MESSAGE", "untyped", {
      ...fresh(),
      "Content-Type": undefined,
    }));
    aLink.inject(rawRequest("INVITE", "", {
      ...fresh(),
    }));
    aLink.inject(rawRequest("SUBSCRIBE", "", {
      ...fresh(),
    }));
    aLink.inject(rawRequest("ACK", "", {
      ...fresh(),
    }));
    aLink.inject(rawRequest("MESSAGE", "fine", {
      ...fresh(),
    }));
    await drain();
    assert.deepEqual(answers(), [
      "SIP/2.0 403 Forbidden",
      "SIP/2.0 415 Unsupported Media Type",
      "SIP/2.0 405 Method Not Allowed",
      "SIP/2.0 405 Method Not Allowed",
      "SIP/2.0 200 OK",
    ]);
    assert.match(
      aLink.sentText()[sentBefore + 2],
      /\r\nAllow: MESSAGE, OPTIONS\r\n/,
    );
    assert.deepEqual(delivered, ["fine"]);
    assert.deepEqual(a.stats, stats(0, 0, 7, 8));
    // Bob got five answers to requests he never sent, and ignored them.
    assert.equal(b.stats.malformed, 0);
  });
});

test("SipSession.sendMessage() rejects a content type that is not a media type with TypeError", async () => {
  await withPair(async ({ a, aLink }) => {
    for (
      const contentType of ["", "text", "text/plain\r\nX-Injected: 1", "a b/c"]
    ) {
      await assert.rejects(a.sendMessage(contentType, "x"), TypeError);
    }
    assert.deepEqual(aLink.sent, []);
  });
});

test("SipSession.open() rejects bad URIs with InvalidUriError and a bad limit with RangeError", async () => {
  const link = new MemoryLink();
  await assert.rejects(
    SipSession.open({ link, localUri: "jami:xyz", remoteUri: BOB }),
    InvalidUriError,
  );
  await assert.rejects(
    SipSession.open({
      link,
      localUri: ALICE,
      remoteUri: "sip:bob@example.com",
    }),
    InvalidUriError,
  );
  for (const maxMessageBytes of [0, -1, 1.5, Number.NaN]) {
    await assert.rejects(
      SipSession.open({
        link,
        localUri: ALICE,
        remoteUri: BOB,
        maxMessageBytes,
      }),
      RangeError,
    );
  }
});

test("SipSession's URIs, built without the grammar, equal what sip.js's grammar parses from the same text", async () => {
  // The session builds `sip:<hex>@jami.invalid` as a URI object directly; a
  // peer's messages carry it as text that sip.js parses. Both must agree, or
  // sip.js would answer a MESSAGE with 404 (checked end to end above).
  const { Grammar, URI } = await import("npm:sip.js@^0.21.2");
  const text = `sip:${ALICE_HEX}@jami.invalid`;
  const parsed = Grammar.URIParse(text);
  const built = new URI("sip", ALICE_HEX, "jami.invalid");
  assert.ok(parsed !== undefined);
  assert.equal(built.toString(), parsed.toString());
  assert.equal(built.toString(), text);
  // Every field, the raw and normalized parts and the parameters included.
  assert.deepEqual(built, parsed);
});

test("SipSession.open() makes no grammar call, and leaves sip.js's grammar as it was", async () => {
  const grammar = Grammar as unknown as {
    parse: (input: string, rule: string) => unknown;
  };
  const original = grammar.parse;
  const rules: string[] = [];
  const counting = (input: string, rule: string) => {
    rules.push(rule);
    return original(input, rule);
  };
  grammar.parse = counting;
  try {
    await withPair(({ a, b }) => {
      assert.deepEqual(rules, []);
      assert.equal(grammar.parse, counting);
      assert.deepEqual(a.stats.malformed + b.stats.malformed, 0);
      return Promise.resolve();
    });
  } finally {
    grammar.parse = original;
  }
});
