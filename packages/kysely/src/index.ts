/**
 * effect-persist on any database you reach through Kysely (PostgreSQL,
 * MySQL/MariaDB, SQLite): the backend with its layers, the migrations with
 * their runner, and a Kysely dialect for `node:sqlite`.
 *
 * @since 0.1.0
 */

/**
 * The storage backend over a Kysely instance, and its layers.
 *
 * @since 0.1.0
 */
export * as KyselyBackend from "./KyselyBackend.ts"

/**
 * The migrations, their runner over Kysely, and a Kysely `MigrationProvider`.
 *
 * @since 0.1.0
 */
export * as KyselyMigrator from "./KyselyMigrator.ts"

/**
 * Kysely's `Dialect` for SQLite on `node:sqlite`. Exported as the class
 * itself, not a namespace, because Kysely users construct dialects with `new`.
 *
 * @since 0.1.0
 */
export { NodeSqliteDialect, type NodeSqliteDialectConfig } from "./NodeSqliteDialect.ts"
