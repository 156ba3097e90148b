// NodeSqliteDialect as a Kysely dialect in its own right, and the SQLite
// backend across processes: settings, queries, transactions, streaming, and
// atomic modify between processes sharing one file.
import { KyselyBackend, NodeSqliteDialect } from "@effect-persist/kysely"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Kysely, sql } from "kysely"
import { execFile } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { promisify } from "node:util"

const dir = mkdtempSync(join(tmpdir(), "effect-persist-node-sqlite-"))
const run = promisify(execFile)
const child = join(import.meta.dirname, "fixtures", "child.ts")

const pragma = async (db: Kysely<any>, name: string) => {
  const result = await sql<Record<string, unknown>>`${sql.raw(`pragma ${name}`)}`.execute(db)
  return Object.values(result.rows[0]!)[0]
}

const withDb = async <A>(db: Kysely<any>, f: (db: Kysely<any>) => Promise<A>): Promise<A> => {
  try {
    return await f(db)
  } finally {
    await db.destroy()
  }
}

describe("NodeSqliteDialect", () => {
  it("a file it opens gets WAL, a 5 s busy timeout and synchronous = NORMAL", () =>
    withDb(new Kysely<any>({ dialect: new NodeSqliteDialect({ database: join(dir, "defaults.db") }) }), async (db) => {
      expect(await pragma(db, "journal_mode")).toBe("wal")
      expect(await pragma(db, "busy_timeout")).toBe(5000)
      expect(await pragma(db, "synchronous")).toBe(1)
    }))

  it("each setting can be chosen", () =>
    withDb(
      new Kysely<any>({
        dialect: new NodeSqliteDialect({
          database: join(dir, "chosen.db"),
          busyTimeout: 1234,
          journalMode: "delete",
          synchronous: "full"
        })
      }),
      async (db) => {
        expect(await pragma(db, "journal_mode")).toBe("delete")
        expect(await pragma(db, "busy_timeout")).toBe(1234)
        expect(await pragma(db, "synchronous")).toBe(2)
      }
    ))

  it("a database you pass in keeps its own settings except those you give", async () => {
    const file = join(dir, "passed.db")
    const database = new DatabaseSync(file)
    await withDb(new Kysely<any>({ dialect: new NodeSqliteDialect({ database, busyTimeout: 250 }) }), async (db) => {
      expect(await pragma(db, "journal_mode")).toBe("delete")
      expect(await pragma(db, "busy_timeout")).toBe(250)
    })
    expect(database.isOpen).toBe(false)
    const viaFactory = new Kysely<any>({ dialect: new NodeSqliteDialect({ database: async () => new DatabaseSync(file) }) })
    await withDb(viaFactory, async (db) => expect(await pragma(db, "journal_mode")).toBe("delete"))
  })

  it("settings that cannot work are refused when the dialect is made", () => {
    expect(() => new NodeSqliteDialect({ database: ":memory:", busyTimeout: -1 })).toThrow(/busyTimeout/)
    expect(() => new NodeSqliteDialect({ database: ":memory:", statementCacheSize: 1.5 })).toThrow(/statementCacheSize/)
    expect(() => new NodeSqliteDialect({ database: 42 as any })).toThrow(/database/)
    expect(() => new NodeSqliteDialect({ database: ":memory:", journalMode: "memory" as any })).toThrow(/journalMode/)
  })

  for (const statementCacheSize of [128, 0]) {
    it(`queries, results and affected rows (statement cache of ${statementCacheSize})`, () =>
      withDb(new Kysely<any>({ dialect: new NodeSqliteDialect({ database: ":memory:", statementCacheSize }) }), async (db) => {
        await db.schema.createTable("t").addColumn("id", "integer", (c) => c.primaryKey()).addColumn("name", "text")
          .addColumn("flag", "integer").addColumn("data", "blob").execute()
        const inserted = await db.insertInto("t").values([
          { id: 1, name: "a", flag: true, data: Buffer.from([1, 2]) },
          { id: 2, name: "b", flag: false, data: null }
        ]).executeTakeFirstOrThrow()
        expect(inserted.numInsertedOrUpdatedRows).toBe(2n)
        expect(inserted.insertId).toBe(2n)
        for (let i = 0; i < 3; i++) {
          expect(await db.selectFrom("t").select(["id", "name", "flag"]).orderBy("id").execute()).toEqual([
            { id: 1, name: "a", flag: 1 },
            { id: 2, name: "b", flag: 0 }
          ])
        }
        const data = await db.selectFrom("t").select("data").where("id", "=", 1).executeTakeFirstOrThrow()
        expect(Array.from(data.data as Uint8Array)).toEqual([1, 2])
        const updated = await db.updateTable("t").set({ name: "c" }).where("id", "=", 2).returning(["id", "name"])
          .execute()
        expect(updated).toEqual([{ id: 2, name: "c" }])
        const deleted = await db.deleteFrom("t").where("id", ">", 0).executeTakeFirstOrThrow()
        expect(deleted.numDeletedRows).toBe(2n)
      }))
  }

  it("transactions commit and roll back, savepoints included; queries stream", () =>
    withDb(new Kysely<any>({ dialect: new NodeSqliteDialect({ database: ":memory:" }) }), async (db) => {
      await db.schema.createTable("t").addColumn("id", "integer").execute()
      await db.transaction().execute((trx) => trx.insertInto("t").values({ id: 1 }).execute())
      await expect(
        db.transaction().execute(async (trx) => {
          await trx.insertInto("t").values({ id: 2 }).execute()
          throw new Error("abort")
        })
      ).rejects.toThrow("abort")
      const trx = await db.startTransaction().execute()
      await trx.insertInto("t").values({ id: 3 }).execute()
      const savepoint = await trx.savepoint("before_four").execute()
      await savepoint.insertInto("t").values({ id: 4 }).execute()
      await savepoint.rollbackToSavepoint("before_four").execute()
      await trx.commit().execute()
      const streamed: Array<number> = []
      for await (const row of db.selectFrom("t").select("id").orderBy("id").stream()) streamed.push(row.id)
      expect(streamed).toEqual([1, 3])
    }))

  it("a stream left early ends its read, so another connection can checkpoint the WAL", async () => {
    const file = join(dir, "stream.db")
    await withDb(new Kysely<any>({ dialect: new NodeSqliteDialect({ database: file }) }), async (db) => {
      await db.schema.createTable("t").addColumn("id", "integer").execute()
      await db.insertInto("t").values([{ id: 1 }, { id: 2 }, { id: 3 }]).execute()
      for await (const row of db.selectFrom("t").select("id").orderBy("id").stream()) {
        expect(row.id).toBe(1)
        break
      }
      const other = new DatabaseSync(file)
      const [checkpoint] = other.prepare("pragma wal_checkpoint(truncate)").all() as Array<{ busy: number }>
      other.close()
      expect(checkpoint!.busy).toBe(0)
      expect(await db.selectFrom("t").select("id").orderBy("id").execute()).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }])
    })
  })

  it("after destroy, the database is closed and queries fail", async () => {
    const db = new Kysely<any>({ dialect: new NodeSqliteDialect({ database: join(dir, "closed.db") }) })
    await sql`select 1`.execute(db)
    await db.destroy()
    await expect(sql`select 1`.execute(db)).rejects.toThrow()
  })
})

