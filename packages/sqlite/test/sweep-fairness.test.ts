import { StorageBackend } from "@effect-persist/core"
import { SqliteBackend } from "@effect-persist/sqlite"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"

// SQLite statements run synchronously on the one thread, so a sweep that
// never yields holds the thread (and the only connection) from one batch to
// the next, and every other fiber of the program waits until it is done.
describe("SQLite sweep", () => {
  it.live("lets other fibers run between its batches", () =>
    Effect.gen(function*() {
      const backend = yield* StorageBackend.StorageBackend
      yield* backend.setMany("kv:sweep", Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: "v", expiresAt: 1 })))
      let ticks = 0
      const ticker = yield* Effect.forkChild(Effect.forever(Effect.andThen(Effect.sync(() => ticks++), Effect.yieldNow)))
      const seen: Array<number> = []
      const deleted = yield* backend.sweep({ batchSize: 2, onProgress: () => seen.push(ticks) })
      yield* Fiber.interrupt(ticker)
      expect(deleted).toBe(20)
      expect(seen.length).toBeGreaterThan(5)
      // The ticker kept running while the sweep went on: at least once every
      // two batches (without a yield it would not run at all until the end).
      expect(seen[seen.length - 1]! - seen[0]!).toBeGreaterThanOrEqual(Math.floor((seen.length - 1) / 2))
    }).pipe(Effect.provide(SqliteBackend.layer({ filename: ":memory:", autoMigrate: true }))))
})
