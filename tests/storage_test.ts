import assert from "node:assert/strict";
import {
  removeStaleTempFiles,
  writeFileAtomic,
} from "../lib/io/atomic_file.ts";
import { FileStorage } from "../lib/io/file_storage.ts";
import { MemoryStorage } from "../lib/testing/memory_storage.ts";
import {
  isValidStorageKey,
  MAX_STORAGE_VALUE_BYTES,
  type Storage,
  validateStorageKey,
} from "../lib/storage.ts";
import { listDir, withTempDir } from "./_temp_dir.ts";

const IS_WINDOWS = Deno.build.os === "windows";

/** Runs `body` in a fresh temporary directory, removed afterwards whatever happens. */
function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  return withTempDir("storage_test_", body);
}

interface Implementation {
  name: string;
  run(body: (storage: Storage) => Promise<void>): Promise<void>;
}

const IMPLEMENTATIONS: Implementation[] = [
  {
    name: "MemoryStorage",
    run: (body) => body(new MemoryStorage()),
  },
  {
    name: "FileStorage",
    run: (body) => inTempDir(async (dir) => body(await FileStorage.open(dir))),
  },
];

const HOSTILE_KEYS = [
  "",
  ".",
  "..",
  "../x",
  "a/b",
  "a\\b",
  "/etc/passwd",
  ".hidden",
  "-dash-first",
  "_underscore-first",
  "has space",
  "nul\0byte",
  "new\nline",
  "ünïcode",
  "x".repeat(129),
  "y".repeat(200),
  ".state.tmp-1-0",
];

