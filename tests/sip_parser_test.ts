/**
 * parseSipMessage against sip.js's own Core.Parser.parseMessage: every field
 * of the parsed message (headers, parsed headers, URIs, tags, body) must be
 * the same, on the first parse of a text and on repeats that come from the
 * memo, for our messages and hostile variants; and objects from the memo
 * must not be shared between messages.
 */
import assert from "node:assert/strict";
import { Core, Grammar } from "npm:sip.js@^0.21.2";
import { parseSipMessage } from "../lib/channel/_sip_parser.ts";

const ALICE = "a1".repeat(20);
const BOB = "b2".repeat(20);

function request(branch: string, tag: string, body: string): string {
  return `MESSAGE sip:${BOB}@jami.invalid SIP/2.0\r\n` +
    `Via: SIP/2.0/TCP jami.invalid;branch=z9hG4bK${branch}\r\n` +
    `To: <sip:${BOB}@jami.invalid>\r\n` +
    `From: <sip:${ALICE}@jami.invalid>;tag=${tag}\r\n` +
    `CSeq: 1 MESSAGE\r\nCall-ID: ${tag}call\r\nMax-Forwards: 70\r\n` +
    `Supported: outbound\r\nUser-Agent: dht-contacts\r\n` +
    `Content-Type: application/pidf+xml\r\nContent-Length: ${body.length}\r\n` +
    `\r\n${body}`;
}

function answer(branch: string, tag: string): string {
  return `SIP/2.0 200 OK\r\n` +
    `Via: SIP/2.0/TCP jami.invalid;branch=z9hG4bK${branch}\r\n` +
    `From: <sip:${ALICE}@jami.invalid>;tag=${tag}\r\n` +
    `To: <sip:${BOB}@jami.invalid>;tag=${tag}x\r\n` +
    `CSeq: 1 MESSAGE\r\nCall-ID: ${tag}call\r\nContent-Length: 0\r\n\r\n`;
}

const silent = {
  error() {},
  warn() {},
  log() {},
  debug() {},
} as unknown as Core.Logger;

/** Own fields of a message (the classes differ: ours memoize). */
function fields(message: object | undefined): unknown {
  if (message === undefined) return undefined;
  return { ...message, kind: message instanceof Core.IncomingResponseMessage };
}

function same(text: string): void {
  let expected: unknown;
  try {
    expected = fields(Core.Parser.parseMessage(text, silent));
  } catch {
    expected = "throws";
  }
  let actual: unknown;
  try {
    actual = fields(parseSipMessage(text));
  } catch {
    actual = "throws";
  }
  assert.deepEqual(actual, expected, JSON.stringify(text));
}

Deno.test("parseSipMessage() gives sip.js's message for requests and answers, first parse and repeats alike", () => {
  for (let round = 0; round < 3; round++) {
    for (const body of ["", "<x/>", "<presence>open</presence>"]) {
      same(request(`${round}1884754`, `tag${round}`, body));
      same(answer(`${round}1884754`, `tag${round}`));
    }
  }
});

Deno.test("parseSipMessage() gives sip.js's verdicts on hostile variants, twice each", () => {
  const good = request("1884754", "t1", "<x/>");
  const variants = [
    good.replace("MESSAGE sip:", "MESSAGE sup:"),
    good.replace(" SIP/2.0\r\n", " SIP/3.0\r\n"),
    good.replace("To: <sip:", "To: <<sip:"),
    good.replace("Max-Forwards: 70", "Max-Forwards: seventy"),
    good.replace("Content-Length: 4", "Content-Length: -4"),
    good.replace("Content-Length: 4", "Content-Length: 1"),
    good.replace("Content-Type: application/pidf+xml", "Content-Type: ///"),
    good.replace("To: ", "t: "),
    good.replace("Content-Length: ", "l: "),
    good.replace("To: <sip:", "To: \r\n <sip:"),
    good.replace(`To: <sip:${BOB}@jami.invalid>\r\n`, ""),
    good.replace(`To: <sip:${BOB}@jami.invalid>`, "To: <sip:jami.invalid>"),
    good.replace(`MESSAGE sip:${BOB}@`, "MESSAGE sip:"),
    good.replace("\r\n\r\n", "\r\n"),
    good + good,
    "SIP/2.0 000 Nothing\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 200 OK\r\nCSeq: nonsense\r\n\r\n",
    good.replace("CSeq: 1 MESSAGE", "CSeq: 2 message"),
    good.replace("CSeq: 1 MESSAGE", "CSeq: 99999999999 MESSAGE"),
    good.replace("CSeq: 1 MESSAGE", "CSeq: 1"),
    answer("1", "t2").replace("CSeq: 1 MESSAGE", "CSeq: x MESSAGE"),
    "no line end at all",
    "",
  ];
  for (let round = 0; round < 2; round++) {
    for (const text of variants) same(text);
  }
});

