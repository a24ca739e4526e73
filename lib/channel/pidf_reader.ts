/**
 * The bounded PIDF reader behind `parsePidf` (`pidf.ts`): its limits, the
 * error it throws, and a single-pass XML 1.0 + namespaces reader that keeps
 * only what a presence document needs. It refuses DTDs, entities other than
 * the five predefined ones, CDATA and processing instructions, so hostile
 * input cannot expand, and time and memory stay linear in the input.
 *
 * @module
 */
/** Media type of a PIDF document. */
export const PIDF_CONTENT_TYPE = "application/pidf+xml";
/** XML namespace of PIDF elements (RFC 3863, section 4.4). */
export const PIDF_NAMESPACE = "urn:ietf:params:xml:ns:pidf";
/** Largest document `parsePidf` reads, in UTF-8 bytes. */
export const MAX_PIDF_BYTES = 4096;
/** Deepest element nesting `parsePidf` reads; the root is depth 1. */
export const MAX_PIDF_DEPTH = 8;
/**
 * Longest note, in UTF-16 units: the same limit as the note of a DHT device
 * announcement (`MAX_NOTE_LENGTH` in `lib/presence/device_announcement.ts`).
 */
export const MAX_PIDF_NOTE_LENGTH = 256;
/** Most elements, the root included, in a document `parsePidf` reads. */
export const MAX_PIDF_ELEMENTS = 64;
/** Most attributes (namespace declarations included) on one element. */
export const MAX_PIDF_ATTRIBUTES = 16;
/** Longest tuple id `buildPidf` writes, in UTF-16 units. */
export const MAX_PIDF_TUPLE_ID_LENGTH = 128;

/** The presence of one device, as a PIDF document carries it. */
export interface PresenceDocument {
  /** Whose presence: `"jami:"` and the 40 lowercase hex digits of the account id. */
  readonly entity: string;
  /** Whether the device is reachable: `<basic>open</basic>`, else closed. */
  readonly open: boolean;
  /** Free text status, `""` when the document has none. */
  readonly note: string;
  /** Id of the tuple (the device id); absent when the tuple has no id. */
  readonly tupleId?: string;
}

/** Why `parsePidf` refused a document. */
export type MalformedPidfReason =
  /** Over {@link MAX_PIDF_BYTES} UTF-8 bytes. */
  | "too-large"
  /** Elements nested deeper than {@link MAX_PIDF_DEPTH}. */
  | "too-deep"
  /** More than {@link MAX_PIDF_ELEMENTS} elements. */
  | "too-many-elements"
  /** More than {@link MAX_PIDF_ATTRIBUTES} attributes on one element. */
  | "too-many-attributes"
  /** A character XML 1.0 does not allow (controls, lone surrogates, U+FFFE, U+FFFF). */
  | "bad-character"
  /** Text that is not well-formed XML. */
  | "bad-syntax"
  /** An entity other than the five predefined, or a bad character reference. */
  | "bad-reference"
  /** A document type or other markup declaration (`<!DOCTYPE`, `<!ENTITY`, …). */
  | "dtd"
  /** A CDATA section. */
  | "cdata"
  /** A processing instruction other than the leading XML declaration. */
  | "processing-instruction"
  /** An XML declaration other than version 1.0 in UTF-8. */
  | "bad-declaration"
  /** The input ends inside a tag, comment or element. */
  | "unclosed"
  /** An end tag that does not match the open element. */
  | "mismatched-tag"
  /** The same attribute twice on one element. */
  | "duplicate-attribute"
  /** An unbound prefix or an illegal namespace declaration. */
  | "bad-namespace"
  /** The root is not `presence` in the PIDF namespace, or there is no root. */
  | "not-pidf"
  /** The root has no `entity` attribute. */
  | "missing-entity"
  /** A `basic` status other than `open` or `closed`. */
  | "bad-status"
  /** A note over {@link MAX_PIDF_NOTE_LENGTH} characters. */
  | "note-too-long"
  /** An element inside `note` or `basic`, which hold text only. */
  | "unexpected-element";

