/**
 * Subjects for every contender reached through Effect's own services: our
 * backends (through core's derivation), our Kysely backend, and Effect's
 * built-in `KeyValueStore.layerSql` / `Persistence.layerBackingSql`. They
 * differ only in the layer that provides `KeyValueStore` and
 * `BackingPersistence`; the calls timed are the same.
 *
 * @since 0.0.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as KeyValueStore from "effect/persistence/KeyValueStore"
import * as Persistence from "effect/persistence/Persistence"
import * as Scope from "effect/Scope"
import type { Contender, Database } from "../Model.ts"
import { operationsOf } from "../Model.ts"
import * as Subject from "../Subject.ts"
import * as Workload from "../Workload.ts"

/**
 * Writes many `KeyValueStore` entries at once, outside the clock. Effect's
 * `KeyValueStore` has no batch write, so each contender says how to fill its
 * own table quickly.
 *
 * @category models
 * @since 0.0.0
 */
export type KvBulkWrite<R> = (
  entries: ReadonlyArray<readonly [key: string, value: string]>
) => Effect.Effect<void, unknown, R>

/**
 * How to build one Effect contender on one database.
 *
 * @category models
 * @since 0.0.0
 */
export interface Options<R> {
  readonly database: Database
  readonly contender: Contender
  /** Provides both services (and whatever `writeKv` needs). */
  readonly layer: Layer.Layer<KeyValueStore.KeyValueStore | Persistence.BackingPersistence | R, unknown>
  readonly writeKv: KvBulkWrite<R>
  readonly workload: Workload.Workload
  /** Runs after the runtime closed (removing files, dropping nothing else). */
  readonly onClose?: (() => Promise<void>) | undefined
}

const ttl = Duration.millis(Workload.ttlMillis)

const chunkRows = 1000

/**
 * Builds the `kv` and `persistence` subjects of an Effect contender, sharing
 * one runtime (one connection pool).
 *
 * @category constructors
 * @since 0.0.0
 */
export const make = async <R>(options: Options<R>): Promise<readonly [Subject.Subject, Subject.Subject]> => {
  const { database, contender, workload: w } = options
  const runtime = ManagedRuntime.make(options.layer)
  const scope = await runtime.runPromise(Scope.make())
  const { kv, store } = await runtime.runPromise(Effect.gen(function*() {
    const kv = yield* KeyValueStore.KeyValueStore
    const backing = yield* Persistence.BackingPersistence
    const store = yield* Scope.provide(backing.make(Workload.storeId), scope)
    return { kv, store }
  }))

  // Built before timing: every contender receives the same prebuilt arguments.
  const setManyEntries = Array.from(
    { length: 256 },
    (_, b) =>
      w.batch(b).map((key, j) => [key, w.payload(b * Workload.batchSize + j), ttl] as const) as unknown as [
        readonly [string, object, Duration.Duration | undefined],
        ...Array<readonly [string, object, Duration.Duration | undefined]>
      ]
  )
  const batches = Array.from({ length: 256 }, (_, b) => w.batch(b) as [string, ...Array<string>])

  const kvOperations = {
    "get-hit": (i: number) => kv.get(w.hit(i)),
    "get-miss": (i: number) => kv.get(w.miss(i)),
    set: (i: number) => kv.set(w.hit(i), w.kvValue(i)),
    remove: (i: number) => kv.remove(w.removable(i)),
    modify: (i: number) => kv.modify(w.hit(i), Workload.modifyValue)
  }
  const persistenceOperations = {
    "get-hit": (i: number) => store.get(w.hit(i)),
    "get-miss": (i: number) => store.get(w.miss(i)),
    set: (i: number) => store.set(w.hit(i), w.payload(i), ttl),
    getMany100: (i: number) => store.getMany(batches[i % batches.length]!),
    setMany100: (i: number) => store.setMany(setManyEntries[i % setManyEntries.length]!),
    remove: (i: number) => store.remove(w.removable(i))
  }

  const writeKv = (indexes: ReadonlyArray<number>, key: (i: number) => string) =>
    runtime.runPromise(options.writeKv(indexes.map((i) => [key(i), w.kvValue(i)] as const)))
  const writePersistence = (indexes: ReadonlyArray<number>, key: (i: number) => string) =>
    runtime.runPromise(store.setMany(
      indexes.map((i) => [key(i), w.payload(i), ttl] as const) as unknown as [
        readonly [string, object, Duration.Duration | undefined]
      ]
    ))

  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await runtime.runPromise(Scope.close(scope, Exit.void))
    await runtime.dispose()
    await options.onClose?.()
  }

  const kvSubject: Subject.Subject = {
    database,
    contender,
    store: "kv",
    operations: Subject.offered(operationsOf.kv, kvOperations),
    run: Subject.effectRunner(`${contender} kv`, runtime, kvOperations),
    populate: (rows) => Subject.inChunks(rows, chunkRows, (indexes) => writeKv(indexes, Workload.keyOf)),
    writeRemovable: (count) =>
      Subject.inChunks(count, chunkRows, (indexes) => writeKv(indexes, w.removable)),
    close
  }
  const persistenceSubject: Subject.Subject = {
    database,
    contender,
    store: "persistence",
    operations: Subject.offered(operationsOf.persistence, persistenceOperations),
    run: Subject.effectRunner(`${contender} persistence`, runtime, persistenceOperations),
    populate: (rows) => Subject.inChunks(rows, chunkRows, (indexes) => writePersistence(indexes, Workload.keyOf)),
    writeRemovable: (count) =>
      Subject.inChunks(count, chunkRows, (indexes) => writePersistence(indexes, w.removable)),
    close
  }
  return [kvSubject, persistenceSubject]
}
