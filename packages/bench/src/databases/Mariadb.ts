/**
 * The MariaDB contenders, each with its own pool of 10 connections in the
 * benchmark's own database.
 *
 * @since 0.0.0
 */
import { KyselyBackend, KyselyMigrator } from "@effect-persist/kysely"
import { MysqlBackend, MysqlMigrator } from "@effect-persist/mysql"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import KeyvMysql from "@keyv/mysql"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { Kysely, MysqlDialect } from "kysely"
import { createPool } from "mysql2"
import * as mysql from "mysql2/promise"
import * as Builtin from "../contenders/Builtin.ts"
import * as Keyv from "../contenders/Keyv.ts"
import * as Ours from "../contenders/Ours.ts"
import * as RawMysql from "../contenders/RawMysql.ts"
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
 * The table of Keyv's MySQL adapter.
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
export const backend = (url: string, table: string) => MysqlBackend.layer({ url, table, maxConnections: poolSize })

/**
 * Opens every MariaDB contender on the database at `url`.
 *
 * @category constructors
 * @since 0.0.0
 */
export const subjects = async (url: string, workload: Workload.Workload): Promise<ReadonlyArray<Subject.Subject>> => {
  const all: Array<Subject.Subject> = []

  await Effect.runPromise(MysqlMigrator.migrateUrl(url, { table: Ours.table }))
  all.push(
    ...await Ours.make({ database: "mariadb", contender: "effect-persist", backend: backend(url, Ours.table), workload })
  )

  // Kysely's MysqlDialect takes mysql2's callback pool.
  const kysely = new Kysely<any>({
    dialect: new MysqlDialect({ pool: createPool({ uri: url, connectionLimit: poolSize }) })
  })
  await Effect.runPromise(KyselyMigrator.migrate(kysely, { table: Ours.kyselyTable }))
  all.push(
    ...await Ours.make({
      database: "mariadb",
      contender: "effect-persist-kysely",
      backend: KyselyBackend.layer(kysely, { table: Ours.kyselyTable }),
      workload,
      onClose: () => kysely.destroy()
    })
  )

  all.push(
    ...await Builtin.make({
      database: "mariadb",
      client: MysqlClient.layer({ url: Redacted.make(url), maxConnections: poolSize }),
      workload
    })
  )

  await Effect.runPromise(MysqlMigrator.migrateUrl(url, { table: rawTable }))
  all.push(...RawMysql.make({ url, table: rawTable, workload }))

  // Both adapters share one pool: @keyv/mysql keeps one per URL.
  const adapters = [
    new KeyvMysql({ uri: url, table: keyvTable, connectionLimit: poolSize }),
    new KeyvMysql({ uri: url, table: keyvTable, connectionLimit: poolSize })
  ] as const
  all.push(
    ...Keyv.make({
      database: "mariadb",
      adapters,
      workload,
      close: async () => {
        await adapters[0].disconnect()
      }
    })
  )
  return all
}

/**
 * Tables of our schema for the scale run, in the benchmark's database. Rows
 * are generated from MariaDB's sequence tables (`seq_0_to_99999`).
 *
 * @category constructors
 * @since 0.0.0
 */
export const scaleTarget = (url: string): Scale.Target => ({
  database: "mariadb",
  table: async (name) => {
    await Effect.runPromise(MysqlMigrator.migrateUrl(url, { table: name }))
    const admin = async (text: string, values: ReadonlyArray<unknown> = []) => {
      const connection = await mysql.createConnection(url)
      try {
        await connection.query(text, [...values])
      } finally {
        await connection.end()
      }
    }
    const layer = backend(url, name)
    return {
      fill: (namespace, from, to, expiresAt) =>
        admin(
          `INSERT INTO \`${name}\` (\`namespace\`, \`key\`, \`value\`, \`kind\`, \`expires_at\`)
SELECT ?, CAST(CONCAT('key-', LPAD(seq, 7, '0')) AS BINARY), ?, 0, ? FROM seq_${from}_to_${to - 1}`,
          [Buffer.from(namespace), Buffer.from(Workload.kvValueOf(0)), expiresAt]
        ),
      backend: layer,
      ours: async (workload) =>
        (await Ours.make({ database: "mariadb", contender: "effect-persist", backend: layer, workload }))[0],
      raw: async (workload) => RawMysql.make({ url, table: name, workload })[0],
      analyze: () => admin(`ANALYZE TABLE \`${name}\``)
    }
  }
})
