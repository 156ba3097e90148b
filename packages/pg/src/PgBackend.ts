/**
 * The PostgreSQL backend, through `@effect/sql-pg`: entries in one table of
 * byte-exact keys, batches as array parameters of fixed-shape prepared
 * statements, `modify` under a row lock, and sweeps that skip rows writers hold.
 *
 * @since 0.1.0
 */
import { KeyCodec, Migrator, Services, StorageBackend, StorageError } from "@effect-persist/core"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgProtocol from "@effect/sql-pg/PgProtocol"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as KeyValueStore from "effect/persistence/KeyValueStore"
import type * as Persistence from "effect/persistence/Persistence"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import { classify, detail, diagnose } from "./internal/classify.ts"
import * as Statements from "./internal/statements.ts"
import { transaction } from "./internal/transaction.ts"
import * as PgMigrator from "./PgMigrator.ts"

/**
 * Options of a PostgreSQL backend on a client you already have.
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
   * and the runtime role needs no DDL rights.
   * @default false
   */
  readonly autoMigrate?: boolean | undefined
  /**
   * Largest value accepted, in bytes (UTF-8 bytes for strings); larger ones
   * fail with a `ValueTooLarge` error naming the limit. A layer that opens
   * its own client raises the client's `maxMessageSize` to fit. On a client
   * you pass in, the limit is also capped by that client's `maxMessageSize`
   * (16 MiB unless configured), because a value the client cannot read back
   * must never be written.
   * @default 1 GiB − 1 MiB (`serverMaxValueBytes`)
   */
  readonly maxValueBytes?: number | undefined
}

/**
 * Options of a PostgreSQL backend that opens its own connection pool: every
 * setting of `@effect/sql-pg`'s pool (`maxConnections`, `ssl`,
 * `idleTimeout`, `prepare`, ...) except the ones this backend manages.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConnectionOptions extends
  Options,
  Omit<
    PgClient.PgPoolConfig,
    "url" | "maxMessageSize" | "transformResultNames" | "transformQueryNames" | "transformJson"
  >
{
  /** A `postgres://` URL; `host`, `port`, `username`, `password` and `database` override its parts. */
  readonly url?: string | Redacted.Redacted | undefined
}

const dialect = "pg"

/**
 * Largest key (and namespace) accepted, in UTF-8 bytes. The primary key
 * (namespace, key) is a B-tree, whose entries PostgreSQL caps at 2,704
 * bytes; two 1,300-byte halves with their headers fit.
 *
 * @category constructors
 * @since 0.1.0
 */
export const maxKeyBytes = 1300

/**
 * Largest value the server can store and send back: one `bytea` is at most
 * 1 GiB, less room for the server's own copies and message headers.
 *
 * @category constructors
 * @since 0.1.0
 */
export const serverMaxValueBytes = 1024 * 1024 * 1024 - 1024 * 1024

/**
 * Bytes a result row adds to the value it carries (message header, field
 * count and lengths, kind, position), with room to spare.
 */
const rowOverhead = 1024

const messageSizeFor = (maxValueBytes: number): number => maxValueBytes + rowOverhead

// The URL the client was opened with, password removed, for the message
// that tells an operator which command migrates this database.
const displayUrl = (sql: SqlClient.SqlClient): string => {
  const config = PgClient.TypeId in sql ? (sql as PgClient.PgClient).config : undefined
  if (config?.url === undefined) return "postgres://…"
  try {
    const url = new URL(Redacted.value(config.url))
    url.password = ""
    return url.toString()
  } catch {
    return "postgres://…"
  }
}

const migrateCommand = (sql: SqlClient.SqlClient, table: string) =>
  `effect-persist migrate --url ${displayUrl(sql)}${table === Migrator.defaultTable ? "" : ` --table ${table}`}`

const configurationError = (option: string, message: string) =>
  new StorageError.ConfigurationError({ option, message })

