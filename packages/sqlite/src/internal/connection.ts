/**
 * The one connection a SQLite backend runs its statements on: either a
 * `SqlClient` the application already has, or the backend's own `node:sqlite`
 * database.
 *
 * A backend that owns its file runs prepared `node:sqlite` statements itself.
 * node:sqlite is synchronous, so going through `SqlClient` (a span, a
 * semaphore, a cache lookup and several Effect steps per statement) costs
 * 30–40 µs per call against 3–9 µs for the statement itself; measured, that
 * held `get` at 0.1–0.2× of the raw driver.
 *
 * @internal
 */
import { StorageError } from "@effect-persist/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as SqlClient from "effect/sql/SqlClient"
import { DatabaseSync, type StatementSync } from "node:sqlite"
import * as Checkpoint from "./checkpoint.ts"
import { detail } from "./classify.ts"

/** @internal */
export interface Connection {
  /** Runs a statement that returns rows, each row an array of column values. */
  readonly rows: (
    text: string,
    params: ReadonlyArray<unknown>
  ) => Effect.Effect<ReadonlyArray<ReadonlyArray<unknown>>, unknown>
  /** Runs a statement for its effect. */
  readonly run: (text: string, params: ReadonlyArray<unknown>) => Effect.Effect<void, unknown>
  /**
   * Runs `effect` in a `BEGIN IMMEDIATE` transaction: the write lock is taken
   * before anything is read. A transaction started inside another one joins it.
   */
  readonly transaction: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E | unknown>
  /**
   * An application's client only: whether the fiber runs inside a
   * transaction the application opened on it, which a statement then joins.
   * Nothing is retried there: the transaction is the application's to end.
   */
  readonly inApplicationTransaction?: (fiber: Fiber.Fiber<unknown, unknown>) => boolean
  /**
   * The backend's own connection only: runs a statement that returns rows
   * right away, on the calling fiber, and throws what the statement throws.
   * `undefined` when another fiber's transaction holds the connection: the
   * caller then goes through `rows`, which waits for its turn.
   */
  readonly rowsNow?: (
    fiber: Fiber.Fiber<unknown, unknown>,
    text: string,
    params: ReadonlyArray<unknown>
  ) => ReadonlyArray<ReadonlyArray<unknown>> | undefined
}

/**
 * Statements on a `SqlClient` (a SQLite client) in context.
 *
 * @internal
 */
export const fromClient = (sql: SqlClient.SqlClient): Connection => {
  // @effect/sql-sqlite-node 4.0.0-beta.102 lets a statement go once it has
  // looked at its connection, a step before it runs there: a transaction
  // begun in between takes the statement in, and its rollback takes the
  // statement's acknowledged write with it (the interleaving laws found it).
  // The backend's own statements and transactions therefore take turns here.
  // A fiber inside a transaction on this client, the backend's or the
  // application's, holds the client's one connection already: its statements
  // run at once, and the others wait for the client as they would anyway.
  const turn = Semaphore.makeUnsafe(1)
  const inTransaction = (fiber: Fiber.Fiber<unknown, unknown>) =>
    Context.getOption(fiber.context, sql.transactionService)._tag === "Some"
  const inTurn = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.withFiber((fiber) => inTransaction(fiber) ? effect : turn.withPermit(effect))
  return {
    // The backend's own transactions are open only inside `run`'s retry,
    // which starts outside them: a fiber found in one here is the application's.
    inApplicationTransaction: inTransaction,
    rows: (text, params) => inTurn(sql.unsafe(text, params).values),
    run: (text, params) => inTurn(Effect.asVoid(sql.unsafe(text, params).raw)),
    // The client takes its connection for a transaction with an
    // interruptible `take` of its semaphore: an interruption landing just
    // after the take keeps the permit for ever, and every later statement on
    // the client waits for it (law (d) of the interleaving laws hung so).
    // The transaction is therefore begun uninterruptibly, and only its body
    // can be interrupted (it then rolls back). Waiting for a turn stays
    // interruptible.
    transaction: (effect) =>
      inTurn(Effect.uninterruptibleMask((restore) =>
        sql.withTransaction(restore(effect)).pipe(Effect.provideService(SqlClient.BeginTransaction, "BEGIN IMMEDIATE"))
      ))
  }
}

