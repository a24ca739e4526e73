/**
 * Test helper: runs `fn`, asserts that it throws an instance of
 * `errorClass`, and returns the error for further checks.
 */
import assert from "node:assert/strict";

export function thrown<T extends Error>(
  fn: () => unknown,
  errorClass: new (...args: never[]) => T,
): T {
  try {
    fn();
  } catch (error) {
    assert.ok(
      error instanceof errorClass,
      `expected ${errorClass.name}, got ${error}`,
    );
    return error;
  }
  assert.fail(`expected ${errorClass.name}, but nothing was thrown`);
}
