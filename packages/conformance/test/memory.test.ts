// The suite on the in-memory reference backend: once as it is (every law must
// pass), and once declaring limits and missing capabilities, so that the laws'
// other branches (limits enforced, NUL refused, modify not atomic) run too.
import { describe, expect, it } from "@effect/vitest"
import * as Layer from "effect/Layer"
import { MemoryBackend, StorageBackend } from "@effect-persist/core"
import { lawCount, suite } from "@effect-persist/conformance"
import * as Laws from "@effect-persist/conformance/laws/index"

suite("memory", MemoryBackend.layer)

suite(
  "memory with limits, without NUL keys or atomic modify",
  Layer.sync(StorageBackend.StorageBackend)(() =>
    StorageBackend.make({
      ...MemoryBackend.make(),
      capabilities: { maxKeyBytes: 2048, maxValueBytes: 8 * 1024 * 1024, nulInKeys: false, atomicModify: false }
    })
  ),
  { largeValueBytes: 256 * 1024, modifyConcurrency: 8, modelRuns: 25 }
)

describe("the conformance suite", () => {
  it("has at least 60 laws", () => {
    expect(lawCount).toBeGreaterThanOrEqual(60)
  })

  it("names every law differently, so that a report points at one", () => {
    const names = Laws.all.map((law) => law.name)
    expect(new Set(names).size).toBe(names.length)
    expect(lawCount).toBe(names.length)
  })
})
