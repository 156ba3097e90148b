// @effect/sql-mysql2's only Effect 4 release imports `effect/unstable/sql/*`,
// which effect 4.1 moved to `effect/sql/*`; patches/ rewrites the imports.
// These tests fail if that patch stops applying (say, after a version bump).
import { createRequire } from "node:module"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import { mysqlServer } from "@effect-persist/test-servers"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"

const server = await mysqlServer()

describe("the @effect/sql-mysql2 import-path patch", () => {
  it("leaves no import of effect/unstable in the installed package", () => {
    const entry = createRequire(import.meta.url).resolve("@effect/sql-mysql2/MysqlClient")
    const dist = dirname(entry)
    const offenders = readdirSync(dist)
      .filter((file) => file.endsWith(".js"))
      .filter((file) => readFileSync(join(dist, file), "utf8").includes("effect/unstable/"))
    expect(offenders).toEqual([])
  })

  it.effect("provides its client under effect/sql/SqlClient's tag, and the client runs statements", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(MysqlClient.layer({ url: Redacted.make(server.url), maxConnections: 1 }))
      const mysql = Context.get(context, MysqlClient.MysqlClient)
      const sql = Context.get(context, SqlClient.SqlClient)
      expect(sql).toBe(mysql)
      expect(yield* sql.unsafe("SELECT 1 + 1").values).toEqual([[2]])
    }).pipe(Effect.scoped))
})
