// The migration lock (GET_LOCK) belongs to the connection that takes it. A
// migration interrupted while it waited for the lock used to give its
// connection back to the pool with GET_LOCK still waiting on it: the lock
// was then taken by an idle pooled connection and kept, and every later
// migration of the database waited for it until lockTimeout.
import { MysqlBackend, MysqlMigrator } from "@effect-persist/mysql"
import { mysqlServer } from "@effect-persist/test-servers"
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { adminLayer, dropTables, runToken } from "./fixtures/admin.ts"

const url = (await mysqlServer()).url
const table = `ep_migrate_interrupt_${runToken}`
const lockName = "CONCAT('effect_persist_migrate:', SHA1(COALESCE(DATABASE(), '')))"

layer(adminLayer(url), { excludeTestServices: true })("an interrupted migration", (it) => {
  it.effect("never leaves the migration lock with a pooled connection", () =>
    Effect.gen(function*() {
      const admin = yield* SqlClient.SqlClient
      yield* Effect.addFinalizer(() => Effect.orDie(dropTables(admin, table)))
      const holder = yield* admin.reserve
      const onHolder = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.provideService(effect, admin.transactionService, [holder, 0] as const)
      yield* onHolder(admin.unsafe(`SELECT GET_LOCK(${lockName}, 10)`).values)
      // The migration's own pool, as an application's would be.
      const context = yield* Layer.build(MysqlBackend.layerClient({ url, maxConnections: 2 }))
      const sql = Context.get(context, SqlClient.SqlClient)
      const migration = yield* Effect.forkChild(
        MysqlMigrator.migrate({ table }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      )
      // The migration is now waiting for the lock the holder has.
      yield* Effect.sleep("300 millis")
      const interrupted = yield* Effect.forkChild(Fiber.interrupt(migration))
      yield* Effect.sleep("100 millis")
      yield* onHolder(admin.unsafe(`SELECT RELEASE_LOCK(${lockName})`).values)
      yield* Fiber.join(interrupted)
      yield* Effect.sleep("200 millis")
      const [[owner]] = yield* admin.unsafe(`SELECT IS_USED_LOCK(${lockName})`).values
      expect(owner).toBeNull()
    }).pipe(Effect.scoped), { timeout: 30_000 })
})
