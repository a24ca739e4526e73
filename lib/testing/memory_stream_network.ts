/**
 * An in-memory {@link StreamNetwork} for examples and tests: hosts by name,
 * streams from {@link memoryStreamPair}, connects resolve on a microtask.
 * An accepted stream's `remote` is the dialling host's name.
 *
 * @module
 */
import type { ByteStream, StreamNetwork } from "../channel/byte_stream.ts";
import { memoryStreamPair } from "../channel/byte_stream.ts";
import { formatAddress } from "../transport.ts";

/** Hosts of an in-memory stream network. */
export interface MemoryStreamNetwork {
  /** The network as seen from a host named `name` (its address is `name`). */
  host(name: string): StreamNetwork;
}

/**
 * A fresh in-memory stream network.
 *
 * @returns Its hosts.
 */
export function memoryStreamNetwork(): MemoryStreamNetwork {
  const listeners = new Map<string, (stream: ByteStream) => void>();
  let nextPort = 5_000;
  return {
    host: (name) => ({
      connect: async (to) => {
        await Promise.resolve();
        const handler = listeners.get(formatAddress(to));
        if (handler === undefined) {
          throw new Error(`Cannot connect to ${formatAddress(to)}: refused`);
        }
        // The accepting end sees the dialling host's name, from a fresh port.
        const [client, server] = memoryStreamPair(to, {
          host: name,
          port: nextPort++,
        });
        handler(server);
        return client;
      },
      listen: (port, handler) => {
        const address = { host: name, port: port === 0 ? nextPort++ : port };
        const key = formatAddress(address);
        listeners.set(key, handler);
        return Promise.resolve({
          localAddress: address,
          close: () => {
            listeners.delete(key);
            return Promise.resolve();
          },
        });
      },
    }),
  };
}
