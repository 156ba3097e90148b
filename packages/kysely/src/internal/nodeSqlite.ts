/**
 * The driver and connection behind `NodeSqliteDialect`: one `node:sqlite`
 * database, its settings applied in a safe order, and a bounded cache of
 * prepared statements.
 *
 * @internal
 */
import { CompiledQuery, type DatabaseConnection, type Driver, type QueryResult } from "kysely"
import type { NodeSqliteDatabase, NodeSqliteDialectConfig, NodeSqliteStatement } from "../NodeSqliteDialect.ts"

const isDatabase = (value: unknown): value is NodeSqliteDatabase =>
  typeof value === "object" && value !== null && typeof (value as NodeSqliteDatabase).prepare === "function"

/**
 * Refuses settings that cannot work, when the dialect is constructed rather
 * than at the first query.
 *
 * @internal
 */
export const validate = (config: NodeSqliteDialectConfig): void => {
  const { busyTimeout, database, journalMode, statementCacheSize, synchronous } = config
  if (typeof database !== "string" && typeof database !== "function" && !isDatabase(database)) {
    throw new TypeError(
      "NodeSqliteDialect: database must be a file path, a node:sqlite DatabaseSync, or a function returning one."
    )
  }
  if (busyTimeout !== undefined && !(Number.isFinite(busyTimeout) && busyTimeout >= 0)) {
    throw new RangeError(`NodeSqliteDialect: busyTimeout must be a non-negative number of milliseconds, got ${busyTimeout}.`)
  }
  if (statementCacheSize !== undefined && !(Number.isInteger(statementCacheSize) && statementCacheSize >= 0)) {
    throw new RangeError(`NodeSqliteDialect: statementCacheSize must be a non-negative integer, got ${statementCacheSize}.`)
  }
  if (journalMode !== undefined && journalMode !== "wal" && journalMode !== "delete") {
    throw new RangeError(`NodeSqliteDialect: journalMode must be "wal" or "delete", got ${String(journalMode)}.`)
  }
  if (synchronous !== undefined && synchronous !== "normal" && synchronous !== "full") {
    throw new RangeError(`NodeSqliteDialect: synchronous must be "normal" or "full", got ${String(synchronous)}.`)
  }
}

/**
 * Opens (or takes) the database and applies the settings: the busy timeout
 * first, because switching to WAL needs the write lock, and with the timeout
 * in place processes opening a fresh file at once wait for each other
 * instead of failing with "database is locked".
 *
 * @internal
 */
export const open = async (config: NodeSqliteDialectConfig): Promise<NodeSqliteDatabase> => {
  const source = config.database
  const opened = typeof source === "string"
  let database: NodeSqliteDatabase
  if (typeof source === "string") {
    const { DatabaseSync } = await import("node:sqlite")
    database = new DatabaseSync(source) as unknown as NodeSqliteDatabase
  } else if (isDatabase(source)) {
    database = source
  } else {
    database = await source()
  }
  const memory = typeof source === "string" && (source === ":memory:" || source === "")
  const pragmas: Array<string> = []
  if (opened || config.busyTimeout !== undefined) pragmas.push(`PRAGMA busy_timeout = ${Math.floor(config.busyTimeout ?? 5000)}`)
  if (!memory && (opened || config.journalMode !== undefined)) {
    pragmas.push(`PRAGMA journal_mode = ${config.journalMode === "delete" ? "DELETE" : "WAL"}`)
  }
  if (opened || config.synchronous !== undefined) {
    pragmas.push(`PRAGMA synchronous = ${config.synchronous === "full" ? "FULL" : "NORMAL"}`)
  }
  try {
    for (const pragma of pragmas) database.exec(pragma)
  } catch (error) {
    if (opened) database.close()
    throw error
  }
  return database
}

const bindable = (parameters: ReadonlyArray<unknown>): Array<unknown> =>
  parameters.map((value) => typeof value === "boolean" ? (value ? 1 : 0) : value)

/**
 * Whether a statement returns rows. `columns()` knows; on Node versions
 * without it, the query's kind decides (a select, a `RETURNING` clause, or
 * raw SQL that reads).
 */
const returnsRows = (statement: NodeSqliteStatement, compiled: CompiledQuery): boolean => {
  if (typeof statement.columns === "function") return statement.columns().length > 0
  const node = compiled.query as { readonly kind?: string; readonly returning?: unknown }
  if (node.kind === "SelectQueryNode" || node.returning !== undefined) return true
  return node.kind === "RawNode" && /^\s*(select|with|pragma|values|explain)\b/i.test(compiled.sql)
}

