/**
 * `Daemon.stop()` and what the daemon owns: the resources given in
 * `DaemonOptions.resources` are closed once, in order, after the DHT node has
 * stopped; what is not listed (the transport by default) is left to the
 * caller. Driven on the simulated network with a manual clock.
 */
import assert from "node:assert/strict";
import { Daemon, type DaemonResource } from "../lib/daemon/daemon.ts";
import { ManualClock } from "../lib/testing/manual_clock.ts";
import { MemoryStorage } from "../lib/testing/memory_storage.ts";
import { seededRng } from "../lib/rng.ts";
import { SimulatedNetwork } from "../lib/testing/simulated_network.ts";

function setup() {
  const clock = new ManualClock(1_700_000_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng(1) });
  const closed: string[] = [];
  const resource = (name: string, fail = false): DaemonResource => ({
    close() {
      closed.push(name);
      if (fail) throw new Error(`cannot close ${name}`);
    },
  });
  const open = (resources?: DaemonResource[]) =>
    Daemon.open({
      transport: network.attach(),
      clock,
      rng: seededRng(2),
      storage: new MemoryStorage(),
      scryptLog2N: 10,
      resources,
    });
  /** Runs the clock (bounded) until `promise` settles. */
  const settle = async <T>(promise: Promise<T>): Promise<T> => {
    let done = false;
    promise.then(() => done = true, () => done = true);
    for (let i = 0; i < 100 && !done; i++) {
      clock.advance(100);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.ok(done, "did not settle within 10 s of virtual time");
    return await promise;
  };
  return { closed, resource, open, settle };
}

Deno.test("Daemon.stop() closes its resources once, in order, after the DHT node stopped", async () => {
  const { closed, resource, open, settle } = setup();
  let dhtRunningAtClose: boolean | undefined;
  const daemon: Daemon = await open([
    {
      close() {
        dhtRunningAtClose = daemon.dht.running;
        closed.push("socket");
      },
    },
    resource("lock"),
  ]);
  await daemon.createAccount();
  daemon.start();
  const first = daemon.stop();
  const second = daemon.stop();
  assert.equal(first, second);
  await settle(first);
  assert.deepEqual(closed, ["socket", "lock"]);
  assert.equal(dhtRunningAtClose, false);
  assert.equal(daemon.pendingWork, 0);
  await daemon.stop();
  assert.deepEqual(closed, ["socket", "lock"]);
  assert.throws(() => daemon.start(), /Cannot start daemon: stop\(\) closed/);
});

Deno.test("Daemon.stop() closes every resource even if one fails, then rejects with that error", async () => {
  const { closed, resource, open, settle } = setup();
  const daemon = await open([resource("a", true), resource("b")]);
  daemon.start();
  await assert.rejects(settle(daemon.stop()), /cannot close a/);
  assert.deepEqual(closed, ["a", "b"]);
});

Deno.test("Daemon.stop() without resources closes nothing and the daemon can start again", async () => {
  const { open, settle } = setup();
  const daemon = await open();
  daemon.start();
  await settle(daemon.stop());
  assert.equal(daemon.running, false);
  daemon.start();
  assert.equal(daemon.running, true);
  await settle(daemon.stop());
});

Deno.test("Daemon.crash() closes its resources too, as a killed process loses them", async () => {
  const { closed, resource, open, settle } = setup();
  const daemon = await open([resource("socket")]);
  daemon.start();
  daemon.crash();
  await settle(Promise.resolve());
  assert.deepEqual(closed, ["socket"]);
});
