/**
 * How big a run is. `npm test` runs the suite at a bounded size that keeps it
 * to a few minutes on a two-core CI machine shared with other suites;
 * `npm run test:stress` sets `EFFECT_PERSIST_STRESS=1` and runs it at the
 * full size the reliability figures in `docs/reliability.md` come from.
 *
 * @since 0.0.0
 */

/**
 * Whether this is a full-size (stress) run.
 *
 * @category constructors
 * @since 0.0.0
 */
export const stress: boolean = process.env.EFFECT_PERSIST_STRESS === "1"

/**
 * The sizes of every scenario, at the current run size.
 *
 * @category models
 * @since 0.0.0
 */
export interface Sizes {
  /** "bounded" or "full", for reports. */
  readonly label: "bounded" | "full"
  /** Fibers writing and reading in the database-loss scenario. */
  readonly loadFibers: number
  /** Times the store's server connections are killed during one load run. */
  readonly connectionKills: number
  /** Acknowledged writes to wait for between two faults, so every fault hits a store under load. */
  readonly writesBetweenFaults: number
  /** Times another process locks a SQLite file past the store's busy timeout during one load run. */
  readonly sqliteLockOuts: number
  /** Writes each of the two processes makes in the SQLite contention scenario. */
  readonly contentionWritesPerProcess: number
  /** Fibers per process in the SQLite contention scenario. */
  readonly contentionFibers: number
  /** Seconds of load in the SQLite cluster-mode run (4 worker processes, 16 fibers each). */
  readonly clusterSeconds: number
  /** Worker counts the cluster-mode run is measured at, each with and without a WAL limit (none: only the checked run). */
  readonly clusterMeasuredWorkers: ReadonlyArray<number>
  /** Processes migrating one database at once. */
  readonly migratingProcesses: number
  /** Generated hostile-input cases per backend. */
  readonly hostileCases: number
  /** Generated table names per backend (nearly all refused before reaching the database). */
  readonly hostileTableNames: number
}

const bounded: Sizes = {
  label: "bounded",
  loadFibers: 32,
  connectionKills: 3,
  writesBetweenFaults: 150,
  sqliteLockOuts: 3,
  contentionWritesPerProcess: 400,
  contentionFibers: 16,
  clusterSeconds: 5,
  clusterMeasuredWorkers: [],
  migratingProcesses: 4,
  hostileCases: 400,
  hostileTableNames: 200
}

const full: Sizes = {
  label: "full",
  loadFibers: 32,
  connectionKills: 8,
  writesBetweenFaults: 1500,
  sqliteLockOuts: 6,
  contentionWritesPerProcess: 5000,
  contentionFibers: 32,
  clusterSeconds: 30,
  clusterMeasuredWorkers: [1, 2, 4],
  migratingProcesses: 8,
  hostileCases: 10_000,
  hostileTableNames: 2000
}

/**
 * The sizes of this run.
 *
 * @category constructors
 * @since 0.0.0
 */
export const sizes: Sizes = stress ? full : bounded
