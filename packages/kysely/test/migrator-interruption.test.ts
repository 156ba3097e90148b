// MySQL's migration lock (GET_LOCK) belongs to the connection that takes
// it. A migration interrupted while it waited for the lock used to let the
// wait go on in the pool: the lock was taken afterwards by a pooled
// connection and kept, and every later migration of the database waited for
// it until lockTimeout.
import { KyselyMigrator } from "@effect-persist/kysely"
import { mysqlServer } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Kysely, MysqlDialect } from "kysely"
import { createConnection, createPool } from "mysql2/promise"
import { createPool as createCallbackPool } from "mysql2"

const url = (await mysqlServer()).url
const lockName = "concat('effect_persist_migrate:', sha1(coalesce(database(), '')))"

describe("an interrupted MySQL migration", () => {
  it.live("never leaves the migration lock with a pooled connection", () =>
    Effect.gen(function*() {
      const db = new Kysely<any>({ dialect: new MysqlDialect({ pool: createCallbackPool({ uri: url, connectionLimit: 2 }) }) })
      const holder = yield* Effect.promise(() => createConnection(url))
      const observer = createPool({ uri: url, connectionLimit: 1 })
      yield* Effect.addFinalizer(() =>
        Effect.promise(() => Promise.all([db.destroy(), holder.end(), observer.end()]))
      )
      yield* Effect.promise(() => holder.query(`select get_lock(${lockName}, 10)`))
      const migration = yield* Effect.forkChild(KyselyMigrator.migrate(db, { table: "kysely_migrate_interrupt" }))
      // The migration is now waiting for the lock the holder has.
      yield* Effect.sleep("300 millis")
      const interrupted = yield* Effect.forkChild(Fiber.interrupt(migration))
      yield* Effect.sleep("100 millis")
      yield* Effect.promise(() => holder.query(`select release_lock(${lockName})`))
      yield* Fiber.join(interrupted)
      yield* Effect.sleep("200 millis")
      const [rows] = yield* Effect.promise(() => observer.query(`select is_used_lock(${lockName}) as holder`))
      expect((rows as Array<{ readonly holder: unknown }>)[0]!.holder).toBeNull()
    }).pipe(Effect.scoped), { timeout: 30_000 })
})
