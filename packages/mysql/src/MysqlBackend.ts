/**
 * The MySQL and MariaDB backend, through `@effect/sql-mysql2` (mysql2).
 *
 * **Details**
 *
 * Keys and namespaces are stored as their UTF-8 bytes in `VARBINARY`
 * columns and compared byte for byte, so every distinct well-formed string is
 * a distinct key on MySQL 8 and MariaDB 10.6+ alike, whatever the server's
 * collation. Values are `LONGBLOB`s; the largest accepted follows from the
 * server's `max_allowed_packet`, read when the backend starts.
 *
 * @since 0.1.0
 */
import { KeyCodec, Migrator, Services, StorageBackend, StorageError } from "@effect-persist/core"
import type * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as KeyValueStore from "effect/persistence/KeyValueStore"
import type * as Persistence from "effect/persistence/Persistence"
import type * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlError from "effect/sql/SqlError"
import { classify, describe, errnoOf, isConnectionLost } from "./internal/classify.ts"
import * as Client from "./internal/client.ts"
import * as Statements from "./internal/statements.ts"
import * as MysqlMigrator from "./MysqlMigrator.ts"

/**
 * Options of a MySQL backend on a client you already have.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * The entries table, created by the migrations.
   * @default "effect_persist_entries"
   */
  readonly table?: string | undefined
  /**
   * Apply pending migrations when the layer starts. Off by default: the layer
   * then only checks the schema version and fails with a `SchemaVersionError`
   * naming the command to run, so production schema changes stay deliberate
   * and the application's database user needs no DDL rights.
   * @default false
   */
  readonly autoMigrate?: boolean | undefined
}

/**
 * Options of a MySQL backend that opens its own connection pool.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConnectionOptions extends Options {
  /** `mysql://user:password@host:port/database`; mysql2 reads further options from its query string. */
  readonly url: string | Redacted.Redacted<string>
  /**
   * Connections in the pool.
   * @default 10
   */
  readonly maxConnections?: number | undefined
  /**
   * How long an idle connection stays open. Keep it below the server's
   * `wait_timeout` so the pool, not the server, closes idle connections.
   * @default "1 minute"
   */
  readonly connectionTTL?: Duration.Input | undefined
}

/**
 * The failures of building a backend: the schema is not at this package's
 * version, migrating failed, an option is unusable, or the server could not
 * be reached (a `StorageError` with operation `connect`).
 *
 * @category errors
 * @since 0.1.0
 */
export type MakeError =
  | StorageError.SchemaVersionError
  | StorageError.MigrationError
  | StorageError.ConfigurationError
  | StorageError.StorageError

const dialect = "mysql"

/**
 * Largest key or namespace accepted, in UTF-8 bytes: each has a
 * `VARBINARY(1536)` column, so that together they fill InnoDB's 3,072-byte
 * limit on a primary key.
 *
 * @category constructors
 * @since 0.1.0
 */
export const maxKeyBytes = 1536

/**
 * Bytes of a statement that are not the value: the namespace and key at
 * their largest, and the protocol's own framing.
 *
 * @category constructors
 * @since 0.1.0
 */
export const packetOverhead = 2 * maxKeyBytes + 1024

/**
 * Largest value a server with the given `max_allowed_packet` can take: a
 * value travels in one packet of the protocol, both when it is written and
 * when it is read.
 *
 * **Details**
 *
 * This is the backend's limit on MariaDB. MySQL also refuses BLOB data over
 * 10% of its InnoDB redo log (`innodb_redo_log_capacity`), so there the limit
 * is the lower of the two; `capabilities.maxValueBytes` holds the one in force.
 *
 * @category constructors
 * @since 0.1.0
 */
export const maxValueBytes = (maxAllowedPacket: number): number => Math.max(0, maxAllowedPacket - packetOverhead)

// Deadlocks roll the whole transaction back and lost connections are
// replaced by the pool, so an idempotent operation is simply run again,
// unless it ran in the application's transaction (see `retrying`).
// `modify` is not retried: its function must run once per call.
const retries = 3

