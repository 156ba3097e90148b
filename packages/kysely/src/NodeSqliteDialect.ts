/**
 * A Kysely dialect for SQLite through Node's built-in `node:sqlite`
 * (Node ≥ 22.13): no native add-on to install, and the settings a file
 * database shared by several processes needs — a busy timeout, write-ahead
 * logging, `synchronous = NORMAL` — applied before the first query.
 *
 * **Details**
 *
 * The dialect is wiring: the connection and driver live in
 * `internal/nodeSqlite.ts`, and SQL compilation, capability flags and
 * introspection are Kysely's own `SqliteQueryCompiler`, `SqliteAdapter` and
 * `SqliteIntrospector`, so queries compile exactly as with Kysely's
 * `SqliteDialect`.
 *
 * @since 0.1.0
 */
import {
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler
} from "kysely"
import { NodeSqliteDriver, validate } from "./internal/nodeSqlite.ts"

/**
 * The parts of a `node:sqlite` `DatabaseSync` the dialect uses, described
 * structurally so that this package never depends on the module's types.
 *
 * @category models
 * @since 0.1.0
 */
export interface NodeSqliteDatabase {
  prepare(sql: string): NodeSqliteStatement
  exec(sql: string): void
  close(): void
}

/**
 * The parts of a `node:sqlite` `StatementSync` the dialect uses.
 *
 * @category models
 * @since 0.1.0
 */
export interface NodeSqliteStatement {
  all(...parameters: Array<any>): Array<unknown>
  run(...parameters: Array<any>): { readonly changes: number | bigint; readonly lastInsertRowid: number | bigint }
  iterate(...parameters: Array<any>): Iterator<unknown>
  /** Present from Node 22.16 / 23.11; tells whether the statement returns rows. */
  columns?(): ReadonlyArray<unknown>
}

/**
 * Options of `NodeSqliteDialect`.
 *
 * @category models
 * @since 0.1.0
 */
export interface NodeSqliteDialectConfig {
  /**
   * A file path (or `":memory:"`) that the dialect opens with
   * `new DatabaseSync(path)` and closes on `db.destroy()`; or a database you
   * opened yourself, or a function returning one, which `db.destroy()` also
   * closes.
   */
  readonly database: string | NodeSqliteDatabase | (() => NodeSqliteDatabase | Promise<NodeSqliteDatabase>)
  /**
   * How long, in milliseconds, a statement waits for another process's write
   * lock before failing with `SQLITE_BUSY`. Set before WAL is switched on, so
   * that many processes opening a fresh file at once wait for each other.
   * For a database you pass in, applied only when given.
   * @default 5000
   */
  readonly busyTimeout?: number | undefined
  /**
   * Write-ahead logging lets readers run while another process writes.
   * Ignored for in-memory databases. For a database you pass in, applied
   * only when given.
   * @default "wal"
   */
  readonly journalMode?: "wal" | "delete" | undefined
  /**
   * `"normal"` is durable against application crashes and, in WAL mode, keeps
   * the database consistent after a power loss; `"full"` also makes every
   * commit survive a power loss, at a cost in write speed. For a database you
   * pass in, applied only when given.
   * @default "normal"
   */
  readonly synchronous?: "normal" | "full" | undefined
  /**
   * Prepared statements kept per connection, by SQL text, so repeated
   * queries skip SQLite's parser. `0` prepares every query afresh.
   * @default 128
   */
  readonly statementCacheSize?: number | undefined
  /** Called once with the connection after the settings above are applied. */
  readonly onCreateConnection?: ((connection: DatabaseConnection) => Promise<void>) | undefined
}

/**
 * Kysely's `Dialect` for SQLite on `node:sqlite`.
 *
 * **Details**
 *
 * One connection, as with every Kysely SQLite dialect: Kysely queues queries
 * and transactions on it. Parameters bind as `node:sqlite` binds them
 * (`null`, numbers, bigints, strings, `Uint8Array`s), plus booleans as 1 and
 * 0; integers read back as numbers.
 *
 * **When to use**
 *
 * When you want Kysely on a SQLite file without `better-sqlite3`:
 *
 * ```ts
 * import { Kysely } from "kysely"
 * import { NodeSqliteDialect } from "@effect-persist/kysely"
 *
 * interface Database {
 *   readonly users: { readonly id: number; readonly name: string }
 * }
 *
 * const db = new Kysely<Database>({ dialect: new NodeSqliteDialect({ database: "app.db" }) })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export class NodeSqliteDialect implements Dialect {
  readonly #config: NodeSqliteDialectConfig

  /** Throws a `TypeError` or `RangeError` naming the setting when one cannot work. */
  constructor(config: NodeSqliteDialectConfig) {
    validate(config)
    this.#config = Object.freeze({ ...config })
  }

  createDriver(): Driver {
    return new NodeSqliteDriver(this.#config)
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler()
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter()
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db)
  }
}
