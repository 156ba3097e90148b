import { MemoryBackend, StorageBackend, StorageError } from "@effect-persist/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"

const counting = (options?: { readonly failGetMany?: boolean; readonly coalesceGets?: boolean }) => {
  const inner = MemoryBackend.make()
  const calls = { get: 0, getMany: [] as Array<number> }
  const backend = StorageBackend.make({
    ...inner,
    coalesceGets: options?.coalesceGets,
    get: (namespace, key) => {
      calls.get++
      return inner.get(namespace, key)
    },
    getMany: (namespace, keys) => {
      calls.getMany.push(keys.length)
      return options?.failGetMany
        ? Effect.fail(new StorageError.StorageError({ operation: "getMany", reason: "Unavailable", message: "down" }))
        : inner.getMany(namespace, keys)
    }
  })
  return { backend, calls, inner }
}

describe("get coalescing", () => {
  it.effect("concurrent gets of one namespace become one getMany, each caller getting its own value", () =>
    Effect.gen(function*() {
      const { backend, calls, inner } = counting()
      yield* inner.setMany("ns", Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })))
      const keys = Array.from({ length: 32 }, (_, i) => `k${i % 24}`)
      const values = yield* Effect.all(keys.map((key) => backend.get("ns", key)), { concurrency: "unbounded" })
      expect(values).toEqual(keys.map((key) => Number(key.slice(1)) < 20 ? `v${key.slice(1)}` : undefined))
      expect(calls.get).toBe(0)
      expect(calls.getMany).toEqual([24])
    }))

  it.effect("gets of different namespaces are never mixed into one batch", () =>
    Effect.gen(function*() {
      const { backend, calls, inner } = counting()
      yield* inner.set("a", "k", "from a")
      yield* inner.set("b", "k", "from b")
      const values = yield* Effect.all([backend.get("a", "k"), backend.get("b", "k"), backend.get("a", "k")], {
        concurrency: "unbounded"
      })
      expect(values).toEqual(["from a", "from b", "from a"])
      expect(calls.get + calls.getMany.length).toBe(2)
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
      const { backend } = counting({ failGetMany: true })
      const results = yield* Effect.all(
        ["a", "b", "c"].map((key) => Effect.flip(backend.get("ns", key))),
        { concurrency: "unbounded" }
      )
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
