// Migrations on a real server: the start-up check, idempotent runs, the
// named lock across processes, and resuming after a migrator dies between
// two statements of a migration (MySQL commits DDL statement by statement).
import { Migrator, StorageError } from "@effect-persist/core"
import { MysqlBackend, MysqlMigrator } from "@effect-persist/mysql"
import { mysqlServer } from "@effect-persist/test-servers"
import { afterAll, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { adminLayer, dropTables, runToken, urlAs, withAdmin } from "./fixtures/admin.ts"
import { auditSql, withAudit } from "./fixtures/migrations.ts"
import { run } from "./fixtures/processes.ts"
import { databaseOf, temporaryUser } from "./fixtures/users.ts"

const server = await mysqlServer()
const url = server.url
const tables = {
  unmigrated: `ep_mig_unmigrated_${runToken}`,
  once: `ep_mig_once_${runToken}`,
  foreign: `ep_mig_foreign_${runToken}`,
  locked: `ep_mig_locked_${runToken}`,
  concurrent: `ep_mig_concurrent_${runToken}`,
  crash: `ep_mig_crash_${runToken}`,
  unrecorded: `ep_mig_unrecorded_${runToken}`
}

const tableExists = (sql: SqlClient.SqlClient, table: string) =>
  Effect.map(
    sql.unsafe("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", [
      table
    ]).values,
    ([[count]]) => Number(count) === 1
  )

const columnCount = (sql: SqlClient.SqlClient, table: string, column: string) =>
  Effect.map(
    sql.unsafe(
      "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
      [table, column]
    ).values,
    ([[count]]) => Number(count)
  )

const trackingRows = (sql: SqlClient.SqlClient, table: string) =>
  Effect.map(
    sql.unsafe(
      "SELECT `version`, `applied_at` IS NOT NULL FROM effect_persist_migrations WHERE `table_name` = ? ORDER BY `version`",
      [table]
    ).values,
    (rows) => rows.map(([version, applied]) => ({ version: Number(version), applied: Number(applied) === 1 }))
  )

// Polls until `check` holds; the test's own timeout bounds the wait.
const waitUntil = <A>(check: Effect.Effect<A | undefined, unknown>): Effect.Effect<A, unknown> =>
  Effect.flatMap(check, (found) =>
    found === undefined ? Effect.flatMap(Effect.sleep("50 millis"), () => waitUntil(check)) : Effect.succeed(found))

const migrateWith = (migrations: ReadonlyArray<Migrator.Migration>, table: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* Migrator.migrate(MysqlMigrator.driver(sql), migrations, { table })
  })

// The lock name the driver takes, so a test can hold it.
const lockName = "CONCAT('effect_persist_migrate:', SHA1(COALESCE(DATABASE(), '')))"

// Takes the migration lock on a connection of its own, released by
// `release` or, at the latest, when the test ends (a held lock would stall
// every later migration).
const holdLock = (sql: SqlClient.SqlClient) =>
  Effect.gen(function*() {
    const connection = yield* sql.reserve
    // Another migrator on the server (another test run) may hold it briefly.
    const [[taken]] = yield* connection.executeValues(`SELECT GET_LOCK(${lockName}, 30)`, [])
    expect(Number(taken)).toBe(1)
    const release = Effect.asVoid(connection.executeValues(`DO RELEASE_LOCK(${lockName})`, []))
    yield* Effect.addFinalizer(() => Effect.ignore(release))
    const [[id]] = yield* connection.executeValues("SELECT CONNECTION_ID()", [])
    return { id: Number(id), release }
  })

afterAll(() =>
  withAdmin(url, (sql) => dropTables(sql, ...Object.values(tables), `${tables.crash}_audit`, `${tables.unrecorded}_audit`))
)

