import { suite } from "@effect-persist/conformance"
import { PgBackend } from "@effect-persist/pg"
import { postgres } from "@effect-persist/test-servers"
import { Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"

const server = await postgres()

suite("pg", PgBackend.layer({ url: server.url, autoMigrate: true }))
// The custom table on the application's own client: the store joins its transactions.
suite(
  "pg, custom table, on an application's SqlClient",
  PgBackend.layerFromClient({ table: "pg_conformance_custom", autoMigrate: true }).pipe(
    Layer.provideMerge(PgBackend.layerClient({ url: server.url }))
  ),
  { ambientTransaction: (effect) => SqlClient.SqlClient.use((sql) => sql.withTransaction(effect)) }
)
