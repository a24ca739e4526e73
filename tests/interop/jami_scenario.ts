/**
 * The jamid interop scenario. Run it as root inside a private network
 * namespace, where loopback is the only interface:
 *
 * ```sh
 * unshare --net -- deno run --allow-all tests/interop/jami_scenario.ts
 * ```
 *
 * It starts one `dhtnode` (network 0), a private D-Bus bus with one `jamid`
 * 13.7 bootstrapped on it, and our daemon over UDP bootstrapped on it too,
 * then runs the steps of `jami_steps.ts` in order. Output on stdout, one JSON
 * object per line: `{"dir"}` (its temporary directory), `{"pid", "name"}`
 * for every process started (so the parent can kill leftovers by PID and
 * remove the directory) and one `StepResult` per step;
 * diagnostics go to stderr. Every step has a time limit; every process is
 * killed by PID at the end, also on failure. `tests/jami_interop_test.ts`
 * runs it and turns each line into a test step.
 *
 * Environment: `JAMI_INTEROP_OFFLINE=1` adds the slow offline check (jamid's
 * announcement lives up to 10 min after it dies); `JAMI_INTEROP_KEEP=1`
 * keeps the temporary directory (jamid's log, archives) and prints its path.
 *
 * @module
 */
import { decode } from "@msgpack/msgpack";
import type { Daemon } from "../../lib/daemon/daemon.ts";
import type { DhtValue } from "../../lib/dht/messages.ts";
import { signedValueBody } from "../../lib/dht/wire/values.ts";
import { InfoHash } from "../../lib/identity/info_hash.ts";
import { openUdpDaemon } from "../../lib/io/udp_daemon.ts";
import { systemRandomBytes } from "../../lib/io/system_random.ts";
import { JamiPrivateKey, JamiPublicKey } from "../../lib/jami/rsa_key.ts";
import { inboxKey, sealTrustRequest } from "../../lib/jami/trust_request.ts";
import { DhtnodeProcess, findDhtnode } from "./dhtnode_process.ts";
import {
  JamidProcess,
  type JamidSignal,
  localJamiAccount,
} from "./jamid_process.ts";
import { JAMI_STEPS, type StepResult } from "./jami_steps.ts";

const TEXT = new TextEncoder();
const PAYLOAD = TEXT.encode(
  "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:dht-contacts interop\r\nEND:VCARD\r\n",
);
const JAMID_PAYLOAD = TEXT.encode(
  "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:jamid J3\r\nEND:VCARD\r\n",
);
/** How long a forged request must stay without effect (spec §7 used 8 s). */
const FORGED_WAIT_MS = 8_000;
/** What jamid logs when it drops a request whose device it cannot verify. */
const DROP_LOG = /Discarding message from invalid peer certificate/;
/** A 1:1 conversation id as Jami makes them (40 hex). */
const CONVERSATION_ID = "c0ffee".padEnd(40, "0");

type Outcome = "pass" | "fail" | "skip";

