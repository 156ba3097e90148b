/**
 * The SQLite contenders: each on its own file in a temporary directory, every
 * file in WAL mode with `synchronous = NORMAL` (our backend's defaults, set
 * on the others too, so that the comparison is store against store and not
 * pragma against pragma).
 *
 * @since 0.0.0
 */
import { KyselyBackend, KyselyMigrator, NodeSqliteDialect } from "@effect-persist/kysely"
import { SqliteBackend, SqliteMigrator } from "@effect-persist/sqlite"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import KeyvSqlite from "@keyv/sqlite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { Kysely } from "kysely"
import { join } from "node:path"
import * as Builtin from "../contenders/Builtin.ts"
import * as Keyv from "../contenders/Keyv.ts"
import * as Ours from "../contenders/Ours.ts"
import * as RawSqlite from "../contenders/RawSqlite.ts"
import type * as Scale from "../Scale.ts"
import type * as Subject from "../Subject.ts"
import * as Workload from "../Workload.ts"

/**
 * The entries table of the raw driver (our schema, migrated by our migrator).
 *
 * @category constructors
 * @since 0.0.0
 */
export const rawTable = "bench_raw_entries"

/**
 * The table of Keyv's SQLite adapter.
 *
 * @category constructors
 * @since 0.0.0
 */
export const keyvTable = "bench_keyv"

/**
 * Effect's SQLite client with the same pragmas as ours: `@effect/sql-sqlite-node`
 * already switches to WAL; `synchronous` is set to NORMAL on its one connection.
 *
 * @category layers
 * @since 0.0.0
 */
export const builtinClient = (filename: string): Layer.Layer<SqlClient.SqlClient, unknown> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe("PRAGMA busy_timeout = 5000").unprepared
    yield* sql.unsafe("PRAGMA synchronous = NORMAL").unprepared
  })).pipe(Layer.provideMerge(SqliteClient.layer({ filename })))

const keyvAdapter = async (filename: string) => {
  const adapter = new KeyvSqlite({ uri: `sqlite://${filename}`, table: keyvTable, busyTimeout: 5000 })
  await adapter.query("PRAGMA journal_mode = WAL")
  await adapter.query("PRAGMA synchronous = NORMAL")
  return adapter
}

/**
 * Opens every SQLite contender on fresh files in `dir`.
 *
 * @category constructors
 * @since 0.0.0
 */
export const subjects = async (dir: string, workload: Workload.Workload): Promise<ReadonlyArray<Subject.Subject>> => {
  const file = (name: string) => join(dir, `${name}.db`)
  const all: Array<Subject.Subject> = []

  await Effect.runPromise(SqliteMigrator.migrateFile(file("effect-persist"), { table: Ours.table }))
  all.push(
    ...await Ours.make({
      database: "sqlite",
      contender: "effect-persist",
      backend: SqliteBackend.layer({ filename: file("effect-persist"), table: Ours.table }),
      workload
    })
  )

  const kysely = new Kysely<any>({ dialect: new NodeSqliteDialect({ database: file("effect-persist-kysely") }) })
  await Effect.runPromise(KyselyMigrator.migrate(kysely, { table: Ours.kyselyTable }))
  all.push(
    ...await Ours.make({
      database: "sqlite",
      contender: "effect-persist-kysely",
      backend: KyselyBackend.layer(kysely, { table: Ours.kyselyTable }),
      workload,
      onClose: () => kysely.destroy()
    })
  )

  all.push(...await Builtin.make({ database: "sqlite", client: builtinClient(file("effect-builtin")), workload }))

  await Effect.runPromise(SqliteMigrator.migrateFile(file("raw-driver"), { table: rawTable }))
  all.push(...RawSqlite.make({ filename: file("raw-driver"), table: rawTable, workload }))

  const adapters = [await keyvAdapter(file("keyv")), await keyvAdapter(file("keyv"))] as const
  all.push(
    ...Keyv.make({
      database: "sqlite",
      adapters,
      workload,
      close: async () => {
        await adapters[0].disconnect()
        await adapters[1].disconnect()
      }
    })
  )
  return all
}

/**
 * Tables of our schema for the scale run, each in its own file in `dir`.
 *
 * @category constructors
 * @since 0.0.0
 */
export const scaleTarget = (dir: string): Scale.Target => ({
  database: "sqlite",
  table: async (name) => {
    const filename = join(dir, `${name}.db`)
    await Effect.runPromise(SqliteMigrator.migrateFile(filename, { table: Ours.table }))
    const backend = SqliteBackend.layer({ filename, table: Ours.table })
    const fill = `WITH RECURSIVE c(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM c WHERE i + 1 < ?)
INSERT INTO "${Ours.table}" (namespace, key, value, kind, expires_at)
SELECT ?, CAST(printf('key-%07d', i) AS BLOB), ?, 0, ? FROM c`
    return {
      fill: async (namespace, from, to, expiresAt) => {
        const db = RawSqlite.open(filename)
        try {
          db.prepare(fill).run(from, to, Buffer.from(namespace), Workload.kvValueOf(0), expiresAt)
        } finally {
          db.close()
        }
      },
      backend,
      ours: async (workload) =>
        (await Ours.make({ database: "sqlite", contender: "effect-persist", backend, workload }))[0],
      raw: async (workload) => RawSqlite.make({ filename, table: Ours.table, workload })[0],
      // SQLite never gathers planner statistics by itself, and our backend
      // does not ask for them: measure the table as users will have it.
      analyze: async () => {}
    }
  }
})
