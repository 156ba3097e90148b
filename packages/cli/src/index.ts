/**
 * The `effect-persist` command (`migrate`, `status`, `sql`, `sweep`,
 * `inspect`) as an `effect/cli` command, for programs that embed it.
 *
 * @since 0.1.0
 */

/**
 * The `effect-persist` command.
 *
 * @since 0.1.0
 */
export * as Cli from "./Cli.ts"
