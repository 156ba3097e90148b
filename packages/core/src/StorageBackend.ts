/**
 * The storage contract: the one small interface a backend implements. Effect's
 * `KeyValueStore`, `BackingPersistence` and `Persistence` services are all
 * derived from it (see `Services`), so every backend, ours or a user's, gets
 * the same services and answers to the same conformance laws.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Request from "effect/Request"
import * as RequestResolver from "effect/RequestResolver"
import * as KeyCodec from "./KeyCodec.ts"
import { StorageError } from "./StorageError.ts"

/**
 * A stored value. Which of the two kinds was written is preserved: a string
 * is read back as a string, a `Uint8Array` as a `Uint8Array`.
 *
 * @category models
 * @since 0.1.0
 */
export type Value = string | Uint8Array

/**
 * One entry of a `setMany` batch. `expiresAt` is an instant in epoch
 * milliseconds; an entry is never returned at or after it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Entry {
  readonly key: string
  readonly value: Value
  readonly expiresAt?: number | undefined
}

/**
 * What a backend can and cannot do. The conformance suite reads these instead
 * of guessing, and a law that needs a missing capability is reported as
 * declared missing, never silently skipped.
 *
 * @category models
 * @since 0.1.0
 */
export interface Capabilities {
  /**
   * Largest key (and namespace) the backend stores, in UTF-8 bytes. Longer
   * ones fail with a `KeyTooLong` error naming this limit.
   * @default Infinity
   */
  readonly maxKeyBytes: number
  /**
   * Largest value the backend stores, in bytes (UTF-8 bytes for strings).
   * Larger ones fail with a `ValueTooLarge` error naming this limit.
   * @default Infinity
   */
  readonly maxValueBytes: number
  /**
   * Whether keys and namespaces may contain U+0000. When `false`, such keys
   * fail with an `InvalidKey` error.
   * @default true
   */
  readonly nulInKeys: boolean
  /**
   * Whether `modify` is atomic: concurrent modifies of one key never lose an update.
   * @default true
   */
  readonly atomicModify: boolean
  /**
   * Whether entries outlive the backend instance and are visible to another
   * process opening the same database.
   * @default false
   */
  readonly durable: boolean
}

/**
 * The capabilities a backend has unless it says otherwise. New capabilities
 * get a default here, so adding one never breaks an existing backend.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultCapabilities: Capabilities = {
  maxKeyBytes: Number.POSITIVE_INFINITY,
  maxValueBytes: Number.POSITIVE_INFINITY,
  nulInKeys: true,
  atomicModify: true,
  durable: false
}

/**
 * Options of `sweep`.
 *
 * @category models
 * @since 0.1.0
 */
export interface SweepOptions {
  /**
   * Rows deleted per statement, so that a large sweep never holds locks for long.
   * @default 1000
   */
  readonly batchSize?: number | undefined
  /**
   * Called after each batch with the number of rows deleted so far.
   */
  readonly onProgress?: ((deleted: number) => void) | undefined
  /**
   * The share of the time a sweep spends deleting, above 0 and at most 1,
   * counted from the sweep's start: whenever its batches have taken more
   * than this share, it pauses until they are back to it, so that a large
   * sweep leaves the rest to the application (on SQLite the thread it
   * shares with the whole program, on a server the CPU and I/O it shares
   * with every client). At the default, a batch that took 20 ms is followed
   * by a 20 ms pause. A sweep never holds the thread for more than
   * `sweepTurnMillis` at a time, whatever its share: behind its share, it
   * runs batches back to back for that long, then lets every waiting fiber
   * run first. `1` sweeps flat out in such turns. Backends that delete
   * everything in one step ignore it.
   * @default 0.5
   */
  readonly share?: number | undefined
}

/**
 * The storage contract. Every operation is scoped to a namespace (a
 * `KeyValueStore` name, a persistence store id).
 *
 * **Details**
 *
 * Implementations may assume their inputs were validated by `make`: keys,
 * prefixes and namespaces are well-formed strings within
 * `capabilities.maxKeyBytes`, values are well-formed strings or `Uint8Array`s
 * within `capabilities.maxValueBytes`, `setMany` batches are non-empty and
 * free of repeated keys, and `getMany` is never called with no keys.
 *
 * Expired entries (at or after `expiresAt`, measured with Effect's `Clock`)
 * must never be returned, counted or listed.
 *
 * @category models
 * @since 0.1.0
 */
