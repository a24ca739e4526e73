/**
 * `deno task run`: flags, the console over a real UDP socket on loopback,
 * the account kept across runs, and the demo.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);

async function run(args: string[], stdin = "") {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "main.ts", ...args],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const output = await child.output();
  clearTimeout(timer);
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("deno task run: --help exits 0, a bad flag exits 2 with the usage", async () => {
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: deno task run/);
  assert.match(help.stdout, /accept <uri>/);
  const bad = await run(["--bogus"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Usage: deno task run/);
  assert.equal((await run(["--port", "99999"])).code, 2);
  assert.equal((await run(["--bootstrap", "not an address"])).code, 2);
});

Deno.test("deno task run: the console answers, the account is kept across runs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const passphrase = `${dir}/passphrase`;
    await Deno.writeTextFile(passphrase, "correct horse\n");
    const args = [
      "--data-dir",
      `${dir}/data`,
      "--passphrase-file",
      passphrase,
      "--bootstrap",
      "none",
      "--port",
      "0",
      "--host",
      "127.0.0.1",
    ];
    const first = await run(
      args,
      "whoami\ncontacts\nadd jami:nonsense\nadd " + "c".repeat(40) +
        " hello\ncontacts\nstatus busy\nbogus\nquit\n",
    );
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /created a new account/);
    const account = /account (jami:[0-9a-f]{40})/.exec(first.stdout)?.[1];
    assert.ok(account, first.stdout);
    assert.match(first.stdout, /no contact/);
    assert.match(first.stdout, /error: .*nonsense/);
    assert.match(first.stdout, /request [0-9a-f]{8} queued/);
    assert.match(first.stdout, new RegExp(`${"c".repeat(40)} pending`));
    assert.match(first.stdout, /note set: "busy"/);
    assert.match(first.stdout, /error: unknown command "bogus"/);
    const second = await run(args, "whoami\ncontacts\nquit\n");
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stdout, /created a new account/);
    assert.ok(second.stdout.includes(`account ${account}`), second.stdout);
    assert.match(second.stdout, new RegExp(`${"c".repeat(40)} pending`));
    // A wrong passphrase is refused, not a crash or a new account.
    await Deno.writeTextFile(passphrase, "wrong\n");
    const wrong = await run(args, "quit\n");
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /WrongPassphraseError|passphrase/i);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task run --demo: request, acceptance, presence and goodbye on loopback", async () => {
  const demo = await run(["--demo"]);
  assert.equal(demo.code, 0, demo.stdout + demo.stderr);
  for (
    const step of [
      /alice sees bob online \(DHT\) "on the train"/,
      /bob gets a request from alice/,
      /contact confirmed on both sides/,
      /alice sees bob offline/,
      /done/,
    ]
  ) assert.match(demo.stdout, step);
});
