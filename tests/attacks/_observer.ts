/**
 * What a peer sees of a node: a scripted peer on a simulated network that
 * the node bootstraps from. It answers every request at once and records
 * what the node reveals: its id, the tids of its requests, the socket id of
 * a listen, and the write token the node hands the peer.
 */
import { DhtNode, type DhtNodeComponents } from "../../lib/dht/dht_node.ts";
import type { DhtMessage } from "../../lib/dht/messages.ts";
import { decodeMessage } from "../../lib/dht/wire/decode.ts";
import { encodeMessage } from "../../lib/dht/wire/encode.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import type { RandomBytes, Rng } from "../../lib/rng.ts";
import { seededRng } from "../../lib/rng.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { SimulatedNetwork } from "../../lib/testing/simulated_network.ts";

/** The peer's own id. */
export const PEER_ID = InfoHash.get("observing peer");
/** Virtual start time of every observation. */
export const START_MS = 1_700_000_000_000;

/** Everything a peer learns from one node in a short scripted exchange. */
export interface Observed {
  /** The node's id (in every message). */
  readonly id: string;
  /** Tids of the node's requests, in order. */
  readonly tids: number[];
  /** Socket id of the node's listen. */
  readonly socketIds: number[];
  /** The token the node gives the peer (hex). */
  readonly token: string;
}

/**
 * Builds a node from `rng` (and `randomBytes` when given) on a fresh
 * simulated network, lets it bootstrap from the scripted peer, listen at a
 * key, and answer a `get`; returns what the peer saw. Runs 6 virtual
 * seconds, before the node's first maintenance round.
 */
export function observe(rng: Rng, randomBytes?: RandomBytes): Observed {
  const clock = new ManualClock(START_MS);
  const network = new SimulatedNetwork({ clock, rng: seededRng("network") });
  const peer = network.attach();
  const transport = network.attach();
  const components: DhtNodeComponents = randomBytes === undefined
    ? { transport, clock, rng }
    : { transport, clock, rng, randomBytes };
  const node = new DhtNode(components, { bootstrap: [peer.localAddress] });
  const seen = { ids: new Set<string>(), tids: [] as number[] };
  const socketIds: number[] = [];
  let token = "";
  const base = { kind: "reply", network: 0, senderId: PEER_ID } as const;
  peer.receive((bytes, from) => {
    const message: DhtMessage = decodeMessage(bytes);
    if (message.kind === "reply" && message.token !== undefined) {
      token = message.token.toHex();
    }
    if (message.kind !== "request") return;
    seen.ids.add(message.senderId.toString());
    seen.tids.push(message.tid);
    if (message.method === "listen") socketIds.push(message.socketId);
    const answer = message.method === "find" || message.method === "get"
      ? { ...base, tid: message.tid, nodes4: [], token: new Uint8Array(32) }
      : { ...base, tid: message.tid };
    peer.send(from, encodeMessage(answer));
  });
  node.start();
  clock.advance(2_000);
  node.listen(InfoHash.get("watched key"), () => {});
  clock.advance(2_000);
  peer.send(
    node.address,
    encodeMessage({
      kind: "request",
      method: "get",
      tid: 77,
      network: 0,
      senderId: PEER_ID,
      key: InfoHash.get("any key"),
    }),
  );
  clock.advance(2_000);
  node.stop();
  return {
    id: [...seen.ids].join(","),
    tids: seen.tids,
    socketIds,
    token,
  };
}
