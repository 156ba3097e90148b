/**
 * Classification of the errors a Kysely driver rejects with, one function per
 * database family: PostgreSQL errors carry a SQLSTATE `code` (node-postgres,
 * postgres.js), MySQL errors an `errno` (mysql2), SQLite errors a numeric
 * `errcode` (node:sqlite) or a `SQLITE_*` `code` (better-sqlite3). Network
 * failures carry a Node `code` such as `ECONNRESET`.
 *
 * @internal
 */
import type { StorageError } from "@effect-persist/core"
import type { Name } from "./dialect.ts"

/** @internal */
export interface Diagnosis {
  readonly reason: StorageError.StorageErrorReason
  /** The connection was lost (or never made): a statement that cannot apply twice may be retried on another. */
  readonly connectionLost: boolean
  /** The database's own words with its code, and a remedy where there is one. */
  readonly detail: string
  /** MySQL's error number, when the server answered with one. */
  readonly errno?: number | undefined
}

type Fields = Record<string, unknown>

const fieldsOf = (value: unknown): Fields | undefined =>
  typeof value === "object" && value !== null ? value as Fields : undefined

/** The first error along `cause` links that satisfies `test`. */
const find = (cause: unknown, test: (fields: Fields) => boolean): Fields | undefined => {
  let current: unknown = cause
  for (let depth = 0; depth < 5; depth++) {
    const fields = fieldsOf(current)
    if (fields === undefined) return undefined
    if (test(fields)) return fields
    current = fields.cause
  }
  return undefined
}

const messageOf = (cause: unknown): string => {
  const fields = fieldsOf(cause)
  if (fields !== undefined && typeof fields.message === "string" && fields.message !== "") return fields.message
  return String(cause)
}