Deno.test("parseSipMessage() gives each message its own objects, never one from the memo", () => {
  const first = parseSipMessage(request("1", "a", "<x/>"));
  const second = parseSipMessage(request("2", "b", "<x/>"));
  assert.ok(first instanceof Core.IncomingRequestMessage);
  assert.ok(second instanceof Core.IncomingRequestMessage);
  assert.notEqual(first.to, second.to);
  assert.notEqual(first.to.uri, second.to.uri);
  assert.notEqual(first.ruri, second.ruri);
  // A change to one message's objects does not reach the next.
  first.to.setParam("tag", "changed");
  first.ruri!.setParam("x", "y");
  first.parseHeader("cseq").method = "INVITE";
  const third = parseSipMessage(request("3", "c", "<x/>"));
  assert.ok(third instanceof Core.IncomingRequestMessage);
  assert.equal(third.to.getParam("tag"), undefined);
  assert.equal(third.ruri!.hasParam("x"), false);
  assert.equal(third.parseHeader("to"), third.to);
  assert.deepEqual(third.parseHeader("cseq"), { value: 1, method: "MESSAGE" });
});

/** A seeded stream of tokens (letters and digits, 1 to `longest` long). */
function tokens(seed: number, count: number, longest = 64): string[] {
  const alphabet =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const length = 1 + next() % longest;
    let token = "";
    for (let j = 0; j < length; j++) token += alphabet[next() % 62];
    out.push(i % 7 === 0 ? token.replace(/[a-zA-Z]/g, "7") : token);
  }
  return out;
}

Deno.test("parseSipMessage() gives sip.js's message for any letter-and-digit branch, tag and Call-ID", () => {
  const shapes = [
    (t: string) => answer(t, t),
    (t: string) => request(t, t, "<x/>"),
    // Repeated parameters: the grammar keeps the last, as the template does.
    (t: string) =>
      answer("1", "a").replace(";branch=z9hG4bK1", `;branch=x;branch=${t}`)
        .replace(";tag=ax", `;tag=x;tag=${t}`),
    (t: string) =>
      answer("1", "a").replace(
        /Via: [^\r]*/,
        `Via: SIP/2.0/TCP h:5060;received=10.0.0.1;rport=9;branch=${t}`,
      )
        .replace(
          /From: [^\r]*/,
          `From: "Al Ice" <sip:${ALICE}@jami.invalid;transport=tcp>;x=1;tag=${t}`,
        )
        .replace(/To: [^\r]*/, `To: sip:${BOB}@jami.invalid;tag=${t}`)
        .replace(/Call-ID: [^\r]*/, `Call-ID: ${t}`),
  ];
  for (const shape of shapes) {
    for (const token of tokens(shapes.indexOf(shape) + 1, 150)) {
      same(shape(token));
    }
  }
});

Deno.test("parseSipMessage() gives sip.js's verdicts where the token is not letters and digits", () => {
  for (
    const odd of ["a-b", "x.y", "%41", "a b", "", 'q"', "a>", "é", "a;b=c"]
  ) {
    for (let round = 0; round < 2; round++) {
      same(answer(odd, odd));
      same(
        request("1", "t", "").replace(/Call-ID: [^\r]*/, `Call-ID: ${odd}`),
      );
      same(
        answer("1", "t").replace(/;tag=t\r/, `;tag=x;tag=${odd}\r`),
      );
    }
  }
});

Deno.test("parseSipMessage() parses a repeat of a message shape with fresh tokens without the grammar", () => {
  const grammar = Grammar as unknown as { parse: (...a: unknown[]) => unknown };
  const original = grammar.parse;
  let calls = 0;
  grammar.parse = (...args: unknown[]) => {
    calls++;
    return original(...args);
  };
  try {
    parseSipMessage(request("9000001", "first", "<x/>"));
    parseSipMessage(answer("9000001", "first"));
    calls = 0;
    // The helpers add up to 7 characters to a token; 64 is the most a
    // template stands for.
    for (const token of tokens(99, 40, 57)) {
      assert.ok(parseSipMessage(request(token, token, "<x/>")));
      assert.ok(parseSipMessage(answer(token, token)));
    }
    assert.equal(calls, 0);
  } finally {
    grammar.parse = original;
  }
});
