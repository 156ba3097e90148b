// The conformance laws on a real MySQL/MariaDB server, with the default and a
// custom table name; the largest value tried is the largest the server allows.
import { suite } from "@effect-persist/conformance"
import { mysqlServer } from "@effect-persist/test-servers"
import { MysqlBackend } from "@effect-persist/mysql"
import { valueLimit } from "./fixtures/admin.ts"

const server = await mysqlServer()
const largeValueBytes = await valueLimit(server.url)

suite("mysql", MysqlBackend.layer({ url: server.url, autoMigrate: true }), { largeValueBytes })
suite(
  "mysql (custom table)",
  MysqlBackend.layer({ url: server.url, table: "ep_conformance_custom", autoMigrate: true }),
  { largeValueBytes }
)
