/**
 * Migrations of the PostgreSQL schema: the numbered files of `migrations/pg/`,
 * applied in one transaction under an advisory lock and recorded in
 * `effect_persist_migrations`.
 *
 * @since 0.1.0
 */
import { Migrator, StorageError } from "@effect-persist/core"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import { diagnose } from "./internal/classify.ts"
import { files } from "./internal/migrations.ts"
import { quoteIdentifier } from "./internal/statements.ts"
import { transaction } from "./internal/transaction.ts"

/**
 * The PostgreSQL migrations shipped with this package, in order.
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrations: Effect.Effect<ReadonlyArray<Migrator.Migration>, StorageError.MigrationError> = Migrator
  .fromFiles(files)

/**
 * The key of the transaction-scoped advisory lock every migrator takes before
 * reading the tracking table: the bytes of "efpersis" as a `bigint`. One key
 * for every table, because the tracking table they share is created under it.
 *
 * @category constructors
 * @since 0.1.0
 */
export const lockKey = 7306651026469382515n

const describe = (cause: unknown): string => {
  const { code, message } = diagnose(cause)
  if (message !== undefined) return code === undefined ? message : `${message} (SQLSTATE ${code})`
  return cause instanceof Error ? cause.message : String(cause)
}

const failed = (message: string, version?: number) => (cause: unknown) =>
  new StorageError.MigrationError({
    reason: diagnose(cause).connectionLost ? "Unavailable" : "Failed",
    version,
    message: `${message}: ${describe(cause)}`,
    cause
  })

/**
 * The migration driver for a PostgreSQL client.
 *
 * **Details**
 *
 * PostgreSQL DDL is transactional, so a whole migration run is one
 * transaction: it first takes `pg_advisory_xact_lock`, which makes every
 * other migrator (in any process) wait until this one commits and then find
 * nothing left to do, and a failing migration rolls back without a trace.
 * The lock is released with the transaction, also when the connection dies.
 *
 * @category constructors
 * @since 0.1.0
 */
export const driver = (sql: SqlClient.SqlClient): Migrator.MigrationDriver => {
  const tracking = quoteIdentifier(Migrator.trackingTable)
  const trackingTableExists = Effect.map(
    sql.unsafe(`SELECT to_regclass($1) IS NOT NULL`, [Migrator.trackingTable]).values,
    (rows) => rows[0]?.[0] === true
  )
  return {
    dialect: "pg",
    quoteIdentifier,
    withLock: (body) =>
      transaction(
        sql,
        Effect.andThen(
          Effect.mapError(
            sql.unsafe(`SELECT pg_advisory_xact_lock(${lockKey})`).unprepared,
            (cause) =>
              new StorageError.MigrationError({
                reason: diagnose(cause).connectionLost ? "Unavailable" : "Lock",
                message: `Could not take the migration lock (pg_advisory_xact_lock(${lockKey})): ${describe(cause)}`,
                cause
              })
          ),
          body
        )
      ).pipe(
        Effect.catchTag("SqlError", (cause) =>
          Effect.fail(failed("The migration transaction could not begin or commit")(cause)))
      ),
    // Looked up before creating: even CREATE TABLE IF NOT EXISTS needs the
    // CREATE right on the schema, and a runtime role with autoMigrate on an
    // up-to-date database must get through without it.
    ensureTrackingTable: Effect.flatMap(trackingTableExists, (exists) =>
      exists ? Effect.void : Effect.asVoid(
        sql.unsafe(
          `CREATE TABLE IF NOT EXISTS ${tracking} (
  table_name text NOT NULL,
  version integer NOT NULL,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (table_name, version)
)`
        ).unprepared
      )).pipe(Effect.mapError(failed("Could not create the migration tracking table"))),
    applied: (table) =>
      Effect.gen(function*() {
        if (!(yield* trackingTableExists)) return []
        const rows = yield* sql.unsafe(
          `SELECT version, name, checksum, applied_at FROM ${tracking} WHERE table_name = $1 ORDER BY version`,
          [table]
        ).values
        return rows.map(([version, name, checksum, appliedAt]) => ({
          version: Number(version),
          name: String(name),
          checksum: String(checksum),
          appliedAt: appliedAt instanceof Date ? appliedAt : new Date(String(appliedAt))
        }))
      }).pipe(Effect.mapError(failed("Could not read the migration tracking table"))),
    apply: (table, migration, statements) =>
      transaction(sql, Effect.gen(function*() {
        for (const statement of statements) {
          yield* sql.unsafe(statement).unprepared
        }
        yield* sql.unsafe(
          `INSERT INTO ${tracking} (table_name, version, name, checksum) VALUES ($1, $2, $3, $4)`,
          [table, migration.version, migration.name, migration.checksum]
        ).unprepared
      })).pipe(
        Effect.mapError(
          failed(`Migration ${String(migration.version).padStart(4, "0")}_${migration.name} failed`, migration.version)
        )
      )
  }
}

/**
 * Options of `migrate`.
 *
 * @category models
 * @since 0.1.0
 */
export interface MigrateOptions extends Migrator.Options {
  /** Return the SQL of pending migrations instead of applying them. @default false */
  readonly dryRun?: boolean | undefined
}

/**
 * Applies pending migrations to the database of the `SqlClient` in context.
 *
 * **Details**
 *
 * Safe to run from many application instances at once: they queue on one
 * advisory lock and exactly one applies each migration. Needs a role that
 * may create tables in the current schema; the runtime role needs no DDL
 * rights at all.
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrate = (
  options?: MigrateOptions
): Effect.Effect<Migrator.MigrateResult, StorageError.MigrationError | StorageError.ConfigurationError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* Migrator.migrate(driver(sql.withoutTransforms()), yield* migrations, options)
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
    return yield* Migrator.status(driver(sql.withoutTransforms()), yield* migrations, options)
  })

/**
 * The SQL of every migration rendered for a table name, for teams that apply
 * schema changes with their own tools (Flyway, dbmate, Atlas, ...).
 *
 * **Details**
 *
 * The layers check `effect_persist_migrations` at start-up, so a team that
 * applies this SQL itself also records each version there (see the README).
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
 * Connects to a PostgreSQL server just long enough to migrate it: the one
 * call a program or deploy script needs.
 *
 * @example
 * ```ts
 * import { PgMigrator } from "@effect-persist/pg"
 * import { Effect } from "effect"
 *
 * // With a role that may create tables; the application's role needs no DDL rights.
 * await Effect.runPromise(PgMigrator.migrateUrl("postgres://migrator@db.internal/app"))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrateUrl = (
  url: string | Redacted.Redacted,
  options?: MigrateOptions
): Effect.Effect<Migrator.MigrateResult, StorageError.MigrationError | StorageError.ConfigurationError> =>
  migrate(options).pipe(
    Effect.provide(
      PgClient.layer({
        url: typeof url === "string" ? Redacted.make(url) : url,
        maxConnections: 1,
        applicationName: "effect-persist migrate"
      }).pipe(Layer.fresh)
    ),
    Effect.catchTag("SqlError", (cause) => Effect.fail(failed("Could not connect to PostgreSQL to migrate")(cause)))
  )
