/**
 * The main measurement: every operation of every store in both modes, for
 * every contender of one database, interleaved round by round.
 *
 * **Details**
 *
 * A cell is one (store, operation, mode). One warm-up pass over all cells
 * (prepared statements, JIT, connection pools) is not recorded. Then in each
 * round every cell is measured for every contender, one right after the
 * other, with the contender order rotated from round to round, so that a
 * slow minute of the machine hits all contenders of a cell alike and no
 * contender always runs first. A cell's result is the median of its rounds.
 *
 * @since 0.0.0
 */
import type { Mode, Operation, Result, Store } from "./Model.ts"
import { modes, operationsOf } from "./Model.ts"
import * as Stats from "./Stats.ts"
import type * as Subject from "./Subject.ts"

/**
 * How long and how often each cell is measured.
 *
 * @category models
 * @since 0.0.0
 */
export interface Settings {
  readonly rounds: number
  readonly secondsPerCell: number
  readonly warmupSeconds: number
  /** Rows written into every store before measuring. */
  readonly rowsPerStore: number
  /** Most rows written for one `remove` measurement to delete. */
  readonly maxRemovable: number
}

interface Cell {
  readonly store: Store
  readonly operation: Operation
  readonly mode: Mode
  readonly callers: number
  readonly subjects: ReadonlyArray<Subject.Subject>
}

const cellsOf = (subjects: ReadonlyArray<Subject.Subject>): ReadonlyArray<Cell> => {
  const cells: Array<Cell> = []
  for (const store of ["kv", "persistence"] as const) {
    for (const operation of operationsOf[store]) {
      for (const { callers, mode } of modes) {
        const participants = subjects.filter((s) => s.store === store && s.operations.includes(operation))
        if (participants.length > 0) cells.push({ store, operation, mode, callers, subjects: participants })
      }
    }
  }
  return cells
}

/**
 * Measures all cells of one database's subjects and returns one result per
 * (contender, cell). `log` receives a line per round.
 *
 * @category constructors
 * @since 0.0.0
 */
export const measure = async (
  subjects: ReadonlyArray<Subject.Subject>,
  settings: Settings,
  log: (line: string) => void
): Promise<ReadonlyArray<Result>> => {
  for (const subject of subjects) await subject.populate(settings.rowsPerStore)
  const cells = cellsOf(subjects)
  const samples = new Map<string, Array<number>>()
  const cpu = new Map<string, Array<number>>()
  const removeRates = new Map<string, number>()
  const id = (subject: Subject.Subject, cell: Cell) =>
    `${subject.contender}|${cell.store}|${cell.operation}|${cell.mode}`

  const sample = async (
    subject: Subject.Subject,
    cell: Cell,
    seconds: number
  ): Promise<{ readonly rate: number; readonly cpuMicros: number }> => {
    let limit = Number.MAX_SAFE_INTEGER
    if (cell.operation === "remove") {
      // Deleting rows that are not there costs less than deleting rows, so a
      // remove measurement deletes rows written just before it; enough of
      // them to last the measurement, judging by the rate seen before.
      const rate = removeRates.get(id(subject, cell))
      limit = rate === undefined
        ? Math.min(settings.maxRemovable, 2000)
        : Math.min(settings.maxRemovable, Math.max(200, Math.ceil(rate * seconds * 1.5) + cell.callers))
      await subject.writeRemovable(limit)
    }
    const before = process.cpuUsage()
    const { ops, seconds: elapsed } = await subject.run(cell.operation, cell.callers, seconds, limit)
    const used = process.cpuUsage(before)
    if (ops === 0) throw new Error(`${id(subject, cell)} completed no call`)
    const rate = ops / elapsed
    if (cell.operation === "remove") removeRates.set(id(subject, cell), rate)
    return { rate, cpuMicros: (used.user + used.system) / ops }
  }

  const started = performance.now()
  for (const cell of cells) {
    for (const subject of cell.subjects) await sample(subject, cell, settings.warmupSeconds)
  }
  log(`warm-up done in ${((performance.now() - started) / 1000).toFixed(1)} s (${cells.length} cells)`)

  for (let round = 0; round < settings.rounds; round++) {
    const roundStart = performance.now()
    for (const cell of cells) {
      for (const subject of Stats.rotate(cell.subjects, round)) {
        const { cpuMicros, rate } = await sample(subject, cell, settings.secondsPerCell)
        const key = id(subject, cell)
        samples.set(key, [...samples.get(key) ?? [], rate])
        cpu.set(key, [...cpu.get(key) ?? [], cpuMicros])
      }
    }
    log(`round ${round + 1}/${settings.rounds} done in ${((performance.now() - roundStart) / 1000).toFixed(1)} s`)
  }

  const results: Array<Result> = []
  for (const cell of cells) {
    for (const subject of cell.subjects) {
      const rounds = samples.get(id(subject, cell)) ?? []
      results.push({
        database: subject.database,
        contender: subject.contender,
        store: cell.store,
        operation: cell.operation,
        mode: cell.mode,
        opsPerSec: Stats.median(rounds),
        rounds,
        noisy: Stats.isNoisy(rounds),
        cpuMicrosPerOp: Stats.median(cpu.get(id(subject, cell)) ?? [])
      })
    }
  }
  return results
}
