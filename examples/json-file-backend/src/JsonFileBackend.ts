/**
 * A storage backend for effect-persist that keeps its entries in one JSON
 * file: no database, no SQL, a few hundred lines that pass the conformance
 * suite. It is the backend that docs/custom-backend.md builds step by step.
 *
 * Entries live in memory and every write rewrites the file (into a temporary
 * file renamed over the old one, so the file is always whole). That suits
 * small stores owned by one process at a time; two processes writing one file
 * would overwrite each other's changes.
 *
 * @since 0.1.0
 */
import { StorageBackend, StorageError } from "@effect-persist/core"
import { Clock, Effect, Layer, Semaphore } from "effect"
import { readFile, rename, writeFile } from "node:fs/promises"

/**
 * Options of a JSON file backend.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The file holding the entries. It is created by the first write. */
  readonly filename: string
}

/**
 * Largest value stored, in bytes. The whole file is one JavaScript string
 * when it is written, so values are kept well below V8's string limit.
 *
 * @category constructors
 * @since 0.1.0
 */
export const maxValueBytes = 64 * 1024 * 1024

// One row per entry. Rows are arrays, never objects keyed by namespace or
// key: keys are data, and a key named "__proto__" must be as ordinary as any.
type Row = [namespace: string, key: string, kind: "string" | "bytes", value: string, expiresAt: number | null]

interface Slot {
  readonly value: StorageBackend.Value
  readonly expiresAt: number | undefined
}

type Entries = Map<string, Map<string, Slot>>

const format = "json-file-backend/1"

const encode = (entries: Entries): string => {
  const rows: Array<Row> = []
  for (const [namespace, slots] of entries) {
    for (const [key, { value, expiresAt }] of slots) {
      rows.push(
        typeof value === "string"
          ? [namespace, key, "string", value, expiresAt ?? null]
          : [namespace, key, "bytes", Buffer.from(value).toString("base64"), expiresAt ?? null]
      )
    }
  }
  return JSON.stringify({ format, rows })
}

const decode = (text: string): Entries => {
  const data = JSON.parse(text) as { format?: unknown; rows?: unknown }
  if (data?.format !== format || !Array.isArray(data.rows)) throw new Error(`not a ${format} file`)
  const entries: Entries = new Map()
  for (const [namespace, key, kind, value, expiresAt] of data.rows as Array<Row>) {
    let slots = entries.get(namespace)
    if (slots === undefined) entries.set(namespace, slots = new Map())
    slots.set(key, {
      // Buffer.from gives a Buffer; the contract wants a plain Uint8Array back.
      value: kind === "bytes" ? new Uint8Array(Buffer.from(value, "base64")) : value,
      expiresAt: expiresAt ?? undefined
    })
  }
  return entries
}

const storageError = (operation: string, reason: StorageError.StorageErrorReason, message: string, cause?: unknown) =>
  new StorageError.StorageError({ operation, reason, message, cause })

const load = (filename: string): Effect.Effect<Entries, StorageError.StorageError> =>
  Effect.tryPromise({
    try: () => readFile(filename, "utf8").catch((error) => (error?.code === "ENOENT" ? undefined : Promise.reject(error))),
    catch: (cause) => storageError("open", "Unavailable", `Could not read ${filename}: ${String(cause)}`, cause)
  }).pipe(
    Effect.flatMap((text) =>
      Effect.try({
        try: () => (text === undefined ? new Map() : decode(text)),
        catch: (cause) => storageError("open", "Corrupt", `${filename} is not a JSON file backend's file: ${String(cause)}`, cause)
      })
    )
  )

const save = (filename: string, entries: Entries, operation: string): Effect.Effect<void, StorageError.StorageError> =>
  Effect.tryPromise({
    try: async () => {
      const temporary = `${filename}.${process.pid}.tmp`
      await writeFile(temporary, encode(entries))
      await rename(temporary, filename)
    },
    catch: (cause) => storageError(operation, "Unavailable", `Could not write ${filename}: ${String(cause)}`, cause)
  })

// A stored Uint8Array is never handed out, nor is a caller's array kept:
// either side changing its array later must not change the other's.
const copy = (value: StorageBackend.Value): StorageBackend.Value => typeof value === "string" ? value : value.slice()

const live = (slot: Slot | undefined, now: number): slot is Slot =>
  slot !== undefined && (slot.expiresAt === undefined || slot.expiresAt > now)

