/**
 * Issue 18, item 4: damaged or missing files in a data directory. A
 * missing archive next to its state is a typed error saying what to do
 * (not a silent new identity); a damaged state falls back to its previous
 * generation with a warning; stray files named like account files are
 * ignored with a warning. Over `FileStorage` in temporary directories.
 */
import assert from "node:assert/strict";
import { Daemon, type DaemonWarning } from "../lib/daemon/daemon.ts";
import { MissingArchiveError } from "../lib/daemon/errors.ts";
import {
  AccountStateStore,
  StateCorruptError,
} from "../lib/contacts/account_state.ts";
import { FileStorage } from "../lib/io/file_storage.ts";
import { openUdpDaemon } from "../lib/io/udp_daemon.ts";
import { main } from "../cli/node.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { seededRng } from "../lib/rng.ts";
import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";

const CAROL = "c".repeat(40);
const DAVE = "d".repeat(40);

/** Opens daemons over one temporary directory, collecting warnings. */
async function setup(name: string) {
  const dir = await Deno.makeTempDir({ prefix: `faults-${name}-` });
  const clock = new ManualClock(1_700_000_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng(name) });
  const warnings: DaemonWarning[] = [];
  const open = async () =>
    Daemon.open({
      transport: network.attach(),
      clock,
      rng: seededRng(`${name}-daemon`),
      storage: await FileStorage.open(dir),
      scryptLog2N: 10,
      onWarning: (warning) => warnings.push(warning),
    });
  return { dir, open, warnings };
}

Deno.test("FileStorage keeps the previous generation of a key, and delete removes both", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const storage = await FileStorage.open(dir);
    await storage.set("state", new Uint8Array([1]));
    await storage.set("state", new Uint8Array([2]));
    await storage.set("state", new Uint8Array([3]));
    assert.deepEqual(await storage.get("state"), new Uint8Array([3]));
    assert.deepEqual(await storage.getPrevious("state"), new Uint8Array([2]));
    // Hidden: not a key, and not removed as a stale temporary file.
    assert.deepEqual(await storage.keys(), ["state"]);
    const reopened = await FileStorage.open(dir);
    assert.deepEqual(await reopened.getPrevious("state"), new Uint8Array([2]));
    await reopened.delete("state");
    assert.equal(await reopened.get("state"), undefined);
    assert.equal(await reopened.getPrevious("state"), undefined);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("A deleted archive with its state present is a MissingArchiveError, not a new identity", async () => {
  const { dir, open } = await setup("missing-archive");
  try {
    const first = await open();
    const a = await first.createAccount();
    await first.config.addContact(a, CAROL);
    await Deno.remove(`${dir}/account-${a}.archive`);
    const error = await open().then(
      () => assert.fail("opened without its archive"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof MissingArchiveError);
    assert.equal(error.accountId, a);
    // The message says what to do.
    assert.match(error.message, /Restore "account-[0-9a-f]{40}\.archive"/);
    assert.match(error.message, /move "account-[0-9a-f]{40}\.state"/);
    // The state is untouched, and no other account was made.
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.ok(names.includes(`account-${a}.state`));
    assert.ok(!names.some((n) => n.endsWith(".archive")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("A damaged state file is replaced by its previous generation, with a warning", async () => {
  const { dir, open, warnings } = await setup("damaged-state");
  try {
    const first = await open();
    const a = await first.createAccount();
    await first.config.addContact(a, CAROL);
    await first.config.addContact(a, DAVE);
    const path = `${dir}/${AccountStateStore.keyFor(a)}`;
    const good = await Deno.readFile(path);
    await Deno.writeFile(path, good.subarray(0, good.length - 5));
    const second = await open();
    // The previous generation has Carol (Dave came in the damaged write).
    assert.equal(second.config.getContactDetails(a, CAROL)?.banned, false);
    assert.equal(second.config.getContactDetails(a, DAVE), undefined);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].kind, "stateRecovered");
    assert.equal(warnings[0].key, AccountStateStore.keyFor(a));
    // It was written back: the next open needs no recovery.
    const third = await open();
    assert.equal(third.config.getContactDetails(a, CAROL)?.banned, false);
    assert.equal(warnings.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("A damaged state with no good previous generation still refuses to open", async () => {
  const { dir, open } = await setup("damaged-both");
  try {
    const first = await open();
    const a = await first.createAccount();
    await first.config.addContact(a, CAROL);
    const key = AccountStateStore.keyFor(a);
    await Deno.writeFile(`${dir}/${key}`, new TextEncoder().encode("junk"));
    await Deno.writeFile(`${dir}/.${key}.prev`, new TextEncoder().encode("x"));
    await assert.rejects(open, StateCorruptError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Stray files named like account files are ignored with a warning", async () => {
  const { dir, open, warnings } = await setup("stray");
  try {
    const first = await open();
    const a = await first.createAccount();
    const archive = await Deno.readFile(`${dir}/account-${a}.archive`);
    const b = "b".repeat(40);
    await Deno.writeFile(`${dir}/account-backup.archive`, archive);
    await Deno.writeFile(`${dir}/account-old.state`, new Uint8Array([1]));
    // A valid archive under another account's name.
    await Deno.writeFile(`${dir}/account-${b}.archive`, archive);
    await Deno.writeFile(`${dir}/notes.txt`, new Uint8Array([1]));
    const second = await open();
    assert.deepEqual(second.listAccounts(), [a]);
    assert.deepEqual(
      warnings.map((w) => [w.kind, w.key]).sort(),
      [
        ["strayFile", "account-backup.archive"],
        ["strayFile", `account-${b}.archive`],
        ["strayFile", "account-old.state"],
      ],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task run with a deleted archive exits 1 saying what to do, and makes no new account", async () => {
  const dir = await Deno.makeTempDir({ prefix: "faults-cli-archive-" });
  try {
    const daemon = await openUdpDaemon({
      dataDir: dir,
      scryptLog2N: 10,
      links: false,
    });
    const a = await daemon.createAccount();
    await daemon.config.addContact(a, CAROL);
    await daemon.stop();
    await Deno.remove(`${dir}/account-${a}.archive`);
    const errors: string[] = [];
    const original = console.error;
    console.error = (line: string) => errors.push(line);
    let code: number;
    try {
      code = await main([
        "--data-dir",
        dir,
        "--no-passphrase",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--bootstrap",
        "none",
      ]);
    } finally {
      console.error = original;
    }
    assert.equal(code, 1);
    assert.match(errors.join("\n"), /MissingArchiveError: .*Restore/);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.ok(!names.some((n) => n.endsWith(".archive")), names.join());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
