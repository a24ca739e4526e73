/**
 * msgpack for the Jami codec: the project's wire reader and writer
 * (`lib/dht/wire/_msgpack.ts`, minimal integers, str/bin kept apart) with
 * {@link JamiFormatError} in place of the wire's own error.
 *
 * @module
 */
import { guarded, type Item } from "../dht/wire/_msgpack.ts";
import { WireError } from "../dht/wire/errors.ts";
import { JamiFormatError } from "./errors.ts";

export { type Item, toBytes, WireMap } from "../dht/wire/_msgpack.ts";

/**
 * Parses `bytes` and runs `decode` on the tree; any failure (malformed
 * msgpack, a {@link WireError} of a helper, a thrown JamiFormatError)
 * becomes a {@link JamiFormatError} naming `what`.
 */
export function decodeMsgpack<T>(
  bytes: Uint8Array,
  what: string,
  decode: (item: Item) => T,
): T {
  try {
    return guarded(bytes, decode);
  } catch (error) {
    if (error instanceof JamiFormatError) throw error;
    if (error instanceof WireError && error.cause instanceof JamiFormatError) {
      throw error.cause;
    }
    const detail = error instanceof Error ? error.message : String(error);
    throw new JamiFormatError(what, detail, { cause: error });
  }
}

/** The entries of a map item as `[key text, value]`, in order; throws unless it is a map with str keys. */
export function mapEntries(
  item: Item,
  what: string,
): [string, Item][] {
  if (item.type !== "map") throw new JamiFormatError(what, "not a map");
  const out: [string, Item][] = [];
  for (const [key, value] of item.entries) {
    if (key.type !== "str") {
      throw new JamiFormatError(what, "a map key is not a string");
    }
    out.push([key.text ?? new TextDecoder().decode(key.bytes), value]);
  }
  return out;
}
