/**
 * Reassembly of a byte stream into hellos and frames: chunks are kept by
 * reference and bytes are copied only when a read spans two chunks.
 *
 * The buffer itself has no limit: its owner reads eagerly after every push
 * and refuses a length prefix over its maximum, so what stays buffered is
 * always less than one frame.
 *
 * @module
 */

/** Bytes received and not yet read, in arrival order. */
export class ReceiveBuffer {
  #chunks: Uint8Array[] = [];
  /** Bytes of `#chunks[0]` already read. */
  #offset = 0;
  #length = 0;

  /** Bytes buffered and not yet read. */
  get length(): number {
    return this.#length;
  }

  /**
   * Appends a chunk; the buffer keeps a reference, so the caller must not
   * change it afterwards.
   */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The first `count` bytes without consuming them, or undefined if fewer are buffered. */
  peek(count: number): Uint8Array | undefined {
    if (count > this.#length) return undefined;
    const first = this.#chunks[0];
    if (first !== undefined && first.length - this.#offset >= count) {
      return first.subarray(this.#offset, this.#offset + count);
    }
    const out = new Uint8Array(count);
    let filled = 0;
    let offset = this.#offset;
    for (const chunk of this.#chunks) {
      if (filled === count) break;
      const part = chunk.subarray(offset, offset + count - filled);
      out.set(part, filled);
      filled += part.length;
      offset = 0;
    }
    return out;
  }

  /** Reads and consumes the first `count` bytes, or returns undefined if fewer are buffered. */
  take(count: number): Uint8Array | undefined {
    const bytes = this.peek(count);
    if (bytes === undefined) return undefined;
    this.#skip(count);
    return bytes;
  }

  /** Drops everything buffered. */
  clear(): void {
    this.#chunks = [];
    this.#offset = 0;
    this.#length = 0;
  }

  #skip(count: number): void {
    this.#length -= count;
    let remaining = count;
    while (remaining > 0) {
      const first = this.#chunks[0];
      const available = first.length - this.#offset;
      if (available > remaining) {
        this.#offset += remaining;
        return;
      }
      remaining -= available;
      this.#chunks.shift();
      this.#offset = 0;
    }
  }
}
