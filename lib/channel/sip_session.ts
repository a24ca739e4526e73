/**
 * SIP between two devices over a link that is already authenticated and
 * encrypted (built elsewhere): each link message carries exactly one SIP
 * message as UTF-8. A {@link SipSession} runs a sip.js `UserAgent` over the
 * link with no registrar and no server: `MESSAGE` and `OPTIONS` go straight
 * to the peer, and the peer's session answers them.
 *
 * **URIs.** Options name accounts as `jami:<40 hex>` (any spelling
 * `parseUri` accepts). On the wire an account becomes
 * `sip:<40 lowercase hex>@jami.invalid`: the user part is the account id, the
 * host is a reserved name (RFC 2606 `.invalid`) because SIP routing plays no
 * part here; the link decides who the peer is. The same host is the Via
 * sent-by. A request whose From names an account other than `remoteUri` is
 * answered 403.
 *
 * **What is dropped.** Link messages longer than `maxMessageBytes` are
 * counted in `stats.oversized` and dropped unread. Anything else that is not
 * one well-formed SIP message (not UTF-8, no blank line after the headers, a
 * start line or header sip.js cannot parse, a missing From, To, Call-ID, CSeq,
 * Via branch or Content-Length, a Content-Length other than the body's byte
 * count, a status code outside 100-699, a start line sip.js reads as a
 * request without a method, or anything sip.js throws on) is
 * counted in `stats.malformed` and dropped; nothing thrown reaches the link.
 * Responses that match no pending request are ignored, as RFC 3261 17.1.3
 * asks. Requests other than `MESSAGE`, `OPTIONS`, `CANCEL` and `ACK` get 405,
 * so nothing that would arm sip.js's long INVITE or subscription timers ever
 * reaches it. sip.js itself answers a `MESSAGE` 404 when its Request-URI
 * names another account, and 482 when it repeats the From tag, Call-ID and
 * CSeq of one still in progress (RFC 3261 8.2.2.2).
 *
 * **sip.js timers.** The transport declares itself reliable (`TCP`). sip.js
 * then arms, for each request we send, Timer F (64 x T1 = 32 000 ms, the
 * request timeout; a real `setTimeout`, not virtual time), replaced on the
 * final response by Timer K (0 ms); for each incoming `MESSAGE`, Timer J
 * (0 ms) once the answer is sent. sip.js does not implement the retransmit
 * timers (E, G) at all. `OPTIONS` and refusals are answered statelessly, with
 * no timer. {@link SipSession.close} disposes every transaction, which clears
 * F, K and J, so no timer outlives the session.
 *
 * **sip.js randomness** (`Math.random`, not seeded). Per request: the Via
 * branch (`z9hG4bK` and up to 7 digits, which the session zero-pads to
 * exactly 7 on the wire and unpads in responses, so its length never varies),
 * the From tag (10 base-32 characters) and the Call-ID (15). Per answer: the
 * To tag (10). At construction sip.js also draws tokens it then discards
 * because the session sets them (`sipjsId`, `viaHost`, URI). Values differ
 * between runs; lengths do not, so for equal bodies the byte counts on the
 * link are identical from run to run. Nothing else in the session draws
 * randomness or reads a clock.
 *
 * @example MESSAGE with a PIDF body between two sessions
 * ```ts
 * import assert from "node:assert/strict";
 * import { type SipLink, SipSession } from "./sip_session.ts";
 *
 * // Two link ends delivering to each other on a microtask.
 * function linkPair(): [SipLink, SipLink] {
 *   const ends = [0, 1].map(() => ({
 *     receive: (_bytes: Uint8Array) => {},
 *     closed: () => {},
 *   }));
 *   return [0, 1].map((side): SipLink => ({
 *     send: (bytes) => queueMicrotask(() => ends[1 - side].receive(bytes)),
 *     onMessage: (handler) => ends[side].receive = handler,
 *     onClose: (handler) => ends[side].closed = handler,
 *     close: () => queueMicrotask(() => ends[1 - side].closed()),
 *   })) as [SipLink, SipLink];
 * }
 *
 * const alice = "jami:" + "a1".repeat(20);
 * const bob = "jami:" + "b2".repeat(20);
 * const [aliceLink, bobLink] = linkPair();
 * const a = await SipSession.open({ link: aliceLink, localUri: alice, remoteUri: bob });
 * const b = await SipSession.open({ link: bobLink, localUri: bob, remoteUri: alice });
 * const received: string[] = [];
 * b.onMessage((contentType, body) => received.push(`${contentType} ${body}`));
 *
 * await a.sendMessage("application/pidf+xml", "<presence/>");
 * await a.ping();
 * assert.deepEqual(received, ["application/pidf+xml <presence/>"]);
 * assert.equal(a.stats.sent, 2);
 * await a.close();
 * await b.close();
 * ```
 *
 * @module
 */
