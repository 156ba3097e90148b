/**
 * effect-persist on MySQL and MariaDB, through `@effect/sql-mysql2`: the
 * backend with its layers, and the migrations with their runner.
 *
 * @since 0.1.0
 */

/**
 * The MySQL/MariaDB storage backend and its layers.
 *
 * @since 0.1.0
 */
export * as MysqlBackend from "./MysqlBackend.ts"

/**
 * The MySQL/MariaDB migrations and their runner.
 *
 * @since 0.1.0
 */
export * as MysqlMigrator from "./MysqlMigrator.ts"
