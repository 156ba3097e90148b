/**
 * The migration runner: numbered SQL files rendered for a table name, applied
 * in order under a lock, recorded with checksums in a tracking table of our
 * own, and checked at layer start-up.
 *
 * **Details**
 *
 * The runner is dialect-agnostic: a dialect package supplies a
 * `MigrationDriver` (how to lock, read the tracking table and apply one
 * migration) and its migration files; everything else — ordering, rendering,
 * checksums, drift detection, dry runs and the start-up check — lives here so
 * that every dialect behaves the same.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import { ConfigurationError, MigrationError, SchemaVersionError } from "./StorageError.ts"

/**
 * The table effect-persist records applied migrations in. Never Effect's
 * `effect_sql_migrations`, which belongs to the application.
 *
 * @category constructors
 * @since 0.1.0
 */
export const trackingTable = "effect_persist_migrations"

/**
 * The default name of the entries table.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultTable = "effect_persist_entries"

/**
 * One migration file: `NNNN_name.sql`, whose SQL uses `{{table}}` for the
 * quoted entries-table name and `{{table:suffix}}` for a quoted name derived
 * from it (indexes, constraints).
 *
 * @category models
 * @since 0.1.0
 */
export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
  readonly checksum: string
}

/**
 * A row of the tracking table.
 *
 * @category models
 * @since 0.1.0
 */
export interface AppliedMigration {
  readonly version: number
  readonly name: string
  readonly checksum: string
  readonly appliedAt: Date
}

/**
 * What a dialect supplies to run migrations.
 *
 * @category models
 * @since 0.1.0
 */
export interface MigrationDriver {
  readonly dialect: string
  /** Quotes a validated identifier for this dialect. */
  readonly quoteIdentifier: (name: string) => string
  /** Runs `body` holding a lock that is exclusive across processes. */
  readonly withLock: <A, E>(body: Effect.Effect<A, E>) => Effect.Effect<A, E | MigrationError>
  /** Creates the tracking table when it does not exist. Called under the lock. */
  readonly ensureTrackingTable: Effect.Effect<void, MigrationError>
  /** Applied migrations of `table`, in version order; empty when the tracking table is missing. */
  readonly applied: (table: string) => Effect.Effect<ReadonlyArray<AppliedMigration>, MigrationError>
  /**
   * Runs a migration's statements and records it in the tracking table, as
   * one transaction where the dialect's DDL is transactional.
   */
  readonly apply: (
    table: string,
    migration: Migration,
    statements: ReadonlyArray<string>
  ) => Effect.Effect<void, MigrationError>
}

/**
 * The checksum recorded for a migration: SHA-256 of its SQL with line endings
 * normalised, so a checkout with CRLF endings is not reported as drift.
 *
 * @category constructors
 * @since 0.1.0
 */
export const checksum = (sql: string): string =>
  createHash("sha256").update(sql.replace(/\r\n/g, "\n")).digest("hex")

const fileName = /^(\d{4})_([a-z0-9_]+)\.sql$/

/**
 * Builds the ordered migration list from `{ "0001_name.sql": sql }`.
 *
 * **Details**
 *
 * Fails with a `MigrationError` (`Invalid`) when a name does not follow
 * `NNNN_name.sql` or the versions are not 1, 2, 3, ... without gaps.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromFiles = (files: Readonly<Record<string, string>>): Effect.Effect<ReadonlyArray<Migration>, MigrationError> =>
  Effect.suspend(() => {
    const migrations: Array<Migration> = []
    for (const [file, sql] of Object.entries(files)) {
      const match = fileName.exec(file)
      if (match === null) {
        return Effect.fail(
          new MigrationError({ reason: "Invalid", message: `Migration file ${file} must be named NNNN_name.sql (lower case).` })
        )
      }
      migrations.push({ version: Number(match[1]), name: match[2]!, sql, checksum: checksum(sql) })
    }
    migrations.sort((a, b) => a.version - b.version)
    for (let i = 0; i < migrations.length; i++) {
      if (migrations[i]!.version !== i + 1) {
        return Effect.fail(
          new MigrationError({
            reason: "Invalid",
            message: `Migration versions must be 1, 2, 3, ... without gaps; found ${
              migrations.map((m) => m.version).join(", ")
            }.`
          })
        )
      }
    }
    return Effect.succeed(migrations)
  })

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Longest table name accepted: 63 bytes (PostgreSQL's identifier limit) less
 * room for the longest derived index name.
 *
 * @category constructors
 * @since 0.1.0
 */
export const maxTableNameLength = 48

// SQLite refuses to create tables whose names start with "sqlite_"; a name
// one dialect refuses would pass the check and then fail when migrating.
const reservedPrefix = "sqlite_"

/**
 * Checks that a table name is a plain identifier every dialect accepts
 * unchanged: letters, digits and `_`, not starting with a digit or with
 * `sqlite_` (reserved by SQLite), at most `maxTableNameLength` characters.
 *
 * @category constructors
 * @since 0.1.0
 */
