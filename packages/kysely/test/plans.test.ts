// Plans, not timings, on a table that grew after its statements were
// prepared: migrate, run every call shape seven times on the empty table,
// write 300,000 rows without ANALYZE, then read what each database does with
// the statements it prepared while the table was empty.
//
// - PostgreSQL keeps one generic plan per named statement after five
//   executions, made from the statistics of that moment, until an ANALYZE.
//   Kysely's own PostgresDialect sends every statement unnamed (planned per
//   call), but drivers that name their statements exist (postgres.js), so
//   the test names them, as such a driver would, and reads the generic plans.
// - MariaDB optimizes a prepared statement again at every EXECUTE, with the
//   row estimates of that moment (its handler counters show the reads).
// - SQLite fixes a statement's plan when it is prepared, and without
//   sqlite_stat1 its planner ignores table sizes: the plan prepared on the
//   empty table is the plan of the grown one.
import { StorageBackend } from "@effect-persist/core"
import { KyselyBackend, KyselyMigrator, NodeSqliteDialect } from "@effect-persist/kysely"
import { mysqlServer, postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Kysely, MysqlDialect, PostgresDialect } from "kysely"
import { createPool } from "mysql2/promise"
import { createPool as createCallbackPool } from "mysql2"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import pg from "pg"
import { specs } from "#internal/dialect"
import * as Statements from "#internal/statements"

const pgUrl = (await postgres()).url
const mysqlUrl = (await mysqlServer()).url
const ns = "plans"
const grownLive = 200_000
const grownExpired = 100_000
const liveKey = (i: number) => `k${String(i).padStart(6, "0")}`
const hundred = Array.from({ length: 100 }, (_, i) => liveKey(i * 1999))
const bytes = (text: string) => Buffer.from(text, "utf8")

/** Every call shape of the contract, seven times, on an empty table: reads first. */
const warmUp = (backend: StorageBackend.StorageBackend) =>
  Effect.gen(function*() {
    const bump = (value: StorageBackend.Value) => Effect.succeed(`${String(value)}!`)
    for (let round = 0; round < 7; round++) {
      yield* backend.get(ns, liveKey(1))
      yield* backend.getMany(ns, hundred)
      yield* backend.keys(ns)
      yield* backend.keys(ns, "k01")
      yield* backend.size(ns)
      yield* backend.size(ns, "k01")
      yield* backend.modify(ns, "absent", bump)
      yield* backend.remove(ns, "absent")
      yield* backend.clear("other")
      yield* backend.clearPrefix(ns, "zz")
      yield* backend.sweep()
    }
    for (let round = 0; round < 7; round++) {
      yield* backend.set(ns, "warm", "value")
      yield* backend.setMany(ns, [{ key: "warm-a", value: "a" }, { key: "warm-b", value: "b" }])
      yield* backend.modify(ns, "warm", bump)
    }
  })

/** 300,000 rows through the backend, a third of them already expired. */
const grow = (backend: StorageBackend.StorageBackend) =>
  Effect.gen(function*() {
    const value = "v".repeat(100)
    for (let from = 0; from < grownLive; from += 5000) {
      yield* backend.setMany(ns, Array.from({ length: 5000 }, (_, i) => ({ key: liveKey(from + i), value })))
    }
    for (let from = 0; from < grownExpired; from += 5000) {
      yield* backend.setMany(
        ns,
        Array.from({ length: 5000 }, (_, i) => ({ key: `x${from + i}`, value, expiresAt: 1 + from + i }))
      )
    }
  })

/**
 * A pg pool of one connection whose every statement is named, as a driver
 * that prepares statements sends them; the name is stable per text.
 */
const namingPool = (url: string) => {
  const pool = new pg.Pool({ connectionString: url, max: 1 })
  const names = new Map<string, string>()
  const nameOf = (text: string) => {
    let name = names.get(text)
    if (name === undefined) {
      name = `named_${names.size}`
      names.set(text, name)
    }
    return name
  }
  return {
    pool,
    dialect: new PostgresDialect({
      pool: {
        connect: async () => {
          const client = await pool.connect()
          return {
            query: (text: string, values: ReadonlyArray<unknown>) =>
              client.query({ name: nameOf(text), text, values: [...values] }),
            release: () => client.release()
          } as any
        },
        end: () => pool.end(),
        options: pool.options
      }
    })
  }
}

