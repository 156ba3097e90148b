/**
 * The effect-persist schema on a Kysely instance: the same numbered
 * migrations as the native packages (`migrations/<dialect>/`), run by
 * effect-persist's own runner over Kysely (`migrate`), or handed to the
 * Kysely `Migrator` a team already runs (`provider`). Both record what they
 * applied in `effect_persist_migrations`, with the same columns as the native
 * packages, so every runner — native, Kysely, or Kysely's own `Migrator` —
 * sees one state, and a team can move between them on one database.
 *
 * @since 0.1.0
 */
import { Migrator, StorageError } from "@effect-persist/core"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { type Kysely, sql } from "kysely"
import { diagnose } from "./internal/classify.ts"
import { detect, type Name, type Spec, specs } from "./internal/dialect.ts"
import { files } from "./internal/migrations.ts"
import { attempt, CurrentSession, DatabaseFailure, reserve, type Session, transaction } from "./internal/run.ts"

/**
 * The database families this package serves, named as the native packages
 * name them: `"pg"` (PostgreSQL), `"mysql"` (MySQL and MariaDB), `"sqlite"`.
 *
 * @category models
 * @since 0.1.0
 */
export type Dialect = Name

/**
 * The migrations of a dialect, in order: the same files, and so the same
 * checksums, as its native package ships.
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrations = (
  dialect: Dialect
): Effect.Effect<ReadonlyArray<Migrator.Migration>, StorageError.MigrationError> => Migrator.fromFiles(files[dialect])

/**
 * The key of PostgreSQL's transaction-scoped advisory lock taken before the
 * tracking table is read: the same key as `@effect-persist/pg`'s, so the two
 * runners never migrate one database at once.
 *
 * @category constructors
 * @since 0.1.0
 */
export const pgLockKey = 7306651026469382515n

// Named locks are server-wide, so the name carries the database, exactly as
// @effect-persist/mysql names it, so the two runners exclude each other.
const mysqlLockName = "concat('effect_persist_migrate:', sha1(coalesce(database(), '')))"

/** Answers that mean a statement of a resumed MySQL migration already took effect. */
const alreadyDone: ReadonlySet<number> = new Set([
  1050, // ER_TABLE_EXISTS_ERROR
  1051, // ER_BAD_TABLE_ERROR: the table to drop is gone
  1060, // ER_DUP_FIELDNAME
  1061, // ER_DUP_KEYNAME
  1091, // ER_CANT_DROP_FIELD_OR_KEY
  1826, // ER_FK_DUP_NAME
  3822 // ER_CHECK_CONSTRAINT_DUP_NAME (MySQL)
])

/**
 * Options of the migration driver.
 *
 * @category models
 * @since 0.1.0
 */
export interface DriverOptions {
  /**
   * MySQL/MariaDB only: how long to wait for another instance's migration to
   * finish before failing with a `MigrationError` (`Lock`). PostgreSQL waits
   * on its advisory lock, SQLite on its busy timeout.
   * @default "1 minute"
   */
  readonly lockTimeout?: Duration.Input | undefined
}

const padded = (migration: Pick<Migrator.Migration, "version" | "name">) =>
  `${String(migration.version).padStart(4, "0")}_${migration.name}`

