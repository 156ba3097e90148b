/**
 * The `effect-persist` command: migrations and operations from the shell, for
 * deploy steps and operators. Built with Effect's own `effect/cli`.
 *
 * @since 0.1.0
 */
import { KeyCodec, Migrator, StorageError } from "@effect-persist/core"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as SqlClient from "effect/sql/SqlClient"
import { type Dialect, dialects } from "./internal/dialects.ts"
import * as Target from "./internal/target.ts"

/**
 * Exit code of `status` when a migration is pending or an applied one drifted.
 *
 * @category constructors
 * @since 0.1.0
 */
export const exitPendingOrDrift = 2

/**
 * Exit code of any failure.
 *
 * @category constructors
 * @since 0.1.0
 */
export const exitFailure = 1

/**
 * Raised by a subcommand to end the process with a given exit code after its
 * output was printed (status' deploy gate).
 *
 * @category errors
 * @since 0.1.0
 */
export class ExitCode extends Error {
  readonly code: number
  constructor(code: number) {
    super(`exit ${code}`)
    this.code = code
  }
}

const url = Flag.String("url").pipe(
  Flag.withDescription(
    "Database URL: sqlite:<file>, postgres://user:pass@host/db or mysql://user:pass@host/db. Defaults to $DATABASE_URL, the place for a password (argv shows in ps and shell history); with neither, the command refuses."
  ),
  Flag.optional
)
const table = Flag.String("table").pipe(
  Flag.withDescription(`Entries table name (default ${Migrator.defaultTable}).`),
  Flag.withDefault(Migrator.defaultTable)
)
const json = Flag.Boolean("json").pipe(Flag.withDescription("Print machine-readable JSON."), Flag.withDefault(false))

const resolveTarget = (flag: Option.Option<string>) =>
  Effect.suspend(() => {
    // No database is guessed: a mistyped variable must not migrate, or
    // create, a file nobody asked for.
    const raw = Option.getOrElse(flag, () => process.env.DATABASE_URL ?? "")
    if (raw === "") {
      return Effect.fail(
        new StorageError.ConfigurationError({
          option: "url",
          message:
            "No database given: pass --url (sqlite:<file>, postgres://…, mysql://…) or set DATABASE_URL, which keeps a password out of ps and shell history."
        })
      )
    }
    const target = Target.parse(raw)
    if (target instanceof StorageError.ConfigurationError) return Effect.fail(target)
    const dialect = dialects[target.dialect]
    if (dialect === undefined) {
      return Effect.fail(
        new StorageError.ConfigurationError({ option: "url", message: `The ${target.dialect} dialect is not available in this build.` })
      )
    }
    return Effect.succeed({ target, dialect })
  })

/** Runs `f` with the dialect's client for the target, closed afterwards. */
const withDatabase = <A, E>(
  config: { readonly url: Option.Option<string>; readonly table: string },
  f: (context: { readonly target: Target.Target; readonly dialect: Dialect; readonly sql: SqlClient.SqlClient }) => Effect.Effect<A, E, SqlClient.SqlClient>
) =>
  // A table name that cannot be used is refused before anything is opened
  // (or, for SQLite, created).
  Effect.flatMap(Effect.andThen(Migrator.validateTableName(config.table), resolveTarget(config.url)), ({ target, dialect }) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return yield* f({ target, dialect, sql })
    }).pipe(Effect.provide(dialect.client(target.location).pipe(Layer.fresh))))

const printJson = (value: unknown) => Console.log(JSON.stringify(value, null, 2))
const label = (m: { readonly version: number; readonly name: string }) =>
  `${String(m.version).padStart(4, "0")}_${m.name}`