for (const { name, run } of IMPLEMENTATIONS) {
  Deno.test(`${name}.get() returns undefined for a missing key`, () =>
    run(async (storage) => {
      assert.equal(await storage.get("missing"), undefined);
    }));

  Deno.test(`${name}.set() then get() round-trips and replaces values`, () =>
    run(async (storage) => {
      await storage.set("key", new Uint8Array([1, 2, 3]));
      assert.deepEqual(await storage.get("key"), new Uint8Array([1, 2, 3]));
      await storage.set("key", new Uint8Array([4]));
      assert.deepEqual(await storage.get("key"), new Uint8Array([4]));
      await storage.set("empty", new Uint8Array());
      assert.deepEqual(await storage.get("empty"), new Uint8Array());
    }));

  Deno.test(`${name} copies values in and out`, () =>
    run(async (storage) => {
      const value = new Uint8Array([1, 2]);
      const written = storage.set("key", value);
      value[0] = 9;
      await written;
      const read = await storage.get("key");
      assert.deepEqual(read, new Uint8Array([1, 2]));
      read![1] = 9;
      assert.deepEqual(await storage.get("key"), new Uint8Array([1, 2]));
    }));

  Deno.test(`${name}.set() stores a subarray view, not its whole buffer`, () =>
    run(async (storage) => {
      const buffer = new Uint8Array([0, 1, 2, 3, 4]);
      await storage.set("view", buffer.subarray(1, 3));
      assert.deepEqual(await storage.get("view"), new Uint8Array([1, 2]));
    }));

  Deno.test(`${name}.delete() removes a key and ignores missing keys`, () =>
    run(async (storage) => {
      await storage.set("a", new Uint8Array([1]));
      await storage.set("b", new Uint8Array([2]));
      await storage.delete("a");
      await storage.delete("a");
      await storage.delete("never-set");
      assert.equal(await storage.get("a"), undefined);
      assert.deepEqual(await storage.keys(), ["b"]);
    }));

  Deno.test(`${name}.keys() lists keys sorted`, () =>
    run(async (storage) => {
      assert.deepEqual(await storage.keys(), []);
      for (const key of ["zeta", "Alpha", "beta.v2", "0-first", "beta_v1"]) {
        await storage.set(key, new Uint8Array([1]));
      }
      assert.deepEqual(await storage.keys(), [
        "0-first",
        "Alpha",
        "beta.v2",
        "beta_v1",
        "zeta",
      ]);
    }));

  Deno.test(`${name} accepts keys of 1 and 128 characters`, () =>
    run(async (storage) => {
      const longest = "k".repeat(128);
      await storage.set("k", new Uint8Array([1]));
      await storage.set(longest, new Uint8Array([2]));
      assert.deepEqual(await storage.get(longest), new Uint8Array([2]));
      assert.deepEqual(await storage.keys(), ["k", longest]);
    }));

  Deno.test(`${name} rejects hostile keys with TypeError and writes nothing`, () =>
    run(async (storage) => {
      for (const key of HOSTILE_KEYS) {
        const label = JSON.stringify(key);
        await assert.rejects(storage.get(key), TypeError, label);
        await assert.rejects(
          storage.set(key, new Uint8Array([1])),
          TypeError,
          label,
        );
        await assert.rejects(storage.delete(key), TypeError, label);
      }
      assert.deepEqual(await storage.keys(), []);
    }));

  Deno.test(`${name}.set() rejects an oversized value with RangeError and keeps the old one`, () =>
    run(async (storage) => {
      await storage.set("big", new Uint8Array([1]));
      await assert.rejects(
        storage.set("big", new Uint8Array(MAX_STORAGE_VALUE_BYTES + 1)),
        RangeError,
      );
      await assert.rejects(
        storage.set("other", new Uint8Array(MAX_STORAGE_VALUE_BYTES + 1)),
        RangeError,
      );
      assert.deepEqual(await storage.get("big"), new Uint8Array([1]));
      assert.deepEqual(await storage.keys(), ["big"]);
    }));

  Deno.test(`${name}.set() accepts a value of exactly MAX_STORAGE_VALUE_BYTES`, () =>
    run(async (storage) => {
      const value = new Uint8Array(MAX_STORAGE_VALUE_BYTES);
      value[0] = 1;
      value[MAX_STORAGE_VALUE_BYTES - 1] = 2;
      await storage.set("max", value);
      assert.deepEqual(await storage.get("max"), value);
    }));

  Deno.test(`${name}.set() rejects values that are not Uint8Array`, () =>
    run(async (storage) => {
      await assert.rejects(
        storage.set("key", "text" as unknown as Uint8Array),
        TypeError,
      );
      assert.deepEqual(await storage.keys(), []);
    }));

  Deno.test(`${name} applies concurrent writes of one key in call order`, () =>
    run(async (storage) => {
      const writes = [];
      for (let index = 0; index < 20; index++) {
        writes.push(storage.set("key", new Uint8Array([index])));
      }
      writes.push(storage.delete("key"));
      writes.push(storage.set("key", new Uint8Array([99])));
      await Promise.all(writes);
      assert.deepEqual(await storage.get("key"), new Uint8Array([99]));
    }));
}

Deno.test("validateStorageKey() quotes the key and truncates long ones", () => {
  assert.throws(() => validateStorageKey("../x"), {
    name: "TypeError",
    message:
      'Cannot use storage key: "../x" is not 1 to 128 characters of [A-Za-z0-9._-] starting with a letter or digit',
  });
  assert.throws(() => validateStorageKey("y".repeat(200)), (error: unknown) => {
    assert.ok(error instanceof TypeError);
    assert.ok(error.message.includes(`"${"y".repeat(80)}…"`));
    return true;
  });
  assert.equal(isValidStorageKey("a..b"), true);
  assert.equal(isValidStorageKey(".."), false);
});

Deno.test("FileStorage writes one file per key with mode 0600", () =>
  inTempDir(async (dir) => {
    const storage = await FileStorage.open(dir);
    await storage.set("identity", new Uint8Array([1, 2, 3]));
    assert.deepEqual(await listDir(dir), ["identity"]);
    assert.deepEqual(
      await Deno.readFile(`${dir}/identity`),
      new Uint8Array([1, 2, 3]),
    );
    if (!IS_WINDOWS) {
      const info = await Deno.stat(`${dir}/identity`);
      assert.equal(info.mode! & 0o777, 0o600);
    }
  }));

