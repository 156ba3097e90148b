/**
 * Interleaving laws: operations run together, as an application runs them.
 * A `modify` that fails, sleeps or is interrupted next to independent
 * writers; a batch that spans several statements among them; operations
 * interrupted at a random point. Every fiber writes keys of its own and keeps
 * a model of them, so what must be stored at the end is known exactly, and
 * it is read back through a second store on the same database where the
 * backend has one (a durable backend: the suite builds its layer again).
 *
 * Each of these found a real defect: a failed transaction on a shared
 * SQLite connection rolled back other fibers' acknowledged writes; an
 * interrupted statement kept running in a driver's pool and committed after
 * the caller's next acknowledged write; a `modify` that read, ran its
 * function and wrote without a lock overwrote writes made meanwhile.
 *
 * @internal
 */
import { expect } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scheduler from "effect/Scheduler"
import type { StorageBackend } from "@effect-persist/core"
import { StorageError } from "@effect-persist/core/StorageError"
import { show } from "../internal/assert.ts"
import { law, type Law, type LawContext } from "../internal/law.ts"

const refusal = "the function refused"

const refused = () =>
  Effect.fail(new StorageError({ operation: "modify", reason: "InvalidValue", message: refusal }))

const randomInt = (below: number) => Math.floor(Math.random() * below)

const sleepMillis = (millis: number) => Effect.sleep(`${millis} millis`)

// Effect switches fibers every 2,048 steps by default, so a defect that
// needs a switch between two particular steps of one operation shows only
// in a long run. Each fiber of these laws switches after a random, small
// number of steps instead: the same defects show in a second. Not fewer
// than 4: with a budget of 2, effect 4.1.0 yields again before the resumed
// step runs, and the fiber never moves on (fixed in 4.1.1).
const switchingOften = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(effect, Scheduler.MaxOpsBeforeYield, 4 + randomInt(61))

const increment = (value: StorageBackend.Value) => String(Number(value) + 1)

// A failure is allowed only when it is a typed StorageError a caller can act
// on by retrying (a conflict or an unavailable database); the write it
// carried may or may not have landed.
const describeFailure = (cause: Cause.Cause<unknown>): string | undefined => {
  const error = Cause.squash(cause)
  if (error instanceof StorageError && error.retryable) return undefined
  return error instanceof StorageError
    ? `StorageError ${error.reason} in ${error.operation}: ${error.message}`
    : Cause.pretty(cause).split("\n").slice(0, 3).join(" ")
}

interface Ledger {
  /** What each key must hold at the end: `undefined` for removed. */
  readonly expected: Map<string, string | undefined>
  /** Keys whose last write failed with an allowed error: either state is fine. */
  readonly uncertain: Set<string>
  readonly unexpected: Array<string>
  acknowledged: number
}

const makeLedger = (): Ledger => ({ expected: new Map(), uncertain: new Set(), unexpected: [], acknowledged: 0 })

// Runs one write and records it: acknowledged writes in the model, failures
// as uncertain (or as a violation when they are not typed and retryable).
const write = (
  ledger: Ledger,
  what: string,
  effect: Effect.Effect<unknown, StorageError>,
  changes: ReadonlyArray<readonly [string, string | undefined]>
) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) {
      ledger.acknowledged += changes.length
      for (const [key, value] of changes) {
        ledger.expected.set(key, value)
        ledger.uncertain.delete(key)
      }
      return
    }
    for (const [key] of changes) ledger.uncertain.add(key)
    const problem = describeFailure(exit.cause)
    if (problem !== undefined) ledger.unexpected.push(`${what}: ${problem}`)
  })

