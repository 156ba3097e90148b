/**
 * Keyv with one of its SQL adapters: what a Node user would otherwise pick
 * for a key-value store on the database they already run. Used the way its
 * README shows, with errors thrown (so a failing adapter fails the run
 * instead of reading as fast misses). Keyv has no `modify`; its `delete`
 * reads the row before deleting it, and its SQLite and MySQL adapters have
 * no batch write, so Keyv's `setMany` sends one statement per entry.
 *
 * @since 0.0.0
 */
import Keyv, { type KeyvStoreAdapter } from "keyv"
import type { Database } from "../Model.ts"
import { operationsOf } from "../Model.ts"
import * as Subject from "../Subject.ts"
import * as Workload from "../Workload.ts"

/**
 * Builds Keyv's `kv` (string values) and `persistence` (objects with a
 * time-to-live) subjects on one adapter, each in its own Keyv namespace.
 *
 * @category constructors
 * @since 0.0.0
 */
export const make = (options: {
  readonly database: Database
  /** One adapter per store: Keyv sets the adapter's namespace to its own. */
  readonly adapters: readonly [kv: KeyvStoreAdapter, persistence: KeyvStoreAdapter]
  readonly workload: Workload.Workload
  /** Closes what the adapters opened (their pools are shared per URL). */
  readonly close: () => Promise<void>
}): readonly [Subject.Subject, Subject.Subject] => {
  const w = options.workload
  const open = (store: KeyvStoreAdapter, namespace: string) => {
    const keyv = new Keyv({ store, namespace, throwOnErrors: true })
    // Keyv emits errors as events too; without a listener an emitted error would crash the run.
    keyv.on("error", () => {})
    return keyv
  }
  const kv = open(options.adapters[0], `kv-${Workload.kvName}`)
  const persistence = open(options.adapters[1], `persistence-${Workload.storeId}`)
  const setManyEntries = Array.from({ length: 256 }, (_, b) =>
    w.batch(b).map((key, j) => ({
      key,
      value: w.payload(b * Workload.batchSize + j),
      ttl: Workload.ttlMillis
    })))
  const batches = Array.from({ length: 256 }, (_, b) => [...w.batch(b)])

  const kvOperations = {
    "get-hit": (i: number) => kv.get(w.hit(i)),
    "get-miss": (i: number) => kv.get(w.miss(i)),
    set: (i: number) => kv.set(w.hit(i), w.kvValue(i)),
    remove: (i: number) => kv.delete(w.removable(i))
  }
  const persistenceOperations = {
    "get-hit": (i: number) => persistence.get(w.hit(i)),
    "get-miss": (i: number) => persistence.get(w.miss(i)),
    set: (i: number) => persistence.set(w.hit(i), w.payload(i), Workload.ttlMillis),
    getMany100: (i: number) => persistence.getMany(batches[i % batches.length]!),
    setMany100: (i: number) => persistence.setMany(setManyEntries[i % setManyEntries.length]!),
    remove: (i: number) => persistence.delete(w.removable(i))
  }

  const write = (keyv: Keyv, indexes: ReadonlyArray<number>, key: (i: number) => string, value: (i: number) => unknown) =>
    keyv.setMany(indexes.map((i) => ({
      key: key(i),
      value: value(i),
      ...(keyv === persistence ? { ttl: Workload.ttlMillis } : {})
    })))

  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await options.close()
  }
  const chunk = 500
  return [
    {
      database: options.database,
      contender: "keyv",
      store: "kv",
      operations: Subject.offered(operationsOf.kv, kvOperations),
      run: Subject.promiseRunner("keyv kv", kvOperations),
      populate: (rows) => Subject.inChunks(rows, chunk, (ix) => write(kv, ix, Workload.keyOf, w.kvValue)),
      writeRemovable: (count) => Subject.inChunks(count, chunk, (ix) => write(kv, ix, w.removable, w.kvValue)),
      close
    },
    {
      database: options.database,
      contender: "keyv",
      store: "persistence",
      operations: Subject.offered(operationsOf.persistence, persistenceOperations),
      run: Subject.promiseRunner("keyv persistence", persistenceOperations),
      populate: (rows) =>
        Subject.inChunks(rows, chunk, (ix) => write(persistence, ix, Workload.keyOf, w.payload)),
      writeRemovable: (count) =>
        Subject.inChunks(count, chunk, (ix) => write(persistence, ix, w.removable, w.payload)),
      close
    }
  ]
}
