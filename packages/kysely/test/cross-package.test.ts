// One table, two packages: what @effect-persist/pg (or /mysql, or /sqlite) writes,
// @effect-persist/kysely reads back exactly, and the other way round, so a
// team can move between them on one database without migrating data.
import { StorageBackend } from "@effect-persist/core"
import { KyselyBackend, KyselyMigrator, NodeSqliteDialect } from "@effect-persist/kysely"
import { MysqlBackend, MysqlMigrator } from "@effect-persist/mysql"
import { PgBackend, PgMigrator } from "@effect-persist/pg"
import { SqliteBackend, SqliteMigrator } from "@effect-persist/sqlite"
import { mysqlServer, postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Context, Effect, Layer } from "effect"
import { Kysely, MysqlDialect, PostgresDialect, sql } from "kysely"
import { createPool } from "mysql2"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import pg from "pg"
import { afterAll } from "vitest"

const table = "kysely_shared"
const pgUrl = (await postgres()).url
const mysqlUrl = (await mysqlServer()).url
const pgDb = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: pgUrl }) }) })
const mysqlDb = new Kysely<any>({ dialect: new MysqlDialect({ pool: createPool(mysqlUrl) }) })
const sqliteFile = join(mkdtempSync(join(tmpdir(), "effect-persist-kysely-cross-")), "shared.db")
const sqliteDb = new Kysely<any>({ dialect: new NodeSqliteDialect({ database: sqliteFile }) })
afterAll(() => Promise.all([pgDb.destroy(), mysqlDb.destroy(), sqliteDb.destroy()]))

const backendOf = (layer: Layer.Layer<StorageBackend.StorageBackend, unknown>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, StorageBackend.StorageBackend))

const keys = ["", "a", "A", "a ", "á", "a\u0301", "\u0000", "nul\u0000inside", "😀", "k".repeat(1024), "prefix:1", "prefix:2"]
const values: ReadonlyArray<StorageBackend.Value> = [
  "text",
  "",
  "-1.5e3",
  "a\u0000b 😀",
  new Uint8Array([0, 255, 1, 254]),
  new Uint8Array(0),
  "x".repeat(100_000),
  new Uint8Array(70_000).fill(7)
]

/** Everything one backend writes, the other reads, and the other way round. */
const roundTrip = (writer: StorageBackend.StorageBackend, reader: StorageBackend.StorageBackend, ns: string) =>
  Effect.gen(function*() {
    yield* writer.clear(ns)
    const entries = keys.map((key, i) => ({ key, value: values[i % values.length]! }))
    yield* writer.setMany(ns, entries)
    for (const { key, value } of entries) expect(yield* reader.get(ns, key), `get(${JSON.stringify(key)})`).toEqual(value)
    expect(yield* reader.getMany(ns, keys)).toEqual(entries.map((e) => e.value))
    expect([...(yield* reader.keys(ns))].sort()).toEqual([...keys].sort())
    expect([...(yield* reader.keys(ns, "prefix:"))].sort()).toEqual(["prefix:1", "prefix:2"])
    expect(yield* reader.size(ns, "a")).toBe(3)

    // Kinds survive: a string stays a string, bytes stay bytes.
    const bytes = yield* reader.get(ns, "á")
    expect(bytes).toBeInstanceOf(Uint8Array)
    expect(typeof (yield* reader.get(ns, "a"))).toBe("string")

    // Expiry is one instant for both: an entry expired for the writer is gone for the reader.
    const now = yield* Clock.currentTimeMillis
    yield* writer.set(ns, "expired", "x", now - 1)
    yield* writer.set(ns, "expiring", "y", now + 3_600_000)
    expect(yield* reader.get(ns, "expired")).toBeUndefined()
    expect(yield* reader.get(ns, "expiring")).toBe("y")
    expect(yield* reader.sweep()).toBeGreaterThanOrEqual(1)
    expect(yield* writer.size(ns)).toBe(keys.length + 1)

    // Writes of the reader are seen by the writer, modify included.
    yield* reader.set(ns, "counter", "41")
    expect(yield* writer.modify(ns, "counter", (v) => Effect.succeed(String(Number(v) + 1)))).toBe("42")
    expect(yield* reader.modify(ns, "counter", (v) => Effect.succeed(String(Number(v) + 1)))).toBe("43")
    expect(yield* writer.get(ns, "counter")).toBe("43")
    yield* reader.clearPrefix(ns, "prefix:")
    yield* reader.remove(ns, "😀")
    expect(yield* writer.getMany(ns, ["prefix:1", "prefix:2", "😀", "á"])).toEqual([undefined, undefined, undefined, bytes])
    yield* writer.clear(ns)
    expect(yield* reader.size(ns)).toBe(0)
  })

const cases = [
  {
    name: "PostgreSQL",
    db: pgDb,
    native: PgBackend.layer({ url: pgUrl, table }),
    migrateNative: PgMigrator.migrateUrl(pgUrl, { table })
  },
  {
    name: "MariaDB",
    db: mysqlDb,
    native: MysqlBackend.layer({ url: mysqlUrl, table }),
    migrateNative: MysqlMigrator.migrateUrl(mysqlUrl, { table })
  },
  {
    name: "SQLite",
    db: sqliteDb,
    native: SqliteBackend.layer({ filename: sqliteFile, table }),
    migrateNative: SqliteMigrator.migrateFile(sqliteFile, { table })
  }
] as const

describe.each(cases)("@effect-persist/kysely and the native package on one $name table", ({ db, migrateNative, native }) => {
  it.effect("the schema migrated by either runner is the same state for both", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => db.schema.dropTable(table).ifExists().execute())
      // Forget earlier runs (the tracking table may not exist yet).
      yield* Effect.tryPromise(() => sql`delete from effect_persist_migrations where table_name = ${table}`.execute(db))
        .pipe(Effect.ignore)
      // Migrated through Kysely: the native runner finds nothing to do.
      expect((yield* KyselyMigrator.migrate(db, { table })).applied.map((m) => m.version)).toEqual([1])
      expect((yield* migrateNative).applied).toEqual([])
      const status = yield* KyselyMigrator.status(db, { table })
      expect(status.version).toBe(status.latest)
      expect(status.drifted).toEqual([])
      expect(yield* KyselyMigrator.migrate(db, { table })).toMatchObject({ applied: [] })
    }))

  it.effect("entries written by the native package are read through Kysely, and back", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* KyselyMigrator.migrate(db, { table })
      const nativeBackend = yield* backendOf(native)
      const kyselyBackend = yield* backendOf(KyselyBackend.layer(db, { table }))
      yield* roundTrip(nativeBackend, kyselyBackend, "cross:native-writes")
      yield* roundTrip(kyselyBackend, nativeBackend, "cross:kysely-writes")
    })), { timeout: 60_000 })
})
