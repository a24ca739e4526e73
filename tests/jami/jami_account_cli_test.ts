/**
 * `deno task run --jami` as users run it (subprocesses on loopback, no
 * bootstrap, killed after a time limit): the first run creates a Jami
 * account and shows key-generation progress, later runs load it, `whoami`
 * prints the Jami id; `--import-jami-archive` with `--archive-password-env`
 * adds a device of an existing account without a terminal.
 */
import assert from "node:assert/strict";
import { exportJamiArchive } from "../../lib/jami/jami_archive.ts";
import { createJamiIdentity } from "../../lib/jami/jami_identity.ts";
import { systemRandomBytes } from "../../lib/io/system_random.ts";
import { collectOutput } from "../_bounded_deno.ts";

const ROOT = new URL("../..", import.meta.url);
const LIMIT_MS = 120_000;

async function run(
  args: string[],
  stdin: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "run", ...args],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), LIMIT_MS);
  const output = { stdout: "", stderr: "" };
  const reading = collectOutput(child, output);
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const status = await child.status;
  await reading;
  clearTimeout(killer);
  return { code: status.code, ...output };
}

const COMMON = [
  "--no-passphrase",
  "--bootstrap",
  "none",
  "--port",
  "0",
  "--host",
  "127.0.0.1",
  "--no-links",
  "--jami-bits",
  "2048",
];

Deno.test("deno task run --help documents the Jami options", async () => {
  const help = await run(["--help"], "");
  assert.equal(help.code, 0);
  for (
    const text of [
      "--jami",
      "--import-jami-archive FILE",
      "--archive-password-env VAR",
      "--jami-bits N",
    ]
  ) assert.ok(help.stdout.includes(text), text);
  assert.equal((await run(["--jami-bits", "1024"], "")).code, 2);
});

Deno.test("deno task run --jami creates a Jami account once, then loads it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await run(
      ["--jami", "--data-dir", dir, ...COMMON],
      "whoami\nquit\n",
    );
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /generating keys: /);
    const id = /created a new Jami account/.test(first.stdout) &&
      /account jami:([0-9a-f]{40}) \(Jami\)/.exec(first.stdout)?.[1];
    assert.ok(id, first.stdout);
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.ok(files.includes(`jami-${id}.identity`), files.join(","));
    const second = await run(
      ["--jami", "--data-dir", dir, ...COMMON],
      "whoami\nadd " + "a".repeat(40) + " hello\nrequests\ncontacts\nquit\n",
    );
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stdout, /created a new/);
    assert.match(second.stdout, new RegExp(`account jami:${id} \\(Jami\\)`));
    assert.match(second.stdout, /no pending request/);
    assert.match(second.stdout, new RegExp(`a{8}`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task run --import-jami-archive reads the password from the environment", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const identity = await createJamiIdentity({
      bits: 2048,
      now: Date.now(),
      random: systemRandomBytes,
    });
    const archive = await exportJamiArchive({
      accountKey: identity.accountKey,
      caKey: identity.caKey,
      accountChain: identity.accountChain,
      fields: {},
    }, "pw");
    await Deno.writeFile(`${dir}/archive.gz`, archive);
    const wrong = await run(
      [
        "--import-jami-archive",
        `${dir}/archive.gz`,
        "--archive-password-env",
        "JAMI_PW",
        "--data-dir",
        `${dir}/data`,
        ...COMMON,
      ],
      "quit\n",
      { JAMI_PW: "nope" },
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /JamiArchiveError/);
    const imported = await run(
      [
        "--import-jami-archive",
        `${dir}/archive.gz`,
        "--archive-password-env",
        "JAMI_PW",
        "--data-dir",
        `${dir}/data`,
        ...COMMON,
      ],
      "whoami\nquit\n",
      { JAMI_PW: "pw" },
    );
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(
      imported.stdout,
      new RegExp(`account jami:${identity.accountId} \\(Jami\\)`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
