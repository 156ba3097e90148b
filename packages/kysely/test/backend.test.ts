// What the Kysely backend adds to the conformance laws: how it recognises (or
// refuses) a Kysely instance, that the instance stays the user's, plugins,
// value limits, and that every read is served by an index.
import { StorageBackend, type StorageError } from "@effect-persist/core"
import { KyselyBackend, KyselyMigrator, NodeSqliteDialect } from "@effect-persist/kysely"
import { mysqlServer, postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer } from "effect"
import { KeyValueStore, Persistence } from "effect/persistence"
import {
  CamelCasePlugin,
  DialectAdapterBase,
  Kysely,
  MssqlAdapter,
  MysqlDialect,
  PostgresDialect,
  sql,
  SqliteIntrospector,
  SqliteQueryCompiler
} from "kysely"
import { createPool } from "mysql2"
import { readFileSync } from "node:fs"
import pg from "pg"
import { afterAll } from "vitest"
import { renderKysely, target } from "../../../scripts/generate-migrations.ts"
import { specs } from "#internal/dialect"
import * as Statements from "#internal/statements"

const pgUrl = (await postgres()).url
const mysqlUrl = (await mysqlServer()).url
const pgDb = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: pgUrl }) }) })
const mysqlDb = new Kysely<any>({ dialect: new MysqlDialect({ pool: createPool(mysqlUrl) }) })
const memory = () => new Kysely<any>({ dialect: new NodeSqliteDialect({ database: ":memory:" }) })
afterAll(() => Promise.all([pgDb.destroy(), mysqlDb.destroy()]))

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isSuccess(exit) ? undefined : exit.cause.reasons.find(Cause.isFailReason)?.error

const backendOf = (layer: Layer.Layer<StorageBackend.StorageBackend, unknown>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, StorageBackend.StorageBackend))

