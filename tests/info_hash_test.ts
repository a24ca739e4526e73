import assert from "node:assert/strict";
import {
  INFO_HASH_BITS,
  INFO_HASH_BYTES,
  InfoHash,
} from "../lib/identity/info_hash.ts";
import { sha1 } from "../lib/crypto.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";

const ABC = "a9993e364706816aba3e25717850c26c9cd0d89d"; // SHA-1("abc"), FIPS 180-2 appendix A.1

function idWithBytes(...prefix: number[]): InfoHash {
  const bytes = new Uint8Array(INFO_HASH_BYTES);
  bytes.set(prefix);
  return InfoHash.fromBytes(bytes);
}

Deno.test("InfoHash.get() hashes text as UTF-8 and bytes as given", () => {
  assert.equal(InfoHash.get("abc").toString(), ABC);
  assert.equal(
    InfoHash.get(new Uint8Array([0x61, 0x62, 0x63])).toString(),
    ABC,
  );
  // Non-ASCII text is hashed as its UTF-8 bytes.
  assert.equal(
    InfoHash.get("é").toString(),
    sha1(new Uint8Array([0xc3, 0xa9])).toHex(),
  );
});

Deno.test("InfoHash.get() of the inbox key text equals SHA-1 of that text", async () => {
  const deviceId = InfoHash.get("some device key");
  const text = "inbox:" + deviceId.toString();
  const inbox = InfoHash.get(text);
  const expected = new Uint8Array(
    await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text)),
  );
  assert.deepEqual(inbox.bytes, expected);
  assert.equal(inbox.toString(), expected.toHex());
  assert.equal(inbox.equals(deviceId), false);
});

Deno.test("InfoHash.get() throws TypeError for input that is neither text nor bytes", () => {
  for (const bad of [undefined, null, 42, {}, [1, 2, 3], new ArrayBuffer(3)]) {
    assert.throws(
      () => InfoHash.get(bad as unknown as string),
      TypeError,
      String(bad),
    );
  }
});

Deno.test("InfoHash.fromHex() accepts any case and prints lowercase", () => {
  assert.equal(InfoHash.fromHex(ABC.toUpperCase()).toString(), ABC);
  assert.equal(
    InfoHash.fromHex("A9993e364706816ABA3E25717850c26c9cd0d89D").toString(),
    ABC,
  );
  assert.ok(InfoHash.fromHex(ABC).equals(InfoHash.get("abc")));
});

Deno.test("InfoHash.fromHex() throws SyntaxError for anything but 40 hex characters", () => {
  const bad: readonly unknown[] = [
    "",
    ABC.slice(0, 39),
    ABC + "0",
    ABC.slice(0, 39) + "g",
    "0x" + ABC.slice(0, 38),
    " " + ABC,
    ABC + "\n",
    ABC.slice(0, 20) + " " + ABC.slice(21),
    "٠".repeat(40), // Arabic-Indic zero: a digit, but not a hex digit
    undefined,
    null,
    42,
    InfoHash.get("abc"),
  ];
  for (const input of bad) {
    assert.throws(
      () => InfoHash.fromHex(input as string),
      SyntaxError,
      String(input),
    );
  }
});

Deno.test("InfoHash.fromBytes() copies its input", () => {
  const bytes = Uint8Array.fromHex(ABC);
  const id = InfoHash.fromBytes(bytes);
  bytes[0] = 0;
  assert.equal(id.toString(), ABC);
  const out = id.bytes;
  out[0] = 0;
  assert.equal(id.toString(), ABC);
  assert.equal(id.byteAt(0), 0xa9);
  assert.equal(id.byteAt(19), 0x9d);
});

Deno.test("InfoHash.fromBytes() throws RangeError for 19, 21, 0 bytes and for non-bytes", () => {
  const bad: readonly unknown[] = [
    new Uint8Array(19),
    new Uint8Array(21),
    new Uint8Array(0),
    new Uint8Array(40),
    ABC,
    undefined,
    null,
    new Array(20).fill(0),
    new ArrayBuffer(20),
  ];
  for (const input of bad) {
    assert.throws(
      () => InfoHash.fromBytes(input as Uint8Array),
      RangeError,
      String(input),
    );
  }
});

