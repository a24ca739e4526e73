/**
 * `parseSipMessage`: sip.js's `Core.Parser.parseMessage`, with the grammar's
 * results for values that repeat from message to message taken from a
 * bounded memo. sip.js 0.21's generated grammar rebuilds its ~700 constants
 * and decodes its 235 rule tables on every call, whatever the input, and
 * parses the start line and up to eight headers of each message: that was a
 * sixth of a simulation's time, and a third once the rest got cheaper. Of
 * those, the start line, `To` (of requests), `CSeq`, `Max-Forwards`,
 * `Content-Type` and `Content-Length` are the same text in most messages an
 * account receives (its own URI, the first sequence numbers, the PIDF type, a
 * handful of lengths).
 *
 * `Via`, `From`, `Call-ID` and the `To` of answers differ in one per-request
 * token only: the Via `branch`, the `tag`, the whole Call-ID. For these the
 * memo is keyed by the text before the token (its template), and only when
 * the token is 1 to 64 ASCII letters and digits (what sip.js and Jami draw):
 * the grammar's result for such a value is the template's result with that
 * one field set to the token. A template is kept only after a real parse of
 * a value showed the field equal to its token; any other value goes to the
 * grammar.
 *
 * The grammar's result depends only on its input, so a memo hit gives what a
 * parse would: primitives as they are, plain records of primitives copied,
 * and the URI and name-address objects
 * as clones of a copy kept aside (never an object a message holds), built
 * only when a clone is known to equal the parse (a URI with a user part). The
 * message loop is sip.js's (`getHeader`, `parseHeader`, the body by
 * Content-Length); each header still goes through sip.js's own handling.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSipMessage } from "./_sip_parser.ts";
 *
 * const text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n" +
 *   "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCSeq: 1 MESSAGE\r\n" +
 *   "Call-ID: x\r\nContent-Length: 0\r\n\r\n";
 * const message = parseSipMessage(text);
 * assert.equal(message?.getHeader("call-id"), "x");
 * ```
 *
 * @module
 */
import { Core, Grammar, type NameAddrHeader, URI } from "npm:sip.js@^0.21.2";

/** Distinct values kept; the oldest goes first beyond it. */
const MEMO_MAX = 4_096;
/**
 * Longest value kept, in UTF-16 units: ours are under 100 (a start line or
 * `To` with a 40-digit account), and a peer must not park kilobytes here.
 */
const MEMO_VALUE_MAX_CHARS = 256;

/** What the grammar's `Request_Response` rule gives. */
interface StartLine {
  readonly method?: string;
  readonly uri?: URI;
  readonly status_code?: number;
  readonly reason_phrase?: string;
}

/**
 * Where a header's per-request token sits: after the last `marker` and up to
 * the end of the value (`""`: the whole value is the token), and the field
 * of the grammar's result that holds it.
 */
interface TokenSpot {
  readonly marker: string;
  readonly field: "branch" | "tag" | "value";
}

/** A token a template stands for: what sip.js and Jami draw. */
const TOKEN = /^[A-Za-z0-9]{1,64}$/;

/** The tag of `From` and `To`, the branch of `Via`, the whole Call-ID. */
const TAG: TokenSpot = { marker: ";tag=", field: "tag" };
const BRANCH: TokenSpot = { marker: ";branch=", field: "branch" };
const WHOLE: TokenSpot = { marker: "", field: "value" };

// Headers whose value repeats across messages, by the name sip.js's
// Parser.parseHeader passes to parseHeader (lower case, but "Via"), with the
// key they are stored under in `headers` (sip.js's headerize), the grammar
// rule, and where a per-request token sits.
const MEMOIZED: ReadonlyMap<
  string,
  { key: string; rule: string; token?: TokenSpot }
