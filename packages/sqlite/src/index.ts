/**
 * effect-persist on SQLite (`node:sqlite`): the backend with its layers, on
 * its own connection or on an `@effect/sql-sqlite-node` client, and the
 * migrations with their runner.
 *
 * @since 0.1.0
 */

/**
 * The SQLite storage backend and its layers.
 *
 * @since 0.1.0
 */
export * as SqliteBackend from "./SqliteBackend.ts"

/**
 * The SQLite migrations and their runner.
 *
 * @since 0.1.0
 */
export * as SqliteMigrator from "./SqliteMigrator.ts"
