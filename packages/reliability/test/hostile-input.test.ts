// Hostile input, property-based: generated keys, prefixes, namespaces, store
// names, values and table names built from SQL metacharacters, quotes, NUL,
// very long and ill-formed strings, and objects JSON cannot encode. Every
// case round-trips exactly or fails with a typed error and changes nothing;
// no input reaches SQL as text; no defect.
import { Migrator, type StorageBackend } from "@effect-persist/core"
import { MysqlBackend, MysqlMigrator } from "@effect-persist/mysql"
import { PgBackend, PgMigrator } from "@effect-persist/pg"
import { Figures, Run, Servers, Size } from "@effect-persist/reliability"
import * as Hostile from "@effect-persist/reliability/Hostile"
import * as HostileInput from "@effect-persist/reliability/HostileInput"
import * as Oracle from "@effect-persist/reliability/Oracle"
import * as SqlText from "@effect-persist/reliability/SqlText"
import { SqliteBackend, SqliteMigrator } from "@effect-persist/sqlite"
import { mysqlServer, postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as fc from "fast-check"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const { sizes } = Size
const seed = process.env.EFFECT_PERSIST_SEED ? Number(process.env.EFFECT_PERSIST_SEED) : Date.now() % 2 ** 31
console.log(`[reliability] hostile input seed ${seed} (replay with EFFECT_PERSIST_SEED=${seed})`)
const timeout = Size.stress ? 900_000 : 300_000
const table = Run.name("reliability_hostile")

const run = (label: string, backend: StorageBackend.StorageBackend, countRows: Effect.Effect<number, unknown>) =>
  Effect.gen(function*() {
    const recorder = SqlText.make()
    yield* Hostile.baseline(backend, recorder, 16)
    const baselineTexts = new Set(recorder.texts.keys())
    recorder.reset()
    const tally: Hostile.Tally = { cases: 0, accepted: 0, refused: 0, refusedByReason: {}, violations: [] }
    const context: Hostile.Context = { backend, model: new Oracle.Model(), recorder, tally, countRows, label }
    const cases = HostileInput.cases({
      maxKeyBytes: backend.capabilities.maxKeyBytes,
      now: Date.now(),
      count: sizes.hostileCases,
      seed
    })
    for (const [index, testCase] of cases.entries()) {
      yield* Hostile.runCase(context, index, testCase)
      if ((index + 1) % 250 === 0) yield* Hostile.compareAll(context, `after case ${index}`)
    }
    yield* Hostile.compareAll(context, "at the end")
    const foreign = [...recorder.texts.keys()].filter((text) => !baselineTexts.has(text))
    for (const text of foreign) tally.violations.push(`${label}: a statement text plain input never produces: ${text}`)
    Figures.record(`hostile input: ${label}`, {
      seed,
      inputsTried: tally.cases,
      accepted: tally.accepted,
      refused: tally.refused,
      refusedByReason: JSON.stringify(tally.refusedByReason),
      distinctStatementTexts: recorder.texts.size,
      statementsSent: [...recorder.texts.values()].reduce((sum, n) => sum + n, 0),
      violations: tally.violations.length
    })
    return tally
  })

const expectNoViolations = (tally: Hostile.Tally) => {
  expect(tally.violations.slice(0, 10)).toEqual([])
  expect(tally.cases).toBe(sizes.hostileCases)
  // A suite that refuses everything proves nothing.
  expect(tally.accepted).toBeGreaterThan(tally.cases / 3)
}

// Table names: most are refused by the configuration check before anything
// reaches the database; a valid name works.
const tableNames = (count: number, offset: number): ReadonlyArray<string> =>
  fc.sample(
    fc.oneof(
      HostileInput.hostileText,
      fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,55}$/),
      fc.tuple(fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/), fc.constantFrom(...HostileInput.pieces)).map(([name, piece]) => name + piece),
      fc.constantFrom(
        "",
        Migrator.trackingTable,
        Migrator.trackingTable.toUpperCase(),
        "sqlite_master",
        "sqlite_entries",
        "SQLITE_X",
        "select",
        "Order",
        "x".repeat(Migrator.maxTableNameLength + 1),
        "a b",
        "a-b",
        "1abc"
      )
    ),
    { numRuns: count, seed: seed + offset }
  )

