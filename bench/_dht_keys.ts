/**
 * What the processes of `bench/dht_vs_dhtnode.ts` share: the keys the load
 * asks for, and a process's CPU time from `/proc`.
 *
 * @module
 */
import { InfoHash } from "../lib/identity/info_hash.ts";

/** Keys that each hold one small value; gets ask for them. */
export const GET_KEYS = 64;
/** Keys that puts store new values at. */
export const PUT_KEYS = 1_024;

const getKeys = Array.from(
  { length: GET_KEYS },
  (_, i) => InfoHash.get(`bench get ${i}`),
);
const putKeys = Array.from(
  { length: PUT_KEYS },
  (_, i) => InfoHash.get(`bench put ${i}`),
);

/** Get key number `index` (0 ≤ index < {@link GET_KEYS}). */
export function getKey(index: number): InfoHash {
  return getKeys[index];
}

/** Put key number `index` (0 ≤ index < {@link PUT_KEYS}). */
export function putKey(index: number): InfoHash {
  return putKeys[index];
}

/**
 * CPU time (user + system, all threads) of a process in seconds, from
 * `/proc/<pid>/stat`; NaN when it cannot be read.
 */
export function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 (1-based), in clock ticks (100 Hz).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}