const migrate = Command.make("migrate", {
  url,
  table,
  json,
  dryRun: Flag.Boolean("dry-run").pipe(
    Flag.withDescription("Print the SQL of pending migrations without applying anything."),
    Flag.withDefault(false)
  )
}, (config) =>
  withDatabase(config, ({ target, dialect, sql }) =>
    Effect.gen(function*() {
      const result = yield* Migrator.migrate(dialect.driver(sql), yield* dialect.migrations, {
        table: config.table,
        dryRun: config.dryRun
      })
      if (config.json) {
        return yield* printJson({ url: target.display, dialect: dialect.name, ...result })
      }
      if (result.applied.length === 0) {
        return yield* Console.log(`${target.display}: table ${result.table} is up to date; nothing to apply.`)
      }
      if (result.dryRun) {
        yield* Console.log(`-- ${target.display}: ${result.applied.length} pending migration(s) for table ${result.table} (dry run, nothing applied)`)
        for (const m of result.applied) yield* Console.log(`-- ${label(m)}\n${m.sql.trim()}\n`)
        return
      }
      for (const m of result.applied) yield* Console.log(`applied ${label(m)}`)
      yield* Console.log(`${target.display}: table ${result.table} migrated to version ${result.applied.at(-1)!.version}.`)
    }))).pipe(Command.withDescription("Apply pending migrations under the migration lock."))

const status = Command.make("status", { url, table, json }, (config) =>
  withDatabase(config, ({ target, dialect, sql }) =>
    Effect.gen(function*() {
      const state = yield* Migrator.status(dialect.driver(sql), yield* dialect.migrations, { table: config.table })
      const drifted = new Set(state.drifted.map((d) => d.version))
      const clean = state.pending.length === 0 && state.drifted.length === 0 && state.unknown.length === 0
      if (config.json) {
        yield* printJson({
          url: target.display,
          dialect: dialect.name,
          table: state.table,
          version: state.version,
          latest: state.latest,
          clean,
          applied: state.applied.map((a) => ({ ...a, appliedAt: a.appliedAt.toISOString(), drifted: drifted.has(a.version) })),
          pending: state.pending.map((m) => ({ version: m.version, name: m.name })),
          drifted: state.drifted.map((d) => ({ version: d.version, name: d.name, recorded: d.checksum, expected: d.expected })),
          unknown: state.unknown.map((u) => ({ version: u.version, name: u.name }))
        })
      } else {
        yield* Console.log(`${target.display}: table ${state.table}, schema version ${state.version} of ${state.latest}`)
        for (const a of state.applied) {
          yield* Console.log(
            `  ${label(a)}  applied ${a.appliedAt.toISOString()}  ${
              drifted.has(a.version) ? "DRIFTED: the file changed since it was applied" : state.unknown.includes(a) ? "UNKNOWN to this version" : "ok"
            }`
          )
        }
        for (const m of state.pending) yield* Console.log(`  ${label(m)}  pending`)
        yield* Console.log(
          clean
            ? "up to date"
            : state.drifted.length > 0
            ? "drift: restore the changed migration files"
            : state.unknown.length > 0
            ? "the database is newer than this effect-persist: upgrade it"
            : "pending: run `effect-persist migrate`"
        )
      }
      if (!clean) return yield* Effect.fail(new ExitCode(exitPendingOrDrift))
    }))).pipe(
    Command.withDescription(
      `Show applied and pending migrations and verify checksums; exits ${exitPendingOrDrift} when anything is pending or drifted.`
    )
  )

const sqlCommand = Command.make("sql", {
  dialect: Flag.Literals("dialect", ["sqlite", "pg", "mysql"]).pipe(
    Flag.withDescription("Dialect to render the migrations for.")
  ),
  table,
  json
}, (config) =>
  Effect.gen(function*() {
    const dialect = dialects[config.dialect]
    if (dialect === undefined) {
      return yield* new StorageError.ConfigurationError({
        option: "dialect",
        message: `The ${config.dialect} dialect is not available in this build.`
      })
    }
    const text = yield* dialect.renderSql(config.table)
    if (config.json) return yield* printJson({ dialect: config.dialect, table: config.table, sql: text })
    yield* Console.log(
      `-- effect-persist schema for ${config.dialect}, table ${config.table}.\n-- Apply in order with your migration tool; record versions as it does.\n${text}`
    )
  })).pipe(Command.withDescription("Print the migrations rendered for a dialect and table name, for Flyway, dbmate, Atlas and similar tools."))

const progressBar = (done: number, total: number) => {
  const width = 30
  const filled = total === 0 ? width : Math.min(width, Math.round((done / total) * width))
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")}`
}