import {
  Core,
  EmitterImpl,
  Grammar,
  type Message,
  type Transport,
  TransportState,
  URI,
  UserAgent,
} from "npm:sip.js@^0.21.2";
import { parseUri } from "../identity/uri.ts";
import { parseSipMessage } from "./_sip_parser.ts";

/** Largest SIP message accepted from the link by default, in bytes (16 KiB). */
export const DEFAULT_MAX_SIP_MESSAGE_BYTES = 16_384;

/**
 * A message-oriented, authenticated link to one peer device. Each message is
 * one whole SIP message; the link keeps boundaries and order.
 */
export interface SipLink {
  /**
   * Sends one SIP message. May throw once the link is closed; the session
   * then reports the request as failed with `"closed"`.
   *
   * @param bytes The message, UTF-8.
   */
  send(bytes: Uint8Array): void;
  /**
   * Sets the handler for incoming messages (a second call replaces the first).
   *
   * @param handler Called with each message as it arrives.
   */
  onMessage(handler: (bytes: Uint8Array) => void): void;
  /**
   * Sets the handler called once when the link closes for any reason.
   *
   * @param handler Called on close.
   */
  onClose(handler: () => void): void;
  /** Closes the link; idempotent. */
  close(): void;
}

/** What {@link SipSession.open} needs. */
export interface SipSessionOptions {
  /** The link to the peer; the session owns it and closes it on close. */
  readonly link: SipLink;
  /** This account, `jami:<40 hex>`. */
  readonly localUri: string;
  /** The peer's account, `jami:<40 hex>` (may equal `localUri`: own devices). */
  readonly remoteUri: string;
  /**
   * Largest SIP message, in bytes, accepted from the link; larger ones are
   * dropped unread and counted. Requests we would send above it fail with
   * `"oversized"` instead of being sent.
   *
   * @default {16384}
   */
  readonly maxMessageBytes?: number;
  /**
   * Handler of incoming `MESSAGE`s from the start (see
   * {@link SipSession.onMessage}): a peer may send before `open` resolves.
   */
  readonly onMessage?: (contentType: string, body: string) => void;
}

/** Counters of SIP messages on the link, since the session opened. */
export interface SipSessionStats {
  /** Incoming link messages dropped because they were not well-formed SIP. */
  readonly malformed: number;
  /** Incoming link messages dropped unread for exceeding `maxMessageBytes`. */
  readonly oversized: number;
  /** SIP messages (requests and responses) handed to the link. */
  readonly sent: number;
  /** Well-formed SIP messages taken from the link and handled. */
  readonly received: number;
}

/**
 * Why a request failed:
 * - `"rejected"`: the peer answered with a final non-2xx response;
 * - `"timeout"`: no final response within sip.js's Timer F (32 000 ms), 408;
 * - `"oversized"`: the request exceeds `maxMessageBytes`, never sent, 513;
 * - `"closed"`: the session or link closed first, 503 (RFC 3261 8.1.3.1).
 */
export type SipRequestFailure = "rejected" | "timeout" | "oversized" | "closed";

