import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { KeyValueStore } from "effect/persistence"
import { MemoryBackend, Services } from "@effect-persist/core"
import { Layer } from "effect"

const layer = Services.layerKeyValueStore().pipe(Layer.provide(MemoryBackend.layer))

describe("smoke", () => {
  it.effect("kv", () =>
    Effect.gen(function*() {
      const kv = yield* KeyValueStore.KeyValueStore
      yield* kv.set("a", "1")
      expect(yield* kv.get("a")).toBe("1")
      expect(yield* kv.modify("a", (s) => s + "2")).toBe("12")
    }).pipe(Effect.provide(layer)))
})
