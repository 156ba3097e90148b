/**
 * Batch laws: empty and very large `getMany`/`setMany` calls, a key repeated
 * within one batch, result order, and a batch's effect on keys outside it.
 * Effect's SQL stores send a batch as one statement, which breaks on bind
 * parameter limits and on PostgreSQL when a key repeats.
 *
 * @internal
 */
import { expect } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import { expectSameKeys, expectValue, show } from "../internal/assert.ts"
import { law, type Law, timedLaw } from "../internal/law.ts"

const largeBatchSize = 12_345

/**
 * The batch laws.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const batch: ReadonlyArray<Law> = [
  law("empty batches: getMany([]) is [] and setMany([]) stores nothing", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.set(ns, "existing", "1")
      expect(yield* backend.getMany(ns, [])).toEqual([])
      yield* backend.setMany(ns, [])
      expectSameKeys(yield* backend.keys(ns), ["existing"])
      expect(yield* backend.size(ns)).toBe(1)
    })),

  law(
    `a batch of ${largeBatchSize} entries: one setMany, then one getMany of all, in order, and size`,
    ({ backend, namespace }) =>
      Effect.gen(function*() {
        const ns = yield* namespace()
        // Mixed kinds and lengths so that a backend chunking by parameter count
        // or by bytes is exercised either way.
        const entries = Array.from({ length: largeBatchSize }, (_, i) => ({
          key: `key-${i.toString().padStart(5, "0")}`,
          value: i % 3 === 0 ? new Uint8Array([i & 0xff, (i >> 8) & 0xff]) : `value-${i}-${"x".repeat(i % 17)}`
        }))
        yield* backend.setMany(ns, entries)
        expect(yield* backend.size(ns)).toBe(largeBatchSize)
        const reversed = entries.map((entry) => entry.key).reverse()
        const got = yield* backend.getMany(ns, reversed)
        expect(got).toHaveLength(largeBatchSize)
        for (let i = 0; i < got.length; i++) {
          const want = entries[largeBatchSize - 1 - i]!
          const value = got[i]
          const same = typeof want.value === "string"
            ? value === want.value
            : value instanceof Uint8Array && value.constructor === Uint8Array &&
              Buffer.compare(value, want.value) === 0
          if (!same) {
            expect.fail(`getMany[${i}] (key ${want.key}) is ${show(value)}, expected ${show(want.value)}`)
          }
        }
        const listed = yield* backend.keys(ns)
        expect(listed).toHaveLength(largeBatchSize)
        expect(new Set(listed).size).toBe(largeBatchSize)
      }),
    { timeout: 120_000 }
  ),

  law("a key repeated in one setMany keeps its last value", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.setMany(ns, [
        { key: "a", value: "first" },
        { key: "b", value: "only" },
        { key: "a", value: new Uint8Array([1]) },
        { key: "a", value: "last" }
      ])
      expectValue(yield* backend.get(ns, "a"), "last")
      expectValue(yield* backend.get(ns, "b"), "only")
      expect(yield* backend.size(ns)).toBe(2)
    })),

  timedLaw("a key repeated in one setMany keeps its last expiry too", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const now = yield* Clock.currentTimeMillis
      yield* backend.setMany(ns, [
        { key: "expires-late", value: "1", expiresAt: now + 100 },
        { key: "never-expires", value: "1", expiresAt: now + 100 },
        { key: "expires-late", value: "2", expiresAt: now + 10_000 },
        { key: "never-expires", value: "2" }
      ])
      yield* TestClock.adjust(1_000)
      expectValue(yield* backend.get(ns, "expires-late"), "2")
      expectValue(yield* backend.get(ns, "never-expires"), "2")
      yield* TestClock.adjust(9_000)
      expect(yield* backend.get(ns, "expires-late")).toBeUndefined()
      expectValue(yield* backend.get(ns, "never-expires"), "2")
    })),

  law("getMany results follow the order asked for, not the order written", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const written = ["m", "z", "a", "q", "b"]
      yield* backend.setMany(ns, written.map((key) => ({ key, value: `v-${key}` })))
      for (const order of [["a", "b", "m", "q", "z"], ["z", "q", "m", "b", "a"], ["q", "a", "z", "b", "m"]]) {
        const got = yield* backend.getMany(ns, order)
        expect(got, `getMany(${order.join(",")})`).toEqual(order.map((key) => `v-${key}`))
      }
    })),

  law("setMany replaces existing entries and leaves keys outside the batch untouched", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.set(ns, "kept", "old")
      yield* backend.set(ns, "replaced", "old")
      yield* backend.setMany(ns, [{ key: "replaced", value: "new" }, { key: "added", value: "new" }])
      expect(yield* backend.getMany(ns, ["kept", "replaced", "added"])).toEqual(["old", "new", "new"])
      expect(yield* backend.size(ns)).toBe(3)
    })),

  law("setMany keeps each entry's kind: strings stay strings, bytes stay bytes", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.setMany(ns, [
        { key: "s", value: "AQID" },
        { key: "b", value: new Uint8Array([1, 2, 3]) },
        { key: "empty-s", value: "" },
        { key: "empty-b", value: new Uint8Array(0) }
      ])
      const [s, b, emptyS, emptyB] = yield* backend.getMany(ns, ["s", "b", "empty-s", "empty-b"])
      expectValue(s, "AQID", "s")
      expectValue(b, new Uint8Array([1, 2, 3]), "b")
      expectValue(emptyS, "", "empty-s")
      expectValue(emptyB, new Uint8Array(0), "empty-b")
    }))
]
