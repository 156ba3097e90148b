/**
 * The database-loss scenario: many fibers write and read through a store
 * while faults are injected, every acknowledgement is written down, and
 * afterwards every acknowledged write is looked for in the database.
 *
 * **Details**
 *
 * Each fiber writes keys of its own, so what the store acknowledged is known
 * exactly: unique keys written with `set`, `setMany` and the derived
 * `KeyValueStore`, a "hot" key each fiber overwrites with an increasing
 * sequence number (sometimes under a timeout of 0–2 ms, which interrupts it),
 * and a counter each fiber increments with `modify`. Next to them run
 * `modify` calls that must change nothing: a function that fails (the caller
 * must get that failure back, typed, whatever happens to the connection
 * meanwhile), one that throws through the derived `KeyValueStore`, and one
 * that sleeps and is interrupted by a timeout long before it could return.
 * A write that failed may or may not have reached the database (the
 * connection can die after the server committed), so it is noted as
 * uncertain: the checks allow it to be present or absent, and never allow an
 * acknowledged one to be missing, nor an interrupted overwrite to land after
 * a later acknowledged one. Reads during the run check read-your-writes on
 * acknowledged keys.
 *
 * Every failure must be a `StorageError` (or, through the `KeyValueStore`, a
 * `KeyValueStoreError` carrying one) marked `retryable`; anything else, a
 * defect included, is a violation. Faults are spaced by progress (a number of
 * acknowledged writes), never by wall-clock time, so a slow machine runs the
 * same scenario more slowly rather than a different one.
 *
 * @since 0.0.0
 */
import { Services, type StorageBackend, StorageError } from "@effect-persist/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as KeyValueStore from "effect/persistence/KeyValueStore"

/**
 * One injected fault: what it was and when the database was back.
 *
 * @category models
 * @since 0.0.0
 */
export interface FaultRecord {
  readonly kind: string
  readonly detail: string
  /** Epoch ms at which the fault began. */
  readonly startedAt: number
  /** Epoch ms at which the database could serve again (the server's return). */
  readonly returnedAt: number
}

/**
 * A fault to inject: runs it and reports when the database was back.
 *
 * @category models
 * @since 0.0.0
 */
export type Fault = Effect.Effect<FaultRecord, unknown>

/**
 * What one load run found.
 *
 * @category models
 * @since 0.0.0
 */
export interface Report {
  readonly operations: number
  readonly failures: number
  readonly failuresByReason: Readonly<Record<string, number>>
  readonly failuresByOperation: Readonly<Record<string, number>>
  /** Writes the store acknowledged: entries of set, setMany, KeyValueStore.set, overwrites and modify increments. */
  readonly writesAcknowledged: number
  /** Acknowledged writes found in the database afterwards (must equal `writesAcknowledged`). */
  readonly writesVerified: number
  /** Acknowledged writes looked for afterwards, through `Options.verifier` (all of them). */
  readonly writesChecked: number
  /** Acknowledged writes missing or undone afterwards (must be 0). */
  readonly writesLost: number
  /** `modify` calls whose function failed, threw or was interrupted: each must change nothing. */
  readonly modifiesThatChangeNothing: number
  /** Writes that failed and so may or may not have been applied. */
  readonly writesUncertain: number
  /** Each fault, with how long the store took to serve again and how many operations failed meanwhile. */
  readonly faults: ReadonlyArray<FaultRecord & { readonly recoveryMs: number; readonly failures: number }>
  /** Faults another process caused during the run (see `Options.externalFaults`). */
  readonly externalFaults: ReadonlyArray<FaultRecord>
  /** Everything that broke a rule, each with enough detail to reproduce it. */
  readonly violations: ReadonlyArray<string>
}

/**
 * What checks the acknowledged writes afterwards: a second store opened
 * independently on the same database, or a reader in another process
 * (a `StorageBackend` is one).
 *
 * @category models
 * @since 0.0.0
 */
