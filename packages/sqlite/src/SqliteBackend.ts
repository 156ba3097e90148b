/**
 * The SQLite backend: effect-persist's embedded default, on `node:sqlite`:
 * its own connection to a file, or an `@effect/sql-sqlite-node` client the
 * application already has.
 *
 * @since 0.1.0
 */
import { KeyCodec, Migrator, Services, StorageBackend, StorageError } from "@effect-persist/core"
import type * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as KeyValueStore from "effect/persistence/KeyValueStore"
import type * as Persistence from "effect/persistence/Persistence"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import { waitForLock } from "./internal/busy.ts"
import { classify, detail } from "./internal/classify.ts"
import * as Connection from "./internal/connection.ts"
import * as Driver from "./internal/driver.ts"
import * as Statements from "./internal/statements.ts"
import * as SqliteMigrator from "./SqliteMigrator.ts"

/**
 * Options of a SQLite backend on a client you already have.
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
   * naming the command to run, so production schema changes stay deliberate.
   * @default false
   */
  readonly autoMigrate?: boolean | undefined
  /**
   * How long an operation waits for another connection's write lock before
   * failing with a retryable `Conflict` error. The wait does not hold the
   * thread: the operation is tried again after short sleeps, so the rest of
   * the program (other fibers, timers, reads) runs meanwhile. On a client you
   * pass in, this adds to that client's own `busy_timeout`, during which
   * SQLite waits on the thread.
   * @default "5 seconds"
   */
  readonly busyTimeout?: Duration.Input | undefined
}

/**
 * Options of a SQLite backend that opens its own database file.
 *
 * @category models
 * @since 0.1.0
 */
export interface FileOptions extends Options {
  /** Path of the database file, or `":memory:"` for a private in-memory database. */
  readonly filename: string
  /**
   * Write-ahead logging lets readers run while another process writes.
   * @default "wal"
   */
  readonly journalMode?: "wal" | "delete" | undefined
  /**
   * `"normal"` is durable against application crashes and, in WAL mode, keeps
   * the database consistent after a power loss (the last commits may roll
   * back); `"full"` also makes every commit survive a power loss, at a cost in
   * write speed.
   * @default "normal"
   */
  readonly synchronous?: "normal" | "full" | undefined
  /**
   * In WAL mode, the size in bytes of the `-wal` file past which the backend
   * checkpoints the log and truncates it (`PRAGMA wal_checkpoint(TRUNCATE)`;
   * the size is looked at every 25 ms on average; also set as
   * `journal_size_limit`). Without it, SQLite restarts the log only at a
   * moment when no reader uses it, which several processes reading all the
   * time may never leave: the file then grows for as long as the load lasts.
   * A checkpoint holds the thread while it waits for other processes'
   * readers: 10 ms, up to 50 ms only while attempts keep finding readers.
   * `false` leaves the log to SQLite's automatic checkpoints. See the
   * package's README for the bound measured under load.
   * @default 16777216 (16 MiB)
   */
  readonly walSizeLimit?: number | false | undefined
}

const dialect = "sqlite"

/**
 * Largest key or namespace accepted, in UTF-8 bytes. SQLite itself allows far
 * more; the bound keeps index pages healthy and is documented.
 *
 * @category constructors
 * @since 0.1.0
 */
export const maxKeyBytes = 64 * 1024

/**
 * Largest value accepted, in bytes: SQLite's default SQLITE_MAX_LENGTH of
 * 1,000,000,000 bytes per row, less room for the key and namespace.
 *
 * @category constructors
 * @since 0.1.0
 */
export const maxValueBytes = 1_000_000_000 - 3 * maxKeyBytes

// A key or namespace bound as a statement parameter: node:sqlite copies the
// bytes, so a view into Buffer's shared pool is safe here, and on Node it
// costs about half of what KeyCodec.encode's TextEncoder does. Not for bytes
// that are kept or changed afterwards (prefix bounds): those use KeyCodec.
const param = (text: string): Uint8Array => Buffer.from(text, "utf8")

const defaultWalSizeLimit = 16 * 1024 * 1024

const busyMillisOf = (busyTimeout: Duration.Input | undefined): number =>
  Duration.toMillis(Duration.fromInputUnsafe(busyTimeout ?? "5 seconds"))

const migrateCommand = (filename: string | undefined, table: string) =>
  `effect-persist migrate --url sqlite:${filename ?? "<file>"}${table === Migrator.defaultTable ? "" : ` --table ${table}`}`