export const validateTableName = (table: string): Effect.Effect<string, ConfigurationError> =>
  typeof table === "string" && identifier.test(table) && table.length <= maxTableNameLength &&
    table.toLowerCase() !== trackingTable && !table.toLowerCase().startsWith(reservedPrefix)
    ? Effect.succeed(table)
    : Effect.fail(
      new ConfigurationError({
        option: "table",
        message: `Table name ${
          typeof table === "string" ? JSON.stringify(table) : `of type ${typeof table}`
        } is not usable: use letters, digits and _ (not starting with a digit or with ${reservedPrefix}), at most ${maxTableNameLength} characters, and not ${trackingTable}.`
      })
    )

/**
 * Renders a migration's SQL for a table name and dialect.
 *
 * @category constructors
 * @since 0.1.0
 */
export const render = (sql: string, table: string, quoteIdentifier: (name: string) => string): string =>
  sql.replace(/\{\{table(?::([a-z_]+))?\}\}/g, (_, suffix: string | undefined) =>
    quoteIdentifier(suffix === undefined ? table : `${table}_${suffix}`))

/**
 * Splits rendered SQL into statements at top-level semicolons, ignoring
 * semicolons inside quotes and comments. Empty statements are dropped.
 *
 * @category constructors
 * @since 0.1.0
 */
export const splitStatements = (sql: string): ReadonlyArray<string> => {
  const statements: Array<string> = []
  let current = ""
  let i = 0
  while (i < sql.length) {
    const char = sql[i]!
    if (char === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i)
      i = end === -1 ? sql.length : end + 1
      current += "\n"
      continue
    }
    if (char === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2)
      i = end === -1 ? sql.length : end + 2
      current += " "
      continue
    }
    if (char === "'" || char === "\"" || char === "`") {
      let end = i + 1
      while (end < sql.length) {
        if (sql[end] === char) {
          if (sql[end + 1] === char) end += 2
          else break
        } else end++
      }
      current += sql.slice(i, end + 1)
      i = end + 1
      continue
    }
    if (char === ";") {
      if (current.trim() !== "") statements.push(current.trim())
      current = ""
      i++
      continue
    }
    current += char
    i++
  }
  if (current.trim() !== "") statements.push(current.trim())
  return statements
}

/**
 * A migration's state in a database.
 *
 * @category models
 * @since 0.1.0
 */
export interface Status {
  readonly table: string
  readonly applied: ReadonlyArray<AppliedMigration>
  readonly pending: ReadonlyArray<Migration>
  /** Applied migrations whose file changed since (checksum mismatch). */
  readonly drifted: ReadonlyArray<AppliedMigration & { readonly expected: string }>
  /** Applied versions this package does not know: the database is newer than the package. */
  readonly unknown: ReadonlyArray<AppliedMigration>
  /** The version the database is at: the highest applied version. */
  readonly version: number
  /** The version this package expects. */
  readonly latest: number
}

/**
 * Compares applied migrations with the package's.
 *
 * @category constructors
 * @since 0.1.0
 */
export const compare = (
  table: string,
  migrations: ReadonlyArray<Migration>,
  applied: ReadonlyArray<AppliedMigration>
): Status => {
  const byVersion = new Map(migrations.map((m) => [m.version, m]))
  const appliedVersions = new Set(applied.map((a) => a.version))
  const drifted: Array<AppliedMigration & { readonly expected: string }> = []
  const unknown: Array<AppliedMigration> = []
  for (const row of applied) {
    const migration = byVersion.get(row.version)
    if (migration === undefined) unknown.push(row)
    else if (migration.checksum !== row.checksum) drifted.push({ ...row, expected: migration.checksum })
  }
  return {
    table,
    applied,
    pending: migrations.filter((m) => !appliedVersions.has(m.version)),
    drifted,
    unknown,
    version: applied.reduce((max, row) => Math.max(max, row.version), 0),
    latest: migrations.reduce((max, m) => Math.max(max, m.version), 0)
  }
}

/**
 * Options of `migrate` and `status`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * The entries table the migrations create and alter.
   * @default "effect_persist_entries"
   */
  readonly table?: string | undefined
}

/**
 * What `migrate` did (or, in a dry run, would do).
 *
 * @category models
 * @since 0.1.0
 */
export interface MigrateResult {
  readonly table: string
  readonly applied: ReadonlyArray<{ readonly version: number; readonly name: string; readonly sql: string }>
  readonly dryRun: boolean
}

/**
 * Reads the migration state of a table.
 *
 * @category constructors
 * @since 0.1.0
 */
export const status = (
  driver: MigrationDriver,
  migrations: ReadonlyArray<Migration>,
  options?: Options
): Effect.Effect<Status, MigrationError | ConfigurationError> =>
  Effect.gen(function*() {
    const table = yield* validateTableName(options?.table ?? defaultTable)
    return compare(table, migrations, yield* driver.applied(table))
  })