> = new Map([
  ["to", { key: "To", rule: "To", token: TAG }],
  ["from", { key: "From", rule: "From", token: TAG }],
  ["Via", { key: "Via", rule: "Via", token: BRANCH }],
  ["call-id", { key: "Call-ID", rule: "Call_ID", token: WHOLE }],
  ["max-forwards", { key: "Max-Forwards", rule: "Max_Forwards" }],
  ["content-type", { key: "Content-Type", rule: "Content_Type" }],
  ["content-length", { key: "Content-Length", rule: "Content_Length" }],
  // Each session numbers its requests from 1: the first few repeat.
  ["cseq", { key: "CSeq", rule: "CSeq" }],
]);

/** A value split into its template and token, or undefined. */
function splitToken(
  raw: string,
  spot: TokenSpot | undefined,
): { template: string; token: string } | undefined {
  if (spot === undefined) return undefined;
  const at = spot.marker === "" ? 0 : raw.lastIndexOf(spot.marker);
  if (at === -1) return undefined;
  const end = at + spot.marker.length;
  const token = raw.substring(end);
  if (!TOKEN.test(token)) return undefined;
  return { template: raw.substring(0, end), token };
}

/** The token field of a grammar result (undefined if it has none). */
function tokenOf(value: unknown, field: TokenSpot["field"]): unknown {
  if (field === "value") return value;
  if (typeof value !== "object" || value === null) return undefined;
  if (field === "tag") {
    const header = value as NameAddrHeader;
    return typeof header.getParam === "function"
      ? header.getParam("tag")
      : undefined;
  }
  return (value as { branch?: unknown }).branch;
}

/** A fresh result with its token field set (`value` is already fresh). */
function withToken(
  value: unknown,
  field: TokenSpot["field"],
  token: string,
): unknown {
  if (field === "value") return token;
  if (field === "tag") {
    (value as NameAddrHeader).setParam("tag", token);
  } else {
    (value as { branch: string }).branch = token;
  }
  return value;
}

// rule + "\n" + text → the grammar's result (kept aside, cloned on use), or
// -1 for a value the grammar refused.
const memo = new Map<string, unknown>();

function remember(key: string, value: unknown): void {
  if (key.length > MEMO_VALUE_MAX_CHARS + 32) return;
  if (memo.size >= MEMO_MAX) {
    const oldest = memo.keys().next().value;
    if (oldest !== undefined) memo.delete(oldest);
  }
  memo.set(key, value);
}

/** Whether a clone of this URI equals it (clone turns no user into ""). */
function clonesFaithfully(uri: unknown): uri is URI {
  return uri instanceof URI && typeof uri.user === "string" && uri.user !== "";
}

/** Whether `value` is a plain object of primitives (CSeq's value and method). */
function isPlainRecord(value: object): boolean {
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.values(value).every((field) =>
    field === null || (typeof field !== "object" && typeof field !== "function")
  );
}

/** A copy for the memo, or undefined when the value is not kept. */
function keepable(value: unknown): unknown {
  if (value === -1 || typeof value !== "object" || value === null) {
    return value;
  }
  if (isPlainRecord(value)) return { ...value };
  const header = value as NameAddrHeader;
  if (
    typeof header.clone === "function" && clonesFaithfully(header.uri)
  ) return header.clone();
  return undefined;
}

/** The memo's value for use: primitives as they are, objects copied. */
function fresh(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (isPlainRecord(value)) return { ...value };
  return (value as NameAddrHeader).clone();
}

function parseStartLine(line: string): StartLine | undefined {
  const key = "Request_Response\n" + line;
  const known = memo.get(key) as StartLine | -1 | undefined;
  if (known === -1) return undefined;
  if (known !== undefined) {
    return known.uri === undefined
      ? known
      : { ...known, uri: known.uri.clone() };
  }
  const parsed = Grammar.parse(line, "Request_Response") as StartLine | -1;
  if (parsed === -1) {
    remember(key, -1);
    return undefined;
  }
  if (parsed.uri === undefined) {
    remember(key, { ...parsed });
  } else if (clonesFaithfully(parsed.uri)) {
    remember(key, { ...parsed, uri: parsed.uri.clone() });
  }
  return parsed;
}