/** A document `parsePidf` refuses; `reason` says which rule it broke. */
export class MalformedPidfError extends SyntaxError {
  /** Which rule the document broke. */
  readonly reason: MalformedPidfReason;
  /** Offset in the input (UTF-16 units) where the problem was found. */
  readonly offset: number;
  /**
   * Makes the error.
   *
   * @param reason Which rule the document broke.
   * @param detail What was found, for the message.
   * @param offset Where, in UTF-16 units from the start of the input.
   */
  constructor(reason: MalformedPidfReason, detail: string, offset: number) {
    super(`Cannot parse PIDF: ${detail} (at offset ${offset})`);
    this.name = "MalformedPidfError";
    this.reason = reason;
    this.offset = offset;
  }
}

export const JAMI_ENTITY_PATTERN = /^jami:[0-9a-f]{40}$/;
const XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NAMESPACE = "http://www.w3.org/2000/xmlns/";
/** Longest character reference we read, `&#x` or `&#` excluded: 0x10FFFF has 7 decimal digits. */
const MAX_REFERENCE_DIGITS = 8;

const TAB = 0x09;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const QUOTATION_MARK = 0x22;
const NUMBER_SIGN = 0x23;
const AMPERSAND = 0x26;
const APOSTROPHE = 0x27;
const SLASH = 0x2f;
const SEMICOLON = 0x3b;
const LESS_THAN = 0x3c;
const EQUALS = 0x3d;
const GREATER_THAN = 0x3e;
const RIGHT_BRACKET = 0x5d;
const LATIN_SMALL_X = 0x78;
const BYTE_ORDER_MARK = 0xfeff;

const PREDEFINED_ENTITIES: ReadonlyMap<string, string> = new Map([
  ["lt", "<"],
  ["gt", ">"],
  ["amp", "&"],
  ["quot", '"'],
  ["apos", "'"],
]);

/** XML 1.0 `NameStartChar` ranges, inclusive, as code points. */
const NAME_START_RANGES: readonly (readonly [number, number])[] = [
  [0x3a, 0x3a],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
  [0xc0, 0xd6],
  [0xd8, 0xf6],
  [0xf8, 0x2ff],
  [0x370, 0x37d],
  [0x37f, 0x1fff],
  [0x200c, 0x200d],
  [0x2070, 0x218f],
  [0x2c00, 0x2fef],
  [0x3001, 0xd7ff],
  [0xf900, 0xfdcf],
  [0xfdf0, 0xfffd],
  [0x10000, 0xeffff],
];
/** What XML 1.0 `NameChar` adds to `NameStartChar`. */
const NAME_EXTRA_RANGES: readonly (readonly [number, number])[] = [
  [0x2d, 0x2e],
  [0x30, 0x39],
  [0xb7, 0xb7],
  [0x300, 0x36f],
  [0x203f, 0x2040],
];

function inRanges(
  code: number,
  ranges: readonly (readonly [number, number])[],
): boolean {
  for (const [low, high] of ranges) {
    if (code >= low && code <= high) return true;
  }
  return false;
}

function isWhitespace(code: number): boolean {
  return code === SPACE || code === LINE_FEED || code === TAB ||
    code === CARRIAGE_RETURN;
}

/** XML 1.0 `Char`, for a code point (surrogates never qualify). */
function isXmlCharacter(code: number): boolean {
  if (code < 0x20) {
    return code === TAB || code === LINE_FEED || code === CARRIAGE_RETURN;
  }
  return code <= 0xd7ff || (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff);
}

/**
 * Index of the first UTF-16 unit of `text` that does not belong to an XML
 * character, or -1. Lone surrogates do not belong to one.
 */
