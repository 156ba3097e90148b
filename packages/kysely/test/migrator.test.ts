// The migrations over Kysely, on every dialect: our runner, Kysely's own
// Migrator through the provider, and the native packages' runners all see one
// state in effect_persist_migrations.
import { Migrator, type StorageError } from "@effect-persist/core"
import { KyselyBackend, KyselyMigrator, NodeSqliteDialect } from "@effect-persist/kysely"
import { MysqlMigrator } from "@effect-persist/mysql"
import { PgMigrator } from "@effect-persist/pg"
import { SqliteMigrator } from "@effect-persist/sqlite"
import { mysqlServer, postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer } from "effect"
import { Kysely, MysqlDialect, PostgresDialect } from "kysely"
import { Migrator as KyselyMigratorClass } from "kysely/migration"
import { createPool } from "mysql2"
import { execFile } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import pg from "pg"
import { afterAll } from "vitest"

const run = promisify(execFile)
const child = join(import.meta.dirname, "fixtures", "child.ts")
const inChild = async (...args: Array<string>) => (await run(process.execPath, [child, ...args])).stdout.trim()

const pgUrl = (await postgres()).url
const mysqlUrl = (await mysqlServer()).url
const sqliteFile = join(mkdtempSync(join(tmpdir(), "effect-persist-kysely-migrator-")), "migrator.db")

const open = {
  pg: () => new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: pgUrl, max: 4 }) }) }),
  mysql: () => new Kysely<any>({ dialect: new MysqlDialect({ pool: createPool({ uri: mysqlUrl, connectionLimit: 4 }) }) }),
  sqlite: () => new Kysely<any>({ dialect: new NodeSqliteDialect({ database: sqliteFile }) })
}
const opened: Array<Kysely<any>> = []
const connect = (dialect: keyof typeof open) => {
  const db = open[dialect]()
  opened.push(db)
  return db
}
afterAll(() => Promise.all(opened.map((db) => db.destroy())))

const cases = [
  {
    dialect: "pg" as const,
    native: (table: string) => PgMigrator.migrateUrl(pgUrl, { table }),
    nativeSql: (table: string) => PgMigrator.renderSql({ table })
  },
  {
    dialect: "mysql" as const,
    native: (table: string) => MysqlMigrator.migrateUrl(mysqlUrl, { table }),
    nativeSql: (table: string) => MysqlMigrator.renderSql({ table })
  },
  {
    dialect: "sqlite" as const,
    native: (table: string) => SqliteMigrator.migrateFile(sqliteFile, { table }),
    nativeSql: (table: string) => SqliteMigrator.renderSql({ table })
  }
]

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isSuccess(exit) ? undefined : exit.cause.reasons.find(Cause.isFailReason)?.error

const promise = <A>(thunk: () => Promise<A>) => Effect.promise(thunk)

const tableExists = (db: Kysely<any>, table: string) =>
  promise(() => db.introspection.getTables()).pipe(Effect.map((tables) => tables.some((t) => t.name === table)))

/** Drops a table and forgets its migrations (and Kysely's own bookkeeping of this test). */
const forget = (db: Kysely<any>, table: string) =>
  Effect.gen(function*() {
    yield* promise(() => db.schema.dropTable(table).ifExists().execute())
    yield* promise(() => db.schema.dropTable("kysely_test_migration").ifExists().execute())
    yield* promise(() => db.schema.dropTable("kysely_test_migration_lock").ifExists().execute())
    yield* Effect.ignore(
      Effect.tryPromise(() => db.deleteFrom(Migrator.trackingTable).where("table_name", "=", table).execute())
    )
  })

const kyselyMigrator = (db: Kysely<any>, provider: KyselyMigrator.MigrationProvider) =>
  new KyselyMigratorClass({
    db,
    provider,
    migrationTableName: "kysely_test_migration",
    migrationLockTableName: "kysely_test_migration_lock"
  })

