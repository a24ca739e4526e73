import assert from "node:assert/strict";
import {
  buildPidf,
  MalformedPidfError,
  type MalformedPidfReason,
  MAX_PIDF_BYTES,
  MAX_PIDF_DEPTH,
  MAX_PIDF_ELEMENTS,
  MAX_PIDF_NOTE_LENGTH,
  MAX_PIDF_TUPLE_ID_LENGTH,
  parsePidf,
  PIDF_CONTENT_TYPE,
  PIDF_NAMESPACE,
  type PresenceDocument,
} from "../lib/channel/pidf.ts";
import { randomInt, type Rng, seededRng } from "../lib/rng.ts";
import { thrown } from "./_thrown.ts";

const ENTITY = "jami:bf5f1e21d3eb2c1246946aa49d5dcf3e5b9cb1b9";
const DEVICE = "9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a";
const NS = `xmlns="${PIDF_NAMESPACE}"`;

/** Asserts `parsePidf(text)` refuses with a MalformedPidfError for `reason`. */
function assertRefused(text: string, reason: MalformedPidfReason): void {
  const error = thrown(() => parsePidf(text), MalformedPidfError);
  assert.equal(error.reason, reason, error.message);
}

/** A minimal document around `inner`, the children of `<presence>`. */
function wrap(inner: string, rootAttributes = ""): string {
  return `<presence ${NS} entity="${ENTITY}"${rootAttributes}>${inner}</presence>`;
}

