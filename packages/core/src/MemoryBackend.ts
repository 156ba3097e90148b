/**
 * The in-memory reference backend: the executable model of the laws. The
 * conformance suite's model-based tests compare every backend with it step by
 * step, so it favours obviousness over speed.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Semaphore from "effect/Semaphore"
import * as StorageBackend from "./StorageBackend.ts"

interface Slot {
  readonly value: StorageBackend.Value
  readonly expiresAt: number | undefined
}

// Which backend's write lock the current fiber holds: a write made by a
// `modify` function (or a fiber it forks) joins the modify it runs in, as a
// statement inside a SQL transaction does, instead of waiting for it forever.
const HeldLock = Context.Reference<object | undefined>("@effect-persist/core/MemoryBackend/HeldLock", {
  defaultValue: () => undefined
})

const copy = (value: StorageBackend.Value): StorageBackend.Value =>
  typeof value === "string" ? value : new Uint8Array(value)

/**
 * Creates an empty in-memory backend. Each call has its own data.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (): StorageBackend.StorageBackend => {
  const namespaces = new Map<string, Map<string, Slot>>()
  // Writes take turns, and a modify holds the turn while its function runs,
  // so nothing written meanwhile is overwritten by the modify's result (its
  // function may suspend: sleep, call a service, wait on a lock). Reads
  // never wait: they see each write whole.
  const lock = Semaphore.makeUnsafe(1)
  const token = {}
  const exclusive = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.withFiber((fiber) =>
      fiber.getRef(HeldLock) === token ? effect : lock.withPermit(Effect.provideService(effect, HeldLock, token))
    )
  const table = (namespace: string) => {
    let entries = namespaces.get(namespace)
    if (entries === undefined) {
      entries = new Map()
      namespaces.set(namespace, entries)
    }
    return entries
  }
  const live = (slot: Slot | undefined, now: number): slot is Slot =>
    slot !== undefined && (slot.expiresAt === undefined || slot.expiresAt > now)
  const liveKeys = (namespace: string, prefix: string | undefined, now: number) => {
    const out: Array<string> = []
    for (const [key, slot] of table(namespace)) {
      if (live(slot, now) && (prefix === undefined || key.startsWith(prefix))) out.push(key)
    }
    return out
  }

  return StorageBackend.make({
    dialect: "memory",
    get: (namespace, key) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const slot = table(namespace).get(key)
        return live(slot, now) ? copy(slot.value) : undefined
      }),
    getMany: (namespace, keys) =>
      Effect.map(Clock.currentTimeMillis, (now) =>
        keys.map((key) => {
          const slot = table(namespace).get(key)
          return live(slot, now) ? copy(slot.value) : undefined
        })),
    set: (namespace, key, value, expiresAt) =>
      exclusive(Effect.sync(() => {
        table(namespace).set(key, { value: copy(value), expiresAt })
      })),
    setMany: (namespace, entries) =>
      exclusive(Effect.sync(() => {
        const entriesOf = table(namespace)
        for (const entry of entries) {
          entriesOf.set(entry.key, { value: copy(entry.value), expiresAt: entry.expiresAt })
        }
      })),
    remove: (namespace, key) =>
      exclusive(Effect.sync(() => {
        table(namespace).delete(key)
      })),
    clear: (namespace) =>
      exclusive(Effect.sync(() => {
        namespaces.delete(namespace)
      })),
    clearPrefix: (namespace, prefix) =>
      exclusive(Effect.sync(() => {
        const entries = table(namespace)
        for (const key of entries.keys()) {
          if (key.startsWith(prefix)) entries.delete(key)
        }
      })),
    keys: (namespace, prefix) => Effect.map(Clock.currentTimeMillis, (now) => liveKeys(namespace, prefix, now)),
    size: (namespace, prefix) => Effect.map(Clock.currentTimeMillis, (now) => liveKeys(namespace, prefix, now).length),
    modify: (namespace, key, f) =>
      exclusive(Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const entries = table(namespace)
        const slot = entries.get(key)
        if (!live(slot, now)) return Effect.succeed(undefined)
        return Effect.map(f(copy(slot.value)), (next) => {
          entries.set(key, { value: copy(next), expiresAt: slot.expiresAt })
          return copy(next)
        })
      })),
    sweep: (options) =>
      exclusive(Effect.map(Clock.currentTimeMillis, (now) => {
        let deleted = 0
        for (const entries of namespaces.values()) {
          for (const [key, slot] of entries) {
            if (!live(slot, now)) {
              entries.delete(key)
              deleted++
              if (options?.onProgress && deleted % (options.batchSize ?? 1000) === 0) options.onProgress(deleted)
            }
          }
        }
        options?.onProgress?.(deleted)
        return deleted
      }))
  })
}

/**
 * Provides a fresh in-memory backend.
 *
 * @example
 * ```ts
 * import { MemoryBackend, Services } from "@effect-persist/core"
 * import { Layer } from "effect"
 *
 * // Effect's KeyValueStore for tests, with the semantics of every other backend.
 * const TestStorage = Services.layerKeyValueStore({ name: "test" }).pipe(Layer.provide(MemoryBackend.layer))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<StorageBackend.StorageBackend> = Layer.sync(StorageBackend.StorageBackend)(make)
