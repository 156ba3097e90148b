/**
 * Kysely's promises as Effects: a driver's rejection becomes a typed
 * `DatabaseFailure` (classified later, where the operation is known), a
 * connection is reserved for the lifetime of a scope, and a transaction runs
 * an Effect on that one connection, committing on success and rolling back
 * on failure or interruption. A query once started is waited for, even by an
 * interrupted caller; the wait for a connection is not, and is bounded by the
 * store's `connectionTimeout`. The application's own transaction, when a
 * caller joined one, is `CurrentTransaction`.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type * as Semaphore from "effect/Semaphore"
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
 * No connection of the pool came within the store's `connectionTimeout`.
 *
 * @internal
 */
export class NoConnection extends Error {
  readonly millis: number
  constructor(millis: number) {
    super(`no connection of the Kysely instance's pool came within ${millis} ms`)
    this.millis = millis
  }
}

// How long a store's calls wait for a connection, by the Kysely instance
// they run on; instances without an entry (the migrator's, a reserved
// connection's) wait as long as it takes.
const connectionTimeouts = new WeakMap<Kysely<any>, number>()

/** @internal */
export const limitConnectionWait = (db: Kysely<any>, millis: number): void => {
  if (Number.isFinite(millis)) connectionTimeouts.set(db, millis)
}

interface Waiter {
  readonly since: number
  readonly millis: number
  readonly expire: () => void
}

// One timer for every waiting call, rather than one per call: a call that
// gets its connection at once costs a set insertion and deletion.
const waiters = new Set<Waiter>()
let watchdog: ReturnType<typeof setInterval> | undefined

const checkWaiters = () => {
  const now = performance.now()
  for (const waiter of waiters) {
    if (now - waiter.since >= waiter.millis) {
      waiters.delete(waiter)
      waiter.expire()
    }
  }
  if (waiters.size === 0 && watchdog !== undefined) {
    clearInterval(watchdog)
    watchdog = undefined
  }
}

const startWaiting = (db: Kysely<any>, expire: () => void): Waiter | undefined => {
  const millis = connectionTimeouts.get(db)
  if (millis === undefined) return undefined
  const waiter = { since: performance.now(), millis, expire }
  waiters.add(waiter)
  if (watchdog === undefined) {
    watchdog = setInterval(checkWaiters, Math.min(250, Math.max(10, millis / 4)))
    watchdog.unref?.()
  }
  return waiter
}

const stopWaiting = (waiter: Waiter | undefined) => {
  if (waiter !== undefined) waiters.delete(waiter)
}

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
    const waiter = startWaiting(db, () => {
      abandoned = true
      resume(Effect.fail(new DatabaseFailure({ cause: new NoConnection(connectionTimeouts.get(db)!) })))
    })
    db.getExecutor().provideConnection((connection) => {
      stopWaiting(waiter)
      if (abandoned) return Promise.resolve(undefined)
      running = use(connection).then(
        (value) => resume(Effect.succeed(value)),
        (cause) => resume(Effect.fail(new DatabaseFailure({ cause })))
      )
      return running
    }).catch((cause) => {
      stopWaiting(waiter)
      resume(Effect.fail(new DatabaseFailure({ cause })))
    })
    return Effect.suspend(() => {
      if (running !== undefined) return Effect.promise(() => running!)
      stopWaiting(waiter)
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
        const waiter = startWaiting(db, () => {
          abandoned = true
          resume(Effect.fail(new DatabaseFailure({ cause: new NoConnection(connectionTimeouts.get(db)!) })))
        })
        db.connection().execute((connection) => {
          stopWaiting(waiter)
          if (abandoned) return Promise.resolve()
          let release!: () => void
          const released = new Promise<void>((done) => {
            release = done
          })
          lease = { connection, release }
          resume(Effect.succeed(lease))
          return released
        }).catch((cause) => {
          stopWaiting(waiter)
          resume(Effect.fail(new DatabaseFailure({ cause })))
        })
        // An interruption that arrives after the lease was handed over, but
        // before this fiber took it, would otherwise keep the connection.
        return Effect.sync(() => {
          stopWaiting(waiter)
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
 * The application's transaction that store calls of this fiber join:
 * `connection` runs its statements, `adapter` tells which database it
 * belongs to, and `turn` lets one store call at a time use it (undefined
 * inside a call, whose modify function may call the store again).
 *
 * @internal
 */
export interface Joined {
  readonly connection: Kysely<any>
  readonly adapter: unknown
  readonly turn: Semaphore.Semaphore | undefined
}

/** @internal */
export const CurrentTransaction = Context.Reference<Joined | undefined>("@effect-persist/kysely/CurrentTransaction", {
  defaultValue: () => undefined
})

/**
 * Runs a store call on the joined transaction, after any call of another
 * fiber on it has finished.
 *
 * @internal
 */
export const onJoined = <A, E, R>(
  joined: Joined,
  call: (connection: Kysely<any>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  joined.turn === undefined
    ? call(joined.connection)
    : joined.turn.withPermits(1)(
      Effect.provideService(call(joined.connection), CurrentTransaction, { ...joined, turn: undefined })
    )

let savepoints = 0

/**
 * Runs `body` inside a savepoint of the transaction `connection` is in:
 * released when `body` succeeds, rolled back to when it fails or is
 * interrupted, so a failed store call leaves the application's transaction
 * as it was.
 *
 * @internal
 */
export const withinSavepoint = <A, E, R>(
  connection: Kysely<any>,
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, E | DatabaseFailure, R> =>
  Effect.suspend(() => {
    // A name of its own: MySQL replaces a savepoint of the same name, which
    // a modify calling the store from its function would otherwise do.
    const name = `effect_persist_${savepoints++ % 1_000_000}`
    return Effect.acquireUseRelease(
      statement(connection, `savepoint ${name}`),
      () => Effect.flatMap(body, (value) => Effect.as(statement(connection, `release savepoint ${name}`), value)),
      (_, exit) =>
        Exit.isSuccess(exit)
          ? Effect.void
          // After a deadlock MySQL has rolled back the whole transaction and
          // the savepoint with it: then the application's failure is the one to see.
          : Effect.ignore(
            Effect.andThen(
              statement(connection, `rollback to savepoint ${name}`),
              statement(connection, `release savepoint ${name}`)
            )
          )
    )
  })

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
