import { MemoryBackend, StorageBackend, StorageError } from "@effect-persist/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"

// The real clock: a pause keeps to its length, whatever else runs.
const sleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

describe("sweepInBatches", () => {
  it.effect("deletes batch after batch until one comes back short, reporting the running total", () =>
    Effect.gen(function*() {
      let expired = 2500
      const asked: Array<number> = []
      const progress: Array<number> = []
      const total = yield* StorageBackend.sweepInBatches(
        { batchSize: 1000, share: 1, onProgress: (deleted) => progress.push(deleted) },
        (batchSize) =>
          Effect.sync(() => {
            asked.push(batchSize)
            const deleted = Math.min(batchSize, expired)
            expired -= deleted
            return deleted
          })
      )
      expect(total).toBe(2500)
      expect(asked).toEqual([1000, 1000, 1000])
      expect(progress).toEqual([1000, 2000, 2500])
    }))

  it.effect("a batch that deleted fewer than it examined does not end the sweep; one that examined fewer does", () =>
    Effect.gen(function*() {
      // Examined 10, 10, 4: in the second batch a writer had re-set 3 of the rows.
      const batches = [{ deleted: 10, examined: 10 }, { deleted: 7, examined: 10 }, { deleted: 4, examined: 4 }]
      let calls = 0
      const total = yield* StorageBackend.sweepInBatches({ batchSize: 10, share: 1 }, () => Effect.sync(() => batches[calls++]!))
      expect(calls).toBe(3)
      expect(total).toBe(21)
    }))

  it.live("pauses after each full batch so that deleting takes its share of the time", () =>
    Effect.gen(function*() {
      let left = 3
      let working = 0
      const started = performance.now()
      yield* StorageBackend.sweepInBatches({ batchSize: 1, share: 0.25 }, () =>
        Effect.gen(function*() {
          const batchStarted = performance.now()
          yield* sleep(15)
          working += performance.now() - batchStarted
          return left-- > 0 ? 1 : 0
        }))
      const elapsed = performance.now() - started
      // Three full batches, each followed by a pause of three times its length,
      // then a short one without a pause. (Timers may fire up to a
      // millisecond before their time.)
      expect(working).toBeGreaterThanOrEqual(4 * 14)
      expect(elapsed).toBeGreaterThanOrEqual(working + 3 * 3 * 14)
    }))

  it.live("on a busy thread, a sweep runs turns of several batches and never holds the thread much past a turn", () =>
    Effect.gen(function*() {
      // Like SQLite: a batch holds the thread for 5 ms.
      const hold = (millis: number) => {
        const until = performance.now() + millis
        while (performance.now() < until) {
          // the statement runs
        }
      }
      // Where the thread went, in order: "s" a batch, "f" another fiber's step.
      const trace: Array<string> = []
      let sweeping = true
      // Another fiber that wants the thread all the time, in steps of 1 ms.
      const other = Effect.gen(function*() {
        while (sweeping) {
          hold(1)
          trace.push("f")
          yield* Effect.yieldNow
        }
      })
      let left = 60
      const sweep = StorageBackend.sweepInBatches({ batchSize: 1, share: 1 }, () =>
        Effect.sync(() => {
          hold(5)
          trace.push("s")
          return left-- > 0 ? 1 : 0
        })).pipe(Effect.ensuring(Effect.sync(() => (sweeping = false))))
      yield* Effect.all([other, sweep], { concurrency: "unbounded", discard: true })
      // In turns of batches back to back: at 5 ms a batch, a 25 ms turn is
      // five. The sweep makes progress at the rate of its own work, not one
      // batch per round of the other fibers; and the other fiber never waits
      // for much more than a turn (counted in batches, which the machine's
      // load cannot stretch: a slow turn only holds fewer).
      const turns = trace.join("").split("f").filter((turn) => turn.length > 0).map((turn) => turn.length)
      expect(turns.reduce((a, b) => a + b, 0)).toBe(61)
      const batchesPerTurn = StorageBackend.sweepTurnMillis / 5
      expect(Math.max(...turns)).toBeGreaterThanOrEqual(batchesPerTurn - 2)
      expect(Math.max(...turns)).toBeLessThanOrEqual(batchesPerTurn + 1)
    }))

  it.effect("a share outside (0, 1] is refused with a typed error before anything is deleted", () =>
    Effect.gen(function*() {
      const backend = MemoryBackend.make()
      for (const share of [0, -1, 1.5, Number.NaN]) {
        const error = yield* Effect.flip(backend.sweep({ share }))
        expect(error).toBeInstanceOf(StorageError.StorageError)
        expect(error.reason).toBe("InvalidValue")
        expect(error.message).toContain("share must be a number above 0 and at most 1")
      }
    }))
})
