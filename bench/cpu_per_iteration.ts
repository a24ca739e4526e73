/**
 * Runs the `Deno.bench` cases of a bench file in a plain loop and prints the
 * CPU time (user + system, all threads of the process) per iteration: on a
 * shared machine, where `deno bench`'s wall-clock figures move with the
 * other jobs, the CPU a request costs is the steadier figure. Also the way
 * to profile a bench (`deno bench` has no `--cpu-prof`):
 *
 * ```sh
 * deno run -A bench/cpu_per_iteration.ts bench/dht_request_path_bench.ts put
 * deno run -A --cpu-prof bench/cpu_per_iteration.ts bench/dht_request_path_bench.ts get 200000
 * ```
 *
 * Arguments: the bench file, a part of the names of the cases to run (all
 * when absent), and the iterations measured (100,000 by default, after a
 * fifth as many to warm up).
 *
 * @module
 */
import process from "node:process";
import { pathToFileURL } from "node:url";

const [file, filter = "", countText = "100000"] = Deno.args;
if (file === undefined) {
  console.error(
    "usage: cpu_per_iteration.ts <bench file> [name filter] [iterations]",
  );
  Deno.exit(2);
}
const count = Number(countText);
const cases: { name: string; fn: () => void }[] = [];
// The bench file's cases are collected instead of run by `deno bench`.
Object.defineProperty(Deno, "bench", {
  value: (name: string, fn: () => void) => cases.push({ name, fn }),
});
await import(pathToFileURL(await Deno.realPath(file)).href);
for (const { name, fn } of cases) {
  if (!name.includes(filter)) continue;
  for (let i = 0; i < count / 5; i++) fn();
  const start = process.cpuUsage();
  const startMs = performance.now();
  for (let i = 0; i < count; i++) fn();
  const wallMs = performance.now() - startMs;
  const cpu = process.cpuUsage(start);
  console.log(
    `${name}: ${((cpu.user + cpu.system) / count).toFixed(2)} µs CPU, ${
      (1000 * wallMs / count).toFixed(2)
    } µs wall per iteration`,
  );
}