layer(adminLayer(url), { excludeTestServices: true })("MysqlMigrator", (it) => {
  it.effect("a layer on an unmigrated table fails with SchemaVersionError naming the command, and creates nothing", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* dropTables(sql, tables.unmigrated)
      const exit = yield* Effect.exit(
        Layer.build(MysqlBackend.layer({ url, table: tables.unmigrated })).pipe(Effect.scoped)
      )
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      expect(error?._tag === "Fail" && error.error).toBeInstanceOf(StorageError.SchemaVersionError)
      const message = error?._tag === "Fail" ? (error.error as StorageError.SchemaVersionError).message : ""
      expect(message).toContain("MysqlMigrator.migrateUrl(")
      expect(message).toContain(tables.unmigrated)
      expect(message).not.toContain("root:") // no credentials in messages
      expect(yield* tableExists(sql, tables.unmigrated)).toBe(false)
    }))

  it.effect("migrateUrl applies each migration once; status and a dry run agree", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const table = tables.once
      yield* dropTables(sql, table)
      const dry = yield* MysqlMigrator.migrateUrl(url, { table, dryRun: true })
      expect(dry.dryRun).toBe(true)
      expect(dry.applied.map((m) => m.version)).toEqual([1])
      expect(dry.applied[0]!.sql).toContain(`CREATE TABLE \`${table}\``)
      expect(yield* tableExists(sql, table)).toBe(false)

      expect((yield* MysqlMigrator.migrateUrl(url, { table })).applied.map((m) => m.version)).toEqual([1])
      expect((yield* MysqlMigrator.migrateUrl(url, { table })).applied).toEqual([])
      const status = yield* MysqlMigrator.status({ table })
      expect(status.version).toBe(status.latest)
      expect(status.pending).toEqual([])
      expect(status.drifted).toEqual([])
      expect(yield* trackingRows(sql, table)).toEqual([{ version: 1, applied: true }])
      // The layer now starts without migrating.
      yield* Layer.build(MysqlBackend.layer({ url, table })).pipe(Effect.scoped)
    }))

  it.effect("renderSql prints the schema for a custom table name", () =>
    Effect.gen(function*() {
      const text = yield* MysqlMigrator.renderSql({ table: "my_cache" })
      expect(text).toContain("-- 0001_create_entries")
      expect(text).toContain("CREATE TABLE `my_cache`")
      expect(text).toContain("INDEX `my_cache_expires_at`")
      expect(text).toContain("VARBINARY(1536)")
      expect(text).not.toContain("{{")
      const invalid = yield* Effect.flip(MysqlMigrator.renderSql({ table: "my-cache; DROP TABLE x" }))
      expect(invalid).toBeInstanceOf(StorageError.ConfigurationError)
    }))

  it.effect("a first run does not adopt an unrelated table that has the entries table's name", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const table = tables.foreign
      yield* dropTables(sql, table)
      yield* sql.unsafe(`CREATE TABLE \`${table}\` (id INT PRIMARY KEY)`).unprepared
      const error = yield* Effect.flip(MysqlMigrator.migrateUrl(url, { table }))
      expect(error).toBeInstanceOf(StorageError.MigrationError)
      expect((error as StorageError.MigrationError).reason).toBe("Failed")
      expect(error.message).toContain("already exists")
      expect((yield* MysqlMigrator.status({ table })).version).toBe(0)
      yield* dropTables(sql, table)
    }))

  it.effect("a migrator waiting longer than lockTimeout fails with a Lock error", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const table = tables.locked
      yield* dropTables(sql, table)
      const holder = yield* holdLock(sql)
      const error = yield* Effect.flip(MysqlMigrator.migrateUrl(url, { table, lockTimeout: "1 second" }))
      expect(error).toBeInstanceOf(StorageError.MigrationError)
      expect((error as StorageError.MigrationError).reason).toBe("Lock")
      expect(error.message).toContain(`server connection ${holder.id}`)
      yield* holder.release
      expect(yield* tableExists(sql, table)).toBe(false)
    }))

  it.effect("concurrent migrators in separate processes migrate exactly once", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const table = tables.concurrent
      const processes = 5
      yield* dropTables(sql, table)
      // The migrators connect as a user of their own, so that the test can
      // tell their connections from any other client's.
      const user = `ep_migrator_${runToken}`
      yield* temporaryUser(sql, user, "migrator-secret", [`ALL PRIVILEGES ON \`${databaseOf(url)}\`.*`])
      // Hold the lock until every migrator is waiting for it, so that they
      // all contend for it at the same moment.
      const holder = yield* holdLock(sql)
      const children = Array.from(
        { length: processes },
        () => run("migrate.ts", [urlAs(url, user, "migrator-secret"), table, "package"])
      )
      const exited = children.map(() => false)
      children.forEach((child, i) => void child.done.then(() => exited[i] = true))
      yield* waitUntil(Effect.gen(function*() {
        // A migrator that ends before the lock is released has failed: stop waiting.
        if (exited.some(Boolean)) return true
        const [[waiting]] = yield* sql.unsafe(
          "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ? AND STATE = 'User lock'",
          [user]
        ).values
        return Number(waiting) === processes ? true : undefined
      }))
      yield* holder.release
      const results = yield* Effect.promise(() => Promise.all(children.map((child) => child.done)))
      for (const result of results) expect(result.code, result.stderr).toBe(0)
      const applied = results.map((result) => JSON.parse(result.stdout).applied as Array<number>)
      expect(applied.filter((versions) => versions.length > 0)).toEqual([[1]])
      expect(yield* trackingRows(sql, table)).toEqual([{ version: 1, applied: true }])
      expect(yield* tableExists(sql, table)).toBe(true)
    }))

  it.effect("a migrator killed between two statements of a migration is resumed by the next run", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const table = tables.crash
      yield* dropTables(sql, table, `${table}_audit`)
      yield* MysqlMigrator.migrateUrl(url, { table })

      // An open transaction that has read the entries table holds a metadata
      // lock that the migration's ALTER TABLE (its second statement) waits for.
      const blocker = yield* sql.reserve
      yield* blocker.executeUnprepared("BEGIN", [], undefined)
      yield* blocker.executeUnprepared(`SELECT COUNT(*) FROM \`${table}\``, [], undefined)

      const child = run("migrate.ts", [url, table, "audit"])
      const serverThread = yield* waitUntil(Effect.map(
        sql.unsafe(
          "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE ? AND STATE LIKE '%metadata lock%'",
          [`ALTER TABLE \`${table}\` ADD COLUMN%`]
        ).values,
        (rows) => rows.length === 1 ? Number(rows[0]![0]) : undefined
      ))
      // The first statement ran, the second is waiting: kill the process, and
      // its server thread, as a crash of the host would.
      expect(yield* tableExists(sql, `${table}_audit`)).toBe(true)
      child.process.kill("SIGKILL")
      const ended = yield* Effect.promise(() => child.done)
      expect(ended.signal).toBe("SIGKILL")
      yield* sql.unsafe(`KILL ${serverThread}`).unprepared
      yield* blocker.executeUnprepared("ROLLBACK", [], undefined)

      expect(yield* columnCount(sql, table, "audit_id")).toBe(0)
      expect(yield* trackingRows(sql, table)).toEqual([{ version: 1, applied: true }, { version: 2, applied: false }])
      const migrations = yield* withAudit
      const pending = Migrator.compare(table, migrations, (yield* MysqlMigrator.status({ table })).applied).pending
      expect(pending.map((m) => m.version)).toEqual([2])

      // The next run resumes: the side table already exists, the column is added once.
      expect((yield* migrateWith(migrations, table)).applied.map((m) => m.version)).toEqual([2])
      expect(yield* columnCount(sql, table, "audit_id")).toBe(1)
      expect(yield* trackingRows(sql, table)).toEqual([{ version: 1, applied: true }, { version: 2, applied: true }])
      expect((yield* migrateWith(migrations, table)).applied).toEqual([])
      yield* dropTables(sql, table, `${table}_audit`)
    }))

  it.effect("a migration whose statements all ran but was never recorded is completed by the next run", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const table = tables.unrecorded
      yield* dropTables(sql, table, `${table}_audit`)
      yield* MysqlMigrator.migrateUrl(url, { table })
      const migrations = yield* withAudit
      // What a migrator leaves when it dies after the last statement of
      // migration 2 and before recording it as applied.
      yield* sql.unsafe(
        "INSERT INTO effect_persist_migrations (`table_name`, `version`, `name`, `checksum`, `started_at`) VALUES (?, 2, 'add_audit', ?, UTC_TIMESTAMP(3))",
        [table, Migrator.checksum(auditSql)]
      ).unprepared
      for (const statement of Migrator.splitStatements(Migrator.render(auditSql, table, (name) => `\`${name}\``))) {
        yield* sql.unsafe(statement).unprepared
      }
      expect((yield* migrateWith(migrations, table)).applied.map((m) => m.version)).toEqual([2])
      expect(yield* columnCount(sql, table, "audit_id")).toBe(1)
      expect(yield* trackingRows(sql, table)).toEqual([{ version: 1, applied: true }, { version: 2, applied: true }])
      yield* dropTables(sql, table, `${table}_audit`)
    }))
})
