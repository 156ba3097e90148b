// Migrations under faults, on SQLite, PostgreSQL and MariaDB:
// - a migrator killed half-way (SIGKILL while it holds the lock, in the
//   middle of its second migration) leaves the database at the previous
//   version, and several processes migrating at once afterwards apply each
//   migration exactly once;
// - a migrator whose connection the server kills half-way fails with a typed
//   error, leaves the previous version, and the re-run succeeds;
// - a migration that fails half-way leaves the database at the previous
//   version, the store keeps working, and a re-run of the fixed migration
//   succeeds;
// - a layer started on an older (or newer) schema refuses with a typed
//   error and touches nothing.
import { Migrator } from "@effect-persist/core"
import { Figures, Run, Servers, Size } from "@effect-persist/reliability"
import { mysqlServer, postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer } from "effect"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { DatabaseSync } from "node:sqlite"
import { type Dialect, dialects, withBrokenSecond, withFixedSecond, withSlowSecond } from "./fixtures/migrations.ts"

const { sizes } = Size
const table = Run.name("reliability_migrate")
const extra = `${table}_extra`
const timeout = Size.stress ? 600_000 : 300_000

interface Target {
  readonly dialect: Dialect
  /** A fresh file, or the server's URL. */
  readonly target: () => Effect.Effect<string, never, Scope.Scope>
  /** Drops this scenario's tables and their migration records. */
  readonly clean: (target: string) => Effect.Effect<void>
  /** Whether the process `pid` is inside its migration, holding the lock. */
  readonly migrating: (target: string, pid: number) => Effect.Effect<boolean>
  /** The version a migrator killed during migration 2 leaves behind. */
  readonly afterKill: number
  /** Kills the server connections of a client opened with `label`; how many. */
  readonly kill?: ((target: string, label: string) => Effect.Effect<number>) | undefined
}

const targets: ReadonlyArray<Target> = [
  {
    dialect: dialects.sqlite,
    target: () =>
      Effect.gen(function*() {
        const filename = join(mkdtempSync(join(tmpdir(), "effect-persist-reliability-")), "migrate.db")
        // Created (and switched to WAL) before the lock is probed.
        yield* Effect.scoped(Layer.build(dialects.sqlite.client(filename, "setup")))
        return filename
      }).pipe(Effect.orDie),
    clean: () => Effect.void,
    // The migrator holds SQLite's write lock for its whole run.
    migrating: (filename) =>
      Effect.sync(() => {
        const probe = new DatabaseSync(filename)
        try {
          probe.exec("PRAGMA busy_timeout = 0")
          probe.exec("BEGIN IMMEDIATE")
          probe.exec("ROLLBACK")
          return false
        } catch {
          return true
        } finally {
          probe.close()
        }
      }),
    // One transaction for the whole run: everything is rolled back.
    afterKill: 0
  },
  {
    dialect: dialects.pg,
    target: () =>
      Effect.gen(function*() {
        const url = (yield* Effect.promise(() => postgres())).url
        yield* Servers.pgCoordinate(url, "shared")
        return url
      }),
    clean: (url) => Servers.dropPgTables(url, table, extra),
    migrating: (url, pid) =>
      Servers.pgAdmin(url, (sql) =>
        Effect.map(
          sql.unsafe(
            `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query = $2`,
            [`effect-persist reliability migrate ${pid}`, dialects.pg.slow]
          ).values,
          (rows) => Number(rows[0]![0]) > 0
        )).pipe(Effect.orDie),
    // One transaction for the whole run: everything is rolled back.
    afterKill: 0,
    kill: (url, label) => Effect.orDie(Servers.pgTerminate(url, label))
  },
  {
    dialect: dialects.mysql,
    target: () => Effect.promise(async () => (await mysqlServer()).url),
    clean: (url) => Servers.dropMysqlTables(url, table, extra),
    migrating: (url) =>
      Servers.mysqlAdmin(url, (sql) =>
        Effect.map(
          sql.unsafe(`SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO = ?`, [dialects.mysql.slow]).values,
          (rows) => Number(rows[0]![0]) > 0
        )).pipe(Effect.orDie),
    // DDL commits statement by statement: migration 1 stays applied, 2 is left started.
    afterKill: 1,
    // The migrator's connection is the one running the slow statement.
    kill: (url) =>
      Servers.mysqlAdmin(url, (sql) =>
        Effect.gen(function*() {
          const ids = yield* sql.unsafe(`SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = ?`, [dialects.mysql.slow]).values
          for (const [id] of ids) yield* sql.unsafe(`KILL CONNECTION ${Number(id)}`).unprepared
          return ids.length
        })).pipe(Effect.orDie)
  }
]

