// A connection that dies inside a transaction whose body fails: Effect's
// withTransaction then reports the body's failure as a defect (its ROLLBACK
// failed too). Found by the reliability suite (packages/reliability): a
// modify whose function refused while the server killed its connection
// ended in a defect instead of the function's own, typed, error; and a store
// built on a pool whose server was gone reported a schema problem.
import { StorageError } from "@effect-persist/core"
import { MysqlBackend, MysqlMigrator } from "@effect-persist/mysql"
import { mysqlServer } from "@effect-persist/test-servers"
import { expect, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as SqlClient from "effect/sql/SqlClient"
import { adminLayer, dropTables, urlAs } from "./fixtures/admin.ts"
import { faultyClient } from "./fixtures/faulty.ts"
import { databaseOf, killConnectionsOf, temporaryUser } from "./fixtures/users.ts"

const server = await mysqlServer()
const url = server.url
const table = "ep_lost_transaction"
const user = "ep_lost_transaction_role"
const password = "lost-transaction-secret"

layer(adminLayer(url), { excludeTestServices: true })("a connection lost inside a failing transaction", (it) => {
  it.effect("a modify whose function fails while its connection is killed returns that failure, typed", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* dropTables(sql, table)
      yield* Effect.addFinalizer(() => Effect.orDie(dropTables(sql, table)))
      yield* MysqlMigrator.migrateUrl(url, { table })
      const database = databaseOf(url)
      yield* temporaryUser(sql, user, password, [
        `SELECT, INSERT, UPDATE, DELETE ON \`${database}\`.\`${table}\``,
        `SELECT ON \`${database}\`.\`effect_persist_migrations\``
      ])
      const backend = yield* MysqlBackend.open({ url: urlAs(url, user, password), table, maxConnections: 2 })
      yield* backend.set("lost", "k", "1")
      const refusal = new StorageError.StorageError({ operation: "modify", reason: "InvalidValue", message: "refused" })
      const exit = yield* Effect.exit(backend.modify("lost", "k", () =>
        // The row is locked and the function is running: the connection goes.
        Effect.andThen(Effect.orDie(killConnectionsOf(sql, user)), Effect.fail(refusal))))
      expect(Exit.isFailure(exit) ? exit.cause.reasons.filter(Cause.isDieReason).map((r) => String(r.defect)) : [])
        .toEqual([])
      expect(Exit.isFailure(exit) && exit.cause.reasons.find(Cause.isFailReason)?.error).toBe(refusal)
      const retrying = <A>(effect: Effect.Effect<A, StorageError.StorageError>) =>
        Effect.retry(effect, { while: (error) => error.retryable, times: 2 })
      expect(yield* retrying(backend.get("lost", "k"))).toBe("1")
      expect(yield* retrying(backend.modify("lost", "k", (v) => Effect.succeed(`${v}+`)))).toBe("1+")
    }))

  it.effect("a store built on a pool whose server is gone fails with a retryable MigrationError, not a schema error", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* dropTables(sql, table)
      yield* Effect.addFinalizer(() => Effect.orDie(dropTables(sql, table)))
      yield* MysqlMigrator.migrateUrl(url, { table })
      // Every statement fails as when the server has gone away.
      const client = yield* faultyClient(sql, { skip: 0, fail: 1000 })
      const error = yield* Effect.flip(MysqlBackend.make({ table }).pipe(Effect.provideService(SqlClient.SqlClient, client)))
      expect(error._tag).toBe("MigrationError")
      expect((error as StorageError.MigrationError).reason).toBe("Unavailable")
      expect((error as StorageError.MigrationError).retryable).toBe(true)
    }))
})
