/**
 * Types of `_sip_grammar.js`, sip.js 0.21.2's SIP grammar with its tables
 * built once (written by `tools/vendor_sip_grammar.ts`).
 *
 * @module
 */

/** What sip.js passes: the rule to start from; the actions fill `data`. */
export interface ParseOptions {
  /** A start rule of the grammar, e.g. `"Via"`, `"From"`, `"SIP_URI"`. */
  startRule?: string;
  /** Set by the parse: the parsed header or URI. */
  data?: unknown;
}

/**
 * Parses `input` from `options.startRule`, as sip.js's generated `parse`.
 *
 * @param input The text to parse.
 * @param options The start rule; receives `data`.
 * @returns The rule's result.
 * @throws {Error} A peggy `SyntaxError` when `input` does not match.
 */
export function parse(input: string, options?: ParseOptions): unknown;
