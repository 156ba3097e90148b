/**
 * The storage contract over a Kysely instance you already have: Effect's
 * `KeyValueStore`, `BackingPersistence` and `Persistence` on the same pool,
 * the same tables and the same semantics as the native packages —
 * byte-exact keys, chunked batches, `modify` in a transaction that locks the
 * row (PostgreSQL, MySQL) or the database (SQLite), expiry filtering and
 * bounded sweeps. Every query is built with Kysely's query builder, and every
 * failure is a typed error.
 *
 * @since 0.1.0
 */
import { KeyCodec, Migrator, Services, StorageBackend, StorageError } from "@effect-persist/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Semaphore from "effect/Semaphore"
import type * as KeyValueStore from "effect/persistence/KeyValueStore"
import type * as Persistence from "effect/persistence/Persistence"
import { type Kysely, sql, type Transaction } from "kysely"
import { diagnose } from "./internal/classify.ts"
import { detect, type Spec } from "./internal/dialect.ts"
import {
  attempt,
  CurrentTransaction,
  DatabaseFailure,
  type Joined,
  execute,
  limitConnectionWait,
  NoConnection,
  onJoined,
  transaction,
  withinSavepoint
} from "./internal/run.ts"
import * as Statements from "./internal/statements.ts"
import * as KyselyMigrator from "./KyselyMigrator.ts"

/**
 * Options of a backend on a Kysely instance.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * The entries table, created by the migrations. The same name on the same
   * database is the same store for `@effect-persist/pg`, `@effect-persist/mysql`
   * and this package.
   * @default "effect_persist_entries"
   */
  readonly table?: string | undefined
  /**
   * Apply pending migrations when the layer starts. Off by default: the layer
   * then only checks the schema version and fails with a `SchemaVersionError`
   * naming what to run, so production schema changes stay deliberate and the
   * runtime role needs no DDL rights.
   * @default false
   */
  readonly autoMigrate?: boolean | undefined
  /**
   * Largest value accepted, in bytes (UTF-8 bytes for strings); larger ones
   * fail with a `ValueTooLarge` error naming the limit. Capped by what the
   * driver can carry: on MySQL/MariaDB half the server's `max_allowed_packet`
   * less 64 KiB (mysql2 sends binary values as hexadecimal text; read from
   * the server at start-up), on PostgreSQL 255 MiB (node-postgres reads
   * `bytea` as hexadecimal text, and a JavaScript string holds at most
   * 512 MiB), on SQLite its 1 GB row limit less room for the key. On
   * PostgreSQL it also bounds what is read: a larger stored value (written
   * by a client with a higher limit) reads as a `ValueTooLarge` error, never
   * as a row too long for node-postgres, which would end the process.
   * @default the cap
   */
  readonly maxValueBytes?: number | undefined
  /**
   * How long a call waits for a connection of the pool before it fails with
   * a retryable `StorageError` (`reason: "Unavailable"`) instead of waiting
   * on. A call made inside `db.transaction()` without
   * {@link joinTransaction}, on a pool whose only connection the transaction
   * holds (`NodeSqliteDialect`, a pool of one), would otherwise wait for
   * ever. `Infinity` waits as long as it takes.
   * @default "30 seconds"
   */
  readonly connectionTimeout?: Duration.Input | undefined
}

/**
 * Largest value on PostgreSQL: node-postgres reads `bytea` as hexadecimal
 * text, two characters per byte, into one JavaScript string (at most
 * 2^29 − 24 characters).
 *
 * @category constructors
 * @since 0.1.0
 */
export const pgMaxValueBytes = 255 * 1024 * 1024

/**
 * Largest value on SQLite: its default SQLITE_MAX_LENGTH of 1,000,000,000
 * bytes per row, less room for the key and namespace (as `@effect-persist/sqlite`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const sqliteMaxValueBytes = 1_000_000_000 - 3 * 64 * 1024

/** Room in a MySQL packet for the statement around its values. */
const mysqlStatementOverhead = 64 * 1024

/** Bytes of keys and values per PostgreSQL or SQLite statement: large statements hold locks for longer. */
const bytesPerStatement = 32 * 1024 * 1024

const configurationError = (option: string, message: string) => new StorageError.ConfigurationError({ option, message })

