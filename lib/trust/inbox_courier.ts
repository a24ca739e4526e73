/**
 * `InboxCourier`: puts messages in other devices' inboxes. A message is
 * sealed to one device certificate with this device's keys (so the
 * recipient learns and checks the sender) and put at
 * `InfoHash("inbox:" + deviceId)` under a value id derived from the message
 * id, so every copy of one message to one device is the same value.
 *
 * Receipts go to the sending device and to its account's mailbox (found
 * among what the account knows of the sender, else looked up on the DHT),
 * in case that device is gone by now.
 *
 * @example Seal and put a confirmation to one device
 * ```ts
 * import assert from "node:assert/strict";
 * import { InboxCourier } from "./inbox_courier.ts";
 * import type { DhtClient } from "../dht/dht_client.ts";
 * import type { DhtValue } from "../dht/messages.ts";
 * import { AccountKeys } from "../identity/account_keys.ts";
 * import { DeviceCertificate } from "../identity/device_certificate.ts";
 * import { DeviceKeys } from "../identity/device_keys.ts";
 * import type { InfoHash } from "../identity/info_hash.ts";
 * import { ManualClock } from "../testing/manual_clock.ts";
 * import { rngBytes, seededRng } from "../rng.ts";
 * import { encodeInboxMessage, inboxKey } from "./inbox_message.ts";
 *
 * const random = rngBytes(seededRng("courier"));
 * const clock = new ManualClock();
 * const certify = (account: AccountKeys, device: DeviceKeys) =>
 *   DeviceCertificate.issue(account, device, { issuedMs: clock.now() });
 * const alice = AccountKeys.generate(random);
 * const laptop = DeviceKeys.generate(random);
 * const bob = AccountKeys.generate(random);
 * const phone = certify(bob, DeviceKeys.generate(random));
 * const puts: [InfoHash, DhtValue][] = [];
 * const dht = { put: (key: InfoHash, value: DhtValue) => puts.push([key, value]) };
 * const counters = { boxesPut: 0, receiptsSent: 0 };
 * const courier = new InboxCourier({
 *   device: laptop,
 *   certificate: certify(alice, laptop),
 *   dht: dht as unknown as DhtClient,
 *   clock,
 *   randomBytes: random,
 *   counters,
 *   recipients: () => [phone],
 *   mayReceipt: () => true,
 *   rememberMailbox() {},
 * });
 * const id = random(16);
 * const message = encodeInboxMessage({ kind: "confirm", id, sentMs: clock.now() });
 * courier.put(phone, id, courier.seal(message, phone));
 * assert.ok(puts[0][0].equals(inboxKey(phone.deviceId)));
 * assert.equal(counters.boxesPut, 1);
 * ```
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import type { DhtClient } from "../dht/dht_client.ts";
import type { DeviceCertificate } from "../identity/device_certificate.ts";
import type { DeviceKeys } from "../identity/device_keys.ts";
import { InfoHash } from "../identity/info_hash.ts";
import { sealBox } from "../identity/sealed_box.ts";
import type { RandomBytes } from "../rng.ts";
import {
  encodeInboxMessage,
  INBOX_PURPOSE,
  INBOX_VALUE_TYPE,
  inboxKey,
  inboxValueId,
  MESSAGE_ID_BYTES,
} from "./inbox_message.ts";
import { isMailboxCertificate } from "./mailbox.ts";
import type { OutboxCourier } from "./outbox.ts";
import { newestMailbox } from "./recipients.ts";

/** Counters a courier adds to (the account's). */
export interface CourierCounters {
  /** Sealed boxes put on the DHT. */
  boxesPut: number;
  /** Receipts sent. */
  receiptsSent: number;
}

