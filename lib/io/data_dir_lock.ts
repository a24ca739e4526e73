/**
 * One process per data directory: an exclusive advisory lock on
 * `<dir>/.lock`, which holds the owner's pid for the error message.
 *
 * The lock is the kernel's (`flock` through `Deno.FsFile.tryLock`), so a
 * process killed with `kill -9` leaves no stale lock: its descriptor closes
 * and the lock goes with it. The file itself stays (removing it would let two
 * processes lock two different files of the same name).
 *
 * @module
 */
import { join } from "node:path";

/** The lock file's name inside the data directory (hidden: not a storage key). */
export const DATA_DIR_LOCK_FILE = ".lock";

/**
 * Another process holds the data directory: two nodes on one directory would
 * run the same account and device id and overwrite each other's state.
 *
 * @example Catch it and tell the user
 * ```ts
 * import assert from "node:assert/strict";
 * import { DataDirLockedError } from "./data_dir_lock.ts";
 *
 * const error = new DataDirLockedError("/tmp/alice", 1234);
 * assert.equal(error.pid, 1234);
 * assert.match(error.message, /process 1234/);
 * ```
 */
export class DataDirLockedError extends Error {
  /** The directory that is in use. */
  readonly dir: string;
  /** The pid written by the process holding the lock, if it could be read. */
  readonly pid: number | undefined;

  /**
   * Creates the error.
   *
   * @param dir The directory that is in use.
   * @param pid The holder's pid, if known.
   */
  constructor(dir: string, pid: number | undefined) {
    super(
      `Cannot use data directory "${dir}": it is in use by ${
        pid === undefined ? "another process" : `process ${pid}`
      } (stop that node first, or pick another --data-dir)`,
    );
    this.name = "DataDirLockedError";
    this.dir = dir;
    this.pid = pid;
  }
}

/**
 * A held lock on a data directory; {@link DataDirLock.release} (or the
 * process's exit, however it happens) frees it.
 *
 * @example A second lock on the same directory is refused
 * ```ts
 * import assert from "node:assert/strict";
 * import { DataDirLock, DataDirLockedError } from "./data_dir_lock.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const lock = await DataDirLock.acquire(dir);
 * await assert.rejects(DataDirLock.acquire(dir), DataDirLockedError);
 * await lock.release();
 * await (await DataDirLock.acquire(dir)).release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class DataDirLock {
  /** The locked directory. */
  readonly dir: string;
  #file: Deno.FsFile | undefined;

  private constructor(dir: string, file: Deno.FsFile) {
    this.dir = dir;
    this.#file = file;
  }

  /**
   * Creates `dir` if needed (mode 0700) and locks it.
   *
   * @param dir The data directory.
   * @returns The held lock.
   * @throws {DataDirLockedError} If another process (or another lock in this
   *   process) holds it.
   */
  static async acquire(dir: string): Promise<DataDirLock> {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, DATA_DIR_LOCK_FILE);
    const file = await Deno.open(path, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
    let locked: boolean;
    try {
      locked = await file.tryLock(true);
    } catch (error) {
      file.close();
      throw error;
    }
    if (!locked) {
      file.close();
      throw new DataDirLockedError(dir, await readPid(path));
    }
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
    return new DataDirLock(dir, file);
  }

  /** Frees the lock (the file stays); later calls do nothing. */
  async release(): Promise<void> {
    const file = this.#file;
    if (file === undefined) return;
    this.#file = undefined;
    try {
      await file.truncate(0);
      await file.unlock();
    } finally {
      file.close();
    }
  }

  /** Same as {@link DataDirLock.release}, for owners that close things. */
  close(): Promise<void> {
    return this.release();
  }
}

async function readPid(path: string): Promise<number | undefined> {
  try {
    const text = (await Deno.readTextFile(path)).trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}