const deadlock = 1213 // ER_LOCK_DEADLOCK

const migrateCommand = (url: string | Redacted.Redacted<string> | undefined, table: string) => {
  const tableOption = table === Migrator.defaultTable ? "" : `, { table: ${JSON.stringify(table)} }`
  return url === undefined
    ? `MysqlMigrator.migrate(${tableOption.slice(2)}) (from @effect-persist/mysql)`
    : `MysqlMigrator.migrateUrl(${JSON.stringify(Client.redact(url))}${tableOption}) (from @effect-persist/mysql)`
}

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

// mysql2 sends a Buffer as a BLOB parameter; any other Uint8Array would be
// sent as text in the connection's character set.
const valueBytes = (value: StorageBackend.Value): Buffer =>
  typeof value === "string" ? Buffer.from(value, "utf8") : asBuffer(value)

const kindOf = (value: StorageBackend.Value): number => typeof value === "string" ? 0 : 1

// Integer milliseconds: with an integer `now`, `ceil(expiresAt) > now` holds
// exactly when `expiresAt > now` does. Clamped into BIGINT's exact range.
const expiryParam = (expiresAt: number | undefined): number | null =>
  expiresAt === undefined
    ? null
    : Math.min(Number.MAX_SAFE_INTEGER, Math.max(-Number.MAX_SAFE_INTEGER, Math.ceil(expiresAt)))

const nowMillis = Effect.map(Clock.currentTimeMillis, Math.floor)

// Small values are copied out of the socket's read buffer, which they would
// otherwise keep alive; large ones own their buffer already.
const bytesOut = (buffer: Uint8Array): Uint8Array =>
  buffer.byteLength <= 65_536 ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)

const decodeValue = (value: unknown, kind: unknown): StorageBackend.Value => {
  if (!(value instanceof Uint8Array)) throw new TypeError(`the value column holds ${typeof value}, not bytes`)
  switch (Number(kind)) {
    case 0:
      return KeyCodec.decode(value)
    case 1:
      return bytesOut(value)
    default:
      throw new TypeError(`unknown kind ${String(kind)}`)
  }
}

// A key's bytes as a string of the same length, to look rows up by key.
const byteString = (bytes: Uint8Array): string => asBuffer(bytes).toString("latin1")

