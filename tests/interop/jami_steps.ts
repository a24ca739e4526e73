/**
 * The steps of the jamid interop scenario, shared by `jami_scenario.ts`
 * (which runs them in a private network namespace and prints one
 * {@link StepResult} per line) and `tests/jami_interop_test.ts` (one
 * `t.step` per entry, in this order).
 *
 * @module
 */

/** One step: a stable id and the sentence the test prints. */
export interface JamiStep {
  /** Id used in the scenario's JSON lines. */
  readonly id: string;
  /** What it shows. */
  readonly name: string;
}

/** Every step, in the order the scenario runs them. */
export const JAMI_STEPS: readonly JamiStep[] = [
  {
    id: "harness",
    name:
      "harness: dhtnode, a private D-Bus bus, jamid and our daemon start in a network namespace with only loopback",
  },
  {
    id: "register",
    name:
      "jamid creates three Jami accounts and registers them on the local dhtnode",
  },
  {
    id: "announce",
    name:
      "our DHT node gets jamid's DeviceAnnouncement: type 0, signed (RSA SHA-512) by the account key, {dev, pk} with dev = SHA-1(pk)",
  },
  {
    id: "export",
    name:
      "jamid exports an account archive: gzip JSON with ringAccountKey, ringAccountCert, ringCaKey",
  },
  {
    id: "our-online-at-jamid",
    name:
      "jamid sees our Jami account online: subscribeBuddy → newBuddyNotification(online)",
  },
  {
    id: "jamid-online-at-us",
    name:
      "we see jamid's account online: subscribeBuddy → newBuddyNotification(status 1)",
  },
  {
    id: "request-legacy",
    name:
      'our trust request (conversationId "") → jamid incomingTrustRequest with our payload',
  },
  {
    id: "request-conversation",
    name:
      "our trust request with a conversationId → jamid incomingTrustRequest + conversationRequestReceived",
  },
  {
    id: "jamid-requests",
    name:
      "jamid sendTrustRequest → our incomingTrustRequest with jamid's payload",
  },
  {
    id: "we-accept",
    name: "we accept jamid's request → jamid contactAdded(confirmed)",
  },
  {
    id: "forged-request",
    name:
      "a request signed by a device key nobody certified (no certificate on the DHT) → jamid emits nothing",
  },
  {
    id: "jamid-imports-ours",
    name:
      "jamid imports the archive we exported (Account.archivePath) → same account id",
  },
  {
    id: "jamid-accepts",
    name:
      "jamid acceptTrustRequest on our request → our contact becomes confirmed",
  },
  {
    id: "import-jamid-archive",
    name: "we import jamid's exported archive → same account id",
  },
  {
    id: "jamid-offline-at-us",
    name:
      "jamid killed → we see its account offline (up to 10 min with Jami's record lifetime: only with JAMI_INTEROP_OFFLINE=1)",
  },
];

/** What the scenario prints for a step (one JSON line). */
export interface StepResult {
  /** {@link JamiStep.id}. */
  readonly step: string;
  /** Passed. */
  readonly ok: boolean;
  /** Set when the step did not run, with why (e.g. our Jami API is missing). */
  readonly skip?: string;
  /** What it saw, or why it failed. */
  readonly detail: string;
  /** How long it took. */
  readonly ms: number;
}