/**
 * Builds a backend on the `SqlClient` in context (a SQLite client).
 *
 * **Details**
 *
 * Checks the schema version first (or migrates, with `autoMigrate`), and does
 * no DDL otherwise. Every statement's text is fixed per table and batch
 * size, so the client's prepared-statement cache serves every call.
 *
 * **When to use**
 *
 * When the application already has a SQLite `SqlClient` and the entries
 * should live in its database. A backend that opens its own file (`layer`,
 * `open`) runs prepared `node:sqlite` statements without `SqlClient` in
 * between, which makes single-key calls several times faster.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options?: Options & { readonly filename?: string | undefined }
): Effect.Effect<
  StorageBackend.StorageBackend,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError,
  SqlClient.SqlClient
> =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => makeOn(Connection.fromClient(sql.withoutTransforms()), options, { coalesceGets: true })
  )

const makeOn = (
  connection: Connection.Connection,
  options: (Options & { readonly filename?: string | undefined }) | undefined,
  tuning: {
    /**
     * Worth it only where a statement has a real cost of its own: `SqlClient`'s
     * overhead per statement is what a batch saves. On the backend's own
     * synchronous connection nothing is ever in flight, so there is nothing to
     * gain and the check itself would be the only cost.
     */
    readonly coalesceGets: boolean
  }
) =>
  Effect.gen(function*() {
    const table = yield* Migrator.validateTableName(options?.table ?? Migrator.defaultTable)
    const migrations = yield* SqliteMigrator.migrations
    const busyMillis = busyMillisOf(options?.busyTimeout)
    const migrationDriver = Driver.make(connection)
    if (options?.autoMigrate) {
      yield* Migrator.migrate(migrationDriver, migrations, { table })
    }
    yield* Migrator.checkSchema(migrationDriver, migrations, { table, command: migrateCommand(options?.filename, table) })

    const q = Statements.make(table)
    // Inside the application's transaction a locked database is the
    // application's to handle: its transaction may have to start again, and
    // retrying a statement there would wait on a lock it can never get.
    const withinBudget = <A>(effect: Effect.Effect<A, unknown>, mayRetry?: () => boolean) =>
      connection.inApplicationTransaction === undefined
        ? waitForLock(effect, busyMillis, mayRetry)
        : Effect.withFiber((fiber) =>
          waitForLock(effect, connection.inApplicationTransaction!(fiber) ? 0 : busyMillis, mayRetry)
        )

    const run = <A>(
      operation: string,
      effect: Effect.Effect<A, unknown>,
      namespace?: string,
      key?: string,
      mayRetry?: () => boolean
    ): Effect.Effect<A, StorageError.StorageError> =>
      Effect.mapError(withinBudget(effect, mayRetry), (cause) =>
        cause instanceof StorageError.StorageError
          ? cause
          : StorageError.fromDatabase({
            dialect,
            operation,
            cause,
            reason: classify(cause),
            detail: detail(cause),
            namespace,
            key
          }))

    const { rows, rowsNow, run: exec, transaction: inTransaction } = connection

    const get = (namespace: string, key: string) =>
      run(
        "get",
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.map(
            rows(q.get, [param(namespace), param(key), now]),
            (result) => result.length === 0 ? undefined : decodeValue(result[0]![0], result[0]![1])
          )),
        namespace,
        key
      )

    const decodeValue = (value: unknown, kind: unknown): StorageBackend.Value =>
      Number(kind) === 0 ? String(value) : value as Uint8Array

    const encodeValue = (value: StorageBackend.Value): readonly [StorageBackend.Value, number] =>
      typeof value === "string" ? [value, 0] : [value, 1]

    const range = (prefix: string | undefined) => {
      if (prefix === undefined) return undefined
      const low = KeyCodec.encode(prefix)
      return [low, KeyCodec.prefixUpperBound(low)] as const
    }

    return StorageBackend.make({
      dialect,
      capabilities: { maxKeyBytes, maxValueBytes, durable: options?.filename !== ":memory:" },
      coalesceGets: tuning.coalesceGets,
      ...(connection.inApplicationTransaction === undefined
        ? {}
        : { coalesces: (fiber: Fiber.Fiber<unknown, unknown>) => !connection.inApplicationTransaction!(fiber) }),
      get: rowsNow === undefined ? get : (namespace, key) =>
        // The hot path on the backend's own connection: one statement run in
        // place, without the steps that waiting and error mapping need. When
        // it cannot run now or fails (a lock, an I/O error), the read is
        // simply run again the general way, which waits and maps the error.
        Effect.withFiber((fiber) => {
          let result: ReadonlyArray<ReadonlyArray<unknown>> | undefined
          try {
            result = rowsNow(fiber, q.get, [
              param(namespace),
              param(key),
              fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
            ])
          } catch {
            return get(namespace, key)
          }
          if (result === undefined) return get(namespace, key)
          return Effect.succeed(result.length === 0 ? undefined : decodeValue(result[0]![0], result[0]![1]))
        }),
      getMany: (namespace, keys) =>
        run(
          "getMany",
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const ns = param(namespace)
            const out = new Array<StorageBackend.Value | undefined>(keys.length)
            for (let start = 0; start < keys.length; start += Statements.keysPerSelect) {
              const chunk = keys.slice(start, start + Statements.keysPerSelect)
              const params: Array<unknown> = chunk.map(param)
              params.push(ns, now)
              for (const [i, value, kind] of yield* rows(q.getMany(chunk.length), params)) {
                out[start + Number(i)] = decodeValue(value, kind)
              }
            }
            return out
          }),
          namespace
        ),
      set: (namespace, key, value, expiresAt) =>
        run(
          "set",
          exec(q.set, [param(namespace), param(key), ...encodeValue(value), expiresAt ?? null]),
          namespace,
          key
        ),
      setMany: (namespace, entries) => {
        const ns = param(namespace)
        const chunks: Array<Effect.Effect<unknown, unknown>> = []
        for (let start = 0; start < entries.length; start += Statements.rowsPerInsert) {
          const chunk = entries.slice(start, start + Statements.rowsPerInsert)
          const params: Array<unknown> = []
          for (const entry of chunk) {
            params.push(ns, param(entry.key), ...encodeValue(entry.value), entry.expiresAt ?? null)
          }
          chunks.push(exec(q.setMany(chunk.length), params))
        }
        const all = Effect.asVoid(Effect.all(chunks, { discard: true }))
        return run("setMany", chunks.length === 1 ? all : inTransaction(all), namespace)
      },
      remove: (namespace, key) =>
        run(
          "remove",
          exec(q.remove, [param(namespace), param(key)]),
          namespace,
          key
        ),
      clear: (namespace) => run("clear", exec(q.clear, [param(namespace)]), namespace),
      clearPrefix: (namespace, prefix) => {
        const [low, high] = range(prefix)!
        const ns = param(namespace)
        return run(
          "clearPrefix",
          high === undefined ? exec(q.clearFrom, [ns, low]) : exec(q.clearRange, [ns, low, high]),
          namespace,
          prefix
        )
      },
      keys: (namespace, prefix) =>
        run(
          "keys",
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const ns = param(namespace)
            const bounds = range(prefix)
            const query = bounds === undefined
              ? rows(q.keys, [ns, now])
              : bounds[1] === undefined
              ? rows(q.keysFrom, [ns, bounds[0], now])
              : rows(q.keysRange, [ns, bounds[0], bounds[1], now])
            return Effect.map(query, (result) => result.map(([key]) => KeyCodec.decode(key as Uint8Array)))
          }),
          namespace
        ),
      size: (namespace, prefix) =>
        run(
          "size",
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const ns = param(namespace)
            const bounds = range(prefix)
            const query = bounds === undefined
              ? rows(q.size, [ns, now])
              : bounds[1] === undefined
              ? rows(q.sizeFrom, [ns, bounds[0], now])
              : rows(q.sizeRange, [ns, bounds[0], bounds[1], now])
            return Effect.map(query, (result) => Number(result[0]![0]))
          }),
          namespace
        ),
      // BEGIN IMMEDIATE takes the write lock before reading, so no other
      // connection or process can change the row between read and write.
      // Waiting for the lock retries BEGIN IMMEDIATE, which runs before the
      // caller's function: once that has run, a failure goes to the caller.
      modify: (namespace, key, f) =>
        Effect.suspend(() => {
          let called = false
          return run(
            "modify",
            inTransaction(Effect.flatMap(Clock.currentTimeMillis, (now) => {
              const ns = param(namespace)
              const k = param(key)
              return Effect.flatMap(rows(q.get, [ns, k, now]), (current) => {
                if (current.length === 0) return Effect.undefined
                called = true
                return Effect.flatMap(f(decodeValue(current[0]![0], current[0]![1])), (next) => {
                  const [value, kind] = encodeValue(next)
                  return Effect.as(exec(q.update, [value, kind, ns, k]), next)
                })
              })
            })),
            namespace,
            key,
            () => !called
          )
        }),
      // Each batch waits for the lock on its own: running the whole sweep
      // again would miscount the rows already deleted.
      sweep: (sweepOptions) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          StorageBackend.sweepInBatches(
            sweepOptions,
            (batchSize) => Effect.map(run("sweep", rows(q.sweep, [now, batchSize])), (deleted) => deleted.length)
          ))
    })
  })

