// A store call made while the application holds a Kysely transaction. By
// itself it runs on another pooled connection: it commits whatever the
// transaction does, and with a single connection (NodeSqliteDialect) it
// waited for ever (now: until connectionTimeout, then a typed error).
// Joined with KyselyBackend.joinTransaction, it commits and rolls back with
// the transaction, on the transaction's own connection.
import { StorageError } from "@effect-persist/core"
import { KyselyBackend, KyselyMigrator, NodeSqliteDialect } from "@effect-persist/kysely"
import { mysqlServer, postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Kysely, MysqlDialect, PostgresDialect, type Transaction } from "kysely"
import { createPool } from "mysql2"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import pg from "pg"
import { afterAll } from "vitest"

const pgUrl = (await postgres()).url
const mysqlUrl = (await mysqlServer()).url
const dir = mkdtempSync(join(tmpdir(), "effect-persist-kysely-ambient-"))
const table = "kysely_ambient"

// One connection each: a call that does not join the transaction cannot get one.
const databases = {
  pg: () => new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: pgUrl, max: 1 }) }) }),
  mysql: () =>
    new Kysely<any>({ dialect: new MysqlDialect({ pool: createPool({ uri: mysqlUrl, connectionLimit: 1 }) }) }),
  sqlite: () => new Kysely<any>({ dialect: new NodeSqliteDialect({ database: join(dir, "ambient.db") }) })
}
const opened: Array<Kysely<any>> = []
afterAll(() => Promise.all(opened.map((db) => db.destroy())))

const open = async (name: keyof typeof databases) => {
  const db = databases[name]()
  opened.push(db)
  await Effect.runPromise(KyselyMigrator.migrate(db, { table }))
  const backend = await Effect.runPromise(KyselyBackend.make(db, { table }))
  await Effect.runPromise(backend.clear("ambient"))
  return { db, backend }
}

describe.each(["pg", "mysql", "sqlite"] as const)("Kysely on %s: store calls in the application's transaction", (name) => {
  it("joined, they commit with the transaction, on its one connection", async () => {
    const { backend, db } = await open(name)
    await db.transaction().execute(async (trx) => {
      await Effect.runPromise(
        Effect.gen(function*() {
          yield* backend.set("ambient", "a", "1")
          yield* backend.setMany("ambient", [{ key: "b", value: "2" }, { key: "c", value: "3" }])
          // The modify function calls the store again: it runs in the same transaction.
          yield* backend.modify("ambient", "a", (v) => Effect.as(backend.set("ambient", "d", "4"), `${v}+`))
          expect(yield* backend.getMany("ambient", ["a", "b", "c", "d"])).toEqual(["1+", "2", "3", "4"])
        }).pipe(KyselyBackend.joinTransaction(trx))
      )
    })
    expect(await Effect.runPromise(backend.getMany("ambient", ["a", "b", "c", "d"]))).toEqual(["1+", "2", "3", "4"])
  })

  it("joined, they roll back with the transaction", async () => {
    const { backend, db } = await open(name)
    await Effect.runPromise(backend.set("ambient", "kept", "before"))
    const rolledBack = db.transaction().execute(async (trx) => {
      await Effect.runPromise(
        Effect.gen(function*() {
          yield* backend.set("ambient", "kept", "inside")
          yield* backend.setMany("ambient", [{ key: "x", value: "1" }, { key: "y", value: "2" }])
        }).pipe(KyselyBackend.joinTransaction(trx))
      )
      throw new Error("the application gives up")
    })
    await expect(rolledBack).rejects.toThrow("the application gives up")
    expect(await Effect.runPromise(backend.getMany("ambient", ["kept", "x", "y"]))).toEqual([
      "before",
      undefined,
      undefined
    ])
  })

  it("not joined, a call that gets no connection fails with a typed error naming joinTransaction, and never runs later", async () => {
    const { backend: setup, db } = await open(name)
    await Effect.runPromise(setup.set("ambient", "k", "before"))
    const backend = await Effect.runPromise(KyselyBackend.make(db, { table, connectionTimeout: "200 millis" }))
    const failure = await db.transaction().execute(async () =>
      Effect.runPromise(Effect.flip(backend.set("ambient", "k", "inside")))
    )
    expect(failure).toMatchObject({ _tag: "StorageError", reason: "Unavailable", retryable: true })
    expect(failure.message).toContain("KyselyBackend.joinTransaction(trx)")
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(await Effect.runPromise(backend.get("ambient", "k"))).toBe("before")
  })

  it("a failed modify inside the transaction leaves the transaction as it was", async () => {
    const { backend, db } = await open(name)
    await db.transaction().execute(async (trx) => {
      await Effect.runPromise(
        Effect.gen(function*() {
          yield* backend.set("ambient", "k", "1")
          const failed = yield* Effect.flip(backend.modify("ambient", "k", () =>
            Effect.andThen(
              backend.set("ambient", "k", "changed"),
              Effect.fail(new StorageError.StorageError({ operation: "modify", reason: "InvalidValue", message: "refused" }))
            )))
          expect(failed._tag).toBe("StorageError")
          expect(yield* backend.get("ambient", "k")).toBe("1")
        }).pipe(KyselyBackend.joinTransaction(trx))
      )
    })
    expect(await Effect.runPromise(backend.get("ambient", "k"))).toBe("1")
  })
})

