/**
 * A {@link Storage} on disk, one file per key, for the daemon. Each write
 * keeps the previous generation of the key as the hidden file
 * `.<key>.prev` (a hard link to the old file, renamed into place), so a
 * value damaged on disk can be recovered from the one before it.
 *
 * @module
 */

import { join } from "node:path";
import {
  removeStaleTempFiles,
  syncDirectory,
  writeFileAtomic,
} from "./atomic_file.ts";
import {
  isValidStorageKey,
  MAX_STORAGE_VALUE_BYTES,
  type Storage,
  validateStorageKey,
  validateStorageValue,
} from "../storage.ts";

/** Suffix of a key's previous generation, kept as the hidden file `.<key>.prev`. */
const PREVIOUS_SUFFIX = ".prev";

/** Read buffer size: 64 KiB. */
const READ_CHUNK_BYTES = 64 * 1024;

function tooLarge(key: string, size: number): RangeError {
  return new RangeError(
    `Cannot read storage key "${key}": file of ${size} bytes is over the limit of ${MAX_STORAGE_VALUE_BYTES}`,
  );
}

/** Reads a whole file, refusing to read past the storage value limit. */
async function readBounded(
  file: Deno.FsFile,
  key: string,
): Promise<Uint8Array> {
  const { size } = await file.stat();
  if (size > MAX_STORAGE_VALUE_BYTES) throw tooLarge(key, size);
  // One spare byte detects a file that grew since the stat.
  const bytes = new Uint8Array(size + 1);
  let length = 0;
  for (;;) {
    if (length === bytes.length) throw tooLarge(key, length);
    const end = Math.min(bytes.length, length + READ_CHUNK_BYTES);
    const read = await file.read(bytes.subarray(length, end));
    if (read === null) break;
    length += read;
  }
  return bytes.slice(0, length);
}

/** Path of a key's previous generation: hidden, so never listed as a key. */
function previousPath(dir: string, key: string): string {
  return join(dir, `.${key}${PREVIOUS_SUFFIX}`);
}

async function readIfPresent(
  path: string,
  key: string,
): Promise<Uint8Array | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    return await readBounded(file, key);
  } finally {
    file.close();
  }
}

