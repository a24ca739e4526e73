/**
 * `ListenerPushes`: the storing side of listens. When values at a key are
 * added, refreshed or expire, the {@link ValueStore} raises a notice per
 * listener; this sends each one to its listener as an `update` request under
 * the listener's socket id, carrying a token for the listener's address as
 * OpenDHT's updates do. A notice for a listen of our own (we may be one of
 * the closest nodes of a key we listen at) is handed over directly, with no
 * network round trip.
 *
 * @module
 */
import type { InfoHash } from "../identity/info_hash.ts";
import type { Clock } from "../clock.ts";
import type { UpdateRequest } from "./messages.ts";
import type { RequestBody, RpcEngine } from "./rpc_engine.ts";
import type { TokenKeeper } from "./token_keeper.ts";
import type { ListenerNotice } from "./value_store.ts";

/** What {@link ListenerPushes} sends through. */
export interface ListenerPushesServices {
  /** Our node id: notices for it are ours. */
  readonly selfId: InfoHash;
  /** Reads the time the tokens are made at. */
  readonly clock: Clock;
  /** Sends the `update` requests. */
  readonly rpc: Pick<RpcEngine, "request">;
  /** Makes the token each update carries. */
  readonly tokens: Pick<TokenKeeper, "make">;
  /** Receives the notices for our own listens, as an `update` from us. */
  deliverLocally(request: UpdateRequest): void;
}

/** Sends storage notices to listeners. */
export class ListenerPushes {
  readonly #services: ListenerPushesServices;

  /**
   * Pushes through the node's RPC engine.
   *
   * @param services Our id, clock, RPC engine, tokens, local delivery.
   */
  constructor(services: ListenerPushesServices) {
    this.#services = services;
  }

  /**
   * Sends each notice to its listener, in order.
   *
   * @param notices What the store raised.
   */
  push(notices: readonly ListenerNotice[]): void {
    const { selfId, clock, rpc, tokens } = this.#services;
    const now = clock.now();
    for (const notice of notices) {
      const { listener } = notice;
      if (listener.nodeId.equals(selfId)) {
        // Our own listen on our own storage: no network round trip.
        this.#services.deliverLocally({
          kind: "request",
          method: "update",
          senderId: selfId,
          socketId: listener.socketId,
          tid: 0,
          network: 0,
          isClient: false,
          ...(notice.values === undefined ? {} : { values: notice.values }),
          ...(notice.refreshed === undefined
            ? {}
            : { refreshed: notice.refreshed }),
          ...(notice.expired === undefined ? {} : { expired: notice.expired }),
        } as UpdateRequest);
        continue;
      }
      const body: RequestBody = {
        method: "update",
        socketId: listener.socketId,
        token: tokens.make(listener.address, now),
        version: 1,
        ...(notice.values === undefined
          ? {}
          : { key: notice.key, values: notice.values }),
        ...(notice.refreshed === undefined
          ? {}
          : { refreshed: notice.refreshed }),
        ...(notice.expired === undefined ? {} : { expired: notice.expired }),
      };
      rpc.request(listener.address, listener.nodeId, body, {
        onReply: () => {},
      });
    }
  }
}
