// Several application instances on one database, as separate OS processes.
import { Migrator } from "@effect-persist/core"
import { PgBackend, PgMigrator } from "@effect-persist/pg"
import { postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Redacted, Schedule } from "effect"
import { execFile } from "node:child_process"
import { join } from "node:path"
import { promisify } from "node:util"
import { admin, dropTable } from "./fixtures/admin.ts"

const server = await postgres()
const url = server.url

const run = promisify(execFile)
const child = join(import.meta.dirname, "fixtures", "child.ts")
const inChild = async (table: string, ...args: Array<string>) =>
  (await run(process.execPath, [child, url, table, ...args])).stdout.trim()

// pg_locks shows a bigint advisory key as its high and low 32 bits.
const lockClassId = Number(PgMigrator.lockKey >> 32n)
const lockObjId = Number(PgMigrator.lockKey & 0xffffffffn)

describe("several processes", () => {
  it.live("four processes migrating at once queue on the lock, and exactly one applies the migration", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = "pg_processes_migrate"
      yield* dropTable(url, table)
      yield* Effect.addFinalizer(() => dropTable(url, table))

      // Hold the migration lock, start every migrator, and let go only once
      // all four are waiting for it, so they really do contend.
      const migrators = yield* PgClient.PgClient.use((sql) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql.unsafe(`SELECT pg_advisory_xact_lock(${PgMigrator.lockKey})`).unprepared
          const started = Array.from({ length: 4 }, () => inChild(table, "migrate"))
          yield* sql.unsafe(
            `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = $1 AND objid = $2`,
            [lockClassId, lockObjId]
          ).values.pipe(
            Effect.map((rows) => Number(rows[0]![0])),
            Effect.repeat({ until: (waiting) => waiting >= 4, schedule: Schedule.spaced("50 millis") })
          )
          return started
        }))
      ).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })))

      const applied = yield* Effect.promise(() => Promise.all(migrators))
      expect(applied.map(Number).sort()).toEqual([0, 0, 0, 1])
      const tracked = yield* admin(url, (sql) =>
        sql.unsafe(`SELECT version FROM ${Migrator.trackingTable} WHERE table_name = $1`, [table]).values)
      expect(tracked.map((row) => Number(row[0]))).toEqual([1])
      const backend = yield* PgBackend.open({ url, table })
      yield* backend.set("after", "migrating", "works")
      expect(yield* backend.get("after", "migrating")).toBe("works")
    })), 60_000)

  it.live("modify from four processes at once loses no update", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = "pg_processes_modify"
      yield* dropTable(url, table)
      yield* Effect.addFinalizer(() => dropTable(url, table))
      yield* PgMigrator.migrateUrl(url, { table })
      const backend = yield* PgBackend.open({ url, table })
      yield* backend.set("counters", "shared", "0")
      const results = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: 4 }, () => inChild(table, "increment", "shared", "50")))
      )
      expect(results).toEqual(["ok", "ok", "ok", "ok"])
      expect(yield* backend.get("counters", "shared")).toBe("200")
    })), 60_000)
})
