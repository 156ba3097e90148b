// A store built on the application's client joins the application's
// transaction: its writes commit and roll back with it, a get there reads
// what the transaction sees (it is never batched with other fibers' gets),
// and nothing of the store is retried inside it.
import { StorageBackend } from "@effect-persist/core"
import { PgBackend } from "@effect-persist/pg"
import { postgres } from "@effect-persist/test-servers"
import { afterAll, expect, layer } from "@effect/vitest"
import { Cause, Context, Deferred, Effect, Exit, Fiber, Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { adminLayer, dropTable } from "./fixtures/admin.ts"

const url = (await postgres()).url
const table = `ep_ambient_${Math.random().toString(36).slice(2, 8)}`

afterAll(() => Effect.runPromise(dropTable(url, table)))

const backendOn = Effect.gen(function*() {
  const context = yield* Layer.build(PgBackend.layerFromClient({ table, autoMigrate: true }))
  return Context.get(context, StorageBackend.StorageBackend)
})

layer(adminLayer(url), { excludeTestServices: true })("pg: a store call inside the application's transaction", (it) => {
  it.effect("commits and rolls back with the application's transaction", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const backend = yield* backendOn
      yield* backend.set("ambient", "kept", "before")
      const exit = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
        yield* backend.set("ambient", "kept", "inside")
        yield* backend.setMany("ambient", [{ key: "batch", value: "inside" }])
        expect(yield* backend.modify("ambient", "kept", () => Effect.succeed("modified inside"))).toBe("modified inside")
        return yield* Effect.fail("the application gives up")
      })))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* backend.get("ambient", "kept")).toBe("before")
      expect(yield* backend.get("ambient", "batch")).toBeUndefined()
      yield* sql.withTransaction(backend.set("ambient", "kept", "committed"))
      expect(yield* backend.get("ambient", "kept")).toBe("committed")
    }).pipe(Effect.scoped))

  it.effect("gets inside the transaction read its own writes while other fibers' gets read the committed values", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const backend = yield* backendOn
      const keys = Array.from({ length: 50 }, (_, i) => `k${i}`)
      yield* backend.setMany("reads", keys.map((key) => ({ key, value: "committed" })))
      const readAll = Effect.all(keys.map((key) => backend.get("reads", key)), { concurrency: "unbounded" })
      for (let round = 0; round < 10; round++) {
        const go = yield* Deferred.make<void>()
        // Forked before the transaction: these fibers are outside it.
        const outside = yield* Effect.forkChild(Effect.andThen(Deferred.await(go), readAll))
        const inside = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
          yield* backend.setMany("reads", keys.map((key) => ({ key, value: "uncommitted" })))
          yield* Deferred.succeed(go, undefined)
          const seen = yield* readAll
          return yield* Effect.fail(seen)
        })))
        expect(Exit.isFailure(inside) ? Cause.squash(inside.cause) : undefined).toEqual(keys.map(() => "uncommitted"))
        expect(yield* Fiber.join(outside)).toEqual(keys.map(() => "committed"))
      }
    }).pipe(Effect.scoped))
})