function timed(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

Deno.test("PIDF constants have their documented values", () => {
  assert.equal(PIDF_CONTENT_TYPE, "application/pidf+xml");
  assert.equal(PIDF_NAMESPACE, "urn:ietf:params:xml:ns:pidf");
  assert.equal(MAX_PIDF_BYTES, 4096);
  assert.equal(MAX_PIDF_DEPTH, 8);
  assert.equal(MAX_PIDF_NOTE_LENGTH, 256);
});

Deno.test("buildPidf() writes the documented layout", () => {
  assert.equal(
    buildPidf({ entity: ENTITY, open: true, note: "Busy", tupleId: DEVICE }),
    '<?xml version="1.0" encoding="UTF-8"?>' +
      `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${ENTITY}">` +
      `<tuple id="${DEVICE}"><status><basic>open</basic></status></tuple>` +
      "<note>Busy</note></presence>",
  );
  assert.equal(
    buildPidf({ entity: ENTITY, open: false, note: "" }),
    '<?xml version="1.0" encoding="UTF-8"?>' +
      `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${ENTITY}">` +
      "<tuple><status><basic>closed</basic></status></tuple></presence>",
  );
});

Deno.test("buildPidf() escapes all five markup characters", () => {
  const xml = buildPidf({
    entity: ENTITY,
    open: true,
    note: `a&b<c>d"e'f`,
    tupleId: `x"y'z<&>`,
  });
  assert.ok(xml.includes("<note>a&amp;b&lt;c&gt;d&quot;e&apos;f</note>"));
  assert.ok(xml.includes('<tuple id="x&quot;y&apos;z&lt;&amp;&gt;">'));
});

const ROUND_TRIPS: readonly PresenceDocument[] = [
  { entity: ENTITY, open: true, note: "" },
  { entity: ENTITY, open: false, note: "" },
  { entity: ENTITY, open: true, note: "Online", tupleId: DEVICE },
  { entity: ENTITY, open: false, note: `&<>"'`, tupleId: `&<>"'` },
  { entity: ENTITY, open: true, note: "&amp; &lt; &#60; &#x3C; ]]> <!-- -->" },
  { entity: ENTITY, open: true, note: "café 日本語 👋🏽 e\u0301 \u200d ﷺ" },
  { entity: ENTITY, open: true, note: "line 1\nline 2\r\nline 3\rend\t." },
  { entity: ENTITY, open: true, note: "  spaces kept  " },
  { entity: ENTITY, open: true, note: "x", tupleId: "tab\there\nnl\rcr  " },
  { entity: ENTITY, open: true, note: "\u{10FFFF}\uE000\uFFFD" },
  { entity: ENTITY, open: true, note: "n".repeat(MAX_PIDF_NOTE_LENGTH) },
];

for (const doc of ROUND_TRIPS) {
  Deno.test(`parsePidf() reads back buildPidf(${JSON.stringify(doc).slice(0, 60)}…)`, () => {
    assert.deepEqual(parsePidf(buildPidf(doc)), doc);
  });
}

Deno.test("buildPidf() output stays within MAX_PIDF_BYTES at worst", () => {
  // The most expensive note and tuple id: every character escaped as
  // "&quot;", six bytes per UTF-16 unit.
  const doc = {
    entity: ENTITY,
    open: true,
    note: '"'.repeat(MAX_PIDF_NOTE_LENGTH),
    tupleId: '"'.repeat(MAX_PIDF_TUPLE_ID_LENGTH),
  };
  const xml = buildPidf(doc);
  assert.ok(new TextEncoder().encode(xml).length <= MAX_PIDF_BYTES);
  assert.deepEqual(parsePidf(xml), doc);
});

Deno.test("buildPidf() throws RangeError for a bad entity, note or tuple id", () => {
  const bad: readonly PresenceDocument[] = [
    { entity: ENTITY.toUpperCase(), open: true, note: "" },
    { entity: "jami:" + "A".repeat(40), open: true, note: "" },
    { entity: "ring:" + "a".repeat(40), open: true, note: "" },
    { entity: "jami:" + "a".repeat(39), open: true, note: "" },
    { entity: "jami:" + "a".repeat(41), open: true, note: "" },
    { entity: "jami:" + "a".repeat(40) + "\n", open: true, note: "" },
    { entity: "", open: true, note: "" },
    { entity: ENTITY, open: true, note: "n".repeat(MAX_PIDF_NOTE_LENGTH + 1) },
    { entity: ENTITY, open: true, note: "nul\u0000" },
    { entity: ENTITY, open: true, note: "bell\u0007" },
    { entity: ENTITY, open: true, note: "lone \ud800 surrogate" },
    { entity: ENTITY, open: true, note: "\uFFFE" },
    { entity: ENTITY, open: true, note: "", tupleId: "" },
    {
      entity: ENTITY,
      open: true,
      note: "",
      tupleId: "t".repeat(MAX_PIDF_TUPLE_ID_LENGTH + 1),
    },
    { entity: ENTITY, open: true, note: "", tupleId: "\udc00" },
  ];
  for (const doc of bad) {
    const error = thrown(() => buildPidf(doc), RangeError);
    assert.match(error.message, /^Cannot build PIDF: /);
  }
});

Deno.test("buildPidf() throws TypeError for fields of the wrong type", () => {
  const open = "yes" as unknown as boolean;
  thrown(() => buildPidf({ entity: ENTITY, open, note: "" }), TypeError);
  const note = undefined as unknown as string;
  thrown(() => buildPidf({ entity: ENTITY, open: true, note }), TypeError);
});

Deno.test("parsePidf() reads the RFC 3863 section 6.3 example", () => {
  // https://www.rfc-editor.org/rfc/rfc3863#section-6.3
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf"
    xmlns:im="urn:ietf:params:xml:ns:pidf:im"
    xmlns:myex="http://id.example.com/presence/"
    entity="pres:someone@example.com">
  <tuple id="bs35r9">
    <status>
      <basic>open</basic>
      <im:im>busy</im:im>
      <myex:location>home</myex:location>
    </status>
    <contact priority="0.8">im:someone@mobilecarrier.net</contact>
    <note xml:lang="en">Don't Disturb Please!</note>
    <note xml:lang="fr">Ne derangez pas, s'il vous plait</note>
    <timestamp>2001-10-27T16:49:29Z</timestamp>
  </tuple>
  <tuple id="eg92n8">
    <status>
      <basic>closed</basic>
    </status>
    <contact priority="1.0">mailto:someone@example.com</contact>
  </tuple>
  <note>I'll be in Tokyo next week</note>
</presence>
`;
  assert.deepEqual(parsePidf(xml), {
    entity: "pres:someone@example.com",
    open: true,
    note: "I'll be in Tokyo next week",
    tupleId: "bs35r9",
  });
});

Deno.test("parsePidf() reads a pjsip-style document with RPID extensions", () => {
  // The shape pjsip (Jami's SIP stack) writes: data-model person and RPID
  // activities beside the tuple; their note is not the PIDF note.
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<presence entity="${ENTITY}" xmlns="urn:ietf:params:xml:ns:pidf"
  xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
  xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid">
 <tuple id="${DEVICE}">
  <status>
   <basic>open</basic>
  </status>
  <timestamp>2024-01-01T00:00:00Z</timestamp>
  <note>Available</note>
 </tuple>
 <dm:person id="p1">
  <rpid:activities>
   <rpid:away/>
  </rpid:activities>
  <dm:note>Away</dm:note>
 </dm:person>
</presence>`;
  assert.deepEqual(parsePidf(xml), {
    entity: ENTITY,
    open: true,
    note: "Available",
    tupleId: DEVICE,
  });
});

const VARIANTS: readonly (readonly [string, string, PresenceDocument])[] = [
  [
    "no XML declaration, single quotes, self-closing tuple parts",
    `<presence xmlns='${PIDF_NAMESPACE}' entity='${ENTITY}'><tuple id='t'><status><basic>closed</basic></status></tuple></presence>`,
    { entity: ENTITY, open: false, note: "", tupleId: "t" },
  ],
  [
    "a prefixed namespace",
    `<p:presence xmlns:p="${PIDF_NAMESPACE}" entity="${ENTITY}"><p:tuple id="t"><p:status><p:basic>open</p:basic></p:status><p:note>hi</p:note></p:tuple></p:presence>`,
    { entity: ENTITY, open: true, note: "hi", tupleId: "t" },
  ],
  [
    "whitespace everywhere it may go",
    `\n\t<?xml version = '1.0'  encoding = "utf-8" standalone="yes" ?>`.trim() +
    `\r\n<presence\n ${NS}\r\n entity = "${ENTITY}" \t>\n <tuple\n>\n  <status >` +
    `<basic>\n  open \r\n</basic ></status\n></tuple >\n</presence\n>\n\n`,
    { entity: ENTITY, open: true, note: "" },
  ],
  [
    "comments before, inside and after the root",
    `<?xml version="1.0"?><!-- a --><!----><presence ${NS} entity="${ENTITY}"><!-- <tuple> -->` +
    `<tuple><status><basic>op<!-- x -->en</basic></status></tuple><note>a<!-- - -->b</note></presence><!-- z -->`,
    { entity: ENTITY, open: true, note: "ab" },
  ],
  [
    "a byte order mark",
    `\uFEFF<?xml version="1.0" encoding="UTF-8"?>${wrap("")}`,
    { entity: ENTITY, open: false, note: "" },
  ],
  [
    "no tuple: closed",
    wrap("<note>gone</note>"),
    { entity: ENTITY, open: false, note: "gone" },
  ],
  [
    "a self-closing root",
    `<presence ${NS} entity="x"/>`,
    { entity: "x", open: false, note: "" },
  ],
  [
    "any entity string, even empty",
    `<presence ${NS} entity=""/>`,
    { entity: "", open: false, note: "" },
  ],
  [
    "a status without basic",
    wrap("<tuple id='t'><status/></tuple>"),
    { entity: ENTITY, open: false, note: "", tupleId: "t" },
  ],
  [
    "only the first tuple counts",
    wrap(
      "<tuple id='a'><status><basic>closed</basic></status><note>A</note></tuple>" +
        "<tuple id='b'><status><basic>open</basic></status><note>B</note></tuple>",
    ),
    { entity: ENTITY, open: false, note: "A", tupleId: "a" },
  ],
  [
    "the presence note wins over the tuple note",
    wrap(
      "<note>P</note><tuple><status><basic>open</basic></status><note>T</note></tuple><note>Q</note>",
    ),
    { entity: ENTITY, open: true, note: "P" },
  ],
  [
    "unknown elements and attributes, even PIDF-named ones, skipped",
    wrap(
      `<x:ext xmlns:x="urn:x" x:a="1" b="2"><tuple id="no"><status><basic>open</basic></status></tuple>` +
        `<x:note>no</x:note></x:ext><tuple id="yes" x:y="1" xmlns:x="urn:y"><status>` +
        `<basic>closed</basic><x:basic>open</x:basic></status><foo><note>no</note></foo></tuple>`,
      ` other="1" xml:lang="en"`,
    ),
    { entity: ENTITY, open: false, note: "", tupleId: "yes" },
  ],
  [
    "references in text and attributes",
    wrap(
      `<tuple id="&#x41;&#66;&amp;&quot;&#x1F600;"><status><basic>&#x6F;pen</basic></status></tuple>` +
        `<note>&lt;&gt;&amp;&quot;&apos;&#9;&#10;&#13;&#x10FFFF;&#0065;</note>`,
    ),
    {
      entity: ENTITY,
      open: true,
      note: "<>&\"'\t\n\r\u{10FFFF}A",
      tupleId: 'AB&"😀',
    },
  ],
  [
    "attribute value whitespace normalized",
    wrap(`<tuple id="a\tb\nc\r\nd"/>`),
    { entity: ENTITY, open: false, note: "", tupleId: "a b c d" },
  ],
  [
    "a default namespace redeclared inside",
    `<p:presence xmlns:p="${PIDF_NAMESPACE}" xmlns="urn:other" entity="e">` +
    `<tuple><status><basic>bad</basic></status></tuple>` +
    `<p:tuple ${NS}><status><basic>open</basic></status></p:tuple></p:presence>`,
    { entity: "e", open: true, note: "" },
  ],
  [
    "a prefix rebound in a child",
    `<p:presence xmlns:p="${PIDF_NAMESPACE}" entity="e"><p:tuple xmlns:p="urn:other">` +
    `<p:status><p:basic>nonsense</p:basic></p:status></p:tuple></p:presence>`,
    { entity: "e", open: false, note: "" },
  ],
  [
    "names with non-ASCII characters",
    wrap(`<x:été xmlns:x="urn:x" x:ñ="1"><日本 a·b="2"/></x:été>`),
    { entity: ENTITY, open: false, note: "" },
  ],
  [
    "exactly MAX_PIDF_DEPTH levels",
    wrap("<a>".repeat(MAX_PIDF_DEPTH - 1) + "</a>".repeat(MAX_PIDF_DEPTH - 1)),
    { entity: ENTITY, open: false, note: "" },
  ],
  [
    "exactly MAX_PIDF_ELEMENTS elements",
    wrap("<a/>".repeat(MAX_PIDF_ELEMENTS - 1)),
    { entity: ENTITY, open: false, note: "" },
  ],
];

for (const [name, xml, expected] of VARIANTS) {
  Deno.test(`parsePidf() accepts ${name}`, () => {
    assert.deepEqual(parsePidf(xml), expected);
  });
}

Deno.test("parsePidf() accepts exactly MAX_PIDF_BYTES UTF-8 bytes", () => {
  const base = wrap("<note>é</note>");
  const bytes = new TextEncoder().encode(base).length;
  const xml = base + " ".repeat(MAX_PIDF_BYTES - bytes);
  assert.equal(new TextEncoder().encode(xml).length, MAX_PIDF_BYTES);
  assert.equal(parsePidf(xml).note, "é");
  assertRefused(xml + " ", "too-large");
});

Deno.test("parsePidf() measures size in UTF-8 bytes, not characters", () => {
  // 1500 "€" are 1500 UTF-16 units but 4500 UTF-8 bytes.
  const xml = wrap(`<x>${"€".repeat(1500)}</x>`);
  assert.ok(xml.length < MAX_PIDF_BYTES);
  assertRefused(xml, "too-large");
  // Emoji: 2 units, 4 bytes each.
  assertRefused(wrap(`<x>${"😀".repeat(1100)}</x>`), "too-large");
});

Deno.test("parsePidf() refuses 1 MB of input at once", () => {
  const megabyte = wrap(`<note>${"a".repeat(1 << 20)}</note>`);
  const elapsedMs = timed(() => assertRefused(megabyte, "too-large"));
  assert.ok(elapsedMs < 100, `took ${elapsedMs} ms`);
  assertRefused("<".repeat(1 << 20), "too-large");
});

Deno.test("parsePidf() refuses 10,000 levels of nesting at once", () => {
  const deep = wrap("<a>".repeat(10_000) + "</a>".repeat(10_000));
  const elapsedMs = timed(() => assertRefused(deep, "too-large"));
  assert.ok(elapsedMs < 100, `took ${elapsedMs} ms`);
  // As deep as fits in the byte limit, unclosed: refused for depth.
  const levels = Math.floor((MAX_PIDF_BYTES - wrap("").length) / 3);
  assertRefused(wrap("<a>".repeat(levels)), "too-deep");
  assertRefused("<a>".repeat(levels), "not-pidf");
});

Deno.test("parsePidf() refuses a billion-laughs document before any expansion", () => {
  const entities = ['<!ENTITY lol "lol">'];
  for (let level = 1; level <= 9; level++) {
    const previous = level === 1 ? "lol" : `lol${level - 1}`;
    entities.push(`<!ENTITY lol${level} "${`&${previous};`.repeat(10)}">`);
  }
  const xml = `<?xml version="1.0"?>\n<!DOCTYPE presence [\n${
    entities.join("\n")
  }\n]>\n${wrap("<note>&lol9;</note>")}`;
  assert.ok(xml.length < MAX_PIDF_BYTES);
  const elapsedMs = timed(() => assertRefused(xml, "dtd"));
  assert.ok(elapsedMs < 100, `took ${elapsedMs} ms`);
  // Without the DTD, the reference names an entity that does not exist.
  assertRefused(wrap("<note>&lol9;</note>"), "bad-reference");
});

const REFUSALS: readonly (readonly [string, string, MalformedPidfReason])[] = [
  [
    "nesting deeper than MAX_PIDF_DEPTH",
    wrap("<a>".repeat(MAX_PIDF_DEPTH) + "</a>".repeat(MAX_PIDF_DEPTH)),
    "too-deep",
  ],
  [
    "more than MAX_PIDF_ELEMENTS elements",
    wrap("<a/>".repeat(MAX_PIDF_ELEMENTS)),
    "too-many-elements",
  ],
  [
    "more than MAX_PIDF_ATTRIBUTES attributes",
    wrap(`<a ${Array.from({ length: 17 }, (_, i) => `a${i}="1"`).join(" ")}/>`),
    "too-many-attributes",
  ],
  ["a DOCTYPE", `<!DOCTYPE presence>${wrap("")}`, "dtd"],
  [
    "a DOCTYPE after the declaration",
    `<?xml version="1.0"?><!DOCTYPE presence SYSTEM "http://x/">${wrap("")}`,
    "dtd",
  ],
  ["an ENTITY declaration", `<!ENTITY x "y">${wrap("")}`, "dtd"],
  ["a declaration inside the root", wrap(`<!ENTITY x "y">`), "dtd"],
  ["a DOCTYPE after the root", `${wrap("")}<!DOCTYPE presence>`, "dtd"],
  [
    "an external entity",
    `<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>${
      wrap("<note>&x;</note>")
    }`,
    "dtd",
  ],
  ["a CDATA section", wrap("<note><![CDATA[hi]]></note>"), "cdata"],
  ["a CDATA section at top level", `<![CDATA[x]]>${wrap("")}`, "cdata"],
  [
    "a processing instruction",
    wrap("<?php echo 1; ?>"),
    "processing-instruction",
  ],
  [
    "a stylesheet instruction",
    `<?xml-stylesheet href="a"?>${wrap("")}`,
    "processing-instruction",
  ],
  [
    "an XML declaration not at the start",
    ` <?xml version="1.0"?>${wrap("")}`,
    "processing-instruction",
  ],
  [
    "a second XML declaration",
    `<?xml version="1.0"?><?xml version="1.0"?>${wrap("")}`,
    "processing-instruction",
  ],
  ["XML version 1.1", `<?xml version="1.1"?>${wrap("")}`, "bad-declaration"],
  [
    "another encoding",
    `<?xml version="1.0" encoding="ISO-8859-1"?>${wrap("")}`,
    "bad-declaration",
  ],
  [
    "a declaration without version",
    `<?xml encoding="UTF-8"?>${wrap("")}`,
    "bad-declaration",
  ],
  [
    "declaration fields out of order",
    `<?xml version="1.0" standalone="yes" encoding="UTF-8"?>${wrap("")}`,
    "bad-declaration",
  ],
  [
    "a repeated declaration field",
    `<?xml version="1.0" version="1.0"?>${wrap("")}`,
    "bad-declaration",
  ],
  [
    "an unknown declaration field",
    `<?xml version="1.0" foo="1"?>${wrap("")}`,
    "bad-declaration",
  ],
  [
    "a bad standalone value",
    `<?xml version="1.0" standalone="maybe"?>${wrap("")}`,
    "bad-declaration",
  ],
  ["an unclosed declaration", `<?xml version="1.0"`, "unclosed"],
  ["an unknown entity", wrap("<note>&nbsp;</note>"), "bad-reference"],
  ["an entity without semicolon", wrap("<note>&amp</note>"), "bad-reference"],
  ["a bare ampersand", wrap("<note>a & b</note>"), "bad-syntax"],
  ["a reference to NUL", wrap("<note>&#0;</note>"), "bad-reference"],
  [
    "a reference to a control character",
    wrap("<note>&#x1B;</note>"),
    "bad-reference",
  ],
  [
    "a reference to a surrogate",
    wrap("<note>&#xD800;</note>"),
    "bad-reference",
  ],
  ["a reference to U+FFFE", wrap("<note>&#xFFFE;</note>"), "bad-reference"],
  [
    "a reference beyond U+10FFFF",
    wrap("<note>&#x110000;</note>"),
    "bad-reference",
  ],
  [
    "a reference with too many digits",
    wrap(`<note>&#${"0".repeat(50)}65;</note>`),
    "bad-reference",
  ],
  ["a reference without digits", wrap("<note>&#;</note>"), "bad-reference"],
  [
    "a hex reference with capital X",
    wrap("<note>&#X41;</note>"),
    "bad-reference",
  ],
  [
    "a decimal reference with hex digits",
    wrap("<note>&#4A;</note>"),
    "bad-reference",
  ],
  [
    "a reference in an attribute",
    wrap(`<tuple id="&bogus;"/>`),
    "bad-reference",
  ],
  ["a raw NUL", wrap("<note>\u0000</note>"), "bad-character"],
  ["a raw control character", wrap("<note>\u0001</note>"), "bad-character"],
  ["a lone high surrogate", wrap("<note>\ud83d</note>"), "bad-character"],
  ["a lone low surrogate", wrap("<note>\ude00</note>"), "bad-character"],
  ["a raw U+FFFF", wrap("<note>\uffff</note>"), "bad-character"],
  [
    "an unclosed root",
    `<presence ${NS} entity="e"><tuple></tuple>`,
    "unclosed",
  ],
  ["an unclosed start tag", `<presence ${NS} entity="e"`, "unclosed"],
  ["an unclosed attribute value", `<presence ${NS} entity="e`, "unclosed"],
  ["an unclosed end tag", `<presence ${NS} entity="e"></presence`, "unclosed"],
  ["an unclosed comment", wrap("<!-- never"), "unclosed"],
  ["a mismatched end tag", wrap("<tuple></status>"), "mismatched-tag"],
  ["crossed tags", wrap("<a><b></a></b>"), "mismatched-tag"],
  [
    "an end tag with another prefix",
    `<p:presence xmlns:p="${PIDF_NAMESPACE}" entity="e"></presence>`,
    "mismatched-tag",
  ],
  ["a stray end tag after the root", `${wrap("")}</presence>`, "bad-syntax"],
  ["two roots", wrap("") + wrap(""), "bad-syntax"],
  ["text before the root", `hello${wrap("")}`, "bad-syntax"],
  ["text after the root", `${wrap("")}bye`, "bad-syntax"],
  ["an empty document", "", "not-pidf"],
  ["only whitespace and comments", " <!-- x --> \n", "not-pidf"],
  [
    "a duplicated attribute",
    wrap(`<tuple id="a" id="b"/>`),
    "duplicate-attribute",
  ],
  [
    "a duplicated entity",
    `<presence ${NS} entity="a" entity="b"/>`,
    "duplicate-attribute",
  ],
  [
    "a duplicated namespace declaration",
    `<presence ${NS} ${NS} entity="a"/>`,
    "duplicate-attribute",
  ],
  [
    "two prefixes for one attribute",
    wrap(`<a xmlns:x="urn:x" xmlns:y="urn:x" x:a="1" y:a="2"/>`),
    "duplicate-attribute",
  ],
  ["an attribute without value", wrap("<tuple id/>"), "bad-syntax"],
  ["an attribute without quotes", wrap("<tuple id=a/>"), "bad-syntax"],
  [
    "attributes without whitespace between",
    wrap(`<tuple id="a"x="b"/>`),
    "bad-syntax",
  ],
  ["a less-than sign in an attribute", wrap(`<tuple id="<"/>`), "bad-syntax"],
  ["a space after the opening angle bracket", wrap("< tuple/>"), "bad-syntax"],
  ["a name starting with a digit", wrap("<1a/>"), "bad-syntax"],
  ["]]> in text", wrap("<note>]]></note>"), "bad-syntax"],
  ["-- inside a comment", wrap("<!-- a -- b -->"), "bad-syntax"],
  ["a comment ending in --->", wrap("<!-- a --->"), "bad-syntax"],
  ["an unbound element prefix", wrap("<x:a/>"), "bad-namespace"],
  ["an unbound attribute prefix", wrap(`<a x:b="1"/>`), "bad-namespace"],
  ["an unbound root prefix", `<p:presence entity="e"/>`, "bad-namespace"],
  ["a name with two colons", wrap(`<a:b:c xmlns:a="urn:a"/>`), "bad-namespace"],
  ["a name ending with a colon", wrap("<a:/>"), "bad-namespace"],
  ["an undeclared prefix binding", wrap(`<a xmlns:x=""/>`), "bad-namespace"],
  ["a rebound xml prefix", wrap(`<a xmlns:xml="urn:x"/>`), "bad-namespace"],
  [
    "a declared xmlns prefix",
    wrap(`<a xmlns:xmlns="urn:x"/>`),
    "bad-namespace",
  ],
  [
    "the xml namespace bound to another prefix",
    wrap(`<a xmlns:y="http://www.w3.org/XML/1998/namespace"/>`),
    "bad-namespace",
  ],
  ["a root in no namespace", `<presence entity="e"/>`, "not-pidf"],
  [
    "a root in another namespace",
    `<presence xmlns="urn:ietf:params:xml:ns:cpim-pidf" entity="e"/>`,
    "not-pidf",
  ],
  ["a root with another name", `<status ${NS} entity="e"/>`, "not-pidf"],
  [
    "a PIDF namespace with different case",
    `<presence xmlns="URN:IETF:PARAMS:XML:NS:PIDF" entity="e"/>`,
    "not-pidf",
  ],
  ["a root without entity", `<presence ${NS}/>`, "missing-entity"],
  [
    "a root with only a prefixed entity",
    `<p:presence xmlns:p="${PIDF_NAMESPACE}" p:entity="e"/>`,
    "missing-entity",
  ],
  [
    "an unknown basic status",
    wrap("<tuple><status><basic>away</basic></status></tuple>"),
    "bad-status",
  ],
  [
    "an empty basic status",
    wrap("<tuple><status><basic/></status></tuple>"),
    "bad-status",
  ],
  [
    "a basic status in another case",
    wrap("<tuple><status><basic>OPEN</basic></status></tuple>"),
    "bad-status",
  ],
  [
    "a bad status in a later tuple",
    wrap("<tuple/><tuple><status><basic>x</basic></status></tuple>"),
    "bad-status",
  ],
  [
    "a presence note over the limit",
    wrap(`<note>${"n".repeat(MAX_PIDF_NOTE_LENGTH + 1)}</note>`),
    "note-too-long",
  ],
  [
    "a tuple note over the limit",
    wrap(
      `<tuple><note>${"&amp;".repeat(MAX_PIDF_NOTE_LENGTH + 1)}</note></tuple>`,
    ),
    "note-too-long",
  ],
  [
    "a second presence note over the limit",
    wrap(`<note/><note>${"n".repeat(MAX_PIDF_NOTE_LENGTH + 1)}</note>`),
    "note-too-long",
  ],
  [
    "an element inside a note",
    wrap("<note>a<b>c</b></note>"),
    "unexpected-element",
  ],
  [
    "an element inside basic",
    wrap(
      "<tuple><status><basic><x:open xmlns:x='urn:x'/></basic></status></tuple>",
    ),
    "unexpected-element",
  ],
];

for (const [name, xml, reason] of REFUSALS) {
  Deno.test(`parsePidf() refuses ${name} (${reason})`, () => {
    assertRefused(xml, reason);
  });
}

Deno.test("MalformedPidfError is a SyntaxError with reason and offset", () => {
  const error = thrown(() => parsePidf(wrap("<a></b>")), MalformedPidfError);
  assert.ok(error instanceof SyntaxError);
  assert.equal(error.name, "MalformedPidfError");
  assert.equal(error.reason, "mismatched-tag");
  assert.equal(error.offset, wrap("<a></b>").indexOf("</b>"));
  assert.match(
    error.message,
    /^Cannot parse PIDF: <\/b> closes <a> \(at offset \d+\)$/,
  );
});

Deno.test("parsePidf() throws TypeError for a non-string", () => {
  thrown(() => parsePidf(undefined as unknown as string), TypeError);
  thrown(() => parsePidf(new Uint8Array(4) as unknown as string), TypeError);
});

/** Fragments that tend to make or break XML, for the fuzzer to splice in. */
const FUZZ_TOKENS: readonly string[] = [
  "<",
  ">",
  "/",
  "&",
  ";",
  '"',
  "'",
  "=",
  " ",
  "\n",
  "\r",
  "\t",
  ":",
  "-",
  "<!--",
  "-->",
  "<![CDATA[",
  "]]>",
  "<!DOCTYPE x>",
  "<?pi?>",
  "<?xml version='1.0'?>",
  "&amp;",
  "&lt;",
  "&#x41;",
  "&#0;",
  "&#xD800;",
  "&#1114112;",
  "&bogus;",
  "<a>",
  "</a>",
  "<a/>",
  "<tuple>",
  "</tuple>",
  "<note>",
  "</note>",
  "<basic>open</basic>",
  "<status>",
  "</status>",
  "</presence>",
  `xmlns="${PIDF_NAMESPACE}"`,
  'xmlns:p="urn:x"',
  "p:",
  ' entity="x"',
  ' id="y"',
  "\u0000",
  "\ud800",
  "\udc00",
  "😀",
  "é",
  "\uFEFF",
  "\uFFFF",
];

function mutate(rng: Rng, text: string): string {
  const at = randomInt(rng, text.length + 1);
  const length = randomInt(rng, 8);
  switch (randomInt(rng, 6)) {
    case 0: // Delete a run.
      return text.slice(0, at) + text.slice(at + length);
    case 1: // Insert a token.
      return text.slice(0, at) +
        FUZZ_TOKENS[randomInt(rng, FUZZ_TOKENS.length)] +
        text.slice(at);
    case 2: // Replace one UTF-16 unit with any unit at all.
      return text.slice(0, at) + String.fromCharCode(randomInt(rng, 0x10000)) +
        text.slice(at + 1);
    case 3: // Duplicate a run.
      return text.slice(0, at + length) + text.slice(at, at + length) +
        text.slice(at + length);
    case 4: // Replace one unit with ASCII.
      return text.slice(0, at) + String.fromCharCode(randomInt(rng, 0x80)) +
        text.slice(at + 1);
    default: // Cut the end off.
      return text.slice(0, at);
  }
}

Deno.test("parsePidf() returns a presence or throws MalformedPidfError for 5,000 mutated documents", () => {
  // Goal: no input crashes, hangs or leaks another exception. Method: start
  // from valid documents, apply one to four random edits, and check the
  // outcome; the seed reproduces any failure.
  const seed = 20240601;
  const rng = seededRng(seed);
  const seeds: readonly string[] = [
    buildPidf({
      entity: ENTITY,
      open: true,
      note: `a&b<c>"'`,
      tupleId: DEVICE,
    }),
    buildPidf({ entity: ENTITY, open: false, note: "" }),
    ...VARIANTS.filter(([name]) =>
      name === "a prefixed namespace" ||
      name.startsWith("comments") ||
      name.startsWith("unknown elements") ||
      name.startsWith("references")
    ).map(([, xml]) => xml),
  ];
  assert.equal(seeds.length, 6);
  let accepted = 0;
  let refused = 0;
  for (let round = 0; round < 5_000; round++) {
    let text: string = seeds[randomInt(rng, seeds.length)];
    const edits = 1 + randomInt(rng, 4);
    for (let edit = 0; edit < edits; edit++) text = mutate(rng, text);
    try {
      const doc = parsePidf(text);
      assert.equal(typeof doc.entity, "string");
      assert.equal(typeof doc.open, "boolean");
      assert.equal(typeof doc.note, "string");
      assert.ok(doc.note.length <= MAX_PIDF_NOTE_LENGTH);
      assert.ok(doc.tupleId === undefined || typeof doc.tupleId === "string");
      accepted++;
    } catch (error) {
      if (!(error instanceof MalformedPidfError)) {
        assert.fail(
          `seed=${seed} round=${round} input=${JSON.stringify(text)}: ${error}`,
        );
      }
      refused++;
    }
  }
  // Both outcomes occur, so the fuzzer exercises the reader and its refusals.
  assert.ok(accepted > 100, `accepted ${accepted}`);
  assert.ok(refused > 100, `refused ${refused}`);
});
