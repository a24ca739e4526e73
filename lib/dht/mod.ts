/**
 * The DHT node, published as the `@jami-contacts/dht-contacts/dht` entry
 * point: {@link DhtNode}, a node with OpenDHT 2.4's semantics and wire format
 * (routing table, iterative searches, get, put, permanent put, listen, value
 * types with their lifetimes, storage maintenance), behind the small
 * {@link DhtClient} interface the contact protocol uses.
 *
 * A node runs on any `Transport` and `Clock`: `UdpTransport` and the system
 * clock on a real device, `SimulatedNetwork` and `ManualClock` (from the
 * `testing` entry) in tests. See `docs/dht.md` and `docs/interop.md`.
 *
 * @example Two nodes on a simulated network: a permanent put heard by a listen
 * ```ts
 * import assert from "node:assert/strict";
 * import { DhtNode, type ListenEvent } from "./mod.ts";
 * import { InfoHash } from "../identity/mod.ts";
 * import { ManualClock, rngBytes, seededRng, SimulatedNetwork } from "../testing/mod.ts";
 *
 * const clock = new ManualClock(1_700_000_000_000);
 * const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
 * const a = new DhtNode({
 *   transport: network.attach(), clock, rng: seededRng(2),
 *   randomBytes: rngBytes(seededRng(12)),
 * });
 * const b = new DhtNode(
 *   { transport: network.attach(), clock, rng: seededRng(3), randomBytes: rngBytes(seededRng(13)) },
 *   { bootstrap: [a.address] },
 * );
 * a.start();
 * b.start();
 * clock.advance(5_000);
 *
 * const key = InfoHash.get("some key");
 * const heard: ListenEvent["kind"][] = [];
 * b.listen(key, (event) => heard.push(event.kind));
 * a.put(key, { id: 1n, type: 0, data: new TextEncoder().encode("hi") }, { permanent: true });
 * clock.advance(60_000);
 * assert.equal(heard[0], "added");
 * a.stop();
 * b.stop();
 * ```
 *
 * @module
 */
export {
  DhtNode,
  type DhtNodeComponents,
  type DhtNodeConfig,
  type DhtNodeStats,
  LISTEN_NODES,
  REANNOUNCE_MARGIN_MS,
} from "./dht_node.ts";
export type { NatMapping } from "./observed_mapping.ts";
export type {
  DhtClient,
  GetCallbacks,
  ListenEvent,
  ListenHandle,
  OperationHandle,
  PermanentPutHandle,
} from "./dht_client.ts";
export {
  type DhtQuery,
  type DhtValue,
  ErrorCode,
  type NodeInfo,
  ValueField,
  type WhereTerm,
} from "./messages.ts";
export type { SearchNode, SearchNodeState, SearchResult } from "./search.ts";
export type { RpcCounters, RpcTiming, TrafficObserver } from "./rpc_engine.ts";
export {
  ConnectivityMonitor,
  type ConnectivityMonitorOptions,
  connectivitySilenceMs,
  type ConnectivityState,
  OFFLINE_MIN_DESTINATIONS,
} from "./connectivity_monitor.ts";
export {
  BUCKET_SIZE,
  type HeardResult,
  NODE_EXPIRE_TIME_MS,
  NODE_GOOD_TIME_MS,
  type NodeState,
  type RoutingNode,
  RoutingTable,
} from "./routing_table.ts";
export {
  OUR_STORE_POLICY,
  STOCK_OPENDHT_STORE_POLICY,
  type StorePolicy,
} from "./store_policy.ts";
export type { ValueStoreLimits } from "./value_store.ts";
export {
  BUILT_IN_VALUE_TYPES,
  DEFAULT_VALUE_LIFETIME_MS,
  MAX_VALUE_BYTES,
  type ValueType,
} from "./value_type.ts";
export { WireError, type WireErrorReason } from "./wire/errors.ts";
