/**
 * `KeyValueStore` laws: Effect's service derived from the backend
 * (`Services.makeKeyValueStore`, `Services.layerKeyValueStore`) behaves like
 * Effect's own stores, every method included, with Effect's conventions for
 * the two value kinds (`get` of bytes is base64, `getUint8Array` of a string
 * is its UTF-8), an atomic `modify`, and `KeyValueStoreError`s whose cause is
 * the backend's `StorageError`.
 *
 * @internal
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Base64 from "effect/encoding/Base64"
import * as Layer from "effect/Layer"
import * as KeyValueStore from "effect/persistence/KeyValueStore"
import { Services } from "@effect-persist/core"
import { StorageError } from "@effect-persist/core/StorageError"
import { byteRange, expectBytes, expectSameKeys, expectString, expectTypedFailure, expectValue } from "../internal/assert.ts"
import { law, type Law } from "../internal/law.ts"

const utf8 = (text: string) => new TextEncoder().encode(text)

/**
 * The `KeyValueStore` laws.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const services: ReadonlyArray<Law> = [
  law("KeyValueStore: get, set, has, remove, size, keys, isEmpty and clear", ({ backend, keyValueStoreName }) =>
    Effect.gen(function*() {
      const kv = Services.makeKeyValueStore(backend, { name: yield* keyValueStoreName() })
      expect(yield* kv.isEmpty).toBe(true)
      expect(yield* kv.get("a")).toBeUndefined()
      expect(yield* kv.has("a")).toBe(false)
      yield* kv.set("a", "1")
      yield* kv.set("b", "2")
      yield* kv.set("", "empty key")
      expect(yield* kv.get("a")).toBe("1")
      expect(yield* kv.has("a")).toBe(true)
      expect(yield* kv.has("")).toBe(true)
      expect(yield* kv.size).toBe(3)
      expect(yield* kv.isEmpty).toBe(false)
      expectSameKeys(yield* kv.keys, ["a", "b", ""])
      yield* kv.remove("a")
      expect(yield* kv.has("a")).toBe(false)
      expect(yield* kv.size).toBe(2)
      yield* kv.clear
      expect(yield* kv.isEmpty).toBe(true)
      expect(yield* kv.keys).toEqual([])
    })),

  law("KeyValueStore: get of a binary value is its base64, getUint8Array gives the bytes", ({
    backend,
    keyValueStoreName
  }) =>
    Effect.gen(function*() {
      const kv = Services.makeKeyValueStore(backend, { name: yield* keyValueStoreName() })
      const bytes = byteRange(256)
      yield* kv.set("bin", bytes)
      expectString(yield* kv.get("bin"), Base64.encode(bytes), "get of a binary value")
      expectBytes(yield* kv.getUint8Array("bin"), bytes, "getUint8Array of a binary value")
      yield* kv.set("empty", new Uint8Array(0))
      expectString(yield* kv.get("empty"), "", "get of an empty binary value")
      expectBytes(yield* kv.getUint8Array("empty"), [], "getUint8Array of an empty binary value")
    })),

  law("KeyValueStore: getUint8Array of a string value is its UTF-8, and get gives the string back unchanged", ({
    backend,
    keyValueStoreName
  }) =>
    Effect.gen(function*() {
      const kv = Services.makeKeyValueStore(backend, { name: yield* keyValueStoreName() })
      for (const text of ["hello", "é😀\u0000", "aGVsbG8=", ""]) {
        yield* kv.set("s", text)
        expectBytes(yield* kv.getUint8Array("s"), utf8(text), `getUint8Array of ${JSON.stringify(text)}`)
        expectString(yield* kv.get("s"), text, `get of ${JSON.stringify(text)}`)
      }
      expect(yield* kv.getUint8Array("missing")).toBeUndefined()
    })),

  law("KeyValueStore: modify sees strings (bytes as base64), stores the string it returns, and returns it", ({
    backend,
    keyValueStoreName
  }) =>
    Effect.gen(function*() {
      const name = yield* keyValueStoreName()
      const kv = Services.makeKeyValueStore(backend, { name })
      yield* kv.set("s", "abc")
      expect(yield* kv.modify("s", (value) => `${value}!`)).toBe("abc!")
      expect(yield* kv.get("s")).toBe("abc!")
      yield* kv.set("b", new Uint8Array([1, 2, 3]))
      let seen: unknown
      const result = yield* kv.modify("b", (value) => {
        seen = value
        return "now text"
      })
      expect(seen).toBe(Base64.encode(new Uint8Array([1, 2, 3])))
      expect(result).toBe("now text")
      expectString(yield* backend.get(Services.keyValueNamespace(name), "b"), "now text", "the stored kind after modify")
    })),

  law("KeyValueStore: modifyUint8Array sees bytes (strings as UTF-8), stores the bytes it returns, and returns them", ({
    backend,
    keyValueStoreName
  }) =>
    Effect.gen(function*() {
      const name = yield* keyValueStoreName()
      const kv = Services.makeKeyValueStore(backend, { name })
      yield* kv.set("s", "é")
      let seen: unknown
      const result = yield* kv.modifyUint8Array("s", (value) => {
        seen = value
        return Uint8Array.from([...value, 0])
      })
      expectBytes(seen, utf8("é"), "modifyUint8Array's input for a string")
      expectBytes(result, [...utf8("é"), 0], "modifyUint8Array's result")
      expectBytes(yield* backend.get(Services.keyValueNamespace(name), "s"), [...utf8("é"), 0], "the stored value")
      yield* kv.set("b", new Uint8Array([9]))
      expectBytes(yield* kv.modifyUint8Array("b", (value) => value.map((x) => x + 1)), [10])
      expectBytes(yield* kv.getUint8Array("b"), [10])
    })),

  law("KeyValueStore: modify and modifyUint8Array of a missing key return undefined and create nothing", ({
    backend,
    keyValueStoreName
  }) =>
    Effect.gen(function*() {
      const kv = Services.makeKeyValueStore(backend, { name: yield* keyValueStoreName() })
      let calls = 0
      expect(yield* kv.modify("missing", (v) => {
        calls++
        return v
      })).toBeUndefined()
      expect(yield* kv.modifyUint8Array("missing", (v) => {
        calls++
        return v
      })).toBeUndefined()
      expect(calls).toBe(0)
      expect(yield* kv.has("missing")).toBe(false)
      expect(yield* kv.isEmpty).toBe(true)
    })),

  law("KeyValueStore: a modify function that throws or returns a lone surrogate fails typed and changes nothing", ({
    backend,
    keyValueStoreName
  }) =>
    Effect.gen(function*() {
      const kv = Services.makeKeyValueStore(backend, { name: yield* keyValueStoreName() })
      yield* kv.set("k", "unchanged")
      const thrown = yield* expectTypedFailure(
        kv.modify("k", () => {
          throw new Error("boom")
        }),
        "KeyValueStoreError",
        "modify with a throwing function"
      )
      expect(thrown.method).toBe("modify")
      expect(thrown.cause).toBeInstanceOf(StorageError)
      expect(thrown.message).toContain("boom")
      const bytesThrown = yield* expectTypedFailure(
        kv.modifyUint8Array("k", () => {
          throw new Error("bang")
        }),
        "KeyValueStoreError",
        "modifyUint8Array with a throwing function"
      )
      expect(bytesThrown.method).toBe("modifyUint8Array")
      const invalid = yield* expectTypedFailure(
        kv.modify("k", () => "x\ud800"),
        "KeyValueStoreError",
        "modify returning a lone surrogate"
      )
      expect((invalid.cause as StorageError).reason).toBe("InvalidValue")
      expect(yield* kv.get("k")).toBe("unchanged")
    })),

  law("KeyValueStore: clearPrefix removes exactly the keys starting with it, metacharacters and \"\" included", ({
    backend,
    keyValueStoreName
  }) =>
    Effect.gen(function*() {
      const kv = Services.makeKeyValueStore(backend, { name: yield* keyValueStoreName() })
      for (const key of ["a%", "ab", "a_", "ax", "b", "p:1", "p:2", "q"]) yield* kv.set(key, key)
      yield* kv.clearPrefix("a%")
      yield* kv.clearPrefix("a_")
      expectSameKeys(yield* kv.keys, ["ab", "ax", "b", "p:1", "p:2", "q"])
      // Effect's prefix view clears through clearPrefix.
      const view = KeyValueStore.prefix(kv, "p:")
      expectSameKeys(yield* view.keys, ["1", "2"])
      yield* view.clear
      expectSameKeys(yield* kv.keys, ["ab", "ax", "b", "q"])
      yield* kv.clearPrefix("")
      expect(yield* kv.isEmpty).toBe(true)
    })),

  law("KeyValueStore: bad keys fail with KeyValueStoreError naming the method and key, caused by a StorageError", ({
    backend,
    keyValueStoreName
  }) =>
    Effect.gen(function*() {
      const kv = Services.makeKeyValueStore(backend, { name: yield* keyValueStoreName() })
      const bad = "a\ud800"
      const attempts: ReadonlyArray<readonly [string, Effect.Effect<unknown, KeyValueStore.KeyValueStoreError>]> = [
        ["get", kv.get(bad)],
        ["getUint8Array", kv.getUint8Array(bad)],
        ["set", kv.set(bad, "x")],
        ["remove", kv.remove(bad)],
        ["has", kv.has(bad)],
        ["modify", kv.modify(bad, (v) => v)],
        ["modifyUint8Array", kv.modifyUint8Array(bad, (v) => v)],
        ["clearPrefix", kv.clearPrefix(bad)]
      ]
      for (const [method, attempt] of attempts) {
        const error = yield* expectTypedFailure(attempt, "KeyValueStoreError", `KeyValueStore.${method}`)
        expect(error.method).toBe(method)
        expect(error.key).toBe(bad)
        expect(error.cause, `the cause of ${method}'s error`).toBeInstanceOf(StorageError)
        expect((error.cause as StorageError).reason).toBe("InvalidKey")
      }
      const valueError = yield* expectTypedFailure(kv.set("k", 42 as any), "KeyValueStoreError", "set of a number")
      expect((valueError.cause as StorageError).reason).toBe("InvalidValue")
      expect(yield* kv.isEmpty).toBe(true)
    })),

  law("layerKeyValueStore provides a store per name from the StorageBackend in context", ({
    backendLayer,
    keyValueStoreName
  }) =>
    Effect.gen(function*() {
      const name = yield* keyValueStoreName("one")
      const otherName = yield* keyValueStoreName("two")
      const inStore = <A, E>(storeName: string, f: (kv: KeyValueStore.KeyValueStore) => Effect.Effect<A, E>) =>
        KeyValueStore.KeyValueStore.use(f).pipe(
          Effect.provide(Services.layerKeyValueStore({ name: storeName }).pipe(Layer.provide(backendLayer)))
        )
      yield* inStore(name, (kv) => kv.set("k", "from the first layer"))
      expect(yield* inStore(name, (kv) => kv.get("k"))).toBe("from the first layer")
      expect(yield* inStore(otherName, (kv) => kv.get("k"))).toBeUndefined()
      yield* inStore(otherName, (kv) => kv.set("k", "other"))
      expect(yield* inStore(name, (kv) => kv.get("k"))).toBe("from the first layer")
      expect(yield* inStore(name, (kv) => kv.size)).toBe(1)
    })),

  law("KeyValueStore: modify is the backend's atomic modify (concurrent increments lose nothing)", ({
    backend,
    keyValueStoreName
  }) =>
    Effect.gen(function*() {
      const kv = Services.makeKeyValueStore(backend, { name: yield* keyValueStoreName() })
      const atomic = backend.capabilities.atomicModify
      yield* kv.set("counter", "0")
      yield* kv.set("bytes", new Uint8Array([0]))
      yield* Effect.forEach(
        Array.from({ length: 16 }, (_, i) => i),
        (i) =>
          Effect.forEach([0, 1, 2], () =>
            i % 2 === 0
              ? Effect.asVoid(kv.modify("counter", (v) => String(Number(v) + 1)))
              : Effect.asVoid(kv.modifyUint8Array("bytes", (v) => Uint8Array.of(v[0]! + 1)))),
        { concurrency: atomic ? "unbounded" : 1, discard: true }
      )
      expect(yield* kv.get("counter")).toBe("24")
      expectValue(yield* kv.getUint8Array("bytes"), new Uint8Array([24]))
    }))
]
