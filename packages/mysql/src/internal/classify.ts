/**
 * Classification of mysql2 failures, read through the `SqlError` of
 * `@effect/sql-mysql2`: server errors carry MySQL's `errno`, network errors
 * a Node `code` (their `errno` is negative), and mysql2 marks errors after
 * which the connection is unusable as `fatal`.
 *
 * @internal
 */
import { StorageError } from "@effect-persist/core"

/** The fields of a mysql2 error this package reads. @internal */
export interface NativeError {
  readonly errno?: number | undefined
  readonly code?: string | undefined
  readonly sqlMessage?: string | undefined
  readonly message?: string | undefined
  readonly fatal?: boolean | undefined
}

/** ER_NET_PACKET_TOO_LARGE: a packet over the server's `max_allowed_packet`. @internal */
export const packetTooLarge = 1153

/** ER_TOO_BIG_ROWSIZE, also raised by MySQL 8 for BLOB data over 10% of the redo log. @internal */
const rowTooBig = 1118

const unavailableCodes: ReadonlySet<number> = new Set([
  1040, // ER_CON_COUNT_ERROR: too many connections
  1053, // ER_SERVER_SHUTDOWN
  1158, // ER_NET_READ_ERROR
  1159, // ER_NET_READ_INTERRUPTED
  1160, // ER_NET_ERROR_ON_WRITE
  1161, // ER_NET_WRITE_INTERRUPTED
  1927, // MariaDB ER_CONNECTION_KILLED
  1969, // MariaDB ER_STATEMENT_TIMEOUT (max_statement_time)
  2002, // CR_CONNECTION_ERROR
  2003, // CR_CONN_HOST_ERROR
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST
  3024, // MySQL ER_QUERY_TIMEOUT (max_execution_time)
  4031 // MySQL ER_CLIENT_INTERACTION_TIMEOUT (wait_timeout)
])

const lostConnectionErrnos: ReadonlySet<number> = new Set([1053, 1158, 1159, 1160, 1161, 1927, 2006, 2013, 4031])

const conflictCodes: ReadonlySet<number> = new Set([
  1205, // ER_LOCK_WAIT_TIMEOUT
  1213, // ER_LOCK_DEADLOCK
  3572 // ER_LOCK_NOWAIT
])

const lostConnectionCodes: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR",
  "PROTOCOL_ENQUEUE_AFTER_QUIT"
])

/**
 * The mysql2 error behind a failure: `SqlError` → reason → cause.
 *
 * @internal
 */
export const nativeError = (cause: unknown): NativeError | undefined => {
  let current: unknown = cause
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const record = current as NativeError & { readonly reason?: unknown; readonly cause?: unknown }
    if (
      typeof record.errno === "number" || (typeof record.code === "string" && record.code !== "") ||
      typeof record.fatal === "boolean"
    ) return record
    current = record.reason ?? record.cause
  }
  return undefined
}

/** MySQL's error number, when the server answered with one. @internal */
export const errnoOf = (cause: unknown): number | undefined => {
  const errno = nativeError(cause)?.errno
  return typeof errno === "number" && errno > 0 ? errno : undefined
}

/**
 * Whether the failure lost the connection, so the statement may or may not
 * have reached the server, and a new connection is needed.
 *
 * @internal
 */
export const isConnectionLost = (cause: unknown): boolean => {
  const native = nativeError(cause)
  if (native === undefined) return false
  const errno = errnoOf(cause)
  if (errno === packetTooLarge) return false
  if (errno !== undefined && lostConnectionErrnos.has(errno)) return true
  // mysql2 marks every error after which the connection is unusable (a reset
  // socket, a command on a closed connection) as fatal.
  return (native.code !== undefined && lostConnectionCodes.has(native.code)) || native.fatal === true
}

/**
 * Classifies a failure by MySQL's error number or the network error code,
 * falling back to the structured reason of the `SqlError`.
 *
 * @internal
 */
export const classify = (cause: unknown): StorageError.StorageErrorReason => {
  const errno = errnoOf(cause)
  if (errno === packetTooLarge || errno === rowTooBig) return "ValueTooLarge"
  if (errno !== undefined && conflictCodes.has(errno)) return "Conflict"
  if (errno !== undefined && unavailableCodes.has(errno)) return "Unavailable"
  if (isConnectionLost(cause)) return "Unavailable"
  return StorageError.reasonOfSqlError(cause)
}

// The driver's own words ("Pool is closed."), not the wrapper's generic
// "Failed to execute statement".
const innermostMessage = (cause: unknown): string => {
  let message = cause instanceof Error ? cause.message : String(cause)
  let current: unknown = cause
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const record = current as { readonly reason?: unknown; readonly cause?: unknown }
    current = record.reason ?? record.cause
    if (current instanceof Error && current.message !== "") message = current.message
  }
  return message
}

/**
 * A message a person can act on: the server's own words, and for the
 * failures with a known remedy, the remedy.
 *
 * @internal
 */
export const describe = (cause: unknown): string => {
  const native = nativeError(cause)
  const errno = errnoOf(cause)
  const text = (native?.sqlMessage ?? native?.message ?? innermostMessage(cause)).replace(/\.$/, "")
  const label = native === undefined ? text : `${text} (${[native.code, errno].filter((p) => p !== undefined).join(" ")})`
  switch (errno) {
    case packetTooLarge:
      return `${label}: the statement is larger than the server's max_allowed_packet; raise max_allowed_packet on the server (and reconnect) to store larger values`
    case rowTooBig:
      return `${label}: raise innodb_redo_log_capacity (MySQL 8.0.30+) or innodb_log_file_size so that one value fits in 10% of the redo log`
    case 1044:
    case 1045:
    case 1698:
      return `${label}: check the user, password and database in the connection URL, and the user's grants`
    case 1146:
      return `${label}: the table does not exist; run the migrations (MysqlMigrator.migrate) before using the store`
    case 1142:
    case 1143:
      return `${label}: the database user lacks a privilege; the runtime role needs SELECT, INSERT, UPDATE and DELETE on the entries table and SELECT on effect_persist_migrations`
    default:
      return label
  }
}