/** What an {@link InboxCourier} runs on. */
export interface InboxCourierOptions {
  /** This device's keys: every box is sealed with them. */
  readonly device: DeviceKeys;
  /** This device's certificate, carried in every box. */
  readonly certificate: DeviceCertificate;
  /** The DHT boxes are put on, and mailboxes looked up in. */
  readonly dht: DhtClient;
  /** Receipts' send times and mailbox checks read it. */
  readonly clock: Clock;
  /** Randomness for receipt ids and the boxes' ephemeral keys. */
  readonly randomBytes: RandomBytes;
  /** Counted in place. */
  readonly counters: CourierCounters;
  /** The devices (and mailbox) a message to an account is sealed to now. */
  recipients(uri: string, onlineOnly: boolean): readonly DeviceCertificate[];
  /**
   * Receipts are sent now: the account runs and its profile uses receipts
   * (also asked again before a late mailbox copy).
   */
  mayReceipt(): boolean;
  /** A mailbox certificate found on the DHT for an account: remember it. */
  rememberMailbox(uri: string, mailbox: DeviceCertificate): void;
}

/** Seals and puts messages for one device of one account. */
export class InboxCourier implements OutboxCourier {
  readonly #options: InboxCourierOptions;

  /**
   * A courier.
   *
   * @param options See {@link InboxCourierOptions}.
   */
  constructor(options: InboxCourierOptions) {
    this.#options = options;
  }

  /**
   * The recipients of a message to `uri` (see {@link InboxCourierOptions.recipients}).
   *
   * @param uri Target account hex.
   * @param onlineOnly Only devices online now.
   * @returns Device and mailbox certificates.
   */
  recipients(uri: string, onlineOnly: boolean): readonly DeviceCertificate[] {
    return this.#options.recipients(uri, onlineOnly);
  }

  /**
   * Seals an encoded inbox message to one device.
   *
   * @param message The encoded message.
   * @param recipient The device's certificate.
   * @returns The sealed box.
   */
  seal(message: Uint8Array, recipient: DeviceCertificate): Uint8Array {
    const { device, certificate, randomBytes } = this.#options;
    return sealBox(message, {
      sender: { device, certificate },
      recipient,
      purpose: INBOX_PURPOSE,
      randomBytes,
    });
  }

  /**
   * Puts a sealed box at the device's inbox key.
   *
   * @param recipient The device's certificate.
   * @param messageId The message id (the value id derives from it).
   * @param box The sealed box.
   */
  put(
    recipient: DeviceCertificate,
    messageId: Uint8Array,
    box: Uint8Array,
  ): void {
    this.#options.counters.boxesPut += 1;
    this.#options.dht.put(inboxKey(recipient.deviceId), {
      id: inboxValueId(messageId, recipient.deviceId),
      type: INBOX_VALUE_TYPE,
      data: box,
    });
  }

  /**
   * Acknowledges a message: a receipt to the sending device, and to its
   * account's mailbox in case that device is gone by now. Nothing when
   * {@link InboxCourierOptions.mayReceipt} says no.
   *
   * @param to The sending device's certificate.
   * @param ackId The acknowledged message id.
   */
  sendReceipt(to: DeviceCertificate, ackId: Uint8Array): void {
    const { randomBytes, clock } = this.#options;
    if (!this.#options.mayReceipt()) return;
    const message = encodeInboxMessage({
      kind: "receipt",
      id: randomBytes(MESSAGE_ID_BYTES),
      sentMs: Math.floor(clock.now()),
      to: to.accountId.bytes,
      ackId,
    });
    const id = randomBytes(MESSAGE_ID_BYTES);
    this.put(to, id, this.seal(message, to));
    this.#options.counters.receiptsSent += 1;
    const uri = to.accountId.toString();
    const send = (mailbox: DeviceCertificate) => {
      if (this.#options.mayReceipt()) {
        this.put(mailbox, id, this.seal(message, mailbox));
      }
    };
    const mailbox = this.recipients(uri, false).find(isMailboxCertificate);
    if (mailbox !== undefined) send(mailbox);
    else this.#lookupMailbox(uri, send);
  }

  /** Finds an account's mailbox certificate on the DHT (and has it remembered). */
  #lookupMailbox(
    uri: string,
    found: (mailbox: DeviceCertificate) => void,
  ): void {
    const accountId = InfoHash.fromHex(uri);
    this.#options.dht.get(accountId, {
      onDone: (values) => {
        const nowMs = Math.floor(this.#options.clock.now());
        const best = newestMailbox(values, accountId, nowMs);
        if (best === undefined) return;
        this.#options.rememberMailbox(uri, best);
        found(best);
      },
    });
  }
}