/**
 * Builds a backend on the `SqlClient` in context, which must be a MySQL or
 * MariaDB client.
 *
 * **Details**
 *
 * Checks the schema version first (or migrates, with `autoMigrate`), and
 * does no DDL otherwise, so a role with only SELECT, INSERT, UPDATE and
 * DELETE on the entries table (and SELECT on `effect_persist_migrations`)
 * can run it. Reads `max_allowed_packet` (and, on MySQL, the redo log's
 * size) once to set the value limit.
 * Every statement's text is fixed per table and batch size, so mysql2
 * prepares it once per connection.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options?: Options & { readonly url?: string | Redacted.Redacted<string> | undefined }
): Effect.Effect<StorageBackend.StorageBackend, MakeError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const table = yield* Migrator.validateTableName(options?.table ?? Migrator.defaultTable)
    const migrations = yield* MysqlMigrator.migrations
    const migrationDriver = MysqlMigrator.driver(sql)
    if (options?.autoMigrate) {
      yield* Migrator.migrate(migrationDriver, migrations, { table })
    }
    yield* Migrator.checkSchema(migrationDriver, migrations, { table, command: migrateCommand(options?.url, table) })

    const readError = (cause: unknown) =>
      StorageError.fromDatabase({
        dialect,
        operation: "connect",
        cause,
        reason: classify(cause),
        detail: `could not read the server's limits: ${describe(cause)}`
      })
    const [[packetSetting, version]] = yield* Effect.mapError(
      sql.unsafe("SELECT @@max_allowed_packet, VERSION()").values,
      readError
    )
    const maxAllowedPacket = Number(packetSetting)
    // MySQL (not MariaDB) refuses BLOB data over 10% of the redo log.
    const redoLog = String(version).includes("MariaDB") ? undefined : yield* Effect.mapError(redoLogBytes(sql), readError)
    const packetLimit = maxValueBytes(maxAllowedPacket)
    const redoLimit = redoLog === undefined ? Number.POSITIVE_INFINITY : Math.floor(redoLog / 10)
    const valueLimit = Math.min(packetLimit, redoLimit)
    const limitNote = redoLimit < packetLimit
      ? `The limit is 10% of the server's InnoDB redo log (innodb_redo_log_capacity, ${redoLog} bytes), which MySQL applies to BLOB data: raise innodb_redo_log_capacity (and max_allowed_packet, ${maxAllowedPacket} bytes, if needed) to store larger values.`
      : `The limit is the server's max_allowed_packet (${maxAllowedPacket} bytes) less ${packetOverhead} bytes for the key and the statement: raise max_allowed_packet on the server to store larger values.`
    const packetBudget = maxAllowedPacket - 1024

    const q = Statements.make(table)

    const toStorageError = (operation: string, namespace?: string, key?: string) => (cause: unknown) =>
      cause instanceof StorageError.StorageError
        ? cause
        : StorageError.fromDatabase({
          dialect,
          operation,
          cause,
          reason: classify(cause),
          namespace,
          key,
          detail: describe(cause)
        })

    // Only the database's own failures are retried, never a StorageError
    // raised on the way (an undecodable row). A lock wait timeout is not
    // retried: it has already waited innodb_lock_wait_timeout.
    const retryable = (cause: unknown) =>
      !(cause instanceof StorageError.StorageError) && (errnoOf(cause) === deadlock || isConnectionLost(cause))

    // Inside the application's own transaction a deadlock has already rolled
    // that whole transaction back, and a lost connection took it with it: run
    // again, the statement would commit on its own while the application's
    // other writes are gone. The failure goes to the application, whose
    // transaction it is.
    const retrying = <A, E>(effect: Effect.Effect<A, E>, retryWhile: (cause: E) => boolean) =>
      Effect.flatMap(
        Effect.serviceOption(sql.transactionService),
        (ambient) => Option.isSome(ambient) ? effect : Effect.retry(effect, { while: retryWhile, times: retries })
      )

    // A statement over max_allowed_packet makes the server answer with
    // ER_NET_PACKET_TOO_LARGE and close the connection, or, when the close
    // wins the race, a bare reset. The limit checked before sending was read
    // at start-up; if an operator lowered the setting since, a failed write
    // compares its statement with the server's current setting, so the caller
    // gets the ValueTooLarge naming it instead of a connection error, and the
    // write is not sent again.
    const checkPacket = (statementBytes: number, operation: string, namespace: string, key?: string) =>
    (cause: unknown): Effect.Effect<never, unknown> => {
      const refused = classify(cause) === "ValueTooLarge"
      if (!refused && !isConnectionLost(cause)) return Effect.fail(cause)
      return sql.unsafe("SELECT @@global.max_allowed_packet").values.pipe(
        // The pool may hand out the refused connection before it sees it close.
        (select) => retrying(select, isConnectionLost),
        Effect.map(([[setting]]) => Number(setting)),
        Effect.option,
        Effect.flatMap((setting) => {
          const current = setting._tag === "Some" ? setting.value : undefined
          if (!refused && (current === undefined || statementBytes + 1024 <= current)) return Effect.fail(cause)
          return Effect.fail(StorageError.fromDatabase({
            dialect,
            operation,
            cause,
            reason: "ValueTooLarge",
            namespace,
            key,
            detail: `the statement is about ${statementBytes} bytes, over the server's max_allowed_packet${
              current === undefined ? "" : ` (now ${current} bytes; it was ${maxAllowedPacket} when the store started)`
            }; raise max_allowed_packet on the server to store larger values`
          }))
        })
      )
    }

    /** Runs an operation that may safely run again after a deadlock or a lost connection. */
    const idempotent = <A>(
      operation: string,
      effect: Effect.Effect<A, unknown>,
      namespace?: string,
      key?: string,
      statementBytes?: number
    ) =>
      effect.pipe(
        statementBytes === undefined || namespace === undefined
          ? identity
          : Effect.catch(checkPacket(statementBytes, operation, namespace, key)),
        (attempt) => retrying(attempt, retryable),
        Effect.mapError(toStorageError(operation, namespace, key))
      )

    /** Runs an operation that must not run twice: its failure goes to the caller. */
    const once = <A>(operation: string, effect: Effect.Effect<A, unknown>, namespace?: string, key?: string) =>
      Effect.mapError(effect, toStorageError(operation, namespace, key))

    const decode = <A>(operation: string, namespace: string, f: () => A): Effect.Effect<A, StorageError.StorageError> =>
      Effect.try({
        try: f,
        catch: (cause) =>
          new StorageError.StorageError({
            operation,
            reason: "Corrupt",
            message: `A stored entry of namespace ${JSON.stringify(namespace)} in table ${table} could not be decoded (${
              cause instanceof Error ? cause.message : String(cause)
            }); it was not written by effect-persist. Remove it or clear the namespace.`,
            namespace,
            cause
          })
      })

    // Effect's withTransaction turns a failed ROLLBACK into a defect, and the
    // body's own failure with it. On a lost connection ROLLBACK always fails
    // (the server rolled back when the connection dropped), so the body's
    // failure, recorded as it happened, is returned as the typed error it
    // is; failing that, the ROLLBACK's.
    const transaction = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | SqlError.SqlError> =>
      Effect.suspend(() => {
        let failed: { readonly error: E } | undefined
        return sql.withTransaction(Effect.tapError(effect, (error) => Effect.sync(() => failed = { error }))).pipe(
          Effect.catchDefect((defect): Effect.Effect<never, E | SqlError.SqlError> =>
            failed !== undefined
              ? Effect.fail(failed.error)
              : SqlError.isSqlError(defect)
              ? Effect.fail(defect)
              : Effect.die(defect)
          )
        )
      })

    // mysql2 cannot take back a statement it has queued or sent: abandoned,
    // it still runs, possibly after the caller's next statement on another
    // connection. So an interrupted caller waits for its statement's outcome,
    // and an interrupted operation has either not happened or has happened
    // before the interruption completes.
    const rows = (text: string, params: ReadonlyArray<unknown>) => Effect.uninterruptible(sql.unsafe(text, params).values)
    const execute = (text: string, params: ReadonlyArray<unknown>) => Effect.uninterruptible(sql.unsafe(text, params).raw)
    const affectedRows = (result: unknown): number =>
      typeof result === "object" && result !== null && "affectedRows" in result ? Number(result.affectedRows) : 0

    const range = (prefix: string) => {
      const low = KeyCodec.encode(prefix)
      const high = KeyCodec.prefixUpperBound(low)
      return [asBuffer(low), high === undefined ? undefined : asBuffer(high)] as const
    }

    // Names the server setting in the limit error `make` raises before a
    // value reaches the server.
    const nameLimit = (error: StorageError.StorageError): StorageError.StorageError =>
      error.reason === "ValueTooLarge" && error.cause === undefined
        ? new StorageError.StorageError({
          operation: error.operation,
          reason: error.reason,
          namespace: error.namespace,
          key: error.key,
          cause: error.cause,
          message: `${error.message} ${limitNote}`
        })
        : error

    const backend = StorageBackend.make({
      dialect,
      capabilities: { maxKeyBytes, maxValueBytes: valueLimit, nulInKeys: true, atomicModify: true, durable: true },
      coalesces: (fiber) => Option.isNone(Context.getOption(fiber.context, sql.transactionService)),
      get: (namespace, key) =>
        idempotent(
          "get",
          Effect.gen(function*() {
            const result = yield* rows(q.get, [Buffer.from(namespace), Buffer.from(key), yield* nowMillis])
            if (result.length === 0) return undefined
            return yield* decode("get", namespace, () => decodeValue(result[0]![0], result[0]![1]))
          }),
          namespace,
          key
        ),
      getMany: (namespace, keys) =>
        idempotent(
          "getMany",
          Effect.gen(function*() {
            const now = yield* nowMillis
            const ns = Buffer.from(namespace)
            const encoded = keys.map((key) => Buffer.from(key))
            const out = new Array<StorageBackend.Value | undefined>(keys.length)
            const runs = Statements.chunk(
              encoded.length,
              (i) => encoded[i]!.length + Statements.rowOverhead,
              Statements.keysPerSelect,
              packetBudget
            )
            for (const [start, end] of runs) {
              const size = Statements.bucket(end - start)
              const params: Array<unknown> = [ns]
              let smallest = start
              for (let i = start; i < end; i++) {
                params.push(encoded[i])
                if (encoded[i]!.length < encoded[smallest]!.length) smallest = i
              }
              for (let i = end - start; i < size; i++) params.push(encoded[smallest])
              params.push(now)
              const result = yield* rows(q.getMany(size), params)
              yield* decode("getMany", namespace, () => {
                const found = new Map<string, StorageBackend.Value>()
                for (const [key, value, kind] of result) found.set(byteString(key as Uint8Array), decodeValue(value, kind))
                for (let i = start; i < end; i++) out[i] = found.get(byteString(encoded[i]!))
              })
            }
            return out
          }),
          namespace
        ),
      set: (namespace, key, value, expiresAt) => {
        const ns = Buffer.from(namespace)
        const k = Buffer.from(key)
        const bytes = valueBytes(value)
        return idempotent(
          "set",
          Effect.asVoid(execute(q.set, [ns, k, bytes, kindOf(value), expiryParam(expiresAt)])),
          namespace,
          key,
          ns.length + k.length + bytes.length + Statements.rowOverhead
        )
      },
      setMany: (namespace, entries) => {
        const ns = Buffer.from(namespace)
        // Rows in key order, so concurrent batches lock shared keys in the same order.
        const prepared = entries.map((entry) => ({
          key: Buffer.from(entry.key),
          value: valueBytes(entry.value),
          kind: kindOf(entry.value),
          expiresAt: expiryParam(entry.expiresAt)
        })).sort((a, b) => Buffer.compare(a.key, b.key))
        const bytesOf = (i: number) => ns.length + prepared[i]!.key.length + prepared[i]!.value.length + Statements.rowOverhead
        let largest = 0
        const statements = Statements.chunk(prepared.length, bytesOf, Statements.rowsPerInsert, packetBudget).map(
          ([start, end]) => {
            let bytes = 0
            const size = Statements.bucket(end - start)
            const params: Array<unknown> = []
            let smallest = start
            for (let i = start; i < end; i++) {
              const row = prepared[i]!
              params.push(ns, row.key, row.value, row.kind, row.expiresAt)
              bytes += bytesOf(i)
              if (bytesOf(i) < bytesOf(smallest)) smallest = i
            }
            const pad = prepared[smallest]!
            for (let i = end - start; i < size; i++) params.push(ns, pad.key, pad.value, pad.kind, pad.expiresAt)
            largest = Math.max(largest, bytes + (size - (end - start)) * bytesOf(smallest))
            return execute(q.setMany(size), params)
          }
        )
        const all = Effect.asVoid(Effect.all(statements, { discard: true }))
        return idempotent("setMany", statements.length === 1 ? all : transaction(all), namespace, undefined, largest)
      },
      remove: (namespace, key) =>
        idempotent("remove", Effect.asVoid(execute(q.remove, [Buffer.from(namespace), Buffer.from(key)])), namespace, key),
      clear: (namespace) => idempotent("clear", Effect.asVoid(execute(q.clear, [Buffer.from(namespace)])), namespace),
      clearPrefix: (namespace, prefix) => {
        const [low, high] = range(prefix)
        const ns = Buffer.from(namespace)
        return idempotent(
          "clearPrefix",
          Effect.asVoid(high === undefined ? execute(q.clearFrom, [ns, low]) : execute(q.clearRange, [ns, low, high])),
          namespace,
          prefix
        )
      },
      keys: (namespace, prefix) =>
        idempotent(
          "keys",
          Effect.gen(function*() {
            const now = yield* nowMillis
            const ns = Buffer.from(namespace)
            let result: ReadonlyArray<ReadonlyArray<unknown>>
            if (prefix === undefined) result = yield* rows(q.keys, [ns, now])
            else {
              const [low, high] = range(prefix)
              result = high === undefined
                ? yield* rows(q.keysFrom, [ns, low, now])
                : yield* rows(q.keysRange, [ns, low, high, now])
            }
            return yield* decode("keys", namespace, () => result.map(([key]) => KeyCodec.decode(key as Uint8Array)))
          }),
          namespace
        ),
      size: (namespace, prefix) =>
        idempotent(
          "size",
          Effect.gen(function*() {
            const now = yield* nowMillis
            const ns = Buffer.from(namespace)
            let result: ReadonlyArray<ReadonlyArray<unknown>>
            if (prefix === undefined) result = yield* rows(q.size, [ns, now])
            else {
              const [low, high] = range(prefix)
              result = high === undefined
                ? yield* rows(q.sizeFrom, [ns, low, now])
                : yield* rows(q.sizeRange, [ns, low, high, now])
            }
            return Number(result[0]![0])
          }),
          namespace
        ),
      // SELECT ... FOR UPDATE takes the row's exclusive lock: a concurrent
      // modify of the same key waits for this transaction to end, then reads
      // the value it wrote.
      modify: (namespace, key, f) => {
        let updateBytes: number | undefined
        return once(
          "modify",
          transaction(Effect.gen(function*() {
            const now = yield* nowMillis
            const ns = Buffer.from(namespace)
            const k = Buffer.from(key)
            const current = yield* rows(q.getForUpdate, [ns, k, now])
            if (current.length === 0) return undefined
            const value = yield* decode("modify", namespace, () => decodeValue(current[0]![0], current[0]![1]))
            const next = yield* f(value)
            const bytes = valueBytes(next)
            updateBytes = ns.length + k.length + bytes.length + Statements.rowOverhead
            yield* execute(q.update, [bytes, kindOf(next), ns, k])
            return next
          })).pipe(
            Effect.catch((cause) =>
              updateBytes === undefined ? Effect.fail(cause) : checkPacket(updateBytes, "modify", namespace, key)(cause)
            )
          ),
          namespace,
          key
        )
      },
      // A batch is the primary keys of up to batchSize expired rows, then
      // deletes of those keys. It may delete fewer than it selected (a writer
      // or another sweeper got there first); whether to go on depends on
      // how many it selected.
      sweep: (sweepOptions) =>
        once(
          "sweep",
          Effect.flatMap(nowMillis, (now) =>
            StorageBackend.sweepInBatches(sweepOptions, (batchSize) =>
              Effect.gen(function*() {
                const expired = yield* retrying(rows(q.sweepSelect(batchSize), [now]), retryable)
                let deleted = 0
                for (let start = 0; start < expired.length; start += Statements.rowsPerSweepDelete) {
                  const end = Math.min(expired.length, start + Statements.rowsPerSweepDelete)
                  const size = Statements.bucket(end - start)
                  const params: Array<unknown> = []
                  for (let i = start; i < start + size; i++) {
                    const [ns, key] = expired[Math.min(i, end - 1)]!
                    params.push(ns, key)
                  }
                  params.push(now)
                  deleted += affectedRows(
                    yield* retrying(execute(q.sweepDelete(size), params), retryable)
                  )
                }
                return { deleted, examined: expired.length }
              })))
        )
    })

    return {
      ...backend,
      set: (namespace, key, value, expiresAt) => Effect.mapError(backend.set(namespace, key, value, expiresAt), nameLimit),
      setMany: (namespace, entries) => Effect.mapError(backend.setMany(namespace, entries), nameLimit),
      modify: (namespace, key, f) => Effect.mapError(backend.modify(namespace, key, f), nameLimit)
    } satisfies StorageBackend.StorageBackend
  })