const migrateCommand = (table: string) => {
  const custom = table !== Migrator.defaultTable
  return `KyselyMigrator.migrate(db${custom ? `, { table: "${table}" }` : ""})\` (from @effect-persist/kysely) or \`effect-persist migrate --url <database url>${
    custom ? ` --table ${table}` : ""
  }`
}

const int64Safe = Number.MAX_SAFE_INTEGER

/**
 * An instant as an integer parameter. Rounded up, so that for
 * whole-millisecond clocks `expires_at > now` is exactly `expiresAt > now`
 * (a fractional expiry may end up to a millisecond early, never late), and
 * clamped to the safe integers every driver binds exactly (±285,000 years).
 */
const instant = (millis: number): number => Math.min(int64Safe, Math.max(-int64Safe, Math.ceil(millis)))

/** Parameters travel as Buffers: mysql2 and better-sqlite3 bind only those as binary. */
const buffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const keyBytes = (text: string): Buffer => buffer(KeyCodec.encode(text))

// Rows per delete of a MySQL sweep batch: 2 parameters each, plus 1.
const sweepDeleteRows = 4096

/**
 * A value as it is stored: strings as their UTF-8 bytes (PostgreSQL `bytea`,
 * MySQL `LONGBLOB`), or on SQLite as text, as `@effect-persist/sqlite` stores
 * them (its `value` column is declared BLOB, which has no affinity, so text
 * stays text); bytes as they are.
 */
const storedValue = (spec: Spec, value: StorageBackend.Value): Buffer | string =>
  typeof value === "string"
    ? spec.name === "sqlite" ? value : buffer(KeyCodec.encode(value))
    : buffer(value)

const storedLength = (value: Buffer | string): number =>
  typeof value === "string" ? KeyCodec.utf8Length(value) : value.length

const kindOf = (value: StorageBackend.Value): number => typeof value === "string" ? 0 : 1

/**
 * Bytes a driver returned, as a plain `Uint8Array` that owns its memory:
 * drivers hand out Buffers, small ones views into a shared pool.
 */
const ownBytes = (bytes: Uint8Array): Uint8Array =>
  bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
    ? new Uint8Array(bytes.buffer, 0, bytes.byteLength)
    : new Uint8Array(bytes)

const compareBytes = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b)

const latin1 = (bytes: Uint8Array): string => (Buffer.isBuffer(bytes) ? bytes : buffer(bytes)).toString("latin1")

/** A key as messages show it: quoted, and cut at 40 characters. */
const shown = (key: string): string => JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key)

class CorruptRow extends Error {}

/** A stored value over the PostgreSQL store's `maxValueBytes`, which the store does not read. */
class TooLargeToRead extends Error {
  readonly size: number
  constructor(size: number, limit: number) {
    super(
      `the stored value is ${size} bytes, over this store's maxValueBytes of ${limit} bytes; it was written by a client with a higher limit. Open the store with a higher maxValueBytes (node-postgres reads at most ${pgMaxValueBytes}), or remove or overwrite the entry`
    )
    this.size = size
  }
}

/**
 * A stored value as written: kind 0 is a string (its UTF-8 bytes, or text
 * on SQLite), kind 1 bytes.
 */
const decodeValue = (value: unknown, kind: unknown, size?: unknown, limit?: number): StorageBackend.Value => {
  if (value === null && size !== undefined && size !== null) throw new TooLargeToRead(Number(size), limit ?? 0)
  const k = Number(kind)
  if (k === 0) {
    if (typeof value === "string") return value
    if (value instanceof Uint8Array) return KeyCodec.decode(value)
  } else if (k === 1) {
    if (value instanceof Uint8Array) return ownBytes(value)
    if (typeof value === "string") return KeyCodec.encode(value)
  }
  throw new CorruptRow(`the stored row has kind ${String(kind)} and a value of type ${typeof value}`)
}

