import { Migrator, StorageBackend, StorageError } from "@effect-persist/core"
import { SqliteBackend, SqliteMigrator } from "@effect-persist/sqlite"
import { describe, expect, it } from "@effect/vitest"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Deferred, Effect, Exit, Fiber, Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)
const child = join(import.meta.dirname, "fixtures", "child.ts")
const freshFile = () => join(mkdtempSync(join(tmpdir(), "effect-persist-sqlite-")), "store.db")
const inChild = async (filename: string, ...args: Array<string>) =>
  (await run(process.execPath, [child, filename, ...args])).stdout.trim()

const withClient = (filename: string) => SqliteBackend.layerClient({ filename })

describe("SQLite backend", () => {
  it.effect("the @effect/sql-sqlite-node patch is applied: its client is effect 4.1's SqlClient", () =>
    Effect.gen(function*() {
      const client = yield* SqliteClient.SqliteClient
      const generic = yield* SqlClient.SqlClient
      expect(generic).toBe(client)
      const rows = yield* generic.unsafe<{ readonly one: number }>("SELECT 1 AS one")
      expect(rows).toEqual([{ one: 1 }])
    }).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" }))))

  it.effect("a layer on an unmigrated database fails with a SchemaVersionError naming the command, and creates nothing", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      const exit = yield* Effect.exit(Layer.build(SqliteBackend.layer({ filename })).pipe(Effect.scoped))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail")?.error : undefined
      expect(error).toBeInstanceOf(StorageError.SchemaVersionError)
      expect((error as StorageError.SchemaVersionError).message).toContain(`effect-persist migrate --url sqlite:${filename}`)
      const tables = yield* SqlClient.SqlClient.use((sql) =>
        sql.unsafe<{ readonly name: string }>("SELECT name FROM sqlite_master")
      ).pipe(Effect.provide(withClient(filename)))
      expect(tables).toEqual([])
    }))

  it.effect("file defaults: WAL journal, 5 s busy timeout, synchronous NORMAL; each overridable", () =>
    Effect.gen(function*() {
      const pragmas = (options: Parameters<typeof SqliteBackend.layerClient>[0]) =>
        SqlClient.SqlClient.use((sql) =>
          Effect.all([
            sql.unsafe("PRAGMA journal_mode").values,
            sql.unsafe("PRAGMA busy_timeout").values,
            sql.unsafe("PRAGMA synchronous").values
          ])
        ).pipe(Effect.provide(SqliteBackend.layerClient(options)))
      expect(yield* pragmas({ filename: freshFile() })).toEqual([[["wal"]], [[5000]], [[1]]])
      expect(
        yield* pragmas({ filename: freshFile(), journalMode: "delete", busyTimeout: "250 millis", synchronous: "full" })
      ).toEqual([[["delete"]], [[250]], [[2]]])
    }))

  it.effect("a backend on its own file switches it to WAL unless told otherwise; a bad file is a ConfigurationError", () =>
    Effect.gen(function*() {
      const journalOf = (options: Omit<SqliteBackend.FileOptions, "filename">) =>
        Effect.scoped(Effect.gen(function*() {
          const filename = freshFile()
          yield* SqliteBackend.open({ filename, autoMigrate: true, ...options })
          const other = new DatabaseSync(filename)
          try {
            return other.prepare("PRAGMA journal_mode").get()
          } finally {
            other.close()
          }
        }))
      expect(yield* journalOf({})).toEqual({ journal_mode: "wal" })
      expect(yield* journalOf({ journalMode: "delete" })).toEqual({ journal_mode: "delete" })
      const notADatabase = join(mkdtempSync(join(tmpdir(), "effect-persist-sqlite-")), "text.db")
      writeFileSync(notADatabase, "this is a text file, not a database ".repeat(100))
      const error = yield* Effect.flip(Effect.scoped(SqliteBackend.open({ filename: notADatabase })))
      expect(error).toBeInstanceOf(StorageError.ConfigurationError)
      expect(error.message).toContain("file is not a database")
      expect(readFileSync(notADatabase, "utf8")).toBe("this is a text file, not a database ".repeat(100))
    }))

  it.effect("a write from another fiber during a modify waits for it, and survives the modify's rollback", () =>
    Effect.scoped(Effect.gen(function*() {
      const backend = yield* SqliteBackend.open({ filename: freshFile(), autoMigrate: true })
      yield* backend.set("ns", "counter", "1")
      const entered = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const modify = yield* Effect.forkChild(Effect.flip(backend.modify("ns", "counter", () =>
        Effect.andThen(
          Effect.andThen(Deferred.succeed(entered, undefined), Deferred.await(release)),
          Effect.fail(new StorageError.StorageError({ operation: "modify", reason: "InvalidValue", message: "refused" }))
        ))))
      yield* Deferred.await(entered)
      const write = yield* Effect.forkChild(backend.set("ns", "other", "written meanwhile"))
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow
      // The write is held back while the transaction is open.
      expect(write.pollUnsafe()).toBeUndefined()
      yield* Deferred.succeed(release, undefined)
      expect((yield* Fiber.join(modify)).message).toBe("refused")
      yield* Fiber.join(write)
      expect(yield* backend.getMany("ns", ["counter", "other"])).toEqual(["1", "written meanwhile"])
    })))

  it.effect("a get from another fiber during a modify waits for it, and reads what it committed", () =>
    Effect.scoped(Effect.gen(function*() {
      const backend = yield* SqliteBackend.open({ filename: freshFile(), autoMigrate: true })
      yield* backend.set("ns", "counter", "1")
      const entered = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const modify = yield* Effect.forkChild(backend.modify("ns", "counter", () =>
        Effect.as(Effect.andThen(Deferred.succeed(entered, undefined), Deferred.await(release)), "2")))
      yield* Deferred.await(entered)
      const read = yield* Effect.forkChild(backend.get("ns", "counter"))
      for (let i = 0; i < 5; i++) yield* Effect.yieldNow
      // Not read inside the other fiber's transaction, nor around it.
      expect(read.pollUnsafe()).toBeUndefined()
      yield* Deferred.succeed(release, undefined)
      expect(yield* Fiber.join(modify)).toBe("2")
      expect(yield* Fiber.join(read)).toBe("2")
    })))

  it.effect("modifies whose functions yield take turns on the connection: no update is lost", () =>
    Effect.scoped(Effect.gen(function*() {
      const backend = yield* SqliteBackend.open({ filename: freshFile(), autoMigrate: true })
      yield* backend.set("ns", "counter", "0")
      const increment = backend.modify("ns", "counter", (current) =>
        Effect.as(Effect.yieldNow, String(Number(current) + 1)))
      const reads = Effect.all(Array.from({ length: 10 }, () => backend.get("ns", "counter")), {
        concurrency: "unbounded"
      })
      const [, seen] = yield* Effect.all([
        Effect.all(Array.from({ length: 20 }, () => increment), { concurrency: "unbounded" }),
        reads
      ], { concurrency: "unbounded" })
      expect(yield* backend.get("ns", "counter")).toBe("20")
      for (const value of seen) expect(Number(value)).toBeLessThanOrEqual(20)
    })))

  it.live("a second process opening the same file sees what the first wrote, and the other way round", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      yield* SqliteMigrator.migrateFile(filename)
      yield* Effect.scoped(Effect.gen(function*() {
        const backend = yield* SqliteBackend.open({ filename })
        yield* backend.set("shared", "from-parent", "written by the parent")
        expect(yield* Effect.promise(() => inChild(filename, "read", "from-parent"))).toBe(
          JSON.stringify("written by the parent")
        )
        expect(yield* Effect.promise(() => inChild(filename, "write", "from-child", "written by the child"))).toBe("ok")
        expect(yield* backend.get("shared", "from-child")).toBe("written by the child")
      }))
    }), 60_000)

  it.live("several processes migrating one file at once apply each migration exactly once", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      const results = yield* Effect.promise(() => Promise.all(Array.from({ length: 4 }, () => inChild(filename, "migrate"))))
      expect(results.map(Number).sort()).toEqual([0, 0, 0, 1])
      const state = yield* SqliteMigrator.status().pipe(Effect.provide(withClient(filename)))
      expect(state.applied.map((m) => m.version)).toEqual([1])
      expect(state.pending).toEqual([])
    }), 60_000)

  it.effect("re-running migrate is idempotent; an edited migration is reported as drift and blocks migrate", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      expect((yield* SqliteMigrator.migrateFile(filename)).applied).toHaveLength(1)
      expect((yield* SqliteMigrator.migrateFile(filename)).applied).toHaveLength(0)
      yield* SqlClient.SqlClient.use((sql) =>
        sql.unsafe(`UPDATE effect_persist_migrations SET checksum = 'edited' WHERE version = 1`).raw
      ).pipe(Effect.provide(withClient(filename)))
      const state = yield* SqliteMigrator.status().pipe(Effect.provide(withClient(filename)))
      expect(state.drifted.map((d) => d.version)).toEqual([1])
      const error = yield* Effect.flip(SqliteMigrator.migrateFile(filename))
      expect(error._tag).toBe("MigrationError")
      expect(error.message).toContain("0001_create_entries")
    }))

  it.effect("a migration that fails half-way leaves the database at the previous version; a fixed re-run succeeds", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      const good = yield* SqliteMigrator.migrations
      const broken: Migrator.Migration = {
        version: 2,
        name: "broken",
        sql: "CREATE TABLE {{table:extra}} (x INTEGER);\nINSERT INTO no_such_table VALUES (1);",
        checksum: "broken"
      }
      const fixed: Migrator.Migration = { ...broken, name: "fixed", sql: "CREATE TABLE {{table:extra}} (x INTEGER);", checksum: "fixed" }
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const driver = SqliteMigrator.driver(sql)
        yield* Migrator.migrate(driver, good)
        const error = yield* Effect.flip(Migrator.migrate(driver, [...good, broken]))
        expect(error._tag).toBe("MigrationError")
        expect(error.message).toContain("0002_broken")
        const tables = yield* sql.unsafe<{ readonly name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )
        expect(tables.map((t) => t.name)).toEqual(["effect_persist_entries", "effect_persist_migrations"])
        expect((yield* Migrator.status(driver, [...good, fixed])).version).toBe(1)
        expect((yield* Migrator.migrate(driver, [...good, fixed])).applied.map((m) => m.name)).toEqual(["fixed"])
        expect((yield* Migrator.status(driver, [...good, fixed])).version).toBe(2)
      }).pipe(Effect.provide(withClient(filename)))
    }))

  it.effect("a layer on a schema older than the package refuses with a SchemaVersionError", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      yield* SqliteMigrator.migrateFile(filename)
      yield* SqlClient.SqlClient.use((sql) => sql.unsafe(`DELETE FROM effect_persist_migrations`).raw).pipe(
        Effect.provide(withClient(filename))
      )
      const error = yield* Effect.flip(Effect.scoped(SqliteBackend.open({ filename })))
      expect(error._tag).toBe("SchemaVersionError")
    }))

  it.effect("an invalid table name is a ConfigurationError before anything touches the database", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(SqliteBackend.open({ filename: ":memory:", table: "x; DROP TABLE y" })))
      expect(error._tag).toBe("ConfigurationError")
      expect(error.message).toContain("letters, digits and _")
    }))

  it.effect("reads, prefix operations, deletes and sweeps are index searches, never table scans", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const plan = (text: string, params: ReadonlyArray<unknown>) =>
        Effect.map(sql.unsafe(`EXPLAIN QUERY PLAN ${text}`, params).values, (rows) => rows.map((r) => String(r[3])).join(" | "))
      const b = new Uint8Array([1])
      const cases: ReadonlyArray<readonly [string, string, ReadonlyArray<unknown>]> = [
        ["get", `SELECT value, kind FROM effect_persist_entries WHERE namespace = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)`, [b, b, 0]],
        ["keys under a prefix", `SELECT key FROM effect_persist_entries WHERE namespace = ? AND key >= ? AND key < ? AND (expires_at IS NULL OR expires_at > ?)`, [b, b, b, 0]],
        ["clearPrefix", `DELETE FROM effect_persist_entries WHERE namespace = ? AND key >= ? AND key < ?`, [b, b, b]],
        ["sweep", `SELECT rowid FROM effect_persist_entries WHERE expires_at <= ? LIMIT ?`, [0, 10]]
      ]
      for (const [name, text, params] of cases) {
        const detail = yield* plan(text, params)
        expect(detail, name).toMatch(/SEARCH .* USING (PRIMARY KEY|INDEX|COVERING INDEX)/)
        expect(detail, name).not.toMatch(/\bSCAN\b/)
      }
    }).pipe(Effect.provide(Layer.effectDiscard(SqliteMigrator.migrate()).pipe(Layer.provideMerge(withClient(":memory:"))))))

  it("the generated migrations module matches migrations/sqlite/ (run `pnpm run generate` after editing SQL)", async () => {
    const dir = join(import.meta.dirname, "..", "..", "..", "migrations", "sqlite")
    const shipped = await Effect.runPromise(SqliteMigrator.migrations)
    const onDisk = readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()
    expect(shipped.map((m) => `${String(m.version).padStart(4, "0")}_${m.name}.sql`)).toEqual(onDisk)
    for (const m of shipped) {
      const file = `${String(m.version).padStart(4, "0")}_${m.name}.sql`
      expect(m.checksum, file).toBe(Migrator.checksum(readFileSync(join(dir, file), "utf8")))
    }
  })

  it.effect("renderSql prints the schema for a custom table name, quoted", () =>
    Effect.gen(function*() {
      const text = yield* SqliteMigrator.renderSql({ table: "my_cache" })
      expect(text).toContain(`CREATE TABLE "my_cache"`)
      expect(text).toContain(`CREATE INDEX "my_cache_expires_at" ON "my_cache"`)
      expect(text).not.toContain("{{")
    }))

  it.live("on the rollback journal, a get that meets another connection's exclusive lock waits for it, then reads", () =>
    Effect.scoped(Effect.gen(function*() {
      const filename = freshFile()
      const backend = yield* SqliteBackend.open({ filename, autoMigrate: true, journalMode: "delete" })
      yield* backend.set("ns", "k", "before")
      const other = new DatabaseSync(filename)
      other.exec("BEGIN EXCLUSIVE")
      const read = yield* Effect.forkChild(backend.get("ns", "k"))
      yield* Effect.sleep("200 millis")
      // Neither failed nor answered while the lock is held: it waits.
      expect(read.pollUnsafe()).toBeUndefined()
      other.exec("COMMIT")
      other.close()
      expect(yield* Fiber.join(read)).toBe("before")
    })))

  it.effect("a busy file makes writers wait for the lock instead of failing", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      yield* SqliteMigrator.migrateFile(filename)
      yield* Effect.scoped(Effect.gen(function*() {
        const a = yield* SqliteBackend.open({ filename })
        const b = yield* SqliteBackend.open({ filename })
        yield* Effect.all(
          Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).setMany("busy", [{ key: `k${i}`, value: String(i) }])),
          { concurrency: "unbounded" }
        )
        expect(yield* a.size("busy")).toBe(50)
      }))
    }))
})

// Keep the backend type in scope for readers of this file.
export type _ = StorageBackend.StorageBackend