// One writer: sets, batches and removes of its own keys, in random order,
// for `rounds` rounds and then for as long as `busy` says the fibers it runs
// next to are still at work (up to 50 times as many rounds): a defect that
// needs a fiber switch at an unlucky step shows only among many writes.
const writer = (
  backend: StorageBackend.StorageBackend,
  ns: string,
  id: number,
  rounds: number,
  ledger: Ledger,
  largeBatch: number | undefined,
  busy: () => boolean
) =>
  Effect.gen(function*() {
    const own: Array<string> = []
    let next = 0
    const fresh = () => {
      const key = `w${id}.${next++}`
      own.push(key)
      return key
    }
    for (let round = 0; round < rounds || (busy() && round < rounds * 50); round++) {
      const value = `v${round}`
      const choice = randomInt(10)
      if (largeBatch !== undefined && round === Math.floor(rounds / 2)) {
        // Spans several statements on every SQL backend: its chunks must
        // commit together, and nothing around it may undo any of them.
        const entries = Array.from({ length: largeBatch }, () => ({ key: fresh(), value }))
        yield* write(ledger, `setMany of ${largeBatch}`, backend.setMany(ns, entries), entries.map((e) => [e.key, value]))
      } else if (choice < 5 || own.length === 0) {
        const key = fresh()
        yield* write(ledger, `set ${key}`, backend.set(ns, key, value), [[key, value]])
      } else if (choice < 7) {
        const keys = [fresh(), fresh(), own[randomInt(own.length)]!]
        const unique = [...new Set(keys)]
        yield* write(
          ledger,
          `setMany ${unique.join(",")}`,
          backend.setMany(ns, unique.map((key) => ({ key, value }))),
          unique.map((key) => [key, value])
        )
      } else if (choice < 9) {
        const key = own[randomInt(own.length)]!
        yield* write(ledger, `set ${key} again`, backend.set(ns, key, value), [[key, value]])
      } else {
        const key = own[randomInt(own.length)]!
        yield* write(ledger, `remove ${key}`, backend.remove(ns, key), [[key, undefined]])
      }
    }
  })

interface ModifyTally {
  succeeded: Array<string>
  refused: number
  interrupted: number
  readonly unexpected: Array<string>
}

// One modifier: increments a shared counter with a function that sleeps
// first and, when `failing`, also with one that fails or is still sleeping
// when the call is interrupted.
const modifier = (
  backend: StorageBackend.StorageBackend,
  ns: string,
  rounds: number,
  tally: ModifyTally,
  failing: boolean
) =>
  Effect.gen(function*() {
    for (let round = 0; round < rounds; round++) {
      const kind = failing ? randomInt(3) : 1
      if (kind === 0) {
        const exit = yield* Effect.exit(backend.modify(ns, "counter", refused))
        if (Exit.isSuccess(exit)) tally.unexpected.push(`a modify whose function failed succeeded with ${show(exit.value)}`)
        else {
          const error = Cause.squash(exit.cause)
          if (error instanceof StorageError && error.message === refusal) tally.refused++
          else {
            const problem = describeFailure(exit.cause)
            if (problem !== undefined) tally.unexpected.push(`modify (failing function): ${problem}`)
          }
        }
      } else {
        const sleep = kind === 1 ? randomInt(3) : 3 + randomInt(5)
        const call = backend.modify(ns, "counter", (value) => Effect.as(sleepMillis(sleep), increment(value)))
        const exit = yield* Effect.exit(kind === 1 ? call : Effect.timeout(call, `${1 + randomInt(3)} millis`))
        if (Exit.isSuccess(exit)) {
          if (exit.value === undefined) tally.unexpected.push("modify found the counter missing")
          else tally.succeeded.push(String(exit.value))
        } else if (kind === 2 && Cause.isTimeoutError(Cause.squash(exit.cause))) {
          tally.interrupted++
        } else {
          const problem = describeFailure(exit.cause)
          if (problem !== undefined) tally.unexpected.push(`modify: ${problem}`)
        }
      }
    }
  })