const resolveMaxValueBytes = (
  db: Kysely<any>,
  spec: Spec,
  requested: number | undefined
): Effect.Effect<{ readonly maxValueBytes: number; readonly statementBudget: number }, StorageError.ConfigurationError> =>
  Effect.gen(function*() {
    if (spec.name === "pg") {
      return { maxValueBytes: Math.min(requested ?? pgMaxValueBytes, pgMaxValueBytes), statementBudget: bytesPerStatement }
    }
    if (spec.name === "sqlite") {
      return {
        maxValueBytes: Math.min(requested ?? sqliteMaxValueBytes, sqliteMaxValueBytes),
        statementBudget: bytesPerStatement
      }
    }
    const packet = yield* attempt(() =>
      sql<{ readonly packet: unknown }>`select @@max_allowed_packet as packet`.execute(db)
    ).pipe(
      Effect.map((result) => Number(result.rows[0]?.packet)),
      Effect.mapError((failure) =>
        configurationError(
          "maxValueBytes",
          `Could not read max_allowed_packet from the MySQL server, which bounds the values this store accepts: ${
            diagnose("mysql", failure.cause).detail
          }`
        )
      )
    )
    const cap = Math.floor((packet - mysqlStatementOverhead) / 2)
    if (!(cap > 0)) {
      return yield* configurationError(
        "maxValueBytes",
        `The MySQL server's max_allowed_packet (${packet} bytes) leaves no room for values; raise it.`
      )
    }
    return { maxValueBytes: Math.min(requested ?? cap, cap), statementBudget: packet - mysqlStatementOverhead }
  })

const isDurable = (db: Kysely<any>, spec: Spec): Effect.Effect<boolean> =>
  spec.name !== "sqlite"
    ? Effect.succeed(true)
    : attempt(() => sql<{ readonly file: unknown }>`select file from pragma_database_list where name = 'main'`.execute(db))
      .pipe(
        // An in-memory (or temporary) database has no file.
        Effect.map((result) => typeof result.rows[0]?.file === "string" && result.rows[0].file !== ""),
        Effect.orElseSucceed(() => true)
      )

