/**
 * The model-based law: random sequences of every operation, over a small
 * alphabet of keys chosen to collide in careless storage (case, accents,
 * normalization, trailing space, NUL, `LIKE` metacharacters, prefixes of
 * each other), run against the backend under test and a fresh in-memory
 * reference backend side by side, with every result compared step by step.
 *
 * **Details**
 *
 * fast-check shrinks a failing sequence and reports its seed and path. To
 * replay one, set `CONFORMANCE_SEED` (and `CONFORMANCE_PATH`) in the
 * environment. Each run works in namespaces of its own, so runs never see
 * each other's entries.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { MemoryBackend, type StorageBackend } from "@effect-persist/core"
import { StorageError } from "@effect-persist/core/StorageError"
import { escape, sorted, tagged } from "../internal/assert.ts"
import { timedLaw, type Law } from "../internal/law.ts"

type Namespace = 0 | 1
type ModifyKind = "append" | "toBytes" | "toString" | "fail"

type Op =
  | { readonly op: "get"; readonly ns: Namespace; readonly key: string }
  | { readonly op: "getMany"; readonly ns: Namespace; readonly keys: ReadonlyArray<string> }
  | {
    readonly op: "set"
    readonly ns: Namespace
    readonly key: string
    readonly value: StorageBackend.Value
    readonly ttl: number | undefined
  }
  | {
    readonly op: "setMany"
    readonly ns: Namespace
    readonly entries: ReadonlyArray<
      { readonly key: string; readonly value: StorageBackend.Value; readonly ttl: number | undefined }
    >
  }
  | { readonly op: "remove"; readonly ns: Namespace; readonly key: string }
  | { readonly op: "clear"; readonly ns: Namespace }
  | { readonly op: "clearPrefix"; readonly ns: Namespace; readonly prefix: string }
  | { readonly op: "keys"; readonly ns: Namespace; readonly prefix: string | undefined }
  | { readonly op: "size"; readonly ns: Namespace; readonly prefix: string | undefined }
  | { readonly op: "modify"; readonly ns: Namespace; readonly key: string; readonly f: ModifyKind }
  | { readonly op: "advance"; readonly millis: number }
  | { readonly op: "sweep"; readonly batchSize: number | undefined }

const baseKeys = ["", "a", "A", "a ", "á", "\u00e9", "e\u0301", "e", "ab", "abc", "a%", "a_", "a\\", "😀", "\uffff", "b"]
const nulKeys = ["a\u0000", "a\u0000b"]
const basePrefixes = ["", "a", "A", "a%", "a_", "e", "\u00e9", "ab", "\uffff", "😀", "z"]

const values: ReadonlyArray<StorageBackend.Value> = [
  "",
  "x",
  "aGVsbG8=",
  "é😀",
  "a\u0000b",
  new Uint8Array(0),
  new Uint8Array([0]),
  new Uint8Array([255, 0, 128])
]

const firstCharacter = (key: string): string => key === "" ? "" : String.fromCodePoint(key.codePointAt(0)!)

const arbitraryOps = (nulInKeys: boolean): fc.Arbitrary<Array<Op>> =>
  // Each run draws a few keys from the alphabet, so that writes, reads and
  // prefixes of one run meet often enough to reveal a collision or a stale entry.
  fc.subarray(nulInKeys ? [...baseKeys, ...nulKeys] : baseKeys, { minLength: 2, maxLength: 6 }).chain((chosen) => {
    const key = fc.constantFrom(...chosen)
    const prefix = fc.oneof(
      fc.constantFrom(...(nulInKeys ? [...basePrefixes, "a\u0000"] : basePrefixes)),
      fc.constantFrom(...chosen),
      fc.constantFrom(...chosen.map(firstCharacter))
    )
    const ns = fc.constantFrom<Namespace>(0, 0, 0, 1)
    const value = fc.constantFrom(...values)
    // Mostly entries without expiry, so that state builds up between the advances of the clock.
    const ttl = fc.constantFrom(undefined, undefined, undefined, 0, 1, 100, 100, 1_000, 1_000, 5_000)
    const op: fc.Arbitrary<Op> = fc.oneof(
      { arbitrary: fc.record({ op: fc.constant("get" as const), ns, key }), weight: 3 },
      {
        arbitrary: fc.record({ op: fc.constant("getMany" as const), ns, keys: fc.array(key, { minLength: 1, maxLength: 5 }) }),
        weight: 2
      },
      { arbitrary: fc.record({ op: fc.constant("set" as const), ns, key, value, ttl }), weight: 5 },
      {
        arbitrary: fc.record({
          op: fc.constant("setMany" as const),
          ns,
          entries: fc.array(fc.record({ key, value, ttl }), { maxLength: 6 })
        }),
        weight: 3
      },
      { arbitrary: fc.record({ op: fc.constant("remove" as const), ns, key }), weight: 2 },
      { arbitrary: fc.record({ op: fc.constant("clear" as const), ns }), weight: 1 },
      { arbitrary: fc.record({ op: fc.constant("clearPrefix" as const), ns, prefix }), weight: 2 },
      {
        arbitrary: fc.record({ op: fc.constant("keys" as const), ns, prefix: fc.option(prefix, { nil: undefined }) }),
        weight: 3
      },
      {
        arbitrary: fc.record({ op: fc.constant("size" as const), ns, prefix: fc.option(prefix, { nil: undefined }) }),
        weight: 2
      },
      {
        arbitrary: fc.record({
          op: fc.constant("modify" as const),
          ns,
          key,
          f: fc.constantFrom<ModifyKind>("append", "toBytes", "toString", "fail")
        }),
        weight: 4
      },
      {
        arbitrary: fc.record({ op: fc.constant("advance" as const), millis: fc.constantFrom(1, 99, 100, 500, 1_000, 2_500) }),
        weight: 3
      },
      {
        arbitrary: fc.record({ op: fc.constant("sweep" as const), batchSize: fc.constantFrom(undefined, 1, 2, 1_000) }),
        weight: 1
      }
    )
    // fast-check's default size keeps arrays to a handful of elements; a
    // sequence needs room for a write, a collision and the read that reveals it.
    return fc.array(op, { minLength: 1, maxLength: 60, size: "max" })
  })

const encoder = new TextEncoder()

const modifyFunction = (kind: ModifyKind) => (current: StorageBackend.Value) => {
  switch (kind) {
    case "append":
      return Effect.succeed<StorageBackend.Value>(
        typeof current === "string" ? `${current}!` : Uint8Array.from([...current, 33])
      )
    case "toBytes":
      return Effect.succeed<StorageBackend.Value>(typeof current === "string" ? encoder.encode(current) : current)
    case "toString":
      return Effect.succeed<StorageBackend.Value>(
        typeof current === "string" ? current.toUpperCase() : `bytes:${current.length}`
      )
    case "fail":
      return Effect.fail(
        new StorageError({ operation: "modify", reason: "InvalidValue", message: "the model's modify function refused" })
      )
  }
}

/** JSON with every code point that hides in plain sight escaped. */
const render = (value: unknown): string =>
  JSON.stringify(value, (_, v) => v instanceof Uint8Array ? `Uint8Array[${Array.from(v)}]` : v).replace(
    /[\u007f-\u009f\u0300-\u036f\ud800-\udfff\ufff0-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
  )

/** Runs one operation and returns what a user would observe of it. */
const observe = (
  backend: StorageBackend.StorageBackend,
  namespaces: readonly [string, string],
  op: Op
): Effect.Effect<unknown, never> => {
  const run = (): Effect.Effect<unknown, StorageError> => {
    const expiry = (ttl: number | undefined) =>
      Effect.map(Clock.currentTimeMillis, (now) => ttl === undefined ? undefined : now + ttl)
    switch (op.op) {
      case "get":
        return Effect.map(backend.get(namespaces[op.ns], op.key), tagged)
      case "getMany":
        return Effect.map(backend.getMany(namespaces[op.ns], op.keys), (got) => got.map(tagged))
      case "set":
        return Effect.flatMap(expiry(op.ttl), (expiresAt) => backend.set(namespaces[op.ns], op.key, op.value, expiresAt))
      case "setMany":
        return Effect.flatMap(
          Effect.forEach(op.entries, (entry) =>
            Effect.map(expiry(entry.ttl), (expiresAt) => ({ key: entry.key, value: entry.value, expiresAt }))),
          (entries) => backend.setMany(namespaces[op.ns], entries)
        )
      case "remove":
        return backend.remove(namespaces[op.ns], op.key)
      case "clear":
        return backend.clear(namespaces[op.ns])
      case "clearPrefix":
        return backend.clearPrefix(namespaces[op.ns], op.prefix)
      case "keys":
        return Effect.map(backend.keys(namespaces[op.ns], op.prefix), (keys) => sorted(keys).map(escape))
      case "size":
        return backend.size(namespaces[op.ns], op.prefix)
      case "modify":
        return Effect.map(backend.modify(namespaces[op.ns], op.key, modifyFunction(op.f)), tagged)
      case "advance":
        return TestClock.adjust(op.millis)
      case "sweep":
        // How many a sweep deletes depends on whether reads or deletes already
        // dropped expired rows, which the contract leaves open; the ttl laws
        // check the count where it is determined. Here: a count, then the
        // same visible state as the model.
        return Effect.map(backend.sweep({ batchSize: op.batchSize }), (n) =>
          Number.isSafeInteger(n) && n >= 0 ? "swept" : `sweep returned ${String(n)}`)
    }
  }
  return Effect.exit(run()).pipe(
    Effect.map((exit) => {
      if (Exit.isSuccess(exit)) return { ok: exit.value ?? null }
      const error = Cause.findErrorOption(exit.cause)
      if (error._tag === "Some" && error.value instanceof StorageError) return { fails: error.value.reason }
      return { defect: Cause.pretty(exit.cause) }
    })
  )
}

class ModelMismatch extends Error {}

/**
 * The model-based law.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const model: ReadonlyArray<Law> = [
  timedLaw(
    "random operation sequences give the same results as the in-memory reference backend, step by step",
    ({ backend, namespace, options }) =>
      Effect.gen(function*() {
        const context = yield* Effect.context<never>()
        const runPromise = Effect.runPromiseExitWith(context)
        let run = 0
        const compare = (ops: ReadonlyArray<Op>, namespaces: readonly [string, string]) =>
          Effect.gen(function*() {
            const reference = MemoryBackend.make()
            for (const [i, op] of ops.entries()) {
              const expected = yield* observe(reference, namespaces, op)
              const actual = yield* observe(backend, namespaces, op)
              if (render(actual) !== render(expected)) {
                throw new ModelMismatch(
                  `step ${i + 1} of ${ops.length}, ${render(op)}:\n` +
                    `  ${backend.dialect} answered ${render(actual)}\n` +
                    `  the reference answered  ${render(expected)}`
                )
              }
            }
          })
        const sequence = (ops: ReadonlyArray<Op>) =>
          Effect.gen(function*() {
            run++
            yield* TestClock.setTime(Date.now())
            const namespaces = [yield* namespace(`model-${run}-a`), yield* namespace(`model-${run}-b`)] as const
            const cleanUp = Effect.forEach(namespaces, (ns) => Effect.ignore(backend.clear(ns)), { discard: true })
            yield* Effect.ensuring(compare(ops, namespaces), cleanUp)
          })
        const property = fc.asyncProperty(arbitraryOps(backend.capabilities.nulInKeys), async (ops) => {
          const exit = await runPromise(sequence(ops))
          if (Exit.isFailure(exit)) throw Cause.squash(exit.cause)
        })
        const seed = process.env["CONFORMANCE_SEED"]
        const path = process.env["CONFORMANCE_PATH"]
        yield* Effect.promise(() =>
          fc.assert(property, {
            numRuns: options.modelRuns,
            includeErrorInReport: true,
            ...(seed === undefined ? {} : { seed: Number(seed) }),
            ...(path === undefined ? {} : { path })
          })
        )
      }),
    { timeout: 300_000 }
  )
]
