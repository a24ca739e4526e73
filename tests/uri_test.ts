import assert from "node:assert/strict";
import { formatUri, parseUri } from "../lib/identity/uri.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { InvalidUriError } from "../lib/identity/errors.ts";
import { seededRng } from "../lib/rng.ts";
import { thrown } from "./_thrown.ts";

const HEX = "bf5f1e21d3eb2c1246946aa49d5dcf3e5b9cb1b9";
const UPPER = HEX.toUpperCase();
const MIXED = "Bf5F1e21D3eb2C1246946aA49d5dCF3e5B9cB1b9";

const GOOD: readonly string[] = [
  HEX,
  UPPER,
  MIXED,
  `jami:${HEX}`,
  `jami:${UPPER}`,
  `ring:${HEX}`,
  `sips:${HEX}`,
  `JAMI:${HEX}`,
  `Ring:${MIXED}`,
  `SIPS:${HEX}`,
  `jami://${HEX}`,
  `ring:///${HEX}`,
  `jami:/${HEX}`,
  `sips:${HEX}@ring.dht`,
  `sips:${HEX}@192.168.1.2:5061`,
  `sips://${UPPER}@host`,
  `  ${HEX}  `,
  `\tjami:${HEX}\n`,
  ` ring://${MIXED} `,
];

for (const input of GOOD) {
  Deno.test(`parseUri() accepts ${JSON.stringify(input)}`, () => {
    assert.equal(parseUri(input).toString(), HEX);
  });
}

const LONG = "jami:" + HEX + "0".repeat(300);

const BAD: readonly string[] = [
  "",
  "   ",
  HEX.slice(0, 39),
  HEX + "0",
  HEX.slice(0, 39) + "g",
  HEX.slice(0, 39) + "Z",
  `http:${HEX}`,
  `https://${HEX}`,
  `jami:`,
  `jami://`,
  `jami:${HEX}extra`,
  `jami:${HEX}@host`,
  `ring:${HEX}@host`,
  `${HEX}@host`,
  `sips:@host`,
  `sips:${HEX.slice(0, 39)}@host`,
  `${HEX.slice(0, 20)} ${HEX.slice(20)}`,
  `jami: ${HEX}`,
  `jami:jami:${HEX}`,
  `jami:0x${HEX.slice(2)}`,
  `jam:${HEX}`,
  `${HEX.slice(0, 20)}\n${HEX.slice(20)}`,
];

for (const input of BAD) {
  Deno.test(`parseUri() throws InvalidUriError naming the input for ${JSON.stringify(input)}`, () => {
    assert.throws(() => parseUri(input), InvalidUriError);
    const error = thrown(() => parseUri(input), InvalidUriError);
    assert.ok(error instanceof TypeError, "InvalidUriError is a TypeError");
    assert.equal(error.input, input);
    assert.ok(error.message.includes(`"${input}"`), error.message);
  });
}

Deno.test("parseUri() throws InvalidUriError for a very long string, naming its first 256 characters", () => {
  assert.throws(() => parseUri(LONG), InvalidUriError);
  const error = thrown(() => parseUri(LONG), InvalidUriError);
  // The input is cut so that a huge paste does not end up in logs whole.
  assert.equal(error.input, LONG.slice(0, 256) + "…");
  assert.ok(error.message.includes(LONG.slice(0, 256)));
  assert.ok(error.message.length < 400);
  // Even a valid id padded with whitespace beyond 256 characters is refused.
  assert.throws(() => parseUri(" ".repeat(300) + HEX), InvalidUriError);
});

Deno.test("parseUri() throws InvalidUriError for input that is not text", () => {
  for (
    const input of [undefined, null, 42, {}, InfoHash.fromHex(HEX)] as unknown[]
  ) {
    assert.throws(
      () => parseUri(input as string),
      InvalidUriError,
      String(input),
    );
  }
});

Deno.test("formatUri() gives jami: and lowercase hex, and parseUri() reads it back", () => {
  const id = InfoHash.fromHex(UPPER);
  assert.equal(formatUri(id), `jami:${HEX}`);
  assert.ok(parseUri(formatUri(id)).equals(id));
  const rng = seededRng(400);
  for (let i = 0; i < 100; i++) {
    const random = InfoHash.random(rng);
    const uri = formatUri(random);
    assert.match(uri, /^jami:[0-9a-f]{40}$/);
    assert.ok(parseUri(uri).equals(random));
  }
});