describe("Kysely backend", () => {
  it("the generated migrations module holds every dialect's files", () => {
    expect(readFileSync(target("kysely"), "utf8")).toBe(renderKysely())
  })

  it.effect("a Kysely instance on another database is refused with a ConfigurationError listing what is supported", () =>
    Effect.gen(function*() {
      // Kysely's own SQL Server adapter; the driver is never reached.
      const sqlite = new NodeSqliteDialect({ database: ":memory:" })
      const mssql = new Kysely<any>({
        dialect: {
          createDriver: () => sqlite.createDriver(),
          createQueryCompiler: () => sqlite.createQueryCompiler(),
          createAdapter: () => new MssqlAdapter(),
          createIntrospector: (k) => sqlite.createIntrospector(k)
        }
      })
      const error = failureOf(yield* Effect.exit(KyselyBackend.make(mssql))) as StorageError.ConfigurationError
      expect(error._tag).toBe("ConfigurationError")
      expect(error.option).toBe("db")
      expect(error.message).toContain("MssqlAdapter")
      for (const supported of ["PostgreSQL", "MySQL/MariaDB", "SQLite", "NodeSqliteDialect"]) {
        expect(error.message).toContain(supported)
      }
      const notKysely = failureOf(yield* Effect.exit(KyselyBackend.make({} as any))) as StorageError.ConfigurationError
      expect(notKysely.message).toContain("not a Kysely instance")
      const migrateError = failureOf(yield* Effect.exit(KyselyMigrator.migrate(mssql)))
      expect((migrateError as StorageError.ConfigurationError)._tag).toBe("ConfigurationError")
    }))

  it.effect("an adapter from another copy of Kysely is recognised by its class name", () =>
    Effect.gen(function*() {
      // What a dialect bundling its own Kysely hands over: not an instance of
      // this package's SqliteAdapter, but a class of that name.
      class SqliteAdapter extends DialectAdapterBase {
        override get supportsMultipleConnections() {
          return false
        }
        override get supportsReturning() {
          return true
        }
        async acquireMigrationLock() {}
        async releaseMigrationLock() {}
      }
      const inner = new NodeSqliteDialect({ database: ":memory:" })
      const db = new Kysely<any>({
        dialect: {
          createDriver: () => inner.createDriver(),
          createQueryCompiler: () => new SqliteQueryCompiler(),
          createAdapter: () => new SqliteAdapter(),
          createIntrospector: (k) => new SqliteIntrospector(k)
        }
      })
      const backend = yield* KyselyBackend.make(db, { autoMigrate: true })
      expect(backend.dialect).toBe("sqlite")
      yield* backend.set("ns", "k", "v")
      expect(yield* backend.get("ns", "k")).toBe("v")
      yield* Effect.promise(() => db.destroy())
    }))

  it.effect("a transaction is refused: the store needs the Kysely instance itself", () =>
    Effect.gen(function*() {
      const db = memory()
      yield* KyselyMigrator.migrate(db)
      const exit = yield* Effect.promise(() =>
        db.transaction().execute((trx) => Effect.runPromiseExit(KyselyBackend.make(trx)))
      )
      const error = failureOf(exit) as StorageError.ConfigurationError
      expect(error.option).toBe("db")
      expect(error.message).toContain("not a transaction")
      expect(error.message).toContain("KyselyBackend.joinTransaction(trx)")
      yield* Effect.promise(() => db.destroy())
    }))

  it.effect("the instance's plugins do not reach our queries, and the instance outlives the layer", () =>
    Effect.gen(function*() {
      const db = new Kysely<any>({
        dialect: new NodeSqliteDialect({ database: ":memory:" }),
        plugins: [new CamelCasePlugin()]
      })
      yield* Effect.scoped(Effect.gen(function*() {
        const backend = yield* backendOf(KyselyBackend.layer(db, { table: "camel_entries", autoMigrate: true }))
        yield* backend.setMany("ns", [{ key: "a", value: "1", expiresAt: Date.now() + 60_000 }, { key: "b", value: "2" }])
        expect(yield* backend.getMany("ns", ["a", "b"])).toEqual(["1", "2"])
        expect((yield* KyselyMigrator.status(db, { table: "camel_entries" })).version).toBe(1)
      }))
      // The layer is gone; the user's instance still works, with its plugin.
      const rows = yield* Effect.promise(() =>
        db.selectFrom("effect_persist_migrations").select(["tableName", "version"]).execute()
      )
      expect(rows).toEqual([{ tableName: "camel_entries", version: 1 }])
      yield* Effect.promise(() => db.destroy())
    }))

  it.effect("Effect's KeyValueStore and Persistence run on the instance", () =>
    Effect.gen(function*() {
      const db = memory()
      yield* KyselyMigrator.migrate(db)
      const kv = yield* Effect.scoped(
        Effect.gen(function*() {
          const store = yield* KeyValueStore.KeyValueStore
          yield* store.set("greeting", "hello")
          yield* store.modify("greeting", (value) => `${value}, world`)
          return yield* store.get("greeting")
        }).pipe(Effect.provide(KyselyBackend.layerKeyValueStore(db, { name: "app" })))
      )
      expect(kv).toBe("hello, world")
      const stored = yield* Effect.scoped(
        Effect.gen(function*() {
          const backing = yield* Persistence.BackingPersistence
          const store = yield* backing.make("users")
          yield* store.set("u1", { name: "Ada" }, undefined)
          return yield* store.get("u1")
        }).pipe(Effect.provide(KyselyBackend.layerBackingPersistence(db)))
      )
      expect(stored).toEqual({ name: "Ada" })
      yield* Layer.build(KyselyBackend.layerPersistence(db)).pipe(Effect.scoped)
      yield* Effect.promise(() => db.destroy())
    }))

  it.effect("maxValueBytes: a bad setting is refused before anything runs; a lower limit is enforced and named", () =>
    Effect.gen(function*() {
      const db = memory()
      for (const bad of [0, -1, 1.5, Number.NaN]) {
        const error = failureOf(yield* Effect.exit(KyselyBackend.make(db, { maxValueBytes: bad, autoMigrate: true })))
        expect((error as StorageError.ConfigurationError).option).toBe("maxValueBytes")
      }
      expect((yield* KyselyMigrator.status(db)).version).toBe(0)
      const backend = yield* KyselyBackend.make(db, { maxValueBytes: 1000, autoMigrate: true })
      expect(backend.capabilities.maxValueBytes).toBe(1000)
      const error = failureOf(yield* Effect.exit(backend.set("ns", "k", new Uint8Array(1001)))) as StorageError.StorageError
      expect(error.reason).toBe("ValueTooLarge")
      expect(error.message).toContain("1000")
      yield* Effect.promise(() => db.destroy())
    }))

  it.effect("limits: keys as the native packages allow; MySQL values sized from max_allowed_packet; SQLite durability", () =>
    Effect.gen(function*() {
      const pgBackend = yield* KyselyBackend.make(pgDb, { table: "kysely_entries", autoMigrate: true })
      expect(pgBackend.capabilities).toMatchObject({ maxKeyBytes: 1300, maxValueBytes: KyselyBackend.pgMaxValueBytes, durable: true })
      const mysqlBackend = yield* KyselyBackend.make(mysqlDb, { table: "kysely_entries", autoMigrate: true })
      const packet = yield* Effect.promise(() =>
        sql<{ packet: number }>`select @@max_allowed_packet as packet`.execute(mysqlDb)
      )
      expect(mysqlBackend.capabilities.maxKeyBytes).toBe(1536)
      expect(mysqlBackend.capabilities.maxValueBytes).toBe(Math.floor((Number(packet.rows[0]!.packet) - 65536) / 2))
      const capped = yield* KyselyBackend.make(mysqlDb, { table: "kysely_entries", maxValueBytes: 2 ** 40 })
      expect(capped.capabilities.maxValueBytes).toBe(mysqlBackend.capabilities.maxValueBytes)
      const db = memory()
      const inMemory = yield* KyselyBackend.make(db, { autoMigrate: true })
      expect(inMemory.capabilities).toMatchObject({ maxKeyBytes: 65536, durable: false })
      yield* Effect.promise(() => db.destroy())
    }))

  it.effect("PostgreSQL: a stored value over maxValueBytes reads as ValueTooLarge naming the limit, never as a row node-postgres cannot hold", () =>
    Effect.gen(function*() {
      const writer = yield* KyselyBackend.make(pgDb, { table: "kysely_entries", autoMigrate: true })
      const reader = yield* KyselyBackend.make(pgDb, { table: "kysely_entries", maxValueBytes: 1000 })
      const ns = "kysely:read-limit"
      yield* writer.setMany(ns, [{ key: "big", value: new Uint8Array(2000) }, { key: "small", value: "s" }])
      const attempts: ReadonlyArray<Effect.Effect<unknown, StorageError.StorageError>> = [
        reader.get(ns, "big"),
        reader.getMany(ns, ["small", "big"]),
        reader.modify(ns, "big", (value) => Effect.succeed(value))
      ]
      for (const attempt of attempts) {
        const error = failureOf(yield* Effect.exit(attempt)) as StorageError.StorageError
        expect(error.reason).toBe("ValueTooLarge")
        expect(error.message).toContain("2000 bytes")
        expect(error.message).toContain("maxValueBytes of 1000")
      }
      expect(yield* reader.get(ns, "small")).toBe("s")
      yield* reader.set(ns, "big", "overwritten")
      expect(yield* reader.get(ns, "big")).toBe("overwritten")
      yield* writer.clear(ns)
    }))

  it.effect("a destroyed instance fails operations with a typed Unavailable error saying so", () =>
    Effect.gen(function*() {
      const db = memory()
      const backend = yield* KyselyBackend.make(db, { autoMigrate: true })
      yield* Effect.promise(() => db.destroy())
      const error = failureOf(yield* Effect.exit(backend.get("ns", "k"))) as StorageError.StorageError
      expect(error._tag).toBe("StorageError")
      expect(error.reason).toBe("Unavailable")
      expect(error.message).toContain("db.destroy()")
    }))

  it.effect("a stored row the backend cannot decode is a Corrupt error, not a defect", () =>
    Effect.gen(function*() {
      const db = memory()
      const backend = yield* KyselyBackend.make(db, { autoMigrate: true })
      yield* Effect.promise(() =>
        db.insertInto("effect_persist_entries").values({
          namespace: Buffer.from("ns"),
          key: Buffer.from("bad"),
          value: Buffer.from([0xff, 0xfe]),
          kind: 0
        }).execute()
      )
      const error = failureOf(yield* Effect.exit(backend.get("ns", "bad"))) as StorageError.StorageError
      expect(error.reason).toBe("Corrupt")
      expect(error.key).toBe("bad")
      yield* Effect.promise(() => db.destroy())
    }))
})

