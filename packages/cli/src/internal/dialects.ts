import type { Migrator, StorageBackend, StorageError } from "@effect-persist/core"
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

/** @internal */
export const dialects: Readonly<Partial<Record<DialectName, Dialect>>> = { sqlite }
