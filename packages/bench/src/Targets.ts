/**
 * The targets of issue #7, checked against a run's results: each says what
 * was required, what was measured, and whether it was met (and by how much
 * it was missed).
 *
 * @since 0.0.0
 */
import type { Contender, Database, Operation, Report, Result } from "./Model.ts"
import { databases } from "./Model.ts"
import * as Stats from "./Stats.ts"

/**
 * One target, checked.
 *
 * @category models
 * @since 0.0.0
 */
export interface Check {
  readonly target: string
  readonly database: Database
  readonly contender: Contender
  /** What was compared, e.g. `kv get-hit conc32`. */
  readonly subject: string
  readonly required: number
  readonly measured: number | undefined
  readonly met: boolean
}

const single: ReadonlyArray<Operation> = ["get-hit", "get-miss", "set", "remove", "modify"]
const batches: ReadonlyArray<Operation> = ["getMany100", "setMany100"]

const find = (results: ReadonlyArray<Result>, of: Pick<Result, "database" | "contender" | "store" | "operation" | "mode">) =>
  results.find((r) =>
    r.database === of.database && r.contender === of.contender && r.store === of.store &&
    r.operation === of.operation && r.mode === of.mode
  )

/**
 * Checks every target for our two contenders (`effect-persist` and
 * `effect-persist-kysely`) on every database the report measured.
 *
 * **Details**
 *
 * - floor: each operation and mode at or above its share of the raw driver
 *   (SQLite 0.6× for single-key operations and 0.8× for batches; servers 0.9×);
 * - coalescing: `get-hit` with 32 callers at or above 1.5× the raw driver's
 *   per-statement `get-hit` with 32 callers, on PostgreSQL and MariaDB (that
 *   the sequential `get-hit` is not slowed by it is the floor check of its
 *   `seq` cell: within 10% of the raw driver);
 * - scale: `get-hit` on the large table at or above 0.8× of the small one;
 * - sweep: the callers' throughput during the sweep at or above 0.7× of
 *   before, and the sweep finished within the run's time cap.
 *
 * @category constructors
 * @since 0.0.0
 */
export const check = (report: Report): ReadonlyArray<Check> => {
  const checks: Array<Check> = []
  const { results } = report
  const measured = databases.filter((db) => results.some((r) => r.database === db))
  for (const database of measured) {
    for (const contender of ["effect-persist", "effect-persist-kysely"] as const) {
      for (const r of results.filter((r) => r.database === database && r.contender === contender)) {
        const floor = find(results, { ...r, contender: "raw-driver" })
        const required = database === "sqlite" ? (batches.includes(r.operation) ? 0.8 : 0.6) : 0.9
        const ratio = Stats.ratio(r.opsPerSec, floor?.opsPerSec)
        checks.push({
          target: database === "sqlite"
            ? `≥ ${required}× the floor (${batches.includes(r.operation) ? "batches" : "single-key"})`
            : `≥ ${required}× the floor`,
          database,
          contender,
          subject: `${r.store} ${r.operation} ${r.mode}`,
          required,
          measured: ratio,
          met: ratio !== undefined && ratio >= required
        })
      }
      if (database !== "sqlite") {
        for (const store of ["kv", "persistence"] as const) {
          const conc = find(results, { database, contender, store, operation: "get-hit", mode: "conc32" })
          const floor = find(results, { database, contender: "raw-driver", store, operation: "get-hit", mode: "conc32" })
          const ratio = Stats.ratio(conc?.opsPerSec, floor?.opsPerSec)
          checks.push({
            target: "coalesced gets ≥ 1.5× the per-statement floor",
            database,
            contender,
            subject: `${store} get-hit conc32`,
            required: 1.5,
            measured: ratio,
            met: ratio !== undefined && ratio >= 1.5
          })
        }
      }
    }
    for (const contender of ["effect-persist"] as const) {
      const scale = report.scale.filter((s) =>
        s.database === database && s.contender === contender && s.operation === "get-hit"
      )
      const sizes = [...new Set(scale.map((s) => s.rows))].sort((a, b) => a - b)
      if (sizes.length >= 2) {
        for (const mode of ["seq", "conc32"] as const) {
          const small = scale.find((s) => s.rows === sizes[0] && s.mode === mode)
          const large = scale.find((s) => s.rows === sizes[sizes.length - 1] && s.mode === mode)
          const ratio = Stats.ratio(large?.opsPerSec, small?.opsPerSec)
          checks.push({
            target: `get at ${sizes[sizes.length - 1]!.toLocaleString("en-US")} rows ≥ 0.8× of ${
              sizes[0]!.toLocaleString("en-US")
            }`,
            database,
            contender,
            subject: `kv get-hit ${mode}`,
            required: 0.8,
            measured: ratio,
            met: ratio !== undefined && ratio >= 0.8
          })
        }
      }
      const sweep = report.sweep.find((s) => s.database === database && s.contender === contender)
      if (sweep !== undefined) {
        checks.push({
          target: `callers during a sweep of ${sweep.expiredRows.toLocaleString("en-US")} rows ≥ 0.7× of before`,
          database,
          contender,
          subject: `32 callers, 4 gets : 1 set${sweep.finished ? "" : ` (sweep stopped at the time cap after ${sweep.deleted.toLocaleString("en-US")} rows)`}`,
          required: 0.7,
          measured: sweep.ratio,
          // A sweep stopped at the time cap did not do what was asked.
          met: sweep.finished && sweep.ratio >= 0.7
        })
      }
    }
  }
  return checks
}

/**
 * How far a check fell short, as a fraction of what was required (0 when met).
 *
 * @category constructors
 * @since 0.0.0
 */
export const shortfall = (check: Check): number =>
  check.met || check.measured === undefined ? 0 : Math.max(0, 1 - check.measured / check.required)