const sweep = Command.make("sweep", {
  url,
  table,
  json,
  batchSize: Flag.Int("batch-size").pipe(
    Flag.withDescription("Rows deleted per statement (default 1000)."),
    Flag.withDefault(1000)
  ),
  share: Flag.Finite("share").pipe(
    Flag.withDescription(
      "Share of the time spent deleting, above 0 and at most 1; the sweep pauses between batches to leave the rest to the database's other clients (default 0.5; 1 sweeps flat out)."
    ),
    Flag.withDefault(0.5)
  )
}, (config) =>
  withDatabase(config, ({ target, dialect, sql }) =>
    Effect.gen(function*() {
      const backend = yield* dialect.backend(config.table, target.location)
      const now = yield* Clock.currentTimeMillis
      const [{ expired }] = yield* sql<{ readonly expired: number | string }>`SELECT COUNT(*) AS expired FROM ${
        sql(config.table)
      } WHERE expires_at IS NOT NULL AND expires_at <= ${now}`
      const total = Number(expired)
      const tty = process.stderr.isTTY === true && !config.json
      let lastLine = 0
      const started = Date.now()
      const deleted = yield* backend.sweep({
        batchSize: config.batchSize,
        share: config.share,
        onProgress: (done) => {
          if (config.json) return
          if (tty) process.stderr.write(`\rsweeping ${progressBar(done, Math.max(total, done))}`)
          else if (done === 0 || Date.now() - lastLine >= 1000 || done >= total) {
            lastLine = Date.now()
            process.stderr.write(`sweep: ${done} of ${Math.max(total, done)} expired entries deleted\n`)
          }
        }
      })
      if (tty) process.stderr.write("\n")
      if (config.json) {
        return yield* printJson({ url: target.display, table: config.table, deleted, millis: Date.now() - started })
      }
      yield* Console.log(`${target.display}: deleted ${deleted} expired entries from ${config.table} in ${Date.now() - started} ms.`)
    }))).pipe(Command.withDescription("Delete expired entries in bounded batches."))

const inspect = Command.make("inspect", { url, table, json }, (config) =>
  withDatabase(config, ({ target, dialect, sql }) =>
    Effect.gen(function*() {
      // Fails with the schema check's actionable message on an unmigrated database.
      yield* dialect.backend(config.table, target.location)
      const now = yield* Clock.currentTimeMillis
      const rows = yield* sql<{
        readonly namespace: Uint8Array
        readonly entries: number | string
        readonly bytes: number | string | null
        readonly expired: number | string | null
      }>`SELECT namespace, COUNT(*) AS entries, SUM(OCTET_LENGTH(${sql("key")}) + OCTET_LENGTH(value)) AS bytes,
  SUM(CASE WHEN expires_at IS NOT NULL AND expires_at <= ${now} THEN 1 ELSE 0 END) AS expired
FROM ${sql(config.table)} GROUP BY namespace ORDER BY namespace`
      const namespaces = rows.map((row) => ({
        namespace: KeyCodec.decode(row.namespace),
        entries: Number(row.entries),
        bytes: Number(row.bytes ?? 0),
        expired: Number(row.expired ?? 0)
      }))
      if (config.json) {
        return yield* printJson({ url: target.display, dialect: dialect.name, table: config.table, namespaces })
      }
      yield* Console.log(`${target.display}: table ${config.table}, ${namespaces.length} namespace(s)`)
      const width = Math.max(9, ...namespaces.map((n) => JSON.stringify(n.namespace).length))
      yield* Console.log(`  ${"namespace".padEnd(width)}  ${"entries".padStart(10)}  ${"bytes".padStart(14)}  ${"expired".padStart(10)}`)
      for (const n of namespaces) {
        yield* Console.log(
          `  ${JSON.stringify(n.namespace).padEnd(width)}  ${String(n.entries).padStart(10)}  ${String(n.bytes).padStart(14)}  ${
            String(n.expired).padStart(10)
          }`
        )
      }
    }))).pipe(Command.withDescription("List namespaces with their entry counts, bytes and expired counts."))

/**
 * The `effect-persist` command with its subcommands.
 *
 * @category constructors
 * @since 0.1.0
 */
export const command = Command.make("effect-persist").pipe(
  Command.withDescription("Migrations and operations for effect-persist stores."),
  Command.withSubcommands([migrate, status, sqlCommand, sweep, inspect])
)
