/**
 * A `deno` subprocess as a user would start it, bounded in time: tests that
 * check a user's project or script exits by itself run it through here, so
 * one that hangs is killed with SIGKILL instead of hanging the suite. Tests
 * that drive a long-running child read its output through
 * {@link collectOutput}.
 *
 * @module
 */

/** What a bounded run printed and how it ended. */
export interface BoundedRun {
  /** True when the limit passed and the process was killed. */
  killed: boolean;
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno <args>` in `cwd` with piped output; SIGKILLs it after
 * `limitMs`.
 */
export async function runDenoBounded(
  cwd: string,
  args: string[],
  limitMs: number,
  env?: Record<string, string>,
): Promise<BoundedRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, limitMs);
  const output = await child.output();
  clearTimeout(timer);
  return {
    killed,
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/**
 * Appends `child`'s stdout and stderr (both piped) to `sink` as text while
 * they come; resolves once both streams have ended.
 */
export async function collectOutput(
  child: Deno.ChildProcess,
  sink: { stdout: string; stderr: string },
): Promise<void> {
  const read = async (
    stream: ReadableStream<Uint8Array>,
    into: "stdout" | "stderr",
  ) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      sink[into] += text;
    }
  };
  await Promise.all([
    read(child.stdout, "stdout"),
    read(child.stderr, "stderr"),
  ]);
}
