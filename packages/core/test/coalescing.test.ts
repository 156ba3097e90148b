import { MemoryBackend, StorageBackend, StorageError } from "@effect-persist/core"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber } from "effect"

// A backend whose reads take a round trip: each one yields before answering,
// as a network driver would, so other fibers run while it is in flight.
const counting = (options?: { readonly failGetMany?: boolean; readonly coalesceGets?: boolean }) => {
  const inner = MemoryBackend.make()
  const calls = { get: 0, getMany: [] as Array<number> }
  const backend = StorageBackend.make({
    ...inner,
    coalesceGets: options?.coalesceGets,
    get: (namespace, key) => {
      calls.get++
      return Effect.andThen(Effect.yieldNow, inner.get(namespace, key))
    },
    getMany: (namespace, keys) => {
      calls.getMany.push(keys.length)
      return Effect.andThen(
        Effect.yieldNow,
        options?.failGetMany
          ? Effect.fail(new StorageError.StorageError({ operation: "getMany", reason: "Unavailable", message: "down" }))
          : inner.getMany(namespace, keys)
      )
    }
  })
  return { backend, calls, inner }
}

// Marks a fiber as inside an application's transaction, as a SQL client's
// transaction connection in context does.
const InTransaction = Context.Reference<boolean>("test/InTransaction", { defaultValue: () => false })

describe("get coalescing", () => {
  it.effect("a get inside an application's transaction never shares a batch with other fibers' gets", () =>
    Effect.gen(function*() {
      const batchedIn: Array<boolean> = []
      const inner = MemoryBackend.make()
      const backend = StorageBackend.make({
        ...inner,
        coalesces: (fiber) => !fiber.getRef(InTransaction),
        get: (namespace, key) => Effect.andThen(Effect.yieldNow, inner.get(namespace, key)),
        getMany: (namespace, keys) =>
          Effect.withFiber((fiber) => {
            batchedIn.push(fiber.getRef(InTransaction))
            return Effect.andThen(Effect.yieldNow, inner.getMany(namespace, keys))
          })
      })
      const inTransaction = <A, E>(effect: Effect.Effect<A, E>) => Effect.provideService(effect, InTransaction, true)
      const reads = Array.from({ length: 40 }, (_, i) => {
        const read = backend.get("ns", `k${i}`)
        return i % 4 === 1 ? inTransaction(read) : read
      })
      yield* Effect.all(reads, { concurrency: "unbounded" })
      expect(batchedIn.length).toBeGreaterThan(0)
      expect(batchedIn.every((inside) => !inside), "no batch ran in the transaction's context").toBe(true)
    }))

  it.effect("gets issued while another is in flight become one getMany, each caller getting its own value", () =>
    Effect.gen(function*() {
      const { backend, calls, inner } = counting()
      yield* inner.setMany("ns", Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })))
      const keys = Array.from({ length: 32 }, (_, i) => `k${i % 24}`)
      const values = yield* Effect.all(keys.map((key) => backend.get("ns", key)), { concurrency: "unbounded" })
      expect(values).toEqual(keys.map((key) => Number(key.slice(1)) < 20 ? `v${key.slice(1)}` : undefined))
      // The first caller finds nothing in flight and goes alone; the other 31
      // (24 distinct keys, k0 among them again) wait for it and share one batch.
      expect(calls.get).toBe(1)
      expect(calls.getMany).toEqual([24])
    }))

  it.effect("callers arriving while a batch is in flight form the next batch", () =>
    Effect.gen(function*() {
      const { backend, calls } = counting()
      const first = yield* Effect.forkChild(backend.get("ns", "first"))
      yield* Effect.yieldNow
      const wave = (n: number) =>
        Effect.all(Array.from({ length: n }, (_, i) => backend.get("ns", `w${n}-${i}`)), { concurrency: "unbounded" })
      const [a, b] = yield* Effect.all([wave(5), Effect.andThen(Effect.yieldNow, wave(7))], {
        concurrency: "unbounded"
      })
      yield* Fiber.join(first)
      expect(a).toEqual(Array(5).fill(undefined))
      expect(b).toEqual(Array(7).fill(undefined))
      expect(calls.get).toBe(1)
      expect(calls.getMany.reduce((sum, n) => sum + n, 0)).toBe(12)
      expect(calls.getMany.length).toBeLessThanOrEqual(2)
    }))

  it.effect("after an interrupted get, a lone get goes straight to get again", () =>
    Effect.gen(function*() {
      const { backend, calls } = counting()
      const pending = yield* Effect.forkChild(backend.get("ns", "a"))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(pending)
      expect(calls.get).toBe(1)
      // Were the interrupted get still counted as in flight, these two would
      // share a batch; with nothing in flight the first goes alone.
      yield* Effect.all([backend.get("ns", "b"), backend.get("ns", "c")], { concurrency: "unbounded" })
      expect(calls.get).toBe(3)
      expect(calls.getMany).toEqual([])
    }))

  it.effect("gets of different namespaces are never mixed into one batch", () =>
    Effect.gen(function*() {
      const { backend, calls, inner } = counting()
      yield* inner.setMany("a", [{ key: "k", value: "a:k" }, { key: "k2", value: "a:k2" }])
      yield* inner.setMany("b", [{ key: "k", value: "b:k" }, { key: "k2", value: "b:k2" }])
      const reads = [["a", "k"], ["b", "k"], ["a", "k2"], ["b", "k2"], ["a", "k"]] as const
      const values = yield* Effect.all(reads.map(([namespace, key]) => backend.get(namespace, key)), {
        concurrency: "unbounded"
      })
      expect(values).toEqual(reads.map(([namespace, key]) => `${namespace}:${key}`))
      // The first read goes alone; the rest form one batch per namespace.
      expect(calls.get).toBe(1)
      expect(calls.getMany.sort()).toEqual([2, 2])
    }))

  it.effect("sequential gets go straight to get", () =>
    Effect.gen(function*() {
      const { backend, calls } = counting()
      for (let i = 0; i < 5; i++) yield* backend.get("ns", `k${i}`)
      expect(calls.get).toBe(5)
      expect(calls.getMany).toEqual([])
    }))

  it.effect("a failed batch fails every caller with the typed error", () =>
    Effect.gen(function*() {
      const { backend, calls } = counting({ failGetMany: true })
      const first = yield* Effect.forkChild(backend.get("ns", "first"))
      yield* Effect.yieldNow
      const results = yield* Effect.all(
        ["a", "b", "c"].map((key) => Effect.flip(backend.get("ns", key))),
        { concurrency: "unbounded" }
      )
      yield* Fiber.join(first)
      expect(calls.getMany).toEqual([3])
      for (const error of results) {
        expect(error).toBeInstanceOf(StorageError.StorageError)
        expect(error.retryable).toBe(true)
      }
    }))

  it.effect("coalesceGets: false keeps one get per caller", () =>
    Effect.gen(function*() {
      const { backend, calls } = counting({ coalesceGets: false })
      yield* Effect.all(["a", "b", "c"].map((key) => backend.get("ns", key)), { concurrency: "unbounded" })
      expect(calls.get).toBe(3)
      expect(calls.getMany).toEqual([])
    }))
})
