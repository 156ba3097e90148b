// An interrupted operation either did not happen or happened before the
// interruption completed: it never lands after the caller's next
// acknowledged write. Found by interleaving fuzzing: a remove cut short by
// `Effect.timeout` stayed queued in mysql2's pool and deleted the value the
// caller had set after it (21 of 200 rounds), and an interrupted setMany
// brought back keys a later clearPrefix had removed.
import { MysqlBackend } from "@effect-persist/mysql"
import { mysqlServer } from "@effect-persist/test-servers"
import { afterAll, expect, layer } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { adminLayer, dropTables, runToken, withAdmin } from "./fixtures/admin.ts"

const url = (await mysqlServer()).url
const table = `ep_interrupt_${runToken}`
const rounds = 200

afterAll(() => withAdmin(url, (sql) => dropTables(sql, table)))

const randomDelay = Effect.sync(() => Duration.micros(BigInt(Math.floor(Math.random() * 2000))))

// Eight fibers writing keys of their own keep every pooled connection busy,
// so an abandoned statement waits in the pool's queue.
const load = (backend: { readonly set: (ns: string, key: string, value: string) => Effect.Effect<void, unknown> }) =>
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

layer(adminLayer(url), { excludeTestServices: true })("an interrupted operation", (it) => {
  it.effect("a remove cut short by a timeout never deletes the value set after it", () =>
    Effect.gen(function*() {
      const backend = yield* MysqlBackend.open({ url, table, autoMigrate: true })
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
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.effect("a setMany cut short by a timeout never brings back keys a later clearPrefix removed", () =>
    Effect.gen(function*() {
      const backend = yield* MysqlBackend.open({ url, table, autoMigrate: true })
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
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.effect("a setMany of several statements cut short never brings back keys a later clearPrefix removed", () =>
    Effect.gen(function*() {
      const backend = yield* MysqlBackend.open({ url, table, autoMigrate: true })
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
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.effect("a modify interrupted at any point leaves the value it read or the one it wrote, and the pool stays usable", () =>
    Effect.gen(function*() {
      const backend = yield* MysqlBackend.open({ url, table, autoMigrate: true, maxConnections: 2 })
      const loader = yield* load(backend)
      const wrong: Array<string> = []
      for (let i = 0; i < rounds; i++) {
        yield* backend.set("zombie-modify", "k", `v${i}`)
        yield* Effect.exit(
          Effect.timeout(backend.modify("zombie-modify", "k", (v) => Effect.succeed(`${v}+`)), yield* randomDelay)
        )
        const after = yield* backend.get("zombie-modify", "k")
        // Whatever the interruption, the next acknowledged write is the one read back.
        yield* backend.set("zombie-modify", "k", `w${i}`)
        yield* Effect.sleep("2 millis")
        const next = yield* backend.get("zombie-modify", "k")
        if ((after !== `v${i}` && after !== `v${i}+`) || next !== `w${i}`) wrong.push(`${i}: ${after} then ${next}`)
      }
      yield* Fiber.interrupt(loader)
      expect(wrong).toEqual([])
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.effect("the function given to modify can be interrupted; its transaction rolls back", () =>
    Effect.gen(function*() {
      const backend = yield* MysqlBackend.open({ url, table, autoMigrate: true, maxConnections: 1 })
      yield* backend.set("zombie-modify", "slow", "before")
      const exit = yield* Effect.exit(
        Effect.timeout(
          backend.modify("zombie-modify", "slow", () => Effect.as(Effect.never, "never written")),
          "100 millis"
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      // One connection: had the transaction kept it, or its row lock, this would wait.
      expect(yield* backend.modify("zombie-modify", "slow", (v) => Effect.succeed(`${v}+`))).toBe("before+")
      expect(yield* backend.get("zombie-modify", "slow")).toBe("before+")
    }).pipe(Effect.scoped), { timeout: 30_000 })
})
