/**
 * What a law is and what it gets to work with. Each law is one vitest `it`;
 * the suite runs it against the backend under test with a context that hands
 * out namespaces nobody else uses, clears them before first use and again
 * when the law ends, whatever the outcome.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { StorageBackend } from "@effect-persist/core"
import type { StorageError } from "@effect-persist/core/StorageError"

/**
 * Suite options with every default filled in.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export interface ResolvedOptions {
  readonly realClock: boolean
  readonly largeValueBytes: number
  readonly modifyConcurrency: number
  readonly modelRuns: number
  readonly interleaveRounds: number
}

/**
 * @internal
 * @category models
 * @since 0.1.0
 */
export interface LawContext {
  readonly backend: StorageBackend.StorageBackend
  /**
   * A second store on the same database, to read back what the first one
   * acknowledged: the backend's layer built again when the backend is
   * durable (another connection or pool), the same backend otherwise.
   */
  readonly reopen: Effect.Effect<StorageBackend.StorageBackend, unknown, Scope.Scope>
  /**
   * Runs an effect inside a transaction of the application's own, on the
   * database the backend uses, when the suite was given one
   * (`SuiteOptions.ambientTransaction`): the transaction commits when the
   * effect succeeds and rolls back when it fails.
   */
  readonly ambientTransaction?: (<A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, unknown>) | undefined
  /** The backend as a layer, for laws that go through Effect's services. */
  readonly backendLayer: Layer.Layer<StorageBackend.StorageBackend>
  readonly options: ResolvedOptions
  /**
   * A backend namespace unique to this law (and this run of the suite). The
   * same label gives the same namespace; labels are appended verbatim, so
   * labels differing only by case or a trailing space give namespaces that
   * differ only by that.
   */
  readonly namespace: (label?: string) => Effect.Effect<string, StorageError>
  /** A `KeyValueStore` name unique to this law; its namespace is cleared like `namespace`'s. */
  readonly keyValueStoreName: (label?: string) => Effect.Effect<string, StorageError>
  /** A persistence store id unique to this law; its namespace is cleared like `namespace`'s. */
  readonly persistenceStoreId: (label?: string) => Effect.Effect<string, StorageError>
}

/**
 * One law: a name a person can read in a test report, which clock it runs
 * on, and the check itself. Assertions throw (vitest `expect`); anything left
 * in the error channel fails the law too.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export interface Law {
  readonly name: string
  /**
   * `live` (the default): the real clock. `test`: a fresh `TestClock`, set
   * to the wall-clock time when the law starts, for laws about expiry. Only
   * laws that move time run on it: a backend that sleeps internally (a
   * retry back-off, a pool wait) would wait forever on a clock nobody moves.
   */
  readonly clock?: "test" | "live" | undefined
  /** vitest timeout in milliseconds, for the few heavy laws. */
  readonly timeout?: number | undefined
  /** Registered but skipped when this returns a reason (an option turned the law off). */
  readonly skipWhen?: ((options: ResolvedOptions) => string | undefined) | undefined
  readonly run: (context: LawContext) => Effect.Effect<void, unknown, Scope.Scope>
}

/**
 * @internal
 * @category constructors
 * @since 0.1.0
 */
export const law = (
  name: string,
  run: Law["run"],
  extra?: Omit<Law, "name" | "run">
): Law => ({ name, run, ...extra })

/**
 * A law on the `TestClock`.
 *
 * @internal
 * @category constructors
 * @since 0.1.0
 */
export const timedLaw = (
  name: string,
  run: Law["run"],
  extra?: Omit<Law, "name" | "run" | "clock">
): Law => ({ name, run, ...extra, clock: "test" })