describe("query plans: every read and delete is served by the primary key or the expiry index", () => {
  const explain = (db: Kysely<any>, template: Statements.Template, parameters: ReadonlyArray<unknown>, prefix: string) => {
    const compiled = Statements.bind(template, parameters)
    return Effect.promise(() => db.executeQuery<any>({ ...compiled, sql: `${prefix} ${compiled.sql}` }))
      .pipe(Effect.map((result) => result.rows))
  }

  it.effect("SQLite, on a table that was never ANALYZEd", () =>
    Effect.gen(function*() {
      const db = memory()
      yield* KyselyMigrator.migrate(db, { table: "plans" })
      const q = Statements.make(db, specs.sqlite, "plans", 1024)
      const ns = Buffer.from("ns")
      const plan = (template: Statements.Template, parameters: ReadonlyArray<unknown>) =>
        Effect.map(
          explain(db, template, parameters, "EXPLAIN QUERY PLAN"),
          (rows) => rows.map((row: { detail: string }) => row.detail).join("\n")
        )
      const byKey = /SEARCH plans USING (PRIMARY KEY|INDEX sqlite_autoindex_plans_1) \(namespace=\? AND key=\?\)/
      const byRange = /SEARCH plans USING (PRIMARY KEY|INDEX sqlite_autoindex_plans_1) \(namespace=\? AND key>\? AND key<\?\)/
      expect(yield* plan(q.get, [ns, Buffer.from("k"), 0])).toMatch(byKey)
      expect(yield* plan(q.getMany(3), [ns, 0, Buffer.from("a"), Buffer.from("b"), Buffer.from("c")])).toMatch(byKey)
      expect(yield* plan(q.keysRange, [ns, Buffer.from("a"), Buffer.from("b"), 0])).toMatch(byRange)
      expect(yield* plan(q.sizeRange, [ns, Buffer.from("a"), Buffer.from("b"), 0])).toMatch(byRange)
      expect(yield* plan(q.clearRange, [ns, Buffer.from("a"), Buffer.from("b")])).toMatch(byRange)
      const sweep = yield* plan(q.sweep, [0, 10])
      expect(sweep).toMatch(/SEARCH plans USING (COVERING )?INDEX plans_expires_at \(expires_at<\?\)/)
      expect(sweep).toMatch(/SEARCH plans USING INTEGER PRIMARY KEY \(rowid=\?\)/)
      yield* Effect.promise(() => db.destroy())
    }))

  it.effect("PostgreSQL (with sequential scans priced out, so the plan shows what an index can serve)", () =>
    Effect.gen(function*() {
      yield* KyselyMigrator.migrate(pgDb, { table: "kysely_entries" })
      const plans = yield* Effect.promise(() =>
        pgDb.connection().execute(async (conn) => {
          await sql`set enable_seqscan = off`.execute(conn)
          const q = Statements.make(conn, specs.pg, "kysely_entries", 1024)
          const ns = Buffer.from("ns")
          const text = async (template: Statements.Template, parameters: ReadonlyArray<unknown>) => {
            const compiled = Statements.bind(template, parameters)
            const result = await conn.executeQuery({ ...compiled, sql: `explain ${compiled.sql}` })
            return result.rows.map((row: any) => row["QUERY PLAN"]).join("\n")
          }
          const out = {
            get: await text(q.get, [ns, Buffer.from("k"), 0]),
            getMany: await text(q.getMany(3), [ns, 0, Buffer.from("a"), Buffer.from("b"), Buffer.from("c")]),
            keysRange: await text(q.keysRange, [ns, Buffer.from("a"), Buffer.from("b"), 0]),
            sweep: await text(q.sweep, [0, 10])
          }
          await sql`reset enable_seqscan`.execute(conn)
          return out
        })
      )
      // Plain or bitmap index scans, as the table's statistics suggest; never a sequential scan.
      const scanOf = (index: string) => new RegExp(`Index (Only )?Scan (using|on) ${index}`)
      expect(plans.get).toMatch(scanOf("kysely_entries_pkey"))
      expect(plans.getMany).toMatch(scanOf("kysely_entries_pkey"))
      expect(plans.keysRange).toMatch(scanOf("kysely_entries_pkey"))
      expect(plans.sweep).toMatch(scanOf("kysely_entries_expires_at"))
      expect(Object.values(plans).join("\n")).not.toMatch(/Seq Scan/)
    }))

  it.effect("MySQL/MariaDB", () =>
    Effect.gen(function*() {
      const table = "kysely_plans"
      yield* Effect.promise(() => mysqlDb.schema.dropTable(table).ifExists().execute())
      yield* Effect.promise(() => mysqlDb.deleteFrom("effect_persist_migrations").where("table_name", "=", table).execute())
      yield* KyselyMigrator.migrate(mysqlDb, { table })
      const ns = Buffer.from("ns")
      // Rows for the planner to weigh; on an empty table it answers "impossible WHERE".
      const backend = yield* KyselyBackend.make(mysqlDb, { table })
      yield* backend.setMany("ns", Array.from({ length: 500 }, (_, i) => ({
        key: String.fromCharCode(97 + (i % 26)) + String(i),
        value: "v",
        expiresAt: i % 2 === 0 ? Date.now() + 3_600_000 : undefined
      })))
      yield* Effect.promise(() => sql`analyze table ${sql.table(table)}`.execute(mysqlDb))
      const q = Statements.make(mysqlDb.withoutPlugins(), specs.mysql, table, 1024)
      const keyOf = (template: Statements.Template, parameters: ReadonlyArray<unknown>) =>
        Effect.map(explain(mysqlDb, template, parameters, "explain"), (rows) => rows.map((row: any) => row.key))
      expect(yield* keyOf(q.get, [ns, Buffer.from("a0"), 0])).toEqual(["PRIMARY"])
      expect(yield* keyOf(q.getMany(3), [ns, 0, Buffer.from("a0"), Buffer.from("b1"), Buffer.from("c2")])).toEqual([
        "PRIMARY"
      ])
      expect(yield* keyOf(q.keysRange, [ns, Buffer.from("a"), Buffer.from("b"), 0])).toEqual(["PRIMARY"])
      expect(yield* keyOf(q.clearRange, [ns, Buffer.from("a"), Buffer.from("b")])).toEqual(["PRIMARY"])
      expect(yield* keyOf(q.sweep, [Date.now(), 10])).toEqual([`${table}_expires_at`])
    }))
})
