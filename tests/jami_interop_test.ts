/**
 * Interoperability with the real Jami daemon (`jamid` 13.7, Debian's
 * `jami-daemon`): presence, trust requests both ways, acceptances and
 * account archives between jamid and our daemon.
 *
 * Method: this process is not in the private network the test needs, so it
 * runs `unshare --net -- deno run --allow-all tests/interop/jami_scenario.ts`
 * (as root; otherwise with `--user --map-root-user` added, where the kernel
 * allows unprivileged user namespaces). Inside a network namespace with only
 * loopback, the scenario starts a `dhtnode`, a private D-Bus bus with one
 * `jamid` bootstrapped on it, and our daemon over UDP, runs the steps of
 * `tests/interop/jami_steps.ts` and prints one JSON result per step; here
 * each becomes a `t.step` (the slow offline step is ignored unless
 * `JAMI_INTEROP_OFFLINE=1`). Whatever happens, every process the scenario reported
 * is killed by PID at the end.
 *
 * Without a network namespace, `ip`, `dhtnode`, `jamid`, `dbus-daemon`, or
 * python3-dbus and python3-gi, the test is ignored, unless `CI` or
 * `REQUIRE_OPENDHT=1` is set: then it fails and says what to install.
 */
import assert from "node:assert/strict";
import { findDhtnode } from "./interop/dhtnode_process.ts";
import { JAMI_PYTHON, JAMID } from "./interop/jamid_process.ts";
import { JAMI_STEPS, type StepResult } from "./interop/jami_steps.ts";
import { collectOutput } from "./_bounded_deno.ts";

const SCENARIO = new URL("./interop/jami_scenario.ts", import.meta.url)
  .pathname;
const ROOT = new URL("..", import.meta.url).pathname;
const REQUIRED = Deno.env.get("CI") !== undefined ||
  Deno.env.get("REQUIRE_OPENDHT") === "1";
/** The whole scenario's limit; the slow offline check adds 12 min. */
const LIMIT_MS = Deno.env.get("JAMI_INTEROP_OFFLINE") === "1"
  ? 17 * 60_000
  : 5 * 60_000;
/** Root makes the namespace itself; anyone else through a user namespace. */
const UNSHARE = Deno.uid() === 0
  ? ["--net"]
  : ["--user", "--map-root-user", "--net"];
const INSTALL =
  "apt-get install -y jami-daemon dbus python3-dbus python3-gi dhtnode";

async function succeeds(command: string, args: string[]): Promise<boolean> {
  try {
    const { code } = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** What is missing to run the scenario (empty when nothing is). */
async function missing(): Promise<string[]> {
  const gaps: string[] = [];
  if (!await succeeds("unshare", [...UNSHARE, "--", "true"])) {
    gaps.push(`\`unshare ${UNSHARE.join(" ")}\` (a network namespace)`);
  }
  if (!await succeeds("ip", ["link", "show", "lo"])) gaps.push("ip (iproute2)");
  if (findDhtnode() === undefined) gaps.push("dhtnode");
  if (!isFile(JAMID)) gaps.push(`jamid (${JAMID})`);
  if (!await succeeds("dbus-daemon", ["--version"])) gaps.push("dbus-daemon");
  if (!await succeeds(JAMI_PYTHON, ["-c", "import dbus, gi"])) {
    gaps.push(`python3-dbus and python3-gi for ${JAMI_PYTHON}`);
  }
  return gaps;
}

const GAPS = await missing();
const IGNORE = GAPS.length > 0 && !REQUIRED;

/**
 * Fills Deno's cache with the scenario's modules (npm packages included):
 * inside the namespace there is no network to fetch them.
 */
async function cacheScenario(): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["cache", SCENARIO],
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  try {
    const { code, stderr } = await child.output();
    assert.equal(
      code,
      0,
      `deno cache ${SCENARIO}: ${new TextDecoder().decode(stderr)}`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the scenario; returns its step results, PIDs and stderr. */
async function runScenario(): Promise<{
  results: Map<string, StepResult>;
  killed: boolean;
  code: number;
  stderr: string;
}> {
  const child = new Deno.Command("unshare", {
    args: [...UNSHARE, "--", Deno.execPath(), "run", "--allow-all", SCENARIO],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = { stdout: "", stderr: "" };
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, LIMIT_MS);
  const pids: number[] = [];
  try {
    await collectOutput(child, output);
    const status = await child.status;
    const results = new Map<string, StepResult>();
    for (const line of output.stdout.split("\n")) {
      if (!line.startsWith("{")) continue;
      const parsed = JSON.parse(line);
      if (typeof parsed.step === "string") results.set(parsed.step, parsed);
    }
    return { results, killed, code: status.code, stderr: output.stderr };
  } finally {
    clearTimeout(timer);
    // Leftovers of a killed scenario: dhtnode, dbus-daemon, jamid, driver.
    for (const line of output.stdout.split("\n")) {
      const match = /^\{"pid":(\d+),/.exec(line);
      if (match) pids.push(Number(match[1]));
    }
    for (const pid of new Set(pids)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    // A scenario that did not finish leaves its temporary directory.
    const dir = /^\{"dir":"([^"]+)"\}$/m.exec(output.stdout)?.[1];
    if (
      dir?.includes("jami-interop-") &&
      Deno.env.get("JAMI_INTEROP_KEEP") !== "1"
    ) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
}

Deno.test({
  name: "Jami interop: jamid 13.7 and our daemon on a private loopback DHT",
  ignore: IGNORE,
  async fn(t) {
    if (GAPS.length > 0) {
      throw new Error(
        `The jamid interop test cannot run, and CI or REQUIRE_OPENDHT=1 asks for it: missing ${
          GAPS.join(", ")
        }. As root, run \`${INSTALL}\``,
      );
    }
    await cacheScenario();
    const run = await runScenario();
    const tail = () => run.stderr.split("\n").slice(-30).join("\n");
    for (const step of JAMI_STEPS) {
      const result = run.results.get(step.id);
      await t.step({
        name: step.name,
        ignore: result?.skip !== undefined,
        fn() {
          assert.ok(
            result !== undefined,
            `the scenario printed no result for ${step.id} (${
              run.killed
                ? `killed after ${LIMIT_MS} ms`
                : `exit code ${run.code}`
            }); its last lines:\n${tail()}`,
          );
          assert.ok(result.ok, `${step.id}: ${result.detail}`);
        },
      });
    }
    for (const result of run.results.values()) {
      if (result.skip !== undefined) {
        console.log(`ignored ${result.step}: ${result.skip}`);
      } else console.log(`${result.step} (${result.ms} ms): ${result.detail}`);
    }
    assert.equal(run.code, 0, `scenario exit code ${run.code}:\n${tail()}`);
  },
});
