/**
 * Kysely's promises as Effects: a driver's rejection becomes a typed
 * `DatabaseFailure` (classified later, where the operation is known), a
 * connection is reserved for the lifetime of a scope, and a transaction runs
 * an Effect on that one connection, committing on success and rolling back
 * on failure or interruption.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { CompiledQuery, type DatabaseConnection, type Kysely, type QueryResult } from "kysely"

/**
 * A promise of Kysely or its driver rejected; `cause` is what it rejected with.
 *
 * @internal
 */
export class DatabaseFailure extends Data.TaggedError("DatabaseFailure")<{ readonly cause: unknown }> {}

// Kysely cannot take back a query it has started: an abandoned promise still
// runs, and may commit after the caller's next statement on another
// connection. So once a promise exists the caller waits for its outcome;
// an interrupted operation has then either not happened or happened before
// the interruption completes.
/** @internal */
export const attempt = <A>(thunk: () => Promise<A>): Effect.Effect<A, DatabaseFailure> =>
  Effect.uninterruptible(Effect.tryPromise({ try: thunk, catch: (cause) => new DatabaseFailure({ cause }) }))

/**
 * Runs `use` on one connection of `db`. The wait for the connection can be
 * interrupted (a connection that comes later is handed back unused, so
 * nothing runs after the caller has gone); once `use` has started, an
 * interruption waits for it to settle.
 */
const onConnection = <A>(
  db: Kysely<any>,
  use: (connection: DatabaseConnection) => Promise<A>
): Effect.Effect<A, DatabaseFailure> =>
  Effect.callback<A, DatabaseFailure>((resume) => {
    let abandoned = false
    let running: Promise<unknown> | undefined
    db.getExecutor().provideConnection((connection) => {
      if (abandoned) return Promise.resolve(undefined)
      running = use(connection).then(
        (value) => resume(Effect.succeed(value)),
        (cause) => resume(Effect.fail(new DatabaseFailure({ cause })))
      )
      return running
    }).catch((cause) => resume(Effect.fail(new DatabaseFailure({ cause }))))
    return Effect.suspend(() => {
      if (running !== undefined) return Effect.promise(() => running!)
      abandoned = true
      return Effect.void
    })
  })

/**
 * Runs a compiled query on a Kysely instance (the pool, or one reserved
 * connection) without its plugins' result transforms: the store's instances
 * have none.
 *
 * @internal
 */
export const execute = (db: Kysely<any>, query: CompiledQuery): Effect.Effect<QueryResult<any>, DatabaseFailure> =>
  onConnection(db, (connection) => connection.executeQuery(query))

/** Runs a fixed statement such as `begin` or `commit`. @internal */
export const statement = (db: Kysely<any>, text: string): Effect.Effect<QueryResult<any>, DatabaseFailure> =>
  execute(db, CompiledQuery.raw(text))

/**
 * One connection of `db` for the lifetime of the scope: a Kysely instance
 * whose every query runs on it. Kysely only lends a connection to a
 * callback, so the callback holds it until the scope closes. The wait can be
 * interrupted; a connection that comes after is given straight back.
 *
 * @internal
 */
export const reserve = (db: Kysely<any>): Effect.Effect<Kysely<any>, DatabaseFailure, Scope.Scope> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(
      restore(Effect.callback<Lease, DatabaseFailure>((resume) => {
        let abandoned = false
        let lease: Lease | undefined
        db.connection().execute((connection) => {
          if (abandoned) return Promise.resolve()
          let release!: () => void
          const released = new Promise<void>((done) => {
            release = done
          })
          lease = { connection, release }
          resume(Effect.succeed(lease))
          return released
        }).catch((cause) => resume(Effect.fail(new DatabaseFailure({ cause }))))
        // An interruption that arrives after the lease was handed over, but
        // before this fiber took it, would otherwise keep the connection.
        return Effect.sync(() => {
          abandoned = true
          lease?.release()
        })
      })),
      ({ connection, release }) => Effect.as(Effect.addFinalizer(() => Effect.sync(release)), connection)
    )
  )

interface Lease {
  readonly connection: Kysely<any>
  readonly release: () => void
}

/**
 * Runs `body` in a transaction on one reserved connection of `db`, opened
 * with `begin` (`begin immediate` on SQLite takes the write lock before the
 * first read). Commits when `body` succeeds; rolls back when it fails, or is
 * interrupted, or the commit fails.
 *
 * @internal
 */
export const transaction = <A, E, R>(
  db: Kysely<any>,
  begin: string,
  body: (connection: Kysely<any>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | DatabaseFailure, R> =>
  Effect.scoped(
    Effect.flatMap(reserve(db), (connection) =>
      Effect.acquireUseRelease(
        statement(connection, begin),
        () => Effect.flatMap(body(connection), (value) => Effect.as(statement(connection, "commit"), value)),
        (_, exit) => Exit.isSuccess(exit) ? Effect.void : Effect.ignore(statement(connection, "rollback"))
      ))
  )

/**
 * The connection a migration driver's steps run on while its lock is held:
 * the one holding the lock (and, where DDL is transactional, the
 * transaction). `root` is the Kysely instance the driver was made for, so a
 * driver for another database never picks it up.
 *
 * @internal
 */
export interface Session {
  readonly root: Kysely<any>
  readonly connection: Kysely<any>
  readonly inTransaction: boolean
}

/** @internal */
export const CurrentSession = Context.Reference<Session | undefined>("@effect-persist/kysely/CurrentSession", {
  defaultValue: () => undefined
})
