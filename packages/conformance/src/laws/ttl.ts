/**
 * Expiry laws: an entry is visible before its `expiresAt` and invisible at
 * that instant and after, for every read (`get`, `getMany`, `keys`, `size`,
 * `modify`, and the derived `has`/`isEmpty`); writes replace or clear an
 * expiry; `sweep` deletes exactly the expired entries in bounded batches.
 * Time is Effect's `TestClock`, which the backend must read through
 * `Clock`, except in one law that waits on the real clock.
 *
 * @internal
 */
import { expect } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import { Services } from "@effect-persist/core"
import { expectSameKeys, expectValue } from "../internal/assert.ts"
import { law, type Law, timedLaw } from "../internal/law.ts"

const now = Clock.currentTimeMillis

/**
 * The expiry laws.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const ttl: ReadonlyArray<Law> = [
  timedLaw("get: visible before expiresAt, gone at exactly expiresAt and after", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const start = yield* now
      yield* backend.set(ns, "k", "v", start + 1_000)
      yield* backend.set(ns, "forever", "v")
      expectValue(yield* backend.get(ns, "k"), "v", "at the start")
      yield* TestClock.adjust(999)
      expectValue(yield* backend.get(ns, "k"), "v", "1 ms before expiresAt")
      yield* TestClock.adjust(1)
      expect(yield* backend.get(ns, "k"), "at exactly expiresAt").toBeUndefined()
      yield* TestClock.adjust(60_000)
      expect(yield* backend.get(ns, "k"), "a minute after").toBeUndefined()
      expectValue(yield* backend.get(ns, "forever"), "v", "an entry without expiry")
    })),

  timedLaw("getMany: expired entries read as undefined, in place, next to live and missing ones", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const start = yield* now
      yield* backend.setMany(ns, [
        { key: "early", value: "e", expiresAt: start + 100 },
        { key: "late", value: "l", expiresAt: start + 200 },
        { key: "never", value: "n" }
      ])
      const keys = ["late", "missing", "early", "never", "early"]
      expect(yield* backend.getMany(ns, keys)).toEqual(["l", undefined, "e", "n", "e"])
      yield* TestClock.adjust(100)
      expect(yield* backend.getMany(ns, keys)).toEqual(["l", undefined, undefined, "n", undefined])
      yield* TestClock.adjust(100)
      expect(yield* backend.getMany(ns, keys)).toEqual([undefined, undefined, undefined, "n", undefined])
    })),

  timedLaw("keys and size, with and without a prefix, leave out expired entries from expiresAt on", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const start = yield* now
      yield* backend.setMany(ns, [
        { key: "p-early", value: "1", expiresAt: start + 100 },
        { key: "p-late", value: "1", expiresAt: start + 200 },
        { key: "p-never", value: "1" },
        { key: "q-early", value: "1", expiresAt: start + 100 }
      ])
      expect(yield* backend.size(ns)).toBe(4)
      yield* TestClock.adjust(100)
      expectSameKeys(yield* backend.keys(ns), ["p-late", "p-never"])
      expectSameKeys(yield* backend.keys(ns, "p-"), ["p-late", "p-never"])
      expect(yield* backend.size(ns)).toBe(2)
      expect(yield* backend.size(ns, "q-")).toBe(0)
      yield* TestClock.adjust(100)
      expectSameKeys(yield* backend.keys(ns), ["p-never"])
      expect(yield* backend.size(ns, "p-")).toBe(1)
    })),

  timedLaw("the derived KeyValueStore's has, isEmpty, size and keys honour expiry", ({ backend, keyValueStoreName }) =>
    Effect.gen(function*() {
      const name = yield* keyValueStoreName()
      const kv = Services.makeKeyValueStore(backend, { name })
      const ns = Services.keyValueNamespace(name)
      yield* backend.set(ns, "k", "v", (yield* now) + 500)
      expect(yield* kv.has("k")).toBe(true)
      expect(yield* kv.isEmpty).toBe(false)
      expect(yield* kv.size).toBe(1)
      yield* TestClock.adjust(500)
      expect(yield* kv.has("k")).toBe(false)
      expect(yield* kv.isEmpty).toBe(true)
      expect(yield* kv.size).toBe(0)
      expect(yield* kv.keys).toEqual([])
      expect(yield* kv.get("k")).toBeUndefined()
      expect(yield* kv.getUint8Array("k")).toBeUndefined()
    })),

  timedLaw("modify of an expired entry returns undefined, never calls the function, and does not resurrect it", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.set(ns, "k", "old", (yield* now) + 100)
      yield* TestClock.adjust(100)
      let calls = 0
      const result = yield* backend.modify(ns, "k", (current) => {
        calls++
        return Effect.succeed(`${current}+`)
      })
      expect(result).toBeUndefined()
      expect(calls).toBe(0)
      expect(yield* backend.get(ns, "k")).toBeUndefined()
      expect(yield* backend.keys(ns)).toEqual([])
      expect(yield* backend.size(ns)).toBe(0)
      yield* backend.set(ns, "k", "fresh")
      expectValue(yield* backend.get(ns, "k"), "fresh", "a fresh set after the failed modify")
    })),

  timedLaw("set over an expired entry writes a fresh entry that does not inherit the old expiry", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.set(ns, "k", "old", (yield* now) + 100)
      yield* TestClock.adjust(200)
      yield* backend.set(ns, "k", "new")
      expectValue(yield* backend.get(ns, "k"), "new")
      yield* backend.setMany(ns, [{ key: "m", value: "old", expiresAt: (yield* now) + 100 }])
      yield* TestClock.adjust(200)
      yield* backend.setMany(ns, [{ key: "m", value: "new" }])
      yield* TestClock.adjust(365 * 24 * 3_600_000)
      expectValue(yield* backend.get(ns, "k"), "new", "a year later")
      expectValue(yield* backend.get(ns, "m"), "new", "a year later, written by setMany")
      expectSameKeys(yield* backend.keys(ns), ["k", "m"])
    })),

  timedLaw("set without an expiry clears a previous expiry; a new expiry replaces the old one", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const start = yield* now
      yield* backend.set(ns, "cleared", "v", start + 100)
      yield* backend.set(ns, "cleared", "v2")
      yield* backend.set(ns, "extended", "v", start + 100)
      yield* backend.set(ns, "extended", "v2", start + 1_000)
      yield* backend.set(ns, "shortened", "v", start + 1_000)
      yield* backend.set(ns, "shortened", "v2", start + 100)
      yield* TestClock.adjust(100)
      expectValue(yield* backend.get(ns, "cleared"), "v2", "cleared")
      expectValue(yield* backend.get(ns, "extended"), "v2", "extended")
      expect(yield* backend.get(ns, "shortened"), "shortened").toBeUndefined()
      yield* TestClock.adjust(900)
      expect(yield* backend.get(ns, "extended"), "extended, at its new expiry").toBeUndefined()
      expectValue(yield* backend.get(ns, "cleared"), "v2", "cleared, later")
    })),

  timedLaw("setMany with mixed expiries: each entry expires at its own instant", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const start = yield* now
      const entries = Array.from({ length: 10 }, (_, i) => ({
        key: `k${i}`,
        value: `v${i}`,
        expiresAt: i % 3 === 0 ? undefined : start + i * 100
      }))
      yield* backend.setMany(ns, entries)
      for (let step = 0; step <= 10; step++) {
        const at = start + step * 100
        const live = entries.filter((entry) => entry.expiresAt === undefined || entry.expiresAt > at)
        expectSameKeys(yield* backend.keys(ns), live.map((entry) => entry.key), `keys at +${step * 100} ms`)
        expect(yield* backend.getMany(ns, entries.map((entry) => entry.key)), `getMany at +${step * 100} ms`).toEqual(
          entries.map((entry) => live.includes(entry) ? entry.value : undefined)
        )
        yield* TestClock.adjust(100)
      }
    })),

  timedLaw("an expiry at or before the current instant hides the entry at once", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const start = yield* now
      yield* backend.set(ns, "now", "v", start)
      yield* backend.set(ns, "past", "v", start - 1)
      yield* backend.set(ns, "epoch", "v", 0)
      yield* backend.setMany(ns, [{ key: "batch-now", value: "v", expiresAt: start }, { key: "live", value: "v" }])
      expect(yield* backend.getMany(ns, ["now", "past", "epoch", "batch-now", "live"])).toEqual([
        undefined,
        undefined,
        undefined,
        undefined,
        "v"
      ])
      expectSameKeys(yield* backend.keys(ns), ["live"])
      expect(yield* backend.size(ns)).toBe(1)
    })),

  timedLaw("far-future and fractional expiry instants are honoured (year 9999; expiresAt + 0.5 ms)", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const start = yield* now
      const year9999 = Date.UTC(9999, 11, 31, 23, 59, 59, 999)
      yield* backend.set(ns, "far", "v", year9999)
      yield* backend.set(ns, "fraction", "v", start + 10.5)
      yield* TestClock.adjust(10)
      expectValue(yield* backend.get(ns, "fraction"), "v", "half a millisecond before expiresAt")
      yield* TestClock.adjust(1)
      expect(yield* backend.get(ns, "fraction"), "half a millisecond after expiresAt").toBeUndefined()
      yield* TestClock.adjust(50 * 365 * 24 * 3_600_000)
      expectValue(yield* backend.get(ns, "far"), "v", "fifty years later")
    })),

  timedLaw("sweep deletes exactly the expired entries of every namespace, returns how many, and keeps live ones", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      // Leftovers that had already expired (another test, a crashed run) are
      // not this law's to count.
      yield* backend.sweep()
      const one = yield* namespace("one")
      const two = yield* namespace("two")
      const start = yield* now
      yield* backend.setMany(one, [
        { key: "expired-1", value: "x", expiresAt: start + 100 },
        { key: "expired-2", value: new Uint8Array([1]), expiresAt: start + 500 },
        { key: "at-the-instant", value: "x", expiresAt: start + 1_000 },
        { key: "live", value: "x", expiresAt: start + 1_001 },
        { key: "forever", value: "x" }
      ])
      yield* backend.setMany(two, [
        { key: "expired-1", value: "x", expiresAt: start + 1 },
        { key: "expired-2", value: "x", expiresAt: start + 999 },
        { key: "live", value: "x", expiresAt: start + 60_000 }
      ])
      expect(yield* backend.sweep(), "sweep before anything expired").toBe(0)
      yield* TestClock.adjust(1_000)
      expect(yield* backend.sweep(), "entries swept").toBe(5)
      expect(yield* backend.sweep(), "a second sweep").toBe(0)
      expectSameKeys(yield* backend.keys(one), ["live", "forever"])
      expectSameKeys(yield* backend.keys(two), ["live"])
      expectValue(yield* backend.get(one, "live"), "x")
      yield* TestClock.adjust(1)
      expect(yield* backend.sweep(), "after the next entry expired").toBe(1)
      expectSameKeys(yield* backend.keys(one), ["forever"])
    })),

  timedLaw("sweep with a small batchSize (7 over 50 expired) deletes them all and reports progress per batch", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      yield* backend.sweep()
      const ns = yield* namespace()
      const start = yield* now
      yield* backend.setMany(ns, [
        ...Array.from({ length: 50 }, (_, i) => ({ key: `expired-${i}`, value: "x", expiresAt: start + 1 + (i % 5) })),
        ...Array.from({ length: 10 }, (_, i) => ({ key: `live-${i}`, value: "x", expiresAt: start + 10_000 }))
      ])
      yield* TestClock.adjust(100)
      const progress: Array<number> = []
      const deleted = yield* backend.sweep({ batchSize: 7, onProgress: (n) => progress.push(n) })
      expect(deleted).toBe(50)
      expect(progress.length, `onProgress calls: ${progress.join(", ")}`).toBeGreaterThanOrEqual(Math.ceil(50 / 7))
      expect(progress.at(-1), "the last progress report is the total").toBe(50)
      progress.forEach((n, i) => {
        const previous = i === 0 ? 0 : progress[i - 1]!
        expect(n - previous, `batch ${i + 1} of progress ${progress.join(", ")}`).toBeGreaterThanOrEqual(0)
        expect(n - previous, `batch ${i + 1} of progress ${progress.join(", ")}`).toBeLessThanOrEqual(7)
      })
      expect(yield* backend.size(ns)).toBe(10)
      expect(yield* backend.sweep({ batchSize: 7 })).toBe(0)
    })),

  law(
    "on the real clock: an entry set to expire in 400 ms is visible at once and gone a second later",
    ({ backend, namespace }) =>
      Effect.gen(function*() {
        const ns = yield* namespace()
        const start = yield* now
        expect(Math.abs(start - Date.now()), "the law must run on the real clock").toBeLessThan(5_000)
        const expiresAt = start + 400
        yield* backend.set(ns, "short", "v", expiresAt)
        yield* backend.set(ns, "long", "v", start + 600_000)
        const seen = yield* backend.get(ns, "short")
        // Only a backend slower than 400 ms per call could miss the first read.
        if (Date.now() < expiresAt) expectValue(seen, "v", "right after set")
        yield* Effect.sleep(Math.max(0, expiresAt - Date.now()) + 1_000)
        expect(yield* backend.get(ns, "short"), "a second after expiresAt").toBeUndefined()
        expect(yield* backend.getMany(ns, ["short", "long"])).toEqual([undefined, "v"])
        expectSameKeys(yield* backend.keys(ns), ["long"])
        expect(yield* backend.size(ns)).toBe(1)
        expect(yield* backend.modify(ns, "short", () => Effect.succeed("resurrected"))).toBeUndefined()
        expect(yield* backend.get(ns, "short")).toBeUndefined()
      }),
    { clock: "live", skipWhen: (options) => options.realClock ? undefined : "realClock: false" }
  )
]
