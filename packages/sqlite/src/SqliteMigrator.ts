/**
 * Migrations of the SQLite schema: the numbered files of `migrations/sqlite/`,
 * applied under an exclusive write transaction and recorded in
 * `effect_persist_migrations`.
 *
 * @since 0.1.0
 */
import { Migrator, StorageError } from "@effect-persist/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlError from "effect/sql/SqlError"
import { waitForLock } from "./internal/busy.ts"
import { detail } from "./internal/classify.ts"
import * as Client from "./internal/client.ts"
import { files } from "./internal/migrations.ts"
import { quoteIdentifier } from "./internal/statements.ts"

/**
 * The SQLite migrations shipped with this package, in order.
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrations: Effect.Effect<ReadonlyArray<Migrator.Migration>, StorageError.MigrationError> = Migrator
  .fromFiles(files)

const failed = (message: string, version?: number) => (cause: unknown) =>
  new StorageError.MigrationError({
    reason: "Failed",
    version,
    message: `${message}: ${detail(cause) ?? String(cause)}`,
    cause
  })

/**
 * Options of the migration driver.
 *
 * @category models
 * @since 0.1.0
 */
export interface DriverOptions {
  /**
   * How long to wait for another connection's write lock (another instance
   * migrating, or writing) before failing with a `MigrationError` (`Lock`).
   * The wait does not hold the thread.
   * @default "1 minute"
   */
  readonly lockTimeout?: Duration.Input | undefined
}

/**
 * The migration driver for a SQLite client.
 *
 * **Details**
 *
 * SQLite DDL is transactional, so a whole migration run happens in one
 * `BEGIN IMMEDIATE` transaction: it takes the database's write lock (other
 * processes wait up to their busy timeout), and a failing migration leaves
 * the database exactly as it was.
 *
 * @category constructors
 * @since 0.1.0
 */
export const driver = (sql: SqlClient.SqlClient, options?: DriverOptions): Migrator.MigrationDriver => {
  const tracking = quoteIdentifier(Migrator.trackingTable)
  const lockMillis = Duration.toMillis(Duration.fromInputUnsafe(options?.lockTimeout ?? "1 minute"))
  return {
    dialect: "sqlite",
    quoteIdentifier,
    withLock: (body) =>
      Effect.suspend(() => {
        // BEGIN IMMEDIATE is tried again while another connection holds the
        // lock, without holding the thread; the migrations themselves run once.
        let started = false
        return waitForLock(
          sql.withTransaction(Effect.andThen(Effect.sync(() => started = true), body)).pipe(
            Effect.provideService(SqlClient.BeginTransaction, "BEGIN IMMEDIATE")
          ),
          lockMillis,
          () => !started
        )
      }).pipe(
        Effect.mapError((cause) =>
          cause instanceof SqlError.SqlError
            ? new StorageError.MigrationError({
              reason: "Lock",
              message: `Could not take SQLite's write lock for migrating: ${detail(cause) ?? cause.message}`,
              cause
            })
            : cause
        )
      ),
    ensureTrackingTable: sql.unsafe(
      `CREATE TABLE IF NOT EXISTS ${tracking} (
  table_name TEXT NOT NULL,
  version INTEGER NOT NULL,
  name TEXT NOT NULL,
  checksum TEXT NOT NULL,
  applied_at TEXT NOT NULL,
  PRIMARY KEY (table_name, version)
)`
    ).raw.pipe(Effect.asVoid, Effect.mapError(failed("Could not create the migration tracking table"))),
    applied: (table) =>
      Effect.gen(function*() {
        const exists = yield* sql.unsafe(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, [
          Migrator.trackingTable
        ]).values
        if (exists.length === 0) return []
        const rows = yield* sql.unsafe(
          `SELECT version, name, checksum, applied_at FROM ${tracking} WHERE table_name = ? ORDER BY version`,
          [table]
        ).values
        return rows.map(([version, name, checksum, appliedAt]) => ({
          version: Number(version),
          name: String(name),
          checksum: String(checksum),
          appliedAt: new Date(String(appliedAt))
        }))
      }).pipe(Effect.mapError(failed("Could not read the migration tracking table"))),
    apply: (table, migration, statements) =>
      sql.withTransaction(Effect.gen(function*() {
        // Prepared rather than `.unprepared`: the client's unprepared path
        // throws SQLite's prepare errors (a typo, a missing table) as defects.
        for (const statement of statements) {
          yield* sql.unsafe(statement).raw
        }
        yield* sql.unsafe(
          `INSERT INTO ${tracking} (table_name, version, name, checksum, applied_at) VALUES (?, ?, ?, ?, ?)`,
          [table, migration.version, migration.name, migration.checksum, new Date().toISOString()]
        ).raw
      })).pipe(
        Effect.mapError(failed(`Migration ${String(migration.version).padStart(4, "0")}_${migration.name} failed`, migration.version))
      )
  }
}

/**
 * Options of `migrate` and `status`.
 *
 * @category models
 * @since 0.1.0
 */
export interface MigrateOptions extends Migrator.Options, DriverOptions {
  /** Return the SQL of pending migrations instead of applying them. @default false */
  readonly dryRun?: boolean | undefined
}

/**
 * Applies pending migrations to the database of the `SqlClient` in context.
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrate = (
  options?: MigrateOptions
): Effect.Effect<Migrator.MigrateResult, StorageError.MigrationError | StorageError.ConfigurationError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* Migrator.migrate(driver(sql, options), yield* migrations, options)
  })

/**
 * Reads applied, pending and drifted migrations of the database of the
 * `SqlClient` in context.
 *
 * @category constructors
 * @since 0.1.0
 */
export const status = (
  options?: Migrator.Options
): Effect.Effect<Migrator.Status, StorageError.MigrationError | StorageError.ConfigurationError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* Migrator.status(driver(sql), yield* migrations, options)
  })

/**
 * The SQL of every migration rendered for a table name, for teams that apply
 * schema changes with their own tools (Flyway, dbmate, Atlas, ...).
 *
 * @category constructors
 * @since 0.1.0
 */
export const renderSql = (
  options?: Migrator.Options
): Effect.Effect<string, StorageError.MigrationError | StorageError.ConfigurationError> =>
  Effect.gen(function*() {
    const table = yield* Migrator.validateTableName(options?.table ?? Migrator.defaultTable)
    return (yield* migrations).map((m) =>
      `-- ${String(m.version).padStart(4, "0")}_${m.name}\n${Migrator.render(m.sql, table, quoteIdentifier)}`
    ).join("\n")
  })

/**
 * Opens a SQLite file just long enough to migrate it: the one call a program
 * or deploy script needs.
 *
 * @example
 * ```ts
 * import { SqliteMigrator } from "@effect-persist/sqlite"
 * import { Effect } from "effect"
 *
 * const result = await Effect.runPromise(SqliteMigrator.migrateFile("app.db"))
 * console.log(result.applied.map((migration) => migration.name)) // ["create_entries"] the first time, [] after
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrateFile = (
  filename: string,
  options?: MigrateOptions
): Effect.Effect<Migrator.MigrateResult, StorageError.MigrationError | StorageError.ConfigurationError> =>
  migrate(options).pipe(
    Effect.provide(Client.layer({ filename }).pipe(Layer.fresh))
  )
