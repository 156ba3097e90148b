/**
 * Persistence laws: Effect's `BackingPersistence` and `Persistence` derived
 * from the backend store and expire entries as Effect's own stores do, and
 * `PersistedCache` on top of them runs a lookup once, serves later gets from
 * the store (even to a fresh cache), forgets on `invalidate`, and looks up
 * again once the time-to-live has passed.
 *
 * @internal
 */
import { expect } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Persistable from "effect/persistence/Persistable"
import * as PersistedCache from "effect/persistence/PersistedCache"
import * as Persistence from "effect/persistence/Persistence"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/testing/TestClock"
import { Services, type StorageBackend } from "@effect-persist/core"
import { expectTypedFailure } from "../internal/assert.ts"
import { law, type Law, timedLaw } from "../internal/law.ts"

class Greeting extends Persistable.Class<{ payload: { readonly name: string } }>()("Greeting", {
  primaryKey: ({ name }) => `greeting:${name}`,
  success: Schema.String,
  error: Schema.String
}) {}

const persistenceLayer = (backendLayer: Layer.Layer<StorageBackend.StorageBackend>) =>
  Services.layerPersistence.pipe(Layer.provide(backendLayer))

/** An exit as plain data: `{ success }` or `{ failure }` with the typed error. */
const exitData = (exit: Exit.Exit<unknown, unknown> | undefined) =>
  exit === undefined
    ? undefined
    : Exit.isSuccess(exit)
    ? { success: exit.value }
    : { failure: Option.getOrUndefined(Cause.findErrorOption(exit.cause)) }

/** A lookup that counts its calls and fails for names starting with "!". */
const countingLookup = () => {
  const calls: Array<string> = []
  const lookup = (request: Greeting) =>
    Effect.suspend(() => {
      calls.push(request.name)
      return request.name.startsWith("!")
        ? Effect.fail(`no greeting for ${request.name}`)
        : Effect.succeed(`hello ${request.name} #${calls.length}`)
    })
  return { calls, lookup }
}

const nested = {
  text: "é😀\u0000 and \"quotes\"",
  number: 1.5,
  negative: -0.25,
  flag: true,
  nothing: null,
  list: [1, "two", { three: [3] }],
  deep: { a: { b: { c: "d" } } }
}

