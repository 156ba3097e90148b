/**
 * Every law, in the order the suite registers them, and the function that
 * runs one law against a backend. `suite` wraps each run in a vitest `it`;
 * the suite's own tests run laws directly against deliberately broken
 * backends to show that each law can fail.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import { Services, StorageBackend } from "@effect-persist/core"
import type { Law, LawContext, ResolvedOptions } from "../internal/law.ts"
import { basic } from "./basic.ts"
import { batch } from "./batch.ts"
import { errors } from "./errors.ts"
import { ambient, interleave } from "./interleave.ts"
import { keys } from "./keys.ts"
import { model } from "./model.ts"
import { modify } from "./modify.ts"
import { namespace } from "./namespace.ts"
import { persistence } from "./persistence.ts"
import { prefix } from "./prefix.ts"
import { services } from "./services.ts"
import { ttl } from "./ttl.ts"
import { values } from "./values.ts"

/**
 * What a law is, and the suite options it runs with.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export type { Law, ResolvedOptions } from "../internal/law.ts"

/**
 * Every law, grouped by concern.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const groups: ReadonlyArray<readonly [group: string, laws: ReadonlyArray<Law>]> = [
  ["basic", basic],
  ["batch", batch],
  ["keys", keys],
  ["values", values],
  ["prefix", prefix],
  ["namespace", namespace],
  ["ttl", ttl],
  ["modify", modify],
  ["interleave", interleave],
  ["errors", errors],
  ["model", model],
  ["services", services],
  ["persistence", persistence]
]

/**
 * The law registered after every other one when the suite is given
 * `ambientTransaction`: a backend that joins the application's transactions.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const ambientLaw: Law = ambient

/**
 * Every law, in registration order.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const all: ReadonlyArray<Law> = groups.flatMap(([, laws]) => laws)

/**
 * Runs laws against one backend.
 *
 * **Details**
 *
 * A law's namespaces are `cf.<token>.<index>.<label>`: unique to the law and
 * to this run of the suite (the token), so that a durable backend's leftovers
 * from an earlier run never meet a law, and still exactly the label the law
 * asked for at the end (labels that differ by a trailing space give
 * namespaces that do). Each is cleared before its first use and again when
 * the law ends, pass or fail, so that expired leftovers never reach a later
 * law's `sweep`. A law on the `TestClock` starts with it set to the
 * wall-clock time, so that expiry instants are realistic for every column type.
 *
 * @internal
 * @category constructors
 * @since 0.1.0
 */
export const makeRunner = (
  backend: StorageBackend.StorageBackend,
  options: ResolvedOptions,
  token: string,
  reopen: Effect.Effect<StorageBackend.StorageBackend, unknown, Scope.Scope> = Effect.succeed(backend),
  ambientTransaction?: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, unknown>
) => {
  const backendLayer = Layer.succeed(StorageBackend.StorageBackend)(backend)
  return (law: Law, index: number): Effect.Effect<void, unknown, Scope.Scope> =>
    Effect.gen(function*() {
      if (law.clock === "test") yield* TestClock.setTime(Date.now())
      const used = new Set<string>()
      const fresh = (ns: string) =>
        used.has(ns) ? Effect.succeed(ns) : Effect.suspend(() => {
          used.add(ns)
          return Effect.as(backend.clear(ns), ns)
        })
      const nameOf = (label: string) => `cf.${token}.${index}.${label}`
      const context: LawContext = {
        backend,
        reopen,
        ambientTransaction,
        backendLayer,
        options,
        namespace: (label = "main") => fresh(nameOf(label)),
        keyValueStoreName: (label = "kv") => Effect.as(fresh(Services.keyValueNamespace(nameOf(label))), nameOf(label)),
        persistenceStoreId: (label = "store") =>
          Effect.as(fresh(Services.persistenceNamespace(nameOf(label))), nameOf(label))
      }
      const cleanUp = Effect.suspend(() =>
        Effect.forEach(used, (ns) => Effect.ignore(backend.clear(ns)), { discard: true })
      )
      yield* Effect.ensuring(law.run(context), cleanUp)
    })
}
