/**
 * What a few bytes of their own cost: `deno bench bench/small_bytes_bench.ts`
 * (also in `deno task bench`). A new typed array, even of 4 or 32 bytes
 * (the `sa` and token of a DHT reply), against a view of a datagram and a
 * copy into a shared slab (`SlabCopier`), the choices the decoder, the
 * token keeper and the search make per message (docs/figures.md, "Typed
 * arrays of their own").
 */
import { SlabCopier } from "../lib/io/_slab_copier.ts";

const datagram = new Uint8Array(600).map((_, i) => i);
const slab = new SlabCopier(512);
const SEEN = new SlabCopier(16_384);
// Results kept a while, as a search keeps tokens, so nothing is optimized out.
const kept: Uint8Array[] = new Array(256);
let next = 0;
function keep(bytes: Uint8Array): void {
  kept[next] = bytes;
  next = (next + 1) & 255;
}

Deno.bench("32 bytes: new Uint8Array(32) and set", {
  group: "32 bytes",
  baseline: true,
}, () => {
  const copy = new Uint8Array(32);
  copy.set(datagram.subarray(100, 132));
  keep(copy);
});

Deno.bench("32 bytes: slice()", { group: "32 bytes" }, () => {
  keep(datagram.slice(100, 132));
});

Deno.bench(
  "32 bytes: subarray() (a view, no copy)",
  { group: "32 bytes" },
  () => {
    keep(datagram.subarray(100, 132));
  },
);

Deno.bench("32 bytes: SlabCopier(512).copy()", { group: "32 bytes" }, () => {
  keep(slab.copy(datagram, 100, 132));
});

Deno.bench(
  "4 bytes: new Uint8Array(4)",
  { group: "4 bytes", baseline: true },
  () => {
    keep(new Uint8Array(4));
  },
);

Deno.bench(
  "4 bytes: SlabCopier(16 KiB).zeroed(4)",
  { group: "4 bytes" },
  () => {
    keep(SEEN.zeroed(4));
  },
);
