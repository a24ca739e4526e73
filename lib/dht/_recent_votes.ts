/**
 * `RecentVotes`: the latest vote of each of the most recent voters, one per
 * replier IP, oldest voter first. What `ObservedAddress` and
 * `ObservedMapping` count.
 *
 * Two short arrays (at most `maxVoters`, 16 by default) rather than maps: a
 * node votes on nearly every reply it gets, and a map that drops and re-adds
 * a key per vote reallocated its table every few votes, garbage that a large
 * simulation's old generation collected. An IPv4 replier is kept as its
 * number, compared without reading a string (a vote mostly scans them all).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RecentVotes } from "./_recent_votes.ts";
 *
 * const votes = new RecentVotes<number>(2);
 * assert.equal(votes.record("198.51.100.1", 7), true);
 * assert.equal(votes.record("198.51.100.1", 7), false); // the same again
 * votes.record("198.51.100.2", 8);
 * votes.record("198.51.100.3", 9); // the oldest voter goes
 * assert.deepEqual(votes.votes, [8, 9]);
 * ```
 *
 * @module
 */
import { ipv4Number } from "./_ipv4_number.ts";

/** The latest vote of each recent voter; see the module documentation. */
export class RecentVotes<V> {
  readonly #maxVoters: number;
  readonly #voters: (number | string)[] = [];
  readonly #votes: V[] = [];

  /**
   * No votes yet.
   *
   * @param maxVoters Most recent voters kept.
   */
  constructor(maxVoters: number) {
    this.#maxVoters = maxVoters;
  }

  /** The votes, oldest voter first (not to be changed). */
  get votes(): readonly V[] {
    return this.#votes;
  }

  /**
   * Records `replier`'s vote: it becomes the newest voter, and the oldest
   * goes once there are more than `maxVoters`.
   *
   * @param replier The replier's IP (one vote per IP).
   * @param vote What it saw.
   * @returns False when no count changed: the replier said the same again,
   * or the voter that went had voted the same.
   */
  record(replier: string, vote: V): boolean {
    const voters = this.#voters;
    const votes = this.#votes;
    const ipv4 = ipv4Number(replier);
    // `| 0`: the signed 32 bits, which V8 holds inline in the array.
    const key = ipv4 === -1 ? replier : ipv4 | 0;
    const index = voters.indexOf(key);
    if (index !== -1) {
      const previous = votes[index];
      // It becomes the newest voter (by hand: `splice` allocates).
      for (let i = index + 1; i < voters.length; i++) {
        voters[i - 1] = voters[i];
        votes[i - 1] = votes[i];
      }
      voters[voters.length - 1] = key;
      votes[votes.length - 1] = vote;
      return previous !== vote;
    }
    voters.push(key);
    votes.push(vote);
    if (voters.length <= this.#maxVoters) return true;
    voters.shift();
    return votes.shift() !== vote;
  }
}
