/**
 * Keeping the `-wal` file bounded while other processes read the database.
 *
 * SQLite's automatic checkpoint (PASSIVE, after a commit once the log holds
 * 1,000 pages) copies the log into the database as far as readers allow, but
 * the log only starts over from its beginning when everything in it has been
 * copied and no reader is still using it. Several processes reading all the
 * time (a web app in cluster mode) may never leave such a moment: the file
 * then grows for as long as the load lasts (issue 23 measured 1.0–1.7 GB
 * after 30 s), and every reader pays for a longer log. Here each backend looks at the size of the `-wal` now and then
 * and, past the limit, runs a TRUNCATE checkpoint: it takes the write lock,
 * copies what is left, waits for readers to move on to the database file, and
 * truncates the log to nothing. The wait holds the thread (SQLite's busy
 * handler sleeps in place), so it is short: 10 ms, up to 50 ms only while
 * attempts keep finding readers in the log.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { statSync } from "node:fs"
import type { DatabaseSync } from "node:sqlite"

/** @internal */
export interface Policy {
  /** Size of the `-wal` file, in bytes, past which a checkpoint restarts the log. */
  readonly walSizeLimit: number
}

// How often the size is looked at, on average (a stat of one file, a few
// microseconds), jittered so that processes started together take turns.
// The log grows by what is written in between: a writer committing 3,000
// small rows a second adds about 1 MiB in 25 ms.
const intervalMillis = 25
// How long an attempt may wait for readers, holding the thread. It doubles
// after each attempt that copied the log but found readers still in it, up
// to the cap; an attempt that found another process's checkpoint running
// returns at once and changes nothing.
const firstWaitMillis = 10
const maxWaitMillis = 50

const sizeOf = (path: string): number => {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

/**
 * Watches the `-wal` of `filename` while the scope is open and checkpoints it
 * with TRUNCATE when it is past `policy.walSizeLimit`. Also sets
 * `journal_size_limit`, so that a log SQLite restarts by itself is cut back
 * to the limit too.
 *
 * @internal
 */
export const bound = (
  db: DatabaseSync,
  filename: string,
  policy: Policy
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.acquireRelease(
    Effect.sync(() => {
      db.exec(`PRAGMA journal_size_limit = ${Math.floor(policy.walSizeLimit)}`)
      const wal = `${filename}-wal`
      let waitedInVain = 0
      const check = () => {
        // A transaction of this connection is open across fibers' steps: a
        // checkpoint cannot run inside it, and will be tried on the next tick.
        if (!db.isOpen || db.isTransaction || sizeOf(wal) <= policy.walSizeLimit) return
        const wait = Math.min(maxWaitMillis, firstWaitMillis * 2 ** waitedInVain)
        try {
          db.exec(`PRAGMA busy_timeout = ${wait}`)
          const row = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get() as { busy: number; log: number } | undefined
          if (row !== undefined && Number(row.busy) === 0) waitedInVain = 0
          else if (row !== undefined && Number(row.log) >= 0) waitedInVain++
        } catch {
          // Locked by another connection's checkpoint, say: a later tick tries again.
        }
        try {
          // Statements never wait on the thread (see busy.ts).
          db.exec("PRAGMA busy_timeout = 0")
        } catch {
          // Only a closed connection refuses it, and it runs nothing more.
        }
      }
      const state = { timer: undefined as NodeJS.Timeout | undefined, closed: false }
      const schedule = () => {
        if (state.closed) return
        state.timer = setTimeout(() => {
          check()
          schedule()
        }, intervalMillis * (0.5 + Math.random()))
        // The watch alone must not keep a process alive.
        state.timer.unref()
      }
      schedule()
      return state
    }),
    (state) =>
      Effect.sync(() => {
        state.closed = true
        clearTimeout(state.timer)
      })
  ))
