import { StorageError } from "@effect-persist/core"

/**
 * Classifies a failure of node:sqlite through @effect/sql-sqlite-node: the
 * client keeps SQLite's primary result code in `errcode`/`errno`.
 *
 * @internal
 */
export const classify = (cause: unknown): StorageError.StorageErrorReason => {
  const code = nativeCode(cause)
  switch (code === undefined ? undefined : code & 0xff) {
    case 5: // SQLITE_BUSY
    case 6: // SQLITE_LOCKED
      return "Conflict"
    case 18: // SQLITE_TOOBIG
      return "ValueTooLarge"
    case 10: // SQLITE_IOERR
    case 13: // SQLITE_FULL
    case 14: // SQLITE_CANTOPEN
      return "Unavailable"
    case 11: // SQLITE_CORRUPT
    case 26: // SQLITE_NOTADB
      return "Corrupt"
    default:
      return StorageError.reasonOfSqlError(cause)
  }
}

/**
 * Whether a failure is SQLITE_BUSY or SQLITE_LOCKED: another connection
 * holds the lock, nothing was done, and the statement may be run again.
 *
 * @internal
 */
export const isBusy = (cause: unknown): boolean => {
  const code = nativeCode(cause)
  return code !== undefined && ((code & 0xff) === 5 || (code & 0xff) === 6)
}

const nativeCode = (cause: unknown): number | undefined => {
  let current: unknown = cause
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    const record = current as { errcode?: unknown; errno?: unknown; cause?: unknown; reason?: unknown }
    if (typeof record.errcode === "number") return record.errcode
    if (typeof record.errno === "number") return record.errno
    current = record.reason ?? record.cause
  }
  return undefined
}

/**
 * SQLite's own message for a failure ("database is locked", "no such table:
 * x"), found under the client's generic "Failed to execute statement", with
 * the extended result code when there is one.
 *
 * @internal
 */
export const detail = (cause: unknown): string | undefined => {
  let current: unknown = cause
  let message: string | undefined
  let code: number | undefined
  for (let depth = 0; depth < 6 && typeof current === "object" && current !== null; depth++) {
    const record = current as { message?: unknown; errcode?: unknown; errno?: unknown; cause?: unknown; reason?: unknown }
    if (typeof record.message === "string" && record.message !== "") message = record.message
    if (code === undefined && typeof record.errcode === "number") code = record.errcode
    current = record.reason ?? record.cause
  }
  if (message === undefined) return undefined
  return code === undefined ? message : `${message} (SQLite code ${code})`
}
