/**
 * Issue 18: a node killed with SIGKILL at random moments loses no write it
 * acknowledged. The node runs as `deno task run` does (the task's own
 * command line, run directly so that the kill reaches the node and not a
 * wrapper), on 127.0.0.1 with no bootstrap and a temporary data directory.
 * Each round adds contacts through the console, waits for some of the
 * acknowledgements, kills the node at a seeded random moment, restarts it
 * and checks that every acknowledged contact is there.
 *
 * KILL9_ITERATIONS (default 10) and KILL9_SEED (default 1) make longer or
 * other runs: `KILL9_ITERATIONS=200 deno test -A tests/cli_kill9_test.ts`.
 */
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { seededRng } from "../lib/rng.ts";
import { collectOutput } from "./_bounded_deno.ts";

const ROOT = new URL("..", import.meta.url);
const ITERATIONS = Number(Deno.env.get("KILL9_ITERATIONS") ?? "10");
const SEED = Deno.env.get("KILL9_SEED") ?? "1";
/** Longest wait for any one answer of the node. */
const WAIT_MS = 30_000;
const ACK = /^request [0-9a-f]{8} queued/gm;

/** The `run` task's arguments after `deno`. */
function taskArgs(): string[] {
  const [deno, ...args] = denoJson.tasks.run.command.split(/\s+/);
  assert.equal(deno, "deno");
  return args;
}

/** One run of the node, its stdout collected as it comes. */
class NodeProcess {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  stdout = "";
  stderr = "";
  readonly exited: Promise<Deno.CommandStatus>;

  constructor(dataDir: string) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        ...taskArgs(),
        "--data-dir",
        dataDir,
        "--no-passphrase",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--bootstrap",
        "none",
        "--no-links",
      ],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    const reading = collectOutput(this.#child, this);
    const child = this.#child;
    this.exited = (async () => {
      const status = await child.status;
      await reading;
      return status;
    })();
  }

  async send(line: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(`${line}\n`));
  }

  /** Waits until `check` holds on stdout; fails after {@link WAIT_MS}. */
  async waitFor(what: string, check: (stdout: string) => boolean) {
    const started = Date.now();
    while (!check(this.stdout)) {
      if (Date.now() - started > WAIT_MS) {
        this.kill();
        throw new Error(
          `timed out waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
    }
  }

  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    this.kill();
    await this.exited;
  }
}

function acks(stdout: string): number {
  return stdout.match(ACK)?.length ?? 0;
}

Deno.test(`deno task run killed with SIGKILL ${ITERATIONS} times loses no acknowledged contact`, async () => {
  const rng = seededRng(`kill9-${SEED}`);
  const dataDir = await Deno.makeTempDir({ prefix: "kill9-" });
  const acknowledged = new Set<string>();
  const uri = () =>
    Array.from(
      { length: 40 },
      () => "0123456789abcdef"[Math.floor(rng() * 16)],
    ).join("");
  const ready = (s: string) => s.includes('type "help" for commands');
  let node: NodeProcess | undefined;
  try {
    for (let round = 0; round <= ITERATIONS; round++) {
      node = new NodeProcess(dataDir);
      await node.waitFor("the console", ready);
      // Every acknowledged contact of the earlier rounds is there.
      const marker = `whoami`;
      await node.send("contacts");
      await node.send(marker);
      await node.waitFor("the contact list", (s) => /^device {2}/m.test(s));
      const listed = new Set(node.stdout.match(/^[0-9a-f]{40}(?= )/gm) ?? []);
      for (const contact of acknowledged) {
        assert.ok(
          listed.has(contact),
          `round ${round}: acknowledged contact ${contact} lost\n${node.stdout}`,
        );
      }
      if (round === ITERATIONS) break;
      // Some adds; wait for some of their acknowledgements; kill at a
      // random moment (between 0 and 30 ms after that).
      const sent: string[] = [];
      const adds = 1 + Math.floor(rng() * 5);
      const waitFor = Math.floor(rng() * (adds + 1));
      const before = acks(node.stdout);
      for (let i = 0; i < adds; i++) {
        const contact = uri();
        sent.push(contact);
        await node.send(`add ${contact} round ${round}`);
      }
      await node.waitFor(
        `${waitFor} acknowledgements`,
        (s) => acks(s) - before >= waitFor,
      );
      await new Promise((resolve) =>
        setTimeout(resolve, Math.floor(rng() * 30))
      );
      node.kill();
      await node.exited;
      assert.doesNotMatch(node.stdout, /^error:/m);
      // Acknowledgements come in command order.
      const acked = acks(node.stdout) - before;
      for (const contact of sent.slice(0, acked)) acknowledged.add(contact);
      node = undefined;
    }
    assert.ok(acknowledged.size > 0, "no write was acknowledged");
  } finally {
    await node?.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
