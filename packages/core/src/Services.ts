/**
 * Derives Effect's own services from a storage backend: `KeyValueStore`,
 * `BackingPersistence`, and `Persistence` on top of it, so `PersistedCache`
 * and everything else written against Effect's interfaces works unchanged.
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Base64 from "effect/encoding/Base64"
import * as Layer from "effect/Layer"
import * as KeyValueStore from "effect/persistence/KeyValueStore"
import * as Persistence from "effect/persistence/Persistence"
import { inexactJson } from "./internal/json.ts"
import * as KeyCodec from "./KeyCodec.ts"
import * as StorageBackend from "./StorageBackend.ts"
import { StorageError } from "./StorageError.ts"

/**
 * The namespace that holds a `KeyValueStore`'s entries. Key-value stores and
 * persistence stores live in separate namespace families, so a store named
 * like a persistence store id never sees its entries.
 *
 * @category constructors
 * @since 0.1.0
 */
export const keyValueNamespace = (name: string): string => `kv:${name}`

/**
 * The namespace that holds a persistence store's entries.
 *
 * @category constructors
 * @since 0.1.0
 */
export const persistenceNamespace = (storeId: string): string => `persistence:${storeId}`

/**
 * Options of the derived `KeyValueStore`.
 *
 * @category models
 * @since 0.1.0
 */
export interface KeyValueStoreOptions {
  /**
   * Name of the store. Stores with different names never see each other's keys.
   * @default "default"
   */
  readonly name?: string | undefined
}

const toKeyValueStoreError = (method: string, key?: string) => (error: StorageError) =>
  new KeyValueStoreError(
    key === undefined
      ? { method, message: error.message, cause: error }
      : { method, key, message: error.message, cause: error }
  )

const KeyValueStoreError = KeyValueStore.KeyValueStoreError

const asString = (value: StorageBackend.Value): string =>
  typeof value === "string" ? value : Base64.encode(value)

const asBytes = (value: StorageBackend.Value): Uint8Array =>
  typeof value === "string" ? KeyCodec.encode(value) : value