export interface Reader {
  readonly getMany: (
    namespace: string,
    keys: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<StorageBackend.Value | undefined>, unknown>
}

/**
 * Options of `run`.
 *
 * @category models
 * @since 0.0.0
 */
export interface Options {
  readonly backend: StorageBackend.StorageBackend
  /**
   * A reader of the same database, independent of `backend` (a store with
   * connections of its own, or for SQLite a reader in another process), that
   * checks the acknowledged writes afterwards, so they are found in the
   * database and not in some state of the first store or its connection.
   */
  readonly verifier: Reader
  /** A namespace of this run only. */
  readonly namespace: string
  readonly fibers: number
  /** The faults, injected one after the other while the fibers run. */
  readonly faults: ReadonlyArray<Fault>
  /** Acknowledged writes between two faults, and after the last one. */
  readonly writesBetweenFaults: number
  /**
   * Inject each fault while a `modify`'s function is running, holding such
   * functions until the fault is over, so that a connection is lost between
   * the function's start and the transaction's end. Off where a running
   * `modify` holds a lock the fault itself needs (SQLite's write lock).
   * @default true
   */
  readonly faultDuringModify?: boolean | undefined
  /**
   * Faults nobody here injected, found after the run: another process
   * restarting the shared server, say. Failures around them are theirs, not
   * a broken recovery rule; they are reported apart.
   */
  readonly externalFaults?: Effect.Effect<ReadonlyArray<FaultRecord>> | undefined
  /**
   * How long, from a fault's `returnedAt`, operations may still fail: the
   * issue's bound is 5 seconds.
   * @default 5000
   */
  readonly recoveryBoundMs?: number | undefined
  /**
   * How long to wait for progress (acknowledged writes, or the store's return
   * after a fault) before giving up with a failure that describes the run.
   * A safety net against a hung run, not a performance assertion.
   * @default 120000
   */
  readonly stallTimeoutMs?: number | undefined
}

interface Outcome {
  readonly fiber: number
  readonly operation: string
  readonly startedAt: number
  readonly endedAt: number
  readonly reason: string
}

const isKeyValueStoreError = (error: unknown): error is KeyValueStore.KeyValueStoreError =>
  typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "KeyValueStoreError"

/**
 * The `StorageError` behind a failure, when the failure is the typed,
 * retryable-marked error the contract promises; otherwise a description of
 * what it was instead.
 *
 * @category constructors
 * @since 0.0.0
 */
export const typedFailure = (
  cause: Cause.Cause<unknown>
): { readonly error: StorageError.StorageError } | { readonly violation: string } => {
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure === undefined) return { violation: `not a typed failure: ${Cause.pretty(cause)}` }
  const error = failure.error
  const storage = error instanceof StorageError.StorageError
    ? error
    : isKeyValueStoreError(error) && error.cause instanceof StorageError.StorageError
    ? error.cause
    : undefined
  if (storage === undefined) return { violation: `failed with something other than a StorageError: ${String(error)}` }
  return { error: storage }
}

const sleep = (ms: number) => Effect.sleep(`${ms} millis`)

const refusal = new StorageError.StorageError({
  operation: "modify",
  reason: "InvalidValue",
  message: "The load's modify function refused to produce a value."
})

const thrown = new Error("The load's KeyValueStore.modify function threw.")

// A KeyValueStoreError (or StorageError) whose cause chain holds `error`.
const causedBy = (failure: unknown, error: unknown): boolean => {
  for (let cause = failure, depth = 0; typeof cause === "object" && cause !== null && depth < 4; depth++) {
    if (cause === error) return true
    cause = (cause as { cause?: unknown }).cause
  }
  return false
}

// The interrupted modify's function would add this after sleeping far longer
// than its caller's timeout: a counter that moved by it shows a function
// that was not interrupted, or an interrupted transaction that committed.
const interruptedIncrement = 1_000_000

/**
 * Runs the load with its faults and checks every rule; the report lists what
 * broke them.
 *
 * @category constructors
 * @since 0.0.0
 */