function firstNonXmlCharacter(text: string): number {
  for (let index = 0; index < text.length; index++) {
    const code = text.codePointAt(index)!;
    if (!isXmlCharacter(code)) return index;
    if (code > 0xffff) index++;
  }
  return -1;
}

/** Checks a builder input: a string of `min` to `max` UTF-16 units XML can carry. */
export function checkCarried(
  what: string,
  value: string,
  min: number,
  max: number,
): void {
  if (typeof value !== "string") {
    throw new TypeError(
      `Cannot build PIDF: ${what} is ${typeof value}, not string`,
    );
  }
  if (value.length < min || value.length > max) {
    throw new RangeError(
      `Cannot build PIDF: ${what} has ${value.length} characters, not ${min} to ${max}`,
    );
  }
  const bad = firstNonXmlCharacter(value);
  if (bad !== -1) {
    const code = value.charCodeAt(bad).toString(16).toUpperCase();
    throw new RangeError(
      `Cannot build PIDF: ${what} holds U+${code}, which XML cannot carry`,
    );
  }
}

/**
 * Escapes markup characters. Carriage returns are written as references
 * because a reader turns literal ones into line feeds; in attributes, tabs and
 * line feeds too, because a reader turns literal ones into spaces.
 */
export function escapeXml(value: string, inAttribute: boolean): string {
  let out = "";
  let start = 0;
  for (let index = 0; index < value.length; index++) {
    const replacement = escapeOf(value.charCodeAt(index), inAttribute);
    if (replacement === undefined) continue;
    out += value.slice(start, index) + replacement;
    start = index + 1;
  }
  return out + value.slice(start);
}

function escapeOf(code: number, inAttribute: boolean): string | undefined {
  switch (code) {
    case AMPERSAND:
      return "&amp;";
    case LESS_THAN:
      return "&lt;";
    case GREATER_THAN:
      return "&gt;";
    case QUOTATION_MARK:
      return "&quot;";
    case APOSTROPHE:
      return "&apos;";
    case CARRIAGE_RETURN:
      return "&#xD;";
    case TAB:
      return inAttribute ? "&#x9;" : undefined;
    case LINE_FEED:
      return inAttribute ? "&#xA;" : undefined;
    default:
      return undefined;
  }
}

/**
 * Refuses input over {@link MAX_PIDF_BYTES} UTF-8 bytes, then input holding a
 * character XML 1.0 does not allow, so that the reader never meets one.
 */
export function checkSizeAndCharacters(text: string): void {
  // Every UTF-16 unit takes at least one UTF-8 byte: a long string is refused
  // without looking at it.
  if (text.length > MAX_PIDF_BYTES) {
    throw new MalformedPidfError(
      "too-large",
      `input has ${text.length} characters, over ${MAX_PIDF_BYTES} bytes`,
      0,
    );
  }
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        index++;
      } else bytes += 3; // A lone surrogate; refused below.
    } else bytes += 3;
  }
  if (bytes > MAX_PIDF_BYTES) {
    throw new MalformedPidfError(
      "too-large",
      `input has ${bytes} UTF-8 bytes, over ${MAX_PIDF_BYTES}`,
      0,
    );
  }
  const bad = firstNonXmlCharacter(text);
  if (bad !== -1) {
    const code = text.charCodeAt(bad).toString(16).toUpperCase();
    throw new MalformedPidfError(
      "bad-character",
      `U+${code} is not allowed in XML`,
      bad,
    );
  }
}

/** What an element means to the presence we read. */
type Role =
  | "presence"
  | "tuple"
  | "status"
  | "basic"
  | "presence-note"
  | "tuple-note"
  | "other";

/** Roles whose elements hold text only. */
function holdsText(role: Role): boolean {
  return role === "basic" || role === "presence-note" || role === "tuple-note";
}

/** One open element. */
interface Frame {
  /** The qualified name as written, to match the end tag. */
  readonly name: string;
  readonly role: Role;
  /** Whether it is, or is inside, the first tuple. */
  readonly inFirstTuple: boolean;
  /** Namespace declarations on this element: prefix (`""` default) to name. */
  readonly bindings: ReadonlyMap<string, string>;
  /** Text content so far, kept for notes and `basic` only. */
  text: string;
}

