// A store built on the application's client (layerFromClient) joins the
// application's transaction: its writes commit and roll back with it, and a
// get there is answered in the transaction, never in a batch started by a
// fiber outside it (which would wait for the client's one connection, held
// by the transaction that waits for the get).
import { StorageBackend } from "@effect-persist/core"
import { SqliteBackend } from "@effect-persist/sqlite"
import { expect, it } from "@effect/vitest"
import { Cause, Context, Deferred, Effect, Exit, Fiber, Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const withStore = <A, E>(f: (backend: StorageBackend.StorageBackend, sql: SqlClient.SqlClient) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const filename = join(mkdtempSync(join(tmpdir(), "effect-persist-ambient-")), "store.db")
    const client = yield* Layer.build(SqliteBackend.layerClient({ filename }))
    const context = yield* Layer.build(SqliteBackend.layerFromClient({ autoMigrate: true })).pipe(Effect.provide(client))
    return yield* f(Context.get(context, StorageBackend.StorageBackend), Context.get(client, SqlClient.SqlClient))
  }).pipe(Effect.scoped)

it.live("sqlite layerFromClient: store writes commit and roll back with the application's transaction", () =>
  withStore((backend, sql) =>
    Effect.gen(function*() {
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
    })
  ))

it.live("sqlite layerFromClient: gets inside the transaction read its writes while other fibers' gets wait for it", () =>
  withStore((backend, sql) =>
    Effect.gen(function*() {
      const keys = Array.from({ length: 50 }, (_, i) => `k${i}`)
      yield* backend.setMany("reads", keys.map((key) => ({ key, value: "committed" })))
      const readAll = Effect.all(keys.map((key) => backend.get("reads", key)), { concurrency: "unbounded" })
      for (let round = 0; round < 10; round++) {
        const go = yield* Deferred.make<void>()
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
    }).pipe(Effect.timeout("20 seconds"))
  ), 60_000)
