/**
 * The interop tests' gate: without OpenDHT (or jamid) they are skipped,
 * unless `CI` or `REQUIRE_OPENDHT=1` asks for them, and then they fail with a
 * message that says what to install. Method: run `deno test` on the interop
 * file in a subprocess with `DHTNODE` and `OPENDHT_PYTHON` (or `JAMID`)
 * pointing at nothing (so nothing is started), with and without
 * `REQUIRE_OPENDHT=1`.
 */
import assert from "node:assert/strict";

const INTEROP = new URL("./opendht_interop_test.ts", import.meta.url).pathname;
const JAMI_INTEROP = new URL("./jami_interop_test.ts", import.meta.url)
  .pathname;

async function runInterop(
  extra: Record<string, string>,
  file = INTEROP,
): Promise<{ code: number; output: string }> {
  const env: Record<string, string> = {
    DHTNODE: "/nonexistent/dhtnode",
    OPENDHT_PYTHON: "/nonexistent/python3",
    NO_COLOR: "1",
    ...extra,
  };
  for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--no-check", file],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    const output = await child.output();
    const text = new TextDecoder().decode(output.stdout) +
      new TextDecoder().decode(output.stderr);
    return { code: output.code, output: text };
  } finally {
    clearTimeout(killer);
  }
}

Deno.test("OpenDHT interop tests are skipped without OpenDHT when nobody requires them", async () => {
  const { code, output } = await runInterop({});
  assert.equal(code, 0, output);
  assert.match(output, /0 passed \| 0 failed \| 6 ignored/);
});

Deno.test("OpenDHT interop tests fail clearly without OpenDHT when REQUIRE_OPENDHT=1", async () => {
  const { code, output } = await runInterop({ REQUIRE_OPENDHT: "1" });
  assert.notEqual(code, 0);
  assert.match(output, /0 passed \| 6 failed/);
  assert.match(output, /dhtnode is not installed/);
  assert.match(output, /apt-get install -y dhtnode python3-opendht/);
});

Deno.test("jamid interop test is skipped without jamid when nobody requires it", async () => {
  const { code, output } = await runInterop(
    { JAMID: "/nonexistent/jamid" },
    JAMI_INTEROP,
  );
  assert.equal(code, 0, output);
  assert.match(output, /0 passed \| 0 failed \| 1 ignored/);
});

Deno.test("jamid interop test fails clearly without jamid when REQUIRE_OPENDHT=1", async () => {
  const { code, output } = await runInterop(
    { JAMID: "/nonexistent/jamid", REQUIRE_OPENDHT: "1" },
    JAMI_INTEROP,
  );
  assert.notEqual(code, 0);
  assert.match(output, /0 passed \| 1 failed/);
  assert.match(output, /missing .*jamid \(\/nonexistent\/jamid\)/);
  assert.match(
    output,
    /apt-get install -y jami-daemon dbus python3-dbus python3-gi dhtnode/,
  );
});
