/**
 * ContactList: Jami's add/remove/ban rules, and the multi-device merge
 * checked as properties over random records drawn from a seeded rng (small
 * time ranges so that ties, the tricky case, are frequent).
 */
import assert from "node:assert/strict";
import {
  type Contact,
  ContactList,
  ContactListFullError,
  isActiveContact,
  MAX_CONTACTS,
  mergeContact,
} from "../lib/contacts/contact_list.ts";
import { randomInt, type Rng, seededRng } from "../lib/rng.ts";

const BOB = "b".repeat(40);
const CAROL = "c".repeat(40);
const RUNS = 2_000;

function randomContact(rng: Rng, uri = BOB): Contact {
  return {
    uri,
    addedMs: randomInt(rng, 5),
    removedMs: randomInt(rng, 5),
    confirmed: rng() < 0.5,
    banned: rng() < 0.5,
  };
}

Deno.test("ContactList.add() adds, keeps an active contact, and confirms on request", () => {
  const contacts = new ContactList();
  assert.deepEqual(contacts.add(BOB, 1_000), {
    contact: {
      uri: BOB,
      addedMs: 1_000,
      removedMs: 0,
      confirmed: false,
      banned: false,
    },
    changed: true,
  });
  assert.equal(contacts.add(BOB, 2_000).changed, false);
  assert.equal(contacts.get(BOB)?.addedMs, 1_000);
  assert.equal(contacts.add(BOB, 3_000, true).changed, true);
  assert.equal(contacts.get(BOB)?.confirmed, true);
  assert.equal(contacts.confirm(BOB), false);
  assert.equal(contacts.confirm(CAROL), false, "a stranger is not confirmed");
  assert.equal(contacts.size, 1);
});

Deno.test("ContactList.remove() with ban blocks, add() lifts the ban", () => {
  const contacts = new ContactList();
  contacts.add(BOB, 1_000, true);
  const removed = contacts.remove(BOB, true, 2_000);
  assert.equal(removed.changed, true);
  assert.equal(contacts.isBanned(BOB), true);
  assert.equal(contacts.isActive(BOB), false);
  assert.equal(contacts.get(BOB)?.confirmed, false);
  assert.deepEqual(contacts.visible().map((c) => c.uri), [BOB]);
  // Adding again lifts the ban, even with a clock that went backwards.
  const added = contacts.add(BOB, 1_500);
  assert.equal(added.changed, true);
  assert.equal(added.contact.addedMs, 2_001);
  assert.equal(contacts.isBanned(BOB), false);
  assert.equal(contacts.isActive(BOB), true);
});

Deno.test("ContactList.remove() without ban hides the contact; banning a stranger records it", () => {
  const contacts = new ContactList();
  contacts.add(BOB, 1_000);
  contacts.remove(BOB, false, 2_000);
  assert.equal(contacts.isActive(BOB), false);
  assert.equal(contacts.isBanned(BOB), false);
  assert.deepEqual(contacts.visible(), []);
  assert.equal(contacts.remove(BOB, false, 3_000).changed, false);
  // Removing a stranger without a ban changes nothing.
  assert.equal(contacts.remove(CAROL, false, 3_000).changed, false);
  assert.equal(contacts.get(CAROL), undefined);
  assert.equal(contacts.remove(CAROL, true, 3_000).changed, true);
  assert.equal(contacts.isBanned(CAROL), true);
  assert.equal(contacts.remove(CAROL, true, 4_000).changed, false);
});

Deno.test("ContactList throws ContactListFullError past MAX_CONTACTS, and merge() ignores new uris then", () => {
  const records: Contact[] = [];
  for (let i = 0; i < MAX_CONTACTS; i++) {
    records.push({
      uri: i.toString(16).padStart(40, "0"),
      addedMs: 1,
      removedMs: 0,
      confirmed: false,
      banned: false,
    });
  }
  const contacts = new ContactList(records);
  assert.equal(contacts.size, MAX_CONTACTS);
  assert.throws(() => contacts.add(BOB, 5), ContactListFullError);
  assert.throws(() => contacts.remove(BOB, true, 5), ContactListFullError);
  assert.equal(contacts.merge(randomContact(seededRng(1))), undefined);
  assert.equal(contacts.size, MAX_CONTACTS);
  // Existing records still change.
  assert.equal(contacts.remove(records[0].uri, true, 5).changed, true);
});

Deno.test("mergeContact() is commutative, associative and idempotent", () => {
  const rng = seededRng("merge-properties");
  for (let run = 0; run < RUNS; run++) {
    const a = randomContact(rng);
    const b = randomContact(rng);
    const c = randomContact(rng);
    const context = `seed "merge-properties", run ${run}: ${
      JSON.stringify([a, b, c])
    }`;
    assert.deepEqual(mergeContact(a, b), mergeContact(b, a), context);
    assert.deepEqual(
      mergeContact(mergeContact(a, b), c),
      mergeContact(a, mergeContact(b, c)),
      context,
    );
    assert.deepEqual(mergeContact(a, a), a, context);
    const ab = mergeContact(a, b);
    assert.deepEqual(mergeContact(ab, b), ab, context);
  }
});

Deno.test("mergeContact() lets the later add and the later removal win", () => {
  const added: Contact = {
    uri: BOB,
    addedMs: 3,
    removedMs: 1,
    confirmed: true,
    banned: false,
  };
  const banned: Contact = {
    uri: BOB,
    addedMs: 1,
    removedMs: 2,
    confirmed: false,
    banned: true,
  };
  const merged = mergeContact(added, banned);
  assert.deepEqual(merged, {
    uri: BOB,
    addedMs: 3,
    removedMs: 2,
    confirmed: true,
    banned: true,
  });
  // The ban flag belongs to the older removal: the contact is active again.
  assert.ok(isActiveContact(merged));
  const list = new ContactList([merged]);
  assert.equal(list.isBanned(BOB), false);
});

Deno.test("ContactList.merge() converges whatever order the records arrive in", () => {
  const rng = seededRng("merge-order");
  const uris = [BOB, CAROL, "d".repeat(40)];
  for (let run = 0; run < 300; run++) {
    const records = Array.from(
      { length: 6 },
      () => randomContact(rng, uris[randomInt(rng, uris.length)]),
    );
    const forward = new ContactList();
    for (const record of records) forward.merge(record);
    const backward = new ContactList();
    for (const record of [...records].reverse()) backward.merge(record);
    // Twice over: merging again changes nothing.
    for (const record of records) {
      assert.equal(backward.merge(record), undefined, `run ${run}`);
    }
    const sorted = (list: ContactList) =>
      list.all().sort((x, y) => x.uri.localeCompare(y.uri));
    assert.deepEqual(sorted(forward), sorted(backward), `run ${run}`);
  }
});

Deno.test("ContactList.merge() returns the merged record only when it changed", () => {
  const contacts = new ContactList();
  contacts.add(BOB, 10);
  assert.equal(contacts.merge({ ...contacts.get(BOB)! }), undefined);
  const merged = contacts.merge({
    uri: BOB,
    addedMs: 5,
    removedMs: 20,
    confirmed: false,
    banned: true,
  });
  assert.deepEqual(merged, {
    uri: BOB,
    addedMs: 10,
    removedMs: 20,
    confirmed: false,
    banned: true,
  });
  assert.equal(contacts.isBanned(BOB), true);
});
