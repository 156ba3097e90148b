/**
 * effect-persist's core: the storage contract a backend implements, Effect's
 * `KeyValueStore`, `BackingPersistence` and `Persistence` derived from it, the
 * in-memory reference backend, the migration runner, and the typed errors.
 *
 * @since 0.1.0
 */

/**
 * Byte-level key helpers for SQL backends.
 *
 * @since 0.1.0
 */
export * as KeyCodec from "./KeyCodec.ts"

/**
 * The in-memory reference backend.
 *
 * @since 0.1.0
 */
export * as MemoryBackend from "./MemoryBackend.ts"

/**
 * The migration runner.
 *
 * @since 0.1.0
 */
export * as Migrator from "./Migrator.ts"

/**
 * Derivation of Effect's `KeyValueStore`, `BackingPersistence` and `Persistence`.
 *
 * @since 0.1.0
 */
export * as Services from "./Services.ts"

/**
 * The storage contract.
 *
 * @since 0.1.0
 */
export * as StorageBackend from "./StorageBackend.ts"

/**
 * Typed errors.
 *
 * @since 0.1.0
 */
export * as StorageError from "./StorageError.ts"
