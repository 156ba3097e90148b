/**
 * The hostile-input scenario: generated operations whose keys, prefixes,
 * namespaces, store names and values are built from SQL metacharacters,
 * quotes, NUL, lone surrogates, strings at and past the backend's limits,
 * values of the wrong type, and objects JSON cannot encode.
 *
 * **Details**
 *
 * Every case runs against the store and, when the store accepts it, against a
 * plain in-memory model. The rules checked for each case:
 *
 * - input the contract accepts (well-formed strings within the limits,
 *   `Uint8Array`s, finite expiries, objects JSON encodes exactly) succeeds,
 *   and what it returns is what the model returns, byte for byte;
 * - any other input fails with a typed error of the expected reason (a
 *   `StorageError`, or the `KeyValueStoreError` / `PersistenceError` of the
 *   derived services carrying one), never a defect, and changes nothing: the
 *   namespace it named still holds exactly what the model holds;
 * - the SQL text of every statement the store sends is one it also sends for
 *   plain input (`baseline`), so no input ever reaches the database as text.
 *
 * Cases are generated up front from a seed (printed, and settable with
 * `EFFECT_PERSIST_SEED`) and run in order against one evolving store, so a
 * violation names the seed and the case to replay it.
 *
 * @since 0.0.0
 */
import { type StorageBackend, StorageError } from "@effect-persist/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { type Case, show } from "./HostileInput.ts"
import { type Model, plan, sameJson, sameResult, sameValue, sortedKeys, textProblem } from "./Oracle.ts"
import type * as SqlText from "./SqlText.ts"

/**
 * Running totals of a hostile run.
 *
 * @category models
 * @since 0.0.0
 */
export interface Tally {
  cases: number
  accepted: number
  refused: number
  refusedByReason: Record<string, number>
  violations: Array<string>
}

/**
 * Everything a run needs.
 *
 * @category models
 * @since 0.0.0
 */
export interface Context {
  readonly backend: StorageBackend.StorageBackend
  readonly model: Model
  readonly recorder: SqlText.Recorder
  readonly tally: Tally
  /** Counts the rows of the entries table, outside the store. */
  readonly countRows: Effect.Effect<number, unknown>
  readonly label: string
}

const storageErrorOf = (error: unknown): StorageError.StorageError | undefined => {
  if (error instanceof StorageError.StorageError) return error
  if (typeof error === "object" && error !== null && "cause" in error && error.cause instanceof StorageError.StorageError) {
    const tag = (error as { _tag?: unknown })._tag
    if (tag === "KeyValueStoreError" || tag === "PersistenceError") return error.cause
  }
  return undefined
}

/**
 * Runs one case against the store and the model and checks every rule,
 * adding what broke them to the tally.
 *
 * @category constructors
 * @since 0.0.0
 */
export const runCase = (context: Context, index: number, testCase: Case): Effect.Effect<void> =>
  Effect.gen(function*() {
    const { backend, model, tally } = context
    const violation = (text: string) => tally.violations.push(`${context.label} case ${index} ${show(testCase)}: ${text}`)
    // `touched`: the namespaces whose contents a refused case must have left alone.
    const { effect, expected, touched } = plan(backend, model, testCase, Date.now())

    tally.cases++
    const exit = yield* Effect.exit(context.recorder.record(Effect.suspend(() => effect)))
    if (Exit.isSuccess(exit)) {
      if (expected.kind === "failure") {
        violation(`accepted, but a ${[...expected.reasons].join("/")} refusal was expected`)
        return
      }
      tally.accepted++
      const persisted = testCase.op === "persistence.get" || testCase.op === "persistence.getMany"
      const matches = persisted
        ? sameJson(exit.value, expected.result)
        : sameResult(exit.value, expected.result)
      if (!matches) violation(`returned ${show(exit.value)}, the model says ${show(expected.result)}`)
      expected.apply?.()
      return
    }

    const failure = exit.cause.reasons.find(Cause.isFailReason)
    const error = failure === undefined ? undefined : storageErrorOf(failure.error)
    if (error === undefined) {
      violation(`failed without a typed error: ${Cause.pretty(exit.cause)}`)
      return
    }
    tally.refused++
    tally.refusedByReason[error.reason] = (tally.refusedByReason[error.reason] ?? 0) + 1
    if (expected.kind === "success") {
      violation(`refused input the contract accepts: ${error.reason}: ${error.message}`)
      return
    }
    if (!expected.reasons.has(error.reason)) {
      violation(`refused with ${error.reason} (${error.message}), expected ${[...expected.reasons].join("/")}`)
    }
    // Nothing changed: the namespaces it named hold what the model holds.
    for (const ns of touched) {
      if (textProblem(ns, backend.capabilities.maxKeyBytes) === undefined) {
        yield* compareNamespace(context, ns, `after the refused case ${index}`)
      }
    }
  })

