/**
 * The effect-persist conformance suite: the laws every storage backend must
 * obey, run by every backend's test file in one call.
 *
 * **Details**
 *
 * `suite(name, layer)` registers one vitest `describe` with one `it` per law.
 * Laws are grouped one file per concern under `laws/`: basic operations,
 * batches, key identity, values, prefixes, namespaces, expiry, atomic
 * `modify`, typed errors, a model-based comparison with the in-memory
 * reference backend, and Effect's `KeyValueStore`, `Persistence` and
 * `PersistedCache` derived from the backend.
 *
 * @since 0.1.0
 */
import { afterAll, afterEach, describe, it, TestRunner } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { StorageBackend } from "@effect-persist/core"
import type { ResolvedOptions } from "./internal/law.ts"
import * as Laws from "./laws/index.ts"

/**
 * Options of `suite`. Each sizes one heavy law, or turns it off: a law turned
 * off is registered as skipped, with the option named, never dropped.
 *
 * @category models
 * @since 0.1.0
 */
export interface SuiteOptions {
  /**
   * Run the real-clock expiry law, which sleeps about 1.5 s. Every other
   * expiry law runs on Effect's `TestClock`.
   * @default true
   */
  readonly realClock?: boolean | undefined
  /**
   * Size in bytes of the value written by the "large value" law, once as a
   * string and once as a `Uint8Array`.
   * @default 4194304 (4 MiB)
   */
  readonly largeValueBytes?: number | undefined
  /**
   * Concurrent fibers in the atomic-modify law; each increments one counter
   * five times.
   * @default 32
   */
  readonly modifyConcurrency?: number | undefined
  /**
   * fast-check runs of the model-based law.
   * @default 100
   */
  readonly modelRuns?: number | undefined
  /**
   * Rounds each fiber runs in the interleaving laws (writers next to failing,
   * sleeping and interrupted modifies; operations interrupted at a random
   * point).
   * @default 60
   */
  readonly interleaveRounds?: number | undefined
  /**
   * For a backend that joins the application's own transactions (one built
   * on the application's SQL client): runs an effect in such a transaction,
   * committing when it succeeds and rolling back when it fails, for example
   * `(effect) => SqlClient.SqlClient.use((sql) => sql.withTransaction(effect))`.
   * Its requirements are served from what the suite's layer provides, so the
   * layer provides the client too (`Layer.provideMerge`). With it the suite
   * registers one more law: a failed transaction, a deadlock's victim
   * included, leaves none of the store's writes made inside it.
   */
  readonly ambientTransaction?: (<A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, unknown, any>) | undefined
}

/**
 * How many laws (vitest `it`s) one `suite` call registers, skipped ones included.
 *
 * @category models
 * @since 0.1.0
 */
export const lawCount: number = Laws.all.length

const positiveInteger = (option: string, value: number | undefined, fallback: number): number => {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`@effect-persist/conformance: ${option} must be a positive integer, got ${value}.`)
  }
  return value
}

const resolveOptions = (options: SuiteOptions | undefined): ResolvedOptions => ({
  realClock: options?.realClock ?? true,
  largeValueBytes: positiveInteger("largeValueBytes", options?.largeValueBytes, 4 * 1024 * 1024),
  modifyConcurrency: positiveInteger("modifyConcurrency", options?.modifyConcurrency, 32),
  modelRuns: positiveInteger("modelRuns", options?.modelRuns, 100),
  interleaveRounds: positiveInteger("interleaveRounds", options?.interleaveRounds, 60)
})

/**
 * The capabilities a backend declares missing, by name, as the summary line
 * reports them. Limits (`maxKeyBytes`, `maxValueBytes`) are not missing
 * capabilities: the laws test that they are enforced.
 */
const declaredMissing = (capabilities: StorageBackend.Capabilities): Array<string> => {
  const missing: Array<string> = []
  if (!capabilities.nulInKeys) missing.push("nulInKeys")
  if (!capabilities.atomicModify) missing.push("atomicModify")
  return missing
}

// The describe title names the dialect, which is only known once the layer is
// built. Vitest awaits an async describe callback during collection, so the
// layer is built there and the title of the describe being collected is set
// before any law is registered (laws take their full names from it).
const retitleCurrentSuite = (title: string): void => {
  const collector = TestRunner.getCurrentSuite() as unknown as {
    name?: string
    suite?: { name: string; fullName?: string; fullTestName?: string }
  }
  const task = collector?.suite
  if (task === undefined) return
  const previous = task.name
  const retitle = (full: string | undefined) =>
    full !== undefined && full.endsWith(previous) ? full.slice(0, full.length - previous.length) + title : full
  const fullName = retitle(task.fullName)
  const fullTestName = retitle(task.fullTestName)
  task.name = title
  if (fullName !== undefined) task.fullName = fullName
  if (fullTestName !== undefined) task.fullTestName = fullTestName
  collector.name = title
}