describe("the event loop while a NodeSqliteDialect writer runs", () => {
  // node:sqlite answers synchronously, so a fiber writing back to back never
  // let a timer fire: a 10 ms timeout came 3 s late, after the writer.
  it.live("a timer fires while one fiber writes back to back, not after it", () =>
    Effect.gen(function*() {
      const db = new Kysely<any>({ dialect: new NodeSqliteDialect({ database: join(dir, "busy.db") }) })
      yield* Effect.addFinalizer(() => Effect.promise(() => db.destroy()))
      const backend = yield* KyselyBackend.make(db, { autoMigrate: true })
      const writes = 20_000
      let done = 0
      let doneWhenTimerFired: number | undefined
      setTimeout(() => doneWhenTimerFired = done, 10)
      for (let i = 0; i < writes; i++) {
        yield* backend.set("busy", `k${i % 100}`, `v${i}`)
        done++
      }
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      expect(doneWhenTimerFired).toBeDefined()
      expect(doneWhenTimerFired!).toBeLessThan(writes)
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe("the event loop while a NodeSqliteDialect stream is read", () => {
  it("a timer fires while a long stream is read back to back, not after it", async () => {
    await withDb(new Kysely<any>({ dialect: new NodeSqliteDialect({ database: ":memory:" }) }), async (db) => {
      const rows = 200_000
      await sql`create table numbers (n integer primary key)`.execute(db)
      await sql`with recursive c(n) as (select 1 union all select n + 1 from c where n < ${rows}) insert into numbers select n from c`
        .execute(db)
      let read = 0
      let readWhenTimerFired: number | undefined
      setTimeout(() => readWhenTimerFired = read, 10)
      for await (const _ of db.selectFrom("numbers").select("n").stream()) read++
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect(read).toBe(rows)
      expect(readWhenTimerFired).toBeDefined()
      expect(readWhenTimerFired!).toBeLessThan(rows)
    })
  }, 60_000)
})

describe("the Kysely SQLite backend across processes", () => {
  it.effect("modify is atomic between processes on one file: no increment is lost", () =>
    Effect.gen(function*() {
      const file = join(dir, "processes.db")
      const db = new Kysely<any>({ dialect: new NodeSqliteDialect({ database: file }) })
      const backend = yield* KyselyBackend.make(db, { autoMigrate: true })
      yield* backend.setMany("shared", [{ key: "counter", value: "0" }, { key: "ready", value: "0" }])
      const processes = 4
      const increments = 100
      const outputs = yield* Effect.all(
        Array.from({ length: processes }, () =>
          Effect.promise(() => run(process.execPath, [
            child,
            file,
            "increment",
            "effect_persist_entries",
            String(increments),
            String(processes)
          ]))),
        { concurrency: "unbounded" }
      )
      expect(outputs.map((out) => out.stdout.trim())).toEqual(Array(processes).fill("ok"))
      expect(yield* backend.get("shared", "counter")).toBe(String(processes * increments))
      yield* Effect.promise(() => db.destroy())
    }), { timeout: 60_000 })
})