/**
 * Checks that a namespace of the store holds exactly what the model holds.
 *
 * @category constructors
 * @since 0.0.0
 */
export const compareNamespace = (context: Context, ns: string, when: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    const now = Date.now()
    const expectedKeys = sortedKeys(context.model.keys(ns, "", now))
    const read = yield* Effect.exit(Effect.gen(function*() {
      const keys = sortedKeys(yield* context.backend.keys(ns))
      const values = keys.length === 0 ? [] : yield* context.backend.getMany(ns, keys)
      return { keys, values }
    }))
    if (Exit.isFailure(read)) {
      context.tally.violations.push(`${context.label} ${when}: reading namespace ${show(ns)} failed: ${Cause.pretty(read.cause)}`)
      return
    }
    const { keys, values } = read.value
    if (!sameResult(keys, expectedKeys)) {
      context.tally.violations.push(
        `${context.label} ${when}: namespace ${show(ns)} has keys ${show(keys)}, the model ${show(expectedKeys)}`
      )
      return
    }
    keys.forEach((key, i) => {
      const expected = context.model.get(ns, key, now)
      if (!sameValue(values[i], expected)) {
        context.tally.violations.push(
          `${context.label} ${when}: ${show(ns)} ${show(key)} holds ${show(values[i])}, the model ${show(expected)}`
        )
      }
    })
  })

/**
 * Compares every namespace the model knows, and the table's row count, with the store.
 *
 * @category constructors
 * @since 0.0.0
 */
export const compareAll = (context: Context, when: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (const ns of context.model.namespaces.keys()) yield* compareNamespace(context, ns, when)
    const rows = yield* Effect.exit(context.countRows)
    if (Exit.isFailure(rows)) {
      context.tally.violations.push(`${context.label} ${when}: counting rows failed: ${Cause.pretty(rows.cause)}`)
    } else if (rows.value !== context.model.rows) {
      context.tally.violations.push(
        `${context.label} ${when}: the table has ${rows.value} rows, the model ${context.model.rows}`
      )
    }
  })

/**
 * Sends every kind of statement the store has with plain input, so the
 * recorder learns the texts the store sends whatever the input: one text per
 * operation, and per batch size up to `maxBatch` for batches. Leaves the
 * namespace it used empty.
 *
 * @category constructors
 * @since 0.0.0
 */
export const baseline = (
  backend: StorageBackend.StorageBackend,
  recorder: SqlText.Recorder,
  maxBatch: number
): Effect.Effect<void, unknown> =>
  recorder.record(Effect.gen(function*() {
    const ns = "reliability baseline"
    const later = Date.now() + 24 * 60 * 60 * 1000
    yield* backend.set(ns, "k", "v")
    yield* backend.set(ns, "k", new Uint8Array([1]), later)
    for (let n = 1; n <= maxBatch; n++) {
      const keys = Array.from({ length: n }, (_, i) => `k${i}`)
      yield* backend.setMany(ns, keys.map((key, i) => ({ key, value: i % 2 ? "v" : new Uint8Array([i]), expiresAt: i % 3 ? undefined : later })))
      yield* backend.getMany(ns, keys)
    }
    yield* backend.get(ns, "k")
    yield* backend.keys(ns)
    yield* backend.keys(ns, "k")
    yield* backend.size(ns)
    yield* backend.size(ns, "k")
    yield* backend.modify(ns, "k0", (value) => Effect.succeed(value))
    yield* backend.modify(ns, "absent", (value) => Effect.succeed(value))
    yield* Effect.exit(
      backend.modify(ns, "k0", () => Effect.fail(new StorageError.StorageError({ operation: "modify", reason: "Conflict", message: "no" })))
    )
    yield* backend.remove(ns, "k")
    yield* backend.clearPrefix(ns, "k1")
    yield* backend.clear(ns)
  }))
