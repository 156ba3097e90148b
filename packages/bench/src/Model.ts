/**
 * The vocabulary of a benchmark run: which databases, contenders, stores,
 * operations and modes there are, what one measured cell looks like, and the
 * shape of the JSON report (`--json`).
 *
 * @since 0.0.0
 */

/**
 * The databases measured. `sqlite` is a file in WAL mode.
 *
 * @category models
 * @since 0.0.0
 */
export type Database = "sqlite" | "pg" | "mariadb"

/**
 * Every database, in report order.
 *
 * @category constructors
 * @since 0.0.0
 */
export const databases: ReadonlyArray<Database> = ["sqlite", "pg", "mariadb"]

/**
 * What is measured against what: our backend through Effect's services, our
 * Kysely backend, Effect's own SQL stores, the raw driver running our SQL
 * (the floor), and Keyv with its SQL adapter.
 *
 * @category models
 * @since 0.0.0
 */
export type Contender = "effect-persist" | "effect-persist-kysely" | "effect-builtin" | "raw-driver" | "keyv"

/**
 * Every contender, in report order.
 *
 * @category constructors
 * @since 0.0.0
 */
export const contenders: ReadonlyArray<Contender> = [
  "effect-persist",
  "effect-persist-kysely",
  "effect-builtin",
  "raw-driver",
  "keyv"
]

/**
 * Which service shape is exercised: Effect's `KeyValueStore` (string values)
 * or `BackingPersistence` (JSON objects with a time-to-live).
 *
 * @category models
 * @since 0.0.0
 */
export type Store = "kv" | "persistence"

/**
 * The measured operations.
 *
 * @category models
 * @since 0.0.0
 */
export type Operation = "get-hit" | "get-miss" | "set" | "getMany100" | "setMany100" | "remove" | "modify"

/**
 * The operations each store offers. `KeyValueStore` has no batch calls and
 * `BackingPersistenceStore` has no `modify`, so those cells do not exist for
 * any contender.
 *
 * @category constructors
 * @since 0.0.0
 */
export const operationsOf: Readonly<Record<Store, ReadonlyArray<Operation>>> = {
  kv: ["get-hit", "get-miss", "set", "remove", "modify"],
  persistence: ["get-hit", "get-miss", "set", "getMany100", "setMany100", "remove"]
}

/**
 * `seq`: one caller, each call awaiting the previous one. `conc32`: 32
 * callers at once, sharing a pool of 10 connections on the servers (SQLite
 * contenders have one connection).
 *
 * @category models
 * @since 0.0.0
 */
export type Mode = "seq" | "conc32"

/**
 * Every mode, with its number of concurrent callers.
 *
 * @category constructors
 * @since 0.0.0
 */
export const modes: ReadonlyArray<{ readonly mode: Mode; readonly callers: number }> = [
  { mode: "seq", callers: 1 },
  { mode: "conc32", callers: 32 }
]

/**
 * Connections per pool on PostgreSQL and MariaDB, for every contender.
 *
 * @category constructors
 * @since 0.0.0
 */
export const poolSize = 10

/**
 * One cell of the result table.
 *
 * **Details**
 *
 * `opsPerSec` is the median of `rounds` (ops/s of each round, in the order
 * they ran). A cell is `noisy` when its rounds spread by more than
 * `noiseThreshold` of the median: (max − min) / median > 0.25.
 *
 * @category models
 * @since 0.0.0
 */
export interface Result {
  readonly database: Database
  readonly contender: Contender
  readonly store: Store
  readonly operation: Operation
  readonly mode: Mode
  readonly opsPerSec: number
  readonly rounds: ReadonlyArray<number>
  readonly noisy: boolean
  /**
   * This process's CPU time (user + system) per call, in microseconds, median
   * of the rounds. Unlike ops/s it hardly moves when other processes compete
   * for the cores; it leaves out the database server's own work.
   */
  readonly cpuMicrosPerOp: number
}

/**
 * The spread of rounds, relative to their median, above which a cell is marked noisy.
 *
 * @category constructors
 * @since 0.0.0
 */
export const noiseThreshold = 0.25

/**
 * A get or set measured on a table of a given number of rows.
 *
 * @category models
 * @since 0.0.0
 */
export interface ScaleResult {
  readonly database: Database
  readonly contender: Contender
  readonly operation: "get-hit" | "set"
  readonly mode: Mode
  readonly rows: number
  readonly opsPerSec: number
  readonly rounds: ReadonlyArray<number>
  readonly noisy: boolean
}

/**
 * Foreground throughput of 32 callers (reads and writes) before and during
 * a sweep of expired rows.
 *
 * @category models
 * @since 0.0.0
 */
export interface SweepResult {
  readonly database: Database
  readonly contender: Contender
  /** Rows of the table besides the expired ones. */
  readonly liveRows: number
  readonly expiredRows: number
  readonly deleted: number
  /** `false` when the sweep was stopped at the run's time cap before it deleted every expired row. */
  readonly finished: boolean
  readonly sweepSeconds: number
  readonly foregroundBefore: number
  readonly foregroundDuring: number
  /** `foregroundDuring / foregroundBefore`. */
  readonly ratio: number
}

/**
 * Where and how the numbers were taken.
 *
 * @category models
 * @since 0.0.0
 */
export interface Environment {
  readonly date: string
  /** The commit measured, with `+changes` when packages/ had uncommitted changes. */
  readonly commit: string
  readonly quick: boolean
  readonly node: string
  readonly platform: string
  readonly cpus: string
  readonly cores: number
  readonly memoryGiB: number
  /** 1-, 5- and 15-minute load averages when the run started and when it ended. */
  readonly loadAverage: { readonly start: ReadonlyArray<number>; readonly end: ReadonlyArray<number> }
  readonly servers: Readonly<Partial<Record<Database, string>>>
  readonly packages: Readonly<Record<string, string>>
  readonly method: {
    readonly rounds: number
    readonly secondsPerCell: number
    readonly warmupSeconds: number
    readonly rowsPerStore: number
    readonly scaleRows: ReadonlyArray<number>
    readonly sweepRows: number
    readonly noiseRule: string
  }
  readonly durationSeconds: number
  readonly notes: ReadonlyArray<string>
}

/**
 * The JSON report written by `--json`.
 *
 * @category models
 * @since 0.0.0
 */
export interface Report {
  readonly environment: Environment
  readonly results: ReadonlyArray<Result>
  readonly scale: ReadonlyArray<ScaleResult>
  readonly sweep: ReadonlyArray<SweepResult>
}
