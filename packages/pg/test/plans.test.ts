// Plans, not timings: a store is migrated, serves every kind of call while
// its table is empty, and the table then grows to 300,000 rows without an
// ANALYZE (autovacuum may lag, or be off, as on the test server). After five
// executions the server may keep one generic plan per named statement, made
// from the statistics of that moment; nothing but an ANALYZE replaces it. So
// every statement the backend prepares must have a generic plan, made on the
// empty table, that still reads by primary key or index range at 300,000 rows.
//
// The plans read are the ones the backend's own pooled connection holds:
// the pool has one connection, and `EXPLAIN EXECUTE <name>` on it shows the
// plan cached for the protocol-level statement the backend prepared.
import { StorageBackend } from "@effect-persist/core"
import { PgBackend, PgMigrator } from "@effect-persist/pg"
import { postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as Statements from "#internal/statements"
import { dropTable } from "./fixtures/admin.ts"

const server = await postgres()
const url = server.url
const table = "pg_plans_grown"
const pkey = `${table}_pkey`
const expiryIndex = `${table}_expires_at`
const ns = "plans"
const grownLive = 200_000
const grownExpired = 100_000

const hex = (text: string) => `'\\x${Buffer.from(text, "utf8").toString("hex")}'::bytea`
const byteaArray = (texts: ReadonlyArray<string>) => `ARRAY[${texts.map(hex).join(", ")}]::bytea[]`
const liveKey = (i: number) => `k${String(i).padStart(6, "0")}`

type Plan = ReadonlyArray<string>

/** Fails unless no step of the plan reads the table other than through the given index. */
const expectIndexOnly = (plan: Plan, index: string) => {
  const text = plan.join("\n")
  expect(text, text).not.toMatch(/Seq Scan/)
  expect(text, text).not.toMatch(/Join Filter/)
  expect(text, text).toContain(index)
}

/** Runs every call shape on the empty table, grows it, and reads the plans. */
const grow = Effect.gen(function*() {
  const backend = yield* StorageBackend.StorageBackend
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const q = Statements.make(table)
  const admin = (text: string) => sql.unsafe(text).valuesUnprepared
  const explain = (text: string) =>
    Effect.map(admin(`EXPLAIN ${text}`), (rows) => rows.map((row) => String(row[0])))

  // Nothing may analyze the table during the test: autovacuum is on in
  // most servers (a test container's included), and an analyze would
  // replace the plans this test is about.
  yield* admin(`ALTER TABLE "${table}" SET (autovacuum_enabled = false)`)

  // Every call shape, seven times, on the empty table. Reads first, so
  // that they are planned while the table has no row at all.
  const hundred = Array.from({ length: 100 }, (_, i) => liveKey(i * 1999))
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

  // The same sweep text prepared by name, its generic plan made now on
  // the empty table: the record of why the backend sends it unnamed.
  yield* admin(`PREPARE plans_sweep_named(int8, int8) AS ${q.sweep}`)
  yield* admin("SET plan_cache_mode = force_generic_plan")
  yield* admin("EXPLAIN EXECUTE plans_sweep_named(0, 1000)")
  yield* admin("RESET plan_cache_mode")

  // 300,000 rows through the backend, a third of them already expired, no ANALYZE.
  const value = "v".repeat(100)
  for (let from = 0; from < grownLive; from += 5000) {
    yield* backend.setMany(
      ns,
      Array.from({ length: 5000 }, (_, i) => ({ key: liveKey(from + i), value }))
    )
  }
  for (let from = 0; from < grownExpired; from += 5000) {
    yield* backend.setMany(
      ns,
      Array.from({ length: 5000 }, (_, i) => ({ key: `x${from + i}`, value, expiresAt: 1 + from + i }))
    )
  }
  const [stats] = yield* admin(
    `SELECT reltuples, (SELECT count(*) FROM "${table}") FROM pg_class WHERE relname = '${table}'`
  )
  expect(Number(stats![0]), "the table was never analyzed").toBe(-1)
  expect(Number(stats![1])).toBe(grownLive + grownExpired + 3)

  const prepared = new Map(
    (yield* admin("SELECT statement, name, generic_plans, custom_plans FROM pg_prepared_statements"))
      .map(([statement, name, generic, custom]) =>
        [String(statement), { name: String(name), generic: Number(generic), custom: Number(custom) }] as const
      )
  )
  const now = `${Date.now()}::int8`
  const cases: ReadonlyArray<{
    readonly statement: keyof typeof q
    readonly args: string
    readonly index: string
    readonly condition?: RegExp
  }> = [
    { statement: "get", args: `${hex(ns)}, ${hex(liveKey(1))}, ${now}`, index: pkey },
    { statement: "getForUpdate", args: `${hex(ns)}, ${hex(liveKey(1))}, ${now}`, index: pkey },
    {
      statement: "getMany",
      args: `${hex(ns)}, ${byteaArray(hundred)}, ${now}`,
      index: pkey,
      // One lookup per requested key, not a read of the namespace.
      condition: /Index Cond: \(\(namespace = [^)]+\) AND \(key = k\.key\)\)/
    },
    { statement: "keys", args: `${hex(ns)}, ${now}`, index: pkey },
    {
      statement: "keysRange",
      args: `${hex(ns)}, ${hex("k01")}, ${hex("k02")}, ${now}`,
      index: pkey,
      condition: /Index Cond: .*key >= .*key </
    },
    { statement: "size", args: `${hex(ns)}, ${now}`, index: pkey },
    {
      statement: "sizeRange",
      args: `${hex(ns)}, ${hex("k01")}, ${hex("k02")}, ${now}`,
      index: pkey,
      condition: /Index Cond: .*key >= .*key </
    },
    { statement: "update", args: `${hex("w")}, 0::int2, ${hex(ns)}, ${hex("warm")}`, index: pkey },
    { statement: "remove", args: `${hex(ns)}, ${hex("absent")}`, index: pkey },
    { statement: "clear", args: `${hex("other")}`, index: pkey },
    {
      statement: "clearRange",
      args: `${hex(ns)}, ${hex("zz")}, ${hex("z{")}`,
      index: pkey,
      condition: /Index Cond: .*key >= .*key </
    },
    // Inserts find conflicting rows through the primary key whatever the plan.
    { statement: "set", args: `${hex(ns)}, ${hex("warm")}, ${hex("v")}, 0::int2, NULL::int8`, index: pkey },
    {
      statement: "setMany",
      args: `${hex(ns)}, ${byteaArray(["a", "b"])}, ${byteaArray(["a", "b"])}, ARRAY[0, 0]::int2[], ARRAY[NULL, NULL]::int8[]`,
      index: pkey
    }
  ]
  for (const { args, condition, index, statement } of cases) {
    const found = prepared.get(q[statement])
    expect(found, `${statement} is a named prepared statement of the pool's connection`).toBeDefined()
    expect(found!.generic + found!.custom, `${statement} ran at least six times`).toBeGreaterThanOrEqual(6)
    // The plan made on the empty table (cached, since nothing analyzed
    // the table), then the plan for these parameters on today's table.
    for (const mode of ["force_generic_plan", "force_custom_plan"]) {
      yield* admin(`SET plan_cache_mode = ${mode}`)
      const plan = yield* explain(`EXECUTE ${found!.name}(${args})`)
      yield* admin("RESET plan_cache_mode")
      expectIndexOnly(plan, index)
      if (condition !== undefined) expect(plan.join("\n"), `${statement}, ${mode}`).toMatch(condition)
    }
  }
  // The server chose the generic plan for the case on its own.
  expect(prepared.get(q.getMany)!.generic).toBeGreaterThan(0)

  // The sweep is planned per batch: no named statement holds it, and the
  // plan for its parameters reads the batch through the expiry index and
  // deletes each row by primary key.
  expect(prepared.has(q.sweep)).toBe(false)
  const sweepPlan = yield* explain(q.sweep.replace("$1", now).replace("$2", "1000::int8"))
  expectIndexOnly(sweepPlan, expiryIndex)
  expect(sweepPlan.join("\n")).toMatch(
    new RegExp(`${pkey}[^\\n]*\\n\\s*Index Cond: \\(\\(namespace = batch\\.namespace\\) AND \\(key = batch\\.key\\)\\)`)
  )
  // What a named sweep would have kept: its generic plan from the empty
  // table hashes a scan of the whole table on every batch.
  yield* admin("SET plan_cache_mode = force_generic_plan")
  const named = (yield* explain("EXECUTE plans_sweep_named(0, 1000)")).join("\n")
  yield* admin("RESET plan_cache_mode")
  yield* admin("DEALLOCATE plans_sweep_named")
  expect(named).toMatch(new RegExp(`Seq Scan on ${table}\\b`))

  // And the calls answer as they should on the grown table.
  const values = yield* backend.getMany(ns, [...hundred, "absent", "x5"])
  expect(values.slice(0, 100)).toEqual(hundred.map(() => value))
  expect(values.slice(100)).toEqual([undefined, undefined])
  expect(yield* backend.size(ns, "k01")).toBe(10_000)
  expect(yield* backend.sweep({ batchSize: 1000, share: 1 })).toBe(grownExpired)
})

describe("pg plans on a table that grew after its statements were prepared", () => {
  it.live("every prepared statement reads by primary key or index range at 300,000 rows", () =>
    Effect.scoped(Effect.gen(function*() {
      yield* Effect.acquireRelease(
        Effect.andThen(dropTable(url, table), PgMigrator.migrateUrl(url, { table })),
        () => dropTable(url, table)
      )
      // One pooled connection: every statement of the backend is prepared on
      // the session whose plans the test reads.
      yield* Effect.provide(
        grow,
        PgBackend.layerFromClient({ table }).pipe(
          Layer.provideMerge(PgBackend.layerClient({ url, maxConnections: 1 }))
        )
      )
    })), 120_000)
})