/** A child migrator, started and told when to go. */
const migrator = (dialect: Dialect, target: string, set: "shipped" | "slow") => {
  const child: ChildProcess = spawn(process.execPath, [
    join(import.meta.dirname, "fixtures", "migrate-child.ts"),
    dialect.name,
    target,
    table,
    set
  ], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, EFFECT_PERSIST_RUN_ID: Run.id } })
  let stderr = ""
  child.stderr!.on("data", (chunk) => stderr += String(chunk))
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const next = () =>
    Effect.promise(async () => {
      const line = await lines.next()
      if (line.done) throw new Error(`migrator ${child.pid} ended without answering: ${stderr}`)
      return line.value
    })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return {
    child,
    ready: Effect.flatMap(next(), (line) => line === "ready" ? Effect.void : Effect.die(new Error(`migrator said ${line}`))),
    go: Effect.sync(() => child.stdin!.end("go\n")),
    applied: Effect.map(next(), Number),
    kill: Effect.promise(() => {
      child.kill("SIGKILL")
      return exited
    })
  }
}

const withClient = <A, E>(t: Target, target: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>) =>
  Effect.provide(SqlClient.SqlClient.use(f), t.dialect.client(target, "effect-persist reliability migrations"))

const statusOf = (t: Target, target: string, migrations: ReadonlyArray<Migrator.Migration>) =>
  withClient(t, target, (sql) => Migrator.status(t.dialect.driver(sql), migrations, { table }))

