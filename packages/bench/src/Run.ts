/**
 * One benchmark run from start to end: the settings of a full or quick run,
 * each database's contenders opened, measured and closed in turn, the scale
 * run, and the report with the environment it came from. Databases, files
 * and pools the run creates are removed again, also when it fails.
 *
 * @since 0.0.0
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { cpus, freemem, loadavg, tmpdir, totalmem } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as Mariadb from "./databases/Mariadb.ts"
import * as Postgres from "./databases/Postgres.ts"
import * as Sqlite from "./databases/Sqlite.ts"
import * as Grows from "./Grows.ts"
import * as Matrix from "./Matrix.ts"
import type { Database, Environment, Report, Result, ScaleResult, SweepResult } from "./Model.ts"
import { noiseThreshold } from "./Model.ts"
import * as Scale from "./Scale.ts"
import * as Servers from "./Servers.ts"
import type * as Subject from "./Subject.ts"
import * as Workload from "./Workload.ts"

/**
 * What a run measures and for how long.
 *
 * @category models
 * @since 0.0.0
 */
export interface Settings {
  readonly quick: boolean
  readonly databases: ReadonlyArray<Database>
  readonly matrix: Matrix.Settings
  /** `undefined`: no scale run. */
  readonly scale: Scale.Settings | undefined
}

/**
 * The settings of a full run (under 15 minutes on a 2-core machine) or a
 * quick one (about a minute), on the given databases.
 *
 * @category constructors
 * @since 0.0.0
 */
export const settings = (options: {
  readonly quick: boolean
  readonly databases: ReadonlyArray<Database>
  readonly scale: boolean
}): Settings => ({
  quick: options.quick,
  databases: options.databases,
  matrix: options.quick
    ? { rounds: 5, secondsPerCell: 0.01, warmupSeconds: 0.005, rowsPerStore: 1_000, maxRemovable: 2_000 }
    : { rounds: 5, secondsPerCell: 0.2, warmupSeconds: 0.1, rowsPerStore: 10_000, maxRemovable: 100_000 },
  scale: !options.scale
    ? undefined
    : options.quick
    ? {
      rows: [10_000, 100_000],
      expiredRows: 100_000,
      rounds: 5,
      secondsPerCell: 0.02,
      warmupSeconds: 0.01,
      sweepBaselineSeconds: 0.3,
      sweepSecondsCap: 5
    }
    : {
      rows: [10_000, 1_000_000],
      expiredRows: 1_000_000,
      rounds: 5,
      secondsPerCell: 0.3,
      warmupSeconds: 0.2,
      sweepBaselineSeconds: 3,
      sweepSecondsCap: 150
    }
})

// Every package named in the report is a dependency of this package, so its
// manifest is in this package's node_modules (export maps hide it from resolve).
const versionOf = (name: string): string => {
  try {
    const path = join(import.meta.dirname, "..", "node_modules", name, "package.json")
    return (JSON.parse(readFileSync(path, "utf8")) as { readonly version: string }).version
  } catch {
    return "unknown"
  }
}

const packageVersions = (): Record<string, string> => {
  const db = new DatabaseSync(":memory:")
  const sqlite = (db.prepare("SELECT sqlite_version() AS v").get() as { readonly v: string }).v
  db.close()
  const names = [
    "effect",
    "@effect/sql-sqlite-node",
    "@effect/sql-pg",
    "@effect/sql-mysql2",
    "kysely",
    "pg",
    "mysql2",
    "keyv",
    "@keyv/sqlite",
    "@keyv/postgres",
    "@keyv/mysql"
  ]
  return { "node:sqlite (SQLite)": sqlite, ...Object.fromEntries(names.map((name) => [name, versionOf(name)])) }
}

/**
 * What every report says about how its contenders differ, so that nobody
 * reads more into a ratio than it holds.
 *
 * @category constructors
 * @since 0.0.0
 */
