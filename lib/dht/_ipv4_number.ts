/**
 * `ipv4Number`: a dotted-quad IPv4 host as one number, for keys that must
 * cost no string work per datagram (write tokens, repliers' votes), and
 * `strictIpv4Number` for the wire's address writers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipv4Number } from "./_ipv4_number.ts";
 *
 * assert.equal(ipv4Number("10.0.0.1"), 0x0a00_0001);
 * assert.equal(ipv4Number("::1"), -1);
 * ```
 *
 * @module
 */

/**
 * The 32 bits of a dotted-quad IPv4 host, or -1 if `host` is anything else.
 * Each group is taken modulo 256, as a Uint8Array stores it: a write token
 * made from the number is the token of the bytes. Hosts that transports
 * report are canonical dotted quads, so two of them never share a number.
 *
 * @param host Host text.
 * @returns 0 to 2^32 - 1, or -1.
 */
export function ipv4Number(host: string): number {
  return readIpv4(host, false);
}

/**
 * {@link ipv4Number} for writers of the wire's addresses: -1 also when a
 * group is above 255, which no IPv4 address has.
 *
 * @param host Host text.
 * @returns 0 to 2^32 - 1, or -1.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { strictIpv4Number } from "./_ipv4_number.ts";
 *
 * assert.equal(strictIpv4Number("192.168.1.255"), 0xc0a8_01ff);
 * assert.equal(strictIpv4Number("192.168.1.256"), -1);
 * ```
 */
export function strictIpv4Number(host: string): number {
  return readIpv4(host, true);
}

function readIpv4(host: string, strict: boolean): number {
  // Four groups of 1 to 3 digits, parsed by hand: this runs for every token
  // made or looked up, every vote on our address, and every address a
  // reply's node list or seen address carries.
  let number = 0;
  let group = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i < host.length; i++) {
    const code = host.charCodeAt(i);
    if (code >= 0x30 && code <= 0x39 && digits < 3) {
      value = value * 10 + code - 0x30;
      digits++;
    } else if (code === 0x2e && digits > 0 && group < 3) {
      if (strict && value > 255) return -1;
      number = number * 256 + (value & 0xff);
      group++;
      value = 0;
      digits = 0;
    } else return -1;
  }
  if (group !== 3 || digits === 0 || (strict && value > 255)) return -1;
  return number * 256 + (value & 0xff);
}
