/**
 * `deno task run`: the daemon and its console (see `cli/node.ts`, or
 * `deno task run --help`).
 *
 * @module
 */
import { main } from "./cli/node.ts";

Deno.exit(await main(Deno.args));
