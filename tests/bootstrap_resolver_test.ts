/**
 * BootstrapResolver with a fake resolver and millisecond waits: names that
 * failed at start resolve later and reach the node, each once; literal
 * addresses need no look-up; a stopped resolver reports nothing.
 */
import assert from "node:assert/strict";
import {
  BootstrapResolver,
  resolveBootstrap,
} from "../cli/bootstrap_resolver.ts";
import type { PeerAddress } from "../lib/transport.ts";

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.ok(check(), `timed out: ${what}`);
}

Deno.test("resolveBootstrap keeps literal addresses, resolves names to all their addresses and lists those that fail", async () => {
  const lookups: string[] = [];
  const result = await resolveBootstrap(
    [
      { host: "192.0.2.1", port: 4222 },
      { host: "two.example", port: 4300 },
      { host: "down.example", port: 4222 },
    ],
    (host) => {
      lookups.push(host);
      return host === "two.example"
        ? Promise.resolve(["192.0.2.7", "2001:db8::7"])
        : Promise.reject(new Error("ENOTFOUND"));
    },
  );
  assert.deepEqual(lookups, ["two.example", "down.example"]);
  assert.deepEqual(result.resolved, [
    { host: "192.0.2.1", port: 4222 },
    { host: "192.0.2.7", port: 4300 },
    { host: "2001:db8::7", port: 4300 },
  ]);
  assert.deepEqual(result.unresolved, [{ host: "down.example", port: 4222 }]);
  assert.equal(result.errors[0].message, "ENOTFOUND");
});

Deno.test("BootstrapResolver: names that failed resolve later, each reported once with its own addresses", async () => {
  const network = { up: false };
  const times: Record<string, number[]> = {};
  const resolved: { name: string; addresses: PeerAddress[] }[] = [];
  const resolver = new BootstrapResolver({
    names: [
      { host: "a.example", port: 4222 },
      { host: "b.example", port: 4222 },
      { host: "empty.example", port: 4222 },
    ],
    lookup: (host) => {
      (times[host] ??= []).push(Date.now());
      if (!network.up) return Promise.reject(new Error("EAI_AGAIN"));
      if (host === "empty.example") return Promise.resolve([]);
      return Promise.resolve([
        host === "a.example" ? "192.0.2.1" : "192.0.2.2",
      ]);
    },
    onResolved: (name, addresses) =>
      resolved.push({ name: name.host, addresses }),
    firstDelayMs: 10,
    maxDelayMs: 40,
  });
  resolver.start();
  await until(() => (times["a.example"]?.length ?? 0) >= 3, "three tries");
  assert.deepEqual(resolved, []);
  network.up = true;
  await until(() => resolved.length === 2, "both names");
  assert.deepEqual(resolved, [
    { name: "a.example", addresses: [{ host: "192.0.2.1", port: 4222 }] },
    { name: "b.example", addresses: [{ host: "192.0.2.2", port: 4222 }] },
  ]);
  // A name with no address stays pending; the others are not looked up again.
  const triesOfA = times["a.example"].length;
  await until(
    () => times["empty.example"].length >= triesOfA + 1,
    "more tries",
  );
  assert.equal(times["a.example"].length, triesOfA);
  assert.deepEqual(resolver.pending.map((name) => name.host), [
    "empty.example",
  ]);
  resolver.stop();
});

Deno.test("BootstrapResolver: stopped, it reports nothing, even for a look-up still out", async () => {
  let answer: (hosts: string[]) => void = () => {};
  let looked = false;
  const resolved: string[] = [];
  const resolver = new BootstrapResolver({
    names: [{ host: "slow.example", port: 4222 }],
    lookup: () => {
      looked = true;
      return new Promise((resolve) => answer = resolve);
    },
    onResolved: (name) => resolved.push(name.host),
    firstDelayMs: 1,
  });
  resolver.start();
  await until(() => looked, "the look-up");
  resolver.stop();
  answer(["192.0.2.3"]);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(resolved, []);
  // Nothing pending: start() schedules nothing.
  const idle = new BootstrapResolver({
    names: [],
    onResolved: () => assert.fail("no name"),
  });
  idle.start();
  idle.stop();
});
