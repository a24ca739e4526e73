/**
 * Temporary directories for tests that write real files: made fresh for one
 * test body and removed afterwards whatever happens, and listed in a stable
 * order for assertions.
 *
 * @module
 */

/** Makes a temporary directory named from `prefix`, runs `body` in it and always removes it. */
export async function withTempDir(
  prefix: string,
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The names of the entries in `dir`, sorted. */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}