const networkCodes: ReadonlySet<string> = new Set([
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

const networkCode = (cause: unknown): string | undefined => {
  const fields = find(cause, (f) => typeof f.code === "string" && networkCodes.has(f.code))
  return fields?.code as string | undefined
}

const destroyed = /driver has already been destroyed/i

const kyselyDestroyed = (cause: unknown): Diagnosis | undefined =>
  destroyed.test(messageOf(cause))
    ? {
      reason: "Unavailable",
      connectionLost: false,
      detail: "the Kysely instance was destroyed (db.destroy()) before this operation; keep it open while the store is in use"
    }
    : undefined

// --- PostgreSQL ---------------------------------------------------------------

const sqlstate = /^[0-9A-Z]{5}$/
const pgLost = /connection terminated|connection error|not queryable|client was closed|cannot use a pool after calling end|timeout exceeded when trying to connect/i
const tooLongForString = /invalid string length|cannot create a string longer/i

const diagnosePg = (cause: unknown): Diagnosis => {
  const native = find(cause, (f) => typeof f.code === "string" && sqlstate.test(f.code))
  const code = native?.code as string | undefined
  const message = native !== undefined ? messageOf(native) : messageOf(cause)
  const network = networkCode(cause)
  const lost = network !== undefined || pgLost.test(message) ||
    (code !== undefined && (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03"))
  if (code === undefined) {
    if (tooLongForString.test(message)) {
      return {
        reason: "ValueTooLarge",
        connectionLost: false,
        detail:
          `${message}: a stored value is larger than the PostgreSQL client can read back as one JavaScript string (node-postgres reads bytea as hexadecimal text); it was written by a client with a higher limit`
      }
    }
    return {
      reason: lost ? "Unavailable" : "Unknown",
      connectionLost: lost,
      detail: network === undefined ? message : `${message} (${network})`
    }
  }
  const text = `${message} (SQLSTATE ${code})`
  const reason: StorageError.StorageErrorReason =
    code.startsWith("08") || code.startsWith("53") || code === "57P01" || code === "57P02" ||
      code === "57P03" || code === "57014"
      ? "Unavailable"
      : code === "40001" || code === "40P01" || code === "55P03"
      ? "Conflict"
      // program_limit_exceeded: an index row (the key) or a value over a server limit.
      : code === "54000"
      ? /index row/i.test(message) ? "KeyTooLong" : "ValueTooLarge"
      : code === "XX001" || code === "XX002"
      ? "Corrupt"
      : "Unknown"
  const detail = code === "42P01"
    ? `${text}; the table is missing: run KyselyMigrator.migrate(db) (or effect-persist migrate) for this table`
    : code === "42501"
    ? `${text}; grant the role SELECT, INSERT, UPDATE and DELETE on the entries table and SELECT on effect_persist_migrations`
    : text
  return { reason, connectionLost: lost, detail }
}

// --- MySQL / MariaDB ------------------------------------------------------------

/** ER_NET_PACKET_TOO_LARGE: a statement over the server's `max_allowed_packet`. */
const packetTooLarge = 1153
/** ER_TOO_BIG_ROWSIZE, also raised by MySQL 8 for BLOB data over 10% of the redo log. */
const rowTooBig = 1118

const mysqlUnavailable: ReadonlySet<number> = new Set([
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

const mysqlLost: ReadonlySet<number> = new Set([1053, 1158, 1159, 1160, 1161, 1927, 2006, 2013, 4031])

const mysqlConflict: ReadonlySet<number> = new Set([
  1205, // ER_LOCK_WAIT_TIMEOUT
  1213, // ER_LOCK_DEADLOCK
  3572 // ER_LOCK_NOWAIT
])

const diagnoseMysql = (cause: unknown): Diagnosis => {
  const native = find(cause, (f) =>
    (typeof f.errno === "number" && f.errno > 0) || typeof f.sqlMessage === "string" || typeof f.fatal === "boolean"
  )
  const errno = typeof native?.errno === "number" && native.errno > 0 ? native.errno : undefined
  const code = typeof native?.code === "string" ? native.code : networkCode(cause)
  const message = typeof native?.sqlMessage === "string" ? native.sqlMessage : messageOf(native ?? cause)
  const lost = errno !== packetTooLarge &&
    ((errno !== undefined && mysqlLost.has(errno)) || (code !== undefined && networkCodes.has(code)) ||
      native?.fatal === true)
  const reason: StorageError.StorageErrorReason = errno === packetTooLarge || errno === rowTooBig
    ? "ValueTooLarge"
    : errno !== undefined && mysqlConflict.has(errno)
    ? "Conflict"
    : (errno !== undefined && mysqlUnavailable.has(errno)) || lost
    ? "Unavailable"
    : "Unknown"
  const codes = [code, errno].filter((part) => part !== undefined).join(" ")
  const label = codes === "" ? message : `${message} (${codes})`
  const detail = errno === packetTooLarge
    ? `${label}: the statement is larger than the server's max_allowed_packet; raise max_allowed_packet on the server (and reconnect) to store larger values`
    : errno === rowTooBig
    ? `${label}: raise innodb_redo_log_capacity (MySQL 8.0.30+) or innodb_log_file_size so that one value fits in 10% of the redo log`
    : errno === 1146
    ? `${label}: the table does not exist; run KyselyMigrator.migrate(db) (or effect-persist migrate) before using the store`
    : errno === 1142 || errno === 1143
    ? `${label}: the database user lacks a privilege; the runtime role needs SELECT, INSERT, UPDATE and DELETE on the entries table and SELECT on effect_persist_migrations`
    : label
  return { reason, connectionLost: lost, detail, errno }
}

// --- SQLite ---------------------------------------------------------------------

const sqlitePrimary: Readonly<Record<number, readonly [StorageError.StorageErrorReason, string]>> = {
  5: ["Conflict", "SQLITE_BUSY"],
  6: ["Conflict", "SQLITE_LOCKED"],
  10: ["Unavailable", "SQLITE_IOERR"],
  11: ["Corrupt", "SQLITE_CORRUPT"],
  13: ["Unavailable", "SQLITE_FULL"],
  14: ["Unavailable", "SQLITE_CANTOPEN"],
  18: ["ValueTooLarge", "SQLITE_TOOBIG"],
  26: ["Corrupt", "SQLITE_NOTADB"]
}

const sqliteNames: ReadonlyArray<readonly [string, StorageError.StorageErrorReason]> = [
  ["SQLITE_BUSY", "Conflict"],
  ["SQLITE_LOCKED", "Conflict"],
  ["SQLITE_IOERR", "Unavailable"],
  ["SQLITE_CORRUPT", "Corrupt"],
  ["SQLITE_FULL", "Unavailable"],
  ["SQLITE_CANTOPEN", "Unavailable"],
  ["SQLITE_TOOBIG", "ValueTooLarge"],
  ["SQLITE_NOTADB", "Corrupt"]
]

const diagnoseSqlite = (cause: unknown): Diagnosis => {
  const native = find(cause, (f) =>
    typeof f.errcode === "number" || (typeof f.code === "string" && f.code.startsWith("SQLITE_"))
  )
  const message = messageOf(native ?? cause)
  let reason: StorageError.StorageErrorReason = "Unknown"
  let label: string | undefined
  if (typeof native?.errcode === "number") {
    const known = sqlitePrimary[native.errcode & 0xff]
    if (known !== undefined) [reason, label] = known
    label = label ?? `SQLite result code ${native.errcode}`
  } else if (typeof native?.code === "string") {
    label = native.code
    reason = sqliteNames.find(([prefix]) => native.code === prefix || (native.code as string).startsWith(`${prefix}_`))?.[1] ??
      "Unknown"
  } else if (/database is not open|database connection is not open/i.test(message)) {
    reason = "Unavailable"
  }
  const text = label === undefined ? message : `${message} (${label})`
  const detail = /no such table/i.test(message)
    ? `${text}; the table is missing: run KyselyMigrator.migrate(db) (or effect-persist migrate) for this table`
    : reason === "Conflict"
    ? `${text}; another connection or process held the database's write lock for longer than the busy timeout`
    : text
  return { reason, connectionLost: false, detail }
}

/**
 * Classifies a driver's failure for the database family it came from.
 *
 * @internal
 */
export const diagnose = (dialect: Name, cause: unknown): Diagnosis =>
  kyselyDestroyed(cause) ??
    (dialect === "pg" ? diagnosePg(cause) : dialect === "mysql" ? diagnoseMysql(cause) : diagnoseSqlite(cause))