const validTableName = (name: string): boolean =>
  Exit.isSuccess(Effect.runSyncExit(Migrator.validateTableName(name)))

const tableNameCase = <E>(
  label: string,
  names: ReadonlyArray<string>,
  open: (table: string) => Effect.Effect<StorageBackend.StorageBackend, E, import("effect/Scope").Scope>,
  migrateValid: (table: string) => boolean,
  caseInsensitive = false
) =>
  Effect.gen(function*() {
    const recorder = SqlText.make()
    const violations: Array<string> = []
    let refused = 0
    let migrated = 0
    let collided = 0
    // SQLite compares table names case-insensitively: "W" after "w" is the
    // same table, and migrating it must refuse with a typed error.
    const created = new Set<string>()
    const createdFolded = new Set<string>()
    let checkedOnly = 0
    for (const name of names) {
      const valid = validTableName(name)
      if (valid && !migrateValid(name)) {
        // A valid name that is not this run's own is never created on a shared server.
        checkedOnly++
        continue
      }
      const exit = yield* Effect.exit(Effect.scoped(recorder.record(Effect.gen(function*() {
        const backend = yield* open(name)
        yield* backend.set("table names", "k", name)
        return yield* backend.get("table names", "k")
      }))))
      if (!valid) {
        refused++
        const failure = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason)?.error : undefined
        if ((failure as { _tag?: string } | undefined)?._tag !== "ConfigurationError") {
          violations.push(`${label}: table name ${HostileInput.show(name)}: expected a ConfigurationError, got ${
            Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "success"
          }`)
        }
        if (recorder.texts.size > 0) {
          violations.push(`${label}: refused table name ${HostileInput.show(name)} sent statements: ${[...recorder.texts.keys()].join(" | ")}`)
        }
      } else if (caseInsensitive && !created.has(name) && createdFolded.has(name.toLowerCase())) {
        collided++
        const failure = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason)?.error : undefined
        if ((failure as { _tag?: string } | undefined)?._tag !== "MigrationError" || !String((failure as Error).message).includes("already exists")) {
          violations.push(`${label}: table name ${HostileInput.show(name)}, which differs only in case from one already created: ${
            Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "success"
          }`)
        }
      } else {
        migrated++
        created.add(name)
        createdFolded.add(name.toLowerCase())
        if (Exit.isFailure(exit) || exit.value !== name) {
          violations.push(`${label}: valid table name ${HostileInput.show(name)}: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : exit.value}`)
        }
      }
      recorder.reset()
    }
    Figures.record(`hostile table names: ${label}`, {
      seed,
      inputsTried: names.length,
      refused,
      migrated,
      collidedByCase: collided,
      checkedOnly,
      violations: violations.length
    })
    return violations
  })

