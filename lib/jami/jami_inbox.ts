/**
 * `JamiInbox`: this device's Jami inbox, `InfoHash("inbox:" + device SHA-1
 * hex)`, and what jamid checks on each value there (interop spec §5.3):
 * 1. an encrypted value that decrypts with our device key, addressed to us
 *    (`to`), whose inner signature verifies (`openTrustRequest`), of type 4;
 * 2. `service == "cx.ring"`;
 * 3. the signer device's certificate (type-8 value at its SHA-1) is found,
 *    its chain validates (not self-signed, account as issuer), and the
 *    account's CRL does not revoke it; the sender account is the issuer.
 * Then the account applies jamid's decision table (`JamiAccount`).
 *
 * Hostile input, bounded: values over {@link MAX_INBOX_VALUE_BYTES} are
 * dropped unread; a value id is opened once per run ({@link MAX_SEEN_VALUES}
 * remembered); at most {@link MAX_OPENING} values are being decrypted at a
 * time (more are dropped: the listen delivers them again after a restart,
 * and the sender's own retries put them again); each sender device may get
 * {@link MAX_PER_SENDER_PER_HOUR} values through per hour. Drops are
 * counted by reason, never thrown.
 *
 * @module
 */
import { DueRetries } from "./_due_retries.ts";
import type { Clock } from "../clock.ts";
import type { DhtClient, ListenHandle } from "../dht/dht_client.ts";
import type { DhtValue } from "../dht/messages.ts";
import type {
  JamiDevice,
  JamiDeviceDirectory,
} from "./jami_device_directory.ts";
import type { JamiPrivateKey } from "./rsa_key.ts";
import {
  inboxKey,
  type JamiTrustRequest,
  openTrustRequest,
} from "./trust_request.ts";

/** Largest encrypted value opened (OpenDHT's 64 KiB value limit plus the envelope). */
export const MAX_INBOX_VALUE_BYTES = 70_000;
/** Value ids remembered as opened (per run). */
export const MAX_SEEN_VALUES = 4_096;
/** Values decrypted at once; more are dropped. */
export const MAX_OPENING = 32;
/** Values accepted per sender device per hour. */
export const MAX_PER_SENDER_PER_HOUR = 20;
/** Times a value whose sender certificate was not found is opened again. */
export const MAX_CERTIFICATE_RETRIES = 3;
/** Values waiting to be opened again. */
export const MAX_RETRIED_VALUES = 64;
/** First wait before opening them again (doubled each time): past the directory's negative cache (60 s). */
export const CERTIFICATE_RETRY_MS = 65_000;
/** Sender devices whose hourly count is kept. */
const MAX_SENDERS_TRACKED = 1_024;
const HOUR_MS = 3_600_000;

/** Why a value was dropped. */
export type JamiInboxDropReason =
  | "oversized"
  | "malformed"
  | "undecryptable"
  | "service"
  | "busy"
  | "quota"
  | "unknownDevice"
  | "rejected";

/** What the inbox runs on. */
export interface JamiInboxOptions {
  /** This device's SHA-1 id, 40 hex. */
  readonly deviceId: string;
  /** This device's key (decrypts). */
  readonly deviceKey: JamiPrivateKey;
  /** Where the inbox is. */
  readonly dht: Pick<DhtClient, "listen">;
  /** Resolves sender devices. */
  readonly directory: JamiDeviceDirectory;
  /** Time of the per-sender windows. */
  readonly clock: Clock;
  /** Wraps CPU work a simulator must wait for. */
  readonly track?: <T>(work: Promise<T>) => Promise<T>;
  /**
   * A request that passed every check: the account decides (bans, decision
   * table); returns false when it refused it (counted as `rejected`).
   */
  readonly onRequest: (
    request: JamiTrustRequest,
    sender: JamiDevice,
  ) => boolean;
}

function seenKeyOf(value: DhtValue): string {
  return `${value.id}:${value.cypher?.length ?? 0}`;
}

/** This device's inbox. */
export class JamiInbox {
  readonly #options: JamiInboxOptions;
  readonly #seen = new Set<string>();
  readonly #senders = new Map<string, { startMs: number; count: number }>();
  #opening = 0;
  readonly #retries: DueRetries<
    string,
    { value: DhtValue; tries: number; dueMs: number }
  >;
  #listen?: ListenHandle;
  #running = false;
  /** Values dropped, by reason. */
  readonly dropped: Record<JamiInboxDropReason, number> = {
    oversized: 0,
    malformed: 0,
    undecryptable: 0,
    service: 0,
    busy: 0,
    quota: 0,
    unknownDevice: 0,
    rejected: 0,
  };
  /** Requests handed to the account. */
  accepted = 0;

