/**
 * Bootstrap names, resolved at start and again later. A node started before
 * its network is up (a laptop before its Wi-Fi) cannot resolve a name such
 * as `bootstrap.jami.net` and would otherwise run alone until restarted.
 * {@link BootstrapResolver} looks each name that failed up again, 5 s after
 * the start, then 10 s, 20 s … at most a minute apart, until it resolves,
 * and hands the addresses to the node (`DhtNode.addBootstrap`), which joins
 * through them at once if it knows no node yet. OpenDHT's runner also
 * resolves its bootstrap names again at each of its tries.
 *
 * @example A name that resolves on the second try
 * ```ts
 * import assert from "node:assert/strict";
 * import { BootstrapResolver } from "./bootstrap_resolver.ts";
 *
 * let tries = 0;
 * const found: string[] = [];
 * const resolver = new BootstrapResolver({
 *   names: [{ host: "bootstrap.example", port: 4222 }],
 *   lookup: () => ++tries < 2 ? Promise.reject(new Error("offline")) : Promise.resolve(["192.0.2.9"]),
 *   onResolved: (_name, addresses) => found.push(...addresses.map((a) => a.host)),
 *   firstDelayMs: 1,
 * });
 * resolver.start();
 * while (resolver.pending.length > 0) await new Promise((r) => setTimeout(r, 5));
 * assert.deepEqual(found, ["192.0.2.9"]);
 * resolver.stop();
 * ```
 *
 * @module
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { PeerAddress } from "../lib/transport.ts";

/** Resolves a host name to all its addresses, IPv4 and IPv6. */
export type HostLookup = (host: string) => Promise<string[]>;

/** The system's resolver (`getaddrinfo`), every address of both families. */
export const systemLookup: HostLookup = async (host) =>
  (await lookup(host, { all: true })).map((entry) => entry.address);

/** The first wait before a name that failed is looked up again. */
export const FIRST_RESOLVE_RETRY_MS = 5_000;
/** The longest wait between two look-ups of a name. */
export const MAX_RESOLVE_RETRY_MS = 60_000;

/** What {@link resolveBootstrap} found. */
export interface BootstrapResolution {
  /** Every address of the names that resolved, and the literal addresses. */
  readonly resolved: PeerAddress[];
  /** The names that did not resolve. */
  readonly unresolved: PeerAddress[];
  /** Why each of those failed. */
  readonly errors: { readonly host: string; readonly message: string }[];
}

/**
 * Resolves bootstrap names (literal addresses are kept as they are).
 *
 * @param names Host names or addresses, with ports.
 * @param lookupHost The resolver (default: the system's).
 * @returns The addresses, and the names that failed.
 */
export async function resolveBootstrap(
  names: readonly PeerAddress[],
  lookupHost: HostLookup = systemLookup,
): Promise<BootstrapResolution> {
  const resolution: BootstrapResolution = {
    resolved: [],
    unresolved: [],
    errors: [],
  };
  for (const name of names) {
    if (isIP(name.host) !== 0) {
      resolution.resolved.push(name);
      continue;
    }
    try {
      for (const host of await lookupHost(name.host)) {
        resolution.resolved.push({ host, port: name.port });
      }
    } catch (error) {
      resolution.unresolved.push(name);
      resolution.errors.push({
        host: name.host,
        message: (error as Error).message,
      });
    }
  }
  return resolution;
}

/** Options of a {@link BootstrapResolver}. */
export interface BootstrapResolverOptions {
  /** The names that failed at start. */
  readonly names: readonly PeerAddress[];
  /** Called once per name, when it resolves, with its addresses. */
  onResolved(name: PeerAddress, addresses: PeerAddress[]): void;
  /** The resolver. @default {systemLookup} */
  readonly lookup?: HostLookup;
  /** The first wait. @default {FIRST_RESOLVE_RETRY_MS} */
  readonly firstDelayMs?: number;
  /** The longest wait. @default {MAX_RESOLVE_RETRY_MS} */
  readonly maxDelayMs?: number;
}

/** Looks up again, with backoff, the bootstrap names that failed. */
export class BootstrapResolver {
  readonly #options: BootstrapResolverOptions;
  #pending: PeerAddress[];
  #delayMs: number;
  #timer?: ReturnType<typeof setTimeout>;
  #running = false;

  /**
   * A resolver for `options.names` (not started).
   *
   * @param options Names, callback, resolver and waits.
   */
  constructor(options: BootstrapResolverOptions) {
    this.#options = options;
    this.#pending = [...options.names];
    this.#delayMs = options.firstDelayMs ?? FIRST_RESOLVE_RETRY_MS;
  }

  /** The names not resolved yet. */
  get pending(): readonly PeerAddress[] {
    return this.#pending;
  }

  /** Schedules the first look-up (nothing if no name is pending). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  /** Stops; a look-up still out is ignored. */
  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (!this.#running || this.#pending.length === 0) return;
    const timer = setTimeout(() => void this.#retry(), this.#delayMs);
    // A node waiting on its network must not be kept alive by this alone.
    Deno.unrefTimer(timer);
    this.#timer = timer;
    this.#delayMs = Math.min(
      2 * this.#delayMs,
      this.#options.maxDelayMs ?? MAX_RESOLVE_RETRY_MS,
    );
  }

  async #retry(): Promise<void> {
    this.#timer = undefined;
    const still: PeerAddress[] = [];
    for (const name of this.#pending) {
      const { resolved } = await resolveBootstrap([name], this.#options.lookup);
      if (!this.#running) return;
      if (resolved.length === 0) still.push(name);
      else this.#options.onResolved(name, resolved);
    }
    this.#pending = still;
    this.#schedule();
  }
}
