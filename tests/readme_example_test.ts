/**
 * The package as a user's project sees it: a directory outside the
 * repository whose own `deno.json` maps the package name to this checkout.
 * The README's library example (its `deno.json`, its `main.ts` and its run
 * command, read from README.md itself) must run and exit by itself, and
 * every entry point listed in this package's `exports` must load from there.
 */
import assert from "node:assert/strict";
import { runDenoBounded } from "./_bounded_deno.ts";

const ROOT = new URL("../", import.meta.url);
const PACKAGE = "@jami-contacts/dht-contacts";

/** The fenced blocks of one README section, by language. */
async function readmeSection(heading: string) {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README has no "## ${heading}" section`);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks = new Map<string, string>();
  for (const match of section.matchAll(/```(\w+)\n([\s\S]*?)```/g)) {
    if (!blocks.has(match[1])) blocks.set(match[1], match[2]);
  }
  return blocks;
}

/** Runs `deno <args>` in a fresh directory holding `files`, bounded in time. */
async function runProject(
  files: Record<string, string>,
  args: string[],
  limitMs: number,
) {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    return await runDenoBounded(dir, args, limitMs, { NO_COLOR: "1" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("README: the library example runs from a project outside the repository and exits by itself", async () => {
  const blocks = await readmeSection("Use it as a library");
  const denoJson = blocks.get("json");
  const main = blocks.get("ts");
  const command = blocks.get("sh");
  assert.ok(denoJson && main && command, "json, ts and sh blocks expected");
  // The README's checkout sits next to the project; ours is where it is.
  assert.match(denoJson, /"\.\.\/dht-contacts\//);
  const imports = JSON.parse(
    denoJson.replaceAll('"../dht-contacts/', `"${new URL(".", ROOT).href}`),
  );
  const [deno, ...args] = command.trim().split(/\s+/);
  assert.equal(deno, "deno");
  assert.equal(args.at(-1), "main.ts");

  const result = await runProject(
    { "deno.json": JSON.stringify(imports), "main.ts": main },
    args,
    60_000,
  );
  assert.equal(result.killed, false, "the example did not exit by itself");
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split("\n");
  assert.ok(lines.includes("bob: request: Hi Bob"), result.stdout);
  assert.ok(
    lines.some((line) => /^alice: bob's status is [12]$/.test(line)),
    result.stdout,
  );
  assert.equal(lines.at(-1), "alice: confirmed true");
});

Deno.test("every entry point in deno.json's exports loads from a project outside the repository", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  );
  const exports = config.exports as Record<string, string>;
  const names = Object.keys(exports).map((key) => PACKAGE + key.slice(1));
  const imports = Object.fromEntries(
    Object.entries(exports).map((
      [key, path],
    ) => [PACKAGE + key.slice(1), new URL(path, ROOT).href]),
  );
  const script = `for (const name of ${JSON.stringify(names)}) {
  const module = await import(name);
  console.log(name, Object.keys(module).sort().join(","));
}`;
  const result = await runProject(
    { "deno.json": JSON.stringify({ imports }), "main.ts": script },
    ["run", "--allow-read", "--allow-env", "main.ts"],
    60_000,
  );
  assert.equal(result.killed, false);
  assert.equal(result.code, 0, result.stderr);
  const loaded = new Map(
    result.stdout.trim().split("\n").map((line) => {
      const [name, symbols] = line.split(" ");
      return [name, new Set(symbols.split(","))];
    }),
  );
  assert.deepEqual([...loaded.keys()], names);
  const expected: Record<string, string[]> = {
    "": ["Daemon", "openUdpDaemon", "PresenceManager", "InfoHash", "DhtNode"],
    "/identity": ["InfoHash", "AccountKeys", "sealBox", "openSealedBox"],
    "/dht": ["DhtNode", "RoutingTable", "BUILT_IN_VALUE_TYPES"],
    "/testing": [
      "ManualClock",
      "MemoryStorage",
      "memoryStreamNetwork",
      "SimulatedNetwork",
      "Testnet",
    ],
  };
  for (const [suffix, symbols] of Object.entries(expected)) {
    const found = loaded.get(PACKAGE + suffix);
    assert.ok(found, `${PACKAGE + suffix} is not an entry point`);
    for (const symbol of symbols) {
      assert.ok(found.has(symbol), `${PACKAGE + suffix} lacks ${symbol}`);
    }
  }
});