/**
 * Opens the file, reading what earlier runs wrote, and builds a backend on it.
 *
 * **Details**
 *
 * Reads are served from memory. Writes take a lock, change memory, and
 * rewrite the file; if the file cannot be written, memory is read back from
 * the file, so what the backend answers is always what the file holds.
 * `modify` holds the same lock from read to write, which makes it atomic.
 * Expiry is measured with Effect's `Clock`, as the contract requires.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<StorageBackend.StorageBackend, StorageError.StorageError> =>
  Effect.gen(function*() {
    const { filename } = options
    let entries = yield* load(filename)
    const lock = yield* Semaphore.make(1)

    const slotsOf = (namespace: string): Map<string, Slot> => {
      let slots = entries.get(namespace)
      if (slots === undefined) entries.set(namespace, slots = new Map())
      return slots
    }

    // Runs a change under the lock and persists it; a failed write restores memory from the file.
    const write = <A>(operation: string, change: (now: number) => Effect.Effect<A, StorageError.StorageError>) =>
      lock.withPermits(1)(
        Effect.gen(function*() {
          const result = yield* change(yield* Clock.currentTimeMillis)
          yield* save(filename, entries, operation).pipe(
            Effect.tapError(() => Effect.map(load(filename), (reloaded) => (entries = reloaded)))
          )
          return result
        })
      )

    const read = <A>(f: (now: number) => A): Effect.Effect<A> => Effect.map(Clock.currentTimeMillis, f)

    const liveKeys = (namespace: string, prefix: string | undefined, now: number): Array<string> => {
      const keys: Array<string> = []
      for (const [key, slot] of entries.get(namespace) ?? []) {
        if (live(slot, now) && (prefix === undefined || key.startsWith(prefix))) keys.push(key)
      }
      return keys
    }

    return StorageBackend.make({
      dialect: "json-file",
      capabilities: { maxValueBytes, durable: true },
      get: (namespace, key) =>
        read((now) => {
          const slot = entries.get(namespace)?.get(key)
          return live(slot, now) ? copy(slot.value) : undefined
        }),
      getMany: (namespace, keys) =>
        read((now) =>
          keys.map((key) => {
            const slot = entries.get(namespace)?.get(key)
            return live(slot, now) ? copy(slot.value) : undefined
          })
        ),
      set: (namespace, key, value, expiresAt) =>
        write("set", () => Effect.sync(() => void slotsOf(namespace).set(key, { value: copy(value), expiresAt }))),
      setMany: (namespace, batch) =>
        write("setMany", () =>
          Effect.sync(() => {
            const slots = slotsOf(namespace)
            for (const { key, value, expiresAt } of batch) slots.set(key, { value: copy(value), expiresAt })
          })),
      remove: (namespace, key) => write("remove", () => Effect.sync(() => void entries.get(namespace)?.delete(key))),
      clear: (namespace) => write("clear", () => Effect.sync(() => void entries.delete(namespace))),
      clearPrefix: (namespace, prefix) =>
        write("clearPrefix", () =>
          Effect.sync(() => {
            const slots = entries.get(namespace)
            for (const key of slots?.keys() ?? []) if (key.startsWith(prefix)) slots!.delete(key)
          })),
      keys: (namespace, prefix) => read((now) => liveKeys(namespace, prefix, now)),
      size: (namespace, prefix) => read((now) => liveKeys(namespace, prefix, now).length),
      modify: (namespace, key, f) =>
        write("modify", (now) => {
          const slot = entries.get(namespace)?.get(key)
          if (!live(slot, now)) return Effect.succeed(undefined)
          return Effect.map(f(copy(slot.value)), (next) => {
            slotsOf(namespace).set(key, { value: copy(next), expiresAt: slot.expiresAt })
            return copy(next)
          })
        }),
      sweep: (sweepOptions) =>
        write("sweep", (now) =>
          Effect.sync(() => {
            const batchSize = sweepOptions?.batchSize ?? 1000
            let deleted = 0
            for (const slots of entries.values()) {
              for (const [key, slot] of slots) {
                if (live(slot, now)) continue
                slots.delete(key)
                if (++deleted % batchSize === 0) sweepOptions?.onProgress?.(deleted)
              }
            }
            if (deleted % batchSize !== 0 || deleted === 0) sweepOptions?.onProgress?.(deleted)
            return deleted
          }))
    })
  })

/**
 * Provides a JSON file backend as the `StorageBackend` that core's
 * `Services` layers derive Effect's `KeyValueStore` and `Persistence` from.
 *
 * @example
 * ```ts
 * import { Services } from "@effect-persist/core"
 * import { Layer } from "effect"
 * import * as JsonFileBackend from "./JsonFileBackend.ts"
 *
 * const KeyValueStoreLive = Services.layerKeyValueStore({ name: "app" }).pipe(
 *   Layer.provide(JsonFileBackend.layer({ filename: "store.json" }))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<StorageBackend.StorageBackend, StorageError.StorageError> =>
  Layer.effect(StorageBackend.StorageBackend)(make(options))