/** A SIP request that did not get a 2xx response. */
export class SipRequestFailedError extends Error {
  /** The request method, `"MESSAGE"` or `"OPTIONS"`. */
  readonly method: string;
  /** Why no 2xx arrived: a final error response, a timeout, an oversized request, or a close. */
  readonly failure: SipRequestFailure;
  /** The peer's status code, or the one RFC 3261 assigns to a local failure. */
  readonly statusCode: number;
  /** The reason phrase that goes with `statusCode`. */
  readonly reasonPhrase: string;
  /**
   * Makes the error.
   *
   * @param method The request method.
   * @param failure Why it failed.
   * @param statusCode The status code.
   * @param reasonPhrase The reason phrase.
   */
  constructor(
    method: string,
    failure: SipRequestFailure,
    statusCode: number,
    reasonPhrase: string,
  ) {
    super(
      `Cannot send ${method}: ${
        describeFailure(failure, statusCode, reasonPhrase)
      }`,
    );
    this.name = "SipRequestFailedError";
    this.method = method;
    this.failure = failure;
    this.statusCode = statusCode;
    this.reasonPhrase = reasonPhrase;
  }
}

function describeFailure(
  failure: SipRequestFailure,
  statusCode: number,
  reasonPhrase: string,
): string {
  switch (failure) {
    case "rejected":
      return `the peer answered ${statusCode} "${reasonPhrase}"`;
    case "timeout":
      return `no final response within ${Core.Timers.TIMER_F} ms`;
    case "oversized":
      return "the message exceeds the size limit";
    case "closed":
      return "the session is closed";
  }
}

/** Status code and reason phrase of each local failure (RFC 3261 8.1.3.1). */
const LOCAL_FAILURE_STATUS = {
  timeout: [408, "Request Timeout"],
  oversized: [513, "Message Too Large"],
  closed: [503, "Service Unavailable"],
} as const;

function localFailure(
  method: string,
  failure: keyof typeof LOCAL_FAILURE_STATUS,
): SipRequestFailedError {
  const [statusCode, reasonPhrase] = LOCAL_FAILURE_STATUS[failure];
  return new SipRequestFailedError(method, failure, statusCode, reasonPhrase);
}

// Reserved host (RFC 2606) for every SIP URI and the Via sent-by.
const SIP_HOST = "jami.invalid";
const ALLOW_HEADER = "Allow: MESSAGE, OPTIONS";
const USER_AGENT = "dht-contacts";
// sip.js draws a random UUID unless given one; it never goes on the wire for
// MESSAGE and OPTIONS, so a constant keeps construction free of draws.
const INSTANCE_ID = "00000000-0000-4000-8000-000000000000";

/** The grammar's verdict on {@link INSTANCE_ID}, taken once. */
const INSTANCE_ID_VERDICT: unknown = Grammar.parse(INSTANCE_ID, "uuid");

/**
 * `new UserAgent(options)`, without its one grammar call per session: its
 * constructor checks the instance id with sip.js 0.21's grammar, which
 * rebuilds its tables on every call (3 % of a simulation's time, one call per
 * link). Ours is a constant, so the verdict is taken once at load and given
 * back for that one input while the constructor runs; the constructor is
 * synchronous, so no other code sees the swap, and any other input still
 * goes to the grammar.
 */
function newUserAgent(
  options: ConstructorParameters<typeof UserAgent>[0],
): UserAgent {
  const parse = Grammar.parse;
  Grammar.parse = (input: string, rule: string) =>
    input === INSTANCE_ID && rule === "uuid"
      ? INSTANCE_ID_VERDICT
      : parse(input, rule);
  try {
    return new UserAgent(options);
  } finally {
    Grammar.parse = parse;
  }
}
const MEDIA_TYPE =
  /^[\w!#$%&'*+.^`|~-]+\/[\w!#$%&'*+.^`|~-]+(?:[ \t]*;[^\r\n]*)?$/;
const REQUIRED_HEADERS = ["from", "to", "call-id", "cseq", "via"];
const UTF8_DECODER = new TextDecoder("utf-8", { fatal: true });
const ASCII_DECODER = new TextDecoder();

/**
 * The message as text; throws a `TypeError` if it is not UTF-8. Nearly every
 * SIP message is ASCII, which every decoder reads alike: inside a large
 * simulation the strict decoder took 45 µs a message and the lenient one 3.6
 * (scan included), so the strict one reads only messages with other bytes.
 */
function decodeUtf8(bytes: Uint8Array): string {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] > 0x7f) return UTF8_DECODER.decode(bytes);
  }
  return ASCII_DECODER.decode(bytes);
}
const UTF8_ENCODER = new TextEncoder();
// sip.js makes branches "z9hG4bK" + 1 to 7 digits; we send them as 7 digits.
const BRANCH_DIGITS = 7;
const SHORT_BRANCH_IN_VIA =
  /^(Via: [^\r\n]*?;branch=z9hG4bK)(\d{1,6})(?=[;\r])/m;
