// The store's connections are killed on the server (pg_terminate_backend, as
// a failover or an administrator would): the next operations succeed, and an
// operation cut off mid-transaction fails with a typed, retryable error and
// changes nothing.
import { PgBackend, PgMigrator } from "@effect-persist/pg"
import { postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { admin, dropTable } from "./fixtures/admin.ts"

const server = await postgres()
const url = server.url
const table = "pg_connection_loss"
const applicationName = `effect-persist connection-loss ${process.pid}`

/**
 * Terminates every server session of the store. Without waiting, the store's
 * next statement races the sessions' exit: it may be sent on a connection
 * whose server process is already going away.
 */
const terminate = (wait: boolean) =>
  admin(url, (sql) =>
    sql.unsafe(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, $2)) FROM pg_stat_activity WHERE application_name = $1`,
      [applicationName, wait ? 5000 : 0]
    ).values).pipe(Effect.map((rows) => Number(rows[0]![0])), Effect.orDie)

const terminateStoreConnections = terminate(true)

const withTable = Effect.acquireRelease(
  Effect.andThen(dropTable(url, table), PgMigrator.migrateUrl(url, { table })),
  () => dropTable(url, table)
)

describe("connection loss", () => {
  it.live("after pg_terminate_backend of all the store's connections, every operation succeeds", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* withTable
      const backend = yield* PgBackend.open({ url, table, applicationName, maxConnections: 4 })
      // Open several pooled connections.
      yield* Effect.all(Array.from({ length: 8 }, (_, i) => backend.set("loss", `k${i}`, `v${i}`)), {
        concurrency: "unbounded"
      })

      for (let round = 0; round < 3; round++) {
        expect(yield* terminateStoreConnections).toBeGreaterThan(0)
        expect(yield* backend.get("loss", "k2")).toBe("v2")
        expect(yield* terminateStoreConnections).toBeGreaterThan(0)
        yield* backend.set("loss", "k1", `round ${round}`)
        expect(yield* terminateStoreConnections).toBeGreaterThan(0)
        expect(yield* backend.getMany("loss", ["k1", "k2"])).toEqual([`round ${round}`, "v2"])
        expect(yield* terminateStoreConnections).toBeGreaterThan(0)
        yield* backend.setMany("loss", [{ key: "k3", value: "x" }, { key: "k4", value: "y" }])
        expect(yield* terminateStoreConnections).toBeGreaterThan(0)
        expect(yield* backend.modify("loss", "k3", (v) => Effect.succeed(`${v}${round}`))).toBe(`x${round}`)
        expect(yield* terminateStoreConnections).toBeGreaterThan(0)
        expect(yield* backend.size("loss")).toBe(8)
        expect(yield* terminateStoreConnections).toBeGreaterThan(0)
        expect((yield* backend.keys("loss", "k")).length).toBe(8)
        expect(yield* terminateStoreConnections).toBeGreaterThan(0)
        yield* backend.remove("loss", "k7")
        yield* backend.set("loss", "k7", "v7")
        expect(yield* terminateStoreConnections).toBeGreaterThan(0)
        expect(yield* backend.sweep()).toBe(0)
        // Concurrent operations over a pool whose every connection just died.
        expect(yield* terminateStoreConnections).toBeGreaterThan(0)
        const values = yield* Effect.all(Array.from({ length: 8 }, (_, i) => backend.get("loss", `k${i}`)), {
          concurrency: "unbounded"
        })
        expect(values.every((value) => typeof value === "string")).toBe(true)
      }
    })), 60_000)

  it.live("operations sent while the terminated sessions are still exiting succeed", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* withTable
      const backend = yield* PgBackend.open({ url, table, applicationName, maxConnections: 1 })
      for (let round = 0; round < 20; round++) {
        yield* backend.set("race", "k", `v${round}`)
        expect(yield* terminate(false)).toBe(1)
        expect(yield* backend.get("race", "k")).toBe(`v${round}`)
      }
    })), 60_000)

  it.live("a modify whose connection dies mid-transaction fails with a retryable Unavailable error and changes nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* withTable
      const backend = yield* PgBackend.open({ url, table, applicationName, maxConnections: 2 })
      yield* backend.set("loss", "counter", "1")

      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const modify = yield* Effect.forkChild(
        backend.modify("loss", "counter", (current) =>
          Effect.andThen(
            Effect.andThen(Deferred.succeed(inside, undefined), Deferred.await(release)),
            Effect.succeed(String(Number(current) + 1))
          ))
      )
      // The row is locked and the user's function is running: kill the session.
      yield* Deferred.await(inside)
      expect(yield* terminateStoreConnections).toBeGreaterThan(0)
      yield* Deferred.succeed(release, undefined)
      const error = yield* Effect.flip(Fiber.join(modify))
      expect(error._tag).toBe("StorageError")
      expect(error.operation).toBe("modify")
      expect(error.reason).toBe("Unavailable")
      expect(error.retryable).toBe(true)
      expect(error.message).toContain("retried")

      expect(yield* backend.get("loss", "counter")).toBe("1")
      expect(yield* backend.modify("loss", "counter", (current) => Effect.succeed(String(Number(current) + 1)))).toBe("2")
    })), 60_000)
})
