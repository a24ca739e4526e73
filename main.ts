/**
 * `deno task run`: the node and its console.
 *
 * The DHT node and the console arrive with the networking issues; until then
 * this entry point prints its help, and `--identity` creates a throw-away
 * identity in memory to show what the identity layer produces.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  AccountKeys,
  DeviceCertificate,
  DeviceKeys,
  formatUri,
  InfoHash,
  systemClock,
  systemRandomBytes,
} from "./mod.ts";

const USAGE = `Usage: deno task run [options]

Runs a contact-management node over the DHT.

Options:
  --identity   create a throw-away account and device in memory and print them
  -h, --help   show this help

Status: the identity layer (keys, certificates, signed records, sealed boxes,
account archive) is ready; the DHT node, the console and the demo come next.
`;

function main(args: string[]): number {
  let values: { identity?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        identity: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!values.identity) {
    console.log(USAGE);
    return 0;
  }
  const account = AccountKeys.generate(systemRandomBytes);
  const device = DeviceKeys.generate(systemRandomBytes);
  const certificate = DeviceCertificate.issue(account, device, {
    name: "console",
    issuedMs: systemClock.now(),
  });
  console.log(`account  ${formatUri(account.id)}`);
  console.log(`device   ${device.id}`);
  console.log(`inbox    ${InfoHash.get("inbox:" + device.id.toString())}`);
  console.log(`certificate ${certificate.bytes.length} bytes`);
  return 0;
}

Deno.exit(main(Deno.args));
