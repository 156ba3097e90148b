/**
 * Which database a Kysely instance reaches, recognised from its dialect
 * adapter, and what differs between the three this package serves: identifier
 * quoting, key limits, batch sizes, how a transaction that will write takes
 * its lock, and how parameters travel.
 *
 * @internal
 */
import { StorageError } from "@effect-persist/core"
import * as Effect from "effect/Effect"
import { type Kysely, MysqlAdapter, PostgresAdapter, SqliteAdapter } from "kysely"

/**
 * The database families served, named as the native packages name them.
 *
 * @internal
 */
export type Name = "pg" | "mysql" | "sqlite"

/** @internal */
export interface Spec {
  readonly name: Name
  /** For messages. */
  readonly label: string
  readonly quoteIdentifier: (name: string) => string
  /** Largest key or namespace in UTF-8 bytes: the same limits as the native packages. */
  readonly maxKeyBytes: number
  /** Opens a transaction that will write. SQLite's takes the write lock at once. */
  readonly begin: string
  /** Whether `modify` locks the row it reads (`SELECT ... FOR UPDATE`). */
  readonly lockRow: boolean
  /** Rows per multi-row upsert (five parameters each). */
  readonly rowsPerInsert: number
  /** Keys per `getMany` statement (one parameter each). */
  readonly keysPerSelect: number
  /**
   * Bytes a value of `n` bytes adds to a statement on the wire: mysql2 sends
   * queries as text with binary values as hexadecimal literals.
   */
  readonly wireBytes: (n: number) => number
}

const doubleQuote = (name: string): string => `"${name.replace(/"/g, "\"\"")}"`
const backtick = (name: string): string => `\`${name.replace(/`/g, "``")}\``

/** @internal */
export const specs: Readonly<Record<Name, Spec>> = {
  pg: {
    name: "pg",
    label: "PostgreSQL",
    quoteIdentifier: doubleQuote,
    // A B-tree entry is at most 2,704 bytes; two 1,300-byte halves with
    // their headers fit (the same bound as @effect-persist/pg).
    maxKeyBytes: 1300,
    begin: "begin",
    lockRow: true,
    rowsPerInsert: 1000,
    keysPerSelect: 10_000,
    wireBytes: (n) => n + 16
  },
  mysql: {
    name: "mysql",
    label: "MySQL/MariaDB",
    quoteIdentifier: backtick,
    // VARBINARY(1536) columns: InnoDB's 3,072-byte key shared by namespace and key.
    maxKeyBytes: 1536,
    begin: "begin",
    lockRow: true,
    rowsPerInsert: 1000,
    keysPerSelect: 4096,
    wireBytes: (n) => 2 * n + 16
  },
  sqlite: {
    name: "sqlite",
    label: "SQLite",
    quoteIdentifier: doubleQuote,
    // SQLite allows far more; the bound keeps index pages healthy (as @effect-persist/sqlite).
    maxKeyBytes: 64 * 1024,
    // No row locks in SQLite: the writer's lock is taken before the read, so
    // no other connection or process can change the row in between.
    begin: "begin immediate",
    lockRow: false,
    // 5 parameters per row, under SQLite's 32,766 bind parameters.
    rowsPerInsert: 1000,
    keysPerSelect: 10_000,
    wireBytes: (n) => n + 16
  }
}

const adapterNames: ReadonlyArray<readonly [string, Name]> = [
  ["PostgresAdapter", "pg"],
  ["MysqlAdapter", "mysql"],
  ["SqliteAdapter", "sqlite"]
]

/** The constructor names along an object's prototype chain, most derived first. */
const constructorNames = (value: object): Array<string> => {
  const names: Array<string> = []
  let proto: unknown = Object.getPrototypeOf(value)
  while (typeof proto === "object" && proto !== null && proto !== Object.prototype) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name
    if (typeof name === "string" && name !== "") names.push(name)
    proto = Object.getPrototypeOf(proto)
  }
  return names
}

/**
 * The family of an adapter: by `instanceof` on this package's copy of
 * Kysely, or by constructor name along the prototype chain, for adapters
 * from another copy of Kysely (a bundled dialect, a second install).
 *
 * @internal
 */
export const nameOfAdapter = (adapter: unknown): Name | undefined => {
  if (adapter instanceof PostgresAdapter) return "pg"
  if (adapter instanceof MysqlAdapter) return "mysql"
  if (adapter instanceof SqliteAdapter) return "sqlite"
  if (typeof adapter !== "object" || adapter === null) return undefined
  for (const name of constructorNames(adapter)) {
    for (const [adapterName, dialect] of adapterNames) {
      if (name === adapterName) return dialect
    }
  }
  return undefined
}

const unsupported = "PostgreSQL (PostgresAdapter: PostgresDialect on pg, or any dialect built on it), " +
  "MySQL/MariaDB (MysqlAdapter: MysqlDialect on mysql2) and SQLite (SqliteAdapter: SqliteDialect on better-sqlite3, " +
  "or this package's NodeSqliteDialect)"

/**
 * Recognises the database behind a Kysely instance, or fails with a
 * `ConfigurationError` that lists what is supported.
 *
 * @internal
 */
export const detect = (db: Kysely<any>): Effect.Effect<Spec, StorageError.ConfigurationError> =>
  Effect.suspend(() => {
    let adapter: unknown
    try {
      adapter = typeof db?.getExecutor === "function" ? db.getExecutor().adapter : undefined
    } catch {
      adapter = undefined
    }
    const name = nameOfAdapter(adapter)
    if (name !== undefined) return Effect.succeed(specs[name])
    const found = typeof adapter === "object" && adapter !== null
      ? `its dialect's adapter is ${constructorNames(adapter)[0] ?? "an anonymous object"}`
      : "it is not a Kysely instance"
    return Effect.fail(
      new StorageError.ConfigurationError({
        option: "db",
        message: `@effect-persist/kysely cannot use this Kysely instance: ${found}. Supported: ${unsupported}.`
      })
    )
  })