function emit(line: Record<string, unknown>): void {
  console.log(JSON.stringify(line));
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha1Hex(bytes: Uint8Array): Promise<string> {
  return hex(
    new Uint8Array(
      await crypto.subtle.digest("SHA-1", new Uint8Array(bytes)),
    ),
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 50 ms; throws `what` after `ms`. */
async function until<T>(
  ms: number,
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (true) {
    const found = await check();
    if (found !== undefined) return found;
    if (Date.now() > deadline) {
      throw new Error(`${what}: not seen within ${ms} ms`);
    }
    await sleep(50);
  }
}

function timeLimit<T>(work: Promise<T>, ms: number, id: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`step ${id}: over its ${ms} ms limit`)),
      ms,
    );
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/** Runs the steps in order, each under a time limit, skipping dependents. */
class Steps {
  readonly #outcomes = new Map<string, { outcome: Outcome; why: string }>();

  async run(
    id: string,
    options: { needs?: string[]; limitMs: number; skip?: string },
    body: () => Promise<string>,
  ): Promise<boolean> {
    if (!JAMI_STEPS.some((step) => step.id === id)) {
      throw new Error(`unknown step ${id}`);
    }
    const blocked = (options.needs ?? []).map((need) => ({
      need,
      ...(this.#outcomes.get(need) ?? { outcome: "fail", why: "not run" }),
    })).find((entry) => entry.outcome !== "pass");
    if (blocked !== undefined || options.skip !== undefined) {
      // A skip passes its reason on unchanged; a failure is named.
      const why = options.skip ??
        (blocked?.outcome === "skip"
          ? blocked.why
          : `step ${blocked?.need} did not pass: ${blocked?.why}`);
      const outcome = blocked?.outcome === "fail" ? "fail" : "skip";
      this.#report(id, outcome, why, 0);
      return false;
    }
    const started = performance.now();
    try {
      const detail = await timeLimit(body(), options.limitMs, id);
      this.#report(id, "pass", detail, performance.now() - started);
      return true;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.#report(id, "fail", message, performance.now() - started);
      return false;
    }
  }

  #report(id: string, outcome: Outcome, detail: string, ms: number): void {
    this.#outcomes.set(id, { outcome, why: detail });
    const result: StepResult = {
      step: id,
      ok: outcome === "pass",
      ...(outcome === "skip" ? { skip: detail } : {}),
      detail: outcome === "skip" ? "" : detail,
      ms: Math.round(ms),
    };
    emit(result as unknown as Record<string, unknown>);
    console.error(
      `[jami-scenario] ${id}: ${outcome} (${result.ms} ms) ${detail}`,
    );
  }
}

/** Records our daemon's events for bounded waits. */
class OurEvents {
  readonly buddies: { accountId: string; buddyUri: string; status: number }[] =
    [];
  readonly requests: {
    accountId: string;
    from: string;
    payload: Uint8Array;
  }[] = [];
  readonly contacts: { accountId: string; uri: string; confirmed: boolean }[] =
    [];

  constructor(daemon: Daemon) {
    daemon.presence.on("newBuddyNotification", (n) => this.buddies.push(n));
    daemon.config.on("incomingTrustRequest", (r) => this.requests.push(r));
    daemon.config.on("contactAdded", (c) => this.contacts.push(c));
  }
}

/** Gets the values at `key` through our node (bounded). */
function getValues(
  daemon: Daemon,
  key: InfoHash,
  ms: number,
): Promise<readonly DhtValue[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`get ${key}: no answer within ${ms} ms`)),
      ms,
    );
    daemon.dht.get(key, {
      onDone(values) {
        clearTimeout(timer);
        resolve(values);
      },
    });
  });
}

/** Checks a DeviceAnnouncement the way a Jami contact must (spec §3). */
async function checkAnnouncement(
  value: DhtValue,
  accountId: string,
): Promise<{ dev: string; pk: Uint8Array }> {
  if (value.type !== 0) throw new Error(`type ${value.type}, not 0`);
  if (value.owner === undefined || value.signature === undefined) {
    throw new Error("not signed");
  }
  if (await sha1Hex(value.owner) !== accountId) {
    throw new Error("signed by another key than the account's");
  }
  const key = await crypto.subtle.importKey(
    "spki",
    new Uint8Array(value.owner),
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" },
    false,
    ["verify"],
  );
  const valid = await crypto.subtle.verify(
    "RSASSA-PKCS1-v1_5",
    key,
    new Uint8Array(value.signature),
    new Uint8Array(signedValueBody(value)),
  );
  if (!valid) throw new Error("bad signature");
  const map = decode(value.data) as Record<string, unknown>;
  const dev = map.dev;
  const pk = map.pk;
  if (!(dev instanceof Uint8Array) || !(pk instanceof Uint8Array)) {
    throw new Error("data is not {dev, pk}");
  }
  if (await sha1Hex(pk) !== hex(dev)) throw new Error("dev is not SHA-1(pk)");
  return { dev: hex(dev), pk };
}

/** One announced device of a Jami account, read through our node. */
async function announcedDevice(
  daemon: Daemon,
  accountId: string,
): Promise<{ dev: string; pk: Uint8Array }> {
  const values = await getValues(daemon, InfoHash.fromHex(accountId), 5_000);
  const announcement = values.find((v) => v.type === 0 && v.owner);
  if (announcement === undefined) {
    throw new Error(`no announcement at ${accountId}`);
  }
  return await checkAnnouncement(announcement, accountId);
}

