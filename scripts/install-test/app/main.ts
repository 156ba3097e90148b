// The program the install test type-checks and runs in a fresh project that
// installed the packed tarballs with npm: what a user of the packages writes.
// For each database it is given, it migrates, sets and gets through Effect's
// KeyValueStore, and looks a value up through a PersistedCache twice (the
// second, fresh cache must be served from the store). On SQLite it then does
// the same through @effect-persist/kysely on the same file, which must find
// what @effect-persist/sqlite wrote. It prints one JSON line per run for the
// test to check.
//
//   SQLITE_FILE=app.db PG_URL=postgres://… MYSQL_URL=mysql://… node main.ts
import { Services, type StorageBackend } from "@effect-persist/core"
import { KyselyBackend, KyselyMigrator, NodeSqliteDialect } from "@effect-persist/kysely"
import { MysqlBackend, MysqlMigrator } from "@effect-persist/mysql"
import { PgBackend, PgMigrator } from "@effect-persist/pg"
import { SqliteBackend, SqliteMigrator } from "@effect-persist/sqlite"
import { Effect, Layer, Schema } from "effect"
import { KeyValueStore, Persistable, PersistedCache } from "effect/persistence"
import { Kysely } from "kysely"

const table = "effect_persist_install_test"
// A fresh name per run on the servers, so that runs never see each other.
const run = process.env.RUN_ID ?? "local"

class Square extends Persistable.Class<{ payload: { readonly n: number } }>()("Square", {
  primaryKey: ({ n }) => `square:${n}`,
  success: Schema.Number
}) {}

const exercise = (
  database: string,
  migrate: Effect.Effect<{ readonly applied: ReadonlyArray<{ readonly name: string }> }, unknown>,
  backend: Layer.Layer<StorageBackend.StorageBackend, unknown>
) =>
  Effect.gen(function*() {
    const migrated = yield* migrate
    let lookups = 0
    const square = (request: Square) => Effect.sync(() => (lookups++, request.n * request.n))
    const result = yield* Effect.gen(function*() {
      const kv = yield* KeyValueStore.KeyValueStore
      const previous = yield* kv.get("greeting")
      yield* kv.set("greeting", `hello from ${database}`)
      const greeting = yield* kv.get("greeting")
      // Two caches, as two processes would have: the second is served from the store.
      const first = yield* PersistedCache.make(square, { storeId: `squares-${run}`, timeToLive: () => "1 hour" })
      const second = yield* PersistedCache.make(square, { storeId: `squares-${run}`, timeToLive: () => "1 hour" })
      const values = [yield* first.get(new Square({ n: 12 })), yield* second.get(new Square({ n: 12 }))]
      return { previous: previous ?? null, greeting: greeting ?? null, values, lookups }
    }).pipe(
      Effect.scoped,
      Effect.provide(
        Layer.mergeAll(Services.layerKeyValueStore({ name: `app-${run}` }), Services.layerPersistence).pipe(
          Layer.provide(backend)
        )
      )
    )
    console.log(JSON.stringify({ database, migrated: migrated.applied.map((m) => m.name), ...result }))
  })

// The installed declarations must be real types, not \`any\`: each of these
// mistakes has to be a type error (tsc fails on an unused @ts-expect-error).
export const mistakes = () => [
  // @ts-expect-error filename is a string
  SqliteBackend.layer({ filename: 42 }),
  // @ts-expect-error a KeyValueStore needs a name
  Services.layerKeyValueStore({ name: 1 })
]
// @ts-expect-error internal modules are not exported
export type Internal = typeof import("@effect-persist/core/internal/json")

const databases: Array<Effect.Effect<void, unknown>> = []
const sqliteFile = process.env.SQLITE_FILE
if (sqliteFile) {
  databases.push(exercise("sqlite", SqliteMigrator.migrateFile(sqliteFile, { table }), SqliteBackend.layer({ filename: sqliteFile, table })))
  const db = new Kysely<object>({ dialect: new NodeSqliteDialect({ database: sqliteFile }) })
  databases.push(
    exercise("kysely", KyselyMigrator.migrate(db, { table }), KyselyBackend.layer(db, { table })).pipe(
      Effect.ensuring(Effect.promise(() => db.destroy()))
    )
  )
}
const pgUrl = process.env.PG_URL
if (pgUrl) {
  databases.push(exercise("pg", PgMigrator.migrateUrl(pgUrl, { table }), PgBackend.layer({ url: pgUrl, table })))
}
const mysqlUrl = process.env.MYSQL_URL
if (mysqlUrl) {
  databases.push(exercise("mysql", MysqlMigrator.migrateUrl(mysqlUrl, { table }), MysqlBackend.layer({ url: mysqlUrl, table })))
}

Effect.runPromise(Effect.forEach(databases, (database) => database, { discard: true })).catch((error) => {
  console.error(error)
  process.exit(1)
})
