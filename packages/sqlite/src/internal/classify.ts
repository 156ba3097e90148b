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
