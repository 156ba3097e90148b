// A store built on the application's client joins the application's
// transaction: its writes commit and roll back with it. When a store
// statement is a deadlock's victim, InnoDB has already rolled back the whole
// application transaction; the backend used to retry the statement, which
// then ran outside any transaction, and the application's transaction
// reported success with its first row gone and its later ones committed.
import { MysqlBackend } from "@effect-persist/mysql"
import { StorageBackend } from "@effect-persist/core"
import { mysqlServer } from "@effect-persist/test-servers"
import { afterAll, expect, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { adminLayer, dropTables, runToken, withAdmin } from "./fixtures/admin.ts"

const url = (await mysqlServer()).url
const table = `ep_ambient_${runToken}`
const appTable = `ep_ambient_app_${runToken}`

afterAll(() => withAdmin(url, (sql) => dropTables(sql, table, appTable)))

const backendOn = Effect.gen(function*() {
  yield* MysqlBackend.make({ table, autoMigrate: true })
  const context = yield* Layer.build(MysqlBackend.layerFromClient({ table }))
  return Context.get(context, StorageBackend.StorageBackend)
})

layer(adminLayer(url), { excludeTestServices: true })("a store call inside the application's transaction", (it) => {
  it.effect("commits and rolls back with the application's transaction", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const backend = yield* backendOn
      yield* backend.set("ambient", "kept", "before")
      const exit = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
        yield* backend.set("ambient", "kept", "inside")
        yield* backend.setMany("ambient", [{ key: "batch", value: "inside" }])
        return yield* Effect.fail("the application gives up")
      })))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* backend.get("ambient", "kept")).toBe("before")
      expect(yield* backend.get("ambient", "batch")).toBeUndefined()
      yield* sql.withTransaction(backend.set("ambient", "kept", "committed"))
      expect(yield* backend.get("ambient", "kept")).toBe("committed")
    }).pipe(Effect.scoped))

  it.effect("a deadlock whose victim is a store statement fails the application's transaction, leaving nothing of it", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* dropTables(sql, appTable)
      yield* sql.unsafe(`CREATE TABLE \`${appTable}\` (id VARCHAR(64) PRIMARY KEY)`).unprepared
      const backend = yield* backendOn
      yield* backend.clear("deadlock")
      const xLocked = yield* Deferred.make<void>()
      const yLocked = yield* Deferred.make<void>()
      const appRow = (id: string) => sql.unsafe(`INSERT INTO \`${appTable}\` (id) VALUES (?)`, [id]).raw

      // The application's transaction: its own row, then two store writes.
      const victim = sql.withTransaction(Effect.gen(function*() {
        yield* appRow("first")
        yield* backend.set("deadlock", "x", "victim")
        yield* Deferred.succeed(xLocked, undefined)
        yield* Deferred.await(yLocked)
        // Waits for the other transaction's lock on y, which then asks for x.
        yield* backend.set("deadlock", "y", "victim")
        yield* appRow("last")
      }))
      // The other transaction has written more rows, so InnoDB rolls back the victim.
      const other = sql.withTransaction(Effect.gen(function*() {
        yield* Deferred.await(xLocked)
        for (let i = 0; i < 200; i++) yield* appRow(`other-${i}`)
        yield* backend.set("deadlock", "y", "other")
        yield* Deferred.succeed(yLocked, undefined)
        yield* Effect.sleep("300 millis")
        yield* backend.set("deadlock", "x", "other")
      }))

      const victimFiber = yield* Effect.forkChild(Effect.exit(victim))
      const otherExit = yield* Effect.exit(other)
      const victimExit = yield* Fiber.join(victimFiber)

      expect(Exit.isSuccess(otherExit)).toBe(true)
      // The store's own typed error, so the application can run its whole transaction again.
      const failure = Exit.isFailure(victimExit) ? victimExit.cause.reasons.find(Cause.isFailReason)?.error : undefined
      expect(failure).toMatchObject({ _tag: "StorageError", reason: "Conflict", key: "y" })
      const appRows = (yield* sql.unsafe(`SELECT id FROM \`${appTable}\` WHERE id NOT LIKE 'other-%'`).values)
        .map(([id]) => id)
      expect(appRows).toEqual([])
      expect(yield* backend.get("deadlock", "x")).toBe("other")
      expect(yield* backend.get("deadlock", "y")).toBe("other")
    }).pipe(Effect.scoped), { timeout: 30_000 })
})