interface Attribute {
  readonly name: string;
  readonly value: string;
  readonly offset: number;
}

/**
 * The reader: one index over the text, an explicit stack of open elements
 * (at most {@link MAX_PIDF_DEPTH}), and the presence collected so far.
 */
export class PidfReader {
  readonly #text: string;
  #position = 0;
  readonly #stack: Frame[] = [];
  #elementCount = 0;
  #tupleCount = 0;
  #entity: string | undefined;
  #tupleId: string | undefined;
  #open: boolean | undefined;
  #presenceNote: string | undefined;
  #tupleNote: string | undefined;

  constructor(text: string) {
    this.#text = text;
  }

  read(): PresenceDocument {
    if (this.#text.charCodeAt(0) === BYTE_ORDER_MARK) this.#position = 1;
    this.#readDeclaration();
    this.#readMisc();
    if (this.#position >= this.#text.length) {
      this.#fail("not-pidf", "there is no root element");
    }
    if (this.#code() !== LESS_THAN) {
      this.#fail("bad-syntax", "text before the root element");
    }
    this.#readElement();
    this.#readMisc();
    if (this.#position < this.#text.length) {
      this.#fail("bad-syntax", "content after the root element");
    }
    return this.#result();
  }

  #result(): PresenceDocument {
    // The root's start tag has checked that it has an entity.
    const presence = {
      entity: this.#entity!,
      open: this.#open ?? false,
      note: this.#presenceNote ?? this.#tupleNote ?? "",
    };
    return this.#tupleId === undefined
      ? presence
      : { ...presence, tupleId: this.#tupleId };
  }

  #fail(reason: MalformedPidfReason, detail: string, at?: number): never {
    throw new MalformedPidfError(reason, detail, at ?? this.#position);
  }

  #code(offset = 0): number {
    return this.#text.charCodeAt(this.#position + offset);
  }

