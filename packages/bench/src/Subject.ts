/**
 * A subject is one contender's store on one database, ready to be timed:
 * every operation it offers as a function of the call number, the timing
 * loops (one for plain promises, one for Effect programs, so that Effect
 * contenders run their callers as fibers the way an Effect program does),
 * and the set-up writes that happen outside the clock.
 *
 * @since 0.0.0
 */
import * as Effect from "effect/Effect"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import type { Contender, Database, Operation, Store } from "./Model.ts"
import * as Workload from "./Workload.ts"

/**
 * What one timed run did: how many calls completed, in how many seconds.
 *
 * @category models
 * @since 0.0.0
 */
export interface Sample {
  readonly ops: number
  readonly seconds: number
}

/**
 * One contender's store on one database.
 *
 * @category models
 * @since 0.0.0
 */
export interface Subject {
  readonly database: Database
  readonly contender: Contender
  readonly store: Store
  readonly operations: ReadonlyArray<Operation>
  /**
   * Runs `operation` from `callers` concurrent callers until `seconds` have
   * passed or `limit` calls have started, whichever comes first.
   */
  readonly run: (operation: Operation, callers: number, seconds: number, limit: number) => Promise<Sample>
  /** Writes rows `0 .. rows-1` of the workload (outside the clock). */
  readonly populate: (rows: number) => Promise<void>
  /** Writes the first `count` removable keys, for a `remove` measurement to delete. */
  readonly writeRemovable: (count: number) => Promise<void>
  readonly close: () => Promise<void>
}

/**
 * One call of an operation: call number in, completion out.
 *
 * @category models
 * @since 0.0.0
 */
export type PromiseOperation = (i: number) => Promise<unknown> | unknown

/**
 * One call of an operation, as an Effect.
 *
 * @category models
 * @since 0.0.0
 */
export type EffectOperation = (i: number) => Effect.Effect<unknown, unknown>

const unsupported = (subject: string, operation: Operation) =>
  new Error(`${subject} does not offer ${operation}; the harness should never ask for it`)

/**
 * Times a promise-returning operation. Each caller awaits its previous call
 * before starting the next; the clock stops when the last caller finishes.
 * At least one call completes, however late the first one starts.
 *
 * @category constructors
 * @since 0.0.0
 */
export const timePromises = async (
  operation: PromiseOperation,
  callers: number,
  seconds: number,
  limit: number
): Promise<Sample> => {
  Workload.nextRun()
  let next = 0
  let done = 0
  const start = performance.now()
  const deadline = start + seconds * 1000
  // Until the first call completes the deadline does not count: on a busy
  // machine a short measurement could otherwise end before it began.
  const caller = async () => {
    while (next < limit && (done === 0 || performance.now() < deadline)) {
      await operation(next++)
      done++
    }
  }
  await Promise.all(Array.from({ length: callers }, caller))
  return { ops: done, seconds: (performance.now() - start) / 1000 }
}

/**
 * Times an Effect operation with `callers` fibers, inside one program run on
 * the contender's runtime, as an Effect application would call its store.
 *
 * @category constructors
 * @since 0.0.0
 */
export const timeEffects = <R>(
  runtime: ManagedRuntime.ManagedRuntime<R, unknown>,
  operation: (i: number) => Effect.Effect<unknown, unknown, R>,
  callers: number,
  seconds: number,
  limit: number
): Promise<Sample> =>
  runtime.runPromise(Effect.suspend(() => {
    Workload.nextRun()
    let next = 0
    let done = 0
    const start = performance.now()
    const deadline = start + seconds * 1000
    const caller = Effect.whileLoop({
      while: () => next < limit && (done === 0 || performance.now() < deadline),
      body: () => operation(next++),
      step: () => {
        done++
      }
    })
    return Effect.map(
      Effect.all(Array.from({ length: callers }, () => caller), { concurrency: "unbounded", discard: true }),
      () => ({ ops: done, seconds: (performance.now() - start) / 1000 })
    )
  }))

/**
 * Builds the `run` of a subject whose operations return promises.
 *
 * @category constructors
 * @since 0.0.0
 */
export const promiseRunner = (
  name: string,
  operations: Partial<Record<Operation, PromiseOperation>>
): Subject["run"] =>
(operation, callers, seconds, limit) => {
  const body = operations[operation]
  if (body === undefined) return Promise.reject(unsupported(name, operation))
  return timePromises(body, callers, seconds, limit)
}

/**
 * Builds the `run` of a subject whose operations are Effects run on `runtime`.
 *
 * @category constructors
 * @since 0.0.0
 */
export const effectRunner = <R>(
  name: string,
  runtime: ManagedRuntime.ManagedRuntime<R, unknown>,
  operations: Partial<Record<Operation, (i: number) => Effect.Effect<unknown, unknown, R>>>
): Subject["run"] =>
(operation, callers, seconds, limit) => {
  const body = operations[operation]
  if (body === undefined) return Promise.reject(unsupported(name, operation))
  return timeEffects(runtime, body, callers, seconds, limit)
}

/**
 * The operations a subject offers, in the order they are listed for its store.
 *
 * @category constructors
 * @since 0.0.0
 */
export const offered = (
  all: ReadonlyArray<Operation>,
  operations: Partial<Record<Operation, unknown>>
): ReadonlyArray<Operation> => all.filter((operation) => operations[operation] !== undefined)

/**
 * Calls `write` on consecutive slices of `0 .. count-1` of at most `size` indexes.
 *
 * @category constructors
 * @since 0.0.0
 */
export const inChunks = async (
  count: number,
  size: number,
  write: (indexes: ReadonlyArray<number>) => Promise<unknown> | unknown
): Promise<void> => {
  for (let start = 0; start < count; start += size) {
    await write(Array.from({ length: Math.min(size, count - start) }, (_, j) => start + j))
  }
}