const driftError = (drifted: Status["drifted"]) =>
  new MigrationError({
    reason: "Drift",
    version: drifted[0]!.version,
    message: `Applied migration${drifted.length > 1 ? "s" : ""} ${
      drifted.map((d) => `${String(d.version).padStart(4, "0")}_${d.name}`).join(", ")
    } changed since ${drifted.length > 1 ? "they were" : "it was"} applied (checksum mismatch). Restore the original file${
      drifted.length > 1 ? "s" : ""
    }; ship schema changes as a new numbered migration.`
  })

/**
 * Applies pending migrations in order, holding the dialect's lock, so that
 * many instances starting at once migrate exactly once.
 *
 * **Details**
 *
 * Refuses to run when an applied migration's checksum no longer matches its
 * file, or when the database has migrations this package does not know. With
 * `dryRun`, nothing is executed or locked and the rendered SQL of the pending
 * migrations is returned.
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrate = (
  driver: MigrationDriver,
  migrations: ReadonlyArray<Migration>,
  options?: Options & { readonly dryRun?: boolean | undefined }
): Effect.Effect<MigrateResult, MigrationError | ConfigurationError> =>
  Effect.gen(function*() {
    const table = yield* validateTableName(options?.table ?? defaultTable)
    const renderOne = (m: Migration) => ({
      version: m.version,
      name: m.name,
      sql: render(m.sql, table, driver.quoteIdentifier)
    })
    if (options?.dryRun) {
      const current = compare(table, migrations, yield* driver.applied(table))
      if (current.drifted.length > 0) return yield* driftError(current.drifted)
      return { table, applied: current.pending.map(renderOne), dryRun: true }
    }
    return yield* driver.withLock(Effect.gen(function*() {
      yield* driver.ensureTrackingTable
      const current = compare(table, migrations, yield* driver.applied(table))
      if (current.drifted.length > 0) return yield* driftError(current.drifted)
      if (current.unknown.length > 0) {
        return yield* new MigrationError({
          reason: "Invalid",
          message: `The database has migration ${current.unknown[0]!.version} for table ${table}, which this version of effect-persist does not know: upgrade the package before migrating.`
        })
      }
      const applied: Array<MigrateResult["applied"][number]> = []
      for (const migration of current.pending) {
        const rendered = renderOne(migration)
        yield* driver.apply(table, migration, splitStatements(rendered.sql))
        applied.push(rendered)
      }
      return { table, applied, dryRun: false }
    }))
  })

/**
 * Options of `checkSchema`.
 *
 * @category models
 * @since 0.1.0
 */
export interface CheckOptions extends Options {
  /** The command that migrates this database, quoted in the error message. */
  readonly command: string
}

/**
 * The start-up check of every layer: fails with a `SchemaVersionError` naming
 * the command to run unless the table is at exactly the package's version.
 * It only reads the tracking table, so a runtime role without DDL rights can
 * run it.
 *
 * **Details**
 *
 * When the database cannot be reached, the driver's `MigrationError`
 * (`Unavailable`, `retryable`) is passed on as it is: the schema may well be
 * right, and starting again once the database is back may succeed.
 *
 * @category constructors
 * @since 0.1.0
 */
export const checkSchema = (
  driver: MigrationDriver,
  migrations: ReadonlyArray<Migration>,
  options: CheckOptions
): Effect.Effect<void, SchemaVersionError | MigrationError | ConfigurationError> =>
  Effect.gen(function*() {
    const table = yield* validateTableName(options.table ?? defaultTable)
    const applied = yield* Effect.mapError(driver.applied(table), (cause) =>
      cause.reason === "Unavailable" ? cause : new SchemaVersionError({
        dialect: driver.dialect,
        table,
        expected: migrations.length,
        found: 0,
        message: `Could not read the migration state of table ${table}: ${cause.message}`,
        cause
      }))
    const state = compare(table, migrations, applied)
    if (state.version === state.latest && state.pending.length === 0 && state.unknown.length === 0) return
    const error = (message: string) =>
      new SchemaVersionError({ dialect: driver.dialect, table, expected: state.latest, found: state.version, message })
    if (state.unknown.length > 0) {
      return yield* error(
        `The ${driver.dialect} table ${table} is at schema version ${state.version}, newer than this package's ${state.latest}: upgrade @effect-persist/${driver.dialect}.`
      )
    }
    return yield* error(
      state.version === 0
        ? `The ${driver.dialect} table ${table} has not been migrated. Run \`${options.command}\` (or pass autoMigrate: true to the layer) before starting the store.`
        : `The ${driver.dialect} table ${table} is at schema version ${state.version}, but this package needs ${state.latest}. Run \`${options.command}\` (or pass autoMigrate: true to the layer).`
    )
  })