/**
 * The persistence laws.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const persistence: ReadonlyArray<Law> = [
  law("BackingPersistence: objects round-trip through set, get, remove and clear", ({ backend, persistenceStoreId }) =>
    Effect.gen(function*() {
      const store = Services.makeBackingPersistenceStore(backend, yield* persistenceStoreId())
      expect(yield* store.get("k")).toBeUndefined()
      yield* store.set("k", nested, undefined)
      yield* store.set("empty", {}, undefined)
      yield* store.set("array", [1, 2], undefined)
      expect(yield* store.get("k")).toEqual(nested)
      expect(yield* store.get("empty")).toEqual({})
      expect(yield* store.get("array")).toEqual([1, 2])
      yield* store.set("k", { replaced: true }, undefined)
      expect(yield* store.get("k")).toEqual({ replaced: true })
      yield* store.remove("k")
      expect(yield* store.get("k")).toBeUndefined()
      yield* store.clear
      expect(yield* store.get("empty")).toBeUndefined()
      expect(yield* store.get("array")).toBeUndefined()
    })),

  law("BackingPersistence: getMany answers in order with undefined for missing keys; setMany writes a batch", ({
    backend,
    persistenceStoreId
  }) =>
    Effect.gen(function*() {
      const store = Services.makeBackingPersistenceStore(backend, yield* persistenceStoreId())
      yield* store.setMany([["a", { v: "a" }, undefined], ["b", { v: "b" }, undefined], ["a", { v: "a2" }, undefined]])
      expect(yield* store.getMany(["b", "missing", "a", "b"])).toStrictEqual([{ v: "b" }, undefined, { v: "a2" }, { v: "b" }])
    })),

  timedLaw("BackingPersistence: a time-to-live expires the entry on Effect's clock; no ttl means no expiry", ({
    backend,
    persistenceStoreId
  }) =>
    Effect.gen(function*() {
      const store = Services.makeBackingPersistenceStore(backend, yield* persistenceStoreId())
      yield* store.set("short", { v: 1 }, Duration.seconds(10))
      yield* store.set("forever", { v: 2 }, undefined)
      yield* store.setMany([
        ["batch-short", { v: 3 }, Duration.seconds(5)],
        ["batch-long", { v: 4 }, Duration.minutes(1)],
        ["batch-forever", { v: 5 }, undefined]
      ])
      yield* TestClock.adjust(Duration.millis(4_999))
      expect(yield* store.getMany(["short", "forever", "batch-short", "batch-long", "batch-forever"])).toEqual([
        { v: 1 },
        { v: 2 },
        { v: 3 },
        { v: 4 },
        { v: 5 }
      ])
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* store.get("batch-short")).toBeUndefined()
      yield* TestClock.adjust(Duration.millis(4_999))
      expect(yield* store.get("short")).toEqual({ v: 1 })
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* store.get("short")).toBeUndefined()
      yield* TestClock.adjust(Duration.minutes(1))
      expect(yield* store.getMany(["short", "forever", "batch-short", "batch-long", "batch-forever"])).toEqual([
        undefined,
        { v: 2 },
        undefined,
        undefined,
        { v: 5 }
      ])
    })),

  law("BackingPersistence: an entry that is not persisted JSON fails with PersistenceError, not a defect", ({
    backend,
    persistenceStoreId
  }) =>
    Effect.gen(function*() {
      const storeId = yield* persistenceStoreId()
      const store = Services.makeBackingPersistenceStore(backend, storeId)
      const ns = Services.persistenceNamespace(storeId)
      yield* backend.set(ns, "binary", new Uint8Array([123, 125]))
      yield* backend.set(ns, "text", "not json {")
      yield* backend.set(ns, "scalar", "42")
      for (const key of ["binary", "text", "scalar"]) {
        yield* expectTypedFailure(store.get(key), "PersistenceError", `get of the ${key} entry`)
      }
      yield* expectTypedFailure(store.getMany(["text"]), "PersistenceError", "getMany of the text entry")
      const circular: Record<string, unknown> = {}
      circular["self"] = circular
      yield* expectTypedFailure(store.set("circular", circular, undefined), "PersistenceError", "set of a circular object")
      expect(yield* backend.get(ns, "circular")).toBeUndefined()
    })),

  timedLaw("Persistence: stores keep success and failure exits per key, honour timeToLive and stay apart by store id", ({
    backendLayer,
    persistenceStoreId
  }) =>
    Effect.gen(function*() {
      const persistence = yield* Persistence.Persistence
      const storeId = yield* persistenceStoreId("one")
      const otherId = yield* persistenceStoreId("two")
      const store = yield* persistence.make({
        storeId,
        timeToLive: (exit) => Exit.isSuccess(exit) ? "1 minute" : "10 seconds"
      })
      const other = yield* persistence.make({ storeId: otherId })
      const alice = new Greeting({ name: "alice" })
      const bob = new Greeting({ name: "bob" })
      yield* store.set(alice, Exit.succeed("hi alice"))
      yield* store.set(bob, Exit.fail("bob is away"))
      const [gotAlice, gotBob, gotNobody] = yield* store.getMany([alice, bob, new Greeting({ name: "nobody" })])
      expect(exitData(gotAlice)).toEqual({ success: "hi alice" })
      expect(exitData(gotBob)).toEqual({ failure: "bob is away" })
      expect(gotNobody).toBeUndefined()
      expect(yield* other.get(alice)).toBeUndefined()
      yield* TestClock.adjust("10 seconds")
      expect(yield* store.get(bob), "the failure after its 10 s ttl").toBeUndefined()
      expect(exitData(yield* store.get(alice))).toEqual({ success: "hi alice" })
      yield* other.set(alice, Exit.succeed("other"))
      yield* store.remove(alice)
      expect(yield* store.get(alice)).toBeUndefined()
      expect(exitData(yield* other.get(alice))).toEqual({ success: "other" })
      yield* store.set(alice, Exit.succeed("again"))
      yield* store.clear
      expect(yield* store.get(alice)).toBeUndefined()
      expect(exitData(yield* other.get(alice))).toEqual({ success: "other" })
    }).pipe(Effect.provide(persistenceLayer(backendLayer)))),

  law("PersistedCache: the lookup runs once, and a fresh cache on the same backend is served from the store", ({
    backendLayer,
    persistenceStoreId
  }) =>
    Effect.gen(function*() {
      const storeId = yield* persistenceStoreId()
      const { calls, lookup } = countingLookup()
      const first = yield* PersistedCache.make(lookup, { storeId, timeToLive: () => "1 hour" })
      expect(yield* first.get(new Greeting({ name: "ann" }))).toBe("hello ann #1")
      expect(yield* first.get(new Greeting({ name: "ann" }))).toBe("hello ann #1")
      const second = yield* PersistedCache.make(lookup, { storeId, timeToLive: () => "1 hour" })
      expect(yield* second.get(new Greeting({ name: "ann" }))).toBe("hello ann #1")
      expect(calls).toEqual(["ann"])
      // Failures are persisted too.
      const failed = yield* Effect.flip(second.get(new Greeting({ name: "!nobody" })))
      expect(failed).toBe("no greeting for !nobody")
      const third = yield* PersistedCache.make(lookup, { storeId, timeToLive: () => "1 hour" })
      expect(yield* Effect.flip(third.get(new Greeting({ name: "!nobody" })))).toBe("no greeting for !nobody")
      expect(calls).toEqual(["ann", "!nobody"])
    }).pipe(Effect.provide(persistenceLayer(backendLayer)))),

  law("PersistedCache: invalidate removes the stored result, so the next get looks up again", ({
    backendLayer,
    persistenceStoreId
  }) =>
    Effect.gen(function*() {
      const storeId = yield* persistenceStoreId()
      const { calls, lookup } = countingLookup()
      const cache = yield* PersistedCache.make(lookup, { storeId, timeToLive: () => "1 hour" })
      const ann = new Greeting({ name: "ann" })
      expect(yield* cache.get(ann)).toBe("hello ann #1")
      yield* cache.invalidate(ann)
      const fresh = yield* PersistedCache.make(lookup, { storeId, timeToLive: () => "1 hour" })
      expect(yield* fresh.get(ann), "a fresh cache after invalidate").toBe("hello ann #2")
      yield* fresh.invalidate(ann)
      expect(yield* cache.get(ann), "the first cache after invalidate").toBe("hello ann #3")
      expect(calls).toEqual(["ann", "ann", "ann"])
    }).pipe(Effect.provide(persistenceLayer(backendLayer)))),

  timedLaw("PersistedCache: once the time-to-live has passed, the next get looks up again", ({
    backendLayer,
    persistenceStoreId
  }) =>
    Effect.gen(function*() {
      const storeId = yield* persistenceStoreId()
      const { calls, lookup } = countingLookup()
      const options = {
        storeId,
        timeToLive: (): Duration.Input => "1 minute",
        inMemoryTTL: (): Duration.Input => "1 second"
      }
      const cache = yield* PersistedCache.make(lookup, options)
      const ann = new Greeting({ name: "ann" })
      expect(yield* cache.get(ann)).toBe("hello ann #1")
      yield* TestClock.adjust("59 seconds")
      expect(yield* cache.get(ann), "before the ttl, past the in-memory ttl").toBe("hello ann #1")
      expect(yield* (yield* PersistedCache.make(lookup, options)).get(ann), "a fresh cache before the ttl").toBe(
        "hello ann #1"
      )
      yield* TestClock.adjust("1 second")
      expect(yield* (yield* PersistedCache.make(lookup, options)).get(ann), "a fresh cache at the ttl").toBe(
        "hello ann #2"
      )
      yield* TestClock.adjust("2 seconds")
      expect(yield* cache.get(ann), "the first cache, now reading the new result").toBe("hello ann #2")
      expect(calls).toEqual(["ann", "ann"])
    }).pipe(Effect.provide(persistenceLayer(backendLayer))))
]