Deno.test("InfoHash.toString() and toJSON() give 40 lowercase hex", () => {
  const id = InfoHash.fromHex(ABC.toUpperCase());
  assert.equal(id.toString(), ABC);
  assert.equal(`${id}`, ABC);
  assert.equal(JSON.stringify({ id }), `{"id":"${ABC}"}`);
  assert.equal(InfoHash.ZERO.toString(), "0".repeat(40));
});

Deno.test("InfoHash.equals() compares all 20 bytes", () => {
  const a = InfoHash.fromHex(ABC);
  assert.equal(a.equals(InfoHash.fromHex(ABC.toUpperCase())), true);
  for (let index = 0; index < INFO_HASH_BYTES; index++) {
    const bytes = a.bytes;
    bytes[index] ^= 1;
    assert.equal(a.equals(InfoHash.fromBytes(bytes)), false, `byte ${index}`);
  }
});

Deno.test("InfoHash.compare() orders ids by their bytes, most significant first", () => {
  const low = idWithBytes(0x00, 0xff);
  const high = idWithBytes(0x01, 0x00);
  const last = idWithBytes(...new Array(20).fill(0xff));
  assert.ok(low.compare(high) < 0);
  assert.ok(high.compare(low) > 0);
  assert.equal(low.compare(idWithBytes(0x00, 0xff)), 0);
  assert.ok(InfoHash.ZERO.compare(low) < 0);
  assert.ok(last.compare(high) > 0);
  // Only the last byte differs.
  assert.ok(
    idWithBytes(...new Array(19).fill(7), 1).compare(
      idWithBytes(...new Array(19).fill(7), 2),
    ) < 0,
  );
  const sorted = [last, high, InfoHash.ZERO, low].sort((a, b) => a.compare(b));
  assert.deepEqual(
    sorted.map(String),
    [InfoHash.ZERO, low, high, last].map(String),
  );
});

Deno.test("InfoHash.xor() gives the byte-wise XOR distance", () => {
  const a = InfoHash.fromHex("ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00");
  const b = InfoHash.fromHex("0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f");
  assert.equal(a.xor(b).toHex(), "f00ff00ff00ff00ff00ff00ff00ff00ff00ff00f");
  assert.deepEqual(a.xor(a), new Uint8Array(20));
  assert.deepEqual(a.xor(InfoHash.ZERO), a.bytes);
  assert.deepEqual(a.xor(b), b.xor(a));
});

Deno.test("InfoHash.compareDistance() says which of two ids is closer in XOR distance", () => {
  const target = idWithBytes(0x80);
  const near = idWithBytes(0x81);
  const far = idWithBytes(0x00);
  const middle = idWithBytes(0x90);
  assert.ok(target.compareDistance(near, far) < 0);
  assert.ok(target.compareDistance(far, near) > 0);
  assert.equal(target.compareDistance(near, idWithBytes(0x81)), 0);
  assert.ok(target.compareDistance(target, near) < 0);
  const sorted = [far, middle, near, target].sort((a, b) =>
    target.compareDistance(a, b)
  );
  assert.deepEqual(sorted.map(String), [target, near, middle, far].map(String));
  // Agrees with comparing the XOR distances as big-endian numbers.
  const rng = seededRng(11);
  for (let i = 0; i < 200; i++) {
    const [t, a, b] = [
      InfoHash.random(rng),
      InfoHash.random(rng),
      InfoHash.random(rng),
    ];
    const da = InfoHash.fromBytes(t.xor(a));
    const db = InfoHash.fromBytes(t.xor(b));
    assert.equal(Math.sign(t.compareDistance(a, b)), Math.sign(da.compare(db)));
  }
});

