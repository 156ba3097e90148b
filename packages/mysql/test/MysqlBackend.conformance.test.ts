// The conformance laws on a real MySQL/MariaDB server, with the default and a
// custom table name; the largest value tried is the largest the server allows.
import { suite } from "@effect-persist/conformance"
import { mysqlServer } from "@effect-persist/test-servers"
import { MysqlBackend } from "@effect-persist/mysql"
import { Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { valueLimit } from "./fixtures/admin.ts"

const server = await mysqlServer()
const largeValueBytes = await valueLimit(server.url)

suite("mysql", MysqlBackend.layer({ url: server.url, autoMigrate: true }), { largeValueBytes })
// The custom table on the application's own client: the store joins its transactions.
suite(
  "mysql (custom table, on an application's SqlClient)",
  MysqlBackend.layerFromClient({ table: "ep_conformance_custom", autoMigrate: true }).pipe(
    Layer.provideMerge(MysqlBackend.layerClient({ url: server.url }))
  ),
  { largeValueBytes, ambientTransaction: (effect) => SqlClient.SqlClient.use((sql) => sql.withTransaction(effect)) }
)
