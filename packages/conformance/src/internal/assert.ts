/**
 * Assertions the laws share: typed failures (never defects), exact bytes,
 * value kinds, and key sets compared without regard to order.
 *
 * @internal
 */
import { expect } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { StorageBackend } from "@effect-persist/core"
import { StorageError, type StorageErrorReason } from "@effect-persist/core/StorageError"

/**
 * A string as a JSON literal with control characters, non-characters and
 * every surrogate escaped, so that "a" and "a\u0000" or "\u00e9" and
 * "e\u0301" look different in a failure message.
 *
 * @internal
 * @category constructors
 * @since 0.1.0
 */
export const escape = (text: string): string =>
  JSON.stringify(text).replace(
    /[\u007f-\u009f\u0300-\u036f\ud800-\udfff\ufff0-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/**
 * A readable rendering of keys and values for assertion messages: escapes
 * control characters and lone surrogates, and shows bytes as bytes.
 *
 * @internal
 * @category constructors
 * @since 0.1.0
 */
export const show = (value: unknown): string => {
  if (typeof value === "string" && value.length > 60) return `${escape(value.slice(0, 60))}…(${value.length} chars)`
  if (value instanceof Uint8Array) {
    const head = Array.from(value.subarray(0, 16)).join(",")
    return `Uint8Array(${value.byteLength})[${head}${value.byteLength > 16 ? ",…" : ""}]`
  }
  if (typeof value === "string") return escape(value)
  if (Array.isArray(value)) return `[${value.map(show).join(", ")}]`
  return String(value)
}

/**
 * Runs `effect` and asserts that it failed, in the error channel, with a
 * `StorageError` (of `reason` when given). A success or a defect fails the
 * law with a message saying which.
 *
 * @internal
 * @category guards
 * @since 0.1.0
 */
export const expectStorageError = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  reason?: StorageErrorReason,
  what = "the operation"
): Effect.Effect<StorageError, never, R> =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) {
      throw new Error(
        `Expected ${what} to fail with a StorageError${reason ? ` (${reason})` : ""}, but it succeeded with ${
          show(exit.value)
        }.`
      )
    }
    if (Cause.hasDies(exit.cause) || !Cause.hasFails(exit.cause)) {
      throw new Error(
        `Expected ${what} to fail with a typed StorageError${
          reason ? ` (${reason})` : ""
        }, but it was a defect or interruption:\n${Cause.pretty(exit.cause)}`
      )
    }
    const error = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
    expect(error, `${what}: the error must be core's StorageError`).toBeInstanceOf(StorageError)
    const storageError = error as StorageError
    if (reason !== undefined) {
      expect(storageError.reason, `${what}: ${storageError.message}`).toBe(reason)
    }
    expect(typeof storageError.message === "string" && storageError.message.length > 0, `${what}: message`).toBe(
      true
    )
    return storageError
  })

/**
 * Runs `effect` and asserts that it failed in the error channel (not as a
 * defect) with an error of the given tag; returns the error.
 *
 * @internal
 * @category guards
 * @since 0.1.0
 */
export const expectTypedFailure = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  tag: string,
  what = "the operation"
): Effect.Effect<E, never, R> =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) {
      throw new Error(`Expected ${what} to fail with ${tag}, but it succeeded with ${show(exit.value)}.`)
    }
    if (Cause.hasDies(exit.cause) || !Cause.hasFails(exit.cause)) {
      throw new Error(`Expected ${what} to fail with ${tag}, but it was a defect:\n${Cause.pretty(exit.cause)}`)
    }
    const error = Option.getOrUndefined(Cause.findErrorOption(exit.cause)) as E
    expect((error as { readonly _tag?: unknown })._tag, `${what}: error tag`).toBe(tag)
    return error
  })

/**
 * Asserts that `actual` is a plain `Uint8Array` (not a string, not a Buffer
 * or other subclass) holding exactly `expected`'s bytes.
 *
 * @internal
 * @category guards
 * @since 0.1.0
 */
export const expectBytes = (actual: unknown, expected: Uint8Array | ReadonlyArray<number>, what = "value"): void => {
  expect(actual, `${what} must be a Uint8Array, got ${show(actual)}`).toBeInstanceOf(Uint8Array)
  const bytes = actual as Uint8Array
  expect(bytes.constructor, `${what} must be a plain Uint8Array`).toBe(Uint8Array)
  const want = expected instanceof Uint8Array ? expected : Uint8Array.from(expected)
  if (want.byteLength > 4096) {
    expect(bytes.byteLength, `${what} length`).toBe(want.byteLength)
    expect(Buffer.compare(bytes, want), `${what} bytes differ`).toBe(0)
  } else {
    expect(Array.from(bytes), what).toEqual(Array.from(want))
  }
}

/**
 * Asserts that `actual` is the string `expected` (kind and content).
 *
 * @internal
 * @category guards
 * @since 0.1.0
 */
export const expectString = (actual: unknown, expected: string, what = "value"): void => {
  expect(typeof actual, `${what} must be a string, got ${show(actual)}`).toBe("string")
  if (expected.length > 4096) {
    expect((actual as string).length, `${what} length`).toBe(expected.length)
    expect(actual === expected, `${what} differs from what was written`).toBe(true)
  } else {
    expect(actual, what).toBe(expected)
  }
}

/**
 * Asserts that a value read back equals what was written, kind included.
 *
 * @internal
 * @category guards
 * @since 0.1.0
 */
export const expectValue = (actual: unknown, expected: StorageBackend.Value | undefined, what = "value"): void => {
  if (expected === undefined) expect(actual, what).toBeUndefined()
  else if (typeof expected === "string") expectString(actual, expected, what)
  else expectBytes(actual, expected, what)
}

/**
 * Sorts by UTF-16 code units, the same way on both sides of a comparison.
 *
 * @internal
 * @category constructors
 * @since 0.1.0
 */
export const sorted = (keys: Iterable<string>): Array<string> => Array.from(keys).sort()

/**
 * Asserts that two key lists hold the same keys, in any order, with no duplicates.
 *
 * @internal
 * @category guards
 * @since 0.1.0
 */
export const expectSameKeys = (actual: ReadonlyArray<string>, expected: Iterable<string>, what = "keys"): void => {
  const want = sorted(expected)
  const got = sorted(actual)
  expect(got.map(escape), what).toEqual(want.map(escape))
}

/**
 * A comparable form of a value that keeps its kind: `["string", s]` or `["bytes", [...]]`.
 *
 * @internal
 * @category constructors
 * @since 0.1.0
 */
export const tagged = (value: unknown): unknown =>
  value === undefined
    ? undefined
    : typeof value === "string"
    ? ["string", value]
    : value instanceof Uint8Array
    ? [value.constructor === Uint8Array ? "bytes" : `bytes:${value.constructor.name}`, Array.from(value)]
    : ["other", value]

/**
 * `n` bytes cycling through every byte value.
 *
 * @internal
 * @category constructors
 * @since 0.1.0
 */
export const byteRange = (n: number, offset = 0): Uint8Array => {
  const bytes = new Uint8Array(n)
  for (let i = 0; i < n; i++) bytes[i] = (i + offset) & 0xff
  return bytes
}