/** Removes a file; returns false if it was not there. */
async function removeIfPresent(path: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Makes the current file of a key its previous generation, without copying
 * and without a moment where `prev` is missing or partial: a hard link under
 * a temporary name, renamed over `prev`. Where hard links are refused, the
 * content is copied with `writeFileAtomic` instead.
 */
async function keepPrevious(
  path: string,
  prev: string,
  key: string,
): Promise<void> {
  // Named like writeFileAtomic's temporary files, so that opening the
  // storage after a crash removes it.
  const temp = `${prev}.tmp-${Deno.pid}-0`;
  await removeIfPresent(temp);
  try {
    await Deno.link(path, temp);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    const bytes = await readIfPresent(path, key);
    if (bytes !== undefined) await writeFileAtomic(prev, bytes);
    return;
  }
  try {
    await Deno.rename(temp, prev);
  } catch (error) {
    await removeIfPresent(temp).catch(() => {});
    throw error;
  }
}

/**
 * A {@link Storage} in a directory: one file per key, named after the key,
 * with mode 0600. Writes go through `writeFileAtomic`, so a crash leaves
 * each key with its old or its new value; the value before the last write
 * stays readable with {@link FileStorage.getPrevious}. Writes and deletes of one key are
 * applied in call order. One `FileStorage` should own a directory at a time.
 *
 * @example Persist across openings
 * ```ts
 * import assert from "node:assert/strict";
 * import { FileStorage } from "./file_storage.ts";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   const first = await FileStorage.open(dir);
 *   await first.set("identity", new Uint8Array([1, 2, 3]));
 *   const second = await FileStorage.open(dir);
 *   assert.deepEqual(await second.get("identity"), new Uint8Array([1, 2, 3]));
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export class FileStorage implements Storage {
  /** The directory holding the files. */
  readonly dir: string;
  /** The last queued write or delete per key, to apply them in call order. */
  #queues = new Map<string, Promise<void>>();

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Opens a storage directory, creating it (and its parents) with mode 0700
   * if missing, and removing temporary files left by a crash.
   *
   * @param dir Path of the directory that holds one file per key.
   * @returns The storage.
   * @throws {Deno.errors.AlreadyExists} If `dir` exists but is not a directory.
   * @throws {Error} Other file system errors, such as missing permissions.
   *
   * @example Create a nested directory
   * ```ts
   * import assert from "node:assert/strict";
   * import { FileStorage } from "./file_storage.ts";
   *
   * const root = await Deno.makeTempDir();
   * try {
   *   const storage = await FileStorage.open(`${root}/a/b`);
   *   assert.deepEqual(await storage.keys(), []);
   * } finally {
   *   await Deno.remove(root, { recursive: true });
   * }
   * ```
   */
  static async open(dir: string): Promise<FileStorage> {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const info = await Deno.stat(dir);
    if (!info.isDirectory) {
      throw new Deno.errors.AlreadyExists(
        `Cannot open file storage: "${dir}" is not a directory`,
      );
    }
    await removeStaleTempFiles(dir);
    return new FileStorage(dir);
  }

  /**
   * Reads a value from its file.
   *
   * @param key A valid storage key.
   * @returns The value, or `undefined` if the key is not set.
   * @throws {TypeError} If the key is invalid.
   * @throws {RangeError} If the file is over `MAX_STORAGE_VALUE_BYTES`.
   *
   * @example A missing key
   * ```ts
   * import assert from "node:assert/strict";
   * import { FileStorage } from "./file_storage.ts";
   *
   * const dir = await Deno.makeTempDir();
   * try {
   *   const storage = await FileStorage.open(dir);
   *   assert.equal(await storage.get("missing"), undefined);
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  get(key: string): Promise<Uint8Array | undefined> {
    try {
      validateStorageKey(key);
    } catch (error) {
      return Promise.reject(error);
    }
    return readIfPresent(join(this.dir, key), key);
  }

  /**
   * Reads the value `key` had before its last write (the file
   * `.<key>.prev`), to recover from a damaged current value.
   *
   * @param key A valid storage key.
   * @returns The previous value, or `undefined` if there is none.
   * @throws {TypeError} If the key is invalid.
   *
   * @example The value before the last write
   * ```ts
   * import assert from "node:assert/strict";
   * import { FileStorage } from "./file_storage.ts";
   *
   * const dir = await Deno.makeTempDir();
   * try {
   *   const storage = await FileStorage.open(dir);
   *   await storage.set("state", new Uint8Array([1]));
   *   assert.equal(await storage.getPrevious("state"), undefined);
   *   await storage.set("state", new Uint8Array([2]));
   *   assert.deepEqual(await storage.getPrevious("state"), new Uint8Array([1]));
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  getPrevious(key: string): Promise<Uint8Array | undefined> {
    try {
      validateStorageKey(key);
    } catch (error) {
      return Promise.reject(error);
    }
    return readIfPresent(previousPath(this.dir, key), key);
  }

  /**
   * Writes a value to its file atomically; resolves once it is on disk.
   *
   * @param key A valid storage key.
   * @param value At most `MAX_STORAGE_VALUE_BYTES` bytes.
   * @throws {TypeError} If the key is invalid or the value is not a `Uint8Array`.
   * @throws {RangeError} If the value is too large; nothing is written.
   *
   * @example The file is readable only by its owner
   * ```ts
   * import assert from "node:assert/strict";
   * import { FileStorage } from "./file_storage.ts";
   *
   * const dir = await Deno.makeTempDir();
   * try {
   *   const storage = await FileStorage.open(dir);
   *   await storage.set("secret", new Uint8Array([7]));
   *   if (Deno.build.os !== "windows") {
   *     assert.equal((await Deno.stat(`${dir}/secret`)).mode! & 0o777, 0o600);
   *   }
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  set(key: string, value: Uint8Array): Promise<void> {
    try {
      validateStorageKey(key);
      validateStorageValue(value);
    } catch (error) {
      return Promise.reject(error);
    }
    // Copy now: the caller may change `value` while the write waits its turn.
    const bytes = value.slice();
    const path = join(this.dir, key);
    return this.#enqueue(key, async () => {
      await keepPrevious(path, previousPath(this.dir, key), key);
      // Its directory sync also makes the previous generation's rename durable.
      await writeFileAtomic(path, bytes);
    });
  }

  /**
   * Removes a key's file and syncs the directory; a missing key is not an error.
   *
   * @param key A valid storage key.
   * @throws {TypeError} If the key is invalid.
   *
   * @example Delete a key
   * ```ts
   * import assert from "node:assert/strict";
   * import { FileStorage } from "./file_storage.ts";
   *
   * const dir = await Deno.makeTempDir();
   * try {
   *   const storage = await FileStorage.open(dir);
   *   await storage.set("old", new Uint8Array([1]));
   *   await storage.delete("old");
   *   await storage.delete("old");
   *   assert.deepEqual(await storage.keys(), []);
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  delete(key: string): Promise<void> {
    try {
      validateStorageKey(key);
    } catch (error) {
      return Promise.reject(error);
    }
    const path = join(this.dir, key);
    const previous = previousPath(this.dir, key);
    return this.#enqueue(key, async () => {
      const removed = await removeIfPresent(path);
      const removedPrevious = await removeIfPresent(previous);
      if (removed || removedPrevious) await syncDirectory(this.dir);
    });
  }

  /**
   * Lists the keys that have a file, skipping temporary files and any name
   * that is not a valid key.
   *
   * @returns The keys, sorted.
   *
   * @example Foreign files are ignored
   * ```ts
   * import assert from "node:assert/strict";
   * import { FileStorage } from "./file_storage.ts";
   *
   * const dir = await Deno.makeTempDir();
   * try {
   *   const storage = await FileStorage.open(dir);
   *   await Deno.writeFile(`${dir}/.DS_Store`, new Uint8Array());
   *   await storage.set("b", new Uint8Array());
   *   await storage.set("a", new Uint8Array());
   *   assert.deepEqual(await storage.keys(), ["a", "b"]);
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  async keys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const entry of Deno.readDir(this.dir)) {
      if (entry.isFile && isValidStorageKey(entry.name)) keys.push(entry.name);
    }
    return keys.sort();
  }

  /** Runs `operation` after every earlier write or delete of `key` has settled. */
  #enqueue(key: string, operation: () => Promise<void>): Promise<void> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const current = previous.then(operation);
    const settled = current.then(() => {}, () => {});
    this.#queues.set(key, settled);
    settled.then(() => {
      if (this.#queues.get(key) === settled) this.#queues.delete(key);
    });
    return current;
  }
}
