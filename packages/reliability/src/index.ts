/**
 * The effect-persist reliability suite's building blocks; the scenarios
 * themselves are the test files under `test/`.
 *
 * @since 0.0.0
 */

/**
 * Figures of a run, printed and written to a file per run size.
 *
 * @since 0.0.0
 */
export * as Figures from "./Figures.ts"

/**
 * The hostile-input scenario: running generated cases and checking every rule.
 *
 * @since 0.0.0
 */
export * as Hostile from "./Hostile.ts"

/**
 * The hostile-input scenario's inputs and generated cases.
 *
 * @since 0.0.0
 */
export * as HostileInput from "./HostileInput.ts"

/**
 * The database-loss scenario: load, faults, and the ledger of acknowledged writes.
 *
 * @since 0.0.0
 */
export * as Load from "./Load.ts"

/**
 * What the store must answer to each hostile case: the model and the rules.
 *
 * @since 0.0.0
 */
export * as Oracle from "./Oracle.ts"

/**
 * The identity of this run, in the names of what it creates.
 *
 * @since 0.0.0
 */
export * as Run from "./Run.ts"

/**
 * Administration of the test servers: faults, restarts, connection counts.
 *
 * @since 0.0.0
 */
export * as Servers from "./Servers.ts"

/**
 * Recording of the SQL text a store sends.
 *
 * @since 0.0.0
 */
export * as SqlText from "./SqlText.ts"

/**
 * Bounded and full run sizes.
 *
 * @since 0.0.0
 */
export * as Size from "./Size.ts"
