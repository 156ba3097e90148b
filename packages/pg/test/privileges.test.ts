// A runtime role granted only SELECT, INSERT, UPDATE and DELETE on the
// entries table (and SELECT on the tracking table, for the start-up check)
// runs every operation, and every derived service.
import { Migrator, Services, StorageError } from "@effect-persist/core"
import { PgBackend, PgMigrator } from "@effect-persist/pg"
import { postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Cause, Effect, Exit, Layer, Redacted } from "effect"
import { KeyValueStore, Persistence } from "effect/persistence"
import * as TestClock from "effect/testing/TestClock"
import { admin, dropTable } from "./fixtures/admin.ts"

const server = await postgres()
const table = "pg_privileges_entries"
const role = `effect_persist_runtime_${process.pid}`

const roleUrl = (() => {
  const parsed = new URL(server.url)
  parsed.username = role
  parsed.password = ""
  return parsed.toString()
})()

const dropRole = admin(server.url, (sql) =>
  Effect.gen(function*() {
    const exists = yield* sql.unsafe(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [role]).values
    if (exists.length === 0) return
    yield* sql.unsafe(`DROP OWNED BY ${role}`).unprepared
    yield* sql.unsafe(`DROP ROLE ${role}`).unprepared
  })).pipe(Effect.orDie)

const setUp = Effect.gen(function*() {
  yield* dropRole
  yield* dropTable(server.url, table)
  yield* PgMigrator.migrateUrl(server.url, { table })
  yield* admin(server.url, (sql) =>
    Effect.gen(function*() {
      yield* sql.unsafe(`CREATE ROLE ${role} LOGIN`).unprepared
      yield* sql.unsafe(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${role}`).unprepared
      yield* sql.unsafe(`GRANT SELECT ON ${Migrator.trackingTable} TO ${role}`).unprepared
    })).pipe(Effect.orDie)
})

const withRole = Effect.acquireRelease(setUp, () => Effect.andThen(dropRole, dropTable(server.url, table)))

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isSuccess(exit) ? undefined : exit.cause.reasons.find(Cause.isFailReason)?.error

describe("least-privilege runtime role", () => {
  it.effect("runs every backend operation with only SELECT/INSERT/UPDATE/DELETE, and cannot change the schema", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* withRole
      const backend = yield* PgBackend.open({ url: roleUrl, table })

      yield* backend.set("ns", "a", "1")
      yield* backend.set("ns", "b", new Uint8Array([2]), 1_000)
      yield* backend.setMany("ns", [{ key: "c", value: "3" }, { key: "d", value: "4", expiresAt: 500 }])
      expect(yield* backend.get("ns", "a")).toBe("1")
      expect(yield* backend.getMany("ns", ["a", "b", "missing"])).toEqual(["1", new Uint8Array([2]), undefined])
      expect(yield* backend.modify("ns", "a", (current) => Effect.succeed(`${current}1`))).toBe("11")
      expect((yield* backend.keys("ns")).slice().sort()).toEqual(["a", "b", "c", "d"])
      expect(yield* backend.size("ns", "a")).toBe(1)
      yield* backend.remove("ns", "c")
      yield* backend.clearPrefix("ns", "a")
      expect((yield* backend.keys("ns")).slice().sort()).toEqual(["b", "d"])

      yield* TestClock.setTime(600)
      expect(yield* backend.sweep()).toBe(1)
      yield* TestClock.setTime(2_000)
      expect(yield* backend.sweep({ batchSize: 1 })).toBe(1)
      yield* backend.set("ns", "e", "5")
      yield* backend.clear("ns")
      expect(yield* backend.size("ns")).toBe(0)

      // The role really is unprivileged: changing the table is refused.
      const ddl = yield* Effect.flip(
        PgClient.PgClient.use((sql) => sql.unsafe(`ALTER TABLE ${table} ADD COLUMN attempt integer`).unprepared).pipe(
          Effect.provide(PgClient.layer({ url: Redacted.make(roleUrl) }))
        )
      )
      expect(ddl.reason._tag).toBe("AuthorizationError")
    })))

  it.effect("builds KeyValueStore and Persistence, and autoMigrate on an up-to-date table needs no DDL", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* withRole
      const services = Layer.mergeAll(Services.layerKeyValueStore({ name: "role" }), Services.layerBackingPersistence).pipe(
        Layer.provide(PgBackend.layer({ url: roleUrl, table, autoMigrate: true }))
      )
      yield* Effect.gen(function*() {
        const kv = yield* KeyValueStore.KeyValueStore
        yield* kv.set("k", "v")
        expect(yield* kv.modify("k", (v) => `${v}!`)).toBe("v!")
        const backing = yield* Persistence.BackingPersistence
        const store = yield* backing.make("role-store")
        yield* store.set("p", { n: 1 }, undefined)
        expect(yield* store.get("p")).toEqual({ n: 1 })
      }).pipe(Effect.provide(services))
    })))

  it.effect("on a table nobody migrated, the role gets a SchemaVersionError naming the command, not a permission error", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* withRole
      const error = failureOf(yield* Effect.exit(Effect.scoped(PgBackend.open({ url: roleUrl, table: "pg_privileges_never" }))))
      expect(error).toBeInstanceOf(StorageError.SchemaVersionError)
      expect((error as StorageError.SchemaVersionError).message).toContain("has not been migrated")
      expect((error as StorageError.SchemaVersionError).message).toContain("--table pg_privileges_never")
    })))
})
