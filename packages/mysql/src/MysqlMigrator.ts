/**
 * Migrations of the MySQL/MariaDB schema: the numbered files of
 * `migrations/mysql/`, applied under a named server lock (`GET_LOCK`) and
 * recorded in `effect_persist_migrations`.
 *
 * **Details**
 *
 * MySQL and MariaDB commit every DDL statement on its own, so a migration
 * cannot be rolled back as a whole, and a crash (or a failing statement)
 * can leave it half-applied. The driver therefore records a migration as
 * started before its first statement and as applied after its last one. A
 * run that finds a started migration resumes it: it runs every statement
 * again and treats "already exists" answers (a table, column or index a
 * previous attempt created, or one it dropped) as done. A first attempt does
 * not, so an unrelated table that happens to carry our name is reported, not
 * adopted.
 *
 * @since 0.1.0
 */
import { Migrator, StorageError } from "@effect-persist/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import * as Client from "./internal/client.ts"
import { describe, errnoOf, isConnectionLost } from "./internal/classify.ts"
import { files } from "./internal/migrations.ts"
import { quoteIdentifier } from "./internal/statements.ts"

/**
 * The MySQL migrations shipped with this package, in order.
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
   * How long to wait for another instance's migration to finish before
   * failing with a `MigrationError` (`Lock`).
   * @default "1 minute"
   */
  readonly lockTimeout?: Duration.Input | undefined
}

/**
 * Server answers that mean a statement's effect is already there: what a
 * resumed migration meets for the statements an interrupted attempt ran.
 */
const alreadyDone: ReadonlySet<number> = new Set([
  1050, // ER_TABLE_EXISTS_ERROR
  1051, // ER_BAD_TABLE_ERROR: the table to drop is gone
  1060, // ER_DUP_FIELDNAME
  1061, // ER_DUP_KEYNAME
  1091, // ER_CANT_DROP_FIELD_OR_KEY
  1826, // ER_FK_DUP_NAME
  3822 // ER_CHECK_CONSTRAINT_DUP_NAME (MySQL)
])

const tableMissing = 1146

// Named locks are server-wide, so the name carries the database: migrations
// of different databases on one server never wait for each other. 23 + 40
// characters, under the 64 that MySQL allows.
const lockName = "CONCAT('effect_persist_migrate:', SHA1(COALESCE(DATABASE(), '')))"

// A lost connection is Unavailable (and retryable): the layer's start-up
// check passes it on instead of reporting a schema problem.
const failed = (message: string, version?: number) => (cause: unknown) =>
  new StorageError.MigrationError({
    reason: isConnectionLost(cause) ? "Unavailable" : "Failed",
    version,
    message: `${message}: ${describe(cause)}`,
    cause
  })

const padded = (migration: Migrator.Migration) => `${String(migration.version).padStart(4, "0")}_${migration.name}`

/**
 * The migration driver for a MySQL or MariaDB client.
 *
 * **Details**
 *
 * `withLock` reserves one connection, takes the database's named lock on it
 * with `GET_LOCK`, and runs the whole migration on that connection, so that
 * concurrent migrators (in any process) run one after the other and a
 * migrator that dies releases the lock with its connection. Each migration
 * is recorded as started, then its statements run one by one, then it is
 * recorded as applied; a run that finds a started migration resumes it (see
 * the module's notes).
 *
 * @category constructors
 * @since 0.1.0
 */
