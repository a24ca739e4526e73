/**
 * `deno task sim`: the network simulator's runner.
 *
 * The simulator (virtual-time engine, simulated network, churn, scenarios)
 * is the subject of the DHT issue; this runner lists what exists so far.
 *
 * @module
 */
import { parseArgs } from "node:util";

const SCENARIOS: readonly string[] = [];

const USAGE = `Usage: deno task sim <scenario> [--nodes N] [--seed S] [--json]

Runs a scenario on the in-process network simulator.

Scenarios available: ${
  SCENARIOS.length === 0 ? "none yet" : SCENARIOS.join(", ")
}
(lookup, storage, presence and inbox are planned).
`;

function main(args: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const scenario = parsed.positionals[0];
  if (parsed.values.help || scenario === undefined) {
    console.log(USAGE);
    return 0;
  }
  console.error(`Unknown scenario "${scenario}"\n\n${USAGE}`);
  return 2;
}

Deno.exit(main(Deno.args));
