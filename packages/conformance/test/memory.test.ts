import { MemoryBackend } from "@effect-persist/core"
import { describe, expect, it } from "@effect/vitest"
import { lawCount, suite } from "@effect-persist/conformance"

suite("memory", MemoryBackend.layer)

describe("the conformance suite", () => {
  it("has at least 60 laws", () => {
    expect(lawCount).toBeGreaterThanOrEqual(60)
  })
})
