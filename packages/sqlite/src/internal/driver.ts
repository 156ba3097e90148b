/**
 * The migration driver on a SQLite connection (a `SqlClient` or the
 * backend's own `node:sqlite` database).
 *
 * @internal
 */
import { Migrator, StorageError } from "@effect-persist/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { waitForLock } from "./busy.ts"
import { detail, isBusy } from "./classify.ts"
import type * as Connection from "./connection.ts"
import { quoteIdentifier } from "./statements.ts"

/** @internal */
export interface DriverOptions {
  readonly lockTimeout?: Duration.Input | undefined
}

// Carries a failure of the migrations themselves through the lock wrapper,
// which must not take it for a failure to lock.
class BodyFailure {
  readonly error: unknown
  constructor(error: unknown) {
    this.error = error
  }
}

const failed = (message: string, version?: number) => (cause: unknown) =>
  new StorageError.MigrationError({
    reason: "Failed",
    version,
    message: `${message}: ${detail(cause) ?? String(cause)}`,
    cause
  })

/** @internal */
export const make = (connection: Connection.Connection, options?: DriverOptions): Migrator.MigrationDriver => {
  const tracking = quoteIdentifier(Migrator.trackingTable)
  const lockMillis = Duration.toMillis(Duration.fromInputUnsafe(options?.lockTimeout ?? "1 minute"))
  return {
    dialect: "sqlite",
    quoteIdentifier,
    withLock: <A, E>(body: Effect.Effect<A, E>) =>
      Effect.suspend(() => {
        // BEGIN IMMEDIATE is tried again while another connection holds the
        // lock, without holding the thread; the migrations themselves run once.
        let started = false
        const marked = Effect.mapError(body, (error) => new BodyFailure(error))
        return waitForLock(
          connection.transaction(Effect.andThen(Effect.sync(() => started = true), marked)),
          lockMillis,
          () => !started
        )
      }).pipe(
        Effect.mapError((cause): E | StorageError.MigrationError =>
          cause instanceof BodyFailure
            ? cause.error as E
            : isBusy(cause)
            ? new StorageError.MigrationError({
              reason: "Lock",
              message: `Could not take SQLite's write lock for migrating: ${detail(cause) ?? String(cause)}`,
              cause
            })
            : failed("Could not run the migrations in a transaction")(cause)
        )
      ),
    ensureTrackingTable: connection.run(
      `CREATE TABLE IF NOT EXISTS ${tracking} (
  table_name TEXT NOT NULL,
  version INTEGER NOT NULL,
  name TEXT NOT NULL,
  checksum TEXT NOT NULL,
  applied_at TEXT NOT NULL,
  PRIMARY KEY (table_name, version)
)`,
      []
    ).pipe(Effect.mapError(failed("Could not create the migration tracking table"))),
    applied: (table) =>
      Effect.gen(function*() {
        const exists = yield* connection.rows(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, [
          Migrator.trackingTable
        ])
        if (exists.length === 0) return []
        const rows = yield* connection.rows(
          `SELECT version, name, checksum, applied_at FROM ${tracking} WHERE table_name = ? ORDER BY version`,
          [table]
        )
        return rows.map(([version, name, checksum, appliedAt]) => ({
          version: Number(version),
          name: String(name),
          checksum: String(checksum),
          appliedAt: new Date(String(appliedAt))
        }))
      }).pipe(Effect.mapError(failed("Could not read the migration tracking table"))),
    apply: (table, migration, statements) =>
      connection.transaction(Effect.gen(function*() {
        // Prepared rather than `.unprepared`: @effect/sql-sqlite-node's
        // unprepared path throws SQLite's prepare errors (a typo, a missing
        // table) as defects.
        for (const statement of statements) {
          yield* connection.run(statement, [])
        }
        yield* connection.run(
          `INSERT INTO ${tracking} (table_name, version, name, checksum, applied_at) VALUES (?, ?, ?, ?, ?)`,
          [table, migration.version, migration.name, migration.checksum, new Date().toISOString()]
        )
      })).pipe(
        Effect.mapError(failed(`Migration ${String(migration.version).padStart(4, "0")}_${migration.name} failed`, migration.version))
      )
  }
}

