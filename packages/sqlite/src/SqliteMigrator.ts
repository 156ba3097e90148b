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
import * as SqlClient from "effect/sql/SqlClient"
import * as Connection from "./internal/connection.ts"
import * as Driver from "./internal/driver.ts"
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
export const driver = (sql: SqlClient.SqlClient, options?: DriverOptions): Migrator.MigrationDriver =>
  Driver.make(Connection.fromClient(sql), options)

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
  Effect.scoped(Effect.gen(function*() {
    const connection = yield* Connection.open({ filename, busyMillis: 5000 })
    return yield* Migrator.migrate(Driver.make(connection, options), yield* migrations, options)
  }))
