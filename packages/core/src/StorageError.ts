/**
 * The typed errors of effect-persist: every failure of a storage backend, of
 * the migration runner and of the schema check is one of these, never a defect.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * Why a storage operation failed, so callers can branch without parsing messages.
 *
 * - `InvalidKey`: the key or namespace is not a well-formed string (lone surrogate) or not a string.
 * - `InvalidValue`: the value is neither a well-formed string nor a `Uint8Array`, or cannot be encoded.
 * - `KeyTooLong` / `ValueTooLarge`: the input exceeds a documented limit of the backend.
 * - `Unavailable`: the database could not be reached or the connection was lost; retrying may succeed.
 * - `Conflict`: a lock or serialization conflict that outlived the backend's own retries; retrying may succeed.
 * - `Corrupt`: a stored row could not be decoded.
 * - `Unknown`: any other failure reported by the database or driver.
 *
 * @category models
 * @since 0.1.0
 */
export type StorageErrorReason =
  | "InvalidKey"
  | "InvalidValue"
  | "KeyTooLong"
  | "ValueTooLarge"
  | "Unavailable"
  | "Conflict"
  | "Corrupt"
  | "Unknown"

const retryableReasons: ReadonlySet<StorageErrorReason> = new Set(["Unavailable", "Conflict"])

/**
 * A storage operation failed.
 *
 * **Details**
 *
 * Carries the operation (`get`, `setMany`, ...), the namespace and key where
 * there is one, a message a person can act on, the classified `reason`, and
 * the underlying cause. Bad input is rejected before anything is written, so
 * an `InvalidKey`, `InvalidValue`, `KeyTooLong` or `ValueTooLarge` error
 * guarantees that nothing stored was changed.
 *
 * @category errors
 * @since 0.1.0
 */
export class StorageError extends Data.TaggedError("StorageError")<{
  readonly operation: string
  readonly reason: StorageErrorReason
  readonly message: string
  readonly namespace?: string | undefined
  readonly key?: string | undefined
  readonly cause?: unknown
}> {
  /**
   * Whether retrying the same operation later may succeed.
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return retryableReasons.has(this.reason)
  }
}

/**
 * The database schema is missing, older, or newer than this package expects.
 *
 * **Details**
 *
 * Raised at layer start-up, before any operation runs, when the tracking
 * table says the schema is not at the version this package was built for.
 * The message names the command that fixes it.
 *
 * @category errors
 * @since 0.1.0
 */
export class SchemaVersionError extends Data.TaggedError("SchemaVersionError")<{
  readonly dialect: string
  readonly table: string
  readonly expected: number
  readonly found: number
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * A migration could not be loaded, applied or verified.
 *
 * **Details**
 *
 * `reason` tells which: `Drift` when an applied migration's checksum no longer
 * matches its file, `Failed` when a statement failed (the migration's changes
 * are rolled back where the dialect allows), `Lock` when the migration lock
 * could not be taken, `Invalid` when a migration file is malformed,
 * `Unavailable` when the database could not be reached.
 *
 * @category errors
 * @since 0.1.0
 */
export class MigrationError extends Data.TaggedError("MigrationError")<{
  readonly reason: "Drift" | "Failed" | "Lock" | "Invalid" | "Unavailable"
  readonly message: string
  readonly version?: number | undefined
  readonly cause?: unknown
}> {
  /**
   * Whether running the same thing again later may succeed: the database
   * could not be reached (`Unavailable`) or another migrator held the lock
   * (`Lock`).
   *
   * @since 0.1.0
   */
  get retryable(): boolean {
    return this.reason === "Unavailable" || this.reason === "Lock"
  }
}

/**
 * A backend or layer was configured with a value it cannot use, such as a
 * table name that is not a plain SQL identifier.
 *
 * @category errors
 * @since 0.1.0
 */
export class ConfigurationError extends Data.TaggedError("ConfigurationError")<{
  readonly option: string
  readonly message: string
}> {}

/**
 * Classifies an error from an Effect SQL client by its structured reason:
 * lost connections and statement timeouts are `Unavailable`, deadlocks,
 * serialization failures and lock timeouts are `Conflict` (both retryable),
 * anything else `Unknown`. Dialect packages refine this with their driver's
 * native codes (a value over the server's packet limit, say) before falling
 * back to it.
 *
 * @category constructors
 * @since 0.1.0
 */
export const reasonOfSqlError = (cause: unknown): StorageErrorReason => {
  const tag = typeof cause === "object" && cause !== null && "reason" in cause &&
      typeof cause.reason === "object" && cause.reason !== null && "_tag" in cause.reason
    ? cause.reason._tag
    : undefined
  switch (tag) {
    case "ConnectionError":
    case "StatementTimeoutError":
      return "Unavailable"
    case "DeadlockError":
    case "SerializationError":
    case "LockTimeoutError":
      return "Conflict"
    default:
      return "Unknown"
  }
}

/**
 * Builds the `StorageError` for a failed database call, with a message that
 * says what failed and, for retryable failures, that retrying may succeed.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromDatabase = (options: {
  readonly dialect: string
  readonly operation: string
  readonly cause: unknown
  readonly reason?: StorageErrorReason | undefined
  readonly namespace?: string | undefined
  readonly key?: string | undefined
  readonly detail?: string | undefined
}): StorageError => {
  const reason = options.reason ?? reasonOfSqlError(options.cause)
  const causeMessage = options.cause instanceof Error ? options.cause.message : String(options.cause)
  const advice = reason === "Unavailable"
    ? " The database could not be reached; the operation may succeed when retried."
    : reason === "Conflict"
    ? " It conflicted with a concurrent transaction; the operation may succeed when retried."
    : ""
  return new StorageError({
    operation: options.operation,
    reason,
    message: `${options.dialect} ${options.operation} failed${
      options.key === undefined ? "" : ` for key ${JSON.stringify(options.key.length > 40 ? `${options.key.slice(0, 40)}…` : options.key)}`
    }: ${options.detail ?? causeMessage}.${advice}`,
    namespace: options.namespace,
    key: options.key,
    cause: options.cause
  })
}