/** @internal */
export interface OpenOptions {
  readonly filename: string
  readonly busyMillis: number
  readonly journalMode?: "wal" | "delete" | undefined
  readonly synchronous?: "normal" | "full" | undefined
  /**
   * In WAL mode, the `-wal` size in bytes past which the backend restarts the
   * log with a checkpoint of its own (`checkpoint.ts`); `false` leaves it to
   * SQLite's automatic checkpoints.
   */
  readonly walSizeLimit?: number | false | undefined
}

// One open transaction on one connection.
interface Holder {
  readonly connection: Connection
}

// Set in the context of a transaction's body (and of every fiber it forks)
// to the transaction it belongs to.
const CurrentTransaction = Context.Reference<Holder | undefined>(
  "@effect-persist/sqlite/internal/connection/CurrentTransaction",
  { defaultValue: () => undefined }
)

// Every statement text is fixed per table and batch size; the bound only
// matters for an application that uses many tables on one connection.
const statementCacheSize = 256

/**
 * Opens the backend's own database: busy timeout first, then the journal
 * mode (switching to WAL needs the write lock, and with the timeout in place
 * processes opening a fresh file at once wait for each other), then
 * `synchronous`. Statements afterwards never wait on the thread: busy_timeout
 * is set to 0 and the backend waits between attempts instead (`busy.ts`).
 *
 * @internal
 */
