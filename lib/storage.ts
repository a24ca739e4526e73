/**
 * The persistence seam: a small key-value {@link Storage} for identity,
 * contacts and other state that must survive restarts.
 *
 * @module
 */

/**
 * Small key-value store for persistent state. `set` resolves only once the
 * value is durable. Keys must pass {@link validateStorageKey}; values are at
 * most {@link MAX_STORAGE_VALUE_BYTES}. Values are copied in and out, so
 * callers may mutate them freely.
 *
 * @example Store and read back
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Storage } from "./storage.ts";
 * import { MemoryStorage } from "./testing/memory_storage.ts";
 *
 * const storage: Storage = new MemoryStorage();
 * await storage.set("contacts", new Uint8Array([1, 2]));
 * assert.deepEqual(await storage.get("contacts"), new Uint8Array([1, 2]));
 * assert.deepEqual(await storage.keys(), ["contacts"]);
 * await storage.delete("contacts");
 * assert.equal(await storage.get("contacts"), undefined);
 * ```
 */
export interface Storage {
  /**
   * Reads a value.
   *
   * @param key A valid storage key.
   * @returns The value, or `undefined` if the key is not set.
   * @throws {TypeError} If the key is invalid.
   */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * Writes a value, replacing any earlier one; resolves once it is durable.
   *
   * @param key A valid storage key.
   * @param value At most {@link MAX_STORAGE_VALUE_BYTES} bytes.
   * @throws {TypeError} If the key is invalid or the value is not a `Uint8Array`.
   * @throws {RangeError} If the value is too large; nothing is written.
   */
  set(key: string, value: Uint8Array): Promise<void>;
  /**
   * Removes a key; removing a missing key is not an error.
   *
   * @param key A valid storage key.
   * @throws {TypeError} If the key is invalid.
   */
  delete(key: string): Promise<void>;
  /**
   * Lists the keys that are set.
   *
   * @returns The keys, sorted.
   */
  keys(): Promise<string[]>;
  /**
   * Reads the value a key had before its last `set` (the previous
   * generation), for recovery when the current one is damaged. Optional:
   * stores that keep no previous generation leave it out.
   *
   * @param key A valid storage key.
   * @returns The previous value, or `undefined` if none is kept.
   * @throws {TypeError} If the key is invalid.
   */
  getPrevious?(key: string): Promise<Uint8Array | undefined>;
}

/**
 * The largest value a {@link Storage} holds: 16 MiB.
 *
 * @example Check a value before storing it
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_STORAGE_VALUE_BYTES } from "./storage.ts";
 *
 * assert.equal(MAX_STORAGE_VALUE_BYTES, 16_777_216);
 * ```
 */
export const MAX_STORAGE_VALUE_BYTES: number = 16 * 1024 * 1024;

/**
 * One ASCII letter or digit, then up to 127 letters, digits, dots,
 * underscores or hyphens: safe as a file name everywhere, never hidden, never
 * a path.
 */
const STORAGE_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Longest key text quoted back in an error message. */
const MAX_QUOTED_KEY_LENGTH = 80;

/**
 * Tells whether `key` is a valid storage key, without throwing.
 *
 * @param key The candidate key.
 * @returns Whether {@link validateStorageKey} accepts it.
 *
 * @example Filter directory entries
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidStorageKey } from "./storage.ts";
 *
 * assert.deepEqual(["identity", ".tmp", "a/b"].filter(isValidStorageKey), ["identity"]);
 * ```
 */
export function isValidStorageKey(key: string): boolean {
  return typeof key === "string" && STORAGE_KEY_PATTERN.test(key);
}

/**
 * Checks a storage key: 1 to 128 characters from `[A-Za-z0-9._-]`, starting
 * with a letter or digit. This rules out path separators, `.`, `..`, hidden
 * names and the temporary files of `writeFileAtomic`.
 *
 * @param key A key about to be read, written or deleted.
 * @throws {TypeError} If the key is invalid; the message quotes it.
 *
 * @example Hostile keys are rejected
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateStorageKey } from "./storage.ts";
 *
 * validateStorageKey("identity.v1");
 * assert.throws(() => validateStorageKey("../etc/passwd"), TypeError);
 * assert.throws(() => validateStorageKey(""), TypeError);
 * ```
 */
export function validateStorageKey(key: string): void {
  if (isValidStorageKey(key)) return;
  const text = String(key);
  const quoted = JSON.stringify(
    text.length > MAX_QUOTED_KEY_LENGTH
      ? `${text.slice(0, MAX_QUOTED_KEY_LENGTH)}…`
      : text,
  );
  throw new TypeError(
    `Cannot use storage key: ${quoted} is not 1 to 128 characters of [A-Za-z0-9._-] starting with a letter or digit`,
  );
}

/**
 * Checks a value for {@link Storage.set}.
 *
 * @param value A value about to be written.
 * @throws {TypeError} If the value is not a `Uint8Array`.
 * @throws {RangeError} If the value is over {@link MAX_STORAGE_VALUE_BYTES}.
 *
 * @example Oversized values are rejected
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_STORAGE_VALUE_BYTES, validateStorageValue } from "./storage.ts";
 *
 * validateStorageValue(new Uint8Array(10));
 * assert.throws(
 *   () => validateStorageValue(new Uint8Array(MAX_STORAGE_VALUE_BYTES + 1)),
 *   RangeError,
 * );
 * ```
 */
export function validateStorageValue(value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError("Cannot store value: value is not a Uint8Array");
  }
  if (value.byteLength > MAX_STORAGE_VALUE_BYTES) {
    throw new RangeError(
      `Cannot store value: ${value.byteLength} bytes is over the limit of ${MAX_STORAGE_VALUE_BYTES}`,
    );
  }
}
