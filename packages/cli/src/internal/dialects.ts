import type { Migrator, StorageBackend, StorageError } from "@effect-persist/core"
import { MysqlBackend, MysqlMigrator } from "@effect-persist/mysql"
import { PgBackend, PgMigrator } from "@effect-persist/pg"
import { SqliteBackend, SqliteMigrator } from "@effect-persist/sqlite"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as SqlClient from "effect/sql/SqlClient"
import type { DialectName } from "./target.ts"

/**
 * What the command needs from a dialect package, all through its public API.
 *
 * @internal
 */
export interface Dialect {
  readonly name: DialectName
  readonly client: (location: string) => Layer.Layer<SqlClient.SqlClient, unknown>
  readonly driver: (sql: SqlClient.SqlClient) => Migrator.MigrationDriver
  readonly migrations: Effect.Effect<ReadonlyArray<Migrator.Migration>, StorageError.MigrationError>
  readonly renderSql: (table: string) => Effect.Effect<string, StorageError.MigrationError | StorageError.ConfigurationError>
  readonly backend: (
    table: string,
    location: string
  ) => Effect.Effect<StorageBackend.StorageBackend, unknown, SqlClient.SqlClient>
}

const sqlite: Dialect = {
  name: "sqlite",
  client: (filename) => SqliteBackend.layerClient({ filename }),
  driver: SqliteMigrator.driver,
  migrations: SqliteMigrator.migrations,
  renderSql: (table) => SqliteMigrator.renderSql({ table }),
  backend: (table, filename) => SqliteBackend.make({ table, filename })
}

const pg: Dialect = {
  name: "pg",
  // One connection is all a command needs.
  client: (url) => PgBackend.layerClient({ url, maxConnections: 1 }),
  driver: PgMigrator.driver,
  migrations: PgMigrator.migrations,
  renderSql: (table) => PgMigrator.renderSql({ table }),
  backend: (table) => PgBackend.make({ table })
}

const mysql: Dialect = {
  name: "mysql",
  client: (url) => MysqlBackend.layerClient({ url, maxConnections: 1 }),
  driver: (sql) => MysqlMigrator.driver(sql),
  migrations: MysqlMigrator.migrations,
  renderSql: (table) => MysqlMigrator.renderSql({ table }),
  backend: (table) => MysqlBackend.make({ table })
}

/** @internal */
export const dialects: Readonly<Partial<Record<DialectName, Dialect>>> = { sqlite, pg, mysql }
