import { StorageBackend } from "@effect-persist/core"
import { SqliteBackend } from "@effect-persist/sqlite"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"

// SQLite statements run synchronously on the one thread, so a sweep that
// never gives way holds the thread (and the only connection) from one batch
// to the next, and every other fiber of the program waits until it is done.
// A sweep runs batches back to back for at most a turn
// (StorageBackend.sweepTurnMillis), then lets the waiting fibers run.
describe("SQLite sweep", () => {
  it.live("lets other fibers run while it goes on, even flat out (share 1)", () =>
    Effect.gen(function*() {
      const backend = yield* StorageBackend.StorageBackend
      const expired = 100_000
      for (let start = 0; start < expired; start += 10_000) {
        yield* backend.setMany(
          "kv:sweep",
          Array.from({ length: 10_000 }, (_, i) => ({ key: `k${start + i}`, value: "v", expiresAt: 1 }))
        )
      }
      let ticks = 0
      const ticker = yield* Effect.forkChild(Effect.forever(Effect.andThen(Effect.sync(() => ticks++), Effect.yieldNow)))
      const seen: Array<number> = []
      const started = performance.now()
      const deleted = yield* backend.sweep({ batchSize: 1000, share: 1, onProgress: () => seen.push(ticks) })
      const millis = performance.now() - started
      yield* Fiber.interrupt(ticker)
      expect(deleted).toBe(expired)
      // A hundred full batches, then the one that finds nothing left.
      expect(seen).toHaveLength(expired / 1000 + 1)
      // The ticker ran between the sweep's turns: its count moved at least
      // once per full turn the sweep took (without giving way it would not
      // move at all until the end).
      const turns = Math.floor(millis / (StorageBackend.sweepTurnMillis * 2))
      expect(new Set(seen).size, `${millis.toFixed(0)} ms of sweeping`).toBeGreaterThanOrEqual(Math.min(3, turns + 1))
    }).pipe(Effect.provide(SqliteBackend.layer({ filename: ":memory:", autoMigrate: true }))))
})
