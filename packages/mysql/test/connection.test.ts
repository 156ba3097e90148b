// Connections the server kills (a restart, a failover, wait_timeout, an
// operator's KILL): operations afterwards succeed on new connections; one
// caught mid-transaction fails with a retryable error and changes nothing.
import type { StorageError } from "@effect-persist/core"
import { MysqlBackend, MysqlMigrator } from "@effect-persist/mysql"
import { mysqlServer } from "@effect-persist/test-servers"
import { afterAll, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { adminLayer, dropTables, runToken, urlAs, withAdmin } from "./fixtures/admin.ts"
import { faultyClient } from "./fixtures/faulty.ts"
import { databaseOf, killConnectionsOf, temporaryUser } from "./fixtures/users.ts"

const server = await mysqlServer()
const url = server.url
const table = `ep_connection_${runToken}`
const user = `ep_connection_${runToken}`
const password = "connection-secret"

// A caller's retry: only a retryable error may be seen, and only briefly.
const retrying = <A>(effect: Effect.Effect<A, StorageError.StorageError>) =>
  Effect.retry(effect, { while: (error) => error.retryable && error.reason === "Unavailable", times: 2 })

afterAll(() => withAdmin(url, (sql) => dropTables(sql, table)))

layer(adminLayer(url), { excludeTestServices: true })("lost connections", (it) => {
  const setUp = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const database = databaseOf(url)
    yield* dropTables(sql, table)
    yield* MysqlMigrator.migrateUrl(url, { table })
    // A user of its own, so that the test kills exactly the store's connections.
    yield* temporaryUser(sql, user, password, [
      `SELECT, INSERT, UPDATE, DELETE ON \`${database}\`.\`${table}\``,
      `SELECT ON \`${database}\`.\`effect_persist_migrations\``
    ])
    return yield* MysqlBackend.open({ url: urlAs(url, user, password), table, maxConnections: 4 })
  })

  it.effect("operations succeed after the server kills every connection of the pool", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const backend = yield* setUp
      yield* Effect.all(Array.from({ length: 8 }, (_, i) => backend.set("lost", `k${i}`, `v${i}`)), { concurrency: 8 })
      expect(yield* killConnectionsOf(sql, user)).toBeGreaterThan(0)

      expect(yield* retrying(backend.get("lost", "k0"))).toBe("v0")
      yield* retrying(backend.set("lost", "k8", "v8"))
      expect(yield* retrying(backend.getMany("lost", ["k1", "k8", "none"]))).toEqual(["v1", "v8", undefined])
      yield* retrying(backend.setMany("lost", [{ key: "k9", value: "v9" }, { key: "k0", value: "v0'" }]))
      expect(yield* retrying(backend.modify("lost", "k0", (value) => Effect.succeed(`${value}!`)))).toBe("v0'!")
      expect((yield* retrying(backend.keys("lost"))).length).toBe(10)
      yield* retrying(backend.remove("lost", "k9"))
      expect(yield* retrying(backend.size("lost"))).toBe(9)

      // Again, with the pool idle and every connection gone.
      expect(yield* killConnectionsOf(sql, user)).toBeGreaterThan(0)
      yield* retrying(backend.clear("lost"))
      expect(yield* retrying(backend.size("lost"))).toBe(0)
      expect(yield* retrying(backend.sweep())).toBe(0)
    }))

  it.effect("a connection lost inside modify fails with a retryable error and changes nothing", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const backend = yield* setUp
      yield* backend.set("lost", "counter", "1")
      const error = yield* Effect.flip(backend.modify("lost", "counter", (value) =>
        // The transaction holds the row lock now: kill its connection.
        Effect.orDie(killConnectionsOf(
          sql,
          user,
          "p.ID IN (SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX)"
        )).pipe(
          Effect.tap((killed) => Effect.sync(() => expect(killed).toBe(1))),
          Effect.as(String(Number(value) + 1))
        )))
      expect(error.reason).toBe("Unavailable")
      expect(error.retryable).toBe(true)
      expect(error.operation).toBe("modify")
      expect(yield* retrying(backend.get("lost", "counter"))).toBe("1")
      expect(yield* retrying(backend.modify("lost", "counter", (value) => Effect.succeed(String(Number(value) + 1)))))
        .toBe("2")
      yield* backend.clear("lost")
    }))

  it.effect("a reset connection is retried for idempotent operations, and never for modify", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* setUp
      const faults = { skip: 0, fail: 0 }
      const client = yield* faultyClient(sql, faults)
      const backend = yield* MysqlBackend.make({ table }).pipe(Effect.provideService(SqlClient.SqlClient, client))

      Object.assign(faults, { skip: 0, fail: 1 })
      yield* backend.set("reset", "k", "v")
      expect(yield* backend.get("reset", "k")).toBe("v")
      expect(faults.fail).toBe(0)

      Object.assign(faults, { skip: 0, fail: 1 })
      expect(yield* backend.getMany("reset", ["k"])).toEqual(["v"])
      expect(faults.fail).toBe(0)

      // A connection that stays gone: the caller gets a retryable error.
      Object.assign(faults, { skip: 0, fail: 10 })
      const gone = yield* Effect.flip(backend.get("reset", "k"))
      expect(gone.reason).toBe("Unavailable")
      expect(gone.retryable).toBe(true)
      expect(gone.message).toContain("ECONNRESET")

      // The UPDATE of a modify fails (after BEGIN and SELECT ... FOR UPDATE):
      // the function ran once, the error reaches the caller, nothing changed.
      let calls = 0
      Object.assign(faults, { skip: 2, fail: 1 })
      const lost = yield* Effect.flip(backend.modify("reset", "k", (value) =>
        Effect.sync(() => {
          calls++
          return `${value}!`
        })))
      expect(lost.reason).toBe("Unavailable")
      expect(calls).toBe(1)
      Object.assign(faults, { skip: 0, fail: 0 })
      expect(yield* backend.get("reset", "k")).toBe("v")
      yield* backend.clear("reset")
    }))
})