const makeDriver = (root: Kysely<any>, spec: Spec, options?: DriverOptions): Migrator.MigrationDriver => {
  const db = root.withoutPlugins()
  const tracking = Migrator.trackingTable

  const failed = (message: string, version?: number) => (failure: DatabaseFailure) => {
    const cause = failure.cause
    const diagnosis = diagnose(spec.name, cause)
    return new StorageError.MigrationError({
      reason: diagnosis.connectionLost || diagnosis.reason === "Unavailable" ? "Unavailable" : "Failed",
      version,
      message: `${message}: ${diagnosis.detail}`,
      cause
    })
  }

  const lockError = (message: string) => (failure: DatabaseFailure) => {
    const diagnosis = diagnose(spec.name, failure.cause)
    return new StorageError.MigrationError({
      reason: diagnosis.connectionLost ? "Unavailable" : "Lock",
      message: `${message}: ${diagnosis.detail}`,
      cause: failure.cause
    })
  }

  /** Where the steps run: the locked session's connection, else the instance itself. */
  const current = Effect.map(Effect.service(CurrentSession), (session): Session =>
    session !== undefined && session.root === root
      ? session
      : { root, connection: db, inTransaction: db.isTransaction })

  const within = <A, E, R>(session: Session, body: Effect.Effect<A, E, R>) =>
    Effect.provideService(body, CurrentSession, session)

  const lockSeconds = Math.max(
    0,
    Math.ceil(Duration.toSeconds(Duration.fromInputUnsafe(options?.lockTimeout ?? "1 minute")))
  )

  // GET_LOCK belongs to the connection: taken after its caller was
  // interrupted, it would stay with a pooled connection. So the wait is not
  // abandoned (it is bounded by lockTimeout), and a lock once taken is
  // released however the body ends.
  const mysqlLock = <A, E, R>(connection: Kysely<any>, body: Effect.Effect<A, E, R>) =>
    Effect.uninterruptibleMask((restore) => Effect.gen(function*() {
      const locked = yield* attempt(() =>
        sql<{ readonly acquired: unknown }>`select get_lock(${sql.raw(mysqlLockName)}, ${lockSeconds}) as acquired`
          .execute(connection)
      ).pipe(Effect.mapError(lockError("Could not take the migration lock")))
      if (Number(locked.rows[0]?.acquired) !== 1) {
        const holder = yield* attempt(() =>
          sql<{ readonly holder: unknown }>`select is_used_lock(${sql.raw(mysqlLockName)}) as holder`.execute(connection)
        ).pipe(Effect.mapError(lockError("Could not take the migration lock")))
        return yield* new StorageError.MigrationError({
          reason: "Lock",
          message: `Another migrator (server connection ${
            String(holder.rows[0]?.holder ?? "unknown")
          }) held the migration lock for ${lockSeconds} seconds. Wait for it to finish and run the migration again, or pass a longer lockTimeout.`
        })
      }
      return yield* Effect.ensuring(
        restore(within({ root, connection, inTransaction: connection.isTransaction }, body)),
        Effect.ignore(attempt(() => sql`select release_lock(${sql.raw(mysqlLockName)})`.execute(connection)))
      )
    }))

  const pgLock = (connection: Kysely<any>) =>
    attempt(() => sql`select pg_advisory_xact_lock(${sql.raw(String(pgLockKey))})`.execute(connection)).pipe(
      Effect.mapError(lockError(`Could not take the migration lock (pg_advisory_xact_lock(${pgLockKey}))`))
    )

  const withLock = <A, E>(body: Effect.Effect<A, E>): Effect.Effect<A, E | StorageError.MigrationError> => {
    if (spec.name === "mysql") {
      if (db.isTransaction) return mysqlLock(db, body)
      return Effect.scoped(
        Effect.flatMap(
          Effect.mapError(reserve(db), failed("Could not connect to take the migration lock")),
          (connection) => mysqlLock(connection, body)
        )
      )
    }
    // PostgreSQL and SQLite DDL is transactional: the whole run is one
    // transaction, so a failing migration leaves no trace. Inside a
    // transaction already (Kysely's Migrator hands one to `up` on
    // PostgreSQL), the run joins it.
    const run = (connection: Kysely<any>) =>
      Effect.andThen(
        spec.name === "pg" ? pgLock(connection) : Effect.void,
        within({ root, connection, inTransaction: true }, body)
      )
    if (db.isTransaction) return run(db)
    return transaction(db, spec.begin, run).pipe(
      Effect.catchIf((error): error is DatabaseFailure => error instanceof DatabaseFailure, (failure) =>
        Effect.fail(
          spec.name === "sqlite"
            ? lockError("Could not take SQLite's write lock for migrating (or commit the migration)")(failure)
            : failed("The migration transaction could not begin or commit")(failure)
        ))
    )
  }

  const createTracking = (connection: Kysely<any>) => {
    const create = connection.schema.createTable(tracking).ifNotExists()
    if (spec.name === "pg") {
      return create
        .addColumn("table_name", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("checksum", "text", (c) => c.notNull())
        .addColumn("applied_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint(`${tracking}_pkey`, ["table_name", "version"])
    }
    if (spec.name === "mysql") {
      // started_at / applied_at: MySQL commits DDL statement by statement, so
      // a migration is recorded as started before its first statement and as
      // applied after its last, and a run that finds it started resumes it.
      return create
        .addColumn("table_name", sql`varchar(64) character set ascii collate ascii_bin`, (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("name", sql`varchar(255) character set utf8mb4 collate utf8mb4_bin`, (c) => c.notNull())
        .addColumn("checksum", sql`char(64) character set ascii collate ascii_bin`, (c) => c.notNull())
        .addColumn("started_at", sql`datetime(3)`, (c) => c.notNull())
        .addColumn("applied_at", sql`datetime(3)`)
        .addPrimaryKeyConstraint(`${tracking}_pkey`, ["table_name", "version"])
        .modifyEnd(sql`engine = InnoDB`)
    }
    return create
      .addColumn("table_name", "text", (c) => c.notNull())
      .addColumn("version", "integer", (c) => c.notNull())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("checksum", "text", (c) => c.notNull())
      .addColumn("applied_at", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint(`${tracking}_pkey`, ["table_name", "version"])
  }

  const ensureTrackingTable = Effect.flatMap(current, ({ connection }) =>
    attempt(() => createTracking(connection).execute()).pipe(
      Effect.asVoid,
      Effect.mapError(failed("Could not create the migration tracking table"))
    ))

  type Row = { readonly version: unknown; readonly name: unknown; readonly checksum: unknown; readonly applied_at: unknown }

  const toApplied = (rows: ReadonlyArray<Row>): ReadonlyArray<Migrator.AppliedMigration> =>
    rows.map((row) => ({
      version: Number(row.version),
      name: String(row.name),
      checksum: String(row.checksum),
      appliedAt: row.applied_at instanceof Date
        ? row.applied_at
        : spec.name === "mysql"
        ? new Date(`${String(row.applied_at).replace(" ", "T")}Z`)
        : new Date(String(row.applied_at))
    }))

  const readApplied = (connection: Kysely<any>, table: string): Promise<ReadonlyArray<Row>> => {
    const query = connection.selectFrom(tracking).where("table_name", "=", table).orderBy("version")
    if (spec.name === "mysql") {
      // DATETIME as text: mysql2 would read it in the client's time zone; the column holds UTC.
      return query.select(["version", "name", "checksum", sql`cast(applied_at as char)`.as("applied_at")])
        .where("applied_at", "is not", null).execute()
    }
    return query.select(["version", "name", "checksum", "applied_at"]).execute()
  }

  const trackingExists = (connection: Kysely<any>): Promise<boolean> =>
    spec.name === "pg"
      ? sql<{ readonly present: boolean }>`select to_regclass(${tracking}) is not null as present`.execute(connection)
        .then((result) => result.rows[0]?.present === true)
      : connection.selectFrom("sqlite_master").select("name").where("type", "=", "table").where("name", "=", tracking)
        .execute().then((rows) => rows.length > 0)

  const applied = (table: string) =>
    Effect.flatMap(current, ({ connection }) =>
      attempt(async () => {
        if (spec.name !== "mysql") {
          return (await trackingExists(connection)) ? readApplied(connection, table) : []
        }
        return readApplied(connection, table)
      }).pipe(
        // A MySQL database that was never migrated has no tracking table: nothing is applied.
        Effect.catchIf(
          (failure) => spec.name === "mysql" && diagnose("mysql", failure.cause).errno === 1146,
          () => Effect.succeed([] as ReadonlyArray<Row>)
        ),
        Effect.map(toApplied),
        Effect.mapError(failed("Could not read the migration tracking table"))
      ))

  const run = (connection: Kysely<any>, text: string) => attempt(() => sql.raw(text).execute(connection))

  const apply = (table: string, migration: Migrator.Migration, statements: ReadonlyArray<string>) =>
    Effect.flatMap(current, (session) => {
      const failure = failed(`Migration ${padded(migration)} of table ${table} failed`, migration.version)
      if (spec.name === "mysql") {
        const connection = session.connection
        return Effect.gen(function*() {
          const started = yield* attempt(() =>
            connection.selectFrom(tracking).select("version").where("table_name", "=", table)
              .where("version", "=", migration.version).where("applied_at", "is", null).execute()
          )
          const resuming = started.length > 0
          if (!resuming) {
            yield* attempt(() =>
              connection.insertInto(tracking).values({
                table_name: table,
                version: migration.version,
                name: migration.name,
                checksum: migration.checksum,
                started_at: sql`utc_timestamp(3)`,
                applied_at: null
              }).execute()
            )
          }
          for (const text of statements) {
            yield* run(connection, text).pipe(
              Effect.catchIf(
                (f) => resuming && alreadyDone.has(diagnose("mysql", f.cause).errno ?? 0),
                () => Effect.void
              )
            )
          }
          yield* attempt(() =>
            connection.updateTable(tracking).set({
              applied_at: sql`utc_timestamp(3)`,
              name: migration.name,
              checksum: migration.checksum
            }).where("table_name", "=", table).where("version", "=", migration.version).execute()
          )
        }).pipe(
          Effect.mapError(failed(
            `Migration ${padded(migration)} of table ${table} failed (MySQL commits DDL statement by statement; running the migration again resumes it)`,
            migration.version
          ))
        )
      }
      const body = (connection: Kysely<any>) =>
        Effect.gen(function*() {
          for (const text of statements) yield* run(connection, text)
          yield* attempt(() =>
            connection.insertInto(tracking).values(
              spec.name === "pg"
                ? { table_name: table, version: migration.version, name: migration.name, checksum: migration.checksum }
                : {
                  table_name: table,
                  version: migration.version,
                  name: migration.name,
                  checksum: migration.checksum,
                  applied_at: new Date().toISOString()
                }
            ).execute()
          )
        })
      return (session.inTransaction ? body(session.connection) : transaction(db, spec.begin, body)).pipe(
        Effect.mapError(failure)
      )
    })

  return {
    dialect: "kysely",
    quoteIdentifier: spec.quoteIdentifier,
    withLock,
    ensureTrackingTable,
    applied,
    apply
  }
}

/**
 * The migration driver for a Kysely instance, for core's `Migrator`
 * functions; fails with a `ConfigurationError` when the instance's dialect is
 * not one this package serves.
 *
 * **Details**
 *
 * PostgreSQL: one transaction per run under `pg_advisory_xact_lock` (the key
 * `@effect-persist/pg` takes). SQLite: one `BEGIN IMMEDIATE` transaction,
 * which takes the database's write lock. MySQL/MariaDB: a named lock
 * (`GET_LOCK`, the name `@effect-persist/mysql` takes) on one reserved
 * connection, with the native package's resumable migrations, because MySQL
 * commits DDL statement by statement. The driver runs its queries without
 * the instance's plugins, which would rename the tracking table's columns.
 *
 * @category constructors
 * @since 0.1.0
 */
export const driver = (
  db: Kysely<any>,
  options?: DriverOptions
): Effect.Effect<Migrator.MigrationDriver, StorageError.ConfigurationError> =>
  Effect.map(detect(db), (spec) => makeDriver(db, spec, options))

/**
 * Options of `migrate`.
 *
 * @category models
 * @since 0.1.0
 */
export interface MigrateOptions extends Migrator.Options, DriverOptions {
  /** Return the SQL of pending migrations instead of applying them. @default false */
  readonly dryRun?: boolean | undefined
}

/**
 * Applies pending migrations to the database of a Kysely instance.
 *
 * **Details**
 *
 * Safe to run from many instances at once: they queue on the dialect's lock
 * and exactly one applies each migration. Needs a role that may create
 * tables; the runtime role needs only SELECT, INSERT, UPDATE and DELETE.
 *
 * @example
 * ```ts
 * import { KyselyMigrator, NodeSqliteDialect } from "@effect-persist/kysely"
 * import { Effect } from "effect"
 * import { Kysely } from "kysely"
 *
 * const db = new Kysely<object>({ dialect: new NodeSqliteDialect({ database: "app.db" }) })
 * await Effect.runPromise(KyselyMigrator.migrate(db))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrate = (
  db: Kysely<any>,
  options?: MigrateOptions
): Effect.Effect<Migrator.MigrateResult, StorageError.MigrationError | StorageError.ConfigurationError> =>
  Effect.gen(function*() {
    const spec = yield* detect(db)
    return yield* Migrator.migrate(makeDriver(db, spec, options), yield* migrations(spec.name), options)
  })

/**
 * Reads applied, pending and drifted migrations of a table. Needs only
 * SELECT on the tracking table.
 *
 * @category constructors
 * @since 0.1.0
 */
export const status = (
  db: Kysely<any>,
  options?: Migrator.Options
): Effect.Effect<Migrator.Status, StorageError.MigrationError | StorageError.ConfigurationError> =>
  Effect.gen(function*() {
    const spec = yield* detect(db)
    return yield* Migrator.status(makeDriver(db, spec), yield* migrations(spec.name), options)
  })

/**
 * The SQL of every migration of a dialect rendered for a table name, for
 * teams that apply schema changes with their own tools.
 *
 * @category constructors
 * @since 0.1.0
 */
export const renderSql = (
  dialect: Dialect,
  options?: Migrator.Options
): Effect.Effect<string, StorageError.MigrationError | StorageError.ConfigurationError> =>
  Effect.gen(function*() {
    const table = yield* Migrator.validateTableName(options?.table ?? Migrator.defaultTable)
    return (yield* migrations(dialect)).map((m) =>
      `-- ${padded(m)}\n${Migrator.render(m.sql, table, specs[dialect].quoteIdentifier)}`
    ).join("\n")
  })

/**
 * Brings a table to `version` (applying what is pending up to it) under the
 * dialect's lock: what each migration of `provider` does.
 */
const migrateTo = (
  migrationDriver: Migrator.MigrationDriver,
  all: ReadonlyArray<Migrator.Migration>,
  table: string,
  version: number
): Effect.Effect<void, StorageError.MigrationError> =>
  migrationDriver.withLock(Effect.gen(function*() {
    yield* migrationDriver.ensureTrackingTable
    const state = Migrator.compare(table, all, yield* migrationDriver.applied(table))
    const drifted = state.drifted.filter((row) => row.version <= version)
    if (drifted.length > 0) {
      return yield* new StorageError.MigrationError({
        reason: "Drift",
        version: drifted[0]!.version,
        message: `Applied migration ${
          padded(drifted[0]!)
        } of table ${table} changed since it was applied (checksum mismatch). Restore the original file; ship schema changes as a new numbered migration.`
      })
    }
    for (const migration of state.pending) {
      if (migration.version > version) break
      yield* migrationDriver.apply(
        table,
        migration,
        Migrator.splitStatements(Migrator.render(migration.sql, table, migrationDriver.quoteIdentifier))
      )
    }
  }))

/**
 * One migration as Kysely's `Migrator` runs it; described structurally, so
 * the provider fits every Kysely release this package supports.
 *
 * @category models
 * @since 0.1.0
 */
export interface KyselyMigration {
  up(db: Kysely<any>): Promise<void>
}

/**
 * A Kysely `MigrationProvider`, described structurally.
 *
 * @category models
 * @since 0.1.0
 */
export interface MigrationProvider {
  getMigrations(): Promise<Record<string, KyselyMigration>>
}

/**
 * Options of `provider`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ProviderOptions extends Migrator.Options, DriverOptions {
  /**
   * The dialect whose migrations to list. Without it the list is the one all
   * dialects share; name it if a release ever ships a migration for one
   * dialect only. Each migration still checks the database it runs on.
   */
  readonly dialect?: Dialect | undefined
}

/**
 * The name a migration carries among a team's own:
 * `effect_persist_0001_create_entries`, or for a custom table
 * `effect_persist_<table>_0001_create_entries`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrationName = (migration: Pick<Migrator.Migration, "version" | "name">, table?: string): string =>
  table === undefined || table === Migrator.defaultTable
    ? `effect_persist_${padded(migration)}`
    : `effect_persist_${table}_${padded(migration)}`

const listFor = (dialect: Dialect | undefined): Effect.Effect<ReadonlyArray<Migrator.Migration>, StorageError.MigrationError> =>
  dialect !== undefined ? migrations(dialect) : Effect.gen(function*() {
    const lists = [yield* migrations("pg"), yield* migrations("mysql"), yield* migrations("sqlite")]
    const names = lists.map((list) => list.map(padded).join(", "))
    if (names.some((n) => n !== names[0])) {
      return yield* new StorageError.MigrationError({
        reason: "Invalid",
        message:
          `effect-persist's migrations differ between dialects in this release (pg: ${names[0]}; mysql: ${names[1]}; sqlite: ${names[2]}): pass { dialect } to KyselyMigrator.provider.`
      })
    }
    return lists[0]!
  })

const toPromise = async <A>(effect: Effect.Effect<A, unknown>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}

/**
 * Our migrations as a Kysely `MigrationProvider`, for the `Migrator` a team
 * already runs.
 *
 * **Details**
 *
 * Each migration is named by `migrationName` and, when Kysely runs its `up`,
 * recognises the database it was given, renders its SQL for that dialect and
 * table, and applies it under the same lock and with the same record in
 * `effect_persist_migrations` as `migrate`. So the layers' start-up check
 * passes, and a migration that effect-persist's own runner (or the native
 * package) applied already is recorded by Kysely without running twice.
 * There is no `down`: reverting would drop stored entries.
 *
 * Kysely orders migrations by name. If your own names can sort after ours
 * (`effect_persist_…`) once applied, combine the providers with
 * `allowUnorderedMigrations: true`, as the README shows.
 *
 * @category constructors
 * @since 0.1.0
 */
export const provider = (options?: ProviderOptions): MigrationProvider => ({
  getMigrations: () =>
    toPromise(Effect.gen(function*() {
      const table = yield* Migrator.validateTableName(options?.table ?? Migrator.defaultTable)
      const list = yield* listFor(options?.dialect)
      const out: Record<string, KyselyMigration> = {}
      for (const migration of list) {
        out[migrationName(migration, table)] = {
          up: (db) =>
            toPromise(Effect.gen(function*() {
              const spec = yield* detect(db)
              if (options?.dialect !== undefined && options.dialect !== spec.name) {
                return yield* new StorageError.ConfigurationError({
                  option: "dialect",
                  message:
                    `KyselyMigrator.provider was made for ${options.dialect}, but Kysely ran it on a ${spec.label} database.`
                })
              }
              yield* migrateTo(makeDriver(db, spec, options), yield* migrations(spec.name), table, migration.version)
            }))
        }
      }
      return out
    }))
})
