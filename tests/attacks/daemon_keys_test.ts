/**
 * Attack (issue 13, item 1): `Daemon.open` without `randomBytes` made
 * account and device keys from its `Rng`, so keys were as guessable as the
 * generator; two different seeds whose 32-bit folds collided gave the same
 * account. Now keys come from `randomBytes`, which defaults to the system's
 * generator: never from the `Rng`.
 */
import assert from "node:assert/strict";
import { Daemon } from "../../lib/daemon/daemon.ts";
import { type Rng, seededRng } from "../../lib/rng.ts";
import { ManualClock } from "../../lib/testing/manual_clock.ts";
import { MemoryStorage } from "../../lib/testing/memory_storage.ts";
import { SimulatedNetwork } from "../../lib/testing/simulated_network.ts";

async function newAccount(rng: Rng): Promise<string> {
  const clock = new ManualClock(1_700_000_000_000);
  const network = new SimulatedNetwork({ clock, rng: seededRng("net") });
  const daemon = await Daemon.open({
    transport: network.attach(),
    clock,
    rng,
    storage: new MemoryStorage(),
    scryptLog2N: 10,
  });
  const account = await daemon.createAccount();
  daemon.dht.stop();
  return account;
}

Deno.test("attack: two seeds that collided in 32 bits no longer give the same account", async () => {
  // Under the old seeding, 4·2^32 and 7·2^32 + 1 folded to the same word.
  const a = await newAccount(seededRng(4 * 2 ** 32));
  const b = await newAccount(seededRng(7 * 2 ** 32 + 1));
  assert.notEqual(a, b);
});

Deno.test("attack: keys never come from the rng (same seed, different accounts)", async () => {
  const a = await newAccount(seededRng("known seed"));
  const b = await newAccount(seededRng("known seed"));
  assert.notEqual(a, b, "account derived from the rng");
});