// Reads every certain key of the model back and lists the differences.
const differences = (backend: StorageBackend.StorageBackend, ns: string, ledger: Ledger) =>
  Effect.gen(function*() {
    const keys = [...ledger.expected.keys()].filter((key) => !ledger.uncertain.has(key))
    const wrong: Array<string> = []
    for (let start = 0; start < keys.length; start += 500) {
      const chunk = keys.slice(start, start + 500)
      const values = yield* backend.getMany(ns, chunk)
      chunk.forEach((key, i) => {
        const expected = ledger.expected.get(key)
        if (values[i] !== expected) wrong.push(`${key}: expected ${show(expected)}, read ${show(values[i])}`)
      })
    }
    return { checked: keys.length, wrong }
  })

const concurrentWrites = (
  context: LawContext,
  options: { readonly largeBatch?: number; readonly failingModifies: boolean }
) =>
  Effect.gen(function*() {
    const { backend, namespace } = context
    const ns = yield* namespace()
    yield* backend.set(ns, "counter", "0")
    const rounds = context.options.interleaveRounds
    const ledger = makeLedger()
    const tally: ModifyTally = { succeeded: [], refused: 0, interrupted: 0, unexpected: [] }
    let modifying = 0
    const modifiers = backend.capabilities.atomicModify
      ? Array.from({ length: 4 }, () =>
        Effect.ensuring(
          Effect.andThen(Effect.sync(() => modifying++), modifier(backend, ns, rounds, tally, options.failingModifies)),
          Effect.sync(() => modifying--)
        ))
      : []
    const writers = Array.from(
      { length: 4 },
      (_, id) => writer(backend, ns, id, rounds, ledger, options.largeBatch, () => modifying > 0)
    )
    yield* Effect.all([...writers, ...modifiers].map(switchingOften), { concurrency: "unbounded", discard: true })

    expect(ledger.unexpected.concat(tally.unexpected), "failures that are not typed and retryable").toEqual([])
    const second = yield* context.reopen
    const { checked, wrong } = yield* differences(second, ns, ledger)
    expect(
      wrong.slice(0, 10),
      `acknowledged writes missing or changed, read through a second store (${wrong.length} of ${checked})`
    ).toEqual([])
    expect(checked, "acknowledged keys checked").toBeGreaterThan(rounds)
    if (modifiers.length > 0) {
      const counter = Number(yield* second.get(ns, "counter"))
      const done = tally.succeeded.length
      expect(new Set(tally.succeeded).size, "distinct values returned by successful modifies").toBe(done)
      expect(counter, `the counter after ${done} acknowledged and ${tally.interrupted} interrupted increments`)
        .toBeGreaterThanOrEqual(done)
      expect(counter).toBeLessThanOrEqual(done + tally.interrupted)
      if (options.failingModifies) expect(tally.refused, "modifies refused by their function").toBeGreaterThan(0)
      else expect(counter, "the counter, with no modify interrupted or refused").toBe(done)
    }
  })

// One caller's round: an operation interrupted at a random point, then an
// acknowledged write of the same key, then a read. Whatever the interrupted
// operation did must have happened before the acknowledged write.
const interruptedCaller = (backend: StorageBackend.StorageBackend, ns: string, id: number, rounds: number) =>
  Effect.gen(function*() {
    const prefix = `c${id}.`
    const key = `${prefix}k`
    const problems: Array<string> = []
    for (let round = 0; round < rounds; round++) {
      const value = `v${round}`
      const operations: ReadonlyArray<readonly [string, Effect.Effect<unknown, StorageError>]> = [
        ["remove", backend.remove(ns, key)],
        ["set", backend.set(ns, key, "zombie")],
        ["setMany", backend.setMany(ns, [{ key, value: "zombie" }, { key: `${prefix}other`, value: "x" }])],
        ["clearPrefix", backend.clearPrefix(ns, prefix)],
        ["modify", backend.modify(ns, key, () => Effect.as(sleepMillis(1), "zombie"))]
      ]
      const [name, operation] = operations[randomInt(operations.length)]!
      yield* Effect.exit(Effect.timeout(operation, `${randomInt(3)} millis`))
      const acknowledged = yield* Effect.exit(backend.set(ns, key, value))
      if (Exit.isFailure(acknowledged)) {
        const problem = describeFailure(acknowledged.cause)
        if (problem !== undefined) problems.push(`set after an interrupted ${name}: ${problem}`)
        continue
      }
      yield* sleepMillis(1 + randomInt(5))
      const read = yield* backend.get(ns, key)
      if (read !== value) {
        problems.push(`round ${round}: after an interrupted ${name} and an acknowledged set to ${value}, read ${show(read)}`)
      }
    }
    return { key, last: `v${rounds - 1}`, problems }
  })

