/**
 * The "grows from empty" scenario: what a new deployment meets. A store is
 * migrated and serves calls while its table is empty, then the table fills
 * while the pool stays open, with no ANALYZE in between (PostgreSQL's
 * autovacuum is turned off for that table); the same calls are
 * then measured beside a table of the same size that was filled and
 * analyzed before the pool connected.
 *
 * **Details**
 *
 * Statements prepared on the empty table keep whatever plan the database
 * settled on then (PostgreSQL keeps a generic plan per named statement
 * until an ANALYZE). Cells: `getMany` of 100 keys from one caller, `get`
 * from 32 callers through `KeyValueStore` (coalesced into `getMany`
 * round trips), and the sweep of expired rows, reported per batch of 1,000.
 * Both tables take turns round by round, as in the main matrix; each
 * table's sweep runs once, at the end.
 *
 * @since 0.0.0
 */
import { Services, StorageBackend } from "@effect-persist/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as KeyValueStore from "effect/persistence/KeyValueStore"
import type { Database } from "./Model.ts"
import type * as Scale from "./Scale.ts"
import * as Stats from "./Stats.ts"
import * as Subject from "./Subject.ts"
import * as Workload from "./Workload.ts"

/**
 * Sizes and durations of the scenario.
 *
 * @category models
 * @since 0.0.0
 */
export interface Settings {
  /** Live rows the table grows to. */
  readonly rows: number
  /** Expired rows written with them, for the sweep. */
  readonly expiredRows: number
  readonly rounds: number
  readonly secondsPerCell: number
  /** Time each cell runs on the empty table before it grows (and on the filled one before measuring). */
  readonly warmupSeconds: number
}

/**
 * How the table came to its size.
 *
 * @category models
 * @since 0.0.0
 */
export type History = "grown" | "prefilled"

/**
 * The measured cells.
 *
 * @category models
 * @since 0.0.0
 */
export type Cell = "getMany100 seq" | "get-hit conc32" | "sweep batch"

/**
 * One cell on one table: milliseconds per call (per batch of 1,000 for the
 * sweep), the median of the rounds.
 *
 * @category models
 * @since 0.0.0
 */
export interface Result {
  readonly database: Database
  readonly history: History
  readonly rows: number
  readonly cell: Cell
  readonly millisPerCall: number
  readonly rounds: ReadonlyArray<number>
  readonly noisy: boolean
}

const sweepBatch = 1000

interface Opened {
  readonly history: History
  readonly runtime: ManagedRuntime.ManagedRuntime<StorageBackend.StorageBackend | KeyValueStore.KeyValueStore, unknown>
  readonly warm: (seconds: number) => Promise<void>
  readonly warmSweep: () => Promise<void>
  readonly measure: (cell: Exclude<Cell, "sweep batch">, seconds: number) => Promise<number>
  readonly sweep: () => Promise<{ readonly deleted: number; readonly seconds: number }>
}

const open = async (history: History, table: Scale.Table, workload: Workload.Workload): Promise<Opened> => {
  const runtime = ManagedRuntime.make(
    Services.layerKeyValueStore({ name: Workload.kvName }).pipe(Layer.provideMerge(table.backend))
  )
  const { backend, kv } = await runtime.runPromise(Effect.gen(function*() {
    return { backend: yield* StorageBackend.StorageBackend, kv: yield* KeyValueStore.KeyValueStore }
  }))
  const namespace = Services.keyValueNamespace(Workload.kvName)
  const batches = Array.from({ length: 256 }, (_, b) => workload.batch(b))
  // Every pooled connection runs each statement (more than five times), as
  // an application's traffic would.
  const warm = async (seconds: number) => {
    await Subject.timeEffects(
      runtime,
      (i) => backend.getMany(namespace, batches[i % batches.length]!),
      32,
      seconds,
      Number.MAX_SAFE_INTEGER
    )
    await Subject.timeEffects(runtime, (i) => kv.get(workload.hit(i)), 32, seconds, Number.MAX_SAFE_INTEGER)
  }
  const measure = async (cell: Exclude<Cell, "sweep batch">, seconds: number) => {
    const sample = cell === "getMany100 seq"
      ? await Subject.timeEffects(
        runtime,
        (i) => backend.getMany(namespace, batches[i % batches.length]!),
        1,
        seconds,
        Number.MAX_SAFE_INTEGER
      )
      : await Subject.timeEffects(runtime, (i) => kv.get(workload.hit(i)), 32, seconds, Number.MAX_SAFE_INTEGER)
    return (sample.seconds * 1000) / sample.ops
  }
  const sweep = async () => {
    const start = performance.now()
    const deleted = await runtime.runPromise(backend.sweep({ batchSize: sweepBatch, share: 1 }))
    return { deleted, seconds: (performance.now() - start) / 1000 }
  }
  // Sweeps of nothing, 32 at a time: a statement each on every pooled connection.
  const warmSweep = () =>
    runtime.runPromise(
      Effect.all(Array.from({ length: 320 }, () => backend.sweep()), { concurrency: 32, discard: true })
    )
  return { history, runtime, warm, warmSweep, measure, sweep }
}