export const driver = (client: SqlClient.SqlClient, options?: DriverOptions): Migrator.MigrationDriver => {
  const sql = client.withoutTransforms()
  const tracking = quoteIdentifier(Migrator.trackingTable)
  const lockSeconds = Math.max(
    0,
    Math.ceil(Duration.toSeconds(Duration.fromInputUnsafe(options?.lockTimeout ?? "1 minute")))
  )
  const readApplied = (table: string) =>
    sql.unsafe(
      `SELECT \`version\`, \`name\`, \`checksum\`, CAST(\`applied_at\` AS CHAR) FROM ${tracking}
WHERE \`table_name\` = ? AND \`applied_at\` IS NOT NULL ORDER BY \`version\``,
      [table]
    ).values
  return {
    dialect: "mysql",
    quoteIdentifier,
    withLock: (body) =>
      Effect.scoped(Effect.gen(function*() {
        const connection = yield* Effect.mapError(sql.reserve, (cause) =>
          new StorageError.MigrationError({
            reason: "Unavailable",
            message: `Could not connect to take the migration lock: ${describe(cause)}`,
            cause
          }))
        const pinned = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
          Effect.provideService(effect, sql.transactionService, [connection, 0] as const)
        const lockError = (cause: unknown) =>
          new StorageError.MigrationError({
            reason: "Lock",
            message: `Could not take the migration lock: ${describe(cause)}`,
            cause
          })
        // GET_LOCK belongs to the connection: left waiting by an interrupted
        // caller, it would be taken later by a connection back in the pool
        // and kept. So the wait is not abandoned (lockTimeout bounds it), and
        // the release is registered with the lock, in one step.
        const release = Effect.ignore(pinned(sql.unsafe(`DO RELEASE_LOCK(${lockName})`).unprepared))
        const [[acquired]] = yield* Effect.mapError(
          Effect.uninterruptible(
            Effect.tap(
              pinned(sql.unsafe(`SELECT GET_LOCK(${lockName}, ?)`, [lockSeconds]).values),
              ([[taken]]) => Number(taken) === 1 ? Effect.addFinalizer(() => release) : Effect.void
            )
          ),
          lockError
        )
        if (Number(acquired) !== 1) {
          const holder = yield* Effect.mapError(pinned(sql.unsafe(`SELECT IS_USED_LOCK(${lockName})`).values), lockError)
          return yield* new StorageError.MigrationError({
            reason: "Lock",
            message: `Another migrator (server connection ${
              String(holder[0]?.[0] ?? "unknown")
            }) held the migration lock for ${lockSeconds} seconds. Wait for it to finish and run the migration again, or pass a longer lockTimeout.`
          })
        }
        return yield* pinned(body)
      })),
    ensureTrackingTable: sql.unsafe(
      `CREATE TABLE IF NOT EXISTS ${tracking} (
  \`table_name\` VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  \`version\` INT NOT NULL,
  \`name\` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  \`checksum\` CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  \`started_at\` DATETIME(3) NOT NULL,
  \`applied_at\` DATETIME(3) NULL,
  PRIMARY KEY (\`table_name\`, \`version\`)
) ENGINE = InnoDB`
    ).unprepared.pipe(Effect.asVoid, Effect.mapError(failed("Could not create the migration tracking table"))),
    applied: (table) =>
      readApplied(table).pipe(
        // A database that was never migrated has no tracking table: nothing is applied.
        Effect.catchIf((cause) => errnoOf(cause) === tableMissing, () => Effect.succeed([])),
        Effect.map((rows) =>
          rows.map(([version, name, checksum, appliedAt]) => ({
            version: Number(version),
            name: String(name),
            checksum: String(checksum),
            appliedAt: new Date(`${String(appliedAt).replace(" ", "T")}Z`)
          }))
        ),
        Effect.mapError(failed("Could not read the migration tracking table"))
      ),
    apply: (table, migration, statements) =>
      Effect.gen(function*() {
        const started = yield* sql.unsafe(
          `SELECT 1 FROM ${tracking} WHERE \`table_name\` = ? AND \`version\` = ? AND \`applied_at\` IS NULL`,
          [table, migration.version]
        ).values
        const resuming = started.length > 0
        if (!resuming) {
          yield* sql.unsafe(
            `INSERT INTO ${tracking} (\`table_name\`, \`version\`, \`name\`, \`checksum\`, \`started_at\`, \`applied_at\`)
VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3), NULL)`,
            [table, migration.version, migration.name, migration.checksum]
          ).unprepared
        }
        for (const statement of statements) {
          yield* sql.unsafe(statement).unprepared.pipe(
            Effect.catchIf((cause) => resuming && alreadyDone.has(errnoOf(cause) ?? 0), () => Effect.succeed([]))
          )
        }
        yield* sql.unsafe(
          `UPDATE ${tracking} SET \`applied_at\` = UTC_TIMESTAMP(3), \`name\` = ?, \`checksum\` = ?
WHERE \`table_name\` = ? AND \`version\` = ?`,
          [migration.name, migration.checksum, table, migration.version]
        ).unprepared
      }).pipe(
        Effect.mapError(failed(
          `Migration ${padded(migration)} of table ${table} failed (MySQL commits DDL statement by statement; running the migration again resumes it)`,
          migration.version
        ))
      )
  }
}

/**
 * Options of `migrate` and `migrateUrl`.
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
 * `SqlClient` in context. Needs only SELECT on the tracking table.
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
    return (yield* migrations).map((m) => `-- ${padded(m)}\n${Migrator.render(m.sql, table, quoteIdentifier)}`)
      .join("\n")
  })

/**
 * Connects to `url` (`mysql://user:password@host:port/database`) just long
 * enough to migrate it: the one call a program or deploy script needs.
 *
 * **Details**
 *
 * The user needs CREATE, ALTER, INDEX, SELECT, INSERT and UPDATE on the
 * database; the application's own role does not (see the README).
 *
 * @example
 * ```ts
 * import { MysqlMigrator } from "@effect-persist/mysql"
 * import { Effect } from "effect"
 *
 * await Effect.runPromise(MysqlMigrator.migrateUrl("mysql://migrator@db.internal/app"))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrateUrl = (
  url: string | Redacted.Redacted<string>,
  options?: MigrateOptions
): Effect.Effect<Migrator.MigrateResult, StorageError.MigrationError | StorageError.ConfigurationError> =>
  migrate(options).pipe(
    Effect.provide(
      Client.layer({ url, maxConnections: 1 }, (cause) =>
        new StorageError.MigrationError({
          reason: "Unavailable",
          message: `Could not connect to ${Client.redact(url)} to migrate: ${describe(cause)}`,
          cause
        })).pipe(Layer.fresh)
    )
  )