/**
 * Builds a backend on a Kysely instance.
 *
 * **Details**
 *
 * Recognises the database from the instance's dialect adapter (PostgreSQL,
 * MySQL/MariaDB or SQLite; anything else is a `ConfigurationError` listing
 * what is supported), checks the schema version (or migrates, with
 * `autoMigrate`), and does no DDL otherwise. Queries run without the
 * instance's plugins (a `CamelCasePlugin` would rename our columns), and the
 * instance is never destroyed: it stays yours.
 *
 * A statement that fails because its pooled connection was lost is retried
 * once on another connection, when retrying cannot apply it twice.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  db: Kysely<any>,
  options?: Options
): Effect.Effect<
  StorageBackend.StorageBackend,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError
> =>
  Effect.gen(function*() {
    const spec = yield* detect(db)
    if (db.isTransaction) {
      return yield* configurationError(
        "db",
        "Pass the Kysely instance itself, not a transaction: the store runs for longer than any one transaction, and takes connections (and opens transactions) of its own. To run store calls inside a transaction, wrap them in KyselyBackend.joinTransaction(trx)."
      )
    }
    const k = db.withoutPlugins()
    const connectionTimeout = Duration.toMillis(
      yield* Effect.try({
        try: () => Duration.fromInputUnsafe(options?.connectionTimeout ?? "30 seconds"),
        catch: () =>
          configurationError("connectionTimeout", `connectionTimeout must be a duration, got ${String(options?.connectionTimeout)}.`)
      })
    )
    const table = yield* Migrator.validateTableName(options?.table ?? Migrator.defaultTable)
    const requested = options?.maxValueBytes
    if (requested !== undefined && !(Number.isSafeInteger(requested) && requested > 0)) {
      return yield* configurationError("maxValueBytes", `maxValueBytes must be a positive whole number of bytes, got ${requested}.`)
    }
    const migrations = yield* KyselyMigrator.migrations(spec.name)
    const migrationDriver = yield* KyselyMigrator.driver(db)
    if (options?.autoMigrate) {
      yield* Migrator.migrate(migrationDriver, migrations, { table })
    }
    yield* Migrator.checkSchema(migrationDriver, migrations, { table, command: migrateCommand(table) })
    const { maxValueBytes, statementBudget } = yield* resolveMaxValueBytes(k, spec, requested)
    const durable = yield* isDurable(k, spec)
    const q = Statements.make(k, spec, table, maxValueBytes)
    const dialect = spec.name
    limitConnectionWait(k, connectionTimeout)
    const encodeValue = (value: StorageBackend.Value) => storedValue(spec, value)

    const toStorageError = (operation: string, namespace?: string, key?: string) => (error: unknown) => {
      if (error instanceof StorageError.StorageError) return error
      const cause = error instanceof DatabaseFailure ? error.cause : error
      if (cause instanceof TooLargeToRead) {
        return new StorageError.StorageError({
          operation,
          reason: "ValueTooLarge",
          message: `${dialect} ${operation} failed${key === undefined ? "" : ` for key ${shown(key)}`}: ${cause.message}.`,
          namespace,
          key,
          cause
        })
      }
      if (cause instanceof NoConnection) {
        return new StorageError.StorageError({
          operation,
          reason: "Unavailable",
          message: `${dialect} ${operation} failed${
            key === undefined ? "" : ` for key ${shown(key)}`
          }: no connection of the Kysely instance's pool became free within ${cause.millis} ms (the store's connectionTimeout). A store call made inside db.transaction() waits for a connection of its own, which never comes when the transaction holds the only one: run it through KyselyBackend.joinTransaction(trx). Otherwise the pool is exhausted; the operation may succeed when retried.`,
          namespace,
          key,
          cause
        })
      }
      if (cause instanceof CorruptRow) {
        return new StorageError.StorageError({
          operation,
          reason: "Corrupt",
          message: `${dialect} ${operation} failed${
            key === undefined ? "" : ` for key ${shown(key)}`
          }: ${cause.message}; remove the entry or clear the store.`,
          namespace,
          key,
          cause
        })
      }
      const diagnosis = diagnose(dialect, cause)
      return StorageError.fromDatabase({
        dialect,
        operation,
        cause,
        reason: diagnosis.reason,
        detail: diagnosis.detail,
        namespace,
        key
      })
    }

    const lost = (error: unknown) =>
      error instanceof DatabaseFailure && !(error.cause instanceof NoConnection) &&
      diagnose(dialect, error.cause).connectionLost

    /** The operation's effect with a retry on a lost connection and its failures typed. */
    const run = <A>(
      operation: string,
      effect: Effect.Effect<A, unknown>,
      namespace?: string,
      key?: string
    ): Effect.Effect<A, StorageError.StorageError> =>
      effect.pipe(
        // A pooled connection that died while idle fails the next statement
        // sent on it; the pool has replaced it by then.
        Effect.retry({ times: 1, while: lost }),
        Effect.mapError(toStorageError(operation, namespace, key))
      )

    const adapter = db.getExecutor().adapter

    /**
     * Runs an operation on the application's transaction when the caller
     * joined one on this database (see `joinTransaction`), else on the pool.
     * In the application's transaction nothing is retried: a failure there
     * (a deadlock has rolled the whole transaction back) is the application's
     * to handle.
     */
    const op = <A>(
      operation: string,
      body: (on: Kysely<any>, joined: boolean) => Effect.Effect<A, unknown>,
      namespace?: string,
      key?: string
    ): Effect.Effect<A, StorageError.StorageError> =>
      Effect.flatMap(Effect.service(CurrentTransaction), (current) =>
        current === undefined || current.adapter !== adapter
          ? run(operation, body(k, false), namespace, key)
          : Effect.mapError(onJoined(current, (on) => body(on, true)), toStorageError(operation, namespace, key)))

    const rows = (on: Kysely<any>, template: Statements.Template, parameters: ReadonlyArray<unknown>) =>
      Effect.map(execute(on, Statements.bind(template, parameters)), (result) => result.rows as Array<any>)

    const decoded = <A>(thunk: () => A): Effect.Effect<A, CorruptRow | TooLargeToRead> =>
      Effect.try({
        try: thunk,
        catch: (cause) =>
          cause instanceof CorruptRow || cause instanceof TooLargeToRead
            ? cause
            : new CorruptRow(cause instanceof Error ? cause.message : String(cause))
      })

    const now = Effect.map(Clock.currentTimeMillis, instant)

    const range = (prefix: string | undefined) => {
      if (prefix === undefined) return undefined
      const low = KeyCodec.encode(prefix)
      const high = KeyCodec.prefixUpperBound(low)
      return [buffer(low), high === undefined ? undefined : buffer(high)] as const
    }

    /** The statements of a write that must apply all or nothing, on one connection. */
    const atomically = (
      on: Kysely<any>,
      joined: boolean,
      statements: ReadonlyArray<(on: Kysely<any>) => Effect.Effect<unknown, DatabaseFailure>>
    ) =>
      statements.length === 1
        ? Effect.asVoid(statements[0]!(on))
        : joined
        ? withinSavepoint(on, Effect.forEach(statements, (statement) => statement(on), { discard: true }))
        : transaction(on, spec.begin, (tx) => Effect.forEach(statements, (statement) => statement(tx), { discard: true }))

    return StorageBackend.make({
      dialect,
      capabilities: { maxKeyBytes: spec.maxKeyBytes, maxValueBytes, durable },
      coalesces: (fiber) => fiber.getRef(CurrentTransaction) === undefined,
      get: (namespace, key) =>
        op(
          "get",
          (on) =>
            Effect.flatMap(now, (at) =>
            Effect.flatMap(
              rows(on, q.get, [keyBytes(namespace), keyBytes(key), at]),
              (result) =>
                result.length === 0
                  ? Effect.undefined
                  : decoded(() => decodeValue(result[0].value, result[0].kind, result[0].size, maxValueBytes))
            )),
          namespace,
          key
        ),
      getMany: (namespace, keys) =>
        op(
          "getMany",
          (on) => Effect.gen(function*() {
            const at = yield* now
            const ns = keyBytes(namespace)
            const encoded = keys.map(keyBytes)
            // Positions of each key in the input: a key may be asked for twice.
            const positions = new Map<string, Array<number>>()
            encoded.forEach((bytes, i) => {
              const id = latin1(bytes)
              const list = positions.get(id)
              if (list === undefined) positions.set(id, [i])
              else list.push(i)
            })
            const unique = Array.from(positions.values(), (list) => encoded[list[0]!]!)
            const out = new Array<StorageBackend.Value | undefined>(keys.length).fill(undefined)
            const runs = Statements.chunk(
              unique.length,
              (i) => spec.wireBytes(unique[i]!.length),
              spec.keysPerSelect,
              statementBudget
            )
            for (const [start, end] of runs) {
              const result = yield* rows(on, q.getMany(end - start), [ns, at, ...unique.slice(start, end)])
              yield* decoded(() => {
                for (const row of result) {
                  const value = decodeValue(row.value, row.kind, row.size, maxValueBytes)
                  for (const i of positions.get(latin1(row.key)) ?? []) out[i] = value
                }
              })
            }
            return out
          }),
          namespace
        ),
      set: (namespace, key, value, expiresAt) =>
        op(
          "set",
          (on) => Effect.asVoid(
            execute(
              on,
              Statements.bind(q.set, [
                keyBytes(namespace),
                keyBytes(key),
                encodeValue(value),
                kindOf(value),
                expiresAt === undefined ? null : instant(expiresAt)
              ])
            )
          ),
          namespace,
          key
        ),
      setMany: (namespace, entries) =>
        Effect.suspend(() => {
          const ns = keyBytes(namespace)
          // Key order: concurrent batches take their row locks in one order
          // (no deadlocks between them), and the index is written in order.
          const sorted = entries.map((entry) => ({
            key: keyBytes(entry.key),
            value: encodeValue(entry.value),
            kind: kindOf(entry.value),
            expiresAt: entry.expiresAt === undefined ? null : instant(entry.expiresAt)
          })).sort((a, b) => compareBytes(a.key, b.key))
          const runs = Statements.chunk(
            sorted.length,
            (i) => spec.wireBytes(sorted[i]!.key.length) + spec.wireBytes(storedLength(sorted[i]!.value)),
            spec.rowsPerInsert,
            statementBudget
          )
          const statements = runs.map(([start, end]) => {
            const parameters: Array<unknown> = []
            for (let i = start; i < end; i++) {
              const row = sorted[i]!
              parameters.push(ns, row.key, row.value, row.kind, row.expiresAt)
            }
            const compiled = Statements.bind(q.setMany(end - start), parameters)
            return (on: Kysely<any>) => execute(on, compiled)
          })
          return op("setMany", (on, joined) => atomically(on, joined, statements), namespace)
        }),
      remove: (namespace, key) =>
        op(
          "remove",
          (on) => Effect.asVoid(execute(on, Statements.bind(q.remove, [keyBytes(namespace), keyBytes(key)]))),
          namespace,
          key
        ),
      clear: (namespace) =>
        op("clear", (on) => Effect.asVoid(execute(on, Statements.bind(q.clear, [keyBytes(namespace)]))), namespace),
      clearPrefix: (namespace, prefix) => {
        const [low, high] = range(prefix)!
        const ns = keyBytes(namespace)
        return op(
          "clearPrefix",
          (on) => Effect.asVoid(
            execute(
              on,
              high === undefined
                ? Statements.bind(q.clearFrom, [ns, low])
                : Statements.bind(q.clearRange, [ns, low, high])
            )
          ),
          namespace,
          prefix
        )
      },
      keys: (namespace, prefix) =>
        op(
          "keys",
          (on) => Effect.flatMap(now, (at) => {
            const ns = keyBytes(namespace)
            const bounds = range(prefix)
            const query = bounds === undefined
              ? rows(on, q.keys, [ns, at])
              : bounds[1] === undefined
              ? rows(on, q.keysFrom, [ns, bounds[0], at])
              : rows(on, q.keysRange, [ns, bounds[0], bounds[1], at])
            return Effect.flatMap(query, (result) => decoded(() => result.map((row) => KeyCodec.decode(row.key))))
          }),
          namespace
        ),
      size: (namespace, prefix) =>
        op(
          "size",
          (on) => Effect.flatMap(now, (at) => {
            const ns = keyBytes(namespace)
            const bounds = range(prefix)
            const query = bounds === undefined
              ? rows(on, q.size, [ns, at])
              : bounds[1] === undefined
              ? rows(on, q.sizeFrom, [ns, bounds[0], at])
              : rows(on, q.sizeRange, [ns, bounds[0], bounds[1], at])
            return Effect.map(query, (result) => Number(result[0].n))
          }),
          namespace
        ),
      // The transaction holds the row's lock (SELECT ... FOR UPDATE) or, on
      // SQLite, the write lock (BEGIN IMMEDIATE) from the read to the commit:
      // a concurrent modify of the key waits, then reads the committed result.
      modify: (namespace, key, f) =>
        Effect.suspend(() => {
          let called = false
          const ns = keyBytes(namespace)
          const keyParam = keyBytes(key)
          const body = (on: Kysely<any>) =>
            Effect.gen(function*() {
              const current = yield* rows(on, spec.lockRow ? q.getForUpdate : q.get, [ns, keyParam, yield* now])
              if (current.length === 0) return undefined
              const value = yield* decoded(() => decodeValue(current[0].value, current[0].kind, current[0].size, maxValueBytes))
              called = true
              const next = yield* f(value)
              yield* execute(on, Statements.bind(q.update, [encodeValue(next), kindOf(next), ns, keyParam]))
              return next
            })
          return Effect.flatMap(Effect.service(CurrentTransaction), (current) =>
            current !== undefined && current.adapter === adapter
              ? Effect.mapError(onJoined(current, (on) => withinSavepoint(on, body(on))), toStorageError("modify", namespace, key))
              : transaction(k, spec.begin, body).pipe(
                // Retrying is safe only while nothing of the user's function ran.
                Effect.retry({ times: 1, while: (error) => !called && lost(error) }),
                Effect.mapError(toStorageError("modify", namespace, key))
              ))
        }),
      sweep: (sweepOptions) =>
        Effect.flatMap(now, (at) =>
          StorageBackend.sweepInBatches(sweepOptions, (batchSize) =>
            Effect.gen(function*() {
              const result = yield* op("sweep", (on) => execute(on, Statements.bind(q.sweep, [at, batchSize])))
              if (spec.name !== "mysql") return Number(result.numAffectedRows ?? 0n)
              // On MySQL the batch is the primary keys of up to batchSize
              // expired rows, deleted next (see Statements.sweep).
              const expired = result.rows as ReadonlyArray<{ readonly namespace: unknown; readonly key: unknown }>
              let deleted = 0
              for (let start = 0; start < expired.length; start += sweepDeleteRows) {
                const end = Math.min(expired.length, start + sweepDeleteRows)
                const params: Array<unknown> = []
                for (let i = start; i < end; i++) params.push(expired[i]!.namespace, expired[i]!.key)
                params.push(at)
                const removed = yield* op("sweep", (on) => execute(on, Statements.bind(q.sweepDelete(end - start), params)))
                deleted += Number(removed.numAffectedRows ?? 0n)
              }
              return { deleted, examined: expired.length }
            })))
    })
  })