const fillAll = async (table: Scale.Table, namespace: string, rows: number, expiresAt: number | null) => {
  for (let from = 0; from < rows; from += 100_000) {
    await table.fill(namespace, from, Math.min(rows, from + 100_000), expiresAt)
  }
}

const fill = async (table: Scale.Table, settings: Settings) => {
  await fillAll(table, Services.keyValueNamespace(Workload.kvName), settings.rows, null)
  await fillAll(table, "kv:expired", settings.expiredRows, 1)
}

const cells: ReadonlyArray<Exclude<Cell, "sweep batch">> = ["getMany100 seq", "get-hit conc32"]

/**
 * Runs the scenario on one database.
 *
 * @category constructors
 * @since 0.0.0
 */
export const run = async (
  target: Scale.Target,
  settings: Settings,
  log: (line: string) => void
): Promise<ReadonlyArray<Result>> => {
  const workload = Workload.make(settings.rows)
  const started = performance.now()
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`
  const opened: Array<Opened> = []
  try {
    // Served while empty: every statement is prepared, and run often enough
    // on every pooled connection for PostgreSQL to settle on a generic plan.
    const grownTable = await target.table("bench_grows_grown")
    // As where autovacuum lags behind a busy server, or is off.
    await grownTable.holdStatistics?.()
    const grown = await open("grown", grownTable, workload)
    opened.push(grown)
    await grown.warm(settings.warmupSeconds)
    await grown.warmSweep()
    await fill(grownTable, settings)
    log(`grew a table from empty to ${settings.rows} rows (and ${settings.expiredRows} expired) under a live pool, ${elapsed()}`)

    const prefilledTable = await target.table("bench_grows_prefilled")
    await fill(prefilledTable, settings)
    await prefilledTable.analyze()
    const prefilled = await open("prefilled", prefilledTable, workload)
    opened.push(prefilled)
    log(`filled and analyzed a table of the same size before its pool connected, ${elapsed()}`)

    await prefilled.warm(settings.warmupSeconds)
    const samples = new Map<string, Array<number>>()
    for (let round = 0; round < settings.rounds; round++) {
      for (const cell of cells) {
        for (const subject of Stats.rotate(opened, round)) {
          const key = `${subject.history}|${cell}`
          samples.set(key, [...samples.get(key) ?? [], await subject.measure(cell, settings.secondsPerCell)])
        }
      }
    }
    const results: Array<Result> = []
    for (const subject of opened) {
      for (const cell of cells) {
        const rounds = samples.get(`${subject.history}|${cell}`) ?? []
        results.push({
          database: target.database,
          history: subject.history,
          rows: settings.rows,
          cell,
          millisPerCall: Stats.median(rounds),
          rounds,
          noisy: Stats.isNoisy(rounds)
        })
      }
      const swept = await subject.sweep()
      const perBatch = (swept.seconds * 1000) / Math.max(1, Math.ceil(swept.deleted / sweepBatch))
      results.push({
        database: target.database,
        history: subject.history,
        rows: settings.rows,
        cell: "sweep batch",
        millisPerCall: perBatch,
        rounds: [perBatch],
        noisy: false
      })
      log(`${subject.history}: swept ${swept.deleted} rows in ${swept.seconds.toFixed(1)} s`)
    }
    log(`grows-from-empty measured, ${elapsed()}`)
    return results
  } finally {
    for (const subject of opened) await subject.runtime.dispose()
  }
}

const formatMillis = (millis: number): string =>
  millis >= 100 ? millis.toFixed(0) : millis >= 10 ? millis.toFixed(1) : millis.toFixed(2)

/**
 * The results as a markdown table: per database and cell, the grown table
 * beside the prefilled one, and their ratio.
 *
 * @category constructors
 * @since 0.0.0
 */
export const render = (results: ReadonlyArray<Result>): string => {
  if (results.length === 0) return "Not run."
  const lines = [
    "| database | rows | cell | grown from empty (ms) | filled, analyzed (ms) | grown ÷ analyzed |",
    "| --- | ---: | --- | ---: | ---: | ---: |"
  ]
  const keys = [...new Set(results.map((r) => `${r.database}|${r.rows}|${r.cell}`))]
  for (const key of keys) {
    const [database, rows, cell] = key.split("|")
    const of = (history: History) =>
      results.find((r) => r.database === database && String(r.rows) === rows && r.cell === cell && r.history === history)
    const grown = of("grown")
    const prefilled = of("prefilled")
    const mark = (r: Result | undefined) => r === undefined ? "–" : `${formatMillis(r.millisPerCall)}${r.noisy ? " ~" : ""}`
    lines.push(
      `| ${database} | ${Number(rows).toLocaleString("en-US")} | ${cell} | ${mark(grown)} | ${mark(prefilled)} | ${
        grown === undefined || prefilled === undefined ? "–" : `${(grown.millisPerCall / prefilled.millisPerCall).toFixed(2)}×`
      } |`
    )
  }
  return lines.join("\n")
}