const PADDED_BRANCH = /^z9hG4bK(\d{7})$/;

/** A send the link refused; sip.js turns it into a transport error. */
class LinkSendError extends Core.TransportError {
  readonly failure: "oversized" | "closed";
  constructor(failure: "oversized" | "closed", message: string) {
    super(message);
    this.failure = failure;
  }
}

/** What the transport needs from its session. */
interface LinkTransportOptions {
  /** Writes one SIP message; throws {@link LinkSendError} when it cannot. */
  write(text: string): void;
}

/**
 * The sip.js transport over a link. The link is up before the session exists,
 * so connecting is a state change only. Incoming messages do not pass through
 * here: the session parses and checks them, then hands them to the core.
 */
class LinkTransport implements Transport {
  // Reliable: sip.js puts TCP in the Via and Content-Length is mandatory.
  readonly protocol = "TCP";
  readonly stateChange = new EmitterImpl<TransportState>();
  onConnect: (() => void) | undefined;
  onDisconnect: ((error?: Error) => void) | undefined;
  onMessage: ((message: string) => void) | undefined;
  #state = TransportState.Disconnected;
  readonly #write: (text: string) => void;

  constructor(_logger: Core.Logger, options: LinkTransportOptions) {
    this.#write = options.write;
  }

  get state(): TransportState {
    return this.#state;
  }

