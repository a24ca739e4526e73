/**
 * `lib/io/_sockaddr.ts`: IP text to socket-address bytes and back, as the
 * kernel and Deno name addresses. Goal: every host the mmsg transport
 * reports is the text Deno's own sockets would report (RFC 5952), and
 * nothing but an IP address is ever written into a socket address.
 * Method: hand-picked vectors, the WHATWG URL serializer (which compresses
 * IPv6 the same way) as an oracle on seeded random addresses, and a list of
 * invalid inputs.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_INET6,
  formatIpv6,
  parseIpv4,
  parseIpv6,
  readSockaddr,
  SOCKADDR_BYTES,
  writeSockaddr,
} from "../lib/io/_sockaddr.ts";
import { seededRng } from "../lib/rng.ts";

function hexOf(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined
    ? undefined
    : [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

Deno.test("parseIpv6() and formatIpv6(): vectors in RFC 5952 form", () => {
  const vectors: [string, string, string][] = [
    ["::", "00000000000000000000000000000000", "::"],
    ["::1", "00000000000000000000000000000001", "::1"],
    ["1::", "00010000000000000000000000000000", "1::"],
    ["2001:DB8::1", "20010db8000000000000000000000001", "2001:db8::1"],
    [
      "2001:db8:0:0:1:0:0:1",
      "20010db8000000000001000000000001",
      "2001:db8::1:0:0:1",
    ],
    ["2001:0:0:1:0:0:0:1", "20010000000000010000000000000001", "2001:0:0:1::1"],
    ["1:0:2:3:4:5:6:7", "00010000000200030004000500060007", "1:0:2:3:4:5:6:7"],
    ["1:2:3:4:5:6:7::", "00010002000300040005000600070000", "1:2:3:4:5:6:7:0"],
    ["fe80::1:2:3:4", "fe800000000000000001000200030004", "fe80::1:2:3:4"],
    [
      "64:ff9b::1.2.3.4",
      "0064ff9b000000000000000001020304",
      "64:ff9b::102:304",
    ],
  ];
  for (const [text, hex, formatted] of vectors) {
    const bytes = parseIpv6(text);
    assert.equal(hexOf(bytes), hex, text);
    assert.equal(formatIpv6(bytes!, 0), formatted, text);
  }
});

Deno.test("formatIpv6(): the WHATWG URL serializer's text on 2,000 seeded addresses, and parseIpv6() reads it back", () => {
  const rng = seededRng("sockaddr");
  for (let n = 0; n < 2_000; n++) {
    const bytes = new Uint8Array(16);
    // Groups are mostly zero, so runs of every length and position appear.
    for (let group = 0; group < 8; group++) {
      if (rng() < 0.5) continue;
      const value = Math.floor(rng() * 0x10000);
      bytes[2 * group] = value >> 8;
      bytes[2 * group + 1] = value & 0xff;
    }
    if (bytes.subarray(0, 10).every((byte) => byte === 0)) bytes[0] = 0x20;
    const text = formatIpv6(bytes, 0);
    assert.equal(text, new URL(`http://[${text}]/`).hostname.slice(1, -1));
    assert.equal(hexOf(parseIpv6(text)), hexOf(bytes));
  }
});

Deno.test("parseIpv4() and parseIpv6() reject everything that is not an address", () => {
  for (
    const text of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "01.2.3.4",
      "1.2.3.-4",
      " 1.2.3.4",
      "1.2.3.4 ",
      "0x1.2.3.4",
      "localhost",
    ]
  ) assert.equal(parseIpv4(text), undefined, text);
  for (
    const text of [
      "",
      ":",
      ":::",
      "::1::",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7::8",
      "12345::",
      "g::",
      "[::1]",
      "fe80::1%eth0",
      "1.2.3.4::",
      "::1.2.3.4:5",
      "::256.1.1.1",
      "1:2:3:4:5:6:7:1.2.3.4",
      "localhost",
      "1".repeat(46),
    ]
  ) assert.equal(parseIpv6(text), undefined, text);
  assert.equal(hexOf(parseIpv4("0.0.0.0")), "00000000");
  assert.equal(hexOf(parseIpv4("255.255.255.255")), "ffffffff");
});

Deno.test("writeSockaddr() and readSockaddr(): both families, IPv4 mapped on an IPv6 socket and named by its IPv4 address", () => {
  const bytes = new Uint8Array(SOCKADDR_BYTES);
  assert.equal(writeSockaddr(bytes, 0, "192.0.2.7", 4222, false), 16);
  assert.equal(bytes[0], AF_INET);
  assert.deepEqual(readSockaddr(bytes, 0), { host: "192.0.2.7", port: 4222 });
  assert.equal(writeSockaddr(bytes, 0, "192.0.2.7", 65535, true), 28);
  assert.equal(bytes[0], AF_INET6);
  assert.deepEqual(readSockaddr(bytes, 0), { host: "192.0.2.7", port: 65535 });
  assert.equal(writeSockaddr(bytes, 0, "::ffff:192.0.2.8", 1, false), 16);
  assert.deepEqual(readSockaddr(bytes, 0), { host: "192.0.2.8", port: 1 });
  assert.equal(writeSockaddr(bytes, 0, "2001:db8::9", 80, true), 28);
  assert.deepEqual(readSockaddr(bytes, 0), { host: "2001:db8::9", port: 80 });
  // What an IPv4 socket cannot reach, and names, are refused.
  assert.equal(writeSockaddr(bytes, 0, "2001:db8::9", 80, false), 0);
  assert.equal(writeSockaddr(bytes, 0, "localhost", 80, true), 0);
  // A family the transports do not know (AF_UNIX) is no address.
  bytes.fill(0);
  bytes[0] = 1;
  assert.equal(readSockaddr(bytes, 0), undefined);
});