Deno.test("FileStorage.open() creates missing directories with mode 0700", () =>
  inTempDir(async (root) => {
    const dir = `${root}/nested/state`;
    const storage = await FileStorage.open(dir);
    assert.equal(storage.dir, dir);
    await storage.set("key", new Uint8Array([1]));
    if (!IS_WINDOWS) {
      const info = await Deno.stat(dir);
      assert.equal(info.mode! & 0o777, 0o700);
    }
  }));

Deno.test("FileStorage.open() rejects a path that is a file", () =>
  inTempDir(async (root) => {
    await Deno.writeFile(`${root}/file`, new Uint8Array());
    await assert.rejects(FileStorage.open(`${root}/file`));
  }));

Deno.test("FileStorage keeps values across reopening", () =>
  inTempDir(async (dir) => {
    const first = await FileStorage.open(dir);
    await first.set("contacts", new Uint8Array([5, 6]));
    const second = await FileStorage.open(dir);
    assert.deepEqual(await second.get("contacts"), new Uint8Array([5, 6]));
    assert.deepEqual(await second.keys(), ["contacts"]);
  }));

Deno.test("FileStorage ignores and removes a temp file left by a crash mid-write", () =>
  inTempDir(async (dir) => {
    // Goal: a crash between writing the temp file and renaming it loses only the new value.
    // Method: leave behind exactly what writeFileAtomic writes before its rename.
    const storage = await FileStorage.open(dir);
    await storage.set("contacts", new Uint8Array([1]));
    const stale = `${dir}/.contacts.tmp-4242-7`;
    await Deno.writeFile(stale, new Uint8Array([2, 2]));
    assert.deepEqual(await storage.get("contacts"), new Uint8Array([1]));
    assert.deepEqual(await storage.keys(), ["contacts"]);

    const reopened = await FileStorage.open(dir);
    assert.deepEqual(await listDir(dir), ["contacts"]);
    assert.deepEqual(await reopened.get("contacts"), new Uint8Array([1]));
  }));

Deno.test("FileStorage.keys() skips foreign files and directories", () =>
  inTempDir(async (dir) => {
    const storage = await FileStorage.open(dir);
    await storage.set("real", new Uint8Array([1]));
    await Deno.writeFile(`${dir}/.DS_Store`, new Uint8Array());
    await Deno.writeFile(`${dir}/has space`, new Uint8Array());
    await Deno.mkdir(`${dir}/subdir`);
    assert.deepEqual(await storage.keys(), ["real"]);
  }));

Deno.test("FileStorage.get() throws RangeError for a file over the value limit", () =>
  inTempDir(async (dir) => {
    const storage = await FileStorage.open(dir);
    // A sparse file: large on paper, no real disk use.
    await Deno.writeFile(`${dir}/huge`, new Uint8Array());
    await Deno.truncate(`${dir}/huge`, MAX_STORAGE_VALUE_BYTES + 1);
    await assert.rejects(storage.get("huge"), (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.match(error.message, /^Cannot read storage key "huge"/);
      return true;
    });
  }));

Deno.test("writeFileAtomic() replaces the content and leaves no temp file", () =>
  inTempDir(async (dir) => {
    await writeFileAtomic(`${dir}/file`, new Uint8Array([1]));
    await writeFileAtomic(`${dir}/file`, new Uint8Array([2, 3]));
    assert.deepEqual(
      await Deno.readFile(`${dir}/file`),
      new Uint8Array([2, 3]),
    );
    assert.deepEqual(await listDir(dir), ["file"]);
  }));

Deno.test("writeFileAtomic() applies the mode regardless of the umask", {
  ignore: IS_WINDOWS,
}, () =>
  inTempDir(async (dir) => {
    // 0o666 has group and other write bits, which the usual umask 022 clears.
    await writeFileAtomic(`${dir}/shared`, new Uint8Array([1]), {
      mode: 0o666,
    });
    assert.equal((await Deno.stat(`${dir}/shared`)).mode! & 0o777, 0o666);
    await writeFileAtomic(`${dir}/private`, new Uint8Array([1]));
    assert.equal((await Deno.stat(`${dir}/private`)).mode! & 0o777, 0o600);
  }));

