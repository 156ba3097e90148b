// Connections killed by the server (a failover, pg_terminate_backend, KILL):
// the store keeps working on new connections, and a modify whose connection
// died mid-transaction fails with a typed, retryable error and changes nothing.
// Each pool has one connection, whose id the test reads, so only our own
// connection is ever killed on the shared servers.
import { StorageBackend, type StorageError } from "@effect-persist/core"
import { KyselyBackend } from "@effect-persist/kysely"
import { mysqlServer, postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { Kysely, MysqlDialect, PostgresDialect, sql } from "kysely"
import { createConnection } from "mysql2/promise"
import { createPool as createCallbackPool } from "mysql2"
import pg from "pg"
import { afterAll } from "vitest"

const pgUrl = (await postgres()).url
const mysqlUrl = (await mysqlServer()).url
const table = "kysely_entries"

const pools = new WeakMap<Kysely<any>, pg.Pool>()

const cases = [
  {
    name: "PostgreSQL",
    open: () => {
      const pool = new pg.Pool({ connectionString: pgUrl, max: 1 })
      // As node-postgres advises (and the README repeats): a client the server
      // closes emits "error" — on the pool while idle, on the client while
      // checked out — and an unheard "error" event ends the process.
      pool.on("error", () => {})
      pool.on("connect", (client) => client.on("error", () => {}))
      const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) })
      pools.set(db, pool)
      return db
    },
    connectionId: (db: Kysely<any>) =>
      sql<{ id: number }>`select pg_backend_pid() as id`.execute(db).then((r) => Number(r.rows[0]!.id)),
    kill: async (id: number, db?: Kysely<any>) => {
      // With `db`, the connection is idle: one the server killed is one the
      // pool has seen close by the time the application next uses it, so wait
      // for the pool to drop it. (A statement sent within microseconds of the
      // kill is the "killed while in use" case, covered by the modify test.)
      const pool = db === undefined ? undefined : pools.get(db)!
      const removed = pool === undefined
        ? Promise.resolve()
        : new Promise<void>((resolve) => pool.once("remove", () => resolve()))
      const admin = new pg.Client({ connectionString: pgUrl })
      await admin.connect()
      try {
        await admin.query("select pg_terminate_backend($1)", [id])
      } finally {
        await admin.end()
      }
      await removed
    }
  },
  {
    name: "MariaDB",
    open: () => new Kysely<any>({ dialect: new MysqlDialect({ pool: createCallbackPool({ uri: mysqlUrl, connectionLimit: 1 }) }) }),
    connectionId: (db: Kysely<any>) =>
      sql<{ id: number }>`select connection_id() as id`.execute(db).then((r) => Number(r.rows[0]!.id)),
    kill: async (id: number, _db?: Kysely<any>) => {
      const admin = await createConnection(mysqlUrl)
      try {
        await admin.query("KILL CONNECTION ?", [id])
      } finally {
        await admin.end()
      }
    }
  }
]

const opened: Array<Kysely<any>> = []
afterAll(() => Promise.all(opened.map((db) => db.destroy())))

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isSuccess(exit) ? undefined : exit.cause.reasons.find(Cause.isFailReason)?.error

describe.each(cases)("connection loss on $name", ({ connectionId, kill, open }) => {
  it.effect("after the server kills an idle pooled connection, the next operations succeed", () =>
    Effect.gen(function*() {
      const db = open()
      opened.push(db)
      const backend: StorageBackend.StorageBackend = yield* KyselyBackend.make(db, { table, autoMigrate: true })
      const ns = "kysely:connection-loss:idle"
      yield* backend.set(ns, "k", "before")
      for (let round = 0; round < 3; round++) {
        yield* Effect.promise(async () => kill(await connectionId(db), db))
        yield* backend.set(ns, "k", `round ${round}`)
        expect(yield* backend.get(ns, "k")).toBe(`round ${round}`)
      }
      yield* backend.clear(ns)
    }))

  it.effect("a modify whose connection dies inside its transaction fails as Unavailable, retryable, and changes nothing", () =>
    Effect.gen(function*() {
      const db = open()
      opened.push(db)
      const backend = yield* KyselyBackend.make(db, { table, autoMigrate: true })
      const ns = "kysely:connection-loss:modify"
      yield* backend.set(ns, "counter", "1")
      const id = yield* Effect.promise(() => connectionId(db))
      let calls = 0
      const exit = yield* Effect.exit(backend.modify(ns, "counter", (value) =>
        Effect.promise(async () => {
          calls++
          // The pool's one connection holds this transaction: kill it.
          await kill(id)
          return String(Number(value) + 1)
        })))
      const error = failureOf(exit) as StorageError.StorageError
      expect(error._tag).toBe("StorageError")
      expect(error.reason).toBe("Unavailable")
      expect(error.retryable).toBe(true)
      expect(error.operation).toBe("modify")
      // The user's function ran, so the modify was not retried behind the caller's back.
      expect(calls).toBe(1)
      expect(yield* backend.get(ns, "counter")).toBe("1")
      expect(yield* backend.modify(ns, "counter", (value) => Effect.succeed(String(Number(value) + 1)))).toBe("2")
      yield* backend.clear(ns)
    }))
})