export interface StorageBackend {
  /** The database family, for messages and reports: `memory`, `sqlite`, `pg`, ... */
  readonly dialect: string
  readonly capabilities: Capabilities
  readonly get: (namespace: string, key: string) => Effect.Effect<Value | undefined, StorageError>
  /** One round trip; results in input order, `undefined` for missing keys. */
  readonly getMany: (
    namespace: string,
    keys: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<Value | undefined>, StorageError>
  /** Inserts or replaces; `expiresAt` (epoch ms) is cleared when omitted. */
  readonly set: (
    namespace: string,
    key: string,
    value: Value,
    expiresAt?: number | undefined
  ) => Effect.Effect<void, StorageError>
  /** One logical batch, all or nothing, chunked internally under the driver's limits. */
  readonly setMany: (namespace: string, entries: ReadonlyArray<Entry>) => Effect.Effect<void, StorageError>
  readonly remove: (namespace: string, key: string) => Effect.Effect<void, StorageError>
  readonly clear: (namespace: string) => Effect.Effect<void, StorageError>
  readonly clearPrefix: (namespace: string, prefix: string) => Effect.Effect<void, StorageError>
  /** Live keys of the namespace, optionally under a prefix; order unspecified. */
  readonly keys: (namespace: string, prefix?: string) => Effect.Effect<ReadonlyArray<string>, StorageError>
  readonly size: (namespace: string, prefix?: string) => Effect.Effect<number, StorageError>
  /**
   * Atomically replaces a live entry's value with the result of `f`, keeping
   * its expiry; returns the new value, or `undefined` (calling nothing) when
   * the key is absent. When `f` fails, nothing is changed.
   */
  readonly modify: (
    namespace: string,
    key: string,
    f: (current: Value) => Effect.Effect<Value, StorageError>
  ) => Effect.Effect<Value | undefined, StorageError>
  /** Deletes expired entries of every namespace in bounded batches; returns how many. */
  readonly sweep: (options?: SweepOptions) => Effect.Effect<number, StorageError>
}

/**
 * Service holding the backend the derived services run on.
 *
 * @category services
 * @since 0.1.0
 */
export const StorageBackend: Context.Service<StorageBackend, StorageBackend> = Context.Service<StorageBackend>(
  "@effect-persist/core/StorageBackend"
)

/**
 * What a backend author writes: the operations, with capabilities that
 * default to `defaultCapabilities`.
 *
 * @category models
 * @since 0.1.0
 */
export interface MakeOptions extends Omit<StorageBackend, "capabilities"> {
  readonly capabilities?: Partial<Capabilities> | undefined
  /**
   * Coalesce concurrent `get`s into `getMany` calls: one round trip instead of
   * one per caller. A `get` issued while no other `get` of this backend is in
   * flight goes straight to the backend's `get`, so a lone caller never waits
   * for a batch; `get`s of one namespace issued while another is in flight are
   * collected in the same tick into one `getMany`.
   * @default true
   */
  readonly coalesceGets?: boolean | undefined
  /**
   * Whether a `get` of this fiber may share a `getMany` with other fibers'
   * gets. A batch runs on one connection, in one fiber's context: a backend
   * whose calls join a transaction found in the caller's context (the
   * application's own) answers `false` for a fiber inside one, whose read
   * then goes alone, in its transaction, and never carries others' reads
   * into it or its own out of it.
   * @default every fiber may
   */
  readonly coalesces?: ((fiber: Fiber.Fiber<unknown, unknown>) => boolean) | undefined
}

interface GetRequest extends Request.Request<Value | undefined, StorageError> {
  readonly namespace: string
  readonly key: string
}
const GetRequest = Request.of<GetRequest>()

const coalescingResolver = (
  options: MakeOptions,
  track: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
) =>
  RequestResolver.makeGrouped<GetRequest, string>({
    key: (entry) => entry.request.namespace,
    resolver: (entries, namespace) => {
      if (entries.length === 1) {
        const entry = entries[0]
        return Effect.map(Effect.exit(track(options.get(namespace, entry.request.key))), (exit) =>
          entry.completeUnsafe(exit))
      }
      const positions = new Map<string, number>()
      const keys: Array<string> = []
      for (const entry of entries) {
        if (!positions.has(entry.request.key)) {
          positions.set(entry.request.key, keys.length)
          keys.push(entry.request.key)
        }
      }
      return Effect.map(Effect.exit(track(options.getMany(namespace, keys))), (exit) => {
        for (const entry of entries) {
          entry.completeUnsafe(
            Exit.isSuccess(exit) ? Exit.succeed(exit.value[positions.get(entry.request.key)!]) : Exit.failCause(exit.cause)
          )
        }
      })
    }
  })

const fail = (
  operation: string,
  reason: StorageError["reason"],
  message: string,
  namespace: string | undefined,
  key?: string
): Effect.Effect<never, StorageError> => Effect.fail(new StorageError({ operation, reason, message, namespace, key }))

const describe = (text: string): string => {
  const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text
  return JSON.stringify(shown)
}

/**
 * Builds a backend from its operations, adding the input validation every
 * backend needs so that implementations never see bad input.
 *
 * **Details**
 *
 * Before an operation reaches the implementation, `make` checks that keys,
 * prefixes and namespaces are well-formed strings (a lone surrogate would be
 * stored as U+FFFD under another key), within `maxKeyBytes`, and free of NUL
 * when the backend cannot store it; that values are well-formed strings or
 * `Uint8Array`s within `maxValueBytes`; and that expiry instants are finite.
 * It normalises batches: an empty `getMany`/`setMany` never reaches the
 * backend, and a key repeated in one `setMany` keeps its last value.
 * A failed check is a `StorageError` and nothing is written.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: MakeOptions): StorageBackend => {
  const capabilities: Capabilities = { ...defaultCapabilities, ...options.capabilities }
  const { maxKeyBytes, maxValueBytes, nulInKeys } = capabilities
  // Gets of this backend whose round trip has started and not ended. Only
  // while one is pending is there anything to gain by waiting for company:
  // a lone get skips the batching machinery (two fibers and a scheduler hop).
  let inFlight = 0
  const release = Effect.sync(() => {
    inFlight--
  })
  const track = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      inFlight++
      return Effect.ensuring(effect, release)
    })
  const resolver = options.coalesceGets === false ? undefined : coalescingResolver(options, track)
  const getOne = resolver === undefined
    ? options.get
    : (namespace: string, key: string) =>
      Effect.withFiber((fiber) =>
        inFlight === 0 || (options.coalesces !== undefined && !options.coalesces(fiber))
          ? track(options.get(namespace, key))
          : Effect.request(GetRequest({ namespace, key }), resolver)
      )

  const checkText = (
    operation: string,
    what: "key" | "prefix" | "namespace",
    text: unknown,
    namespace: string | undefined
  ): Effect.Effect<never, StorageError> | undefined => {
    const key = what === "namespace" ? undefined : typeof text === "string" ? text : undefined
    if (typeof text !== "string") {
      return fail(operation, "InvalidKey", `The ${what} must be a string, got ${typeof text}.`, namespace, key)
    }
    if (!text.isWellFormed()) {
      return fail(
        operation,
        "InvalidKey",
        `The ${what} ${describe(text)} contains a lone UTF-16 surrogate; it has no exact UTF-8 form and would be stored under another ${what}. Pass a well-formed string (see String.prototype.toWellFormed).`,
        namespace,
        key
      )
    }
    if (!nulInKeys && text.includes("\u0000")) {
      return fail(
        operation,
        "InvalidKey",
        `The ${what} ${describe(text)} contains U+0000 (NUL), which the ${options.dialect} backend cannot store.`,
        namespace,
        key
      )
    }
    if (text.length > maxKeyBytes / 3 && KeyCodec.utf8Length(text) > maxKeyBytes) {
      return fail(
        operation,
        "KeyTooLong",
        `The ${what} ${describe(text)} is ${KeyCodec.utf8Length(text)} bytes of UTF-8; the ${options.dialect} backend's limit is ${maxKeyBytes} bytes.`,
        namespace,
        key
      )
    }
    return undefined
  }

  const checkValue = (
    operation: string,
    namespace: string,
    key: string,
    value: unknown
  ): Effect.Effect<never, StorageError> | undefined => {
    if (typeof value === "string") {
      if (!value.isWellFormed()) {
        return fail(
          operation,
          "InvalidValue",
          `The value for key ${describe(key)} contains a lone UTF-16 surrogate and cannot be stored exactly; pass a well-formed string or a Uint8Array.`,
          namespace,
          key
        )
      }
      if (value.length > maxValueBytes / 3 && KeyCodec.utf8Length(value) > maxValueBytes) {
        return fail(
          operation,
          "ValueTooLarge",
          `The value for key ${describe(key)} is ${KeyCodec.utf8Length(value)} bytes; the ${options.dialect} backend's limit is ${maxValueBytes} bytes.`,
          namespace,
          key
        )
      }
      return undefined
    }
    if (value instanceof Uint8Array) {
      if (value.byteLength > maxValueBytes) {
        return fail(
          operation,
          "ValueTooLarge",
          `The value for key ${describe(key)} is ${value.byteLength} bytes; the ${options.dialect} backend's limit is ${maxValueBytes} bytes.`,
          namespace,
          key
        )
      }
      return undefined
    }
    return fail(
      operation,
      "InvalidValue",
      `The value for key ${describe(key)} must be a string or a Uint8Array, got ${value === null ? "null" : typeof value}.`,
      namespace,
      key
    )
  }

  const checkExpiry = (
    operation: string,
    namespace: string,
    key: string,
    expiresAt: unknown
  ): Effect.Effect<never, StorageError> | undefined =>
    expiresAt === undefined || (typeof expiresAt === "number" && Number.isFinite(expiresAt))
      ? undefined
      : fail(
        operation,
        "InvalidValue",
        `The expiry of key ${describe(key)} must be a finite epoch-milliseconds number, got ${String(expiresAt)}.`,
        namespace,
        key
      )

  const checkKeys = (operation: string, namespace: string, keys: ReadonlyArray<string>) => {
    for (const key of keys) {
      const error = checkText(operation, "key", key, namespace)
      if (error) return error
    }
    return undefined
  }

  const normaliseValue = (value: Value): Value =>
    typeof value === "string" || value.constructor === Uint8Array
      ? value
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength)

  return {
    dialect: options.dialect,
    capabilities,
    get: (namespace, key) =>
      checkText("get", "namespace", namespace, namespace) ?? checkText("get", "key", key, namespace) ??
        getOne(namespace, key),
    getMany: (namespace, keys) => {
      if (!Array.isArray(keys)) {
        return fail("getMany", "InvalidKey", "getMany expects an array of keys.", namespace)
      }
      return checkText("getMany", "namespace", namespace, namespace) ?? checkKeys("getMany", namespace, keys) ??
        (keys.length === 0 ? Effect.succeed([]) : options.getMany(namespace, keys))
    },
    set: (namespace, key, value, expiresAt) =>
      checkText("set", "namespace", namespace, namespace) ?? checkText("set", "key", key, namespace) ??
        checkValue("set", namespace, key, value) ?? checkExpiry("set", namespace, key, expiresAt) ??
        options.set(namespace, key, normaliseValue(value), expiresAt),
    setMany: (namespace, entries) => {
      if (!Array.isArray(entries)) {
        return fail("setMany", "InvalidValue", "setMany expects an array of entries.", namespace)
      }
      const namespaceError = checkText("setMany", "namespace", namespace, namespace)
      if (namespaceError) return namespaceError
      // Last write wins for a repeated key: keep each key's final entry, in first-seen order.
      const byKey = new Map<string, Entry>()
      for (const entry of entries) {
        const error = checkText("setMany", "key", entry?.key, namespace) ??
          checkValue("setMany", namespace, entry.key, entry.value) ??
          checkExpiry("setMany", namespace, entry.key, entry.expiresAt)
        if (error) return error
        byKey.set(entry.key, { key: entry.key, value: normaliseValue(entry.value), expiresAt: entry.expiresAt })
      }
      return byKey.size === 0 ? Effect.void : options.setMany(namespace, Array.from(byKey.values()))
    },
    remove: (namespace, key) =>
      checkText("remove", "namespace", namespace, namespace) ?? checkText("remove", "key", key, namespace) ??
        options.remove(namespace, key),
    clear: (namespace) => checkText("clear", "namespace", namespace, namespace) ?? options.clear(namespace),
    clearPrefix: (namespace, prefix) =>
      checkText("clearPrefix", "namespace", namespace, namespace) ??
        checkText("clearPrefix", "prefix", prefix, namespace) ??
        (prefix === "" ? options.clear(namespace) : options.clearPrefix(namespace, prefix)),
    keys: (namespace, prefix) =>
      checkText("keys", "namespace", namespace, namespace) ??
        (prefix === undefined ? undefined : checkText("keys", "prefix", prefix, namespace)) ??
        options.keys(namespace, prefix === "" ? undefined : prefix),
    size: (namespace, prefix) =>
      checkText("size", "namespace", namespace, namespace) ??
        (prefix === undefined ? undefined : checkText("size", "prefix", prefix, namespace)) ??
        options.size(namespace, prefix === "" ? undefined : prefix),
    modify: (namespace, key, f) =>
      checkText("modify", "namespace", namespace, namespace) ?? checkText("modify", "key", key, namespace) ??
        options.modify(namespace, key, (current) =>
          Effect.flatMap(f(current), (next) =>
            checkValue("modify", namespace, key, next) ?? Effect.succeed(normaliseValue(next)))),
    sweep: (sweepOptions) => {
      const batchSize = sweepOptions?.batchSize
      if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize > 0)) {
        return fail("sweep", "InvalidValue", `sweep's batchSize must be a positive integer, got ${batchSize}.`, undefined)
      }
      const share = sweepOptions?.share
      if (share !== undefined && !(typeof share === "number" && share > 0 && share <= 1)) {
        return fail(
          "sweep",
          "InvalidValue",
          `sweep's share must be a number above 0 and at most 1 (the share of the time spent deleting), got ${
            String(share)
          }.`,
          undefined
        )
      }
      return options.sweep(sweepOptions)
    }
  }
}

/**
 * Runs a user's `modify` function as an Effect, turning a throw into a typed
 * error so that a failing function changes nothing and never becomes a defect.
 *
 * @category constructors
 * @since 0.1.0
 */
export const tryModify = <A extends Value, B extends Value>(
  namespace: string,
  key: string,
  f: (current: A) => B
) =>
(current: A): Effect.Effect<B, StorageError> =>
  Effect.try({
    try: () => f(current),
    catch: (cause) =>
      new StorageError({
        operation: "modify",
        reason: "InvalidValue",
        message: `The modify function for key ${describe(key)} threw: ${
          cause instanceof Error ? cause.message : String(cause)
        }. Nothing was changed.`,
        namespace,
        key,
        cause
      })
  })

/**
 * The share of the time a sweep spends deleting when the caller does not say
 * (`SweepOptions.share`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultSweepShare = 0.5

/**
 * The longest a sweep runs batches back to back before it lets every other
 * waiting fiber run (`SweepOptions.share`), in milliseconds: on SQLite, whose
 * statements hold the thread, the longest a sweep holds up the program.
 *
 * @category constructors
 * @since 0.1.0
 */
export const sweepTurnMillis = 25

// On the real clock, not Effect's Clock: the pause makes room for real work,
// and a TestClock that never advances must not hold a sweep up.
const pause = (millis: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })

