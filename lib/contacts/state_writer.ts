/**
 * Saves of an account's state file: a save joins the write that has not
 * started yet, so a burst of changes costs one write, and writes never
 * overlap. Used by both kinds of account state store.
 *
 * @example Three saves in a burst, one write
 * ```ts
 * import assert from "node:assert/strict";
 * import { StateWriter } from "./state_writer.ts";
 * import { MemoryStorage } from "../testing/memory_storage.ts";
 *
 * const storage = new MemoryStorage();
 * let count = 0;
 * const writer = new StateWriter(storage, "account-x.state", () => new Uint8Array([++count]));
 * await Promise.all([writer.save(), writer.save(), writer.save()]);
 * assert.equal(writer.writes, 1); // the three joined one write
 * await writer.save();
 * assert.deepEqual(await storage.get("account-x.state"), new Uint8Array([2]));
 * ```
 *
 * @module
 */
import { MAX_STORAGE_VALUE_BYTES, type Storage } from "../storage.ts";
import { StateFullError } from "./account_state.ts";

/** Coalescing, ordered writes of one key; see the module documentation. */
export class StateWriter {
  /** The storage key written. */
  readonly key: string;
  /** Writes done. */
  writes = 0;
  readonly #storage: Storage;
  readonly #encode: () => Uint8Array;
  #writing?: Promise<void>;
  #pending?: Promise<void>;

  /**
   * @param storage Where to write.
   * @param key The storage key.
   * @param encode The state's current bytes, called when a write starts.
   */
  constructor(storage: Storage, key: string, encode: () => Uint8Array) {
    this.#storage = storage;
    this.key = key;
    this.#encode = encode;
  }

  /**
   * Writes the state; resolves once a write including every change made
   * before this call is durable.
   *
   * @returns Resolves when written.
   * @throws {StateFullError} If the encoded state is over
   *   {@link MAX_STORAGE_VALUE_BYTES} (nothing is written; the caller
   *   undoes its change).
   */
  save(): Promise<void> {
    if (this.#pending !== undefined) return this.#pending;
    const previous = this.#writing ?? Promise.resolve();
    const next = previous.catch(() => {}).then(async () => {
      // Later changes join this write until it starts.
      this.#pending = undefined;
      this.#writing = next;
      const data = this.#encode();
      if (data.length > MAX_STORAGE_VALUE_BYTES) {
        throw new StateFullError(
          `save "${this.key}"`,
          `${data.length} bytes, limit ${MAX_STORAGE_VALUE_BYTES}`,
        );
      }
      await this.#storage.set(this.key, data);
      this.writes += 1;
    });
    this.#pending = next;
    next.finally(() => {
      if (this.#writing === next) this.#writing = undefined;
    }).catch(() => {});
    return next;
  }

  /**
   * Deletes the stored state once the write under way is done.
   *
   * @returns Resolves once deleted.
   */
  async remove(): Promise<void> {
    await this.#writing?.catch(() => {});
    await this.#storage.delete(this.key);
  }
}