  connect(): Promise<void> {
    if (this.#state !== TransportState.Connected) {
      this.#state = TransportState.Connected;
      this.stateChange.emit(this.#state);
      this.onConnect?.();
    }
    return Promise.resolve();
  }

  disconnect(): Promise<void> {
    if (this.#state !== TransportState.Disconnected) {
      this.#state = TransportState.Disconnected;
      this.stateChange.emit(this.#state);
      this.onDisconnect?.();
    }
    return Promise.resolve();
  }

  dispose(): Promise<void> {
    return this.disconnect();
  }

  isConnected(): boolean {
    return this.#state === TransportState.Connected;
  }

  send(message: string): Promise<void> {
    try {
      this.#write(message);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** How one outgoing request ends; called at most once. */
type RequestSettler = (failure?: SipRequestFailedError) => void;

/**
 * One outgoing non-INVITE request. sip.js reports a timeout or a transport
 * error as a made-up 408 or 503 response; overriding its two hooks keeps
 * those apart from real answers from the peer.
 */
class SessionRequest extends Core.UserAgentClient {
  readonly #settle: RequestSettler;

  constructor(
    core: Core.UserAgentCore,
    message: Core.OutgoingRequestMessage,
    settle: RequestSettler,
  ) {
    const refuse = ({ message: response }: Core.IncomingResponse) =>
      settle(
        new SipRequestFailedError(
          message.method,
          "rejected",
          response.statusCode ?? 0,
          response.reasonPhrase ?? "",
        ),
      );
    super(Core.NonInviteClientTransaction, core, message, {
      onAccept: () => settle(),
      onRedirect: refuse,
      onReject: refuse,
    });
    // Both hooks below run asynchronously, after this assignment.
    this.#settle = settle;
  }

  protected override onRequestTimeout(): void {
    this.#settle(localFailure(this.message.method, "timeout"));
  }

  protected override onTransportError(error: Core.TransportError): void {
    const failure = error instanceof LinkSendError ? error.failure : "closed";
    this.#settle(localFailure(this.message.method, failure));
  }
}

/**
 * Maps `jami:<hex>` (any spelling `parseUri` takes) to our SIP URI,
 * `sip:<hex>@jami.invalid`. Built as sip.js's grammar builds it from that
 * text (scheme, user, host; no port, parameters or headers), without running
 * the grammar: sip.js rebuilds all its parser tables on every parse, and two
 * URIs per link made that a few percent of a simulation.
 */
function sipUriOf(jamiUri: string): URI {
  return new URI("sip", parseUri(jamiUri).toString(), SIP_HOST);
}

/** Index of the blank line ending the headers (CR LF CR LF), or -1. */
function headerEnd(bytes: Uint8Array): number {
  for (let index = 0; index + 3 < bytes.length; index += 1) {
    if (
      bytes[index] === 13 && bytes[index + 1] === 10 &&
      bytes[index + 2] === 13 && bytes[index + 3] === 10
    ) return index;
  }
  return -1;
}

function padBranch(request: string): string {
  return request.replace(
    SHORT_BRANCH_IN_VIA,
    (_, head: string, digits: string) =>
      head + digits.padStart(BRANCH_DIGITS, "0"),
  );
}

function unpadBranch(branch: string): string {
  const digits = PADDED_BRANCH.exec(branch)?.[1];
  return digits === undefined ? branch : `z9hG4bK${Number(digits)}`;
}

function noLog(): void {
  // sip.js logging goes nowhere: drops and refusals are counted instead.
}

/**
 * A SIP user agent talking to one peer over a {@link SipLink}: sends
 * `MESSAGE` and `OPTIONS`, answers the peer's. See the module doc for what
 * is dropped and what sip.js keeps of timers and randomness.
 */
export class SipSession {
  readonly #link: SipLink;
  readonly #userAgent: UserAgent;
  readonly #localUri: URI;
  readonly #remoteUri: URI;
  readonly #maxMessageBytes: number;
  // One entry per request awaiting its answer: rejects it with "closed".
  readonly #pending = new Set<() => void>();
  #handler: ((contentType: string, body: string) => void) | undefined;
  #closing: Promise<void> | undefined;
  #malformed = 0;
  #oversized = 0;
  #sent = 0;
  #received = 0;

  private constructor(options: SipSessionOptions) {
    const maxMessageBytes = options.maxMessageBytes ??
      DEFAULT_MAX_SIP_MESSAGE_BYTES;
    if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1) {
      throw new RangeError(
        `Cannot open SIP session: maxMessageBytes must be a positive integer, got "${maxMessageBytes}"`,
      );
    }
    this.#maxMessageBytes = maxMessageBytes;
    this.#handler = options.onMessage;
    this.#link = options.link;
    this.#localUri = sipUriOf(options.localUri);
    this.#remoteUri = sipUriOf(options.remoteUri);
    const transportOptions: LinkTransportOptions = {
      write: (text) => this.#write(text),
    };
    this.#userAgent = newUserAgent({
      uri: this.#localUri,
      transportConstructor: LinkTransport,
      transportOptions,
      delegate: { onMessage: (message) => this.#answer(message) },
      logBuiltinEnabled: false,
      logConnector: noLog,
      logLevel: "error",
      logConfiguration: false,
      // An empty prefix leaves Call-IDs at 15 random characters.
      sipjsId: "",
      viaHost: SIP_HOST,
      contactName: this.#localUri.user,
      contactParams: { transport: "tcp" },
      instanceId: INSTANCE_ID,
      // Nothing to unregister or hang up: stopping just disposes, at once.
      gracefulShutdown: false,
      userAgentString: USER_AGENT,
    });
    this.#link.onMessage((bytes) => this.#receive(bytes));
    this.#link.onClose(() => void this.close());
  }

  /**
   * Starts a session over `options.link`. From then on the session owns the
   * link; if `open` rejects, the link is left as it was.
   *
   * @param options The link, both accounts and the size limit.
   * @returns The started session.
   * @throws {InvalidUriError} (rejects) If `localUri` or `remoteUri` is not an account URI.
   * @throws {RangeError} (rejects) If `maxMessageBytes` is not a positive integer.
   */
  static async open(options: SipSessionOptions): Promise<SipSession> {
    const session = new SipSession(options);
    await session.#userAgent.start();
    return session;
  }

  /** Counters since open (a snapshot). */
  get stats(): SipSessionStats {
    return {
      malformed: this.#malformed,
      oversized: this.#oversized,
      sent: this.#sent,
      received: this.#received,
    };
  }

  /**
   * Sends a SIP `MESSAGE` to the peer.
   *
   * @param contentType The body's media type, e.g. `application/pidf+xml`.
   * @param body The body, as text; with the headers it must fit `maxMessageBytes`.
   * @returns Resolves when the peer answers 2xx.
   * @throws {SipRequestFailedError} (rejects) On any other answer, a
   * timeout, a message over the size limit, or a close before the answer.
   * @throws {TypeError} (rejects) If `contentType` is not a media type
   * (`type/subtype`, optional parameters, no line breaks) or `body` is not a
   * string.
   */
  sendMessage(contentType: string, body: string): Promise<void> {
    if (typeof contentType !== "string" || !MEDIA_TYPE.test(contentType)) {
      return Promise.reject(
        new TypeError(
          `Cannot send MESSAGE: invalid content type "${contentType}"`,
        ),
      );
    }
    if (typeof body !== "string") {
      return Promise.reject(
        new TypeError("Cannot send MESSAGE: body is not a string"),
      );
    }
    return this.#request("MESSAGE", {
      contentDisposition: "render",
      contentType,
      content: body,
    });
  }

  /**
   * Sets the handler for the peer's `MESSAGE`s (a second call replaces the
   * first). The session answers 200 after the handler returns; 500 if it
   * throws; 480 while no handler is set; 415 without a Content-Type; 403 if
   * From names another account than `remoteUri`.
   *
   * @param handler Called with the Content-Type header value and the body.
   */
  onMessage(handler: (contentType: string, body: string) => void): void {
    this.#handler = handler;
  }

  /**
   * Sends a SIP `OPTIONS` to the peer: a liveness check.
   *
   * @returns Resolves when the peer answers 2xx.
   * @throws {SipRequestFailedError} (rejects) On any other answer, a timeout
   * or a close before the answer.
   */
  ping(): Promise<void> {
    return this.#request("OPTIONS");
  }

  /**
   * Stops the user agent (clearing every sip.js timer), rejects pending
   * requests with `"closed"` and closes the link. Idempotent; also runs when
   * the link closes.
   *
   * @returns Resolves when stopped.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  async #shutDown(): Promise<void> {
    for (const abort of [...this.#pending]) abort();
    try {
      await this.#userAgent.stop();
    } finally {
      this.#link.close();
    }
  }

  #request(method: string, body?: Core.Body): Promise<void> {
    if (this.#closing !== undefined) {
      return Promise.reject(localFailure(method, "closed"));
    }
    const core = this.#userAgent.userAgentCore;
    const message = core.makeOutgoingRequestMessage(
      method,
      this.#remoteUri,
      this.#localUri,
      this.#remoteUri,
      {},
      [],
      body,
    );
    return new Promise((resolve, reject) => {
      const abort = () => settle(localFailure(method, "closed"));
      const settle: RequestSettler = (failure) => {
        if (!this.#pending.delete(abort)) return;
        if (failure === undefined) resolve();
        else reject(failure);
      };
      this.#pending.add(abort);
      new SessionRequest(core, message, settle);
    });
  }

  /** Writes one outgoing SIP message; sip.js calls it through the transport. */
  #write(text: string): void {
    if (this.#closing !== undefined) {
      throw new LinkSendError(
        "closed",
        "Cannot send SIP message: the session is closed",
      );
    }
    const bytes = UTF8_ENCODER.encode(
      text.startsWith("SIP/2.0 ") ? text : padBranch(text),
    );
    if (bytes.length > this.#maxMessageBytes) {
      throw new LinkSendError(
        "oversized",
        `Cannot send SIP message: ${bytes.length} bytes exceed the limit of ${this.#maxMessageBytes}`,
      );
    }
    try {
      this.#link.send(bytes);
    } catch (error) {
      throw new LinkSendError("closed", `Cannot send SIP message: ${error}`);
    }
    this.#sent += 1;
  }

