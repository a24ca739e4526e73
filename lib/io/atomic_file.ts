/**
 * Crash-safe file replacement: after a crash the target holds either the old
 * or the new content in full, never a mix, and a completed write survives
 * power loss.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";

/**
 * Options for {@link writeFileAtomic}.
 *
 * @example Owner-only file
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WriteFileAtomicOptions } from "./atomic_file.ts";
 *
 * const options: WriteFileAtomicOptions = { mode: 0o600 };
 * assert.equal(options.mode, 0o600);
 * ```
 */
export interface WriteFileAtomicOptions {
  /**
   * Permission bits of the new file, applied whatever the umask.
   *
   * @default {0o600}
   */
  mode?: number;
}

/** Temporary files are named `.<basename>.tmp-<pid>-<counter>`, hidden and distinct per write. */
const TEMP_FILE_PATTERN = /^\..+\.tmp-[0-9]+-[0-9]+$/;

/** Most taken temporary names skipped before giving up on a write. */
const MAX_TEMP_FILE_ATTEMPTS = 100;

/** Counts writes in this process, making temporary names unique. */
let tempFileCounter = 0;

/** Temporary files being written by this process, which `removeStaleTempFiles` must leave alone. */
const tempFilesInFlight = new Set<string>();

const IS_WINDOWS = Deno.build.os === "windows";

/**
 * Flushes changes to a directory's entries (create, rename, remove) to disk.
 * Does nothing on Windows, where directories cannot be opened as files.
 *
 * @param dir Path of the directory whose entries changed.
 * @throws {Deno.errors.NotFound} If the directory does not exist.
 *
 * @example Make a removal durable
 * ```ts
 * import assert from "node:assert/strict";
 * import { syncDirectory } from "./atomic_file.ts";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   await Deno.writeFile(`${dir}/old`, new Uint8Array());
 *   await Deno.remove(`${dir}/old`);
 *   await syncDirectory(dir);
 *   assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function syncDirectory(dir: string): Promise<void> {
  // Windows cannot open directories as files, and NTFS journals renames itself.
  if (IS_WINDOWS) return;
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    offset += await file.write(bytes.subarray(offset));
  }
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * Replaces the file at `path` with `bytes`, atomically and durably: writes a
 * temporary file `.<basename>.tmp-<pid>-<counter>` in the same directory,
 * syncs it, renames it over `path`, then syncs the directory. On failure the
 * temporary file is removed and the target keeps its old content (unless
 * only the final directory sync failed, when the rename may or may not
 * survive a crash).
 *
 * @param path The target file; its directory must exist.
 * @param bytes The new content.
 * @param options The file mode.
 * @throws {Deno.errors.NotFound} If the directory does not exist.
 * @throws {Error} Any other file system error, after cleaning up.
 *
 * @example Write a file readable only by its owner
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeFileAtomic } from "./atomic_file.ts";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   await writeFileAtomic(`${dir}/state`, new Uint8Array([1, 2, 3]));
 *   assert.deepEqual(await Deno.readFile(`${dir}/state`), new Uint8Array([1, 2, 3]));
 *   if (Deno.build.os !== "windows") {
 *     assert.equal((await Deno.stat(`${dir}/state`)).mode! & 0o777, 0o600);
 *   }
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const mode = options.mode ?? 0o600;
  const dir = dirname(path);
  const { file, tempPath } = await createTempFile(dir, basename(path), mode);
  let renamed = false;
  try {
    try {
      // The umask may have cleared bits of `mode`; set them before any content is written.
      if (!IS_WINDOWS) await Deno.chmod(tempPath, mode);
      await writeAll(file, bytes);
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tempPath, path);
    renamed = true;
    await syncDirectory(dir);
  } catch (error) {
    if (!renamed) await removeIfPresent(tempPath).catch(() => {});
    throw error;
  } finally {
    tempFilesInFlight.delete(tempPath);
  }
}

/**
 * Creates a new temporary file beside the target. A name can already exist
 * when a crashed process had the same pid (as a container's pid 1 does on
 * every start), so taken names are skipped rather than overwritten.
 */
async function createTempFile(
  dir: string,
  name: string,
  mode: number,
): Promise<{ file: Deno.FsFile; tempPath: string }> {
  for (let attempt = 0;; attempt++) {
    const tempPath = join(
      dir,
      `.${name}.tmp-${Deno.pid}-${tempFileCounter++}`,
    );
    tempFilesInFlight.add(tempPath);
    try {
      const file = await Deno.open(tempPath, {
        write: true,
        createNew: true,
        mode,
      });
      return { file, tempPath };
    } catch (error) {
      tempFilesInFlight.delete(tempPath);
      const retry = error instanceof Deno.errors.AlreadyExists &&
        attempt < MAX_TEMP_FILE_ATTEMPTS;
      if (!retry) throw error;
    }
  }
}

/**
 * Removes the temporary files that {@link writeFileAtomic} leaves in `dir`
 * when the process dies mid-write. Files this process is still writing are
 * kept; call it before other processes write to `dir`.
 *
 * @param dir The directory to clean.
 * @returns The number of files removed.
 * @throws {Deno.errors.NotFound} If the directory does not exist.
 *
 * @example Clean up after a crash
 * ```ts
 * import assert from "node:assert/strict";
 * import { removeStaleTempFiles } from "./atomic_file.ts";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   await Deno.writeFile(`${dir}/.state.tmp-1234-0`, new Uint8Array([1]));
 *   await Deno.writeFile(`${dir}/state`, new Uint8Array([2]));
 *   assert.equal(await removeStaleTempFiles(dir), 1);
 *   assert.deepEqual(
 *     (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name),
 *     ["state"],
 *   );
 * } finally {
 *   await Deno.remove(dir, { recursive: true });
 * }
 * ```
 */
export async function removeStaleTempFiles(dir: string): Promise<number> {
  let removed = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !TEMP_FILE_PATTERN.test(entry.name)) continue;
    const path = join(dir, entry.name);
    if (tempFilesInFlight.has(path)) continue;
    await removeIfPresent(path);
    removed++;
  }
  if (removed > 0) await syncDirectory(dir);
  return removed;
}
