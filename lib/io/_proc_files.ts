/**
 * System files the UDP transports read for their kernel figures, read only
 * when read permission for them is already granted (never prompting).
 *
 * @example A file that is not there
 * ```ts
 * import assert from "node:assert/strict";
 * import { readGranted } from "./_proc_files.ts";
 *
 * assert.equal(readGranted("/nonexistent/file"), undefined);
 * ```
 *
 * @module
 */

/** The text of `path`, or `undefined` if it cannot be read without asking. */
export function readGranted(path: string): string | undefined {
  try {
    const { state } = Deno.permissions.querySync({ name: "read", path });
    return state === "granted" ? Deno.readTextFileSync(path) : undefined;
  } catch {
    return undefined;
  }
}

/** A positive integer read from `path`, or `undefined`. */
export function readNumberFile(path: string): number | undefined {
  const value = Number(readGranted(path)?.trim());
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}
