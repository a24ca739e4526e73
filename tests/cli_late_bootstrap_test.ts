/**
 * A node started before its bootstrap name resolves, as on a laptop whose
 * network is not up yet: Bob runs `deno task run --bootstrap alice.test:PORT
 * --json` in a mount namespace of his own, whose `/etc/hosts` (a copy bound
 * over it) lacks the name. He reports the name unresolved and waits; once the
 * test adds the name to that file, he resolves it, joins Alice's node and sees
 * her at status 1. Everything on 127.0.0.1, every wait bounded, both nodes
 * killed at the end.
 *
 * Needs root (a private mount namespace, `unshare` and `mount`): ignored
 * elsewhere, with the reason, unless `CI`, `REQUIRE_OPENDHT=1` or
 * `REQUIRE_NETNS=1` is set, when it fails instead.
 */
import assert from "node:assert/strict";
import {
  type JsonEvent,
  JsonNodeProcess,
} from "./interop/json_node_process.ts";
import { ROOT_TESTS_REQUIRED } from "./interop/netns_topology.ts";

const ROOT = new URL("..", import.meta.url).pathname;

async function unavailable(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return "not Linux";
  if (Deno.uid() !== 0) return "not root";
  try {
    const probe = await new Deno.Command("unshare", {
      args: ["--mount", "--propagation", "private", "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    return probe.success ? undefined : "unshare --mount failed";
  } catch {
    return "no unshare";
  }
}

const missing = await unavailable();
if (missing !== undefined && ROOT_TESTS_REQUIRED) {
  throw new Error(
    `cli_late_bootstrap_test needs a mount namespace: ${missing}`,
  );
}

Deno.test({
  name:
    "deno task run: a bootstrap name that resolves only later is looked up again, and the node joins through it",
  ignore: missing !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const hosts = `${dir}/hosts`;
    await Deno.copyFile("/etc/hosts", hosts);
    const common = ["--no-passphrase", "--host", "127.0.0.1", "--port", "0"];
    const alice = JsonNodeProcess.start({
      cwd: ROOT,
      args: ["--data-dir", `${dir}/alice`, ...common, "--bootstrap", "none"],
    });
    let bob: JsonNodeProcess | undefined;
    try {
      const { event: started } = await alice.waitFor(
        "Alice's start",
        (e) => e.type === "started",
        { timeoutMs: 30_000 },
      );
      const port = String(started.address).split(":").at(-1);
      const aliceId = String(started.account).replace(/^jami:/, "");
      bob = JsonNodeProcess.start({
        cwd: ROOT,
        args: [
          "--data-dir",
          `${dir}/bob`,
          ...common,
          "--bootstrap",
          `alice.test:${port}`,
        ],
        // Bob's own /etc/hosts: the copy, bound over it in his namespace.
        wrapper: [
          "unshare",
          "--mount",
          "--propagation",
          "private",
          "sh",
          "-c",
          'mount --bind "$0" /etc/hosts && exec "$@"',
          hosts,
        ],
      });
      await bob.waitFor(
        "the unresolved name",
        (e) => e.type === "bootstrapUnresolved" && e.host === "alice.test",
        { timeoutMs: 30_000 },
      );
      await bob.waitFor("Bob's start", (e) => e.type === "started", {
        timeoutMs: 30_000,
      });
      await bob.command(`add jami:${aliceId} hello`, 10_000);
      // The network comes up: the name resolves from now on.
      await Deno.writeTextFile(hosts, "127.0.0.1 alice.test\n", {
        append: true,
      });
      const resolvedAt = performance.now();
      const { event: resolved } = await bob.waitFor(
        "the name resolved",
        (e) => e.type === "bootstrapResolved" && e.host === "alice.test",
        { timeoutMs: 30_000 },
      );
      assert.deepEqual(resolved.addresses, [`127.0.0.1:${port}`]);
      const { atMs } = await bob.waitFor(
        "Alice at status 1",
        (e: JsonEvent) =>
          e.type === "presence" && e.buddy === aliceId && e.status === 1,
        { timeoutMs: 30_000 },
      );
      console.log(
        `Bob saw Alice ${
          Math.round(atMs - resolvedAt)
        } ms after her name resolved`,
      );
    } finally {
      alice.kill();
      bob?.kill();
      await alice.exited;
      await bob?.exited;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
