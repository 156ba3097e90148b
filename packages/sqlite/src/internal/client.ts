import { StorageError } from "@effect-persist/core"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import { detail } from "./classify.ts"

/** @internal */
export interface ClientOptions {
  readonly filename: string
  readonly busyTimeout?: Duration.Input | undefined
  readonly journalMode?: "wal" | "delete" | undefined
  readonly synchronous?: "normal" | "full" | undefined
}

/**
 * Opens the file with WAL switched off, sets the busy timeout, and only then
 * switches to WAL: the switch needs the write lock, and with the timeout in
 * place many processes opening a fresh file at once wait for each other
 * instead of failing with "database is locked".
 *
 * @internal
 */
export const layer = (
  options: ClientOptions
): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient, StorageError.ConfigurationError> => {
  const busyMillis = Math.max(0, Math.floor(Duration.toMillis(Duration.fromInputUnsafe(options.busyTimeout ?? "5 seconds"))))
  const synchronous = options.synchronous === "full" ? "FULL" : "NORMAL"
  const journal = options.journalMode === "delete" ? "DELETE" : "WAL"
  const pragmas = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`PRAGMA busy_timeout = ${busyMillis}`).unprepared
    if (options.filename !== ":memory:") yield* sql.unsafe(`PRAGMA journal_mode = ${journal}`).unprepared
    yield* sql.unsafe(`PRAGMA synchronous = ${synchronous}`).unprepared
  })
  // A file that cannot be opened (a missing directory, no permission, not a
  // database) is refused typed: node:sqlite throws from its constructor, which
  // the client reports as a defect, and the first PRAGMA fails on a file that
  // is not a database.
  const refused = (cause: Cause.Cause<unknown>) => {
    const reason = cause.reasons.find((r) => Cause.isFailReason(r) || Cause.isDieReason(r))
    const error = reason === undefined ? undefined : Cause.isFailReason(reason) ? reason.error : reason.defect
    return new StorageError.ConfigurationError({
      option: "filename",
      message: `Could not open the SQLite database ${JSON.stringify(options.filename)}: ${
        detail(error) ?? String(error)
      }.`
    })
  }
  return Layer.effectDiscard(pragmas).pipe(
    Layer.provideMerge(SqliteClient.layer({ filename: options.filename, disableWAL: true })),
    Layer.catchCause((cause) =>
      Layer.effectDiscard(
        cause.reasons.every(Cause.isInterruptReason) ? Effect.failCause(cause as Cause.Cause<never>) : Effect.fail(refused(cause))
      ) as Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient, StorageError.ConfigurationError>
    )
  )
}
