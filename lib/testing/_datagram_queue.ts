/**
 * The in-flight datagrams of a simulated network: slots in parallel typed
 * arrays, a free list, and a binary min-heap of slots ordered by due time,
 * then by insertion number (taken from the `ManualClock`, so datagrams and
 * timers share one order), so that a network delivers without a timer or a
 * closure per datagram.
 *
 * @example Earliest due first, then first pushed
 * ```ts
 * import assert from "node:assert/strict";
 * import { DatagramQueue } from "./_datagram_queue.ts";
 *
 * const queue = new DatagramQueue();
 * queue.push(20, 0, 0, 1, new Uint8Array([1]));
 * queue.push(10, 1, 0, 1, new Uint8Array([2]));
 * queue.push(10, 2, 1, 0, new Uint8Array([3]));
 * assert.equal(queue.headDueMs, 10);
 * assert.equal(queue.headSequence, 1);
 * const order: number[] = [];
 * while (queue.size > 0) {
 *   const slot = queue.pop();
 *   order.push(queue.release(slot)[0]);
 * }
 * assert.deepEqual(order, [2, 3, 1]);
 * ```
 *
 * @module
 */

import { grownFloat64, grownInt32 } from "./_grown_arrays.ts";

/** In-flight datagrams allocated before the first growth of the packet arrays. */
const INITIAL_PACKET_CAPACITY = 4096;

/**
 * A priority queue of datagrams in flight, by (due time, insertion number). A
 * datagram is taken out in two steps: {@link DatagramQueue.pop} removes its
 * slot from the heap, {@link DatagramQueue.release} hands back its payload
 * and frees the slot; source and target are read in between.
 */
export class DatagramQueue {
  #packetCapacity = INITIAL_PACKET_CAPACITY;
  #packetDueMs = new Float64Array(INITIAL_PACKET_CAPACITY);
  #packetSequence = new Float64Array(INITIAL_PACKET_CAPACITY);
  #packetSource = new Int32Array(INITIAL_PACKET_CAPACITY);
  #packetTarget = new Int32Array(INITIAL_PACKET_CAPACITY);
  readonly #packetBytes: (Uint8Array | undefined)[] = [];
  #freeSlots = new Int32Array(INITIAL_PACKET_CAPACITY);
  #freeSlotCount = 0;
  #nextUnusedSlot = 0;
  #heap = new Int32Array(INITIAL_PACKET_CAPACITY);
  #heapSize = 0;

  /**
   * The number of datagrams queued.
   *
   * @returns The count.
   */
  get size(): number {
    return this.#heapSize;
  }

  /**
   * Due time of the earliest datagram; the queue must not be empty.
   *
   * @returns Epoch milliseconds.
   */
  get headDueMs(): number {
    return this.#packetDueMs[this.#heap[0]];
  }

  /**
   * Insertion number of the earliest datagram; the queue must not be empty.
   *
   * @returns The number given to {@link DatagramQueue.push}.
   */
  get headSequence(): number {
    return this.#packetSequence[this.#heap[0]];
  }

  /**
   * Queues a datagram.
   *
   * @param dueMs When it is due.
   * @param sequence Its insertion number, unique, breaking ties of due time.
   * @param source The sending host's index.
   * @param target The receiving host's index.
   * @param bytes The payload, kept as given.
   */
  push(
    dueMs: number,
    sequence: number,
    source: number,
    target: number,
    bytes: Uint8Array,
  ): void {
    let slot: number;
    if (this.#freeSlotCount > 0) {
      slot = this.#freeSlots[--this.#freeSlotCount];
    } else {
      if (this.#nextUnusedSlot >= this.#packetCapacity) this.#growPackets();
      slot = this.#nextUnusedSlot++;
    }
    this.#packetDueMs[slot] = dueMs;
    this.#packetSequence[slot] = sequence;
    this.#packetSource[slot] = source;
    this.#packetTarget[slot] = target;
    this.#packetBytes[slot] = bytes;
    this.#heapPush(slot);
  }

  /**
   * Removes the earliest datagram from the heap; the queue must not be
   * empty. Its slot stays reserved until {@link DatagramQueue.release}.
   *
   * @returns The datagram's slot.
   */
  pop(): number {
    return this.#heapPop();
  }

  /**
   * The sending host of a popped datagram.
   *
   * @param slot A slot from {@link DatagramQueue.pop}, not yet released.
   * @returns The host index.
   */
  source(slot: number): number {
    return this.#packetSource[slot];
  }

  /**
   * The receiving host of a popped datagram.
   *
   * @param slot A slot from {@link DatagramQueue.pop}, not yet released.
   * @returns The host index.
   */
  target(slot: number): number {
    return this.#packetTarget[slot];
  }

  /**
   * Frees a popped datagram's slot.
   *
   * @param slot A slot from {@link DatagramQueue.pop}, not yet released.
   * @returns The datagram's payload.
   */
  release(slot: number): Uint8Array {
    const bytes = this.#packetBytes[slot]!;
    this.#packetBytes[slot] = undefined;
    this.#freeSlots[this.#freeSlotCount++] = slot;
    return bytes;
  }

  #growPackets(): void {
    const capacity = this.#packetCapacity * 2;
    this.#packetDueMs = grownFloat64(this.#packetDueMs, capacity);
    this.#packetSequence = grownFloat64(this.#packetSequence, capacity);
    this.#packetSource = grownInt32(this.#packetSource, capacity);
    this.#packetTarget = grownInt32(this.#packetTarget, capacity);
    this.#freeSlots = grownInt32(this.#freeSlots, capacity);
    this.#heap = grownInt32(this.#heap, capacity);
    this.#packetCapacity = capacity;
  }

  /** Whether the datagram in slot `a` is due before the one in slot `b`. */
  #before(a: number, b: number): boolean {
    const dueA = this.#packetDueMs[a];
    const dueB = this.#packetDueMs[b];
    return dueA < dueB ||
      (dueA === dueB && this.#packetSequence[a] < this.#packetSequence[b]);
  }

  #heapPush(slot: number): void {
    const heap = this.#heap;
    let index = this.#heapSize++;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex];
      if (!this.#before(slot, parent)) break;
      heap[index] = parent;
      index = parentIndex;
    }
    heap[index] = slot;
  }

  #heapPop(): number {
    const heap = this.#heap;
    const top = heap[0];
    const size = --this.#heapSize;
    if (size === 0) return top;
    const slot = heap[size];
    let index = 0;
    for (;;) {
      const leftIndex = 2 * index + 1;
      if (leftIndex >= size) break;
      const rightIndex = leftIndex + 1;
      const childIndex =
        rightIndex < size && this.#before(heap[rightIndex], heap[leftIndex])
          ? rightIndex
          : leftIndex;
      const child = heap[childIndex];
      if (!this.#before(child, slot)) break;
      heap[index] = child;
      index = childIndex;
    }
    heap[index] = slot;
    return top;
  }
}
