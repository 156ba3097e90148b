/**
 * effect-persist on PostgreSQL, through `@effect/sql-pg`: the backend with its
 * layers, and the migrations with their runner.
 *
 * @since 0.1.0
 */

/**
 * The PostgreSQL storage backend and its layers.
 *
 * @since 0.1.0
 */
export * as PgBackend from "./PgBackend.ts"

/**
 * The PostgreSQL migrations and their runner.
 *
 * @since 0.1.0
 */
export * as PgMigrator from "./PgMigrator.ts"
