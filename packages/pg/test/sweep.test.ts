// The sweep on a million expired rows while other clients keep writing: it
// deletes in bounded batches, never waits for a row a writer holds (SKIP
// LOCKED), never deletes an entry a writer re-set with a later expiry, and
// leaves the writers writing throughout.
import { PgBackend, PgMigrator } from "@effect-persist/pg"
import { postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Clock, Deferred, Effect, Fiber, Redacted } from "effect"
import { admin, dropTable } from "./fixtures/admin.ts"

const server = await postgres()
const url = server.url
const table = "pg_sweep_million"
const rows = 1_000_000
const batchSize = 10_000
const writers = 4

describe("sweep", () => {
  it.live("deletes a million expired rows in bounded batches while four clients keep writing", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* Effect.acquireRelease(
        Effect.andThen(dropTable(url, table), PgMigrator.migrateUrl(url, { table })),
        () => dropTable(url, table)
      )
      // Keys e0000001 .. e1000000, expiring in the order they were written, as
      // entries with one time-to-live do.
      const seeded = performance.now()
      yield* admin(url, (sql) =>
        Effect.gen(function*() {
          yield* sql.unsafe(`INSERT INTO ${table} (namespace, key, value, kind, expires_at)
SELECT convert_to('expired', 'UTF8'), convert_to('e' || lpad(g::text, 7, '0'), 'UTF8'), convert_to('stale', 'UTF8'), 0, 1 + g / 1000
FROM generate_series(1, ${rows}) AS g`).unprepared
          yield* sql.unsafe(`ANALYZE ${table}`).unprepared
        }))
      const seedMillis = performance.now() - seeded
      const expiredKey = (n: number) => `e${String(n).padStart(7, "0")}`

      const backend = yield* PgBackend.open({ url, table })
      yield* backend.setMany("live", Array.from({ length: 100 }, (_, i) => ({ key: `live${i}`, value: "kept" })))

      // Another client holds a row lock on one expired entry for the whole
      // sweep. The lock is let go before the table is dropped, even when an
      // assertion fails.
      const holding = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
      const holder = yield* Effect.forkChild(
        PgClient.PgClient.use((sql) =>
          sql.withTransaction(Effect.gen(function*() {
            yield* sql.unsafe(`SELECT 1 FROM ${table} WHERE namespace = convert_to('expired', 'UTF8') AND key = convert_to('e0000001', 'UTF8') FOR UPDATE`).unprepared
            yield* Deferred.succeed(holding, undefined)
            yield* Deferred.await(release)
          }))
        ).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })))
      )
      yield* Deferred.await(holding)

      let sweeping = true
      let writes = 0
      const revived = new Set<string>()
      const writer = (id: number) =>
        Effect.gen(function*() {
          let i = 0
          while (sweeping) {
            const now = yield* Clock.currentTimeMillis
            if (i % 4 === 3) {
              // Re-set an expired entry with a later expiry: the sweep must not delete it.
              const key = expiredKey(2 + ((id * 7919 + i * 104729) % (rows - 1)))
              yield* backend.set("expired", key, "revived", now + 3_600_000)
              revived.add(key)
            } else {
              yield* backend.set("live", `w${id}-${i % 500}`, `write ${i}`)
            }
            writes++
            i++
          }
        })
      const writerFibers = yield* Effect.forEach(Array.from({ length: writers }, (_, id) => id), (id) =>
        Effect.forkChild(writer(id)))

      const progress: Array<number> = []
      const started = performance.now()
      const writesBefore = writes
      const deleted = yield* backend.sweep({ batchSize, onProgress: (n) => progress.push(n) })
      const sweepMillis = performance.now() - started
      const writesDuring = writes - writesBefore
      sweeping = false
      yield* Effect.forEach(writerFibers, Fiber.join, { discard: true })

      console.log(
        `[pg] seeded ${rows} expired rows in ${seedMillis.toFixed(0)} ms; sweep deleted ${deleted} in ${
          sweepMillis.toFixed(0)
        } ms (${Math.round(deleted / (sweepMillis / 1000))} rows/s, ${progress.length} batches of ${batchSize}); ${writesDuring} foreground writes by ${writers} clients meanwhile (${
          Math.round(writesDuring / (sweepMillis / 1000))
        }/s), ${revived.size} expired entries revived`
      )

      // Batches were bounded, and progress reported after each.
      expect(progress.length).toBeGreaterThanOrEqual(Math.ceil(deleted / batchSize))
      expect(progress.at(-1)).toBe(deleted)
      for (let i = 1; i < progress.length; i++) {
        expect(progress[i]! - progress[i - 1]!).toBeLessThanOrEqual(batchSize)
      }
      // The writers kept writing while the sweep ran.
      expect(writesDuring).toBeGreaterThan(0)
      // Everything expired is gone except the row another client held; the
      // revived entries and the live ones are all there.
      const now = yield* Clock.currentTimeMillis
      const left = yield* admin(url, (sql) =>
        sql.unsafe(`SELECT convert_from(key, 'UTF8') FROM ${table} WHERE expires_at <= $1`, [now]).values)
      expect(left).toEqual([["e0000001"]])
      expect(deleted).toBeLessThanOrEqual(rows - 1)
      expect(deleted).toBeGreaterThanOrEqual(rows - 1 - revived.size)
      const revivedValues = yield* backend.getMany("expired", [...revived])
      expect(revivedValues.every((value) => value === "revived")).toBe(true)
      expect(yield* backend.size("expired")).toBe(revived.size)
      expect(yield* backend.size("live", "live")).toBe(100)

      // Once the lock is released, the next sweep takes the row it skipped.
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      expect(yield* backend.sweep()).toBe(1)
    })), 120_000)
})
