/**
 * `withTransaction` that keeps database failures typed.
 *
 * Effect's `withTransaction` turns a failed ROLLBACK (or savepoint release)
 * into a defect, and when that happens it turns the body's own failure into
 * a defect too. When the connection dies inside a transaction, the body
 * fails (or the caller's function inside it does) and so does the ROLLBACK
 * sent on the dead connection, so a lost connection — something the
 * database answers, not a bug — would surface as a defect. This returns the
 * body's own failure, recorded as it happened, or the `SqlError` of the
 * failed clean-up when that is all there is.
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
  Effect.suspend(() => {
    // The cause that reaches us holds the body's failure only as a defect
    // once the ROLLBACK failed, indistinguishable from a real one.
    let failed: { readonly error: E } | undefined
    return sql.withTransaction(
      Effect.tapError(body, (error) => Effect.sync(() => failed = { error }))
    ).pipe(
      Effect.catchCause((cause): Effect.Effect<never, E | SqlError.SqlError> => {
        if (failed !== undefined) return Effect.fail(failed.error)
        const failure = cause.reasons.find(Cause.isFailReason)
        if (failure !== undefined) return Effect.fail(failure.error)
        const defect = cause.reasons.find(Cause.isDieReason)
        if (defect !== undefined && SqlError.isSqlError(defect.defect)) return Effect.fail(defect.defect)
        return Effect.failCause(cause)
      })
    )
  })
