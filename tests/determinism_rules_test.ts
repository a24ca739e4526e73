/**
 * The ground rules that make simulations replay and keep the layers apart,
 * checked by reading the sources:
 *
 * - nothing in lib/ reads the wall clock, schedules real timers or draws
 *   unseeded randomness, except the adapters in lib/io/;
 * - only lib/io/ touches the operating system or the platform's crypto
 *   (`Deno.*`, `crypto.subtle`, `crypto.getRandomValues`, `node:` modules);
 * - nothing in lib/ imports the simulator, however the import is written.
 */
import assert from "node:assert/strict";

const LIB = new URL("../lib/", import.meta.url);
const IO = new URL("../lib/io/", import.meta.url);
const SIM = new URL("../sim/", import.meta.url);

const CLOCK_AND_RANDOMNESS = [
  /\bDate\.now\s*\(/,
  /\bnew Date\s*\(\s*\)/,
  /\bsetTimeout\s*\(/,
  /\bsetInterval\s*\(/,
  /\bMath\.random\s*\(/,
  /\bperformance\.now\s*\(/,
  /\bcrypto\.getRandomValues\s*\(/,
];
const OPERATING_SYSTEM = [
  /\bDeno\./,
  /\bcrypto\.subtle\b/,
  /\bcrypto\.getRandomValues\b/,
  /["']node:[^"']+["']/,
];

async function* sources(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* sources(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}

/** The code of a module with its comments blanked out (doc examples may
 * mention what code must not do). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(
    /(^|[^:])\/\/.*$/gm,
    "$1",
  );
}

function inIo(url: URL): boolean {
  return url.href.startsWith(IO.href);
}

function relative(url: URL): string {
  return url.href.slice(LIB.href.length);
}

Deno.test("lib/ never reads the wall clock, real timers or unseeded randomness outside lib/io/", async () => {
  const violations: string[] = [];
  let files = 0;
  for await (const url of sources(LIB)) {
    files += 1;
    if (inIo(url)) continue;
    for (const line of code(await Deno.readTextFile(url)).split("\n")) {
      for (const pattern of CLOCK_AND_RANDOMNESS) {
        if (pattern.test(line)) {
          violations.push(`${relative(url)}: ${line.trim()}`);
        }
      }
    }
  }
  assert.ok(files > 20, `only ${files} files scanned`);
  assert.deepEqual(violations, []);
});

Deno.test("only lib/io/ touches Deno, Web Crypto, system randomness or node: modules", async () => {
  const violations: string[] = [];
  let ioFiles = 0;
  for await (const url of sources(LIB)) {
    if (inIo(url)) {
      ioFiles += 1;
      continue;
    }
    for (const line of code(await Deno.readTextFile(url)).split("\n")) {
      for (const pattern of OPERATING_SYSTEM) {
        if (pattern.test(line)) {
          violations.push(`${relative(url)}: ${line.trim()}`);
        }
      }
    }
  }
  assert.ok(ioFiles >= 5, `only ${ioFiles} files in lib/io/`);
  assert.deepEqual(violations, []);
});

Deno.test("lib/ does not import the simulator, even through a multi-line or dynamic import", async () => {
  const violations: string[] = [];
  for await (const url of sources(LIB)) {
    const text = code(await Deno.readTextFile(url));
    for (const match of text.matchAll(/["'](\.{1,2}\/[^"'\n]+)["']/g)) {
      if (new URL(match[1], url).href.startsWith(SIM.href)) {
        violations.push(`${relative(url)}: ${match[1]}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

Deno.test("the source rules catch what they forbid", () => {
  // The checks above pass on clean code; these inputs prove they can fail.
  const multiLine = code(
    'import {\n  SimNetwork,\n} from "../../sim/network.ts";\n// import "../sim/x.ts"',
  );
  const specifiers = [...multiLine.matchAll(/["'](\.{1,2}\/[^"'\n]+)["']/g)]
    .map((match) => new URL(match[1], new URL("dht/x.ts", LIB)).href);
  assert.deepEqual(specifiers, [new URL("network.ts", SIM).href]);
  const hits = (line: string) =>
    OPERATING_SYSTEM.some((pattern) => pattern.test(code(line)));
  assert.ok(hits('import dgram from "node:dgram";'));
  assert.ok(hits("await Deno.readFile(path);"));
  assert.ok(hits("await crypto.subtle.digest('SHA-1', data);"));
  assert.ok(hits("crypto.getRandomValues(bytes);"));
  assert.ok(!hits("// Deno.readFile is not called here"));
  assert.ok(!hits(" * await Deno.readFile(path);".replace(" *", "/*") + " */"));
});
