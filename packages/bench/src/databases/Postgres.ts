/**
 * The PostgreSQL contenders, each with its own pool of 10 connections in
 * the benchmark's own database.
 *
 * @since 0.0.0
 */
import { KyselyBackend, KyselyMigrator } from "@effect-persist/kysely"
import { PgBackend, PgMigrator } from "@effect-persist/pg"
import * as PgClient from "@effect/sql-pg/PgClient"
import KeyvPostgres from "@keyv/postgres"
import pg from "pg"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { Kysely, PostgresDialect } from "kysely"
import * as Builtin from "../contenders/Builtin.ts"
import * as Keyv from "../contenders/Keyv.ts"
import * as Ours from "../contenders/Ours.ts"
import * as RawPg from "../contenders/RawPg.ts"
import { poolSize } from "../Model.ts"
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
 * The table of Keyv's PostgreSQL adapter.
 *
 * @category constructors
 * @since 0.0.0
 */
export const keyvTable = "bench_keyv"

/**
 * Our backend's layer on `table`, with its own pool.
 *
 * @category layers
 * @since 0.0.0
 */
export const backend = (url: string, table: string) => PgBackend.layer({ url, table, maxConnections: poolSize })

/**
 * Opens every PostgreSQL contender on the database at `url`.
 *
 * @category constructors
 * @since 0.0.0
 */
export const subjects = async (url: string, workload: Workload.Workload): Promise<ReadonlyArray<Subject.Subject>> => {
  const all: Array<Subject.Subject> = []

  await Effect.runPromise(PgMigrator.migrateUrl(url, { table: Ours.table }))
  all.push(...await Ours.make({ database: "pg", contender: "effect-persist", backend: backend(url, Ours.table), workload }))

  const kysely = new Kysely<any>({ dialect: new PostgresDialect({ pool: RawPg.pool(url) }) })
  await Effect.runPromise(KyselyMigrator.migrate(kysely, { table: Ours.kyselyTable }))
  all.push(
    ...await Ours.make({
      database: "pg",
      contender: "effect-persist-kysely",
      backend: KyselyBackend.layer(kysely, { table: Ours.kyselyTable }),
      workload,
      onClose: () => kysely.destroy()
    })
  )

  all.push(
    ...await Builtin.make({
      database: "pg",
      client: PgClient.layer({ url: Redacted.make(url), maxConnections: poolSize }),
      workload
    })
  )

  await Effect.runPromise(PgMigrator.migrateUrl(url, { table: rawTable }))
  all.push(...RawPg.make({ url, table: rawTable, workload }))

  // Both adapters share one pool: @keyv/postgres keeps one per URL.
  const adapters = [
    new KeyvPostgres({ uri: url, table: keyvTable, max: poolSize }),
    new KeyvPostgres({ uri: url, table: keyvTable, max: poolSize })
  ] as const
  all.push(...Keyv.make({ database: "pg", adapters, workload, close: () => adapters[0].disconnect() }))
  return all
}

/**
 * Tables of our schema for the scale run, in the benchmark's database.
 *
 * @category constructors
 * @since 0.0.0
 */
export const scaleTarget = (url: string): Scale.Target => ({
  database: "pg",
  table: async (name) => {
    await Effect.runPromise(PgMigrator.migrateUrl(url, { table: name }))
    const admin = async (text: string, values: ReadonlyArray<unknown> = []) => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        await client.query(text, [...values])
      } finally {
        await client.end()
      }
    }
    const layer = backend(url, name)
    return {
      fill: (namespace, from, to, expiresAt) =>
        admin(
          `INSERT INTO "${name}" (namespace, key, value, kind, expires_at)
SELECT $1::bytea, convert_to('key-' || lpad(i::text, 7, '0'), 'UTF8'), $2::bytea, 0, $3::int8
FROM generate_series($4::int, $5::int) AS i`,
          [Buffer.from(namespace), Buffer.from(Workload.kvValueOf(0)), expiresAt, from, to - 1]
        ),
      backend: layer,
      ours: async (workload) =>
        (await Ours.make({ database: "pg", contender: "effect-persist", backend: layer, workload }))[0],
      raw: async (workload) => RawPg.make({ url, table: name, workload })[0],
      analyze: () => admin(`ANALYZE "${name}"`),
      holdStatistics: () => admin(`ALTER TABLE "${name}" SET (autovacuum_enabled = false)`)
    }
  }
})
