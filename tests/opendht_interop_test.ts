/**
 * Interoperability with the real OpenDHT (2.4, Debian's `dhtnode`): our
 * `DhtNode`s and `dhtnode` processes on 127.0.0.1, in both directions.
 *
 * Method: one small network per test, built in a fixed order so that we know
 * which node stores what; `dhtnode` is driven through its shell (see
 * `interop/dhtnode_process.ts`) and checked through what it prints (`lr`,
 * `g`, `l`, `ld`). Every wait is bounded and every process is killed in
 * `finally`.
 *
 * Expiry within seconds: values of type 5 ("ICE candidates") live one minute.
 * A put carries its creation time (`c`, Unix seconds), and a storing node
 * counts the lifetime from it, so a node whose clock runs 55 s late puts a
 * value that every storing node expires about 5 s later. Permanent puts carry
 * no `c`, so the permanent test really waits past the minute (it runs
 * alongside the others).
 *
 * Without `dhtnode` these tests are ignored, unless `CI` or
 * `REQUIRE_OPENDHT=1` is set: then they fail and say how to install it.
 */
import assert from "node:assert/strict";
import type { Clock, Timer } from "../lib/clock.ts";
import { DhtNode } from "../lib/dht/dht_node.ts";
import type { ListenEvent } from "../lib/dht/dht_client.ts";
import type { DhtValue } from "../lib/dht/messages.ts";
import { InfoHash } from "../lib/identity/info_hash.ts";
import { seededRng } from "../lib/rng.ts";
import { systemClock } from "../lib/io/system_clock.ts";
import type { PeerAddress } from "../lib/transport.ts";
import { UdpTransport } from "../lib/io/udp_transport.ts";
import { DhtnodeProcess, findDhtnode } from "./interop/dhtnode_process.ts";
import { hasPythonOpendht, PythonPeer } from "./interop/python_peer.ts";
import { within } from "./_within.ts";

const DHTNODE = findDhtnode();
const PYTHON_OPENDHT = await hasPythonOpendht();
const REQUIRED = Deno.env.get("CI") !== undefined ||
  Deno.env.get("REQUIRE_OPENDHT") === "1";
/** Skipped only when OpenDHT is missing and nobody asked for it. */
const IGNORE = DHTNODE === undefined && !REQUIRED;
const IGNORE_PYTHON = !PYTHON_OPENDHT && !REQUIRED;

/** ICE candidates: a type OpenDHT knows, with a 1-minute lifetime. */
const ICE_TYPE = 5;
const ICE_LIFETIME_MS = 60_000;
/** How late the "late" node's clock runs: its type-5 values expire ~5 s after the put. */
const LATE_MS = ICE_LIFETIME_MS - 5_000;

function requireDhtnode(): string {
  if (DHTNODE === undefined) {
    throw new Error(
      "OpenDHT's dhtnode is not installed, and CI or REQUIRE_OPENDHT=1 asks for the interop tests: run `apt-get install -y dhtnode python3-opendht`",
    );
  }
  return DHTNODE;
}

function requirePythonOpendht(): void {
  if (!PYTHON_OPENDHT) {
    throw new Error(
      "OpenDHT's Python binding is not importable by /usr/bin/python3, and CI or REQUIRE_OPENDHT=1 asks for the interop tests: run `apt-get install -y dhtnode python3-opendht`",
    );
  }
}