Deno.test("InfoHash.commonPrefixBits() counts shared leading bits, 160 for the same id", () => {
  const zero = InfoHash.ZERO;
  assert.equal(zero.commonPrefixBits(zero), INFO_HASH_BITS);
  assert.equal(zero.commonPrefixBits(idWithBytes(0x80)), 0);
  assert.equal(zero.commonPrefixBits(idWithBytes(0x40)), 1);
  assert.equal(zero.commonPrefixBits(idWithBytes(0x01)), 7);
  assert.equal(zero.commonPrefixBits(idWithBytes(0x00, 0x80)), 8);
  const lastBit = new Uint8Array(20);
  lastBit[19] = 1;
  assert.equal(zero.commonPrefixBits(InfoHash.fromBytes(lastBit)), 159);
  for (let bit = 0; bit < INFO_HASH_BITS; bit++) {
    const bytes = new Uint8Array(20).fill(0xff);
    bytes[bit >> 3] ^= 0x80 >> (bit & 7);
    const ones = InfoHash.fromBytes(new Uint8Array(20).fill(0xff));
    assert.equal(
      ones.commonPrefixBits(InfoHash.fromBytes(bytes)),
      bit,
      `bit ${bit}`,
    );
    assert.equal(
      InfoHash.fromBytes(bytes).commonPrefixBits(ones),
      bit,
      `bit ${bit} (reversed)`,
    );
  }
});

Deno.test("InfoHash.bit() reads bits most significant first", () => {
  const id = InfoHash.fromHex("8001" + "00".repeat(17) + "01");
  assert.equal(id.bit(0), 1);
  assert.equal(id.bit(1), 0);
  assert.equal(id.bit(7), 0);
  assert.equal(id.bit(15), 1);
  assert.equal(id.bit(14), 0);
  assert.equal(id.bit(159), 1);
  assert.equal(id.bit(158), 0);
  const abc = InfoHash.fromHex(ABC);
  let rebuilt = "";
  for (let i = 0; i < INFO_HASH_BITS; i++) rebuilt += abc.bit(i);
  assert.equal(BigInt("0b" + rebuilt).toString(16).padStart(40, "0"), ABC);
});

Deno.test("InfoHash.random() is reproducible from a seed and differs between seeds", () => {
  const a = InfoHash.random(seededRng(1));
  const b = InfoHash.random(seededRng(1));
  const c = InfoHash.random(seededRng(2));
  assert.ok(a.equals(b));
  assert.equal(a.equals(c), false);
  // Successive draws from one generator differ, and every bit position takes both values.
  const rng = seededRng(3);
  const seen = new Set<string>();
  const ones = new Array(INFO_HASH_BITS).fill(0);
  const draws = 256;
  for (let i = 0; i < draws; i++) {
    const id = InfoHash.random(rng);
    seen.add(id.toString());
    for (let bit = 0; bit < INFO_HASH_BITS; bit++) ones[bit] += id.bit(bit);
  }
  assert.equal(seen.size, draws);
  for (let bit = 0; bit < INFO_HASH_BITS; bit++) {
    assert.ok(
      ones[bit] > 64 && ones[bit] < 192,
      `bit ${bit} set ${ones[bit]} times of ${draws}`,
    );
  }
});

Deno.test("InfoHash.toString() is the bytes in lowercase hex, for any id", () => {
  const rng = seededRng("info hash hex");
  const ids = [
    new Uint8Array(20),
    new Uint8Array(20).fill(0xff),
    Uint8Array.from({ length: 20 }, (_, i) => i * 13),
    ...Array.from(
      { length: 500 },
      () => Uint8Array.from({ length: 20 }, () => Math.floor(rng() * 256)),
    ),
  ];
  for (const bytes of ids) {
    assert.equal(InfoHash.fromBytes(bytes).toString(), bytes.toHex());
  }
});