// A turn of the event loop. On a backend that answers synchronously (in
// memory, SQLite), a loop of writes would otherwise never let a timer fire:
// the callers' timeouts and sleeps would wait for the loaders to stop, which
// they do only when the callers are done.
const nextTurn = Effect.callback<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

// Keeps the backend's connections busy, so that an interrupted statement
// has a queue to wait in.
const loader = (backend: StorageBackend.StorageBackend, ns: string, id: number, stop: () => boolean) =>
  Effect.gen(function*() {
    let i = 0
    while (!stop()) {
      yield* Effect.ignore(backend.set(ns, `load${id}.${i++ % 50}`, "x".repeat(200)))
      yield* nextTurn
    }
  })

/**
 * The interleaving laws.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const interleave: ReadonlyArray<Law> = [
  law(
    "a modify whose function fails, sleeps or is interrupted, next to writers of other keys, loses or undoes none of their acknowledged writes",
    (context) => concurrentWrites(context, { failingModifies: true }),
    { timeout: 120_000 }
  ),
  law(
    "concurrent modify, setMany, set and remove fail only with a typed, retryable error, and every acknowledged write is stored",
    (context) => concurrentWrites(context, { failingModifies: false }),
    { timeout: 120_000 }
  ),
  law(
    "a setMany spanning several statements, among failing modifies and other writers, is stored whole and undoes nothing",
    (context) => concurrentWrites(context, { failingModifies: true, largeBatch: 6_000 }),
    { timeout: 120_000 }
  ),
  law(
    "an operation interrupted at a random point never takes effect after the same caller's next acknowledged write",
    ({ backend, namespace, options, reopen }) =>
      Effect.gen(function*() {
        const ns = yield* namespace()
        let stopped = false
        const loaders = yield* Effect.forkChild(
          Effect.all(Array.from({ length: 8 }, (_, id) => loader(backend, ns, id, () => stopped)), {
            concurrency: "unbounded",
            discard: true
          })
        )
        const callers = yield* Effect.all(
          Array.from({ length: 4 }, (_, id) => switchingOften(interruptedCaller(backend, ns, id, options.interleaveRounds))),
          { concurrency: "unbounded" }
        ).pipe(Effect.ensuring(Effect.sync(() => stopped = true)))
        yield* Fiber.join(loaders)
        // A late statement would land within moments of its caller moving on.
        yield* sleepMillis(50)
        const second = yield* reopen
        const problems = callers.flatMap((caller) => caller.problems)
        for (const caller of callers) {
          const read = yield* second.get(ns, caller.key)
          if (read !== caller.last) problems.push(`at the end, ${caller.key} holds ${show(read)}, not ${caller.last}`)
        }
        expect(problems.slice(0, 10), `${problems.length} violations`).toEqual([])
      }),
    { timeout: 120_000 }
  )
]

/**
 * The law for backends that join the application's own transactions, run
 * when the suite is given `ambientTransaction`: a failed transaction leaves
 * none of the store's writes made inside it, a committed one all of them,
 * gets inside it read its writes while other fibers' gets read the committed
 * values, and of two transactions writing the same two keys in opposite orders (a
 * deadlock on engines with row locks) each commits whole or leaves nothing.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const ambient: Law = law(
  "inside the application's transaction the store joins it: a failed one, a deadlock's victim included, leaves none of the store's writes, a committed one all of them, and its gets read its writes while other fibers' read the committed values",
  ({ ambientTransaction, backend, namespace }) =>
    Effect.gen(function*() {
      const inTransaction = ambientTransaction!
      const ns = yield* namespace()
      yield* backend.set(ns, "kept", "before")
      const failed = yield* Effect.exit(inTransaction(Effect.gen(function*() {
        yield* backend.set(ns, "kept", "inside")
        yield* backend.setMany(ns, [{ key: "batch", value: "inside" }, { key: "other", value: "inside" }])
        yield* backend.modify(ns, "kept", () => Effect.succeed("modified inside"))
        return yield* Effect.fail("the application gives up")
      })))
      expect(Exit.isFailure(failed), "the application's transaction failed").toBe(true)
      expect(yield* backend.getMany(ns, ["kept", "batch", "other"]), "after the rollback").toEqual([
        "before",
        undefined,
        undefined
      ])
      yield* inTransaction(Effect.andThen(
        backend.set(ns, "kept", "committed"),
        backend.setMany(ns, [{ key: "batch", value: "committed" }])
      ))
      expect(yield* backend.getMany(ns, ["kept", "batch"]), "after the commit").toEqual(["committed", "committed"])

      // Gets inside the transaction, concurrent with gets of fibers outside
      // it: a batch of gets must not carry a read into or out of it.
      const keys = Array.from({ length: 50 }, (_, i) => `r${i}`)
      yield* backend.setMany(ns, keys.map((key) => ({ key, value: "committed" })))
      const readAll = Effect.all(keys.map((key) => backend.get(ns, key)), { concurrency: "unbounded" })
      for (let round = 0; round < 10; round++) {
        const go = yield* Deferred.make<void>()
        // Forked before the transaction begins: these fibers are outside it.
        const outside = yield* Effect.forkChild(Effect.andThen(Deferred.await(go), readAll))
        const inside = yield* Effect.exit(inTransaction(Effect.gen(function*() {
          yield* backend.setMany(ns, keys.map((key) => ({ key, value: "uncommitted" })))
          yield* Deferred.succeed(go, undefined)
          return yield* Effect.fail(yield* readAll)
        })))
        expect(Exit.isFailure(inside) ? Cause.squash(inside.cause) : undefined, "gets inside the transaction")
          .toEqual(keys.map(() => "uncommitted"))
        expect(yield* Fiber.join(outside), "gets of fibers outside it").toEqual(keys.map(() => "committed"))
      }

      // Each transaction waits for the other to have written its first key,
      // or gives up waiting (where the engine runs them one after the other).
      const first = yield* Deferred.make<void>()
      const second = yield* Deferred.make<void>()
      const waitFor = (signal: Deferred.Deferred<void>) => Effect.ignore(Effect.timeout(Deferred.await(signal), "2 seconds"))
      const writer = (tag: string, keys: readonly [string, string], mine: Deferred.Deferred<void>, theirs: Deferred.Deferred<void>) =>
        Effect.exit(inTransaction(Effect.gen(function*() {
          yield* backend.set(ns, keys[0], tag)
          yield* Deferred.succeed(mine, undefined)
          yield* waitFor(theirs)
          yield* backend.set(ns, keys[1], tag)
        })))
      const [one, two] = yield* Effect.all([
        writer("one", ["x", "y"], first, second),
        writer("two", ["y", "x"], second, first)
      ], { concurrency: "unbounded" })
      const committed = [Exit.isSuccess(one) ? "one" : undefined, Exit.isSuccess(two) ? "two" : undefined]
      expect(committed.some((tag) => tag !== undefined), "at least one of the two transactions committed").toBe(true)
      for (const exit of [one, two]) {
        if (Exit.isFailure(exit)) {
          expect(describeFailure(exit.cause), "the deadlock's victim fails typed and retryable").toBeUndefined()
        }
      }
      const [x, y] = yield* backend.getMany(ns, ["x", "y"])
      expect(x, "both keys hold the writes of one committed transaction").toBe(y)
      expect(committed).toContain(x)
    }),
  { timeout: 60_000 }
)
