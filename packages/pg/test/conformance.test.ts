import { suite } from "@effect-persist/conformance"
import { PgBackend } from "@effect-persist/pg"
import { postgres } from "@effect-persist/test-servers"

const server = await postgres()

suite("pg", PgBackend.layer({ url: server.url, autoMigrate: true }))
suite("pg, custom table", PgBackend.layer({ url: server.url, table: "pg_conformance_custom", autoMigrate: true }))
