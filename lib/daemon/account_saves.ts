/**
 * How an account saves its state, shared by both kinds of account
 * (`Account` and `JamiAccount`): every save is tracked (so that
 * a stop waits for it), a save nobody awaits reports its failure through
 * `onSaveError`, and a save that must not leave memory ahead of the disk
 * undoes the change when it fails.
 *
 * @example A failed save undoes the change
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccountSaves } from "./account_saves.ts";
 *
 * const contacts = new Set(["jami:aa"]);
 * const saves = new AccountSaves({
 *   store: { save: () => Promise.reject(new Error("disk full")) },
 * });
 * contacts.add("jami:bb");
 * await assert.rejects(saves.saveOrUndo(() => contacts.delete("jami:bb")), /disk full/);
 * assert.deepEqual([...contacts], ["jami:aa"]);
 * ```
 *
 * @module
 */

/** What {@link AccountSaves} needs: the state store and the daemon's hooks. */
export interface AccountSavesComponents {
  /** Writes the account's state (atomically). */
  readonly store: { save(): Promise<void> };
  /** Told of a save that failed with nobody awaiting it. */
  readonly onSaveError?: (error: unknown) => void;
  /** Tracks work a stop waits for. */
  readonly track?: <T>(work: Promise<T>) => Promise<T>;
}

/** The save paths of an account; see the module documentation. */
export class AccountSaves {
  readonly #c: AccountSavesComponents;

  /** @param components The store and the daemon's hooks. */
  constructor(components: AccountSavesComponents) {
    this.#c = components;
  }

  /**
   * Tracks `work` so that a stop waits for it.
   *
   * @param work Any work of the account.
   * @returns The same promise (or the tracker's).
   */
  track<T>(work: Promise<T>): Promise<T> {
    return this.#c.track ? this.#c.track(work) : work;
  }

  /**
   * Saves, tracked.
   *
   * @returns Resolves once the state is on disk.
   */
  save(): Promise<void> {
    return this.track(this.#c.store.save());
  }

  /**
   * Saves for a caller that may not handle a failure: the failure is
   * reported through `onSaveError` (the promise still rejects for chaining).
   *
   * @returns Resolves once the state is on disk.
   */
  saveReported(): Promise<void> {
    const saving = this.save();
    saving.catch((error) => this.#c.onSaveError?.(error));
    return saving;
  }

  /**
   * Saves; if the save fails, `undo` puts the change back so memory shows
   * only what is stored, and the error goes to the caller.
   *
   * @param undo Reverts the in-memory change.
   * @returns Resolves once the state is on disk; rejects after undoing.
   */
  async saveOrUndo(undo: () => void): Promise<void> {
    try {
      await this.save();
    } catch (error) {
      undo();
      throw error;
    }
  }
}
