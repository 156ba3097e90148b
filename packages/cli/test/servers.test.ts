import { mysqlServer, postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { cli } from "./run.ts"

const pg = await postgres()
const maria = await mysqlServer()

/** Runs SQL through the database's own command-line client, as a DBA applying a script would. */
const psql = (sql: string): string => {
  const url = new URL(pg.url)
  return execFileSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", pg.url.replace(url.search, "")], {
    input: sql,
    encoding: "utf8"
  })
}
const mariadb = (sql: string): string => {
  const url = new URL(maria.url)
  const args = ["-h", url.hostname, "-P", url.port || "3306", "-u", decodeURIComponent(url.username), "-N", "-B", url.pathname.slice(1)]
  return execFileSync("mariadb", args, {
    input: sql,
    encoding: "utf8",
    env: { ...process.env, MYSQL_PWD: decodeURIComponent(url.password) }
  })
}

interface Database {
  readonly name: string
  readonly url: string
  readonly dialect: "pg" | "mysql"
  readonly exec: (sql: string) => string
  /** The table's columns and indexes, with the table name replaced by `T`. */
  readonly schemaOf: (table: string) => string
  readonly drop: (table: string) => void
  readonly insertExpired: (table: string, expired: number, live: number) => void
}

const databases: ReadonlyArray<Database> = [
  {
    name: "PostgreSQL",
    url: pg.url,
    dialect: "pg",
    exec: psql,
    schemaOf: (table) =>
      psql(`SELECT column_name, data_type, is_nullable, coalesce(column_default, '') FROM information_schema.columns
  WHERE table_name = '${table}' ORDER BY ordinal_position;
SELECT replace(indexdef, '${table}', 'T') FROM pg_indexes WHERE tablename = '${table}' ORDER BY indexname;
SELECT replace(pg_get_constraintdef(c.oid), '${table}', 'T') FROM pg_constraint c WHERE conrelid = '${table}'::regclass ORDER BY conname;`),
    drop: (table) => {
      psql(`DROP TABLE IF EXISTS ${table}; DELETE FROM effect_persist_migrations WHERE table_name = '${table}';`)
    },
    insertExpired: (table, expired, live) => {
      psql(`INSERT INTO ${table} (namespace, key, value, kind, expires_at)
  SELECT convert_to('kv:sweep', 'UTF8'), convert_to('expired-' || i, 'UTF8'), '\\x78', 0, 1 FROM generate_series(1, ${expired}) i;
INSERT INTO ${table} (namespace, key, value, kind, expires_at)
  SELECT convert_to('kv:sweep', 'UTF8'), convert_to('live-' || i, 'UTF8'), '\\x78', 0, 9999999999999 FROM generate_series(1, ${live}) i;`)
    }
  },
  {
    name: "MariaDB",
    url: maria.url,
    dialect: "mysql",
    exec: mariadb,
    schemaOf: (table) => mariadb(`SHOW CREATE TABLE \`${table}\``).replaceAll(table, "T").replace(/^T\t/, ""),
    drop: (table) => {
      mariadb(`DROP TABLE IF EXISTS \`${table}\`; DELETE FROM effect_persist_migrations WHERE table_name = '${table}';`)
    },
    insertExpired: (table, expired, live) => {
      mariadb(`INSERT INTO \`${table}\` (namespace, \`key\`, value, kind, expires_at)
  SELECT 'kv:sweep', CONCAT('expired-', seq), 'x', 0, 1 FROM seq_1_to_${expired};
INSERT INTO \`${table}\` (namespace, \`key\`, value, kind, expires_at)
  SELECT 'kv:sweep', CONCAT('live-', seq), 'x', 0, 9999999999999 FROM seq_1_to_${live};`)
    }
  }
]

describe.each(databases)("effect-persist command on $name", { timeout: 180_000 }, (db) => {
  const table = `cli_${db.dialect}_entries`
  const printedTable = `cli_${db.dialect}_printed`

  it("migrates a fresh table, reports it clean, re-runs idempotently, and reports drift", async () => {
    db.drop(table)
    const before = await cli(["status", "--url", db.url, "--table", table])
    expect(before.code).toBe(2)
    const first = await cli(["migrate", "--url", db.url, "--table", table])
    expect(first.stderr).toBe("")
    expect(first.code).toBe(0)
    expect(first.stdout).toContain("applied 0001_create_entries")
    const status = JSON.parse((await cli(["status", "--url", db.url, "--table", table, "--json"])).stdout)
    expect(status).toMatchObject({ dialect: db.dialect, clean: true, version: 1, pending: [], drifted: [] })
    const again = await cli(["migrate", "--url", db.url, "--table", table, "--json"])
    expect(JSON.parse(again.stdout).applied).toEqual([])

    db.exec(`UPDATE effect_persist_migrations SET checksum = 'edited' WHERE table_name = '${table}' AND version = 1`)
    const drifted = await cli(["status", "--url", db.url, "--table", table])
    expect(drifted.code).toBe(2)
    expect(drifted.stdout).toContain("DRIFTED")
    db.drop(table)
  })

  it("`sql` output applied by the database's own client produces the same schema as `migrate`", async () => {
    db.drop(table)
    db.drop(printedTable)
    expect((await cli(["migrate", "--url", db.url, "--table", table])).code).toBe(0)
    const printed = await cli(["sql", "--dialect", db.dialect, "--table", printedTable])
    expect(printed.code).toBe(0)
    db.exec(printed.stdout)
    const migrated = db.schemaOf(table).replaceAll(table, "T")
    expect(migrated.length).toBeGreaterThan(0)
    expect(db.schemaOf(printedTable).replaceAll(printedTable, "T")).toBe(migrated)
    db.drop(table)
    db.drop(printedTable)
  })

  it("sweep deletes exactly the expired rows, and inspect counts them before and after", async () => {
    db.drop(table)
    expect((await cli(["migrate", "--url", db.url, "--table", table])).code).toBe(0)
    db.insertExpired(table, 3000, 25)
    const before = JSON.parse((await cli(["inspect", "--url", db.url, "--table", table, "--json"])).stdout)
    expect(before.namespaces).toEqual([{ namespace: "kv:sweep", entries: 3025, bytes: expect.any(Number), expired: 3000 }])
    const sweep = await cli(["sweep", "--url", db.url, "--table", table, "--json"])
    expect(sweep.code).toBe(0)
    expect(JSON.parse(sweep.stdout).deleted).toBe(3000)
    const after = JSON.parse((await cli(["inspect", "--url", db.url, "--table", table, "--json"])).stdout)
    expect(after.namespaces).toEqual([{ namespace: "kv:sweep", entries: 25, bytes: expect.any(Number), expired: 0 }])
    db.drop(table)
  })

  it("never prints the password of the URL", async () => {
    const url = new URL(db.url)
    url.password = "not-the-password"
    url.port = "1"
    const result = await cli(["status", "--url", url.toString(), "--table", table])
    expect(result.code).toBe(1)
    expect(result.stdout + result.stderr).not.toContain("not-the-password")
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
  })
})