/**
 * Runs `effect` with its store calls inside the application's Kysely
 * transaction `trx`: they commit and roll back with it.
 *
 * **Details**
 *
 * Without it, a store call made while the application holds a transaction
 * runs on another connection of the pool and commits on its own, whatever
 * the transaction does; on a pool whose only connection the transaction
 * holds (`NodeSqliteDialect`, any SQLite dialect, a pool of one) it waits
 * for that connection for as long as the transaction lasts, which is forever
 * when the transaction waits for the call.
 *
 * Joined, every call of a store on the same database as `trx` runs on the
 * transaction's connection, one at a time (a `modify` function may call the
 * store again); `setMany` and `modify` run inside a savepoint, so a failed
 * call leaves the transaction as it was. Nothing is retried: a failure
 * there (a deadlock has rolled back the whole transaction on MySQL) goes to
 * the caller, and the transaction is the application's to roll back or run
 * again. Stores on other databases are not affected.
 *
 * @example
 * ```ts
 * import { KyselyBackend } from "@effect-persist/kysely"
 * import { Effect } from "effect"
 * import { KeyValueStore } from "effect/persistence"
 * import type { Kysely } from "kysely"
 *
 * declare const db: Kysely<any>
 * // Your runtime, with the KeyValueStore of KyselyBackend.layerKeyValueStore(db).
 * declare const run: <A, E>(effect: Effect.Effect<A, E, KeyValueStore.KeyValueStore>) => Promise<A>
 *
 * const placed = Effect.gen(function*() {
 *   const store = yield* KeyValueStore.KeyValueStore
 *   yield* store.set("order:1", "placed")
 * })
 *
 * await db.transaction().execute(async (trx) => {
 *   await trx.insertInto("orders").values({ id: 1 }).execute()
 *   await run(placed.pipe(KyselyBackend.joinTransaction(trx)))
 * })
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export const joinTransaction = (trx: Transaction<any>) => {
  const joined = {
    connection: trx.withoutPlugins(),
    adapter: trx.getExecutor().adapter,
    turn: Semaphore.makeUnsafe(1)
  } satisfies Joined
  return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provideService(effect, CurrentTransaction, joined)
}

/**
 * Provides the backend on a Kysely instance.
 *
 * @example
 * ```ts
 * import { Services } from "@effect-persist/core"
 * import { KyselyBackend } from "@effect-persist/kysely"
 * import { Layer } from "effect"
 * import { Kysely, PostgresDialect } from "kysely"
 * import pg from "pg"
 *
 * // The instance your application already has; layers never destroy it.
 * const db = new Kysely<object>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) }) })
 *
 * const Storage = Layer.mergeAll(Services.layerKeyValueStore({ name: "app" }), Services.layerPersistence).pipe(
 *   Layer.provide(KyselyBackend.layer(db))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  db: Kysely<any>,
  options?: Options
): Layer.Layer<
  StorageBackend.StorageBackend,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError
> => Layer.effect(StorageBackend.StorageBackend)(make(db, options))

/**
 * Provides Effect's `KeyValueStore` on a Kysely instance.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerKeyValueStore = (
  db: Kysely<any>,
  options?: Options & Services.KeyValueStoreOptions
): Layer.Layer<
  KeyValueStore.KeyValueStore,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError
> => Services.layerKeyValueStore(options).pipe(Layer.provide(layer(db, options)))

/**
 * Provides Effect's `BackingPersistence` on a Kysely instance.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerBackingPersistence = (
  db: Kysely<any>,
  options?: Options
): Layer.Layer<
  Persistence.BackingPersistence,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError
> => Services.layerBackingPersistence.pipe(Layer.provide(layer(db, options)))

/**
 * Provides Effect's `Persistence` (for `PersistedCache` and friends) on a
 * Kysely instance.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerPersistence = (
  db: Kysely<any>,
  options?: Options
): Layer.Layer<
  Persistence.Persistence,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError
> => Services.layerPersistence.pipe(Layer.provide(layer(db, options)))
