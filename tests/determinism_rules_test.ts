/**
 * The ground rule that makes simulations replay: nothing in lib/ reads the
 * wall clock, schedules real timers or draws unseeded randomness, except the
 * adapters made for it. This test reads the sources and fails on a violation.
 */
import assert from "node:assert/strict";

const ALLOWED = new Set(["system_clock.ts", "system_random.ts"]);
const FORBIDDEN = [
  /\bDate\.now\s*\(/,
  /\bnew Date\s*\(\s*\)/,
  /\bsetTimeout\s*\(/,
  /\bsetInterval\s*\(/,
  /\bMath\.random\s*\(/,
  /\bperformance\.now\s*\(/,
  /\bcrypto\.getRandomValues\s*\(/,
];

async function* sources(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* sources(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}

function codeLines(text: string): string[] {
  // Drop comment lines (doc examples may mention what code must not do).
  return text.split("\n").filter((line) => {
    const trimmed = line.trim();
    return !trimmed.startsWith("*") && !trimmed.startsWith("//") &&
      !trimmed.startsWith("/*");
  });
}

Deno.test("lib/ never reads the wall clock, real timers or unseeded randomness outside the adapters", async () => {
  const violations: string[] = [];
  let files = 0;
  for await (const url of sources(new URL("../lib/", import.meta.url))) {
    files += 1;
    const name = url.pathname.split("/").at(-1)!;
    if (ALLOWED.has(name)) continue;
    const lines = codeLines(await Deno.readTextFile(url));
    for (const line of lines) {
      for (const pattern of FORBIDDEN) {
        if (pattern.test(line)) violations.push(`${name}: ${line.trim()}`);
      }
    }
  }
  assert.ok(files > 20, `only ${files} files scanned`);
  assert.deepEqual(violations, []);
});

Deno.test("lib/ does not import the simulator", async () => {
  const violations: string[] = [];
  for await (const url of sources(new URL("../lib/", import.meta.url))) {
    for (const line of codeLines(await Deno.readTextFile(url))) {
      if (/^\s*(import|export)\b.*["'][^"']*\/sim\//.test(line)) {
        violations.push(`${url.pathname}: ${line.trim()}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});
