// An interrupted operation either did not happen or happened before the
// interruption completed: it never lands after the caller's next
// acknowledged write. Found by interleaving fuzzing: Kysely's promise kept
// running after `Effect.timeout` gave up on it, and a remove deleted the
// value the caller had set after it (12 of 200 rounds on PostgreSQL, 4 on
// MariaDB).
import { type StorageBackend } from "@effect-persist/core"
import { KyselyBackend, KyselyMigrator } from "@effect-persist/kysely"
import { mysqlServer, postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber } from "effect"
import { Kysely, MysqlDialect, PostgresDialect } from "kysely"
import { createPool } from "mysql2"
import pg from "pg"
import { afterAll } from "vitest"

const pgUrl = (await postgres()).url
const mysqlUrl = (await mysqlServer()).url
const table = "kysely_interrupt"
const rounds = 200

const databases = {
  pg: () => new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: pgUrl, max: 10 }) }) }),
  mysql: () => new Kysely<any>({ dialect: new MysqlDialect({ pool: createPool({ uri: mysqlUrl, connectionLimit: 10 }) }) })
}
const opened: Array<Kysely<any>> = []
afterAll(() => Promise.all(opened.map((db) => db.destroy())))

const open = (name: keyof typeof databases) =>
  Effect.gen(function*() {
    const db = databases[name]()
    opened.push(db)
    yield* KyselyMigrator.migrate(db, { table })
    return yield* KyselyBackend.make(db, { table })
  })

const randomDelay = Effect.sync(() => Duration.micros(BigInt(Math.floor(Math.random() * 2000))))

// Eight fibers writing keys of their own keep every pooled connection busy,
// so an abandoned query waits in the pool's queue.
const load = (backend: StorageBackend.StorageBackend) =>
  Effect.forkChild(
    Effect.forEach(
      Array.from({ length: 8 }, (_, n) => n),
      (n) => {
        let i = 0
        return Effect.forever(Effect.ignore(backend.set("load", `${n}-${i++ % 64}`, "x")))
      },
      { concurrency: "unbounded", discard: true }
    )
  )

describe.each(["pg", "mysql"] as const)("Kysely on %s: an interrupted operation", (name) => {
  it.live("a remove cut short by a timeout never deletes the value set after it", () =>
    Effect.gen(function*() {
      const backend = yield* open(name)
      const loader = yield* load(backend)
      const lost: Array<number> = []
      for (let i = 0; i < rounds; i++) {
        yield* Effect.exit(Effect.timeout(backend.remove("zombie", "k"), yield* randomDelay))
        yield* backend.set("zombie", "k", `v${i}`)
        yield* Effect.sleep("10 millis")
        if ((yield* backend.get("zombie", "k")) !== `v${i}`) lost.push(i)
      }
      yield* Fiber.interrupt(loader)
      expect(lost).toEqual([])
    }), { timeout: 60_000 })

  it.live("a setMany cut short by a timeout never brings back keys a later clearPrefix removed", () =>
    Effect.gen(function*() {
      const backend = yield* open(name)
      const loader = yield* load(backend)
      const revived: Array<number> = []
      const entries = ["p/a", "p/b", "p/c"].map((key) => ({ key, value: "old" }))
      for (let i = 0; i < rounds; i++) {
        yield* Effect.exit(Effect.timeout(backend.setMany("zombie-batch", entries), yield* randomDelay))
        yield* backend.clearPrefix("zombie-batch", "p/")
        yield* Effect.sleep("10 millis")
        if ((yield* backend.keys("zombie-batch", "p/")).length > 0) revived.push(i)
      }
      yield* Fiber.interrupt(loader)
      expect(revived).toEqual([])
    }), { timeout: 60_000 })

  it.live("a setMany of several statements cut short never brings back keys a later clearPrefix removed", () =>
    Effect.gen(function*() {
      const backend = yield* open(name)
      const loader = yield* load(backend)
      const revived: Array<number> = []
      // Three statements' worth, written in one transaction.
      const entries = Array.from({ length: 2500 }, (_, i) => ({ key: `p/${i}`, value: "old" }))
      for (let i = 0; i < 50; i++) {
        yield* Effect.exit(Effect.timeout(backend.setMany("zombie-large", entries), Duration.millis(Math.random() * 20)))
        yield* backend.clearPrefix("zombie-large", "p/")
        yield* Effect.sleep("10 millis")
        if ((yield* backend.size("zombie-large", "p/")) > 0) revived.push(i)
      }
      yield* Fiber.interrupt(loader)
      expect(revived).toEqual([])
    }), { timeout: 60_000 })

  it.live("a modify interrupted at any point leaves the value it read or the one it wrote", () =>
    Effect.gen(function*() {
      const backend = yield* open(name)
      const loader = yield* load(backend)
      const wrong: Array<string> = []
      for (let i = 0; i < rounds; i++) {
        yield* backend.set("zombie-modify", "k", `v${i}`)
        yield* Effect.exit(
          Effect.timeout(backend.modify("zombie-modify", "k", (v) => Effect.succeed(`${v}+`)), yield* randomDelay)
        )
        const after = yield* backend.get("zombie-modify", "k")
        yield* backend.set("zombie-modify", "k", `w${i}`)
        yield* Effect.sleep("2 millis")
        const next = yield* backend.get("zombie-modify", "k")
        if ((after !== `v${i}` && after !== `v${i}+`) || next !== `w${i}`) wrong.push(`${i}: ${after} then ${next}`)
      }
      yield* Fiber.interrupt(loader)
      expect(wrong).toEqual([])
    }), { timeout: 60_000 })

  it.live("the function given to modify can be interrupted; its transaction rolls back and frees its connection", () =>
    Effect.gen(function*() {
      const backend = yield* open(name)
      yield* backend.set("zombie-modify", "slow", "before")
      const exit = yield* Effect.exit(
        Effect.timeout(backend.modify("zombie-modify", "slow", () => Effect.as(Effect.never, "never written")), "100 millis")
      )
      expect(Exit.isFailure(exit)).toBe(true)
      // Had the transaction kept its row lock, this would wait for it.
      expect(yield* backend.modify("zombie-modify", "slow", (v) => Effect.succeed(`${v}+`))).toBe("before+")
    }), { timeout: 30_000 })
})