// The redo log's size: `innodb_redo_log_capacity` from MySQL 8.0.30, the
// log files before; undefined when the server has neither.
const redoLogBytes = (sql: SqlClient.SqlClient): Effect.Effect<number | undefined, unknown> => {
  const read = (expression: string) =>
    Effect.map(sql.unsafe(`SELECT ${expression}`).values, ([[bytes]]) => Number(bytes))
  const unknownVariable = (cause: unknown) => errnoOf(cause) === 1193
  return read("@@innodb_redo_log_capacity").pipe(
    Effect.catchIf(unknownVariable, () => read("@@innodb_log_file_size * @@innodb_log_files_in_group")),
    Effect.catchIf(unknownVariable, () => Effect.succeed(undefined))
  )
}

const connectError = (url: string | Redacted.Redacted<string>) => (cause: unknown): StorageError.StorageError =>
  StorageError.fromDatabase({
    dialect,
    operation: "connect",
    cause,
    reason: classify(cause),
    detail: `could not connect to ${Client.redact(url)}: ${describe(cause)}`
  })

/**
 * Opens a connection pool to a MySQL or MariaDB server.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient = (
  options: Pick<ConnectionOptions, "url" | "maxConnections" | "connectionTTL">
): Layer.Layer<MysqlClient.MysqlClient | SqlClient.SqlClient, StorageError.StorageError> =>
  Client.layer(options, connectError(options.url))

/**
 * Provides the backend on the `SqlClient` in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromClient = (
  options?: Options
): Layer.Layer<StorageBackend.StorageBackend, MakeError, SqlClient.SqlClient> =>
  Layer.effect(StorageBackend.StorageBackend)(make(options))

/**
 * Provides the backend on its own connection pool.
 *
 * @example
 * ```ts
 * import { Services } from "@effect-persist/core"
 * import { MysqlBackend } from "@effect-persist/mysql"
 * import { Layer } from "effect"
 *
 * const Storage = Layer.mergeAll(Services.layerKeyValueStore({ name: "app" }), Services.layerPersistence).pipe(
 *   Layer.provide(MysqlBackend.layer({ url: "mysql://app:secret@db.internal:3306/app" }))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: ConnectionOptions): Layer.Layer<StorageBackend.StorageBackend, MakeError> =>
  Layer.effect(StorageBackend.StorageBackend)(make(options)).pipe(Layer.provide(layerClient(options)))

/**
 * Provides Effect's `KeyValueStore` on a MySQL or MariaDB database.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerKeyValueStore = (
  options: ConnectionOptions & Services.KeyValueStoreOptions
): Layer.Layer<KeyValueStore.KeyValueStore, MakeError> =>
  Services.layerKeyValueStore(options).pipe(Layer.provide(layer(options)))

/**
 * Provides Effect's `BackingPersistence` on a MySQL or MariaDB database.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerBackingPersistence = (
  options: ConnectionOptions
): Layer.Layer<Persistence.BackingPersistence, MakeError> =>
  Services.layerBackingPersistence.pipe(Layer.provide(layer(options)))

/**
 * Provides Effect's `Persistence` (for `PersistedCache` and friends) on a
 * MySQL or MariaDB database.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerPersistence = (options: ConnectionOptions): Layer.Layer<Persistence.Persistence, MakeError> =>
  Services.layerPersistence.pipe(Layer.provide(layer(options)))

/**
 * A backend on its own connection pool, closed when the scope closes, for
 * programs that do not use layers.
 *
 * @category constructors
 * @since 0.1.0
 */
export const open = (
  options: ConnectionOptions
): Effect.Effect<StorageBackend.StorageBackend, MakeError, Scope.Scope> =>
  Effect.gen(function*() {
    // Built in the caller's scope: `Effect.provide` would close the pool as
    // soon as `open` returned.
    const context = yield* Layer.buildWithScope(layerClient(options), yield* Scope.Scope)
    return yield* Effect.provideContext(make(options), context)
  })