export const open = (
  options: OpenOptions
): Effect.Effect<Connection, StorageError.ConfigurationError, Scope.Scope> =>
  Effect.gen(function*() {
    const refused = (cause: unknown) =>
      new StorageError.ConfigurationError({
        option: "filename",
        message: `Could not open the SQLite database ${JSON.stringify(options.filename)}: ${
          detail(cause) ?? String(cause)
        }.`
      })
    const db = yield* Effect.acquireRelease(
      Effect.try({ try: () => new DatabaseSync(options.filename), catch: refused }),
      (db) =>
        Effect.sync(() => {
          if (db.isOpen) db.close()
        })
    )
    yield* Effect.try({
      try: () => {
        db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyMillis))}`)
        if (options.filename !== ":memory:") {
          db.exec(`PRAGMA journal_mode = ${options.journalMode === "delete" ? "DELETE" : "WAL"}`)
        }
        db.exec(`PRAGMA synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`)
        db.exec("PRAGMA busy_timeout = 0")
      },
      catch: refused
    })
    if (options.filename !== ":memory:" && options.journalMode !== "delete" && typeof options.walSizeLimit === "number") {
      yield* Checkpoint.bound(db, options.filename, { walSizeLimit: options.walSizeLimit })
    }
    return make(db)
  })

const make = (db: DatabaseSync): Connection => {
  const cache = new Map<string, StatementSync>()
  const prepare = (text: string): StatementSync => {
    let statement = cache.get(text)
    if (statement === undefined) {
      statement = db.prepare(text)
      statement.setReturnArrays(true)
      if (cache.size >= statementCacheSize) cache.delete(cache.keys().next().value!)
      cache.set(text, statement)
    }
    return statement
  }
  // The transaction that holds the connection, if any. A statement or
  // transaction from outside it waits for it to end: on one connection it
  // would otherwise run inside the transaction, and be committed or rolled
  // back with it. Each check is made in the same synchronous step as what it
  // guards (the statement, or the claim and BEGIN): Effect may switch fibers
  // between two steps, and a claim made a step after its check let two
  // fibers share one transaction, whose ROLLBACK then took the other
  // fibers' acknowledged writes with it.
  let holder: Holder | undefined
  let waiters: Array<() => void> = []
  // Waits until `ready` holds. It is asked again when the wait is set up, a
  // step after the caller's own check: a release in between would otherwise
  // wake everyone but this fiber, which would then wait for a release that
  // may never come.
  const waitUntil = (ready: () => boolean) =>
    Effect.callback<void>((resume) => {
      if (ready()) return resume(Effect.void)
      const wake = () => resume(Effect.void)
      waiters.push(wake)
      return Effect.sync(() => {
        waiters = waiters.filter((waiter) => waiter !== wake)
      })
    })
  const released = () => holder === undefined
  // Only the transaction that claimed the connection gives it back.
  const release = (owner: Holder) => {
    if (holder !== owner) return
    holder = undefined
    const woken = waiters
    waiters = []
    for (const wake of woken) wake()
  }
  const rollbackQuietly = () => {
    // A failed COMMIT or a statement error may already have ended it.
    if (db.isTransaction) {
      try {
        prepare("ROLLBACK").run()
      } catch {
        // The caller gets the original failure; nothing is left to undo.
      }
    }
  }
  // A fiber belongs to the open transaction when its context carries that
  // transaction's own token: a fiber forked inside an earlier transaction
  // that outlived it carries a token that no longer holds anything.
  const inOpenTransaction = (fiber: Fiber.Fiber<unknown, unknown>) =>
    holder !== undefined && Context.get(fiber.context, CurrentTransaction) === holder

  // Whether a statement of this fiber may run now: no transaction is open,
  // or the open one is this fiber's.
  const mayRun = (fiber: Fiber.Fiber<unknown, unknown>) => holder === undefined || inOpenTransaction(fiber)

  const statement = <A>(body: () => A): Effect.Effect<A, unknown> =>
    Effect.withFiber((fiber) => {
      if (!mayRun(fiber)) return Effect.andThen(waitUntil(() => mayRun(fiber)), statement(body))
      try {
        return Effect.succeed(body())
      } catch (cause) {
        return Effect.fail(cause)
      }
    })

  const commitOrRollback = <A>(owner: Holder, value: A): Effect.Effect<A, unknown> =>
    Effect.suspend(() => {
      try {
        prepare("COMMIT").run()
      } catch (cause) {
        rollbackQuietly()
        release(owner)
        return Effect.fail(cause)
      }
      release(owner)
      return Effect.succeed(value)
    })

  // Uninterruptible from the claim to the release: an interruption lands
  // only while the body (or the wait for a turn) runs, and the transaction
  // is then rolled back and released before the interruption completes.
  const transaction = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | unknown> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.withFiber((fiber) => {
        if (inOpenTransaction(fiber)) return restore(effect)
        // The retry is restored too: run inside this mask, its own mask
        // would restore "uninterruptible", and the caller's function would
        // run on uninterruptibly, its interruption ignored.
        if (holder !== undefined) return Effect.andThen(restore(waitUntil(released)), restore(transaction(effect)))
        try {
          prepare("BEGIN IMMEDIATE").run()
        } catch (cause) {
          // Nothing was claimed, so nothing is released.
          return Effect.fail(cause)
        }
        const owner: Holder = { connection }
        holder = owner
        return Effect.matchCauseEffect(restore(Effect.provideService(effect, CurrentTransaction, owner)), {
          onSuccess: (value) => commitOrRollback(owner, value),
          // Interruption included: nothing is left open, whatever happened.
          onFailure: (cause) =>
            Effect.suspend(() => {
              rollbackQuietly()
              release(owner)
              return Effect.failCause(cause)
            })
        })
      })
    )

  const connection: Connection = {
    rows: (text, params) =>
      statement(() => prepare(text).all(...(params as Array<never>)) as unknown as ReadonlyArray<ReadonlyArray<unknown>>),
    run: (text, params) =>
      statement(() => {
        prepare(text).run(...(params as Array<never>))
      }),
    transaction,
    rowsNow: (fiber, text, params) =>
      mayRun(fiber)
        ? prepare(text).all(...(params as Array<never>)) as unknown as ReadonlyArray<ReadonlyArray<unknown>>
        : undefined
  }
  return connection
}