export const standingNotes: ReadonlyArray<string> = [
  "Stores: `kv` is Effect's `KeyValueStore` (100-character strings; it has no batch calls), `persistence` is `BackingPersistence` (JSON objects of about 120 bytes with a 1-hour time-to-live; it has no `modify`).",
  "The raw driver runs our own SQL on our schema with prepared statements and no Effect (`node:sqlite`, `pg` named statements, `mysql2` `execute`), including the work the store must do: UTF-8 key bytes, expiry checks, JSON for persistence. On MariaDB its batches have exactly 100 placeholders; our backend pads batches to 128 to bound the number of prepared texts.",
  "SQLite: every contender has its own file in WAL mode with `synchronous = NORMAL` (our default, set on Effect's client and Keyv's too) and one connection, so `conc32` means 32 callers taking turns on it.",
  "Effect's built-in `KeyValueStore.modify` is a read and a separate write (not atomic). Keyv has no `modify` (n/a); its `delete` reads the row first, and on SQLite and MariaDB its `setMany` sends one statement per entry.",
  "`get` of our backends goes through core's request coalescing: a `get` issued while another is in flight waits for the others of the same tick, and they become one `getMany` round trip; a lone `get` goes straight to the database. The SQLite backend on its own connection (the `effect-persist` column) does not coalesce: its statements are synchronous, so no get is ever in flight."
]