describe("hostile input", () => {
  it.live("SQLite", () =>
    Effect.scoped(Effect.gen(function*() {
      const filename = join(mkdtempSync(join(tmpdir(), "effect-persist-reliability-")), "hostile.db")
      yield* SqliteMigrator.migrateFile(filename, { table })
      const backend = yield* SqliteBackend.open({ filename, table })
      const client = yield* Layer.build(SqliteBackend.layerClient({ filename }))
      const countRows = SqlClient.SqlClient.use((sql) =>
        Effect.map(sql.unsafe(`SELECT count(*) FROM "${table}"`).values, (rows) => Number(rows[0]![0]))
      ).pipe(Effect.provideContext(client))
      expectNoViolations(yield* run("SQLite", backend, countRows))
    })), timeout)

  it.live("PostgreSQL", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* Effect.promise(() => postgres())
      yield* Servers.pgCoordinate(url, "shared")
      yield* Servers.dropPgTables(url, table)
      yield* Effect.addFinalizer(() => Servers.dropPgTables(url, table))
      yield* PgMigrator.migrateUrl(url, { table })
      const backend = yield* PgBackend.open({ url, table, maxConnections: 2 })
      const countRows = Servers.pgAdmin(url, (sql) =>
        Effect.map(sql.unsafe(`SELECT count(*) FROM "${table}"`).values, (rows) => Number(rows[0]![0])))
      expectNoViolations(yield* run("PostgreSQL", backend, countRows))
    })), timeout)

  it.live("MariaDB", () =>
    Effect.scoped(Effect.gen(function*() {
      const { url } = yield* Effect.promise(() => mysqlServer())
      yield* Servers.dropMysqlTables(url, table)
      yield* Effect.addFinalizer(() => Servers.dropMysqlTables(url, table))
      yield* MysqlMigrator.migrateUrl(url, { table })
      const backend = yield* MysqlBackend.open({ url, table, maxConnections: 2 })
      const countRows = Servers.mysqlAdmin(url, (sql) =>
        Effect.map(sql.unsafe(`SELECT count(*) FROM \`${table}\``).values, (rows) => Number(rows[0]![0])))
      expectNoViolations(yield* run("MariaDB", backend, countRows))
    })), timeout)

  it.live("table names: SQLite migrates every name the check accepts, into a private file", () =>
    Effect.gen(function*() {
      const filename = join(mkdtempSync(join(tmpdir(), "effect-persist-reliability-")), "tables.db")
      const violations = yield* tableNameCase(
        "SQLite",
        tableNames(sizes.hostileTableNames, 10),
        (name) => SqliteBackend.open({ filename, table: name, autoMigrate: true }),
        () => true,
        true
      )
      expect(violations.slice(0, 10)).toEqual([])
    }), timeout)

  // On a shared server only names of this run's own are created; every other
  // valid name is only checked, not created, so no test can drop another's table.
  const serverNames = (offset: number) => {
    const token = `rh${Run.id}_`
    const own = fc.sample(fc.stringMatching(/^[A-Za-z0-9_]{1,20}$/), { numRuns: Size.stress ? 20 : 4, seed: seed + offset })
      .map((suffix) => `${token}${suffix}`.slice(0, Migrator.maxTableNameLength))
    return { names: [...tableNames(sizes.hostileTableNames, offset), ...own], own: new Set(own) }
  }

  it.live("table names: PostgreSQL", () =>
    Effect.gen(function*() {
      const { url } = yield* Effect.promise(() => postgres())
      yield* Servers.pgCoordinate(url, "shared")
      const { names, own } = serverNames(20)
      yield* Effect.addFinalizer(() => Servers.dropPgTables(url, ...own))
      const violations = yield* tableNameCase(
        "PostgreSQL",
        names,
        (name) => PgBackend.open({ url, table: name, autoMigrate: true, maxConnections: 1 }),
        (name) => own.has(name)
      )
      expect(violations.slice(0, 10)).toEqual([])
    }).pipe(Effect.scoped), timeout)

  it.live("table names: MariaDB", () =>
    Effect.gen(function*() {
      const { url } = yield* Effect.promise(() => mysqlServer())
      const { names, own } = serverNames(30)
      yield* Effect.addFinalizer(() => Servers.dropMysqlTables(url, ...own))
      const violations = yield* tableNameCase(
        "MariaDB",
        names,
        (name) => MysqlBackend.open({ url, table: name, autoMigrate: true, maxConnections: 1 }),
        (name) => own.has(name)
      )
      expect(violations.slice(0, 10)).toEqual([])
    }).pipe(Effect.scoped), timeout)
})
