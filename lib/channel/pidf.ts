/**
 * PIDF (RFC 3863, `application/pidf+xml`), the presence document a device
 * sends its contacts over a direct channel: {@link buildPidf} writes one and
 * {@link parsePidf} reads one that a peer sent.
 *
 * The text comes from peers, so the parser is a small strict XML reader of
 * our own rather than a general XML library: one index walking forward over
 * at most {@link MAX_PIDF_BYTES} of input, no recursion, no regular
 * expressions, no DTD and so no entity expansion (only the five predefined
 * entities and character references are decoded), and hard limits on depth
 * ({@link MAX_PIDF_DEPTH}) and element count ({@link MAX_PIDF_ELEMENTS}).
 * Whatever it refuses, it refuses with a {@link MalformedPidfError}.
 *
 * What it reads: the root `presence` element in the PIDF namespace and its
 * `entity`; the first tuple's `id` and its `status/basic` (no tuple: closed);
 * the first note at presence level, else the first note of the first tuple.
 * Elements of other namespaces or names (RPID, data model, `timestamp`,
 * `contact`, …) are skipped; comments are skipped anywhere.
 *
 * @example Build a document, then read it back
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildPidf, MalformedPidfError, parsePidf } from "./pidf.ts";
 *
 * const entity = "jami:" + "ab".repeat(20);
 * const xml = buildPidf({ entity, open: true, note: "In <meetings> & away" });
 * assert.ok(xml.includes("<note>In &lt;meetings&gt; &amp; away</note>"));
 * assert.deepEqual(parsePidf(xml), {
 *   entity,
 *   open: true,
 *   note: "In <meetings> & away",
 * });
 *
 * // A document type declaration is never read, let alone expanded.
 * assert.throws(
 *   () => parsePidf('<!DOCTYPE p [<!ENTITY a "x">]><presence/>'),
 *   (error) => error instanceof MalformedPidfError && error.reason === "dtd",
 * );
 * ```
 *
 * @module
 */

import {
  checkCarried,
  checkSizeAndCharacters,
  escapeXml,
  JAMI_ENTITY_PATTERN,
  MAX_PIDF_NOTE_LENGTH,
  MAX_PIDF_TUPLE_ID_LENGTH,
  PIDF_NAMESPACE,
  PidfReader,
  type PresenceDocument,
} from "./pidf_reader.ts";

export {
  MalformedPidfError,
  type MalformedPidfReason,
  MAX_PIDF_ATTRIBUTES,
  MAX_PIDF_BYTES,
  MAX_PIDF_DEPTH,
  MAX_PIDF_ELEMENTS,
  MAX_PIDF_NOTE_LENGTH,
  MAX_PIDF_TUPLE_ID_LENGTH,
  PIDF_CONTENT_TYPE,
  PIDF_NAMESPACE,
  type PresenceDocument,
} from "./pidf_reader.ts";

/**
 * Writes a presence document: an XML declaration, then `presence` with one
 * tuple and, when the note is not empty, a presence-level `note`. The result
 * is always within {@link MAX_PIDF_BYTES}, so {@link parsePidf} reads it back.
 *
 * RFC 3863 requires a tuple id; without `tupleId` the tuple is written
 * without one so that the document reads back to the same value.
 *
 * @param doc The presence to write.
 * @returns The XML text.
 * @throws {RangeError} If the entity is not `"jami:"` and 40 lowercase hex
 * digits, if the note is over {@link MAX_PIDF_NOTE_LENGTH} characters, if the
 * tuple id is empty or over {@link MAX_PIDF_TUPLE_ID_LENGTH} characters, or
 * if the note or tuple id holds a character XML 1.0 cannot carry.
 * @throws {TypeError} If `open` is not a boolean, or the note or tuple id not a string.
 *
 * @example An open device with a note
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildPidf } from "./pidf.ts";
 *
 * const entity = "jami:" + "0".repeat(40);
 * const xml = buildPidf({ entity, open: true, note: "", tupleId: "d1" });
 * assert.equal(
 *   xml,
 *   '<?xml version="1.0" encoding="UTF-8"?>' +
 *     `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${entity}">` +
 *     '<tuple id="d1"><status><basic>open</basic></status></tuple></presence>',
 * );
 * ```
 */
export function buildPidf(doc: PresenceDocument): string {
  const { entity, open, note, tupleId } = doc;
  if (typeof entity !== "string" || !JAMI_ENTITY_PATTERN.test(entity)) {
    throw new RangeError(
      `Cannot build PIDF: entity "${
        String(entity).slice(0, 64)
      }" is not "jami:" and 40 lowercase hex digits`,
    );
  }
  if (typeof open !== "boolean") {
    throw new TypeError(
      `Cannot build PIDF: open is ${typeof open}, not boolean`,
    );
  }
  checkCarried("note", note, 0, MAX_PIDF_NOTE_LENGTH);
  if (tupleId !== undefined) {
    checkCarried("tuple id", tupleId, 1, MAX_PIDF_TUPLE_ID_LENGTH);
  }
  const idAttribute = tupleId === undefined
    ? ""
    : ` id="${escapeXml(tupleId, true)}"`;
  const noteElement = note === ""
    ? ""
    : `<note>${escapeXml(note, false)}</note>`;
  return '<?xml version="1.0" encoding="UTF-8"?>' +
    `<presence xmlns="${PIDF_NAMESPACE}" entity="${entity}">` +
    `<tuple${idAttribute}><status><basic>${open ? "open" : "closed"}` +
    `</basic></status></tuple>${noteElement}</presence>`;
}

/**
 * Reads a presence document a peer sent. Accepts what {@link buildPidf}
 * writes and the usual variants: any whitespace, single quotes, prefixed
 * names (`<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf">`), comments,
 * self-closing tags, notes in the tuple, extension elements (skipped).
 *
 * Refuses, each with its {@link MalformedPidfReason}: input over
 * {@link MAX_PIDF_BYTES} UTF-8 bytes, nesting over {@link MAX_PIDF_DEPTH},
 * over {@link MAX_PIDF_ELEMENTS} elements, any DTD or markup declaration,
 * CDATA sections, processing instructions, references other than the five
 * predefined entities and character references to XML characters, text that
 * is not well-formed XML 1.0 with namespaces, a root other than PIDF
 * `presence`, a root without `entity`, a `basic` other than `open` or
 * `closed`, and notes over {@link MAX_PIDF_NOTE_LENGTH} characters. Time and
 * memory are linear in the input.
 *
 * @param text The document, decoded from UTF-8.
 * @returns The presence it describes; `tupleId` only when the first tuple has an id.
 * @throws {MalformedPidfError} If the document breaks any rule above.
 * @throws {TypeError} If `text` is not a string.
 *
 * @example A prefixed document with the note in the tuple
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePidf } from "./pidf.ts";
 *
 * const xml = `<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf" entity="jami:x">
 *   <p:tuple id="d1">
 *     <p:status><p:basic>closed</p:basic></p:status>
 *     <p:note>Back at 5 &#x1F44B;</p:note>
 *   </p:tuple>
 * </p:presence>`;
 * assert.deepEqual(parsePidf(xml), {
 *   entity: "jami:x",
 *   open: false,
 *   note: "Back at 5 👋",
 *   tupleId: "d1",
 * });
 * ```
 */
export function parsePidf(text: string): PresenceDocument {
  if (typeof text !== "string") {
    throw new TypeError(
      `Cannot parse PIDF: input is ${typeof text}, not string`,
    );
  }
  checkSizeAndCharacters(text);
  return new PidfReader(text).read();
}
