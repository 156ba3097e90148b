/**
 * Namespace laws: the same key in two namespaces is two entries for every
 * operation; namespaces are compared as exactly as keys are; a namespace and
 * a key never run together into one string; `KeyValueStore` names and
 * persistence store ids map to separate namespaces.
 *
 * @internal
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Services } from "@effect-persist/core"
import { escape, expectSameKeys, expectValue } from "../internal/assert.ts"
import { law, type Law } from "../internal/law.ts"

/**
 * The namespace laws.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const namespace: ReadonlyArray<Law> = [
  law("the same key in two namespaces is two entries for get, set and remove", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const one = yield* namespace("one")
      const two = yield* namespace("two")
      yield* backend.set(one, "k", "in one")
      expect(yield* backend.get(two, "k")).toBeUndefined()
      yield* backend.set(two, "k", "in two")
      expectValue(yield* backend.get(one, "k"), "in one")
      expectValue(yield* backend.get(two, "k"), "in two")
      expect(yield* backend.getMany(one, ["k", "k"])).toEqual(["in one", "in one"])
      yield* backend.remove(one, "k")
      expect(yield* backend.get(one, "k")).toBeUndefined()
      expectValue(yield* backend.get(two, "k"), "in two")
    })),

  law("clear, clearPrefix, keys and size see only their own namespace", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const one = yield* namespace("one")
      const two = yield* namespace("two")
      yield* backend.setMany(one, [{ key: "a1", value: "1" }, { key: "a2", value: "1" }, { key: "b", value: "1" }])
      yield* backend.setMany(two, [{ key: "a1", value: "2" }, { key: "c", value: "2" }])
      expectSameKeys(yield* backend.keys(one), ["a1", "a2", "b"])
      expectSameKeys(yield* backend.keys(two, "a"), ["a1"])
      expect(yield* backend.size(one, "a")).toBe(2)
      expect(yield* backend.size(two)).toBe(2)
      yield* backend.clearPrefix(one, "a")
      expectSameKeys(yield* backend.keys(one), ["b"])
      expectSameKeys(yield* backend.keys(two), ["a1", "c"])
      yield* backend.clear(two)
      expectSameKeys(yield* backend.keys(one), ["b"])
      expect(yield* backend.size(two)).toBe(0)
    })),

  law("modify changes only its own namespace's entry", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const one = yield* namespace("one")
      const two = yield* namespace("two")
      yield* backend.set(one, "k", "1")
      yield* backend.set(two, "k", "2")
      const modified = yield* backend.modify(one, "k", (v) => Effect.succeed(`${v}!`))
      expect(modified).toBe("1!")
      expectValue(yield* backend.get(two, "k"), "2")
      expect(yield* backend.modify(yield* namespace("three"), "k", (v) => Effect.succeed(`${v}?`))).toBeUndefined()
      expectValue(yield* backend.get(one, "k"), "1!")
    })),

  law("namespaces differing only by case, trailing space, accent or normalization are distinct", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const labels = ["ns", "NS", "ns ", "ns  ", "ńs", "\u00e9", "e\u0301"]
      const spaces: Array<string> = []
      for (const label of labels) spaces.push(yield* namespace(label))
      for (const [i, ns] of spaces.entries()) yield* backend.set(ns, "k", `value in ${labels[i]}`)
      for (const [i, ns] of spaces.entries()) {
        expectValue(yield* backend.get(ns, "k"), `value in ${labels[i]}`, `namespace ${escape(labels[i]!)}`)
        expect(yield* backend.size(ns), `size of namespace ${escape(labels[i]!)}`).toBe(1)
      }
      yield* backend.clear(spaces[0]!)
      for (const ns of spaces.slice(1)) expect(yield* backend.size(ns)).toBe(1)
    })),

  law("a namespace and a key never run together: (\"p\", \"x:k\") and (\"p:x\", \"k\") are different entries", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const separators = [":", "/", ".", "", " ", "|", "\u001f", "\t", "%", "_"]
      if (backend.capabilities.nulInKeys) separators.push("\u0000")
      for (const sep of separators) {
        const outer = yield* namespace(`blur-${separators.indexOf(sep)}`)
        const inner = yield* namespace(`blur-${separators.indexOf(sep)}${sep}x`)
        const what = `separator ${escape(sep)}`
        yield* backend.set(outer, `x${sep}k`, "outer")
        expect(yield* backend.get(inner, "k"), `${what}: get in the longer namespace`).toBeUndefined()
        yield* backend.set(inner, "k", "inner")
        expectValue(yield* backend.get(outer, `x${sep}k`), "outer", what)
        expectSameKeys(yield* backend.keys(outer), [`x${sep}k`], `${what}: keys of the shorter namespace`)
        expectSameKeys(yield* backend.keys(inner), ["k"], `${what}: keys of the longer namespace`)
        yield* backend.clear(outer)
        expectValue(yield* backend.get(inner, "k"), "inner", `${what}: clearing the shorter namespace`)
        yield* backend.set(outer, "k2", "outer")
        yield* backend.clear(inner)
        expectValue(yield* backend.get(outer, "k2"), "outer", `${what}: clearing the longer namespace`)
      }
    })),

  law("KeyValueStores with different names (even by case only) never see each other's keys", ({
    backend,
    keyValueStoreName
  }) =>
    Effect.gen(function*() {
      const one = Services.makeKeyValueStore(backend, { name: yield* keyValueStoreName("store") })
      const two = Services.makeKeyValueStore(backend, { name: yield* keyValueStoreName("Store") })
      yield* one.set("k", "one")
      expect(yield* two.get("k")).toBeUndefined()
      expect(yield* two.isEmpty).toBe(true)
      yield* two.set("k", "two")
      yield* two.set("only-two", "two")
      expect(yield* one.get("k")).toBe("one")
      expect(yield* one.size).toBe(1)
      yield* one.clear
      expect(yield* two.keys).toHaveLength(2)
      expect(yield* two.get("k")).toBe("two")
    })),

  law("a KeyValueStore and a persistence store with the same name are isolated", ({
    backend,
    keyValueStoreName,
    persistenceStoreId
  }) =>
    Effect.gen(function*() {
      const name = yield* keyValueStoreName("shared")
      expect(yield* persistenceStoreId("shared")).toBe(name)
      const kv = Services.makeKeyValueStore(backend, { name })
      const store = Services.makeBackingPersistenceStore(backend, name)
      yield* kv.set("k", "{\"from\":\"kv\"}")
      expect(yield* store.get("k")).toBeUndefined()
      yield* store.set("k", { from: "persistence" }, undefined)
      yield* store.set("p", { only: "persistence" }, undefined)
      expect(yield* kv.get("k")).toBe("{\"from\":\"kv\"}")
      expect(yield* kv.size).toBe(1)
      yield* kv.clear
      expect(yield* store.get("k")).toEqual({ from: "persistence" })
      yield* kv.set("k", "again")
      yield* store.clear
      expect(yield* kv.get("k")).toBe("again")
      expect(yield* store.get("p")).toBeUndefined()
    }))
]