/** sip.js's header handling, with the repeating values from the memo. */
function memoizedParseHeader(
  message: Core.IncomingMessage,
  name: string,
  index: number,
  parse: (name: string, index: number) => unknown,
): unknown {
  const spec = MEMOIZED.get(name);
  if (spec === undefined || index !== 0) return parse(name, index);
  const headers = message.headers as Record<
    string,
    { raw: string; parsed?: unknown }[] | undefined
  >;
  const slots = headers[spec.key];
  if (slots?.length !== 1) return parse(name, index);
  const slot = slots[0];
  if (slot.parsed) return slot.parsed;
  const split = splitToken(slot.raw, spec.token);
  const key = spec.rule + "\n" +
    (split === undefined ? slot.raw : split.template + "\0");
  const known = memo.get(key);
  if (known === undefined) {
    const parsed = parse(name, index);
    // A template is kept only if this parse put the token where it says.
    if (
      split === undefined ||
      tokenOf(parsed, spec.token!.field) === split.token
    ) {
      const kept = keepable(parsed === undefined ? -1 : parsed);
      if (kept !== undefined) remember(key, kept);
    }
    return parsed;
  }
  if (known === -1) return parse(name, index);
  const value = split === undefined
    ? fresh(known)
    : withToken(fresh(known), spec.token!.field, split.token);
  slot.parsed = value;
  return value;
}

class MemoRequest extends Core.IncomingRequestMessage {
  // deno-lint-ignore no-explicit-any
  override parseHeader(name: string, idx = 0): any {
    return memoizedParseHeader(
      this,
      name,
      idx,
      (n, i) => super.parseHeader(n, i),
    );
  }
}

class MemoResponse extends Core.IncomingResponseMessage {
  // deno-lint-ignore no-explicit-any
  override parseHeader(name: string, idx = 0): any {
    return memoizedParseHeader(
      this,
      name,
      idx,
      (n, i) => super.parseHeader(n, i),
    );
  }
}

/**
 * Parses one SIP message as sip.js's `Core.Parser.parseMessage` does.
 *
 * @param data The whole message as text.
 * @returns The message, or undefined if sip.js's parser would refuse it.
 * @throws {TypeError} Where sip.js's parser throws (a response whose CSeq
 *   does not parse); callers treat it as malformed.
 */
export function parseSipMessage(
  data: string,
): Core.IncomingRequestMessage | Core.IncomingResponseMessage | undefined {
  let headerEnd = data.indexOf("\r\n");
  if (headerEnd === -1) return undefined;
  const parsed = parseStartLine(data.substring(0, headerEnd));
  if (parsed === undefined) return undefined;
  let message: MemoRequest | MemoResponse;
  if (!parsed.status_code) {
    const request = new MemoRequest();
    // deno-lint-ignore no-explicit-any
    request.method = parsed.method as any;
    request.ruri = parsed.uri;
    message = request;
  } else {
    const response = new MemoResponse();
    response.statusCode = parsed.status_code;
    response.reasonPhrase = parsed.reason_phrase;
    message = response;
  }
  message.data = data;
  let headerStart = headerEnd + 2;
  let bodyStart: number;
  for (;;) {
    headerEnd = Core.Parser.getHeader(data, headerStart);
    if (headerEnd === -2) {
      bodyStart = headerStart + 2;
      break;
    }
    if (headerEnd === -1) return undefined;
    const result = Core.Parser.parseHeader(
      message,
      data,
      headerStart,
      headerEnd,
    );
    if (result && result !== true) return undefined;
    headerStart = headerEnd + 2;
  }
  message.body = message.hasHeader("content-length")
    ? data.substr(bodyStart, Number(message.getHeader("content-length")))
    : data.substring(bodyStart);
  return message;
}