// node:sqlite runs a statement synchronously and the connection resolves
// its promise at once, so a caller writing back to back never lets the
// event loop turn: timers, sockets and other processes' messages wait for
// as long as it writes. After this much work without a turn, a statement
// first waits for one (a setImmediate, a few microseconds when nothing is
// pending).
const workBetweenTurns = 5 // milliseconds

let lastTurn = performance.now()
let watching = false
const turned = () => {
  watching = false
  lastTurn = performance.now()
}

// Notes when the event loop next turns on its own, so that callers that
// already yield (a server answering requests) never wait for a turn.
const watchForTurn = (): void => {
  if (watching) return
  watching = true
  setImmediate(turned)
}

const nextTurn = (): Promise<void> =>
  new Promise((resolve) =>
    setImmediate(() => {
      turned()
      resolve()
    })
  )

/**
 * Resolves at once, unless the process has run statements for longer than
 * `workBetweenTurns` since the event loop last turned: then on the next turn.
 *
 * @internal
 */
export const yieldIfBusy = (): Promise<void> | undefined => {
  if (performance.now() - lastTurn < workBetweenTurns) {
    watchForTurn()
    return undefined
  }
  return nextTurn()
}

/** @internal */
export class NodeSqliteConnection implements DatabaseConnection {
  readonly #database: NodeSqliteDatabase
  readonly #cacheSize: number
  readonly #statements = new Map<string, NodeSqliteStatement>()

  constructor(database: NodeSqliteDatabase, cacheSize: number) {
    this.#database = database
    this.#cacheSize = cacheSize
  }

  #prepare(sql: string): NodeSqliteStatement {
    const cached = this.#statements.get(sql)
    if (cached !== undefined) {
      // Re-inserted so that the map's order is least recently used first.
      this.#statements.delete(sql)
      this.#statements.set(sql, cached)
      return cached
    }
    const statement = this.#database.prepare(sql)
    if (this.#cacheSize > 0) {
      if (this.#statements.size >= this.#cacheSize) {
        this.#statements.delete(this.#statements.keys().next().value!)
      }
      this.#statements.set(sql, statement)
    }
    return statement
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const turn = yieldIfBusy()
    if (turn !== undefined) await turn
    const statement = this.#prepare(compiled.sql)
    const parameters = bindable(compiled.parameters)
    if (returnsRows(statement, compiled)) {
      return { rows: statement.all(...parameters) as Array<R> }
    }
    const { changes, lastInsertRowid } = statement.run(...parameters)
    return {
      numAffectedRows: BigInt(changes),
      insertId: BigInt(lastInsertRowid),
      rows: []
    }
  }

  async *streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const iterator = this.#prepare(compiled.sql).iterate(...bindable(compiled.parameters))
    try {
      while (true) {
        const turn = yieldIfBusy()
        if (turn !== undefined) await turn
        const next = iterator.next()
        if (next.done) return
        yield { rows: [next.value as R] }
      }
    } finally {
      // A stream left early resets its (cached) statement for the next query.
      iterator.return?.()
    }
  }

  /** @internal */
  close(): void {
    this.#statements.clear()
    this.#database.close()
  }
}

const quoteSavepoint = (name: string) => `"${name.replace(/"/g, "\"\"")}"`

/** @internal */
export class NodeSqliteDriver implements Driver {
  readonly #config: NodeSqliteDialectConfig
  #connection: NodeSqliteConnection | undefined

  constructor(config: NodeSqliteDialectConfig) {
    this.#config = config
  }

  async init(): Promise<void> {
    const connection = new NodeSqliteConnection(await open(this.#config), this.#config.statementCacheSize ?? 128)
    this.#connection = connection
    if (this.#config.onCreateConnection !== undefined) await this.#config.onCreateConnection(connection)
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    // Kysely's SqliteAdapter declares a single connection, so Kysely hands it
    // to one query or transaction at a time.
    return this.#connection!
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin"))
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("commit"))
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("rollback"))
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteSavepoint(name)}`))
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to ${quoteSavepoint(name)}`))
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release ${quoteSavepoint(name)}`))
  }

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {
    this.#connection?.close()
    this.#connection = undefined
  }
}