describe.each(cases)("KyselyMigrator on $dialect", ({ dialect, native, nativeSql }) => {
  it.effect("a layer on an unmigrated table fails with a SchemaVersionError naming both ways to migrate, and creates nothing", () =>
    Effect.gen(function*() {
      const db = connect(dialect)
      const table = "kysely_mig_unmigrated"
      yield* forget(db, table)
      const exit = yield* Effect.exit(Layer.build(KyselyBackend.layer(db, { table })).pipe(Effect.scoped))
      const error = failureOf(exit) as StorageError.SchemaVersionError
      expect(error?._tag).toBe("SchemaVersionError")
      expect(error.message).toContain(`KyselyMigrator.migrate(db, { table: "${table}" })`)
      expect(error.message).toContain(`effect-persist migrate --url <database url> --table ${table}`)
      expect(yield* tableExists(db, table)).toBe(false)
    }))

  it.effect("migrate shows the SQL in a dry run, applies each migration once, and the native runner agrees", () =>
    Effect.gen(function*() {
      const db = connect(dialect)
      const table = "kysely_mig_run"
      yield* forget(db, table)
      const dry = yield* KyselyMigrator.migrate(db, { table, dryRun: true })
      expect(dry.applied.map((m) => m.version)).toEqual([1])
      expect(dry.applied[0]!.sql).toContain(table)
      expect(yield* tableExists(db, table)).toBe(false)

      const first = yield* KyselyMigrator.migrate(db, { table })
      expect(first.applied.map((m) => `${m.version}_${m.name}`)).toEqual(["1_create_entries"])
      expect((yield* KyselyMigrator.migrate(db, { table })).applied).toEqual([])
      expect((yield* native(table)).applied).toEqual([])
      const status = yield* KyselyMigrator.status(db, { table })
      expect(status).toMatchObject({ version: 1, latest: 1, pending: [], drifted: [], unknown: [] })
      expect(status.applied[0]!.appliedAt.getTime()).toBeGreaterThan(Date.now() - 3_600_000)

      // A table the native runner migrated starts a Kysely layer without autoMigrate.
      const other = "kysely_mig_native"
      yield* forget(db, other)
      yield* native(other)
      yield* Layer.build(KyselyBackend.layer(db, { table: other })).pipe(Effect.scoped)
      yield* forget(db, other)
    }))

  it.effect("renderSql gives the native package's SQL", () =>
    Effect.gen(function*() {
      expect(yield* KyselyMigrator.renderSql(dialect, { table: "app_cache" })).toBe(yield* nativeSql("app_cache"))
    }))

  it.effect("Kysely's own Migrator runs our migrations through the provider, recorded where the layers look", () =>
    Effect.gen(function*() {
      const db = connect(dialect)
      const table = "kysely_mig_provider"
      yield* forget(db, table)
      const migrator = kyselyMigrator(db, KyselyMigrator.provider({ table }))
      const result = yield* promise(() => migrator.migrateToLatest())
      expect(result.error).toBeUndefined()
      expect(result.results).toEqual([
        { migrationName: `effect_persist_${table}_0001_create_entries`, direction: "Up", status: "Success" }
      ])
      expect(yield* tableExists(db, table)).toBe(true)
      yield* Layer.build(KyselyBackend.layer(db, { table })).pipe(Effect.scoped)
      expect((yield* KyselyMigrator.migrate(db, { table })).applied).toEqual([])
      expect((yield* native(table)).applied).toEqual([])
    }))

  it.effect("the provider records a migration our runner applied already, without running it twice", () =>
    Effect.gen(function*() {
      const db = connect(dialect)
      const table = "kysely_mig_provider_after"
      yield* forget(db, table)
      yield* KyselyMigrator.migrate(db, { table })
      yield* promise(() => db.insertInto(table).values({
        namespace: Buffer.from("ns"),
        key: Buffer.from("kept"),
        value: Buffer.from("v"),
        kind: 0
      }).execute())
      const result = yield* promise(() => kyselyMigrator(db, KyselyMigrator.provider({ table })).migrateToLatest())
      expect(result.error).toBeUndefined()
      expect(result.results?.map((r) => r.status)).toEqual(["Success"])
      const rows = yield* promise(() => db.selectFrom(table).select("key").execute())
      expect(rows).toHaveLength(1)
      yield* forget(db, table)
    }))

  it.effect("the default table's migrations are named effect_persist_0001_create_entries", () =>
    Effect.gen(function*() {
      const migrations = yield* promise(() => KyselyMigrator.provider().getMigrations())
      expect(Object.keys(migrations)).toEqual(["effect_persist_0001_create_entries"])
      const forDialect = yield* promise(() => KyselyMigrator.provider({ dialect, table: "app_cache" }).getMigrations())
      expect(Object.keys(forDialect)).toEqual(["effect_persist_app_cache_0001_create_entries"])
    }))

  it.effect("a provider made for another dialect refuses to run, and an invalid table name is refused", () =>
    Effect.gen(function*() {
      const db = connect(dialect)
      const otherDialect = dialect === "pg" ? "sqlite" : "pg"
      const wrong = yield* promise(() =>
        kyselyMigrator(db, KyselyMigrator.provider({ dialect: otherDialect, table: "kysely_mig_wrong" }))
          .migrateToLatest()
      )
      expect(String(wrong.error)).toContain(`made for ${otherDialect}`)
      yield* forget(db, "kysely_mig_wrong")
      const invalid = yield* Effect.exit(
        Effect.tryPromise(() => KyselyMigrator.provider({ table: "no spaces allowed" }).getMigrations())
      )
      expect(Exit.isFailure(invalid)).toBe(true)
    }))

  it.effect("migrators racing on one table apply each migration exactly once", () =>
    Effect.gen(function*() {
      const table = "kysely_mig_concurrent"
      yield* forget(connect(dialect), table)
      // SQLite: one process per migrator, as in production (node:sqlite waits
      // for another connection's lock synchronously, so connections racing in
      // one thread would wait for each other); the servers: one pool each.
      const applied = dialect === "sqlite"
        ? yield* Effect.all(
          Array.from({ length: 4 }, () => promise(() => inChild(sqliteFile, "migrate", table))),
          { concurrency: "unbounded" }
        ).pipe(Effect.map((outputs) => outputs.map(Number)))
        : yield* Effect.all(
          Array.from({ length: 4 }, () => KyselyMigrator.migrate(connect(dialect), { table })),
          { concurrency: "unbounded" }
        ).pipe(Effect.map((results) => results.map((r) => r.applied.length)))
      expect(applied.reduce((a, b) => a + b, 0)).toBe(1)
      expect((yield* KyselyMigrator.status(connect(dialect), { table })).version).toBe(1)
      yield* forget(connect(dialect), table)
    }), { timeout: 60_000 })

  it.effect("an applied migration whose checksum changed is refused as drift", () =>
    Effect.gen(function*() {
      const db = connect(dialect)
      const table = "kysely_mig_drift"
      yield* forget(db, table)
      yield* KyselyMigrator.migrate(db, { table })
      yield* promise(() =>
        db.updateTable(Migrator.trackingTable).set({ checksum: "0".repeat(64) }).where("table_name", "=", table)
          .execute()
      )
      const error = failureOf(yield* Effect.exit(KyselyMigrator.migrate(db, { table }))) as StorageError.MigrationError
      expect(error.reason).toBe("Drift")
      expect(error.message).toContain("0001_create_entries")
      expect((yield* KyselyMigrator.status(db, { table })).drifted.map((d) => d.version)).toEqual([1])
      const provided = yield* promise(() => kyselyMigrator(db, KyselyMigrator.provider({ table })).migrateToLatest())
      expect(String(provided.error)).toContain("checksum mismatch")
      yield* forget(db, table)
    }))

  it.effect("the tracking table has the native packages' columns", () =>
    Effect.gen(function*() {
      const db = connect(dialect)
      yield* KyselyMigrator.migrate(db, { table: "kysely_mig_columns" })
      const tables = yield* promise(() => db.introspection.getTables())
      const tracking = tables.find((t) => t.name === Migrator.trackingTable)!
      const columns = tracking.columns.map((c) => c.name).sort()
      expect(columns).toEqual(
        dialect === "mysql"
          ? ["applied_at", "checksum", "name", "started_at", "table_name", "version"]
          : ["applied_at", "checksum", "name", "table_name", "version"]
      )
      yield* forget(db, "kysely_mig_columns")
    }))
})
