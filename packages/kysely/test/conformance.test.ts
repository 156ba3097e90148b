import { suite } from "@effect-persist/conformance"
import { KyselyBackend, NodeSqliteDialect } from "@effect-persist/kysely"
import { mysqlServer, postgres } from "@effect-persist/test-servers"
import { Kysely, MysqlDialect, PostgresDialect } from "kysely"
import { createPool } from "mysql2"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import pg from "pg"
import { afterAll } from "vitest"

const dir = mkdtempSync(join(tmpdir(), "effect-persist-kysely-"))
const sqlite = new Kysely<any>({ dialect: new NodeSqliteDialect({ database: join(dir, "conformance.db") }) })
const postgresDb = new Kysely<any>({
  dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: (await postgres()).url }) })
})
const mysqlDb = new Kysely<any>({ dialect: new MysqlDialect({ pool: createPool((await mysqlServer()).url) }) })
afterAll(() => Promise.all([sqlite.destroy(), postgresDb.destroy(), mysqlDb.destroy()]))

suite("kysely sqlite file", KyselyBackend.layer(sqlite, { autoMigrate: true }))
suite("kysely sqlite file, custom table", KyselyBackend.layer(sqlite, { table: "kysely_entries", autoMigrate: true }))
suite("kysely pg", KyselyBackend.layer(postgresDb, { table: "kysely_entries", autoMigrate: true }))
suite("kysely mysql", KyselyBackend.layer(mysqlDb, { table: "kysely_entries", autoMigrate: true }))