// @effect/sql-sqlite-node is loaded by the one function that builds its
// client, and only when that runs: a backend on its own connection (`layer`,
// `open`) never loads it, so it works without the import-path patch the
// client's only release needs on effect 4.1.
const loadClient = Effect.tryPromise({
  try: () => import("./internal/client.ts"),
  catch: (cause) =>
    new StorageError.ConfigurationError({
      option: "@effect/sql-sqlite-node",
      message: `@effect/sql-sqlite-node could not be loaded (${
        cause instanceof Error ? cause.message.split("\n")[0] : String(cause)
      }). Its release 4.0.0-beta.102 needs the import-path patch this package ships to run on effect 4.1: run \`node node_modules/@effect-persist/sqlite/patches/apply.mjs\` after installing (see the package's README). SqliteBackend.layer and open do not need it.`
    })
})

/**
 * Opens a SQLite database file as Effect's `SqlClient`
 * (`@effect/sql-sqlite-node`), with the settings a real file database needs:
 * WAL journal, a busy timeout, and `synchronous = NORMAL`, each overridable.
 * For `layerFromClient`, or for an application that wants the client itself;
 * the backend's own `layer` and `open` do not use it. On effect 4.1 it needs
 * the import-path patch described in the package's README, and fails with a
 * `ConfigurationError` that says so when it is missing.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient = (
  options: Pick<FileOptions, "filename" | "busyTimeout" | "journalMode" | "synchronous">
): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient, StorageError.ConfigurationError> =>
  Layer.unwrap(Effect.map(loadClient, (Client) => Client.layer(options)))

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
 * Provides the backend on its own database file.
 *
 * @example
 * ```ts
 * import { Services } from "@effect-persist/core"
 * import { SqliteBackend } from "@effect-persist/sqlite"
 * import { Layer } from "effect"
 *
 * // One backend (one connection to the file) serves both services.
 * const Storage = Layer.mergeAll(Services.layerKeyValueStore({ name: "app" }), Services.layerPersistence).pipe(
 *   Layer.provide(SqliteBackend.layer({ filename: "app.db" }))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: FileOptions
): Layer.Layer<
  StorageBackend.StorageBackend,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError
> =>
  Layer.effect(StorageBackend.StorageBackend)(open(options))

/**
 * Provides Effect's `KeyValueStore` on a SQLite file.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerKeyValueStore = (
  options: FileOptions & Services.KeyValueStoreOptions
): Layer.Layer<
  KeyValueStore.KeyValueStore,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError
> => Services.layerKeyValueStore(options).pipe(Layer.provide(layer(options)))

/**
 * Provides Effect's `BackingPersistence` on a SQLite file.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerBackingPersistence = (
  options: FileOptions
): Layer.Layer<
  Persistence.BackingPersistence,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError
> => Services.layerBackingPersistence.pipe(Layer.provide(layer(options)))

/**
 * Provides Effect's `Persistence` (for `PersistedCache` and friends) on a SQLite file.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerPersistence = (
  options: FileOptions
): Layer.Layer<
  Persistence.Persistence,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError
> => Services.layerPersistence.pipe(Layer.provide(layer(options)))

/**
 * A scoped backend on its own file, for programs that do not use layers.
 *
 * @category constructors
 * @since 0.1.0
 */
export const open = (
  options: FileOptions
): Effect.Effect<
  StorageBackend.StorageBackend,
  StorageError.SchemaVersionError | StorageError.MigrationError | StorageError.ConfigurationError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    // The table name is checked before the file is opened: an unusable name
    // must not create the file or switch its journal mode.
    yield* Migrator.validateTableName(options.table ?? Migrator.defaultTable)
    const connection = yield* Connection.open({
      filename: options.filename,
      busyMillis: busyMillisOf(options.busyTimeout),
      journalMode: options.journalMode,
      synchronous: options.synchronous,
      walSizeLimit: options.walSizeLimit ?? defaultWalSizeLimit
    })
    return yield* makeOn(connection, options, { coalesceGets: false })
  })
