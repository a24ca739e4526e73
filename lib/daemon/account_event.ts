/**
 * `AccountEvent`: everything an `Account` tells the outside world, a
 * union discriminated by `type`. The daemon's managers re-dispatch each one
 * as a typed `CustomEvent` with the account id added.
 *
 * @example Narrowing on `type`
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AccountEvent } from "./account_event.ts";
 *
 * const events: AccountEvent[] = [
 *   { type: "contactAdded", uri: "b".repeat(40), confirmed: false },
 *   { type: "confirmationExpired", uri: "c".repeat(40) },
 * ];
 * const added = events.flatMap((event) =>
 *   event.type === "contactAdded" ? [event.uri] : []
 * );
 * assert.deepEqual(added, ["b".repeat(40)]);
 * ```
 *
 * @module
 */

/** Everything an account tells the outside world. */
export type AccountEvent =
  | {
    readonly type: "newBuddyNotification";
    readonly buddyUri: string;
    readonly status: 0 | 1 | 2;
    readonly lineStatus: string;
  }
  | {
    readonly type: "incomingTrustRequest";
    readonly from: string;
    readonly payload: Uint8Array;
    readonly receiveTime: number;
  }
  | {
    readonly type: "contactAdded";
    readonly uri: string;
    readonly confirmed: boolean;
  }
  | {
    readonly type: "contactRemoved";
    readonly uri: string;
    readonly banned: boolean;
  }
  | {
    readonly type:
      | "trustRequestDelivered"
      | "trustRequestAccepted"
      | "trustRequestExpired";
    readonly uri: string;
    readonly requestId: string;
  }
  | {
    readonly type: "confirmationDelivered" | "confirmationExpired";
    readonly uri: string;
  };