/**
 * Derives a `KeyValueStore` from a backend.
 *
 * **Details**
 *
 * Follows Effect's own conventions for the two value kinds: `get` of a binary
 * value returns it base64-encoded and `getUint8Array` of a string returns its
 * UTF-8 bytes, as `KeyValueStore.layerMemory` does. `modify` is the backend's
 * atomic modify, so concurrent modifies never lose an update, and
 * `clearPrefix`, `keys` and `size` are single statements, never a scan of
 * every key. Every failure is a `KeyValueStoreError` whose `cause` is the
 * backend's `StorageError`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeKeyValueStore = (
  backend: StorageBackend.StorageBackend,
  options?: KeyValueStoreOptions
): KeyValueStore.KeyValueStore => {
  const namespace = keyValueNamespace(options?.name ?? "default")
  return KeyValueStore.make({
    get: (key) =>
      backend.get(namespace, key).pipe(
        Effect.map((value) => value === undefined ? undefined : asString(value)),
        Effect.mapError(toKeyValueStoreError("get", key))
      ),
    getUint8Array: (key) =>
      backend.get(namespace, key).pipe(
        Effect.map((value) => value === undefined ? undefined : asBytes(value)),
        Effect.mapError(toKeyValueStoreError("getUint8Array", key))
      ),
    set: (key, value) => Effect.mapError(backend.set(namespace, key, value), toKeyValueStoreError("set", key)),
    remove: (key) => Effect.mapError(backend.remove(namespace, key), toKeyValueStoreError("remove", key)),
    clear: Effect.mapError(backend.clear(namespace), toKeyValueStoreError("clear")),
    clearPrefix: (prefix) =>
      Effect.mapError(backend.clearPrefix(namespace, prefix), toKeyValueStoreError("clearPrefix", prefix)),
    size: Effect.mapError(backend.size(namespace), toKeyValueStoreError("size")),
    keys: Effect.mapError(backend.keys(namespace), toKeyValueStoreError("keys")),
    has: (key) =>
      backend.get(namespace, key).pipe(
        Effect.map((value) => value !== undefined),
        Effect.mapError(toKeyValueStoreError("has", key))
      ),
    isEmpty: Effect.mapError(Effect.map(backend.size(namespace), (size) => size === 0), toKeyValueStoreError("isEmpty")),
    modify: (key, f) =>
      backend.modify(namespace, key, (current) => StorageBackend.tryModify(namespace, key, f)(asString(current)))
        .pipe(
          Effect.map((value) => value === undefined ? undefined : asString(value)),
          Effect.mapError(toKeyValueStoreError("modify", key))
        ),
    modifyUint8Array: (key, f) =>
      backend.modify(namespace, key, (current) => StorageBackend.tryModify(namespace, key, f)(asBytes(current)))
        .pipe(
          Effect.map((value) => value === undefined ? undefined : asBytes(value)),
          Effect.mapError(toKeyValueStoreError("modifyUint8Array", key))
        )
  })
}

const toPersistenceError = (error: StorageError) =>
  new Persistence.PersistenceError({ message: error.message, cause: error })

// Keys reach the messages unvalidated (the value is checked first), and
// callers who ignore the types pass anything: JSON.stringify would throw on a
// BigInt and turn the refusal into a defect.
const showKey = (key: unknown): string => {
  if (typeof key !== "string") return `of type ${typeof key}`
  return JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key)
}

// Both conversions are plain functions returning the value or the typed
// error, so that a batch converts its entries in one loop, without an Effect
// per entry.
const jsonError = (
  where: { readonly operation: string; readonly namespace: string; readonly key: string; readonly cause: unknown },
  reason: "InvalidValue" | "Corrupt",
  message: string
): Persistence.PersistenceError => toPersistenceError(new StorageError({ ...where, reason, message }))

const encodeJson = (
  operation: string,
  namespace: string,
  key: string,
  value: object
): string | Persistence.PersistenceError => {
  let problem: string | undefined
  let cause: unknown
  try {
    // Checked before encoding: JSON.stringify silently changes what it cannot represent.
    problem = inexactJson(value)
    if (problem === undefined) return JSON.stringify(value)
    cause = new TypeError(problem)
  } catch (error) {
    cause = error
    problem = error instanceof Error ? error.message : String(error)
  }
  return jsonError(
    { operation, namespace, key, cause },
    "InvalidValue",
    `The value for key ${showKey(key)} cannot be stored as JSON exactly (${problem}); nothing was stored.`
  )
}

const decodeJson = (
  operation: string,
  namespace: string,
  key: string,
  value: StorageBackend.Value
): object | Persistence.PersistenceError => {
  let problem: string
  let cause: unknown
  if (typeof value !== "string") {
    problem = "the stored value is binary, not JSON text"
  } else {
    try {
      const parsed: unknown = JSON.parse(value)
      if (typeof parsed === "object" && parsed !== null) return parsed
      problem = "the stored JSON is not an object"
    } catch (error) {
      cause = error
      problem = error instanceof Error ? error.message : String(error)
    }
  }
  return jsonError(
    { operation, namespace, key, cause: cause ?? new TypeError(problem) },
    "Corrupt",
    `The stored entry for key ${showKey(key)} is not a persisted JSON object (${problem}); remove it or clear the store.`
  )
}

const isPersistenceError = (value: unknown): value is Persistence.PersistenceError =>
  value instanceof Persistence.PersistenceError

const expiresAtOf = (now: number, ttl: Duration.Duration | undefined): number | undefined =>
  ttl === undefined || !Duration.isFinite(ttl) ? undefined : now + Duration.toMillis(ttl)

/**
 * Derives a `BackingPersistence` store for one store id from a backend.
 *
 * **Details**
 *
 * Values are stored as JSON text, and only values JSON encodes exactly are
 * accepted: an object or array of strings, finite numbers, booleans, `null`,
 * plain objects and dense arrays. Anything JSON would silently change (an
 * `undefined` field or element, `NaN`, a `Date`, a `Map`, a class instance,
 * a `toJSON` method, a BigInt, a cycle) fails with a `PersistenceError`
 * whose cause is an `InvalidValue` `StorageError` naming where in the value
 * the problem is, and nothing is stored. Negative zero reads back as 0.
 * A time-to-live becomes an expiry instant
 * measured with Effect's `Clock`, so `TestClock` drives expiry in tests.
 * `getMany` is one backend call, and `setMany` one batch.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeBackingPersistenceStore = (
  backend: StorageBackend.StorageBackend,
  storeId: string
): Persistence.BackingPersistenceStore => {
  const namespace = persistenceNamespace(storeId)
  return {
    get: (key) =>
      backend.get(namespace, key).pipe(
        Effect.mapError(toPersistenceError),
        Effect.flatMap((value) => {
          if (value === undefined) return Effect.undefined
          const decoded = decodeJson("get", namespace, key, value)
          return isPersistenceError(decoded) ? Effect.fail(decoded) : Effect.succeed(decoded)
        })
      ),
    getMany: (keys) =>
      backend.getMany(namespace, keys).pipe(
        Effect.mapError(toPersistenceError),
        Effect.flatMap((values) => {
          const decoded: Array<object | undefined> = []
          for (let i = 0; i < values.length; i++) {
            const value = values[i]
            const result = value === undefined ? undefined : decodeJson("getMany", namespace, keys[i]!, value)
            if (isPersistenceError(result)) return Effect.fail(result)
            decoded.push(result)
          }
          return Effect.succeed(decoded as Arr.NonEmptyArray<object | undefined>)
        })
      ),
    set: (key, value, ttl) =>
      Effect.suspend(() => {
        const json = encodeJson("set", namespace, key, value)
        if (isPersistenceError(json)) return Effect.fail(json)
        return Effect.flatMap(
          Clock.currentTimeMillis,
          (now) => Effect.mapError(backend.set(namespace, key, json, expiresAtOf(now, ttl)), toPersistenceError)
        )
      }),
    setMany: (entries) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const encoded: Array<StorageBackend.Entry> = []
        for (const [key, value, ttl] of entries) {
          const json = encodeJson("setMany", namespace, key, value)
          if (isPersistenceError(json)) return Effect.fail(json)
          encoded.push({ key, value: json, expiresAt: expiresAtOf(now, ttl) })
        }
        return Effect.mapError(backend.setMany(namespace, encoded), toPersistenceError)
      }),
    remove: (key) => Effect.mapError(backend.remove(namespace, key), toPersistenceError),
    clear: Effect.mapError(backend.clear(namespace), toPersistenceError)
  }
}

/**
 * Provides `KeyValueStore` from the `StorageBackend` in context.
 *
 * @example
 * ```ts
 * import { MemoryBackend, Services } from "@effect-persist/core"
 * import { Effect, Layer } from "effect"
 * import { KeyValueStore } from "effect/persistence"
 *
 * const KeyValueStoreLive = Services.layerKeyValueStore({ name: "app" }).pipe(
 *   Layer.provide(MemoryBackend.layer) // or SqliteBackend.layer({ filename: "app.db" }), PgBackend.layer(...), ...
 * )
 *
 * const program = Effect.gen(function*() {
 *   const kv = yield* KeyValueStore.KeyValueStore
 *   yield* kv.set("greeting", "hello")
 *   return yield* kv.get("greeting") // "hello"
 * })
 *
 * Effect.runPromise(Effect.provide(program, KeyValueStoreLive))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerKeyValueStore = (
  options?: KeyValueStoreOptions
): Layer.Layer<KeyValueStore.KeyValueStore, never, StorageBackend.StorageBackend> =>
  Layer.effect(KeyValueStore.KeyValueStore)(
    StorageBackend.StorageBackend.useSync((backend) => makeKeyValueStore(backend, options))
  )

/**
 * Provides `BackingPersistence` from the `StorageBackend` in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerBackingPersistence: Layer.Layer<
  Persistence.BackingPersistence,
  never,
  StorageBackend.StorageBackend
> = Layer.effect(Persistence.BackingPersistence)(
  StorageBackend.StorageBackend.useSync((backend) =>
    Persistence.BackingPersistence.of({
      make: (storeId) => Effect.sync(() => makeBackingPersistenceStore(backend, storeId))
    })
  )
)

/**
 * Provides `Persistence` (and so `PersistedCache`) from the `StorageBackend`
 * in context, through Effect's own `Persistence.layer`.
 *
 * @example
 * ```ts
 * import { MemoryBackend, Services } from "@effect-persist/core"
 * import { Effect, Layer, Schema } from "effect"
 * import { Persistable, PersistedCache } from "effect/persistence"
 *
 * class Square extends Persistable.Class<{ payload: { readonly n: number } }>()("Square", {
 *   primaryKey: ({ n }) => `square:${n}`,
 *   success: Schema.Number
 * }) {}
 *
 * const program = Effect.gen(function*() {
 *   const squares = yield* PersistedCache.make((request: Square) => Effect.succeed(request.n ** 2), {
 *     storeId: "squares",
 *     timeToLive: () => "1 hour"
 *   })
 *   return yield* squares.get(new Square({ n: 12 })) // 144, computed once, then read from the store
 * })
 *
 * Effect.runPromise(
 *   program.pipe(Effect.scoped, Effect.provide(Services.layerPersistence.pipe(Layer.provide(MemoryBackend.layer))))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerPersistence: Layer.Layer<Persistence.Persistence, never, StorageBackend.StorageBackend> =
  Persistence.layer.pipe(Layer.provide(layerBackingPersistence))