  /** One link message in: size check, parse, checks, then sip.js. Never throws. */
  #receive(bytes: Uint8Array): void {
    if (this.#closing !== undefined) return;
    if (bytes.length > this.#maxMessageBytes) {
      this.#oversized += 1;
      return;
    }
    const message = this.#parse(bytes);
    if (message === undefined) {
      this.#malformed += 1;
      return;
    }
    try {
      this.#dispatch(message);
      this.#received += 1;
    } catch {
      this.#malformed += 1;
    }
  }

  #parse(
    bytes: Uint8Array,
  ): Core.IncomingRequestMessage | Core.IncomingResponseMessage | undefined {
    const end = headerEnd(bytes);
    if (end === -1) return undefined;
    let message;
    try {
      message = parseSipMessage(decodeUtf8(bytes));
    } catch {
      return undefined;
    }
    if (message === undefined) return undefined;
    if (!REQUIRED_HEADERS.every((name) => message.hasHeader(name))) {
      return undefined;
    }
    if (typeof message.viaBranch !== "string" || message.viaBranch === "") {
      return undefined;
    }
    // One link message is one SIP message: the body is all that follows.
    const contentLength = message.getHeader("content-length");
    if (contentLength === undefined || !/^\d+$/.test(contentLength)) {
      return undefined;
    }
    if (Number(contentLength) !== bytes.length - end - 4) return undefined;
    if (message instanceof Core.IncomingResponseMessage) {
      const status = message.statusCode ?? 0;
      if (status < 100 || status > 699) return undefined;
    } else if (
      typeof message.method !== "string" || message.ruri === undefined
    ) {
      // sip.js parses a status line with code 000 as a request with no method.
      return undefined;
    }
    return message;
  }

  #dispatch(
    message: Core.IncomingRequestMessage | Core.IncomingResponseMessage,
  ): void {
    const core = this.#userAgent.userAgentCore;
    if (message instanceof Core.IncomingResponseMessage) {
      message.viaBranch = unpadBranch(message.viaBranch);
      core.receiveIncomingResponseFromTransport(message);
      return;
    }
    switch (message.method) {
      case "MESSAGE":
      case "CANCEL":
        core.receiveIncomingRequestFromTransport(message);
        return;
      case "ACK":
        return; // Only INVITE answers are ACKed; we never send any.
      case "OPTIONS":
        // sip.js's own answer would list INVITE, SUBSCRIBE, ... in Allow.
        core.replyStateless(message, {
          statusCode: 200,
          extraHeaders: [ALLOW_HEADER],
        });
        return;
      default:
        core.replyStateless(message, {
          statusCode: 405,
          extraHeaders: [ALLOW_HEADER],
        });
    }
  }

  /** Answers one incoming MESSAGE (sip.js runs the server transaction). */
  #answer(incoming: Message): void {
    const request = incoming.request;
    const from = request.from.uri.user?.toLowerCase();
    const contentType = request.getHeader("content-type");
    const handler = this.#handler;
    let statusCode = 200;
    if (from !== this.#remoteUri.user) statusCode = 403;
    else if (contentType === undefined) statusCode = 415;
    else if (handler === undefined) statusCode = 480;
    else {
      try {
        handler(contentType, request.body);
      } catch {
        statusCode = 500;
      }
    }
    // The handler may have closed the session; the core is disposed then.
    if (this.#closing !== undefined) return;
    if (statusCode === 200) incoming.accept();
    else incoming.reject({ statusCode });
  }
}
