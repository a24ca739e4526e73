/**
 * `openUdpDaemon()` and the data-directory lock, as a user runs them: a
 * script in its own process (outside the repository, importing mod.ts by
 * URL) must load and exit by itself once it has awaited `stop()`; a second opener of
 * a data directory gets a typed error, also after the first was killed with
 * SIGKILL (no stale lock).
 */
import assert from "node:assert/strict";
import { runDenoBounded } from "./_bounded_deno.ts";
import { DataDirLock, DataDirLockedError } from "../lib/io/data_dir_lock.ts";
import { openUdpDaemon } from "../lib/io/udp_daemon.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
const DATA_DIR_LOCK = new URL("../lib/io/data_dir_lock.ts", import.meta.url)
  .href;

/**
 * Runs `code` as a user's script in a temporary directory outside the
 * repository, with no deno.json of its own: it imports this checkout's mod.ts
 * by URL, so the package's npm dependencies must resolve without the
 * repository's import map.
 */
async function runScript(code: string, limitMs: number) {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/script.ts`, code);
    return await runDenoBounded(
      dir,
      ["run", "--allow-all", "--no-lock", "script.ts", dir],
      limitMs,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("openUdpDaemon(): a user's script outside the repository that stops two daemons exits by itself", async () => {
  const result = await runScript(
    `import { openUdpDaemon } from "${MOD}";
const root = Deno.args[0];
const alice = await openUdpDaemon({ dataDir: root + "/a", scryptLog2N: 10 });
const bob = await openUdpDaemon({
  dataDir: root + "/b",
  scryptLog2N: 10,
  bootstrap: [alice.dht.address],
});
await alice.createAccount();
await bob.createAccount();
alice.start();
bob.start();
for (let i = 0; i < 250 && alice.dht.routingTable.size === 0; i++) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
console.log("met", alice.dht.routingTable.size);
await Promise.all([alice.stop(), bob.stop()]);
console.log("stopped");
`,
    30_000,
  );
  assert.equal(result.killed, false, "the script did not exit by itself");
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "met 1\nstopped\n");
});

Deno.test("openUdpDaemon(): a second daemon on the same data directory is refused until the first stops", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await openUdpDaemon({ dataDir: dir, scryptLog2N: 10 });
    const error = await openUdpDaemon({ dataDir: dir, scryptLog2N: 10 })
      .then(() => undefined, (error) => error);
    assert.ok(error instanceof DataDirLockedError, String(error));
    assert.equal(error.dir, dir);
    assert.equal(error.pid, Deno.pid);
    assert.match(error.message, new RegExp(`in use by process ${Deno.pid}`));
    await first.stop();
    const second = await openUdpDaemon({ dataDir: dir, scryptLog2N: 10 });
    await second.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DataDirLock: a holder killed with SIGKILL leaves no stale lock", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { DataDirLock } from "${DATA_DIR_LOCK}";
await DataDirLock.acquire(${JSON.stringify(dir)});
console.log("locked");
setInterval(() => {}, 1_000);`,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), "locked\n");
    const held = await DataDirLock.acquire(dir).then(
      () => undefined,
      (error) => error,
    );
    assert.ok(held instanceof DataDirLockedError);
    assert.equal(held.pid, child.pid);
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
    const lock = await DataDirLock.acquire(dir);
    await lock.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
