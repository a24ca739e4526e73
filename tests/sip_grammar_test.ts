/**
 * The vendored SIP grammar (lib/channel/_sip_grammar.js, sip.js's own parser
 * with its tables built once) must parse exactly as sip.js's: same result,
 * same failures, for every start rule sip.js uses on the messages a session
 * reads, and stay correct when calls follow each other (its state is module
 * level). Method: each input is parsed by both, and the results compared as
 * JSON plus their class.
 */
import assert from "node:assert/strict";
// @ts-types="npm:sip.js@^0.21.2/lib/grammar/pegjs/dist/grammar.d.ts"
import * as original from "npm:sip.js@^0.21.2/lib/grammar/pegjs/dist/grammar.js";
import { Grammar } from "npm:sip.js@^0.21.2";
// @ts-types="npm:sip.js@^0.21.2/lib/grammar/pegjs/dist/grammar.d.ts"
import * as vendored from "../lib/channel/_sip_grammar.js";
import "../lib/channel/sip_session.ts";

const ACCOUNT = "0123456789abcdef0123456789abcdef01234567";
const CASES: [string, string][] = [
  ["Request_Response", `MESSAGE sip:${ACCOUNT}@jami.invalid SIP/2.0`],
  ["Request_Response", "SIP/2.0 200 OK"],
  ["Request_Response", "SIP/2.0 000 Nothing"],
  ["Request_Response", "OPTIONS sip:x@y SIP/2.0"],
  ["Request_Response", "GET / HTTP/1.1"],
  ["Via", "SIP/2.0/TCP jami.invalid;branch=z9hG4bK0001234"],
  ["Via", "SIP/2.0/TCP jami.invalid;branch=z9hG4bK1;rport;received=1.2.3.4"],
  ["Via", "garbage"],
  ["From", `<sip:${ACCOUNT}@jami.invalid>;tag=abcdefghij`],
  ["From", `"Alice" <sip:${ACCOUNT}@jami.invalid>;tag=x`],
  ["To", `<sip:${ACCOUNT}@jami.invalid>`],
  ["To", "<not a uri"],
  ["Call_ID", "abcdefghijklmno"],
  ["CSeq", "1 MESSAGE"],
  ["CSeq", "x MESSAGE"],
  ["Content_Length", "42"],
  ["Content_Type", "application/pidf+xml"],
  ["Contact", `<sip:${ACCOUNT}@jami.invalid;transport=tcp>;expires=60`],
  ["Record_Route", "<sip:proxy.invalid;lr>"],
  ["SIP_URI", `sip:${ACCOUNT}@jami.invalid`],
  ["SIP_URI", "sip:"],
  ["Name_Addr_Header", `"Bob" <sip:bob@jami.invalid>;tag=1`],
];

function shape(value: unknown): string {
  const name = value === null || typeof value !== "object"
    ? typeof value
    : value.constructor.name;
  return `${name} ${JSON.stringify(value)}`;
}

function outcome(parse: typeof original.parse, input: string, rule: string) {
  const options: { startRule: string; data?: unknown } = { startRule: rule };
  try {
    const result = parse(input, options);
    return `ok ${shape(result)} data ${shape(options.data)}`;
  } catch (error) {
    return `throws ${(error as Error).name} ${(error as Error).message}`;
  }
}

Deno.test("vendored SIP grammar parses every case as sip.js's grammar does, twice in a row", () => {
  for (let round = 0; round < 2; round++) {
    for (const [rule, input] of CASES) {
      assert.equal(
        outcome(vendored.parse, input, rule),
        outcome(original.parse, input, rule),
        `${rule}: ${input}`,
      );
    }
  }
});

Deno.test("sip_session installs the vendored grammar: Grammar.parse gives sip.js's answers, -1 on failure", () => {
  for (const [rule, input] of CASES) {
    const options: { startRule: string; data?: unknown } = { startRule: rule };
    try {
      original.parse(input, options);
    } catch {
      options.data = -1;
    }
    assert.equal(shape(Grammar.parse(input, rule)), shape(options.data));
  }
});