/** The system clock shifted into the past: puts carry an old creation time. */
function lateClock(lateMs: number): Clock {
  return {
    now: () => systemClock.now() - lateMs,
    setTimer(delayMs: number, callback: () => void): Timer {
      const timer = systemClock.setTimer(delayMs, callback);
      return { cancel: () => timer.cancel(), dueMs: timer.dueMs - lateMs };
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 100 ms until it is true; fails after `ms`. */
async function until(
  ms: number,
  what: string,
  check: () => boolean | Promise<boolean>,
  detail?: () => string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not true within ${ms} ms${detail ? `\n${detail()}` : ""}`,
      );
    }
    await sleep(100);
  }
}

const TEXT = new TextEncoder();
const UTF8 = new TextDecoder();

/** Our nodes and dhtnode processes of one test, torn down together. */
class Network {
  readonly #nodes: DhtNode[] = [];
  readonly #transports: UdpTransport[] = [];
  readonly #real: DhtnodeProcess[] = [];

  async ours(
    name: string,
    bootstrap: readonly PeerAddress[],
    clock: Clock = systemClock,
  ): Promise<DhtNode> {
    const transport = await UdpTransport.bind({ host: "127.0.0.1", port: 0 });
    this.#transports.push(transport);
    const node = new DhtNode(
      { transport, clock, rng: seededRng(`interop-${name}`) },
      { bootstrap },
    );
    this.#nodes.push(node);
    node.start();
    return node;
  }

  async real(bootstrap?: PeerAddress): Promise<DhtnodeProcess> {
    // DHTNODE_LOG_DIR=<dir> keeps dhtnode's verbose logs, for debugging.
    const logDir = Deno.env.get("DHTNODE_LOG_DIR");
    const process = await DhtnodeProcess.start(requireDhtnode(), {
      bootstrap: bootstrap && `${bootstrap.host}:${bootstrap.port}`,
      args: logDir === undefined
        ? []
        : ["-v", "-l", `${logDir}/dhtnode-${crypto.randomUUID()}.log`],
    });
    this.#real.push(process);
    return process;
  }

  async close(): Promise<void> {
    for (const node of this.#nodes) node.stop();
    await Promise.all(this.#transports.map((t) => t.close()));
    await Promise.all(this.#real.map((process) => process.close()));
  }
}

function addressOf(process: DhtnodeProcess): PeerAddress {
  return { host: "127.0.0.1", port: process.port };
}

function knows(node: DhtNode, id: string): boolean {
  return node.routingTable.nodes().some((entry) => entry.id.toString() === id);
}

function printable(event: ListenEvent): string {
  return JSON.stringify(
    event,
    (_key, value) => typeof value === "bigint" ? value.toString() : value,
  );
}

Deno.test({
  name: "OpenDHT interop: each side bootstraps from the other and sees it",
  ignore: IGNORE,
  async fn() {
    const network = new Network();
    try {
      // dhtnode bootstraps from our node…
      const first = await network.ours("first", []);
      const real = await network.real(first.address);
      await until(
        5_000,
        "our node has dhtnode in its table",
        () => knows(first, real.id),
      );
      await until(
        5_000,
        "dhtnode has our node in its table",
        async () => (await real.routingTable()).includes(first.id.toString()),
      );
      // …and a new node of ours bootstraps from dhtnode alone.
      const second = await network.ours("second", []);
      const answered = await within<number>(
        5_000,
        "bootstrap from dhtnode",
        (done) => second.bootstrap([addressOf(real)], done),
      );
      assert.equal(answered, 1);
      assert.ok(knows(second, real.id), "our node learnt dhtnode's id");
      await until(
        5_000,
        "dhtnode has the second node in its table",
        async () => (await real.routingTable()).includes(second.id.toString()),
      );
      // Through dhtnode's answers, the second node also found the first one.
      await until(
        5_000,
        "second node knows the first",
        () => knows(second, first.id.toString()),
      );
      assert.equal(first.stats().rpc.droppedMalformed, 0);
      assert.equal(second.stats().rpc.droppedMalformed, 0);
    } finally {
      await network.close();
    }
  },
});

Deno.test({
  name: "OpenDHT interop: values put on one side are found by get on the other",
  ignore: IGNORE,
  async fn() {
    const network = new Network();
    try {
      // Before dhtnode exists, a value goes to our storing node only, so
      // dhtnode's get must fetch it from us (paginated get with a select).
      const storer = await network.ours("storer", []);
      const writer = await network.ours("writer", [storer.address]);
      await until(
        3_000,
        "writer knows storer",
        () => knows(writer, storer.id.toString()),
      );
      const ourKey = InfoHash.get("interop: put by our node");
      const stored = await within<number>(
        5_000,
        "our put",
        (done) =>
          writer.put(ourKey, {
            id: 0x1234_5678_9abc_def0n,
            type: 0,
            data: TEXT.encode("from deno"),
          }, { onDone: done }),
      );
      assert.equal(stored, 1);
      const real = await network.real(storer.address);
      await until(5_000, "storer knows dhtnode", () => knows(storer, real.id));
      assert.equal(await real.storedCount(ourKey.toString()), 0);
      const found = await real.get(ourKey.toString());
      assert.deepEqual(found.map((value) => value.id), [
        0x1234_5678_9abc_def0n,
      ]);
      // Without a user type dhtnode prints the data in hex.
      assert.match(found[0].text, /data:66726f6d2064656e6f\]/);

      // dhtnode puts (type 0, "text/plain"); our get finds it.
      const realKey = InfoHash.get("interop: put by dhtnode");
      await real.command(`p ${realKey} from-opendht`);
      const putLine = await real.waitFor(/^Put: /, 5_000, "put");
      assert.match(real.output[putLine], /^Put: success/);
      const reader = await network.ours("reader", [addressOf(real)]);
      await until(5_000, "reader knows dhtnode", () => knows(reader, real.id));
      const values = await within<readonly DhtValue[]>(
        5_000,
        "our get",
        (done) => reader.get(realKey, { onDone: done }),
      );
      assert.equal(values.length, 1);
      assert.equal(UTF8.decode(values[0].data), "from-opendht");
      assert.equal(values[0].type, 0);
      assert.equal(values[0].userType, "text/plain");
      const printedId = /Value ID: ([0-9a-f]+)/.exec(real.output[putLine]);
      assert.equal(values[0].id, BigInt("0x" + printedId?.[1]));
      // Values over 600 bytes travel as 1,280-byte value parts, both ways.
      const bigKey = InfoHash.get("interop: big values");
      await real.command(`p ${bigKey} ${"o".repeat(3_000)}`);
      assert.match(
        real.output[await real.waitFor(/^Put: /, 5_000, "big put")],
        /^Put: success/,
      );
      const bigStored = await within<number>(
        5_000,
        "our big put",
        (done) =>
          reader.put(bigKey, {
            id: 3_000n,
            type: 0,
            data: new Uint8Array(3_000).fill(0x64),
          }, { onDone: done }),
      );
      assert.ok(bigStored >= 1);
      const bigValues = await within<readonly DhtValue[]>(
        5_000,
        "our big get",
        (done) => reader.get(bigKey, { onDone: done }),
      );
      assert.deepEqual(
        bigValues.map((value) => value.data.length).sort(),
        [3_000, 3_000],
      );
      assert.ok(
        bigValues.some((value) =>
          UTF8.decode(value.data) === "o".repeat(3_000)
        ),
      );
      assert.equal(await real.storedCount(bigKey.toString()), 2);
      for (const node of [storer, writer, reader]) {
        assert.equal(node.stats().rpc.droppedMalformed, 0);
      }
    } finally {
      await network.close();
    }
  },
});

Deno.test({
  name:
    "OpenDHT interop: listens on each side get values put on the other, and their expiry",
  ignore: IGNORE,
  async fn() {
    const network = new Network();
    try {
      const real = await network.real();
      const listener = await network.ours("listener", [addressOf(real)]);
      const late = await network.ours(
        "late",
        [addressOf(real)],
        lateClock(LATE_MS),
      );
      await until(
        5_000,
        "bootstrap",
        () => knows(listener, real.id) && knows(late, real.id),
      );
      const key = InfoHash.get("interop: listen");
      const events: ListenEvent[] = [];
      listener.listen(key, (event) => events.push(event));
      await real.command(`l ${key}`);
      await real.waitFor(/^Listening, token/, 3_000, "listen");
      // Let our listen reach dhtnode before the puts.
      await sleep(500);

      // dhtnode's put reaches our listen.
      await real.command(`p ${key} real-value`);
      await until(
        10_000,
        "our listen hears dhtnode's put",
        () =>
          events.some((event) =>
            event.kind === "added" &&
            event.values.some((v) => UTF8.decode(v.data) === "real-value")
          ),
        () =>
          `events: ${events.map(printable).join(" ")}\nlistener: ${
            JSON.stringify(listener.stats())
          }\ndhtnode: ${real.output.slice(-10).join(" | ")}`,
      );

      // Our late node puts an ICE candidate created 55 s ago: dhtnode's
      // listen gets it, and both listens hear it expire ~5 s later.
      const iceId = 0xfeed_beef_0000_0005n;
      const putAt = Date.now();
      const stored = await within<number>(
        5_000,
        "late put",
        (done) =>
          late.put(key, {
            id: iceId,
            type: ICE_TYPE,
            data: TEXT.encode("ice"),
          }, { onDone: done }),
      );
      assert.ok(stored >= 1, `stored on ${stored} nodes`);
      // dhtnode's listen hears our value (after its own), then its expiry.
      let heard = await real.nextListen(10_000, "dhtnode hears our put");
      while (!heard.values.some((value) => value.id === iceId)) {
        heard = await real.nextListen(10_000, "dhtnode hears our put");
      }
      assert.equal(heard.expired, false);
      assert.ok(
        real.output.some((line) => /Value\[id:feedbeef00000005 /.test(line)),
      );
      const expired = await real.nextListen(
        15_000,
        "dhtnode hears the expiry",
      );
      assert.equal(expired.expired, true);
      assert.deepEqual(expired.values.map((v) => v.id), [iceId]);
      await until(
        15_000,
        "our listen hears the expiry",
        () =>
          events.some((event) =>
            event.kind === "expired" && event.ids.includes(iceId)
          ),
      );
      const elapsed = Date.now() - putAt;
      // Expired by its type's lifetime counted from `c`, not dropped at once
      // nor kept for a minute.
      assert.ok(
        elapsed > 2_000 && elapsed < 20_000,
        `expired after ${elapsed} ms`,
      );
      // dhtnode's own value (10 minutes) is still there.
      assert.ok(
        !events.some((event) =>
          event.kind === "expired" && event.ids.length > 1
        ),
        events.map(printable).join("\n"),
      );
      assert.equal(await real.storedCount(key.toString()), 1);
      assert.equal(listener.stats().rpc.droppedMalformed, 0);
    } finally {
      await network.close();
    }
  },
});

Deno.test({
  name:
    "OpenDHT interop: dhtnode's listen at our node hears the values and expiries we push",
  ignore: IGNORE,
  async fn() {
    const network = new Network();
    try {
      // The value is stored on our node before dhtnode exists, so dhtnode
      // holds no copy: everything its listen hears comes from our pushes.
      const storer = await network.ours("push-storer", []);
      const late = await network.ours(
        "push-late",
        [storer.address],
        lateClock(LATE_MS - 5_000),
      );
      await until(
        3_000,
        "late knows storer",
        () => knows(late, storer.id.toString()),
      );
      const key = InfoHash.get("interop: pushed by our node");
      const iceId = 0xfeed_beef_0000_0006n;
      const stored = await within<number>(
        5_000,
        "late put",
        (done) =>
          late.put(key, {
            id: iceId,
            type: ICE_TYPE,
            data: TEXT.encode("pushed"),
          }, { onDone: done }),
      );
      assert.equal(stored, 1);
      const putAt = Date.now();
      const real = await network.real(storer.address);
      await until(5_000, "storer knows dhtnode", () => knows(storer, real.id));
      await real.command(`l ${key}`);
      const added = await real.nextListen(
        10_000,
        "dhtnode hears the stored value",
      );
      assert.equal(added.expired, false);
      assert.deepEqual(added.values.map((v) => v.id), [iceId]);
      assert.equal(await real.storedCount(key.toString()), 0);
      const expired = await real.nextListen(15_000, "dhtnode hears the expiry");
      assert.equal(expired.expired, true);
      assert.deepEqual(expired.values.map((v) => v.id), [iceId]);
      const elapsed = Date.now() - putAt;
      assert.ok(
        elapsed > 5_000 && elapsed < 15_000,
        `expired after ${elapsed} ms`,
      );
      assert.equal(storer.stats().rpc.droppedMalformed, 0);
    } finally {
      await network.close();
    }
  },
});

/** Our permanent and plain type-5 puts, checked on dhtnode after a minute. */
async function permanentScenario(network: Network): Promise<void> {
  const real = await network.real();
  const publisher = await network.ours("publisher", [addressOf(real)]);
  await until(5_000, "bootstrap", () => knows(publisher, real.id));
  const permanentKey = InfoHash.get("interop: permanent");
  const onceKey = InfoHash.get("interop: once");
  const putAt = Date.now();
  const [permanent, once] = await Promise.all([
    within<number>(
      5_000,
      "permanent put",
      (done) =>
        publisher.put(permanentKey, {
          id: 1n,
          type: ICE_TYPE,
          data: TEXT.encode("permanent"),
        }, { permanent: true, onDone: done }),
    ),
    within<number>(5_000, "plain put", (done) =>
      publisher.put(onceKey, {
        id: 2n,
        type: ICE_TYPE,
        data: TEXT.encode("once"),
      }, { onDone: done })),
  ]);
  assert.deepEqual([permanent, once], [1, 1]);
  assert.equal(await real.storedCount(permanentKey.toString()), 1);
  assert.equal(await real.storedCount(onceKey.toString()), 1);
  // Past the 1-minute lifetime (dhtnode expires values on schedule).
  await sleep(ICE_LIFETIME_MS + 8_000 - (Date.now() - putAt));
  assert.equal(
    await real.storedCount(onceKey.toString()),
    0,
    "the plain put expired",
  );
  assert.equal(
    await real.storedCount(permanentKey.toString()),
    1,
    "the permanent put was refreshed",
  );
  // A get by the Python runner is one lookup over UDP: on a loaded machine
  // an answer can come late, so it is asked at most three times.
  let found = await real.get(permanentKey.toString());
  for (let attempt = 1; attempt < 3 && found.length === 0; attempt++) {
    found = await real.get(permanentKey.toString());
  }
  assert.deepEqual(found.map((value) => value.id), [1n]);
}

/** A Python runner's type-5 put (no back-dating possible), heard by our listen until it expires. */
async function pythonExpiryScenario(
  network: Network,
  python: PythonPeer,
): Promise<void> {
  // Our nodes' storage maintenance (first at 45–75 s) runs during the
  // minute: it must not refresh the runner's copy (OpenDHT takes an
  // identical put as a refresh), or the value would live a minute longer.
  const storer = await network.ours("py-expiry-storer", []);
  await python.request({ op: "bootstrap", ...storer.address });
  const listener = await network.ours("py-expiry-listener", [
    storer.address,
  ]);
  await until(
    5_000,
    "bootstrap",
    () => knows(storer, python.id) && knows(listener, python.id),
  );
  const key = InfoHash.get("interop: python ICE candidate");
  const events: ListenEvent[] = [];
  listener.listen(key, (event) => events.push(event));
  await sleep(500);
  const putAt = Date.now();
  assert.equal(
    await python.put(key.toString(), {
      data: TEXT.encode("python ice"),
      id: 99n,
      type: ICE_TYPE,
    }),
    true,
  );
  await until(
    5_000,
    "our listen hears the runner's put",
    () =>
      events.some((event) =>
        event.kind === "added" &&
        event.values.some((v) => v.id === 99n && v.type === ICE_TYPE)
      ),
  );
  await until(
    ICE_LIFETIME_MS + 15_000,
    "our listen hears the expiry",
    () =>
      events.some((event) =>
        event.kind === "expired" && event.ids.includes(99n)
      ),
  );
  const elapsed = Date.now() - putAt;
  assert.ok(
    elapsed >= ICE_LIFETIME_MS - 2_000,
    `expired after ${elapsed} ms, before the type's minute`,
  );
}

Deno.test({
  name:
    "OpenDHT interop: over a type-5 value's minute, our permanent put stays on dhtnode and a Python runner's put expires for our listen",
  ignore: IGNORE || IGNORE_PYTHON,
  async fn() {
    requireDhtnode();
    requirePythonOpendht();
    const network = new Network();
    let python: PythonPeer | undefined;
    try {
      python = await PythonPeer.start();
      // Both wait out the same minute.
      await Promise.all([
        permanentScenario(network),
        pythonExpiryScenario(network, python),
      ]);
    } finally {
      await python?.close();
      await network.close();
    }
  },
});

Deno.test({
  name:
    "OpenDHT interop: the Python binding's DhtRunner and our nodes bootstrap, put, get and listen both ways",
  ignore: IGNORE_PYTHON,
  async fn() {
    requirePythonOpendht();
    const network = new Network();
    let peer: PythonPeer | undefined;
    try {
      const first = await network.ours("py-first", []);
      peer = await PythonPeer.start();
      const python = peer;
      const pythonAddress = { host: "127.0.0.1", port: python.port };
      // The runner bootstraps from our node; a second node of ours from it.
      await python.request({ op: "bootstrap", ...first.address });
      await until(
        5_000,
        "our node knows the runner",
        () => knows(first, python.id),
      );
      await until(
        5_000,
        "the runner knows our node",
        async () => (await python.nodes()).includes(first.id.toString()),
      );
      const second = await network.ours("py-second", [pythonAddress]);
      await until(
        5_000,
        "second node knows the runner",
        () => knows(second, python.id),
      );

      const ourKey = InfoHash.get("interop: python listens");
      const theirKey = InfoHash.get("interop: we listen");
      const events: ListenEvent[] = [];
      second.listen(theirKey, (event) => events.push(event));
      await python.request({ op: "listen", key: ourKey.toString() });
      await sleep(500);

      // The runner puts; our listen hears it and our get finds it.
      assert.equal(
        await python.put(theirKey.toString(), {
          data: TEXT.encode("from python"),
          id: 77n,
        }),
        true,
      );
      await until(
        5_000,
        "our listen hears the runner's put",
        () =>
          events.some((event) =>
            event.kind === "added" && event.values.some((v) => v.id === 77n)
          ),
      );
      const found = await within<readonly DhtValue[]>(
        5_000,
        "our get",
        (done) => first.get(theirKey, { onDone: done }),
      );
      assert.deepEqual(
        found.map((v) => [v.id, UTF8.decode(v.data)]),
        [[77n, "from python"]],
      );

      // We put; the runner's listen hears it and its get finds it.
      const stored = await within<number>(
        5_000,
        "our put",
        (done) =>
          second.put(ourKey, {
            id: 78n,
            type: 0,
            data: TEXT.encode("from deno"),
          }, { onDone: done }),
      );
      assert.ok(stored >= 1);
      await until(
        5_000,
        "the runner's listen hears our put",
        () =>
          python.events.some((event) =>
            event.key === ourKey.toString() && event.value.id === 78n
          ),
      );
      const theirs = await python.get(ourKey.toString());
      assert.deepEqual(
        theirs.map((v) => [v.id, UTF8.decode(v.data)]),
        [[78n, "from deno"]],
      );
    } finally {
      await peer?.close();
      await network.close();
    }
  },
});