const checkMaxValueBytes = (
  value: number | undefined
): Effect.Effect<number | undefined, StorageError.ConfigurationError> =>
  value === undefined || (Number.isInteger(value) && value > 0 && value <= serverMaxValueBytes)
    ? Effect.succeed(value)
    : Effect.fail(
      configurationError(
        "maxValueBytes",
        `maxValueBytes must be a whole number of bytes from 1 to ${serverMaxValueBytes} (PostgreSQL's limit for one value), got ${value}.`
      )
    )

const clientMaxMessageSize = (sql: SqlClient.SqlClient): number => {
  const config = PgClient.TypeId in sql ? (sql as PgClient.PgClient).config : undefined
  return config?.maxMessageSize ?? PgProtocol.defaultMaxMessageSize
}

const encoded = (value: StorageBackend.Value): Uint8Array =>
  typeof value === "string" ? KeyCodec.encode(value) : value

const kindOf = (value: StorageBackend.Value): number => typeof value === "string" ? 0 : 1

// Result columns are views into the client's receive buffer; a copy lets a
// small value outlive the buffer it arrived in without pinning it.
const ownBytes = (bytes: Uint8Array): Uint8Array =>
  bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice()

const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!
  }
  return a.length - b.length
}

/**
 * Splits `count` items into `[start, end)` runs of at most `maxItems` items
 * and `Statements.bytesPerStatement` bytes; an item larger than that gets a
 * run of its own.
 */
const chunks = (
  count: number,
  maxItems: number,
  sizeOf: (index: number) => number
): Array<readonly [number, number]> => {
  const out: Array<readonly [number, number]> = []
  let start = 0
  while (start < count) {
    let end = start
    let bytes = 0
    while (end < count && end - start < maxItems && (end === start || bytes + sizeOf(end) <= Statements.bytesPerStatement)) {
      bytes += sizeOf(end)
      end++
    }
    out.push([start, end])
    start = end
  }
  return out
}

