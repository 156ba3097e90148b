/**
 * Waiting for another connection's lock without holding the thread.
 *
 * node:sqlite runs every statement synchronously. With SQLite's own busy
 * timeout, a statement that meets another process's write lock sleeps inside
 * SQLite, on the thread, until the lock is free or the timeout ends: the
 * whole program stops meanwhile (timers, other fibers, reads that WAL would
 * serve), and 32 writers waiting in turn freeze it for 32 busy timeouts.
 * Here the statement fails at once with SQLITE_BUSY and is run again after a
 * short sleep on the event loop, until the budget is spent.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { isBusy } from "./classify.ts"

// The real clock, not Effect's Clock: the wait is for another process, and a
// TestClock that never advances must not hang a store that meets a lock.
const sleep = (millis: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })

/**
 * Runs `effect` again while it fails because the database is locked, with
 * growing, jittered sleeps (from 1 ms up to 50 ms) until `budgetMillis` have
 * passed; then fails with the last failure. `mayRetry` is asked before each
 * new attempt (a `modify` must not run again once the caller's function ran).
 *
 * @internal
 */
export const waitForLock = <A, E>(
  effect: Effect.Effect<A, E>,
  budgetMillis: number,
  mayRetry: () => boolean = () => true
): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    const deadline = performance.now() + budgetMillis
    let delay = 1
    const attempt = (): Effect.Effect<A, E> =>
      Effect.catch(effect, (error) => {
        const left = deadline - performance.now()
        if (!isBusy(error) || left <= 0 || !mayRetry()) return Effect.fail(error)
        const wait = Math.min(left, delay * (0.5 + Math.random()))
        delay = Math.min(delay * 2, 50)
        return Effect.andThen(sleep(wait), Effect.suspend(attempt))
      })
    return attempt()
  })