  /**
   * An inbox (call {@link JamiInbox.start}).
   *
   * @param options Device, DHT, directory, callback.
   */
  constructor(options: JamiInboxOptions) {
    this.#options = options;
    this.#retries = new DueRetries(
      options.clock,
      (_, retry) => this.#receive(retry.value, retry.tries),
    );
  }

  #track<T>(work: Promise<T>): Promise<T> {
    return this.#options.track ? this.#options.track(work) : work;
  }

  /** Starts listening on the inbox. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#track(inboxKey(this.#options.deviceId)).then((key) => {
      if (!this.#running) return;
      this.#listen = this.#options.dht.listen(key, (event) => {
        if (event.kind === "added") {
          for (const value of event.values) this.#receive(value);
        }
      });
    }, () => {});
  }

  /** Stops listening. */
  stop(): void {
    this.#running = false;
    this.#retries.clear();
    this.#listen?.cancel();
    this.#listen = undefined;
  }

  #drop(reason: JamiInboxDropReason): void {
    this.dropped[reason]++;
  }

  #receive(value: DhtValue, tries = 0): void {
    if (!this.#running) return;
    const cypher = value.cypher;
    if (cypher === undefined) return this.#drop("malformed");
    if (cypher.length > MAX_INBOX_VALUE_BYTES) return this.#drop("oversized");
    const seenKey = seenKeyOf(value);
    if (this.#seen.has(seenKey)) return;
    if (this.#opening >= MAX_OPENING) return this.#drop("busy");
    if (this.#seen.size >= MAX_SEEN_VALUES) {
      const first = this.#seen.values().next().value;
      if (first !== undefined) this.#seen.delete(first);
    }
    this.#seen.add(seenKey);
    this.#opening++;
    this.#track(this.#open(value)).then((opened) => {
      this.#opening--;
      if (opened !== undefined) {
        this.#check(opened.request, opened.sender, value, tries);
      }
    }, () => {
      this.#opening--;
      this.#drop("undecryptable");
    });
  }

  async #open(
    value: DhtValue,
  ): Promise<{ request: JamiTrustRequest; sender: string } | undefined> {
    let opened;
    try {
      opened = await openTrustRequest(value, this.#options.deviceKey);
    } catch {
      this.#drop("undecryptable");
      return undefined;
    }
    return {
      request: opened.request,
      sender: (await opened.senderDevice.id()).toString(),
    };
  }

  /** Within the sender device's hourly budget? Counts the value. */
  #admit(sender: string): boolean {
    const now = this.#options.clock.now();
    let window = this.#senders.get(sender);
    if (window === undefined || now - window.startMs >= HOUR_MS) {
      if (window === undefined && this.#senders.size >= MAX_SENDERS_TRACKED) {
        // Forget the oldest window; a flood of fresh devices each needs a
        // valid certificate chain on the DHT to get further anyway.
        const first = this.#senders.keys().next().value;
        if (first !== undefined) this.#senders.delete(first);
      }
      window = { startMs: now, count: 0 };
      this.#senders.set(sender, window);
    }
    window.count++;
    return window.count <= MAX_PER_SENDER_PER_HOUR;
  }

  /**
   * The sender's certificate was not found: the value is opened again
   * later (our node may not have joined the DHT yet when the listen
   * delivered it), at most {@link MAX_CERTIFICATE_RETRIES} times, for at
   * most {@link MAX_RETRIED_VALUES} values at once.
   */
  #retryLater(value: DhtValue, tries: number): void {
    if (tries > MAX_CERTIFICATE_RETRIES || !this.#running) return;
    const key = seenKeyOf(value);
    if (!this.#retries.has(key) && this.#retries.size >= MAX_RETRIED_VALUES) {
      return;
    }
    // 65 s, 130 s, 260 s: past the directory's negative cache, and past a
    // permanent-put round (5 min) that copies the certificate to new nodes.
    const dueMs = this.#options.clock.now() +
      CERTIFICATE_RETRY_MS * 2 ** (tries - 1);
    this.#retries.set(key, { value, tries, dueMs });
    this.#seen.delete(key);
  }

  #check(
    request: JamiTrustRequest,
    senderDeviceId: string,
    value: DhtValue,
    tries: number,
  ): void {
    if (request.service !== "cx.ring") return this.#drop("service");
    // A retried value was counted on its first opening.
    if (tries === 0 && !this.#admit(senderDeviceId)) {
      return this.#drop("quota");
    }
    this.#options.directory.resolve(senderDeviceId, (device) => {
      if (!this.#running) return;
      if (device === undefined) {
        this.#drop("unknownDevice");
        this.#retryLater(value, tries + 1);
        return;
      }
      this.#options.directory.checkRevocation(device, (revoked) => {
        if (!this.#running) return;
        if (revoked) return this.#drop("rejected");
        if (this.#options.onRequest(request, device)) this.accepted++;
        else this.#drop("rejected");
      });
    });
  }
}