/**
 * Runs a sweep one bounded batch at a time: the loop of every backend that
 * deletes expired entries in batches.
 *
 * **Details**
 *
 * `deleteBatch(batchSize)` deletes at most `batchSize` expired entries and
 * returns how many it deleted, or, for a backend that first looks the batch
 * up and then deletes it, how many it deleted of how many it examined. The
 * sweep ends with the first batch that examined fewer than `batchSize`
 * (entries that expire meanwhile are left for the next sweep). After each
 * batch `onProgress` hears the running total. The time the batches took is
 * kept to the sweep's `share` of the time since it started, on the real
 * clock: ahead of it, the sweep pauses; behind it, the next batch follows at
 * once, until the sweep has run for `sweepTurnMillis`, when it lets the
 * fibers waiting for the thread run first. Turns of several batches are what
 * let a sweep on a busy single thread (SQLite) make progress: a fiber that
 * gives way after each batch gets one batch in per round of every other
 * fiber.
 *
 * @example
 * ```ts
 * import { StorageBackend } from "@effect-persist/core"
 * import { Effect } from "effect"
 *
 * let expired = 2500
 * const deleteBatch = (batchSize: number) =>
 *   Effect.sync(() => {
 *     const deleted = Math.min(batchSize, expired)
 *     expired -= deleted
 *     return deleted
 *   })
 * const total = await Effect.runPromise(StorageBackend.sweepInBatches({ batchSize: 1000 }, deleteBatch))
 * console.log(total) // 2500, in batches of 1000, 1000 and 500
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const sweepInBatches = <E, R>(
  options: SweepOptions | undefined,
  deleteBatch: (
    batchSize: number
  ) => Effect.Effect<number | { readonly deleted: number; readonly examined: number }, E, R>
): Effect.Effect<number, E, R> =>
  Effect.suspend(() => {
    const batchSize = options?.batchSize ?? 1000
    const share = options?.share ?? defaultSweepShare
    const started = performance.now()
    // Time spent in batches so far, and when the current turn began.
    let busy = 0
    let turnStarted = started
    let deleted = 0
    const newTurn = Effect.suspend(() => {
      turnStarted = performance.now()
      return next()
    })
    const next = (): Effect.Effect<number, E, R> =>
      Effect.suspend(() => {
        const batchStarted = performance.now()
        return Effect.flatMap(deleteBatch(batchSize), (batch) => {
          const now = performance.now()
          busy += now - batchStarted
          deleted += typeof batch === "number" ? batch : batch.deleted
          options?.onProgress?.(deleted)
          if ((typeof batch === "number" ? batch : batch.examined) < batchSize) return Effect.succeed(deleted)
          const ahead = busy / share - (now - started)
          if (ahead > 0) return Effect.andThen(pause(ahead), newTurn)
          if (now - turnStarted < sweepTurnMillis) return next()
          return Effect.andThen(Effect.yieldNow, newTurn)
        })
      })
    return next()
  })