describe("Kysely on mysql: a deadlock inside the application's transaction", () => {
  it("whose victim is a joined store call fails the application's transaction, leaving nothing of it", async () => {
    const db = new Kysely<any>({ dialect: new MysqlDialect({ pool: createPool({ uri: mysqlUrl, connectionLimit: 4 }) }) })
    opened.push(db)
    await Effect.runPromise(KyselyMigrator.migrate(db, { table }))
    const backend = await Effect.runPromise(KyselyBackend.make(db, { table }))
    await Effect.runPromise(backend.clear("deadlock"))
    await db.schema.dropTable("kysely_ambient_app").ifExists().execute()
    await db.schema.createTable("kysely_ambient_app").addColumn("id", "varchar(64)", (c) => c.primaryKey()).execute()
    const signal = () => {
      let fire!: () => void
      const fired = new Promise<void>((resolve) => fire = resolve)
      return { fire, fired }
    }
    const xLocked = signal()
    const yLocked = signal()
    const joined = (trx: Transaction<any>, effect: Effect.Effect<void, StorageError.StorageError>) =>
      Effect.runPromise(KyselyBackend.joinTransaction(trx)(effect))

    const victim = db.transaction().execute(async (trx) => {
      await trx.insertInto("kysely_ambient_app").values({ id: "first" }).execute()
      await joined(trx, backend.set("deadlock", "x", "victim"))
      xLocked.fire()
      await yLocked.fired
      // Waits for the other transaction's lock on y, which then asks for x.
      await joined(trx, backend.set("deadlock", "y", "victim"))
      await trx.insertInto("kysely_ambient_app").values({ id: "last" }).execute()
    })
    // The other transaction has written more rows, so InnoDB rolls back the victim.
    const other = db.transaction().execute(async (trx) => {
      await xLocked.fired
      for (let i = 0; i < 200; i++) await trx.insertInto("kysely_ambient_app").values({ id: `other-${i}` }).execute()
      await joined(trx, backend.set("deadlock", "y", "other"))
      yLocked.fire()
      await new Promise((resolve) => setTimeout(resolve, 300))
      await joined(trx, backend.set("deadlock", "x", "other"))
    })
    const [victimResult, otherResult] = await Promise.allSettled([victim, other])

    expect(otherResult.status).toBe("fulfilled")
    expect(victimResult.status).toBe("rejected")
    expect((victimResult as PromiseRejectedResult).reason).toMatchObject({ _tag: "StorageError", reason: "Conflict" })
    const appRows = await db.selectFrom("kysely_ambient_app").select("id").where("id", "not like", "other-%").execute()
    expect(appRows).toEqual([])
    expect(await Effect.runPromise(backend.getMany("deadlock", ["x", "y"]))).toEqual(["other", "other"])
    await db.schema.dropTable("kysely_ambient_app").execute()
  })
})
