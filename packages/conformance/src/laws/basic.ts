/**
 * Basic laws: what `get`, `getMany`, `set`, `remove`, `clear`, `keys` and
 * `size` do on ordinary keys and values, before any edge case.
 *
 * @internal
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { expectSameKeys, expectValue } from "../internal/assert.ts"
import { law, type Law } from "../internal/law.ts"

/**
 * The basic laws.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const basic: ReadonlyArray<Law> = [
  law("a fresh namespace is empty: get is undefined, keys is [], size is 0", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      expect(yield* backend.get(ns, "missing")).toBeUndefined()
      expect(yield* backend.keys(ns)).toEqual([])
      expect(yield* backend.size(ns)).toBe(0)
    })),

  law("set then get returns the value; a second set replaces it", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.set(ns, "k", "first")
      expectValue(yield* backend.get(ns, "k"), "first")
      yield* backend.set(ns, "k", "second")
      expectValue(yield* backend.get(ns, "k"), "second")
      yield* backend.set(ns, "k", new Uint8Array([1, 2, 3]))
      expectValue(yield* backend.get(ns, "k"), new Uint8Array([1, 2, 3]))
      expect(yield* backend.size(ns)).toBe(1)
    })),

  law("remove deletes one key and leaves the others; removing a missing key succeeds", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      for (const key of ["a", "ab", "a ", "A", "b"]) yield* backend.set(ns, key, key)
      yield* backend.remove(ns, "a")
      expect(yield* backend.get(ns, "a")).toBeUndefined()
      expect(yield* backend.getMany(ns, ["ab", "a ", "A", "b"])).toEqual(["ab", "a ", "A", "b"])
      yield* backend.remove(ns, "a")
      yield* backend.remove(ns, "never-written")
      expectSameKeys(yield* backend.keys(ns), ["ab", "a ", "A", "b"])
    })),

  law(
    "getMany answers in input order, repeats duplicates and gives undefined for missing keys, in one call",
    ({ backend, namespace }) =>
      Effect.gen(function*() {
        const ns = yield* namespace()
        yield* backend.set(ns, "b", "B")
        yield* backend.set(ns, "a", "A")
        yield* backend.set(ns, "c", new Uint8Array([7]))
        const got = yield* backend.getMany(ns, ["c", "missing", "a", "b", "a", "missing", "c"])
        expect(got).toHaveLength(7)
        expectValue(got[0], new Uint8Array([7]), "getMany[0]")
        expectValue(got[1], undefined, "getMany[1]")
        expectValue(got[2], "A", "getMany[2]")
        expectValue(got[3], "B", "getMany[3]")
        expectValue(got[4], "A", "getMany[4]")
        expectValue(got[5], undefined, "getMany[5]")
        expectValue(got[6], new Uint8Array([7]), "getMany[6]")
        const onlyMissing = yield* backend.getMany(ns, ["x", "y"])
        expect(onlyMissing).toEqual([undefined, undefined])
      })
  ),

  law("clear empties the namespace, which stays usable", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.setMany(ns, [{ key: "a", value: "1" }, { key: "b", value: "2" }, { key: "c", value: "3" }])
      yield* backend.clear(ns)
      expect(yield* backend.size(ns)).toBe(0)
      expect(yield* backend.keys(ns)).toEqual([])
      expect(yield* backend.get(ns, "a")).toBeUndefined()
      yield* backend.clear(ns)
      yield* backend.set(ns, "a", "again")
      expectValue(yield* backend.get(ns, "a"), "again")
      expect(yield* backend.size(ns)).toBe(1)
    })),

  law("keys lists every live key exactly once and size counts them", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const written = ["k1", "k2", "k3", "k10", "other"]
      for (const key of written) yield* backend.set(ns, key, key)
      yield* backend.set(ns, "k2", "overwritten")
      expectSameKeys(yield* backend.keys(ns), written)
      expect(yield* backend.size(ns)).toBe(written.length)
      yield* backend.remove(ns, "k3")
      expectSameKeys(yield* backend.keys(ns), written.filter((key) => key !== "k3"))
      expect(yield* backend.size(ns)).toBe(written.length - 1)
    }))
]
