import { StorageError } from "@effect-persist/core"

/**
 * What a failure of @effect/sql-pg carries: the SQLSTATE code and the
 * server's own message (on the cause of the `SqlError`'s reason), or a
 * protocol error of the client itself.
 *
 * @internal
 */
export interface Diagnosis {
  readonly code: string | undefined
  readonly message: string | undefined
  /** The client refused a server message over its `maxMessageSize`. */
  readonly messageTooLarge: boolean
  /** The connection was lost (or never made): the statement may be retried on another. */
  readonly connectionLost: boolean
}

const record = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === "object" && value !== null ? value as Record<string, unknown> : undefined

const tooLarge = /exceeds maxMessageSize/

/** @internal */
export const diagnose = (cause: unknown): Diagnosis => {
  let code: string | undefined
  let message: string | undefined
  let messageTooLarge = false
  let connectionLost = false
  let current: unknown = cause
  for (let depth = 0; depth < 6; depth++) {
    const fields = record(current)
    if (fields === undefined) break
    if (fields._tag === "ConnectionError") connectionLost = true
    if (code === undefined && typeof fields.code === "string" && /^[0-9A-Z]{5}$/.test(fields.code)) {
      code = fields.code
      if (typeof fields.message === "string") message = fields.message
    }
    if (typeof fields.message === "string" && tooLarge.test(fields.message)) {
      messageTooLarge = true
      message = fields.message
    }
    current = fields.reason ?? fields.cause
  }
  if (code !== undefined && (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03")) {
    connectionLost = true
  }
  return { code, message, messageTooLarge, connectionLost: connectionLost && !messageTooLarge }
}

/**
 * Classifies a failure of PostgreSQL through @effect/sql-pg by SQLSTATE,
 * falling back to the structured reason of Effect's `SqlError`.
 *
 * @internal
 */
export const classify = (cause: unknown): StorageError.StorageErrorReason => {
  const { code, message, messageTooLarge } = diagnose(cause)
  if (messageTooLarge) return "ValueTooLarge"
  if (code !== undefined) {
    // Class 08 (connection exception), administrator or crash shutdown, and
    // the server starting up or out of resources: the database is not
    // reachable right now.
    if (code.startsWith("08") || code.startsWith("53") || code === "57P01" || code === "57P02" || code === "57P03") {
      return "Unavailable"
    }
    if (code === "40001" || code === "40P01" || code === "55P03") return "Conflict"
    // program_limit_exceeded: an index row (the key) or a value over a server limit.
    if (code === "54000") return message !== undefined && /index row/i.test(message) ? "KeyTooLong" : "ValueTooLarge"
    if (code === "XX001" || code === "XX002") return "Corrupt"
  }
  return StorageError.reasonOfSqlError(cause)
}

/**
 * The part of a failure worth showing a person: the server's message and
 * SQLSTATE rather than the client's generic "Query failed", with advice
 * where there is something to do.
 *
 * @internal
 */
export const detail = (cause: unknown, maxValueBytes: number): string | undefined => {
  const { code, message, messageTooLarge } = diagnose(cause)
  if (messageTooLarge) {
    return `a stored value is larger than this client accepts (${message}); it was written by a client with a higher limit. Open this store with maxValueBytes of at least that size (currently ${maxValueBytes} bytes)`
  }
  if (message === undefined) return undefined
  const text = `${message} (SQLSTATE ${code})`
  if (code === "42P01") {
    return `${text}; the table is missing: run PgMigrator.migrate for this table`
  }
  if (code === "42501") {
    return `${text}; grant the role SELECT, INSERT, UPDATE and DELETE on the entries table and SELECT on effect_persist_migrations`
  }
  return text
}
