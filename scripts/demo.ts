// The Quick start demo: effect-persist on an embedded SQLite file.
//
// 1. migrates the file (once; later runs find nothing pending),
// 2. uses Effect's KeyValueStore: counts runs and remembers the last one,
// 3. uses Effect's PersistedCache over Persistence: a slow lookup runs once,
//    and every later run of this script is served from what was persisted.
//
// Run it twice: the second run shows results persisted by the first.
import { Services } from "@effect-persist/core"
import { SqliteBackend, SqliteMigrator } from "@effect-persist/sqlite"
import { Console, Effect, Layer, Schema } from "effect"
import { KeyValueStore, Persistable, PersistedCache } from "effect/persistence"
import { mkdirSync } from "node:fs"
import { join } from "node:path"

const filename = process.env.EFFECT_PERSIST_DEMO_FILE ?? join(import.meta.dirname, "..", ".data", "demo.db")

// A request whose result is worth persisting: the prime factors of a number.
class Factorize extends Persistable.Class<{ payload: { readonly n: number } }>()("Factorize", {
  primaryKey: ({ n }) => `factorize:${n}`,
  success: Schema.Array(Schema.Number)
}) {}

let lookups = 0
const factorize = (request: Factorize) =>
  Effect.sync(() => {
    lookups++
    const factors: Array<number> = []
    let rest = request.n
    for (let p = 2; p * p <= rest; p++) {
      while (rest % p === 0) {
        factors.push(p)
        rest /= p
      }
    }
    if (rest > 1) factors.push(rest)
    return factors
  }).pipe(Effect.delay("200 millis")) // stands in for a slow service

const program = Effect.gen(function*() {
  const kv = yield* KeyValueStore.KeyValueStore
  const previous = yield* kv.get("last-run")
  const runs = (yield* kv.modify("runs", (n) => String(Number(n) + 1))) ?? (yield* kv.set("runs", "1"), "1")
  yield* kv.set("last-run", new Date().toISOString())
  yield* Console.log(`KeyValueStore: run #${runs}${previous ? `; previous run at ${previous}` : "; first run"}`)

  const cache = yield* PersistedCache.make(factorize, { storeId: "demo-factors", timeToLive: () => "1 day" })
  const numbers = [600_851_475_143, 9_007_199_254_740_881, 1_000_000_007 * 999_983]
  const started = Date.now()
  for (const n of numbers) {
    const factors = yield* cache.get(new Factorize({ n }))
    yield* Console.log(`PersistedCache: factors of ${n} = ${factors.join(" × ")}`)
  }
  const served = numbers.length - lookups
  yield* Console.log(
    `PersistedCache: ${lookups} computed, ${served} served from ${filename} in ${Date.now() - started} ms` +
      (served === numbers.length ? " (persisted by an earlier run)" : " (run me again to see them served from the store)")
  )
})

const main = Effect.gen(function*() {
  mkdirSync(join(filename, ".."), { recursive: true })
  const migrated = yield* SqliteMigrator.migrateFile(filename)
  yield* Console.log(
    migrated.applied.length === 0
      ? `migrate: ${filename} is up to date`
      : `migrate: applied ${migrated.applied.map((m) => `${String(m.version).padStart(4, "0")}_${m.name}`).join(", ")} to ${filename}`
  )
  yield* Effect.scoped(program).pipe(
    // One backend (one connection to the file) serves both services.
    Effect.provide(
      Layer.mergeAll(Services.layerKeyValueStore({ name: "demo" }), Services.layerPersistence).pipe(
        Layer.provide(SqliteBackend.layer({ filename }))
      )
    )
  )
})

Effect.runPromise(main).catch((error) => {
  console.error(`demo failed: ${error?.message ?? error}`)
  process.exit(1)
})
