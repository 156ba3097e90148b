/**
 * Error laws: bad input is refused before anything is written, whole batches
 * included, and every failure is core's `StorageError` in the error channel,
 * carrying the operation, namespace and key, never a defect.
 *
 * @internal
 */
import { expect } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import type { StorageBackend } from "@effect-persist/core"
import type { StorageErrorReason } from "@effect-persist/core/StorageError"
import { escape, expectStorageError, sorted, tagged } from "../internal/assert.ts"
import { law, type Law, timedLaw } from "../internal/law.ts"

/** Every live entry of a namespace, kinds included, in a comparable form. */
const snapshot = (backend: StorageBackend.StorageBackend, ns: string) =>
  Effect.gen(function*() {
    const keys = sorted(yield* backend.keys(ns))
    const values = keys.length === 0 ? [] : yield* backend.getMany(ns, keys)
    return keys.map((key, i) => [key, tagged(values[i])])
  })

const seed = (backend: StorageBackend.StorageBackend, ns: string) =>
  backend.setMany(ns, [
    { key: "a", value: "original a" },
    { key: "b", value: new Uint8Array([1, 2]) }
  ])

/**
 * The error laws.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const errors: ReadonlyArray<Law> = [
  law("a setMany with one bad entry among good ones stores nothing from the batch", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* seed(backend, ns)
      const before = yield* snapshot(backend, ns)
      const good = [
        { key: "a", value: "overwritten?" },
        { key: "new-1", value: "x" },
        { key: "new-2", value: new Uint8Array([3]) }
      ]
      const limit = backend.capabilities.maxKeyBytes
      const bad: Array<readonly [string, StorageErrorReason, StorageBackend.Entry]> = [
        ["a key with a lone surrogate", "InvalidKey", { key: "bad\ud800", value: "x" }],
        ["a non-string key", "InvalidKey", { key: 42 as any, value: "x" }],
        ["a number value", "InvalidValue", { key: "bad", value: 42 as any }],
        ["a value with a lone surrogate", "InvalidValue", { key: "bad", value: "\udc00" }],
        ["a NaN expiry", "InvalidValue", { key: "bad", value: "x", expiresAt: Number.NaN }],
        ["a missing entry", "InvalidKey", null as any]
      ]
      if (Number.isFinite(limit)) bad.push(["an over-long key", "KeyTooLong", { key: "k".repeat(limit + 1), value: "x" }])
      if (!backend.capabilities.nulInKeys) bad.push(["a NUL key", "InvalidKey", { key: "a\u0000", value: "x" }])
      for (const [what, reason, entry] of bad) {
        for (const position of [0, 1, good.length]) {
          const batch = [...good.slice(0, position), entry, ...good.slice(position)]
          yield* expectStorageError(
            backend.setMany(ns, batch),
            reason,
            `setMany with ${what} at position ${position}`
          )
          expect(yield* snapshot(backend, ns), `after setMany with ${what} at position ${position}`).toEqual(before)
        }
      }
    })),

  timedLaw("an invalid sweep batchSize is refused with InvalidValue and deletes nothing", ({ backend, namespace }) =>
    Effect.gen(function*() {
      yield* backend.sweep()
      const ns = yield* namespace()
      yield* backend.set(ns, "expired", "x", (yield* Clock.currentTimeMillis) + 10)
      yield* TestClock.adjust(20)
      for (const batchSize of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "10" as any]) {
        const error = yield* expectStorageError(
          backend.sweep({ batchSize }),
          "InvalidValue",
          `sweep with batchSize ${String(batchSize)}`
        )
        expect(error.operation).toBe("sweep")
      }
      expect(yield* backend.sweep({ batchSize: 1 }), "a valid sweep afterwards").toBe(1)
    })),

  law("every operation fails on bad input with a StorageError in the error channel, never a defect", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* seed(backend, ns)
      const before = yield* snapshot(backend, ns)
      const noop = (value: StorageBackend.Value) => Effect.succeed(value)
      const attempts: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
        ["get", backend.get(ns, 42 as any)],
        ["get", backend.get(ns, undefined as any)],
        ["getMany", backend.getMany(ns, "ab" as any)],
        ["getMany", backend.getMany(ns, [1] as any)],
        ["getMany", backend.getMany(ns, null as any)],
        ["set", backend.set(ns, null as any, "x")],
        ["set", backend.set(ns, "a", null as any)],
        ["set", backend.set(ns, "a", "x", "soon" as any)],
        ["setMany", backend.setMany(ns, null as any)],
        ["setMany", backend.setMany(ns, [undefined] as any)],
        ["setMany", backend.setMany(ns, { key: "a", value: "x" } as any)],
        ["remove", backend.remove(ns, {} as any)],
        ["clear", backend.clear(42 as any)],
        ["clearPrefix", backend.clearPrefix(ns, 42 as any)],
        ["clearPrefix", backend.clearPrefix(ns, undefined as any)],
        ["keys", backend.keys(ns, 42 as any)],
        ["keys", backend.keys(null as any)],
        ["size", backend.size(ns, {} as any)],
        ["modify", backend.modify(ns, 42 as any, noop)],
        ["modify", backend.modify(ns, "a", () => Effect.succeed(Symbol("nope") as any))],
        ["sweep", backend.sweep({ batchSize: -5 })]
      ]
      for (const [operation, attempt] of attempts) {
        const error = yield* expectStorageError(attempt, undefined, `${operation} with bad input`)
        expect(error.operation, `the operation named by ${operation}'s error`).toBe(operation)
        expect(error.retryable, `${operation}'s input error must not be retryable`).toBe(false)
      }
      expect(yield* snapshot(backend, ns), "the store after all the refused calls").toEqual(before)
    })),

  law("errors name the operation, namespace and key, and say what is wrong", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const keyError = yield* expectStorageError(backend.set(ns, "a\ud800", "x"), "InvalidKey", "set with a bad key")
      expect(keyError._tag).toBe("StorageError")
      expect(keyError.operation).toBe("set")
      expect(keyError.namespace).toBe(ns)
      expect(keyError.key).toBe("a\ud800")
      expect(keyError.message).toMatch(/surrogate/i)
      const valueError = yield* expectStorageError(
        backend.setMany(ns, [{ key: "fine", value: "x" }, { key: "the-key", value: 7 as any }]),
        "InvalidValue",
        "setMany with a bad value"
      )
      expect(valueError.operation).toBe("setMany")
      expect(valueError.namespace).toBe(ns)
      expect(valueError.key).toBe("the-key")
      expect(valueError.message).toContain("the-key")
      const modifyError = yield* expectStorageError(
        backend.modify(ns, "m\ud800", () => Effect.succeed("x")),
        "InvalidKey",
        "modify with a bad key"
      )
      expect(modifyError.operation).toBe("modify")
      expect(modifyError.key).toBe("m\ud800")
    })),

  law("bad namespaces are refused by every operation with InvalidKey, and nothing is stored", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const badNamespaces: Array<unknown> = [`${ns}\ud800`, `\udc00${ns}`, 42, null]
      if (!backend.capabilities.nulInKeys) badNamespaces.push(`${ns}\u0000`)
      for (const bad of badNamespaces) {
        const target = bad as string
        const label = typeof bad === "string" ? escape(bad) : String(bad)
        const attempts: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
          ["get", backend.get(target, "k")],
          ["getMany", backend.getMany(target, ["k"])],
          ["set", backend.set(target, "k", "x")],
          ["setMany", backend.setMany(target, [{ key: "k", value: "x" }])],
          ["remove", backend.remove(target, "k")],
          ["clear", backend.clear(target)],
          ["clearPrefix", backend.clearPrefix(target, "k")],
          ["keys", backend.keys(target)],
          ["size", backend.size(target)],
          ["modify", backend.modify(target, "k", () => Effect.succeed("x"))]
        ]
        for (const [operation, attempt] of attempts) {
          yield* expectStorageError(attempt, "InvalidKey", `${operation} in namespace ${label}`)
        }
      }
      // Nothing landed in the well-formed namespaces a lossy encoding would have used.
      expect(yield* backend.size(ns)).toBe(0)
      expect(yield* backend.get(`${ns}\ufffd`, "k")).toBeUndefined()
      expect(yield* backend.get(`\ufffd${ns}`, "k")).toBeUndefined()
    })),

  law("invalid expiry instants (NaN, ±Infinity, non-numbers) are refused with InvalidValue and change nothing", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* seed(backend, ns)
      const before = yield* snapshot(backend, ns)
      const bad: ReadonlyArray<unknown> = [
        Number.NaN,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        "1700000000000",
        10n,
        null,
        new Date()
      ]
      for (const expiresAt of bad) {
        yield* expectStorageError(backend.set(ns, "a", "changed?", expiresAt as any), "InvalidValue", `set expiring at ${String(expiresAt)}`)
        yield* expectStorageError(
          backend.setMany(ns, [{ key: "new", value: "x" }, { key: "a", value: "changed?", expiresAt: expiresAt as any }]),
          "InvalidValue",
          `setMany expiring at ${String(expiresAt)}`
        )
      }
      expect(yield* snapshot(backend, ns)).toEqual(before)
    }))
]