const pgLiteral = (value: unknown): string =>
  Buffer.isBuffer(value) ? `'\\x${value.toString("hex")}'::bytea` : value === null ? "NULL" : String(value)

describe("plans on a table that grew after its statements were prepared", () => {
  it.live("PostgreSQL, statements named by the driver: every generic plan made on the empty table but the sweep's reads by primary key or index range at 300,000 rows", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = "kysely_plans_grown"
      const pkey = `${table}_pkey`
      const { dialect, pool } = namingPool(pgUrl)
      const db = new Kysely<any>({ dialect })
      const admin = (text: string) => Effect.promise(() => pool.query(text))
      yield* Effect.addFinalizer(() =>
        Effect.promise(() => pool.query(`DROP TABLE IF EXISTS "${table}"`).then(() => db.destroy()))
      )
      yield* admin(`DROP TABLE IF EXISTS "${table}"`)
      yield* Effect.promise(() =>
        pool.query("DELETE FROM effect_persist_migrations WHERE table_name = $1", [table]).catch(() => undefined)
      )
      yield* KyselyMigrator.migrate(db, { table })
      // Nothing may analyze the table during the test (autovacuum is on in
      // most servers): an analyze would replace the plans this test is about.
      yield* admin(`ALTER TABLE "${table}" SET (autovacuum_enabled = false)`)
      const backend = yield* KyselyBackend.make(db, { table })
      yield* warmUp(backend)
      yield* grow(backend)
      const stats = yield* admin(`SELECT reltuples FROM pg_class WHERE relname = '${table}'`)
      expect(Number(stats.rows[0].reltuples), "the table was never analyzed").toBe(-1)

      const prepared = new Map(
        (yield* admin("SELECT statement, name, generic_plans, custom_plans FROM pg_prepared_statements")).rows
          .map((row) =>
            [String(row.statement), {
              name: String(row.name),
              generic_plans: Number(row.generic_plans),
              custom_plans: Number(row.custom_plans)
            }] as const
          )
      )
      const q = Statements.make(db.withoutPlugins(), specs.pg, table, backend.capabilities.maxValueBytes)
      const now = Date.now()
      const k1 = bytes(liveKey(1))
      const nsBytes = bytes(ns)
      const cases: ReadonlyArray<readonly [string, Statements.Template, ReadonlyArray<unknown>, RegExp?]> = [
        ["get", q.get, [nsBytes, k1, now]],
        ["getForUpdate", q.getForUpdate, [nsBytes, k1, now]],
        // One lookup per requested key, not a read of the namespace.
        ["getMany", q.getMany(100), [nsBytes, now, ...hundred.map(bytes)], /Index Cond: \(\(namespace = [^)]+\) AND \(key = "\*VALUES\*"\.column1\)\)/],
        ["keys", q.keys, [nsBytes, now]],
        ["keysRange", q.keysRange, [nsBytes, bytes("k01"), bytes("k02"), now], /Index Cond: .*key >= .*key </],
        ["size", q.size, [nsBytes, now]],
        ["sizeRange", q.sizeRange, [nsBytes, bytes("k01"), bytes("k02"), now], /Index Cond: .*key >= .*key </],
        ["update", q.update, [bytes("w"), 0, nsBytes, bytes("warm")]],
        ["remove", q.remove, [nsBytes, bytes("absent")]],
        ["clear", q.clear, [bytes("other")]],
        ["clearRange", q.clearRange, [nsBytes, bytes("zz"), bytes("z{")], /Index Cond: .*key >= .*key </],
        ["set", q.set, [nsBytes, bytes("warm"), bytes("v"), 0, null]],
        ["setMany", q.setMany(2), [nsBytes, bytes("a"), bytes("a"), 0, null, nsBytes, bytes("b"), bytes("b"), 0, null]]
      ]
      for (const [operation, template, parameters, condition] of cases) {
        const found = prepared.get(template.compiled.sql)
        expect(found, `${operation} was prepared by name`).toBeDefined()
        expect(found!.generic_plans + found!.custom_plans, `${operation} ran at least six times`).toBeGreaterThanOrEqual(6)
        const args = Statements.bind(template, parameters).parameters.map(pgLiteral).join(", ")
        for (const mode of ["force_generic_plan", "force_custom_plan"]) {
          yield* admin(`SET plan_cache_mode = ${mode}`)
          const plan = (yield* admin(`EXPLAIN EXECUTE ${found!.name}(${args})`)).rows.map((row) => row["QUERY PLAN"])
            .join("\n")
          yield* admin("RESET plan_cache_mode")
          expect(plan, `${operation}, ${mode}`).not.toMatch(/Seq Scan|Join Filter/)
          expect(plan, `${operation}, ${mode}`).toContain(pkey)
          if (condition !== undefined) expect(plan, `${operation}, ${mode}`).toMatch(condition)
        }
      }
      // The server switched getMany to its generic plan on its own.
      expect(prepared.get(q.getMany(100).compiled.sql)!.generic_plans).toBeGreaterThan(0)

      // The sweep is not kept on the primary key by its shape: planned for
      // its parameters, as node-postgres's unnamed statements are, it is;
      // its generic plan from the empty table hashes a scan of the whole
      // table on every batch (the README says what to do with such a driver).
      const sweep = prepared.get(q.sweep.compiled.sql)!
      expect(sweep.generic_plans + sweep.custom_plans).toBeGreaterThanOrEqual(7)
      const sweepPlan = (mode: string) =>
        Effect.gen(function*() {
          yield* admin(`SET plan_cache_mode = ${mode}`)
          const plan = (yield* admin(`EXPLAIN EXECUTE ${sweep.name}(${now}, 1000)`)).rows.map((row) => row["QUERY PLAN"])
            .join("\n")
          yield* admin("RESET plan_cache_mode")
          return plan
        })
      const custom = yield* sweepPlan("force_custom_plan")
      expect(custom).not.toMatch(/Seq Scan/)
      expect(custom).toContain(`${table}_expires_at`)
      expect(custom).toMatch(new RegExp(`${pkey}[^\\n]*\\n\\s*Index Cond: \\(\\(namespace = [^)]+\\) AND \\(key = [^)]+\\)\\)`))
      expect(yield* sweepPlan("force_generic_plan")).toMatch(new RegExp(`Seq Scan on ${table}\\b`))

      // The calls answer as they should on the grown table.
      const values = yield* backend.getMany(ns, [...hundred, "absent", "x5"])
      expect(values.slice(0, 100)).toEqual(hundred.map(() => "v".repeat(100)))
      expect(values.slice(100)).toEqual([undefined, undefined])
    })), 120_000)

  it.live("MariaDB, statements prepared on the empty table: each EXECUTE is planned again and reads by primary key or index range at 300,000 rows", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = "kysely_plans_grown"
      const db = new Kysely<any>({ dialect: new MysqlDialect({ pool: createCallbackPool({ uri: mysqlUrl, connectionLimit: 2 }) }) })
      const session = createPool({ uri: mysqlUrl, connectionLimit: 1 })
      const admin = (text: string, values?: ReadonlyArray<unknown>) =>
        Effect.promise(() => session.query(text, values as Array<unknown>).then(([rows]) => rows as Array<any>))
      yield* Effect.addFinalizer(() =>
        Effect.promise(() =>
          session.query(`DROP TABLE IF EXISTS \`${table}\``).then(() => Promise.all([session.end(), db.destroy()]))
        )
      )
      yield* admin(`DROP TABLE IF EXISTS \`${table}\``)
      yield* Effect.promise(() =>
        session.query("DELETE FROM effect_persist_migrations WHERE table_name = ?", [table]).catch(() => undefined)
      )
      yield* KyselyMigrator.migrate(db, { table })
      const backend = yield* KyselyBackend.make(db, { table })
      yield* warmUp(backend)

      // The backend's own statements go as text (Kysely's MysqlDialect); a
      // driver that prepares them (mysql2's execute, as @effect-persist/mysql
      // does) holds server-side statements like these, prepared and run on
      // the empty table.
      const q = Statements.make(db.withoutPlugins(), specs.mysql, table, backend.capabilities.maxValueBytes)
      const now = Date.now()
      const k1 = bytes(liveKey(1))
      const nsBytes = bytes(ns)
      const cases: ReadonlyArray<readonly [string, Statements.Template, ReadonlyArray<unknown>]> = [
        ["get", q.get, [nsBytes, k1, now]],
        ["getForUpdate", q.getForUpdate, [nsBytes, k1, now]],
        ["getMany", q.getMany(100), [nsBytes, now, ...hundred.map(bytes)]],
        ["keys", q.keys, [bytes("other"), now]],
        ["keysRange", q.keysRange, [nsBytes, bytes("k01"), bytes("k02"), now]],
        ["size", q.size, [bytes("other"), now]],
        ["sizeRange", q.sizeRange, [nsBytes, bytes("k01"), bytes("k02"), now]],
        ["update", q.update, [bytes("w"), 0, nsBytes, bytes("warm")]],
        ["remove", q.remove, [nsBytes, bytes("absent")]],
        ["clear", q.clear, [bytes("other")]],
        ["clearRange", q.clearRange, [nsBytes, bytes("zz"), bytes("z{")]],
        ["sweep", q.sweep, [now, 1000]],
        ["sweepDelete", q.sweepDelete(2), [nsBytes, bytes("x1"), nsBytes, bytes("x2"), 0]]
      ]
      const execute = (index: number, parameters: ReadonlyArray<unknown>) =>
        Effect.gen(function*() {
          const names = parameters.map((_, i) => `@p${i}`)
          yield* admin(`SET ${names.map((name) => `${name} = ?`).join(", ")}`, parameters)
          yield* admin(`EXECUTE plans_${index} USING ${names.join(", ")}`)
        })
      for (const [index, [, template, parameters]] of cases.entries()) {
        yield* admin(`PREPARE plans_${index} FROM ?`, [template.compiled.sql])
        for (let round = 0; round < 6; round++) {
          yield* execute(index, Statements.bind(template, parameters).parameters)
        }
      }

      yield* grow(backend)

      // Rows read in table order (a scan) by the next EXECUTE of each
      // statement prepared on the empty table, against rows read by index.
      const counters = Effect.map(
        admin("SHOW SESSION STATUS WHERE Variable_name IN ('Handler_read_rnd_next', 'Handler_read_key')"),
        (rows) => Object.fromEntries(rows.map((row) => [row.Variable_name, Number(row.Value)]))
      )
      expect(yield* admin(`SELECT count(*) AS n FROM \`${table}\``)).toEqual([{ n: grownLive + grownExpired + 3 }])
      // The counter tells a scan: a filter on an unindexed column reads every row.
      const scanBefore = yield* counters
      yield* admin(`SELECT count(*) FROM \`${table}\` WHERE kind = 1`)
      const scanAfter = yield* counters
      expect(scanAfter.Handler_read_rnd_next! - scanBefore.Handler_read_rnd_next!).toBeGreaterThan(grownLive)
      for (const [index, [operation, template, parameters]] of cases.entries()) {
        const before = yield* counters
        yield* execute(index, Statements.bind(template, parameters).parameters)
        const after = yield* counters
        expect(after.Handler_read_rnd_next! - before.Handler_read_rnd_next!, `${operation} scans no rows`).toBeLessThan(100)
        expect(after.Handler_read_key! - before.Handler_read_key!, `${operation} reads through an index`).toBeGreaterThan(0)
        yield* admin(`DEALLOCATE PREPARE plans_${index}`)
      }
      const values = yield* backend.getMany(ns, [...hundred, "absent"])
      expect(values.slice(0, 100)).toEqual(hundred.map(() => "v".repeat(100)))
      expect(values[100]).toBeUndefined()
    })), 120_000)

  it.live("SQLite, statements prepared on the empty table: the plan chosen then is the plan at 300,000 rows, by primary key or index range", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "effect-persist-kysely-plans-"))
      const file = join(dir, "plans.db")
      const db = new Kysely<any>({ dialect: new NodeSqliteDialect({ database: file }) })
      const inspector = new DatabaseSync(file)
      yield* Effect.addFinalizer(() =>
        Effect.promise(async () => {
          inspector.close()
          await db.destroy()
          rmSync(dir, { recursive: true, force: true })
        })
      )
      const table = "plans"
      yield* KyselyMigrator.migrate(db, { table })
      const backend = yield* KyselyBackend.make(db, { table })
      yield* warmUp(backend)

      const q = Statements.make(db.withoutPlugins(), specs.sqlite, table, backend.capabilities.maxValueBytes)
      const now = Date.now()
      const nsBytes = bytes(ns)
      const cases: ReadonlyArray<readonly [string, Statements.Template, ReadonlyArray<unknown>, RegExp]> = [
        ["get", q.get, [nsBytes, bytes(liveKey(1)), now], /SEARCH plans USING INDEX \S+ \(namespace=\? AND key=\?\)/],
        ["getMany", q.getMany(100), [nsBytes, now, ...hundred.map(bytes)], /SEARCH plans USING INDEX \S+ \(namespace=\? AND key=\?\)/],
        ["keys", q.keys, [nsBytes, now], /SEARCH plans USING INDEX \S+ \(namespace=\?\)/],
        ["keysRange", q.keysRange, [nsBytes, bytes("k01"), bytes("k02"), now], /\(namespace=\? AND key>\? AND key<\?\)/],
        ["size", q.size, [nsBytes, now], /\(namespace=\?\)/],
        ["clear", q.clear, [bytes("other")], /\(namespace=\?\)/],
        ["sizeRange", q.sizeRange, [nsBytes, bytes("k01"), bytes("k02"), now], /\(namespace=\? AND key>\? AND key<\?\)/],
        ["update", q.update, [bytes("w"), 0, nsBytes, bytes("warm")], /\(namespace=\? AND key=\?\)/],
        ["remove", q.remove, [nsBytes, bytes("absent")], /\(namespace=\? AND key=\?\)/],
        ["clearRange", q.clearRange, [nsBytes, bytes("zz"), bytes("z{")], /\(namespace=\? AND key>\? AND key<\?\)/],
        ["sweep", q.sweep, [now, 1000], /SEARCH plans USING (COVERING )?INDEX plans_expires_at \(expires_at<\?\)/]
      ]
      const plan = (template: Statements.Template, parameters: ReadonlyArray<unknown>) =>
        (inspector.prepare(`EXPLAIN QUERY PLAN ${template.compiled.sql}`)
          .all(...(Statements.bind(template, parameters).parameters as Array<any>)) as Array<{ detail: string }>)
          .map((row) => row.detail).join("\n")
      const empty = cases.map(([, template, parameters]) => plan(template, parameters))

      yield* grow(backend)
      expect(inspector.prepare("SELECT count(*) AS n FROM plans").get()).toEqual({ n: grownLive + grownExpired + 3 })
      expect(inspector.prepare("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'").all()).toEqual([])
      for (const [index, [operation, template, parameters, expected]] of cases.entries()) {
        const grown = plan(template, parameters)
        expect(grown, operation).toBe(empty[index])
        expect(grown, operation).toMatch(expected)
        expect(grown, operation).not.toMatch(/^SCAN plans$/m)
      }
      const values = yield* backend.getMany(ns, [...hundred, "absent"])
      expect(values.slice(0, 100)).toEqual(hundred.map(() => "v".repeat(100)))
      expect(yield* backend.sweep({ batchSize: 1000, share: 1 })).toBe(grownExpired)
    })), 120_000)
})