describe("migrations under faults", () => {
  for (const t of targets) {
    const name = t.dialect.name

    it.live(`${name}: a migrator killed half-way leaves the previous version; ${sizes.migratingProcesses} processes then migrate at once, exactly once`, () =>
      Effect.gen(function*() {
        const target = yield* t.target()
        yield* t.clean(target)
        yield* Effect.addFinalizer(() => t.clean(target))
        const migrations = yield* withSlowSecond(t.dialect)
        const children: Array<ReturnType<typeof migrator>> = []
        yield* Effect.addFinalizer(() => Effect.sync(() => children.forEach(({ child }) => child.exitCode ?? child.kill("SIGKILL"))))

        // The first migrator is killed while it runs migration 2's slow statement.
        const doomed = migrator(t.dialect, target, "slow")
        children.push(doomed)
        yield* doomed.ready
        yield* doomed.go
        const until = Date.now() + 60_000
        while (!(yield* t.migrating(target, doomed.child.pid!))) {
          if (Date.now() > until) return yield* Effect.die(new Error("the first migrator never reached its slow statement"))
          yield* Effect.sleep("20 millis")
        }
        yield* doomed.kill

        const afterKill = yield* statusOf(t, target, migrations)
        expect(afterKill.version).toBe(t.afterKill)
        if (t.afterKill === 0) {
          // Transactional DDL: not even the table migration 2 created first is left.
          expect(yield* withClient(t, target, (sql) => t.dialect.exists(sql, extra))).toBe(false)
        }

        const survivors = Array.from({ length: sizes.migratingProcesses }, () => migrator(t.dialect, target, "slow"))
        children.push(...survivors)
        yield* Effect.forEach(survivors, (m) => m.ready, { discard: true })
        yield* Effect.forEach(survivors, (m) => m.go, { discard: true })
        const applied = yield* Effect.forEach(survivors, (m) => m.applied, { concurrency: "unbounded" })
        expect(applied.filter((n) => n > 0)).toEqual([migrations.length - t.afterKill])
        const final = yield* statusOf(t, target, migrations)
        expect(final.applied.map((row) => row.version)).toEqual([1, 2])
        expect(final.pending).toEqual([])
        expect(yield* withClient(t, target, (sql) => t.dialect.exists(sql, extra))).toBe(true)

        // The shipped layer meets a schema newer than it knows: a typed refusal.
        const newer = yield* Effect.flip(Effect.scoped(t.dialect.open(target, table, false)))
        expect((newer as { _tag: string })._tag).toBe("SchemaVersionError")
        expect((newer as Error).message).toContain("upgrade")

        Figures.record(`migrations: ${name}, killed half-way then ${sizes.migratingProcesses} at once`, {
          processes: sizes.migratingProcesses + 1,
          faultsInjected: 1,
          versionAfterKill: afterKill.version,
          appliedBySurvivors: JSON.stringify(applied)
        })
      }).pipe(Effect.scoped), timeout)

    if (t.kill !== undefined) {
      const kill = t.kill
      it.live(`${name}: a migrator whose connection the server kills half-way fails with a typed error; the re-run succeeds`, () =>
        Effect.gen(function*() {
          const target = yield* t.target()
          yield* t.clean(target)
          yield* Effect.addFinalizer(() => t.clean(target))
          const migrations = yield* withSlowSecond(t.dialect)
          const label = `effect-persist reliability migrate ${process.pid}`
          const running = yield* Effect.forkChild(
            Effect.provide(
              SqlClient.SqlClient.use((sql) => Migrator.migrate(t.dialect.driver(sql), migrations, { table })),
              t.dialect.client(target, label)
            )
          )
          const until = Date.now() + 60_000
          while (!(yield* t.migrating(target, process.pid))) {
            if (Date.now() > until) return yield* Effect.die(new Error("the migrator never reached its slow statement"))
            yield* Effect.sleep("20 millis")
          }
          expect(yield* kill(target, label)).toBeGreaterThan(0)
          const exit = yield* Fiber.await(running)
          expect(Exit.isFailure(exit)).toBe(true)
          if (Exit.isFailure(exit)) {
            expect(exit.cause.reasons.some(Cause.isDieReason), `${exit.cause.reasons.map((r) => r._tag).join(",")} ${Cause.pretty(exit.cause)}`).toBe(false)
            expect((exit.cause.reasons.find(Cause.isFailReason)?.error as { _tag: string })._tag).toBe("MigrationError")
          }
          expect((yield* statusOf(t, target, migrations)).version).toBe(t.afterKill)
          const rerun = yield* withClient(t, target, (sql) => Migrator.migrate(t.dialect.driver(sql), migrations, { table }))
          expect(rerun.applied.length).toBe(migrations.length - t.afterKill)
          expect((yield* statusOf(t, target, migrations)).version).toBe(2)
          Figures.record(`migrations: ${name}, connection killed half-way`, {
            faultsInjected: 1,
            versionAfterKill: t.afterKill,
            rerunApplied: rerun.applied.length
          })
        }).pipe(Effect.scoped), timeout)
    }

    it.live(`${name}: a migration failing half-way leaves the previous version, the store keeps working, and the fixed re-run succeeds`, () =>
      Effect.gen(function*() {
        const target = yield* t.target()
        yield* t.clean(target)
        yield* Effect.addFinalizer(() => t.clean(target))
        const shipped = yield* t.dialect.shipped
        const broken = yield* withBrokenSecond(t.dialect)
        const fixed = yield* withFixedSecond(t.dialect)
        yield* withClient(t, target, (sql) => Migrator.migrate(t.dialect.driver(sql), shipped, { table }))
        const backend = yield* t.dialect.open(target, table, false)
        yield* backend.set("migrations", "before", "written at version 1")

        const error = yield* Effect.flip(withClient(t, target, (sql) => Migrator.migrate(t.dialect.driver(sql), broken, { table })))
        expect((error as { _tag: string })._tag).toBe("MigrationError")
        expect((error as Error).message).toContain("0002_broken")
        expect((yield* statusOf(t, target, broken)).version).toBe(1)
        if (name !== "mysql") expect(yield* withClient(t, target, (sql) => t.dialect.exists(sql, extra))).toBe(false)

        // Still at the version the store expects: it keeps working, and a new one starts.
        expect(yield* backend.get("migrations", "before")).toBe("written at version 1")
        const again = yield* t.dialect.open(target, table, false)
        yield* again.set("migrations", "after", "written after the failure")

        const rerun = yield* withClient(t, target, (sql) => Migrator.migrate(t.dialect.driver(sql), fixed, { table }))
        expect(rerun.applied.map((m) => m.name)).toEqual(["fixed"])
        const final = yield* statusOf(t, target, fixed)
        expect([final.version, final.pending.length, final.drifted.length]).toEqual([2, 0, 0])
        expect(yield* backend.get("migrations", "after")).toBe("written after the failure")
      }).pipe(Effect.scoped), timeout)

    it.live(`${name}: a layer started on an older schema refuses with a typed error and changes nothing`, () =>
      Effect.gen(function*() {
        const target = yield* t.target()
        yield* t.clean(target)
        yield* Effect.addFinalizer(() => t.clean(target))
        const shipped = yield* t.dialect.shipped
        yield* withClient(t, target, (sql) => Migrator.migrate(t.dialect.driver(sql), shipped, { table }))
        yield* Effect.scoped(Effect.flatMap(t.dialect.open(target, table, false), (b) => b.set("migrations", "kept", "yes")))

        // A package that needs migration 2 on a database at version 1 (every
        // layer runs this check at start-up).
        const needsTwo = yield* withFixedSecond(t.dialect)
        const older = yield* Effect.flip(withClient(t, target, (sql) =>
          Migrator.checkSchema(t.dialect.driver(sql), needsTwo, { table, command: "effect-persist migrate" })))
        expect((older as { _tag: string })._tag).toBe("SchemaVersionError")
        expect((older as Error).message).toContain("effect-persist migrate")
        expect([(older as { found: number }).found, (older as { expected: number }).expected]).toEqual([1, 2])

        // The shipped layer on a table whose migration records are gone
        // (version 0): it refuses, names the command, and creates nothing.
        yield* withClient(t, target, (sql) => t.dialect.forget(sql, table))
        const exit = yield* Effect.exit(Effect.scoped(t.dialect.open(target, table, false)))
        expect(Exit.isFailure(exit)).toBe(true)
        const refusal = Exit.isFailure(exit) ? exit.cause.reasons.find(Cause.isFailReason)?.error : undefined
        expect((refusal as { _tag: string })._tag).toBe("SchemaVersionError")
        expect((refusal as Error).message).toContain("migrate")
        expect((yield* statusOf(t, target, shipped)).version).toBe(0)
        expect(yield* withClient(t, target, (sql) => t.dialect.count(sql, table))).toBe(1)
      }).pipe(Effect.scoped), timeout)
  }
})
