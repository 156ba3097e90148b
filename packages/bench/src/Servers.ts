/**
 * The database servers of a run. They are found the way the test suites
 * find them (`EFFECT_PERSIST_PG_URL`, `EFFECT_PERSIST_MYSQL_URL`, else the
 * local default addresses), and every contender works in a database of the
 * benchmark's own, created fresh for the run and dropped after it: nothing
 * the tests or an application keep on those servers is touched, including
 * `effect_persistence`, the table name `Persistence.layerBackingSql` cannot
 * be told to change.
 *
 * @since 0.0.0
 */
import { mysqlServer, postgres, redact } from "@effect-persist/test-servers"
import mysql from "mysql2/promise"
import pg from "pg"

/**
 * The database the benchmark creates on each server (and drops at the
 * end): `EFFECT_PERSIST_BENCH_DATABASE`, so that runs sharing a server can
 * each have their own, else `effect_persist_bench`.
 *
 * @category constructors
 * @since 0.0.0
 */
export const benchDatabase = process.env.EFFECT_PERSIST_BENCH_DATABASE ?? "effect_persist_bench"

/**
 * A server database ready for the contenders.
 *
 * @category models
 * @since 0.0.0
 */
export interface Server {
  /** URL of the benchmark's own database. */
  readonly url: string
  /** What the server says it is, for the report. */
  readonly version: string
  /** Drops the benchmark's database. */
  readonly drop: () => Promise<void>
}

const withDatabase = (url: string, database: string): string => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

/**
 * Creates a fresh benchmark database on the PostgreSQL server.
 *
 * @category constructors
 * @since 0.0.0
 */
export const postgresServer = async (): Promise<Server> => {
  const { url } = await postgres()
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  try {
    const version = (await admin.query<{ readonly v: string }>("SELECT version() AS v")).rows[0]!.v
    await admin.query(`DROP DATABASE IF EXISTS ${benchDatabase} WITH (FORCE)`)
    await admin.query(`CREATE DATABASE ${benchDatabase}`)
    return {
      url: withDatabase(url, benchDatabase),
      version: version.split(" on ")[0]!,
      drop: async () => {
        const client = new pg.Client({ connectionString: url })
        await client.connect()
        try {
          await client.query(`DROP DATABASE IF EXISTS ${benchDatabase} WITH (FORCE)`)
        } finally {
          await client.end()
        }
      }
    }
  } catch (cause) {
    throw new Error(`Could not create the benchmark database on ${redact(url)}: ${String(cause)}`, { cause })
  } finally {
    await admin.end()
  }
}

/**
 * Creates a fresh benchmark database on the MariaDB (or MySQL) server.
 *
 * @category constructors
 * @since 0.0.0
 */
export const mariadbServer = async (): Promise<Server> => {
  const { url } = await mysqlServer()
  const admin = await mysql.createConnection(url)
  try {
    const [rows] = await admin.query("SELECT VERSION() AS v")
    const version = (rows as Array<{ readonly v: string }>)[0]!.v
    await admin.query(`DROP DATABASE IF EXISTS ${benchDatabase}`)
    await admin.query(`CREATE DATABASE ${benchDatabase}`)
    return {
      url: withDatabase(url, benchDatabase),
      version: /mariadb/i.test(version) ? `MariaDB ${version}` : `MySQL ${version}`,
      drop: async () => {
        const connection = await mysql.createConnection(url)
        try {
          await connection.query(`DROP DATABASE IF EXISTS ${benchDatabase}`)
        } finally {
          await connection.end()
        }
      }
    }
  } catch (cause) {
    throw new Error(`Could not create the benchmark database on ${redact(url)}: ${String(cause)}`, { cause })
  } finally {
    await admin.end()
  }
}
