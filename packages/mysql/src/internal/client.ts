/**
 * The connection pool both public modules open: `@effect/sql-mysql2` on a
 * URL, with connection failures turned into the caller's typed error and the
 * URL's password kept out of messages.
 *
 * @internal
 */
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"

/** @internal */
export interface PoolOptions {
  readonly url: string | Redacted.Redacted<string>
  readonly maxConnections?: number | undefined
  readonly connectionTTL?: Duration.Input | undefined
}

/** The URL with its password replaced, for messages. @internal */
export const redact = (url: string | Redacted.Redacted<string>): string => {
  const text = typeof url === "string" ? url : Redacted.value(url)
  try {
    const parsed = new URL(text)
    if (parsed.password) parsed.password = "***"
    return parsed.toString()
  } catch {
    return "<unparsable url>"
  }
}

/**
 * The pool as a layer providing both `MysqlClient` and `SqlClient`, as
 * `MysqlClient.layer` does, with its connection failure mapped by `onError`.
 *
 * @internal
 */
export const layer = <E>(
  options: PoolOptions,
  onError: (cause: SqlError) => E
): Layer.Layer<MysqlClient.MysqlClient | SqlClient.SqlClient, E> =>
  Layer.effectContext(
    MysqlClient.make({
      url: typeof options.url === "string" ? Redacted.make(options.url) : options.url,
      maxConnections: options.maxConnections,
      connectionTTL: options.connectionTTL
    }).pipe(
      Effect.mapError(onError),
      Effect.map((client) => Context.make(MysqlClient.MysqlClient, client).pipe(Context.add(SqlClient.SqlClient, client)))
    )
  ).pipe(Layer.provide(Reactivity.layer))
