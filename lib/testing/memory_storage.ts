/**
 * A {@link Storage} in memory, for tests and the simulator.
 *
 * @module
 */

import {
  type Storage,
  validateStorageKey,
  validateStorageValue,
} from "../storage.ts";

/**
 * A {@link Storage} kept in a `Map`; "durable" for the life of the object.
 * Values are copied in and out, as with a real store.
 *
 * @example Values are copies
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStorage } from "./memory_storage.ts";
 *
 * const storage = new MemoryStorage();
 * const value = new Uint8Array([1]);
 * await storage.set("key", value);
 * value[0] = 9;
 * assert.deepEqual(await storage.get("key"), new Uint8Array([1]));
 * ```
 */
export class MemoryStorage implements Storage {
  #values = new Map<string, Uint8Array>();

  /**
   * Reads a copy of a value.
   *
   * @param key A valid storage key.
   * @returns The value, or `undefined` if the key is not set.
   * @throws {TypeError} If the key is invalid.
   *
   * @example A missing key
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryStorage } from "./memory_storage.ts";
   *
   * assert.equal(await new MemoryStorage().get("missing"), undefined);
   * ```
   */
  get(key: string): Promise<Uint8Array | undefined> {
    try {
      validateStorageKey(key);
      return Promise.resolve(this.#values.get(key)?.slice());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Stores a copy of a value.
   *
   * @param key A valid storage key.
   * @param value At most `MAX_STORAGE_VALUE_BYTES` bytes.
   * @throws {TypeError} If the key is invalid or the value is not a `Uint8Array`.
   * @throws {RangeError} If the value is too large; nothing is stored.
   *
   * @example Replace a value
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryStorage } from "./memory_storage.ts";
   *
   * const storage = new MemoryStorage();
   * await storage.set("key", new Uint8Array([1]));
   * await storage.set("key", new Uint8Array([2]));
   * assert.deepEqual(await storage.get("key"), new Uint8Array([2]));
   * ```
   */
  set(key: string, value: Uint8Array): Promise<void> {
    try {
      validateStorageKey(key);
      validateStorageValue(value);
      this.#values.set(key, value.slice());
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Removes a key, if set.
   *
   * @param key A valid storage key.
   * @throws {TypeError} If the key is invalid.
   *
   * @example Delete is idempotent
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryStorage } from "./memory_storage.ts";
   *
   * const storage = new MemoryStorage();
   * await storage.delete("never-set");
   * assert.deepEqual(await storage.keys(), []);
   * ```
   */
  delete(key: string): Promise<void> {
    try {
      validateStorageKey(key);
      this.#values.delete(key);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Lists the keys that are set.
   *
   * @returns The keys, sorted.
   *
   * @example Sorted keys
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryStorage } from "./memory_storage.ts";
   *
   * const storage = new MemoryStorage();
   * await storage.set("b", new Uint8Array());
   * await storage.set("a", new Uint8Array());
   * assert.deepEqual(await storage.keys(), ["a", "b"]);
   * ```
   */
  keys(): Promise<string[]> {
    return Promise.resolve([...this.#values.keys()].sort());
  }
}