/**
 * Builds a backend on the `SqlClient` in context (a PostgreSQL client).
 *
 * **Details**
 *
 * Checks the schema version first (or migrates, with `autoMigrate`), and does
 * no DDL otherwise. Every statement has a fixed text and fixed parameter
 * types per table, so each connection prepares it once. A statement that
 * fails because its pooled connection was lost (a server restart,
 * `pg_terminate_backend`, a network blip) is retried once on another
 * connection, except a `modify` whose function already ran: every other
 * operation gives the same result when applied twice.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options?: Options
): Effect.Effect<
  StorageBackend.StorageBackend,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError,
  SqlClient.SqlClient
> =>
  Effect.gen(function*() {
    const client = yield* SqlClient.SqlClient
    const sql = client.withoutTransforms()
    const table = yield* Migrator.validateTableName(options?.table ?? Migrator.defaultTable)
    const requested = yield* checkMaxValueBytes(options?.maxValueBytes)
    const maxValueBytes = Math.min(
      requested ?? serverMaxValueBytes,
      clientMaxMessageSize(client) - rowOverhead
    )
    if (maxValueBytes < 1) {
      return yield* configurationError(
        "maxMessageSize",
        `The PostgreSQL client's maxMessageSize (${clientMaxMessageSize(client)} bytes) leaves no room for values; raise it.`
      )
    }
    const migrations = yield* PgMigrator.migrations
    const migrationDriver = PgMigrator.driver(sql)
    if (options?.autoMigrate) {
      yield* Migrator.migrate(migrationDriver, migrations, { table })
    }
    yield* Migrator.checkSchema(migrationDriver, migrations, { table, command: migrateCommand(client, table) })

    const q = Statements.make(table)

    // Inside the application's own transaction a lost connection took that
    // transaction with it: run again, the statement would commit on its own
    // while the application's other writes are gone. The failure goes to the
    // application, whose transaction it is.
    const retryOnce = <A>(effect: Effect.Effect<A, unknown>, retryWhile: (cause: unknown) => boolean) =>
      Effect.flatMap(
        Effect.serviceOption(sql.transactionService),
        (ambient) => Option.isSome(ambient) ? effect : Effect.retry(effect, { times: 1, while: retryWhile })
      )

    const run = <A>(
      operation: string,
      effect: Effect.Effect<A, unknown>,
      namespace?: string,
      key?: string
    ): Effect.Effect<A, StorageError.StorageError> =>
      // A pooled connection that died while idle fails the next statement
      // sent on it; the pool has replaced it by then.
      retryOnce(effect, (cause) => diagnose(cause).connectionLost).pipe(
        Effect.mapError((cause) =>
          cause instanceof StorageError.StorageError
            ? cause
            : StorageError.fromDatabase({
              dialect,
              operation,
              cause,
              reason: classify(cause),
              detail: detail(cause, maxValueBytes),
              namespace,
              key
            })
        )
      )

    const rows = (text: string, params: ReadonlyArray<unknown>) => sql.unsafe(text, params).values
    const execute = (text: string, params: ReadonlyArray<unknown>) => sql.unsafe(text, params).raw

    const decodeValue = (value: unknown, kind: unknown): StorageBackend.Value =>
      Number(kind) === 0 ? KeyCodec.decode(value as Uint8Array) : ownBytes(value as Uint8Array)

    // A non-empty UTF-8 prefix always has an upper bound (UTF-8 never
    // produces 0xFF), and `make` routes the empty prefix to clear/keys/size.
    const range = (prefix: string) => {
      const low = KeyCodec.encode(prefix)
      return [Statements.bytea(low), Statements.bytea(KeyCodec.prefixUpperBound(low)!)] as const
    }

    const now = Effect.map(Clock.currentTimeMillis, Statements.int8)
    const bytea = (text: string) => Statements.bytea(KeyCodec.encode(text))

    const setOne = (ns: Uint8Array, key: Uint8Array, entry: StorageBackend.Entry) =>
      execute(q.set, [
        Statements.bytea(ns),
        Statements.bytea(key),
        Statements.bytea(encoded(entry.value)),
        Statements.int2(kindOf(entry.value)),
        Statements.int8(entry.expiresAt)
      ])

    return StorageBackend.make({
      dialect,
      capabilities: { maxKeyBytes, maxValueBytes, durable: true },
      coalesces: (fiber) => Option.isNone(Context.getOption(fiber.context, sql.transactionService)),
      get: (namespace, key) =>
        run(
          "get",
          Effect.flatMap(now, (at) =>
            Effect.map(
              rows(q.get, [bytea(namespace), bytea(key), at]),
              (result) => result.length === 0 ? undefined : decodeValue(result[0]![0], result[0]![1])
            )),
          namespace,
          key
        ),
      getMany: (namespace, keys) =>
        run(
          "getMany",
          Effect.gen(function*() {
            const at = yield* now
            const ns = bytea(namespace)
            const encodedKeys = keys.map(KeyCodec.encode)
            const out = new Array<StorageBackend.Value | undefined>(keys.length).fill(undefined)
            // One statement unless the keys alone pass bytesPerStatement.
            for (const [start, end] of chunks(encodedKeys.length, Number.POSITIVE_INFINITY, (i) => encodedKeys[i]!.length)) {
              const result = yield* rows(q.getMany, [ns, Statements.byteaArray(encodedKeys.slice(start, end)), at])
              for (const [i, value, kind] of result) {
                out[start + Number(i) - 1] = decodeValue(value, kind)
              }
            }
            return out
          }),
          namespace
        ),
      set: (namespace, key, value, expiresAt) =>
        run(
          "set",
          Effect.asVoid(setOne(KeyCodec.encode(namespace), KeyCodec.encode(key), { key, value, expiresAt })),
          namespace,
          key
        ),
      setMany: (namespace, entries) => {
        const ns = KeyCodec.encode(namespace)
        // Key order: every batch locks rows in the same order (no deadlocks
        // between concurrent batches), and the index is written sequentially.
        const sorted = entries.map((entry) => ({ entry, key: KeyCodec.encode(entry.key), value: encoded(entry.value) }))
          .sort((a, b) => compareBytes(a.key, b.key))
        const statements = chunks(
          sorted.length,
          Statements.rowsPerInsert,
          (i) => sorted[i]!.key.length + sorted[i]!.value.length
        ).map(([start, end]) => {
          const chunk = sorted.slice(start, end)
          return chunk.length === 1
            // One row (a lone entry, or a value too large to share a
            // statement) goes as scalars, which allow the largest values.
            ? setOne(ns, chunk[0]!.key, chunk[0]!.entry)
            : execute(q.setMany, [
              Statements.bytea(ns),
              Statements.byteaArray(chunk.map((row) => row.key)),
              Statements.byteaArray(chunk.map((row) => row.value)),
              Statements.int2Array(chunk.map((row) => kindOf(row.entry.value))),
              Statements.int8Array(
                chunk.map((row) => row.entry.expiresAt === undefined ? null : Statements.instant(row.entry.expiresAt))
              )
            ])
        })
        const all = Effect.asVoid(Effect.all(statements, { discard: true }))
        return run("setMany", statements.length === 1 ? all : transaction(sql, all), namespace)
      },
      remove: (namespace, key) =>
        run("remove", Effect.asVoid(execute(q.remove, [bytea(namespace), bytea(key)])), namespace, key),
      clear: (namespace) => run("clear", Effect.asVoid(execute(q.clear, [bytea(namespace)])), namespace),
      clearPrefix: (namespace, prefix) =>
        run(
          "clearPrefix",
          Effect.asVoid(execute(q.clearRange, [bytea(namespace), ...range(prefix)])),
          namespace,
          prefix
        ),
      keys: (namespace, prefix) =>
        run(
          "keys",
          Effect.flatMap(now, (at) =>
            Effect.map(
              prefix === undefined
                ? rows(q.keys, [bytea(namespace), at])
                : rows(q.keysRange, [bytea(namespace), ...range(prefix), at]),
              (result) => result.map(([key]) => KeyCodec.decode(key as Uint8Array))
            )),
          namespace
        ),
      size: (namespace, prefix) =>
        run(
          "size",
          Effect.flatMap(now, (at) =>
            Effect.map(
              prefix === undefined
                ? rows(q.size, [bytea(namespace), at])
                : rows(q.sizeRange, [bytea(namespace), ...range(prefix), at]),
              (result) => Number(result[0]![0])
            )),
          namespace
        ),
      // SELECT ... FOR UPDATE holds the row lock from the read to the commit:
      // a concurrent modify of the key waits, then reads the committed result.
      modify: (namespace, key, f) =>
        Effect.suspend(() => {
          let called = false
          return retryOnce(transaction(sql, Effect.gen(function*() {
            const ns = bytea(namespace)
            const k = bytea(key)
            const current = yield* rows(q.getForUpdate, [ns, k, yield* now])
            if (current.length === 0) return undefined
            called = true
            const next = yield* f(decodeValue(current[0]![0], current[0]![1]))
            yield* execute(q.update, [Statements.bytea(encoded(next)), Statements.int2(kindOf(next)), ns, k])
            return next
          })), (cause) => !called && diagnose(cause).connectionLost).pipe(
            Effect.mapError((cause) =>
              cause instanceof StorageError.StorageError
                ? cause
                : StorageError.fromDatabase({
                  dialect,
                  operation: "modify",
                  cause,
                  reason: classify(cause),
                  detail: detail(cause, maxValueBytes),
                  namespace,
                  key
                })
            )
          )
        }),
      sweep: (sweepOptions) =>
        Effect.flatMap(now, (at) =>
          StorageBackend.sweepInBatches(sweepOptions, (batchSize) =>
            Effect.map(
              // Unnamed: a named statement's generic plan, once made on a
              // small table, scans the whole table on every batch after it
              // grew (see Statements.sweep). A batch is worth planning.
              run("sweep", sql.unsafe(q.sweep, [at, Statements.int8(batchSize)]).valuesUnprepared),
              (result) => Number(result[0]![0])
            )))
    })
  })

/**
 * Opens a PostgreSQL connection pool sized for this backend: its
 * `maxMessageSize` fits the largest value accepted (`maxValueBytes`), so
 * every value `set` accepts can be read back.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient = (
  options: ConnectionOptions
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, StorageError.ConfigurationError> => {
  const { autoMigrate: _autoMigrate, maxValueBytes, table: _table, url, ...config } = options
  return PgClient.layerFrom(
    Effect.gen(function*() {
      const limit = (yield* checkMaxValueBytes(maxValueBytes)) ?? serverMaxValueBytes
      return yield* PgClient.make({
        applicationName: "effect-persist",
        ...config,
        url: typeof url === "string" ? Redacted.make(url) : url,
        maxMessageSize: messageSizeFor(limit)
      }).pipe(
        Effect.mapError((cause) =>
          configurationError("url", `Could not create the PostgreSQL client: ${cause.message}`)
        )
      )
    })
  )
}

/**
 * Provides the backend on the `SqlClient` in context.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromClient = (
  options?: Options
): Layer.Layer<
  StorageBackend.StorageBackend,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError,
  SqlClient.SqlClient
> => Layer.effect(StorageBackend.StorageBackend)(make(options))

/**
 * Provides the backend on its own connection pool.
 *
 * @example
 * ```ts
 * import { Services } from "@effect-persist/core"
 * import { PgBackend } from "@effect-persist/pg"
 * import { Layer } from "effect"
 *
 * const Storage = Layer.mergeAll(Services.layerKeyValueStore({ name: "app" }), Services.layerPersistence).pipe(
 *   Layer.provide(PgBackend.layer({ url: process.env.DATABASE_URL, maxConnections: 10 }))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: ConnectionOptions
): Layer.Layer<
  StorageBackend.StorageBackend,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError
> =>
  Layer.effect(StorageBackend.StorageBackend)(make(options)).pipe(
    Layer.provide(layerClient(options))
  )

/**
 * Provides Effect's `KeyValueStore` on a PostgreSQL database.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerKeyValueStore = (
  options: ConnectionOptions & Services.KeyValueStoreOptions
): Layer.Layer<
  KeyValueStore.KeyValueStore,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError
> => Services.layerKeyValueStore(options).pipe(Layer.provide(layer(options)))

/**
 * Provides Effect's `BackingPersistence` on a PostgreSQL database.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerBackingPersistence = (
  options: ConnectionOptions
): Layer.Layer<
  Persistence.BackingPersistence,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError
> => Services.layerBackingPersistence.pipe(Layer.provide(layer(options)))

/**
 * Provides Effect's `Persistence` (for `PersistedCache` and friends) on a
 * PostgreSQL database.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerPersistence = (
  options: ConnectionOptions
): Layer.Layer<
  Persistence.Persistence,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError
> => Services.layerPersistence.pipe(Layer.provide(layer(options)))

/**
 * A scoped backend on its own connection pool, for programs that do not use
 * layers. The pool closes with the scope.
 *
 * @category constructors
 * @since 0.1.0
 */
export const open = (
  options: ConnectionOptions
): Effect.Effect<
  StorageBackend.StorageBackend,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError,
  Scope.Scope
> =>
  // Built in the caller's scope, not `Effect.provide`'s own, which would
  // close the pool as soon as the backend was made.
  Effect.flatMap(Layer.build(layerClient(options)), (context) => Effect.provideContext(make(options), context))