Deno.test("InfoHash.fromBytesAt() shares one object per id, and ids that clash in its cache stay apart", () => {
  const a = InfoHash.get("shared a");
  const buffer = new Uint8Array(60);
  a.copyTo(buffer, 0);
  a.copyTo(buffer, 40);
  const first = InfoHash.fromBytesAt(buffer, 0);
  assert.ok(first.equals(a));
  assert.equal(InfoHash.fromBytesAt(buffer, 40), first); // the same object
  // Changing the buffer afterwards changes nothing read before.
  buffer.fill(0, 0, 20);
  assert.ok(first.equals(a));
  // The same first six bytes (all the cache's key is made of), different
  // after them: each read gives its own bytes, whatever the order.
  const clash = a.bytes;
  clash[10] ^= 0xff;
  clash[19] ^= 1;
  const other = InfoHash.fromBytes(clash);
  assert.ok(!other.equals(a));
  for (let round = 0; round < 3; round++) {
    assert.ok(InfoHash.fromBytesAt(clash, 0).equals(other));
    assert.ok(InfoHash.fromBytesAt(buffer, 40).equals(a));
  }
  // More ids than the cache holds: every one still reads back right. Seeded
  // bytes, the same every run: with fresh random ids the count of shared
  // ones below fell under its bound about one run in a hundred (two ids of
  // the last thousand share a slot about twice a run, and each such pair
  // costs two: the re-read of the first evicts the second).
  const many = rngBytes(seededRng("info hash cache"))(20 * 300_000);
  for (let i = 0; i < 300_000; i += 997) {
    const id = InfoHash.fromBytesAt(many, i * 20);
    assert.equal(id.toString(), many.subarray(i * 20, i * 20 + 20).toHex());
  }
  const last: InfoHash[] = [];
  for (let i = 0; i < 300_000; i++) {
    const id = InfoHash.fromBytesAt(many, i * 20);
    if (i >= 299_000) last.push(id);
  }
  for (let i = 0; i < 300_000; i += 997) {
    const id = InfoHash.fromBytesAt(many, i * 20);
    assert.equal(id.toString(), many.subarray(i * 20, i * 20 + 20).toHex());
  }
  // The cache grew to its largest on the way and still shares: the last
  // thousand ids read come back as the same objects (a few may have lost
  // their slot to a later id with the same key bits).
  let same = 0;
  for (let i = 0; i < 1_000; i++) {
    if (InfoHash.fromBytesAt(many, (299_000 + i) * 20) === last[i]) same++;
  }
  assert.ok(same >= 990, `${same} of 1,000 shared`);
});

Deno.test("InfoHash.suffix30 is the id's last 30 bits", () => {
  assert.equal(
    InfoHash.fromHex("00".repeat(16) + "ffffffff").suffix30,
    0x3fff_ffff,
  );
  assert.equal(InfoHash.fromHex("ff".repeat(16) + "c0000001").suffix30, 1);
  assert.equal(
    InfoHash.fromHex("00".repeat(16) + "12345678").suffix30,
    0x1234_5678,
  );
});

Deno.test("InfoHash.prefix30 is the first 30 bits, and orders ids by distance as compareDistance does when it differs", () => {
  const id = InfoHash.fromHex("ffffff" + "fc" + "00".repeat(16));
  assert.equal(id.prefix30, 0x3fff_ffff);
  assert.equal(
    InfoHash.fromHex("000001" + "04" + "ff".repeat(16)).prefix30,
    0x41,
  );
  const rng = seededRng("prefix30");
  let decided = 0;
  for (let i = 0; i < 5_000; i++) {
    const [target, a, b] = [0, 1, 2].map(() => InfoHash.random(rng));
    // Half the pairs share their first 24 bits: ties and near-ties.
    const bBytes = b.bytes;
    if (i % 2 === 0) bBytes.set(a.bytes.subarray(0, 3));
    const other = InfoHash.fromBytes(bBytes);
    const d = (a.prefix30 ^ target.prefix30) -
      (other.prefix30 ^ target.prefix30);
    if (d === 0) continue;
    decided++;
    assert.equal(Math.sign(d), Math.sign(target.compareDistance(a, other)));
  }
  assert.ok(decided > 4_000, `${decided}`);
});
