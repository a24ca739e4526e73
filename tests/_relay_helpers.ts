/** Helpers of the relay tests: a relay on a socket that records what it sends. */
import assert from "node:assert/strict";
import {
  RelayServer,
  type RelayServerOptions,
} from "../lib/channel/relay_server.ts";
import {
  decodeRelay,
  encodeRelay,
  pairedChannel,
  RelayKind,
} from "../lib/channel/_relay_wire.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { rngBytes, seededRng } from "../lib/rng.ts";
import {
  formatAddress,
  type PeerAddress,
  type Transport,
} from "../lib/transport.ts";

/** A relay on a socket that records what it sends. */
export function recordingRelay(options: RelayServerOptions = {}) {
  const clock = new ManualClock(0);
  const sent: { to: PeerAddress; bytes: Uint8Array }[] = [];
  const socket: Transport = {
    localAddress: { host: "198.51.100.1", port: 3478 },
    send: (to, bytes) => sent.push({ to, bytes }),
    receive() {},
    close: () => Promise.resolve(),
  };
  const relay = new RelayServer(
    { socket, clock, randomBytes: rngBytes(seededRng("relay")) },
    options,
  );
  /** Channels the relay gave, by address and token. */
  const channels = new Map<string, number>();
  /** A client that answers challenges, as `RelayJoin` does; true once paired. */
  const join = (from: PeerAddress, token: Uint8Array): boolean => {
    relay.handle(
      encodeRelay({
        kind: RelayKind.JOIN,
        token,
        cookie: new Uint8Array(16),
      }),
      from,
    );
    const challenge = decodeRelay(sent.at(-1)!.bytes)!;
    assert.equal(challenge.kind, RelayKind.CHALLENGE);
    const before = sent.length;
    relay.handle(
      encodeRelay({ kind: RelayKind.JOIN, token, cookie: challenge.cookie }),
      from,
    );
    const answer = sent.length > before
      ? decodeRelay(sent.at(-1)!.bytes)
      : undefined;
    if (answer?.kind !== RelayKind.PAIRED) return false;
    channels.set(
      `${formatAddress(from)}|${token}`,
      pairedChannel(answer.cookie),
    );
    return true;
  };
  /** The channel `from` was given for `token`. */
  const channelOf = (from: PeerAddress, token: Uint8Array): number =>
    channels.get(`${formatAddress(from)}|${token}`)!;
  return { clock, relay, sent, join, channelOf };
}
