/**
 * A wall-clock bound for network tests over real sockets: a callback-style
 * operation must call `done` in time, or the test fails with a message
 * naming it instead of hanging.
 *
 * @module
 */

/**
 * Starts `start` and resolves with the value it hands to `done`; rejects
 * when `done` is not called within `ms` (the error names `what`).
 */
export function within<T>(
  ms: number,
  what: string,
  start: (done: (value: T) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what}: no result within ${ms} ms`)),
      ms,
    );
    start((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}