export const run = (options: Options): Effect.Effect<Report> =>
  Effect.gen(function*() {
    const { backend, namespace } = options
    const bound = options.recoveryBoundMs ?? 5000
    const stallMs = options.stallTimeoutMs ?? 120_000
    const kvName = `${namespace}:kv`
    const kvNamespace = Services.keyValueNamespace(kvName)
    const kv = Services.makeKeyValueStore(backend, { name: kvName })

    // Acknowledged values, by namespace and key.
    const acked = new Map<string, Map<string, string>>([[namespace, new Map()], [kvNamespace, new Map()]])
    let writesAcknowledged = 0
    let writesUncertain = 0
    const hot = Array.from({ length: options.fibers }, () => ({ acked: -1, count: 0, uncertain: [] as Array<number> }))
    const counters = Array.from({ length: options.fibers }, () => ({ acked: 0, uncertain: 0 }))
    const failures: Array<Outcome> = []
    const violations: Array<string> = []
    let operations = 0
    let stop = false
    let faulting = false
    let inRefusingFunction = 0
    let modifiesThatChangeNothing = 0

    const ack = (ns: string, key: string, value: string) => {
      acked.get(ns)!.set(key, value)
      writesAcknowledged++
    }

    const pickAcked = (fiber: number, seq: number): ReadonlyArray<readonly [string, string]> => {
      const own: Array<readonly [string, string]> = []
      // The fiber's own latest unique keys: cheap to find, and the most likely to be lost.
      for (let back = 1; back <= 8 && seq - back >= 0; back++) {
        const key = `f${fiber}-${seq - back}`
        const value = acked.get(namespace)!.get(key)
        if (value !== undefined) own.push([key, value])
        const batchKey = `f${fiber}-${seq - back}-b0`
        const batchValue = acked.get(namespace)!.get(batchKey)
        if (batchValue !== undefined) own.push([batchKey, batchValue])
      }
      return own
    }

    const step = (fiber: number, seq: number): Effect.Effect<void> => {
      const started = Date.now()
      const value = `v${fiber}.${seq}:${"x".repeat(seq % 64)}`
      let operation: string
      let effect: Effect.Effect<unknown, unknown>
      let onSuccess: (result: unknown) => void = () => {}
      let onFailure: () => void = () => {}
      let expectedFailure: (error: unknown) => boolean = () => false
      switch (seq % 12) {
        case 0:
        case 1: {
          operation = "set"
          const key = `f${fiber}-${seq}`
          effect = backend.set(namespace, key, value)
          onSuccess = () => ack(namespace, key, value)
          onFailure = () => writesUncertain++
          break
        }
        case 2: {
          operation = "setMany"
          const entries = Array.from({ length: 4 }, (_, i) => ({ key: `f${fiber}-${seq}-b${i}`, value: `${value}/${i}` }))
          effect = backend.setMany(namespace, entries)
          onSuccess = () => entries.forEach((entry) => ack(namespace, entry.key, entry.value as string))
          onFailure = () => writesUncertain += entries.length
          break
        }
        case 3: {
          operation = "get"
          const [target] = pickAcked(fiber, seq)
          if (target === undefined) {
            effect = backend.get(namespace, `f${fiber}-missing`)
            onSuccess = (result) => {
              if (result !== undefined) violations.push(`get of a never-written key returned ${JSON.stringify(result)}`)
            }
          } else {
            effect = backend.get(namespace, target[0])
            onSuccess = (result) => {
              if (result !== target[1]) {
                violations.push(`read-your-writes: get ${target[0]} returned ${JSON.stringify(result)}, acknowledged ${JSON.stringify(target[1])}`)
              }
            }
          }
          break
        }
        case 4: {
          operation = "modify"
          const counter = counters[fiber]!
          effect = backend.modify(namespace, `counter-${fiber}`, (current) =>
            Effect.succeed(String(Number(current) + 1)))
          onSuccess = (result) => {
            if (result === undefined) violations.push(`modify of counter-${fiber} found no counter`)
            else {
              counter.acked++
              writesAcknowledged++
            }
          }
          onFailure = () => {
            counter.uncertain++
            writesUncertain++
          }
          break
        }
        case 5: {
          operation = "getMany"
          const targets = pickAcked(fiber, seq)
          const keys = [...targets.map(([key]) => key), `f${fiber}-missing`]
          effect = backend.getMany(namespace, keys)
          onSuccess = (result) => {
            const values = result as ReadonlyArray<StorageBackend.Value | undefined>
            targets.forEach(([key, expected], i) => {
              if (values[i] !== expected) {
                violations.push(`read-your-writes: getMany ${key} returned ${JSON.stringify(values[i])}, acknowledged ${JSON.stringify(expected)}`)
              }
            })
            if (values[keys.length - 1] !== undefined) violations.push(`getMany returned a value for a never-written key`)
          }
          break
        }
        case 6: {
          operation = "overwrite"
          const state = hot[fiber]!
          effect = backend.set(namespace, `hot-${fiber}`, String(seq))
          onSuccess = () => {
            state.acked = seq
            state.count++
            state.uncertain = []
            writesAcknowledged++
          }
          onFailure = () => {
            state.uncertain.push(seq)
            writesUncertain++
          }
          break
        }
        case 7: {
          // The caller's function refuses, after a moment in which the
          // connection may die: the caller must get its own error back, typed.
          operation = "modify (refused by its function)"
          effect = backend.modify(namespace, `counter-${fiber}`, () =>
            Effect.gen(function*() {
              inRefusingFunction++
              try {
                yield* sleep(10)
                // While a fault is being injected, hold on until it is over,
                // so the connection is lost while the function runs.
                while (faulting) yield* sleep(5)
              } finally {
                inRefusingFunction--
              }
              return yield* Effect.fail(refusal)
            }))
          onSuccess = () => violations.push(`a modify whose function failed succeeded`)
          expectedFailure = (error) => error === refusal
          modifiesThatChangeNothing++
          break
        }
        case 9: {
          // Its function sleeps 50 ms; a timeout of 1–3 ms interrupts it, or
          // the wait for its turn, long before it could return.
          operation = "modify (interrupted by a timeout)"
          let returned = false
          effect = backend.modify(namespace, `counter-${fiber}`, (current) =>
            Effect.as(
              Effect.andThen(sleep(50), Effect.sync(() => returned = true)),
              String(Number(current) + interruptedIncrement)
            )).pipe(Effect.timeout(`${1 + (seq % 3)} millis`))
          onSuccess = () =>
            violations.push(`fiber ${fiber}: a modify under a ${1 + (seq % 3)} ms timeout returned after its 50 ms function`)
          expectedFailure = (error) => {
            if (!Cause.isTimeoutError(error)) return false
            if (returned) {
              violations.push(`fiber ${fiber}: the function of a modify interrupted by a timeout ran to its end (it was not interruptible)`)
            }
            return true
          }
          modifiesThatChangeNothing++
          break
        }
        case 10: {
          // The lost-write workload of issue 23: a function that throws, next to writers.
          operation = "KeyValueStore.modify (its function throws)"
          effect = kv.modify(`counter-${fiber}`, () => {
            throw thrown
          })
          onSuccess = (result) => {
            if (result !== undefined) violations.push(`a KeyValueStore.modify whose function threw succeeded`)
          }
          expectedFailure = (error) => causedBy(error, thrown)
          modifiesThatChangeNothing++
          break
        }
        case 11: {
          // Interrupted at any point, before, during or after its statement:
          // it may land, but never after this fiber's next acknowledged overwrite.
          operation = "overwrite (interrupted by a timeout)"
          const state = hot[fiber]!
          effect = backend.set(namespace, `hot-${fiber}`, String(seq)).pipe(Effect.timeout(`${seq % 3} millis`))
          onSuccess = () => {
            state.acked = seq
            state.count++
            state.uncertain = []
            writesAcknowledged++
          }
          onFailure = () => {
            state.uncertain.push(seq)
            writesUncertain++
          }
          expectedFailure = (error) => {
            if (!Cause.isTimeoutError(error)) return false
            onFailure()
            return true
          }
          break
        }
        default: {
          operation = "KeyValueStore.set"
          const key = `f${fiber}-${seq}`
          effect = kv.set(key, value)
          onSuccess = () => ack(kvNamespace, key, value)
          onFailure = () => writesUncertain++
        }
      }
      return Effect.flatMap(Effect.exit(effect), (exit) =>
        Effect.suspend(() => {
          operations++
          if (Exit.isSuccess(exit)) {
            onSuccess(exit.value)
            return Effect.void
          }
          const typed = typedFailure(exit.cause)
          const failure = exit.cause.reasons.find(Cause.isFailReason)
          if (failure !== undefined && expectedFailure(failure.error)) return Effect.void
          onFailure()
          const endedAt = Date.now()
          if ("violation" in typed) {
            violations.push(`fiber ${fiber} ${operation}: ${typed.violation}`)
            failures.push({ fiber, operation, startedAt: started, endedAt, reason: "untyped" })
          } else {
            if (!typed.error.retryable) {
              violations.push(
                `fiber ${fiber} ${operation}: a ${typed.error.reason} error not marked retryable: ${typed.error.message}`
              )
            }
            failures.push({ fiber, operation, startedAt: started, endedAt, reason: typed.error.reason })
          }
          // Back off a little, as a caller retrying would: no busy loop while the server is down.
          return sleep(20)
        }))
    }

    const worker = (fiber: number) =>
      Effect.gen(function*() {
        // The counter is created before the faults begin; retried like any caller would.
        yield* backend.set(namespace, `counter-${fiber}`, "0").pipe(
          Effect.andThen(backend.set(kvNamespace, `counter-${fiber}`, "0")),
          Effect.retry({ times: 50, while: (error) => error.retryable }),
          Effect.orDie
        )
        let seq = 0
        while (!stop) {
          yield* step(fiber, seq++)
        }
      })

    const waitFor = (what: string, done: () => boolean) =>
      Effect.gen(function*() {
        const until = Date.now() + stallMs
        while (!done()) {
          if (Date.now() > until) {
            return yield* Effect.die(
              new Error(
                `The load run stalled waiting for ${what}: ${writesAcknowledged} writes acknowledged, ${failures.length} failures, last: ${
                  JSON.stringify(failures.slice(-3))
                }`
              )
            )
          }
          yield* sleep(20)
        }
      })

    const probe = (index: number) =>
      Effect.gen(function*() {
        const key = `probe-${index}`
        while (true) {
          const exit = yield* Effect.exit(
            Effect.andThen(backend.set(namespace, key, "back"), backend.get(namespace, key))
          )
          if (Exit.isSuccess(exit) && exit.value === "back") return Date.now()
          if (Exit.isFailure(exit)) {
            const typed = typedFailure(exit.cause)
            if ("violation" in typed) violations.push(`probe after fault ${index}: ${typed.violation}`)
            else if (!typed.error.retryable) violations.push(`probe after fault ${index}: not retryable: ${typed.error.message}`)
          }
          yield* sleep(25)
        }
      })

    // Forked from this fiber (not from inside a concurrent forEach, whose
    // per-element fibers would take their children down with them).
    const workers: Array<Fiber.Fiber<void>> = []
    for (let fiber = 0; fiber < options.fibers; fiber++) {
      workers.push(yield* Effect.forkChild(worker(fiber)))
    }

    const faults: Array<FaultRecord & { readonly recoveryMs: number }> = []
    const injector = Effect.gen(function*() {
      for (let index = 0; index < options.faults.length; index++) {
        const before = writesAcknowledged
        yield* waitFor(`${options.writesBetweenFaults} writes before fault ${index + 1}`, () =>
          writesAcknowledged >= before + options.writesBetweenFaults)
        // Every fault lands while at least one modify's function is running
        // (those functions wait for the fault to be over).
        if (options.faultDuringModify !== false) {
          faulting = true
          yield* waitFor(`a modify function running before fault ${index + 1}`, () => inRefusingFunction > 0)
        }
        const record = yield* Effect.orDie(options.faults[index]!).pipe(Effect.ensuring(Effect.sync(() => faulting = false)))
        const back = yield* probe(index).pipe(
          Effect.timeoutOrElse({
            duration: `${stallMs} millis`,
            orElse: () => Effect.die(new Error(`The store did not come back after fault ${index + 1} (${record.kind})`))
          })
        )
        faults.push({ ...record, recoveryMs: back - record.returnedAt })
      }
      const before = writesAcknowledged
      yield* waitFor(`${options.writesBetweenFaults} writes after the last fault`, () =>
        writesAcknowledged >= before + options.writesBetweenFaults)
    })
    const injected = yield* Effect.exit(injector)
    stop = true
    yield* Fiber.joinAll(workers).pipe(Effect.exit)
    if (Exit.isFailure(injected)) {
      violations.push(`the run did not complete: ${Cause.pretty(injected.cause)}`)
    }

    // Operations may fail while a fault lasts and shortly after; one that
    // started more than `bound` ms after the server's return broke the
    // recovery rule. A failure is the doing of the last fault that began
    // before it ended (the operation may have started just before the fault).
    const external = options.externalFaults === undefined ? [] : yield* options.externalFaults
    const allFaults = [...faults, ...external].sort((a, b) => a.startedAt - b.startedAt)
    for (const failure of failures) {
      const previous = allFaults.filter((fault) => fault.startedAt <= failure.endedAt).at(-1)
      if (previous === undefined) {
        violations.push(`fiber ${failure.fiber} ${failure.operation} failed (${failure.reason}) before any fault began`)
        continue
      }
      const late = failure.startedAt - previous.returnedAt
      if (late > bound) {
        violations.push(
          `fiber ${failure.fiber} ${failure.operation} failed (${failure.reason}) ${late} ms after the server returned from ${previous.kind}`
        )
      }
    }
    // A failure belongs to the last fault that began before it ended.
    const faultReports = faults.map((fault, index) => ({
      ...fault,
      failures: failures.filter((failure) =>
        failure.endedAt >= fault.startedAt &&
        (faults[index + 1] === undefined || failure.endedAt < faults[index + 1]!.startedAt)
      ).length
    }))
    for (const [index, fault] of faults.entries()) {
      if (fault.recoveryMs > bound) {
        violations.push(`operations succeeded again only ${fault.recoveryMs} ms after fault ${index + 1} (${fault.kind}) ended`)
      }
    }

    // Every acknowledged write, looked for through a reader independent of the store.
    const verifier = options.verifier
    const read = (ns: string, keys: ReadonlyArray<string>) =>
      Effect.orDie(verifier.getMany(ns, keys).pipe(
        Effect.retry({
          times: 20,
          while: (error) => error instanceof StorageError.StorageError && error.retryable
        })
      ))
    let writesVerified = 0
    let writesChecked = 0
    let writesLost = 0
    for (const [ns, entries] of acked) {
      const all = Array.from(entries)
      for (let start = 0; start < all.length; start += 500) {
        const chunk = all.slice(start, start + 500)
        const found = yield* read(ns, chunk.map(([key]) => key))
        chunk.forEach(([key, expected], i) => {
          writesChecked++
          if (found[i] === expected) writesVerified++
          else {
            writesLost++
            violations.push(`acknowledged write lost: ${ns} ${key} is ${JSON.stringify(found[i])}, acknowledged ${JSON.stringify(expected)}`)
          }
        })
      }
    }
    const fibers = Array.from({ length: options.fibers }, (_, fiber) => fiber)
    const hotFound = yield* read(namespace, fibers.map((fiber) => `hot-${fiber}`))
    const counterFound = yield* read(namespace, fibers.map((fiber) => `counter-${fiber}`))
    const kvCounterFound = yield* read(kvNamespace, fibers.map((fiber) => `counter-${fiber}`))
    for (const fiber of fibers) {
      const state = hot[fiber]!
      if (state.acked >= 0) {
        const found = hotFound[fiber]
        // The last acknowledged overwrite, or one that failed or was
        // interrupted after it; an older value means an acknowledged
        // overwrite was undone (an interrupted one landed after it, say).
        const allowed = [state.acked, ...state.uncertain].map(String)
        writesChecked += state.count
        if (typeof found === "string" && allowed.includes(found)) writesVerified += state.count
        else {
          writesLost++
          violations.push(`hot-${fiber} is ${JSON.stringify(found)}; acknowledged ${state.acked}, uncertain ${state.uncertain.join(",")}`)
        }
      }
      // Between the acknowledged increments and those plus the failed ones:
      // a failed, thrown or interrupted function adds nothing.
      const counter = counters[fiber]!
      const found = Number(counterFound[fiber])
      writesChecked += counter.acked
      if (found >= counter.acked && found <= counter.acked + counter.uncertain) writesVerified += counter.acked
      else {
        if (found < counter.acked) writesLost += counter.acked - found
        violations.push(
          `counter-${fiber} is ${found}; ${counter.acked} increments acknowledged, ${counter.uncertain} uncertain${
            found >= interruptedIncrement ? ` (an interrupted modify's function added ${interruptedIncrement} to it)` : ""
          }`
        )
      }
      if (kvCounterFound[fiber] !== "0") {
        violations.push(`KeyValueStore counter-${fiber} is ${JSON.stringify(kvCounterFound[fiber])}: only functions that threw ran on it`)
      }
    }

    const failuresByReason: Record<string, number> = {}
    const failuresByOperation: Record<string, number> = {}
    for (const failure of failures) {
      failuresByReason[failure.reason] = (failuresByReason[failure.reason] ?? 0) + 1
      failuresByOperation[failure.operation] = (failuresByOperation[failure.operation] ?? 0) + 1
    }
    return {
      operations,
      failures: failures.length,
      failuresByReason,
      failuresByOperation,
      writesAcknowledged,
      writesVerified,
      writesChecked,
      writesLost,
      modifiesThatChangeNothing,
      writesUncertain,
      faults: faultReports,
      externalFaults: external,
      violations
    }
  })
