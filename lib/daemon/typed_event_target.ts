/**
 * `TypedEventTarget`: an `EventTarget` whose events are `CustomEvent`s with a
 * typed `detail`, plus `on()` for a typed listener that returns its own
 * remover.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TypedEventTarget } from "./typed_event_target.ts";
 *
 * const target = new TypedEventTarget<{ ping: { n: number } }>();
 * let seen = 0;
 * const off = target.on("ping", (detail) => seen += detail.n);
 * target.emit("ping", { n: 2 });
 * off();
 * target.emit("ping", { n: 5 });
 * assert.equal(seen, 2);
 * ```
 *
 * @module
 */

/** An event target with typed `CustomEvent` details. */
export class TypedEventTarget<M extends object> extends EventTarget {
  /**
   * Adds a listener for `type` receiving the event's detail.
   *
   * @param type Event name.
   * @param listener Receives the detail.
   * @returns A function that removes the listener.
   */
  on<K extends keyof M & string>(
    type: K,
    listener: (detail: M[K]) => void,
  ): () => void {
    const handler = (event: Event) =>
      listener((event as CustomEvent<M[K]>).detail);
    this.addEventListener(type, handler);
    return () => this.removeEventListener(type, handler);
  }

  /**
   * Dispatches a `CustomEvent` named `type` with `detail`. A throwing
   * listener is reported (as by the platform) and does not stop others.
   *
   * @param type Event name.
   * @param detail Event detail.
   */
  emit<K extends keyof M & string>(type: K, detail: M[K]): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