Deno.test("writeFileAtomic() to a missing directory rejects and leaves nothing behind", () =>
  inTempDir(async (dir) => {
    await assert.rejects(
      writeFileAtomic(`${dir}/missing/file`, new Uint8Array([1])),
      Deno.errors.NotFound,
    );
    assert.deepEqual(await listDir(dir), []);
  }));

Deno.test("writeFileAtomic() removes its temp file when the final rename fails", () =>
  inTempDir(async (dir) => {
    // Goal: a failure after the data is written still cleans up.
    // Method: the target is a non-empty directory, which no file can be renamed over (even as root).
    await Deno.mkdir(`${dir}/target`);
    await Deno.writeFile(`${dir}/target/keep`, new Uint8Array([7]));
    await assert.rejects(writeFileAtomic(`${dir}/target`, new Uint8Array([1])));
    assert.deepEqual(await listDir(dir), ["target"]);
    assert.deepEqual(
      await Deno.readFile(`${dir}/target/keep`),
      new Uint8Array([7]),
    );
  }));

Deno.test("writeFileAtomic() skips temp names left by an earlier process with the same pid", () =>
  inTempDir(async (dir) => {
    // Goal: a container's daemon is pid 1 on every start, so a crashed run's
    // temp names repeat; a write must skip them, not fail or clobber them.
    // Method: take every name with counter 0 to 1999 except each tenth. The
    // first write ends on a free name, so the second starts on a taken one.
    let taken = 0;
    for (let counter = 0; counter < 2_000; counter++) {
      if (counter % 10 === 9) continue;
      await Deno.writeFile(
        `${dir}/.file.tmp-${Deno.pid}-${counter}`,
        new Uint8Array(),
      );
      taken++;
    }
    await writeFileAtomic(`${dir}/file`, new Uint8Array([1]));
    await writeFileAtomic(`${dir}/file`, new Uint8Array([2]));
    assert.deepEqual(await Deno.readFile(`${dir}/file`), new Uint8Array([2]));
    assert.equal(await removeStaleTempFiles(dir), taken);
    assert.deepEqual(await listDir(dir), ["file"]);
  }));

Deno.test("removeStaleTempFiles() removes only writeFileAtomic temp files", () =>
  inTempDir(async (dir) => {
    for (
      const name of [
        ".a.tmp-1-0",
        ".b.c.tmp-99-12",
        ".a.tmp-x-0",
        "a.tmp-1-0",
        ".a.tmp-1",
        "keep",
      ]
    ) {
      await Deno.writeFile(`${dir}/${name}`, new Uint8Array());
    }
    await Deno.mkdir(`${dir}/.d.tmp-1-0`);
    assert.equal(await removeStaleTempFiles(dir), 2);
    assert.deepEqual(await listDir(dir), [
      ".a.tmp-1",
      ".a.tmp-x-0",
      ".d.tmp-1-0",
      "a.tmp-1-0",
      "keep",
    ]);
  }));

Deno.test("removeStaleTempFiles() leaves temp files of writes in progress", () =>
  inTempDir(async (dir) => {
    // Goal: opening a second FileStorage must not break a write of this process.
    const writes = Array.from(
      { length: 20 },
      (_, index) =>
        writeFileAtomic(`${dir}/f${index}`, new Uint8Array([index])),
    );
    const cleanups = Array.from(
      { length: 20 },
      () => removeStaleTempFiles(dir),
    );
    await Promise.all([...writes, ...cleanups]);
    for (let index = 0; index < 20; index++) {
      assert.deepEqual(
        await Deno.readFile(`${dir}/f${index}`),
        new Uint8Array([index]),
      );
    }
  }));