const commitOf = (): string => {
  try {
    const git = (...args: Array<string>) =>
      execFileSync("git", args, { cwd: import.meta.dirname, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
    const head = git("rev-parse", "--short", "HEAD")
    return git("status", "--porcelain", "--", "../..") === "" ? head : `${head}+changes`
  } catch {
    return "unknown"
  }
}

const environment = (options: {
  readonly settings: Settings
  readonly started: number
  readonly loadStart: ReadonlyArray<number>
  readonly servers: Partial<Record<Database, string>>
  readonly notes: ReadonlyArray<string>
}): Environment => {
  const { settings: s } = options
  return {
    date: new Date(options.started).toISOString(),
    commit: commitOf(),
    quick: s.quick,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: { start: options.loadStart, end: loadavg() },
    servers: options.servers,
    packages: packageVersions(),
    method: {
      rounds: s.matrix.rounds,
      secondsPerCell: s.matrix.secondsPerCell,
      warmupSeconds: s.matrix.warmupSeconds,
      rowsPerStore: s.matrix.rowsPerStore,
      scaleRows: s.scale?.rows ?? [],
      sweepRows: s.scale?.expiredRows ?? 0,
      noiseRule: `a cell is noisy when (max − min) / median of its rounds > ${noiseThreshold}`
    },
    durationSeconds: (Date.now() - options.started) / 1000,
    notes: [
      ...(s.quick
        ? [
          `Quick run: ${s.matrix.secondsPerCell} s per cell and ${s.matrix.rowsPerStore.toLocaleString("en-US")} rows per store; the scale run compares ${
            s.scale?.rows.map((n) => n.toLocaleString("en-US")).join(" and ") ?? "nothing"
          } rows (not 10,000 and 1,000,000) and sweeps ${s.scale?.expiredRows.toLocaleString("en-US") ?? 0} rows. Its numbers show that everything runs, not how fast.`
        ]
        : []),
      ...standingNotes,
      ...options.notes
    ]
  }
}

/**
 * Runs the benchmark. `log` receives progress lines; the returned report
 * has every result, and `failures` says which databases could not be measured.
 *
 * @category constructors
 * @since 0.0.0
 */
export const run = async (
  settings: Settings,
  log: (line: string) => void
): Promise<{ readonly report: Report; readonly failures: ReadonlyArray<string> }> => {
  const started = Date.now()
  const loadStart = loadavg()
  const results: Array<Result> = []
  const scale: Array<ScaleResult> = []
  const sweep: Array<SweepResult> = []
  const servers: Partial<Record<Database, string>> = {}
  const notes: Array<string> = []
  const failures: Array<string> = []
  log(
    `${settings.quick ? "quick" : "full"} run on ${settings.databases.join(", ")}; load average ${
      loadStart.map((l) => l.toFixed(2)).join(", ")
    }; ${Math.round(freemem() / 2 ** 30)} GiB free`
  )

  // A driver that loses a connection while nobody waits on it (the server
  // restarted, an administrator ended the session) emits an 'error' event
  // that nothing in the benchmark can listen to (Keyv's adapters keep their
  // pools to themselves). The run goes on, but the database it happened on
  // is reported as failed: its numbers were taken on a disturbed server.
  let disturbance: unknown
  const onStray = (cause: unknown) => {
    disturbance ??= cause
  }
  process.on("uncaughtException", onStray)
  try {
    for (const database of settings.databases) {
      disturbance = undefined
      await measureDatabase(database)
      if (disturbance !== undefined) {
        const message = `a connection failed outside any call: ${String(disturbance)}`
        failures.push(`${database}: ${message}`)
        notes.push(`${database}: ${message}; its numbers were taken on a disturbed server and are not to be trusted.`)
        log(`[${database}] DISTURBED: ${message}`)
      }
    }
  } finally {
    process.off("uncaughtException", onStray)
  }

  async function measureDatabase(database: Database): Promise<void> {
    const say = (line: string) => log(`[${database} +${((Date.now() - started) / 1000).toFixed(0)} s] ${line}`)
    const dir = mkdtempSync(join(tmpdir(), `effect-persist-bench-${database}-`))
    let server: Servers.Server | undefined
    let subjects: ReadonlyArray<Subject.Subject> = []
    try {
      const workload = Workload.make(settings.matrix.rowsPerStore)
      let target: Scale.Target
      if (database === "sqlite") {
        servers.sqlite = `node:sqlite, files in ${tmpdir()}`
        subjects = await Sqlite.subjects(dir, workload)
        target = Sqlite.scaleTarget(dir)
      } else if (database === "pg") {
        server = await Servers.postgresServer()
        servers.pg = server.version
        subjects = await Postgres.subjects(server.url, workload)
        target = Postgres.scaleTarget(server.url)
      } else {
        server = await Servers.mariadbServer()
        servers.mariadb = server.version
        subjects = await Mariadb.subjects(server.url, workload)
        target = Mariadb.scaleTarget(server.url)
      }
      say(`${subjects.length} subjects open`)
      results.push(...await Matrix.measure(subjects, settings.matrix, say))
      for (const subject of subjects) await subject.close()
      subjects = []
      if (settings.scale !== undefined) {
        const measured = await Scale.run(target, settings.scale, say)
        scale.push(...measured.scale)
        sweep.push(measured.sweep)
      }
    } catch (cause) {
      const message = cause instanceof Error ? cause.stack ?? cause.message : String(cause)
      failures.push(`${database}: ${message}`)
      notes.push(`${database}: the run failed and its results are missing or partial: ${String(cause)}`)
      say(`FAILED: ${message}`)
    } finally {
      for (const subject of subjects) {
        await subject.close().catch(() => {})
      }
      await server?.drop().catch((cause) => say(`could not drop the benchmark database: ${String(cause)}`))
      rmSync(dir, { recursive: true, force: true })
    }
  }

  return {
    report: {
      environment: environment({ settings, started, loadStart, servers, notes }),
      results,
      scale,
      sweep
    },
    failures
  }
}

/**
 * Merges the reports of runs on different databases into one, for when no
 * single run could measure them all (a server restarted by another test
 * suite mid-run, say). Each database keeps the results of the last report
 * that measured it; within a database all contenders still come from one
 * run, interleaved. The environment is the first report's, with a note
 * naming every run merged.
 *
 * @category constructors
 * @since 0.0.0
 */
export const merge = (reports: ReadonlyArray<Report>): Report => {
  if (reports.length === 1) return reports[0]!
  const owner = new Map<Database, number>()
  reports.forEach((report, index) => {
    for (const r of report.results) owner.set(r.database, index)
  })
  const mine = <A extends { readonly database: Database }>(items: (report: Report) => ReadonlyArray<A>) =>
    reports.flatMap((report, index) => items(report).filter((item) => owner.get(item.database) === index))
  const first = reports[0]!.environment
  const described = reports.map((report, index) => {
    const databases = [...owner].filter(([, i]) => i === index).map(([db]) => db)
    const e = report.environment
    return `${databases.join(", ") || "nothing"} from the run of ${e.date} (commit ${e.commit ?? "unknown"}, load average ${
      e.loadAverage.start.map((l) => l.toFixed(2)).join(", ")
    } at its start, ${e.loadAverage.end.map((l) => l.toFixed(2)).join(", ")} at its end)`
  })
  const servers: Partial<Record<Database, string>> = {}
  for (const [db, index] of owner) {
    const server = reports[index]!.environment.servers[db]
    if (server !== undefined) servers[db] = server
  }
  return {
    environment: {
      ...first,
      servers,
      durationSeconds: reports.reduce((sum, r) => sum + r.environment.durationSeconds, 0),
      notes: [
        `Merged from ${reports.length} runs, each database's contenders measured together in one of them: ${
          described.join("; ")
        }.`,
        ...first.notes.filter((note) => !(/^(sqlite|pg|mariadb): /.test(note))),
        ...reports.flatMap((report, index) =>
          report.environment.notes.filter((note) => {
            const match = /^(sqlite|pg|mariadb): /.exec(note)
            return match !== null && owner.get(match[1] as Database) === index
          })
        )
      ]
    },
    results: mine((r) => r.results),
    scale: mine((r) => r.scale),
    sweep: mine((r) => r.sweep)
  }
}

/**
 * The settings of the "grows from empty" scenario: 1,000,000 rows (quick:
 * 100,000), or `rows` when given.
 *
 * @category constructors
 * @since 0.0.0
 */
export const growsSettings = (options: { readonly quick: boolean; readonly rows?: number | undefined }): Grows.Settings =>
  options.quick
    ? { rows: options.rows ?? 100_000, expiredRows: 10_000, rounds: 5, secondsPerCell: 0.05, warmupSeconds: 0.1 }
    : { rows: options.rows ?? 1_000_000, expiredRows: 100_000, rounds: 5, secondsPerCell: 0.5, warmupSeconds: 0.5 }

/**
 * Runs only the "grows from empty" scenario on each database, in the
 * benchmark's own database (dropped at the end) or temporary directory.
 *
 * @category constructors
 * @since 0.0.0
 */
export const grows = async (
  databases: ReadonlyArray<Database>,
  settings: Grows.Settings,
  log: (line: string) => void
): Promise<{ readonly results: ReadonlyArray<Grows.Result>; readonly failures: ReadonlyArray<string> }> => {
  const started = Date.now()
  const results: Array<Grows.Result> = []
  const failures: Array<string> = []
  for (const database of databases) {
    const say = (line: string) => log(`[${database} +${((Date.now() - started) / 1000).toFixed(0)} s] ${line}`)
    const dir = mkdtempSync(join(tmpdir(), `effect-persist-bench-${database}-`))
    let server: Servers.Server | undefined
    try {
      let target: Scale.Target
      if (database === "sqlite") {
        target = Sqlite.scaleTarget(dir)
      } else if (database === "pg") {
        server = await Servers.postgresServer()
        target = Postgres.scaleTarget(server.url)
      } else {
        server = await Servers.mariadbServer()
        target = Mariadb.scaleTarget(server.url)
      }
      results.push(...await Grows.run(target, settings, say))
    } catch (cause) {
      const message = cause instanceof Error ? cause.stack ?? cause.message : String(cause)
      failures.push(`${database}: ${message}`)
      say(`FAILED: ${message}`)
    } finally {
      await server?.drop().catch((cause) => say(`could not drop the benchmark database: ${String(cause)}`))
      rmSync(dir, { recursive: true, force: true })
    }
  }
  return { results, failures }
}
