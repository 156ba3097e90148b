/**
 * `withTransaction` that keeps database failures typed.
 *
 * Effect's `withTransaction` turns a failed ROLLBACK (or savepoint release)
 * into a defect. When the connection dies inside a transaction, the body
 * fails and so does the ROLLBACK sent on the dead connection, so a lost
 * connection — something the database answers, not a bug — would surface as
 * a defect. This puts the body's own failure back in the error channel, or
 * the `SqlError` of the failed clean-up when that is all there is.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import * as SqlError from "effect/sql/SqlError"

/** @internal */
export const transaction = <A, E, R>(
  sql: SqlClient.SqlClient,
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError.SqlError, R> =>
  sql.withTransaction(body).pipe(
    Effect.catchCause((cause): Effect.Effect<never, E | SqlError.SqlError> => {
      const failure = cause.reasons.find(Cause.isFailReason)
      if (failure !== undefined) return Effect.fail(failure.error)
      const defect = cause.reasons.find(Cause.isDieReason)
      if (defect !== undefined && SqlError.isSqlError(defect.defect)) return Effect.fail(defect.defect)
      return Effect.failCause(cause)
    })
  )