  #startsWith(prefix: string): boolean {
    return this.#text.startsWith(prefix, this.#position);
  }

  /** Skips whitespace; returns whether there was any. */
  #skipWhitespace(): boolean {
    const start = this.#position;
    while (isWhitespace(this.#code())) this.#position++;
    return this.#position > start;
  }

  #expect(code: number, what: string): void {
    if (this.#position >= this.#text.length) {
      this.#fail("unclosed", `input ends where ${what} was expected`);
    }
    if (this.#code() !== code) this.#fail("bad-syntax", `expected ${what}`);
    this.#position++;
  }

  /** The optional `<?xml version="1.0" encoding="UTF-8" standalone="…"?>`. */
  #readDeclaration(): void {
    if (!this.#startsWith("<?xml") || !isWhitespace(this.#code(5))) return;
    this.#position += 5;
    const expected = ["version", "encoding", "standalone"];
    // Fields come in this order, each at most once, version first.
    let next = 0;
    for (;;) {
      const spaced = this.#skipWhitespace();
      if (this.#startsWith("?>")) break;
      if (this.#position >= this.#text.length) {
        this.#fail("unclosed", "input ends inside the XML declaration");
      }
      const at = this.#position;
      if (!spaced) this.#fail("bad-declaration", "expected whitespace");
      const name = this.#readName("a declaration field");
      const index = expected.indexOf(name, next);
      if (index === -1 || (next === 0 && index !== 0)) {
        this.#fail("bad-declaration", `unexpected field "${name}"`, at);
      }
      next = index + 1;
      this.#readEquals();
      const value = this.#readRawQuoted();
      if (!declarationValueAccepted(name, value)) {
        this.#fail("bad-declaration", `${name} "${value}" is refused`, at);
      }
    }
    if (next === 0) this.#fail("bad-declaration", "version is missing");
    this.#position += 2;
  }

  /** A quoted value read as is, for the XML declaration. */
  #readRawQuoted(): string {
    const quote = this.#code();
    if (quote !== QUOTATION_MARK && quote !== APOSTROPHE) {
      this.#fail("bad-syntax", "expected a quoted value");
    }
    const end = this.#text.indexOf(
      String.fromCharCode(quote),
      this.#position + 1,
    );
    if (end === -1) this.#fail("unclosed", "input ends inside a quoted value");
    const value = this.#text.slice(this.#position + 1, end);
    this.#position = end + 1;
    return value;
  }

  #readEquals(): void {
    this.#skipWhitespace();
    this.#expect(EQUALS, '"="');
    this.#skipWhitespace();
  }

  /** Whitespace and comments, before or after the root element. */
  #readMisc(): void {
    for (;;) {
      this.#skipWhitespace();
      if (this.#startsWith("<!--")) this.#skipComment();
      else if (this.#startsWith("<!") || this.#startsWith("<?")) {
        this.#refuseMarkup();
      } else return;
    }
  }

  /** Refuses `<!…` (other than comments) and `<?…`, each for its reason. */
  #refuseMarkup(): never {
    if (this.#startsWith("<![CDATA[")) {
      this.#fail("cdata", "CDATA sections are refused");
    }
    if (this.#startsWith("<?")) {
      this.#fail(
        "processing-instruction",
        "processing instructions are refused",
      );
    }
    this.#fail("dtd", "DOCTYPE, ENTITY and other declarations are refused");
  }

  #skipComment(): void {
    const end = this.#text.indexOf("--", this.#position + 4);
    if (end === -1) this.#fail("unclosed", "input ends inside a comment");
    if (this.#text.charCodeAt(end + 2) !== GREATER_THAN) {
      this.#fail("bad-syntax", '"--" inside a comment', end);
    }
    this.#position = end + 3;
  }

  /** The root element and everything in it, with an explicit stack. */
  #readElement(): void {
    this.#readStartTag();
    while (this.#stack.length > 0) {
      if (this.#position >= this.#text.length) {
        const open = this.#stack[this.#stack.length - 1].name;
        this.#fail("unclosed", `element <${open}> is not closed`);
      }
      if (this.#code() !== LESS_THAN) this.#readText();
      else if (this.#startsWith("</")) this.#readEndTag();
      else if (this.#startsWith("<!--")) this.#skipComment();
      else if (this.#startsWith("<!") || this.#startsWith("<?")) {
        this.#refuseMarkup();
      } else this.#readStartTag();
    }
  }

  #readStartTag(): void {
    const at = this.#position;
    this.#position++;
    const name = this.#readName("an element name");
    if (++this.#elementCount > MAX_PIDF_ELEMENTS) {
      this.#fail("too-many-elements", `over ${MAX_PIDF_ELEMENTS} elements`, at);
    }
    if (this.#stack.length >= MAX_PIDF_DEPTH) {
      this.#fail("too-deep", `elements nest over ${MAX_PIDF_DEPTH} deep`, at);
    }
    const attributes = this.#readAttributes();
    let selfClosing = false;
    if (this.#code() === SLASH) {
      selfClosing = true;
      this.#position++;
    }
    this.#expect(GREATER_THAN, `">" to end <${name}>`);
    this.#openElement(name, attributes, at);
    if (selfClosing) this.#closeElement();
  }

  #readAttributes(): Attribute[] {
    const attributes: Attribute[] = [];
    const names = new Set<string>();
    for (;;) {
      const spaced = this.#skipWhitespace();
      const code = this.#code();
      if (
        code === GREATER_THAN || code === SLASH ||
        this.#position >= this.#text.length
      ) return attributes;
      const at = this.#position;
      if (!spaced) this.#fail("bad-syntax", "expected whitespace");
      const name = this.#readName("an attribute name");
      if (names.has(name)) {
        this.#fail("duplicate-attribute", `attribute ${name} repeats`, at);
      }
      if (attributes.length >= MAX_PIDF_ATTRIBUTES) {
        this.#fail(
          "too-many-attributes",
          `over ${MAX_PIDF_ATTRIBUTES} attributes on one element`,
          at,
        );
      }
      names.add(name);
      this.#readEquals();
      attributes.push({ name, value: this.#readAttributeValue(), offset: at });
    }
  }

  /** A quoted attribute value, references decoded and whitespace normalized. */
  #readAttributeValue(): string {
    const quote = this.#code();
    if (quote !== QUOTATION_MARK && quote !== APOSTROPHE) {
      if (this.#position >= this.#text.length) {
        this.#fail("unclosed", "input ends before an attribute value");
      }
      this.#fail("bad-syntax", "expected a quoted attribute value");
    }
    this.#position++;
    let value = "";
    for (;;) {
      if (this.#position >= this.#text.length) {
        this.#fail("unclosed", "input ends inside an attribute value");
      }
      const code = this.#code();
      this.#position++;
      if (code === quote) return value;
      if (code === LESS_THAN) {
        this.#fail(
          "bad-syntax",
          '"<" inside an attribute value',
          this.#position - 1,
        );
      } else if (code === AMPERSAND) {
        this.#position--;
        value += this.#readReference();
      } else if (code === CARRIAGE_RETURN && this.#code() === LINE_FEED) {
        // A CR LF pair is one line break, so one space.
      } else if (isWhitespace(code)) value += " ";
      else value += String.fromCharCode(code);
    }
  }

  /** Character data up to the next `<`, references decoded, line breaks normalized. */
  #readText(): void {
    let value = "";
    let start = this.#position;
    while (this.#position < this.#text.length) {
      const code = this.#code();
      if (code === LESS_THAN) break;
      if (code === AMPERSAND) {
        value += this.#text.slice(start, this.#position) +
          this.#readReference();
        start = this.#position;
        continue;
      }
      if (code === RIGHT_BRACKET && this.#startsWith("]]>")) {
        this.#fail("bad-syntax", '"]]>" in text');
      }
      if (code === CARRIAGE_RETURN) {
        value += this.#text.slice(start, this.#position) + "\n";
        if (this.#code(1) === LINE_FEED) this.#position++;
        start = this.#position + 1;
      }
      this.#position++;
    }
    value += this.#text.slice(start, this.#position);
    const frame = this.#stack[this.#stack.length - 1];
    if (holdsText(frame.role)) frame.text += value;
  }

  /** `&name;`, `&#digits;` or `&#xhex;`, at the `&`; returns its text. */
  #readReference(): string {
    const at = this.#position;
    this.#position++;
    if (this.#code() !== NUMBER_SIGN) {
      const name = this.#readName("an entity name");
      const replacement = PREDEFINED_ENTITIES.get(name);
      if (replacement === undefined) {
        this.#fail("bad-reference", `entity &${name}; is not predefined`, at);
      }
      if (this.#code() !== SEMICOLON) {
        this.#fail("bad-reference", '";" must end an entity reference', at);
      }
      this.#position++;
      return replacement;
    }
    this.#position++;
    const hex = this.#code() === LATIN_SMALL_X;
    if (hex) this.#position++;
    let value = 0;
    let digits = 0;
    for (; digits <= MAX_REFERENCE_DIGITS; digits++) {
      const digit = digitValue(this.#code(), hex);
      if (digit === -1) break;
      value = value * (hex ? 16 : 10) + digit;
      this.#position++;
    }
    if (digits === 0 || digits > MAX_REFERENCE_DIGITS) {
      this.#fail(
        "bad-reference",
        "a character reference needs 1 to 8 digits",
        at,
      );
    }
    if (this.#code() !== SEMICOLON) {
      this.#fail("bad-reference", '";" must end a character reference', at);
    }
    this.#position++;
    if (!isXmlCharacter(value)) {
      this.#fail("bad-reference", `&#${value}; is not an XML character`, at);
    }
    return String.fromCodePoint(value);
  }

  /** An XML `Name` at the current position. */
  #readName(what: string): string {
    const start = this.#position;
    let first = true;
    while (this.#position < this.#text.length) {
      const code = this.#text.codePointAt(this.#position)!;
      const fits = inRanges(code, NAME_START_RANGES) ||
        (!first && inRanges(code, NAME_EXTRA_RANGES));
      if (!fits) break;
      this.#position += code > 0xffff ? 2 : 1;
      first = false;
    }
    if (first) {
      if (this.#position >= this.#text.length) {
        this.#fail("unclosed", `input ends where ${what} was expected`);
      }
      this.#fail("bad-syntax", `expected ${what}`);
    }
    return this.#text.slice(start, this.#position);
  }

  #readEndTag(): void {
    const at = this.#position;
    this.#position += 2;
    const name = this.#readName("an element name");
    this.#skipWhitespace();
    this.#expect(GREATER_THAN, `">" to end </${name}>`);
    const open = this.#stack[this.#stack.length - 1].name;
    if (name !== open) {
      this.#fail("mismatched-tag", `</${name}> closes <${open}>`, at);
    }
    this.#closeElement();
  }

  /** Binds namespaces, resolves the name, gives the element its role. */
  #openElement(name: string, attributes: Attribute[], at: number): void {
    const bindings = new Map<string, string>();
    const plain: Attribute[] = [];
    for (const attribute of attributes) {
      const prefix = declaredPrefix(attribute.name);
      if (prefix === undefined) plain.push(attribute);
      else {
        this.#checkDeclaration(prefix, attribute);
        bindings.set(prefix, attribute.value);
      }
    }
    const parent = this.#stack.at(-1);
    const [prefix, localName] = this.#splitName(name, at);
    const namespace = this.#lookup(prefix, bindings, at);
    const role = this.#roleOf(parent, namespace, localName, at);
    const unprefixed = this.#checkAttributes(plain, bindings);
    const inFirstTuple = (role === "tuple" && this.#tupleCount === 1) ||
      (parent?.inFirstTuple ?? false);
    if (role === "presence") {
      const entity = unprefixed.get("entity");
      if (entity === undefined) {
        this.#fail("missing-entity", "<presence> has no entity", at);
      }
      this.#entity = entity;
    } else if (role === "tuple" && inFirstTuple) {
      this.#tupleId = unprefixed.get("id");
    }
    this.#stack.push({ name, role, inFirstTuple, bindings, text: "" });
  }

  #checkDeclaration(prefix: string, attribute: Attribute): void {
    const { value, offset } = attribute;
    if (prefix === "") {
      if (value === XML_NAMESPACE || value === XMLNS_NAMESPACE) {
        this.#fail("bad-namespace", `"${value}" cannot be the default`, offset);
      }
      return;
    }
    this.#splitName(prefix, offset);
    if (
      prefix === "xmlns" || value === "" || value === XMLNS_NAMESPACE ||
      (prefix === "xml") !== (value === XML_NAMESPACE)
    ) {
      this.#fail(
        "bad-namespace",
        `xmlns:${prefix}="${value}" is not allowed`,
        offset,
      );
    }
  }

  /**
   * Checks that no two attributes have the same expanded name, and returns
   * the unprefixed ones by local name.
   */
  #checkAttributes(
    attributes: Attribute[],
    bindings: ReadonlyMap<string, string>,
  ): Map<string, string> {
    const unprefixed = new Map<string, string>();
    const expanded = new Set<string>();
    for (const { name, value, offset } of attributes) {
      const [prefix, localName] = this.#splitName(name, offset);
      if (prefix === "") {
        unprefixed.set(localName, value);
        continue;
      }
      const key = `${this.#lookup(prefix, bindings, offset)} ${localName}`;
      if (expanded.has(key)) {
        this.#fail("duplicate-attribute", `attribute ${name} repeats`, offset);
      }
      expanded.add(key);
    }
    return unprefixed;
  }

  /** Splits a qualified name into prefix (`""` for none) and local name. */
  #splitName(name: string, at: number): [string, string] {
    const colon = name.indexOf(":");
    if (colon === -1) return ["", name];
    if (
      colon === 0 || colon === name.length - 1 ||
      name.indexOf(":", colon + 1) !== -1
    ) {
      this.#fail("bad-namespace", `"${name}" is not a qualified name`, at);
    }
    return [name.slice(0, colon), name.slice(colon + 1)];
  }

  /** The namespace of `prefix` (`""`: the default) where the element opens. */
  #lookup(
    prefix: string,
    bindings: ReadonlyMap<string, string>,
    at: number,
  ): string {
    if (prefix === "xml") return XML_NAMESPACE;
    let found = bindings.get(prefix);
    for (let depth = this.#stack.length - 1; depth >= 0; depth--) {
      if (found !== undefined) break;
      found = this.#stack[depth].bindings.get(prefix);
    }
    if (found === undefined && prefix !== "") {
      this.#fail("bad-namespace", `prefix "${prefix}" is not bound`, at);
    }
    return found ?? "";
  }

  #roleOf(
    parent: Frame | undefined,
    namespace: string,
    localName: string,
    at: number,
  ): Role {
    const pidf = namespace === PIDF_NAMESPACE;
    if (parent === undefined) {
      if (!pidf || localName !== "presence") {
        this.#fail("not-pidf", "the root is not PIDF <presence>", at);
      }
      return "presence";
    }
    if (holdsText(parent.role)) {
      this.#fail("unexpected-element", `<${parent.name}> holds text only`, at);
    }
    if (!pidf) return "other";
    if (parent.role === "presence") {
      if (localName === "tuple") {
        this.#tupleCount++;
        return "tuple";
      }
      if (localName === "note") return "presence-note";
    }
    if (parent.role === "tuple") {
      if (localName === "status") return "status";
      if (localName === "note") return "tuple-note";
    }
    if (parent.role === "status" && localName === "basic") return "basic";
    return "other";
  }

  /** Checks and takes what the top element holds, then pops it. */
  #closeElement(): void {
    const frame = this.#stack.pop()!;
    if (frame.role === "presence-note" || frame.role === "tuple-note") {
      if (frame.text.length > MAX_PIDF_NOTE_LENGTH) {
        this.#fail(
          "note-too-long",
          `note has ${frame.text.length} characters, over ${MAX_PIDF_NOTE_LENGTH}`,
        );
      }
      if (frame.role === "presence-note") this.#presenceNote ??= frame.text;
      else if (frame.inFirstTuple) this.#tupleNote ??= frame.text;
    } else if (frame.role === "basic") {
      const status = trimXmlWhitespace(frame.text);
      if (status !== "open" && status !== "closed") {
        this.#fail("bad-status", `basic status "${status.slice(0, 32)}"`);
      }
      if (frame.inFirstTuple) this.#open ??= status === "open";
    }
  }
}

/** The prefix an `xmlns` attribute declares (`""`: the default), or undefined. */
function declaredPrefix(name: string): string | undefined {
  if (name === "xmlns") return "";
  return name.startsWith("xmlns:") ? name.slice(6) : undefined;
}

function declarationValueAccepted(name: string, value: string): boolean {
  if (name === "version") return value === "1.0";
  if (name === "encoding") return value.toUpperCase() === "UTF-8";
  return value === "yes" || value === "no";
}

function digitValue(code: number, hex: boolean): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (!hex) return -1;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

function trimXmlWhitespace(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isWhitespace(value.charCodeAt(start))) start++;
  while (end > start && isWhitespace(value.charCodeAt(end - 1))) end--;
  return value.slice(start, end);
}
