// The least-privilege role of the README: SELECT, INSERT, UPDATE and DELETE
// on the entries table and SELECT on the tracking table run every operation
// of the backend; migrating needs more, and says so with a typed error.
import { StorageError } from "@effect-persist/core"
import { MysqlBackend, MysqlMigrator } from "@effect-persist/mysql"
import { mysqlServer } from "@effect-persist/test-servers"
import { afterAll, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { adminLayer, dropTables, runToken, urlAs, withAdmin } from "./fixtures/admin.ts"
import { databaseOf, temporaryUser } from "./fixtures/users.ts"

const server = await mysqlServer()
const url = server.url
const table = `ep_privileges_${runToken}`
const user = `ep_runtime_${runToken}`
const password = "runtime-secret"

afterAll(() => withAdmin(url, (sql) => dropTables(sql, table)))

layer(adminLayer(url), { excludeTestServices: true })("a runtime role without DDL rights", (it) => {
  it.effect("runs every operation of the backend", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const database = databaseOf(url)
      yield* dropTables(sql, table)
      yield* MysqlMigrator.migrateUrl(url, { table })
      yield* temporaryUser(sql, user, password, [
        `SELECT, INSERT, UPDATE, DELETE ON \`${database}\`.\`${table}\``,
        `SELECT ON \`${database}\`.\`effect_persist_migrations\``
      ])
      const grants = yield* sql.unsafe(`SHOW GRANTS FOR '${user}'@'%'`).values
      expect(grants.map(([grant]) => String(grant)).join("\n")).not.toMatch(/CREATE|ALTER|DROP|INDEX|ALL PRIVILEGES/)

      const backend = yield* MysqlBackend.open({ url: urlAs(url, user, password), table })
      yield* backend.set("role", "a", "1")
      yield* backend.set("role", "bytes", new Uint8Array([0, 1, 2]))
      expect(yield* backend.get("role", "a")).toBe("1")
      expect(yield* backend.get("role", "bytes")).toEqual(new Uint8Array([0, 1, 2]))
      // More rows than one statement takes: several statements in a transaction.
      const many = Array.from({ length: 600 }, (_, i) => ({ key: `many:${i}`, value: String(i) }))
      yield* backend.setMany("role", many)
      expect(yield* backend.getMany("role", ["many:0", "many:599", "missing"])).toEqual(["0", "599", undefined])
      expect(yield* backend.size("role", "many:")).toBe(600)
      expect((yield* backend.keys("role", "many:1")).length).toBe(111)
      yield* backend.clearPrefix("role", "many:")
      expect(yield* backend.modify("role", "a", (value) => Effect.succeed(`${value}+1`))).toBe("1+1")
      yield* backend.remove("role", "bytes")
      yield* backend.set("role", "expired", "x", Date.now() - 1000)
      expect(yield* backend.sweep()).toBe(1)
      expect(yield* backend.keys("role")).toEqual(["a"])
      yield* backend.clear("role")
      expect(yield* backend.size("role")).toBe(0)

      // Migrating is not this role's job: the failure is typed and says why.
      const error = yield* Effect.flip(MysqlMigrator.migrateUrl(urlAs(url, user, password), { table: `ep_privileges_other_${runToken}` }))
      expect(error).toBeInstanceOf(StorageError.MigrationError)
      expect(error.message).toMatch(/denied/i)
    }))
})