const layerTimeout = Duration.minutes(2)

const randomToken = (): string => Math.random().toString(36).slice(2, 8).padEnd(6, "0")

/**
 * Registers the conformance suite for one backend configuration.
 *
 * **Details**
 *
 * Registers a vitest `describe` titled `conformance: <name> (<dialect>)`
 * that builds `layer` once and runs every law against it as its own `it`.
 * Each law works in namespaces of its own, unique to this run, cleared before
 * first use and again when the law ends. Expiry laws run on Effect's
 * `TestClock` (set to the wall-clock time when the law starts); one law runs
 * on the real clock (`realClock`). Laws that need a capability the backend
 * declares missing (`nulInKeys`, `atomicModify`) assert the declared
 * behaviour instead, and the summary printed after the last law lists them:
 *
 * ```text
 * conformance: sqlite (memory) (sqlite): 103/103 laws passed
 * conformance: my-store (redis): 101/101 laws passed (1 skipped by options); declared missing: nulInKeys
 * ```
 *
 * If the layer fails to build, the describe holds a single failing test
 * carrying the layer's error.
 *
 * **When to use**
 *
 * In a backend's test file, once per configuration:
 *
 * ```ts
 * import { suite } from "@effect-persist/conformance"
 * import { SqliteBackend } from "@effect-persist/sqlite"
 *
 * suite("sqlite (memory)", SqliteBackend.layer({ filename: ":memory:", autoMigrate: true }))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const suite = (
  name: string,
  layer: Layer.Layer<StorageBackend.StorageBackend, unknown>,
  options?: SuiteOptions
): void => {
  const resolved = resolveOptions(options)
  const token = randomToken()

  describe(`conformance: ${name}`, async () => {
    const scope = Effect.runSync(Scope.make())
    const closeScope = () => Effect.runPromise(Scope.close(scope, Exit.void))
    // Collection has no timeout of its own: a layer waiting on an unreachable
    // server must still end in a failed test, not a hung run.
    const built = await Effect.runPromiseExit(
      Layer.buildWithScope(layer, scope).pipe(
        Effect.timeoutOrElse({
          duration: layerTimeout,
          orElse: () => Effect.fail(new Error(`The layer did not build within ${Duration.format(layerTimeout)}.`))
        })
      )
    )

    if (Exit.isFailure(built)) {
      retitleCurrentSuite(`conformance: ${name} (layer failed)`)
      afterAll(async () => {
        console.log(`conformance: ${name} (layer failed): 0/${lawCount} laws passed`)
        await closeScope()
      })
      it("builds the backend layer", () => {
        throw new Error(`The backend layer for ${JSON.stringify(name)} failed to build:\n${Cause.pretty(built.cause)}`)
      })
      return
    }

    const backend = Context.get(built.value, StorageBackend.StorageBackend)
    const title = `conformance: ${name} (${backend.dialect})`
    retitleCurrentSuite(title)
    // A durable backend's layer built again is a second store on the same
    // database: what one acknowledged, the other must read.
    const reopen = backend.capabilities.durable
      ? Effect.map(Layer.build(layer), (context) => Context.get(context, StorageBackend.StorageBackend))
      : Effect.succeed(backend)
    const joinsTransactions = options?.ambientTransaction
    const ambientTransaction = joinsTransactions === undefined
      ? undefined
      : <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, unknown> =>
        Effect.provide(joinsTransactions(effect), built.value as Context.Context<any>) as Effect.Effect<A, unknown>
    const runLaw = Laws.makeRunner(backend, resolved, token, reopen, ambientTransaction)

    let ran = 0
    let passed = 0
    let skipped = 0
    afterEach(({ task }) => {
      ran++
      if (task.result?.state === "pass") passed++
    })
    afterAll(async () => {
      const missing = declaredMissing(backend.capabilities)
      console.log(
        `${title}: ${passed}/${ran} laws passed` +
          (skipped > 0 ? ` (${skipped} skipped by options)` : "") +
          (missing.length > 0 ? `; declared missing: ${missing.join(", ")}` : "")
      )
      await closeScope()
    })

    Laws.all.forEach((law, index) => {
      const skipReason = law.skipWhen?.(resolved)
      const tester = law.clock === "test" ? it.effect : it.live
      if (skipReason !== undefined) {
        skipped++
        tester.skip(`${law.name} (skipped: ${skipReason})`, () => Effect.void)
        return
      }
      tester(law.name, () => runLaw(law, index), law.timeout)
    })
    if (ambientTransaction !== undefined) {
      it.live(Laws.ambientLaw.name, () => runLaw(Laws.ambientLaw, Laws.all.length), Laws.ambientLaw.timeout)
    }
  })
}