/** Puts `value` at `key` through our node; resolves with the store count. */
function putValue(
  daemon: Daemon,
  key: InfoHash,
  value: DhtValue,
  ms: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`put at ${key}: no answer within ${ms} ms`)),
      ms,
    );
    daemon.dht.put(key, value, {
      onDone(stored) {
        clearTimeout(timer);
        resolve(stored);
      },
    });
  });
}

async function readGzipJson(path: string): Promise<Record<string, unknown>> {
  const file = await Deno.open(path);
  const text = await new Response(
    file.readable.pipeThrough(new DecompressionStream("gzip")),
  ).text();
  return JSON.parse(text);
}

function signalText(signal: JamidSignal): string {
  return `${signal.signal}(${
    signal.args.map((arg) => JSON.stringify(arg)).join(", ")
  })`;
}

async function loopbackUp(): Promise<void> {
  const { code, stderr } = await new Deno.Command("ip", {
    args: ["link", "set", "lo", "up"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `ip link set lo up: ${new TextDecoder().decode(stderr).trim()}`,
    );
  }
}

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "jami-interop-" });
  // Told first, so that a parent that has to kill us can remove it.
  emit({ dir });
  const steps = new Steps();
  let dhtnode: DhtnodeProcess | undefined;
  let jamid: JamidProcess | undefined;
  let daemon: Daemon | undefined;
  const onPid = (name: string, pid: number) => emit({ pid, name });
  const jamidIds: { handle: string; id: string }[] = [];
  let bootstrap = "";
  try {
    // ---- harness ---------------------------------------------------------
    await steps.run("harness", { limitMs: 40_000 }, async () => {
      await loopbackUp();
      const binary = findDhtnode();
      if (binary === undefined) throw new Error("dhtnode is not installed");
      dhtnode = await DhtnodeProcess.start(binary, { args: ["-n", "0"] });
      onPid("dhtnode", dhtnode.pid);
      bootstrap = `127.0.0.1:${dhtnode.port}`;
      jamid = await JamidProcess.start({ dir, onPid });
      daemon = await openUdpDaemon({
        dataDir: `${dir}/ours`,
        bootstrap: [{ host: "127.0.0.1", port: dhtnode.port }],
        links: false,
        scryptLog2N: 10,
      });
      daemon.start();
      return `dhtnode on ${bootstrap}, jamid pid ${jamid.pids.jamid}, our node on port ${daemon.dht.address.port}`;
    });
    const j = () => jamid as JamidProcess;
    const d = () => daemon as Daemon;

    // ---- jamid alone -----------------------------------------------------
    await steps.run(
      "register",
      { needs: ["harness"], limitMs: 90_000 },
      async () => {
        const created = await Promise.all(
          ["J1", "J2", "J3"].map((alias) =>
            j().addAccount(localJamiAccount(alias, bootstrap), 80_000)
          ),
        );
        for (const account of created) {
          if (!/^[0-9a-f]{40}$/.test(account.id)) {
            throw new Error(`Account.username ${account.id} is not 40 hex`);
          }
        }
        jamidIds.push(...created);
        return created.map((a) => `${a.handle} = ${a.id}`).join(", ");
      },
    );
    const J = (i: number) => jamidIds[i];

    await steps.run(
      "announce",
      { needs: ["register"], limitMs: 30_000 },
      async () => {
        const key = InfoHash.fromHex(J(0).id);
        const stored = await until(
          15_000,
          "dhtnode stores J1's values",
          async () =>
            (await dhtnode!.storedCount(J(0).id)) > 0 ? true : undefined,
        );
        const values = await until(
          15_000,
          "our node gets J1's announcement",
          async () => {
            const found = await getValues(d(), key, 5_000);
            return found.some((v) => v.type === 0 && v.owner)
              ? found
              : undefined;
          },
        );
        const devices: string[] = [];
        for (const value of values.filter((v) => v.owner !== undefined)) {
          devices.push((await checkAnnouncement(value, J(0).id)).dev);
        }
        return `dhtnode stores J1's announcement (${stored}); our node verified ${devices.length} announcement(s), device ${
          devices.join(", ")
        }`;
      },
    );

    const exportPath = `${dir}/J1.gz`;
    await steps.run(
      "export",
      { needs: ["register"], limitMs: 30_000 },
      async () => {
        const ok = await j().call("export_to_file", {
          account: J(0).handle,
          path: exportPath,
          password: "",
        });
        if (ok !== true) throw new Error(`exportToFile returned ${ok}`);
        const json = await until(10_000, "the archive file", async () => {
          try {
            return await readGzipJson(exportPath);
          } catch {
            return undefined;
          }
        });
        const missing = ["ringAccountKey", "ringAccountCert", "ringCaKey"]
          .filter((k) => typeof json[k] !== "string");
        if (missing.length > 0) throw new Error(`no ${missing.join(", ")}`);
        return `${exportPath}: ${
          Object.keys(json).filter((k) => k.startsWith("ring")).sort().join(
            ", ",
          )
        } and ${Object.keys(json).length - 3} more fields`;
      },
    );

    // ---- with our Jami account --------------------------------------------
    const events = daemon === undefined ? undefined : new OurEvents(daemon);
    const ev = () => events as OurEvents;
    let ourId = "";

    await steps.run(
      "our-online-at-jamid",
      { needs: ["register"], limitMs: 120_000 },
      async () => {
        const started = performance.now();
        ourId = await d().createJamiAccount();
        const createdMs = Math.round(performance.now() - started);
        await j().call("subscribe_buddy", {
          account: J(0).handle,
          uri: ourId,
          flag: true,
        });
        const seen = await j().waitSignal(
          "newBuddyNotification",
          (a) => a[0] === J(0).handle && a[1] === ourId && Boolean(a[2]),
          30_000,
        );
        return `our account ${ourId} created in ${createdMs} ms; jamid: ${
          signalText(seen)
        }`;
      },
    );

    await steps.run(
      "jamid-online-at-us",
      { needs: ["our-online-at-jamid"], limitMs: 30_000 },
      async () => {
        d().presence.subscribeBuddy(ourId, J(1).id, true);
        const seen = await until(
          25_000,
          "newBuddyNotification status 1",
          () =>
            ev().buddies.find((n) =>
              n.accountId === ourId && n.buddyUri === J(1).id && n.status >= 1
            ),
        );
        return `status ${seen.status} for J2 ${J(1).id}`;
      },
    );

    await steps.run(
      "request-legacy",
      { needs: ["our-online-at-jamid"], limitMs: 40_000 },
      async () => {
        await d().config.sendTrustRequest(ourId, J(0).id, PAYLOAD);
        const seen = await j().waitSignal(
          "incomingTrustRequest",
          (a) => a[0] === J(0).handle && a[2] === ourId,
          30_000,
        );
        if (seen.args[1] !== "") {
          throw new Error(`conversationId ${seen.args[1]}, not ""`);
        }
        if (seen.args[3] !== hex(PAYLOAD)) {
          throw new Error(`payload ${seen.args[3]}, not ours`);
        }
        const pending = await j().call("trust_requests", {
          account: J(0).handle,
        }) as Record<string, string>[];
        if (!pending.some((r) => r.from === ourId)) {
          throw new Error(`getTrustRequests: ${JSON.stringify(pending)}`);
        }
        return `${signalText(seen)}; getTrustRequests lists it`;
      },
    );

    await steps.run(
      "request-conversation",
      { needs: ["our-online-at-jamid"], limitMs: 40_000 },
      async () => {
        await d().config.sendTrustRequest(ourId, J(1).id, PAYLOAD, {
          conversationId: CONVERSATION_ID,
        });
        const request = await j().waitSignal(
          "incomingTrustRequest",
          (a) => a[0] === J(1).handle && a[2] === ourId,
          30_000,
        );
        if (request.args[1] !== CONVERSATION_ID) {
          throw new Error(
            `jamid got conversationId ${
              JSON.stringify(request.args[1])
            }, not ours (no conversationId option?)`,
          );
        }
        const conversation = await j().waitSignal(
          "conversationRequestReceived",
          (a) => a[0] === J(1).handle && a[1] === CONVERSATION_ID,
          10_000,
        );
        return `${signalText(request)}; ${signalText(conversation)}`;
      },
    );

    await steps.run(
      "jamid-requests",
      { needs: ["our-online-at-jamid"], limitMs: 40_000 },
      async () => {
        await j().call("send_trust_request", {
          account: J(2).handle,
          to: ourId,
          payload: hex(JAMID_PAYLOAD),
        });
        const seen = await until(
          30_000,
          "our incomingTrustRequest",
          () =>
            ev().requests.find((r) =>
              r.accountId === ourId && r.from === J(2).id
            ),
        );
        if (hex(seen.payload) !== hex(JAMID_PAYLOAD)) {
          throw new Error(`payload ${hex(seen.payload)}, not jamid's`);
        }
        return `from ${seen.from}, payload ${seen.payload.length} bytes`;
      },
    );

    await steps.run(
      "we-accept",
      { needs: ["jamid-requests"], limitMs: 40_000 },
      async () => {
        await d().config.acceptTrustRequest(ourId, J(2).id);
        const seen = await j().waitSignal(
          "contactAdded",
          (a) => a[0] === J(2).handle && a[1] === ourId && a[2] === true,
          30_000,
        );
        const details = await j().call("contact_details", {
          account: J(2).handle,
          uri: ourId,
        }) as Record<string, string>;
        if (details.confirmed !== "true") {
          throw new Error(`getContactDetails: ${JSON.stringify(details)}`);
        }
        return `${signalText(seen)}; getContactDetails confirmed=true`;
      },
    );

    await steps.run(
      "forged-request",
      { needs: ["we-accept"], limitMs: 40_000 },
      async () => {
        // A well-formed request from a device key that no account certified
        // and whose certificate is not on the DHT (spec §7 N1).
        const target = await announcedDevice(d(), J(2).id);
        const forger = await JamiPrivateKey.generate(2048);
        const value = await sealTrustRequest(
          {
            service: "cx.ring",
            conversationId: "",
            payload: PAYLOAD,
            confirm: false,
          },
          forger,
          await JamiPublicKey.fromSpki(target.pk),
          crypto.getRandomValues(new BigUint64Array(1))[0] | 1n,
          systemRandomBytes,
        );
        const before = j().signals.length;
        const drops = async () => (await j().logTail(DROP_LOG, 1_000)).length;
        const dropsBefore = await drops();
        const stored = await putValue(
          d(),
          await inboxKey(target.dev),
          value,
          10_000,
        );
        if (stored === 0) {
          throw new Error("the forged request was stored nowhere");
        }
        await sleep(FORGED_WAIT_MS);
        const reactions = j().signals.slice(before).filter((signal) =>
          signal.args[0] === J(2).handle &&
          [
            "incomingTrustRequest",
            "contactAdded",
            "conversationRequestReceived",
          ]
            .includes(signal.signal)
        );
        if (reactions.length > 0) {
          throw new Error(
            `jamid reacted: ${reactions.map(signalText).join("; ")}`,
          );
        }
        // Not vacuous: jamid got it, found no certificate and dropped it.
        if (await drops() <= dropsBefore) {
          throw new Error(`jamid's log has no new "${DROP_LOG.source}" line`);
        }
        return `stored on ${stored} node(s) at J3's inbox; jamid logged "${DROP_LOG.source}" and emitted no signal in ${FORGED_WAIT_MS} ms`;
      },
    );

    await steps.run(
      "jamid-imports-ours",
      { needs: ["our-online-at-jamid"], limitMs: 90_000 },
      async () => {
        const bytes = await d().exportJamiArchive(ourId);
        const path = `${dir}/ours.gz`;
        await Deno.writeFile(path, bytes);
        const imported = await j().addAccount({
          ...localJamiAccount("ours", bootstrap),
          "Account.archivePath": path,
        }, 80_000);
        if (imported.id !== ourId) {
          throw new Error(
            `jamid's Account.username ${imported.id}, not ${ourId}`,
          );
        }
        return `jamid account ${imported.handle} has Account.username ${imported.id}`;
      },
    );

    // Last jamid action: its accept may start a swarm clone over ICE.
    await steps.run(
      "jamid-accepts",
      { needs: ["request-legacy"], limitMs: 40_000 },
      async () => {
        await j().call("accept_trust_request", {
          account: J(0).handle,
          from: ourId,
        });
        const seen = await until(
          30_000,
          "our contactAdded(confirmed)",
          () =>
            ev().contacts.find((c) =>
              c.accountId === ourId && c.uri === J(0).id && c.confirmed
            ) ??
              (d().config.getContacts(ourId).find((c) =>
                  c.id === J(0).id && c.confirmed
                )
                ? { accountId: ourId, uri: J(0).id, confirmed: true }
                : undefined),
        );
        const theirs = await j().call("contacts", {
          account: J(0).handle,
        }) as Record<string, string>[];
        const us = theirs.find((c) => c.id === ourId);
        if (us?.confirmed !== "true") {
          throw new Error(`jamid's getContacts: ${JSON.stringify(theirs)}`);
        }
        return `our contact ${seen.uri} confirmed; jamid's getContacts has us confirmed`;
      },
    );

    await steps.run(
      "import-jamid-archive",
      { needs: ["export", "our-online-at-jamid"], limitMs: 90_000 },
      async () => {
        const id = await d().importJamiArchive(
          await Deno.readFile(exportPath),
        );
        if (id !== J(0).id) throw new Error(`imported ${id}, not ${J(0).id}`);
        return `imported account id ${id}`;
      },
    );

    const offline = Deno.env.get("JAMI_INTEROP_OFFLINE") === "1";
    await steps.run(
      "jamid-offline-at-us",
      {
        needs: ["register"],
        limitMs: 12 * 60_000,
        skip: offline
          ? undefined
          : "set JAMI_INTEROP_OFFLINE=1 to wait up to 10 min for jamid's announcement to expire",
      },
      async () => {
        // At the DHT level (always): our node's listen on J2's account key.
        const key = InfoHash.fromHex(J(1).id);
        const announcements = new Set<bigint>();
        let gone = false;
        const listen = d().dht.listen(key, (event) => {
          if (event.kind === "added") {
            for (const v of event.values) {
              if (v.type === 0 && v.owner !== undefined) {
                announcements.add(v.id);
              }
            }
          } else if (event.kind === "expired") {
            for (const id of event.ids) announcements.delete(id);
            gone = announcements.size === 0;
          }
        });
        try {
          await until(
            15_000,
            "J2's announcement on our listen",
            () => announcements.size > 0 ? true : undefined,
          );
          const killed = performance.now();
          await j().killDaemon();
          await until(
            11 * 60_000,
            "J2's announcement expiring",
            () => gone ? true : undefined,
          );
          const expiredS = Math.round((performance.now() - killed) / 1000);
          let status = "";
          // At the API level, once our Jami account exists and follows J2.
          if (ourId !== "") {
            const seen = await until(
              60_000,
              "newBuddyNotification status 0",
              () =>
                ev().buddies.find((n) =>
                  n.accountId === ourId && n.buddyUri === J(1).id &&
                  n.status === 0
                ),
            );
            status = `; newBuddyNotification status ${seen.status} ${
              Math.round((performance.now() - killed) / 1000)
            } s after the kill`;
          }
          return `J2's announcement expired on our listen ${expiredS} s after jamid was killed${status}`;
        } finally {
          listen.cancel();
        }
      },
    );
  } finally {
    const closing: Promise<unknown>[] = [];
    if (daemon !== undefined) {
      closing.push(timeLimit(daemon.stop(), 10_000, "stop").catch(() => {}));
    }
    if (jamid !== undefined) closing.push(jamid.close());
    if (dhtnode !== undefined) closing.push(dhtnode.close());
    await Promise.all(closing);
    if (Deno.env.get("JAMI_INTEROP_KEEP") === "1") {
      console.error(`[jami-scenario] kept ${dir}`);
    } else {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
