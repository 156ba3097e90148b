import { Services, StorageBackend } from "@effect-persist/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { KeyValueStore } from "effect/persistence"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as JsonFileBackend from "../src/JsonFileBackend.ts"

const fresh = () => join(mkdtempSync(join(tmpdir(), "json-file-backend-")), "store.json")

describe("JsonFileBackend", () => {
  it.effect("a second backend on the same file reads what the first wrote", () =>
    Effect.gen(function*() {
      const filename = fresh()
      const first = yield* JsonFileBackend.make({ filename })
      yield* first.set("ns", "text", "hello")
      yield* first.set("ns", "bytes", new Uint8Array([0, 1, 255]))
      yield* first.set("ns", "__proto__", "an ordinary key")

      const second = yield* JsonFileBackend.make({ filename })
      expect(yield* second.getMany("ns", ["text", "bytes", "__proto__"])).toEqual([
        "hello",
        new Uint8Array([0, 1, 255]),
        "an ordinary key"
      ])
    }))

  it.effect("Effect's KeyValueStore works on it through core's Services", () =>
    Effect.gen(function*() {
      const kv = yield* KeyValueStore.KeyValueStore
      yield* kv.set("greeting", "hello")
      expect(yield* kv.get("greeting")).toBe("hello")
    }).pipe(
      Effect.provide(
        Services.layerKeyValueStore({ name: "app" }).pipe(Layer.provide(JsonFileBackend.layer({ filename: fresh() })))
      )
    ))

  it.effect("a file that is not the backend's fails to open with a typed Corrupt error", () =>
    Effect.gen(function*() {
      const filename = fresh()
      writeFileSync(filename, "{ not json")
      const error = yield* Effect.flip(JsonFileBackend.make({ filename }))
      expect(error._tag).toBe("StorageError")
      expect(error.reason).toBe("Corrupt")
      expect(error.message).toContain(filename)
    }))

  it.effect("declares its value limit and durability, and the defaults for the rest", () =>
    Effect.gen(function*() {
      const backend = yield* JsonFileBackend.make({ filename: fresh() })
      expect(backend.capabilities).toEqual({
        ...StorageBackend.defaultCapabilities,
        maxValueBytes: JsonFileBackend.maxValueBytes,
        durable: true
      })
    }))
})
