import { suite } from "@effect-persist/conformance"
import { SqliteBackend } from "@effect-persist/sqlite"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"

const dir = mkdtempSync(join(tmpdir(), "effect-persist-conformance-"))

suite("sqlite in-memory", SqliteBackend.layer({ filename: ":memory:", autoMigrate: true }))
suite("sqlite file", SqliteBackend.layer({ filename: join(dir, "default.db"), autoMigrate: true }))
suite("sqlite file, custom table", SqliteBackend.layer({ filename: join(dir, "custom.db"), table: "app_cache", autoMigrate: true }))
suite(
  "sqlite on an application's SqlClient",
  SqliteBackend.layerFromClient({ autoMigrate: true }).pipe(
    Layer.provideMerge(SqliteBackend.layerClient({ filename: join(dir, "client.db") }))
  ),
  { ambientTransaction: (effect) => SqlClient.SqlClient.use((sql) => sql.withTransaction(effect)) }
)
