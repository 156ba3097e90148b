// A connection that dies inside a transaction whose body fails: Effect's
// withTransaction then reports the body's failure as a defect (its ROLLBACK
// failed too). Found by the reliability suite (packages/reliability): a
// modify whose function refused while the session was terminated, and a
// migration whose session was terminated half-way, both ended in defects.
import * as Schedule from "effect/Schedule"
import { Migrator, StorageError } from "@effect-persist/core"
import { PgBackend, PgMigrator } from "@effect-persist/pg"
import { postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Cause, Effect, Exit, Fiber, Layer, Redacted } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { admin, dropTable } from "./fixtures/admin.ts"

const server = await postgres()
const url = server.url
const table = "pg_lost_transaction"
const applicationName = `effect-persist lost-transaction ${process.pid}`

const terminate = admin(url, (sql) =>
  sql.unsafe(
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE application_name = $1`,
    [applicationName]
  ).values).pipe(Effect.map((rows) => Number(rows[0]![0])), Effect.orDie)

const withTable = Effect.acquireRelease(
  Effect.andThen(dropTable(url, table), PgMigrator.migrateUrl(url, { table })),
  () => dropTable(url, table)
)

const defects = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? exit.cause.reasons.filter(Cause.isDieReason).map((r) => String(r.defect)) : []

describe("a connection lost inside a failing transaction", () => {
  it.live("a modify whose function fails while its session is terminated returns that failure, typed", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* withTable
      const backend = yield* PgBackend.open({ url, table, applicationName, maxConnections: 2 })
      yield* backend.set("lost", "k", "1")
      const refusal = new StorageError.StorageError({ operation: "modify", reason: "InvalidValue", message: "refused" })
      const exit = yield* Effect.exit(backend.modify("lost", "k", () =>
        // The row is locked and the function is running: the session goes.
        Effect.andThen(terminate, Effect.fail(refusal))))
      expect(defects(exit)).toEqual([])
      expect(Exit.isFailure(exit) && exit.cause.reasons.find(Cause.isFailReason)?.error).toBe(refusal)
      expect(yield* backend.get("lost", "k")).toBe("1")
      expect(yield* backend.modify("lost", "k", (v) => Effect.succeed(`${v}+`))).toBe("1+")
    })), 60_000)

  it.live("a migration whose session is terminated half-way fails with a MigrationError, and the re-run applies it", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* Effect.acquireRelease(dropTable(url, table), () => dropTable(url, table))
      yield* Effect.addFinalizer(() => dropTable(url, `${table}_extra`))
      const slow = "CREATE TABLE {{table:extra}} (x integer);\nSELECT pg_sleep(2);\n"
      const migrations = [...yield* PgMigrator.migrations, { version: 2, name: "slow", sql: slow, checksum: Migrator.checksum(slow) }]
      const client = PgClient.layer({ url: Redacted.make(url), maxConnections: 2, applicationName }).pipe(Layer.fresh)
      const migrate = SqlClient.SqlClient.use((sql) => Migrator.migrate(PgMigrator.driver(sql), migrations, { table }))
      const running = yield* Effect.forkChild(Effect.provide(migrate, client))
      // Terminated once the slow statement runs.
      while (
        (yield* admin(url, (sql) =>
          sql.unsafe(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'SELECT pg_sleep%'`, [
            applicationName
          ]).values).pipe(Effect.orDie, Effect.map((rows) => Number(rows[0]![0])))) === 0
      ) yield* Effect.sleep("20 millis")
      expect(yield* terminate).toBeGreaterThan(0)
      const exit = yield* Fiber.await(running)
      expect(defects(exit)).toEqual([])
      expect(Exit.isFailure(exit) && (exit.cause.reasons.find(Cause.isFailReason)?.error as { _tag: string })._tag)
        .toBe("MigrationError")
      const status = SqlClient.SqlClient.use((sql) => Migrator.status(PgMigrator.driver(sql), migrations, { table }))
      expect((yield* Effect.provide(status, client)).version).toBe(0)
      // A session the server is still tearing down can fail the re-run with a
      // retryable Unavailable error; retrying is what the error tells callers to do.
      const rerun = Effect.provide(migrate, client).pipe(
        Effect.retry({ times: 3, schedule: Schedule.spaced("250 millis"), while: (error) => error._tag === "MigrationError" && error.retryable })
      )
      expect((yield* rerun).applied).toHaveLength(2)
    })), 60_000)
})
