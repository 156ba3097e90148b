import { SqliteMigrator } from "@effect-persist/sqlite"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { DatabaseSync } from "node:sqlite"
import * as Statements from "../src/internal/statements.ts"

// Plans, not timings: a statement whose plan scans the namespace costs more
// as the table grows, which is what the design rules out.
describe("SQLite query plans", () => {
  it.effect("getMany looks each key up by primary key on a table that was never ANALYZEd", () =>
    Effect.gen(function*() {
      const db = new DatabaseSync(":memory:")
      db.exec(yield* SqliteMigrator.renderSql({ table: "entries" }))
      const insert = db.prepare("INSERT INTO entries (namespace, key, value, kind) VALUES (?, ?, 'v', 0)")
      const ns = Buffer.from("kv:plan")
      for (let i = 0; i < 1000; i++) insert.run(ns, Buffer.from(`key-${i}`))
      const keys = Array.from({ length: 100 }, (_, i) => Buffer.from(`key-${i * 7}`))
      const text = Statements.make("entries").getMany(keys.length)
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${text}`).all(...keys, ns, Date.now()) as Array<{ detail: string }>)
        .map((row) => row.detail)
      expect(plan).toContain("SCAN k")
      expect(plan.some((step) => /^SEARCH e USING INDEX \S+ \(namespace=\? AND key=\?\)$/.test(step))).toBe(true)
      expect(plan.join("\n")).not.toContain("AUTOMATIC")
      expect(db.prepare(text).all(...keys, ns, Date.now())).toHaveLength(100)
      db.close()
    }))
})
