/**
 * `modify` laws: atomic under heavy concurrency (Effect's SQL stores read,
 * then write, and lose updates), a no-op on a missing key, expiry kept, and
 * nothing changed when the function fails or returns a value that cannot be
 * stored.
 *
 * @internal
 */
import { expect } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import { StorageBackend } from "@effect-persist/core"
import { StorageError } from "@effect-persist/core/StorageError"
import { expectBytes, expectSameKeys, expectStorageError, expectString, expectValue } from "../internal/assert.ts"
import { law, type Law, timedLaw } from "../internal/law.ts"

const increment = (value: StorageBackend.Value) =>
  typeof value === "string"
    ? Effect.succeed(String(Number(value) + 1))
    : Effect.fail(
      new StorageError({ operation: "modify", reason: "InvalidValue", message: "the counter must be a string" })
    )

const incrementsPerFiber = 5

/**
 * The `modify` laws.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const modify: ReadonlyArray<Law> = [
  law(
    "modify is atomic: concurrent fibers incrementing one counter lose no update (or, when atomicModify is declared missing, sequential increments are exact)",
    ({ backend, namespace, options }) =>
      Effect.gen(function*() {
        const ns = yield* namespace()
        const fibers = options.modifyConcurrency
        const atomic = backend.capabilities.atomicModify
        yield* backend.set(ns, "counter", "0")
        yield* backend.set(ns, "bystander", "untouched")
        const seen = yield* Effect.forEach(
          Array.from({ length: fibers }, (_, i) => i),
          () =>
            Effect.gen(function*() {
              const results: Array<StorageBackend.Value | undefined> = []
              for (let i = 0; i < incrementsPerFiber; i++) {
                results.push(yield* backend.modify(ns, "counter", increment))
              }
              return results
            }),
          { concurrency: atomic ? "unbounded" : 1 }
        )
        const total = fibers * incrementsPerFiber
        expectString(yield* backend.get(ns, "counter"), String(total), `the counter after ${total} increments`)
        // Each increment must have seen its own predecessor: every result is distinct.
        const results = seen.flat()
        expect(new Set(results).size, "distinct values returned by modify").toBe(total)
        expect(results.map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1))
        expectValue(yield* backend.get(ns, "bystander"), "untouched")
      }),
    { timeout: 120_000 }
  ),

  law("modify of a missing key returns undefined, never calls the function, and creates nothing", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.set(ns, "other", "1")
      let calls = 0
      const result = yield* backend.modify(ns, "missing", () => {
        calls++
        return Effect.succeed("created")
      })
      expect(result).toBeUndefined()
      expect(calls).toBe(0)
      expect(yield* backend.get(ns, "missing")).toBeUndefined()
      expectSameKeys(yield* backend.keys(ns), ["other"])
    })),

  timedLaw("modify keeps the entry's expiry, and an entry without expiry stays without", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const start = yield* Clock.currentTimeMillis
      yield* backend.set(ns, "expiring", "1", start + 1_000)
      yield* backend.set(ns, "forever", "1")
      yield* TestClock.adjust(500)
      expect(yield* backend.modify(ns, "expiring", increment)).toBe("2")
      expect(yield* backend.modify(ns, "forever", increment)).toBe("2")
      yield* TestClock.adjust(499)
      expectValue(yield* backend.get(ns, "expiring"), "2", "1 ms before the original expiry")
      yield* TestClock.adjust(1)
      expect(yield* backend.get(ns, "expiring"), "at the original expiry").toBeUndefined()
      yield* TestClock.adjust(365 * 24 * 3_600_000)
      expectValue(yield* backend.get(ns, "forever"), "2", "a year later")
    })),

  law("modify returns the new value, which get then reads, and can change the value's kind", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.set(ns, "k", "text")
      const toBytes = yield* backend.modify(ns, "k", (current) => {
        expectString(current, "text", "the function's input")
        return Effect.succeed(new Uint8Array([1, 2, 3]))
      })
      expectBytes(toBytes, [1, 2, 3], "modify's result")
      expectBytes(yield* backend.get(ns, "k"), [1, 2, 3], "get after modify")
      const toText = yield* backend.modify(ns, "k", (current) => {
        expectBytes(current, [1, 2, 3], "the function's input")
        return Effect.succeed("text again")
      })
      expectString(toText, "text again", "modify's result")
      expectString(yield* backend.get(ns, "k"), "text again", "get after modify")
      const toBuffer = yield* backend.modify(ns, "k", () => Effect.succeed(Buffer.from([9])))
      expectBytes(toBuffer, [9], "a Buffer returned by the function")
      expectBytes(yield* backend.get(ns, "k"), [9], "get after modify to a Buffer")
    })),

  law("modify whose function fails or throws returns a typed StorageError and changes nothing", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.set(ns, "k", "unchanged")
      const failure = new StorageError({
        operation: "modify",
        reason: "InvalidValue",
        message: "the function refused",
        namespace: ns,
        key: "k"
      })
      const failed = yield* expectStorageError(backend.modify(ns, "k", () => Effect.fail(failure)), undefined, "a failing function")
      expect(failed.message).toBe("the function refused")
      const thrown = yield* expectStorageError(
        backend.modify(
          ns,
          "k",
          StorageBackend.tryModify(ns, "k", () => {
            throw new Error("boom")
          })
        ),
        "InvalidValue",
        "a throwing function"
      )
      expect(thrown.message).toContain("boom")
      expectValue(yield* backend.get(ns, "k"), "unchanged")
    })),

  law("modify whose function returns a value that cannot be stored fails with InvalidValue and changes nothing", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.set(ns, "k", "unchanged")
      for (const bad of ["a\ud800", "\udc00", 42, null, undefined, { a: 1 }]) {
        yield* expectStorageError(
          backend.modify(ns, "k", () => Effect.succeed(bad as any)),
          "InvalidValue",
          `modify returning ${typeof bad === "string" ? JSON.stringify(bad) : String(bad)}`
        )
      }
      expectValue(yield* backend.get(ns, "k"), "unchanged")
      expectSameKeys(yield* backend.keys(ns), ["k"])
    }))
]
