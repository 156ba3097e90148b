// Values of a persistence store are stored as JSON, and JSON.stringify
// silently changes what it cannot represent. Found by the reliability
// suite's hostile-input run: `{ a: undefined }` was stored and read back as
// `{}`, `[undefined]` as `[null]`, a Date as a string, a non-object as an
// entry that every later read reported as corrupt, and a BigInt key with such
// a value turned the refusal into a defect.
import { MemoryBackend, Services, StorageError } from "@effect-persist/core"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"

class Point {
  readonly x = 1
}

const cycle = (): object => {
  const value: Record<string, unknown> = {}
  value.self = value
  return value
}

const refused: ReadonlyArray<readonly [string, () => unknown, string]> = [
  ["an undefined field", () => ({ a: 1, missing: undefined }), "value.missing is undefined"],
  ["an undefined array element", () => ({ list: [1, undefined] }), "value.list[1] is undefined"],
  ["a hole in a sparse array", () => [1, , 3], "value[1] is a hole"],
  ["NaN", () => ({ n: Number.NaN }), "value.n is NaN"],
  ["Infinity", () => ({ n: [Infinity] }), "value.n[0] is Infinity"],
  ["a BigInt", () => ({ big: 1n }), "value.big is a BigInt"],
  ["a cycle", cycle, "value.self refers back"],
  ["a Date", () => ({ when: new Date(0) }), "value.when is a Date"],
  ["a Map", () => ({ map: new Map() }), "value.map is a Map"],
  ["a class instance", () => ({ point: new Point() }), "value.point is a Point"],
  ["a Uint8Array", () => ({ bytes: new Uint8Array(1) }), "value.bytes is a Uint8Array"],
  ["a function", () => ({ f: () => 1 }), "value.f is a function"],
  ["a symbol value", () => ({ s: Symbol("s") }), "value.s is a symbol"],
  ["symbol keys", () => ({ [Symbol("s")]: 1 }), "symbol keys"],
  ["a toJSON method", () => ({ nested: { toJSON: () => "x" } }), "value.nested has a toJSON method"],
  ["a string", () => "text", "not an object"],
  ["a number", () => 42, "not an object"],
  ["null", () => null, "not an object"],
  ["a field named oddly", () => ({ "a b": undefined }), `value["a b"] is undefined`]
]

describe("persistence values must encode as JSON exactly", () => {
  for (const [name, make, where] of refused) {
    it.effect(`${name} is refused with an InvalidValue naming where, and nothing is stored`, () =>
      Effect.gen(function*() {
        const store = Services.makeBackingPersistenceStore(MemoryBackend.make(), "s")
        const error = yield* Effect.flip(store.set("k", make() as object, undefined))
        expect(error._tag).toBe("PersistenceError")
        const cause = error.cause as StorageError.StorageError
        expect(cause).toBeInstanceOf(StorageError.StorageError)
        expect(cause.reason).toBe("InvalidValue")
        expect(cause.message).toContain(where)
        expect(yield* store.get("k")).toBeUndefined()
        // The same in a batch: the whole batch is refused.
        const batch = yield* Effect.flip(store.setMany([["ok", { fine: true }, undefined], ["k", make() as object, undefined]]))
        expect((batch.cause as StorageError.StorageError).reason).toBe("InvalidValue")
        expect(yield* store.get("ok")).toBeUndefined()
      }))
  }

  it.effect("values JSON encodes exactly round-trip, lone surrogates and odd keys included; -0 reads back as 0", () =>
    Effect.gen(function*() {
      const store = Services.makeBackingPersistenceStore(MemoryBackend.make(), "s")
      const values: ReadonlyArray<object> = [
        {},
        [],
        { nested: { list: [1, "two", null, true, { deep: [] }] } },
        { text: "\ud800 lone, \u0000 NUL, ' quote, 😀" },
        { "__proto__": 1, "": "empty key", "\ud800": "surrogate key" },
        Object.assign(Object.create(null), { bare: 1 }),
        [[1e308, -1e-308, 0.1]]
      ]
      for (const [i, value] of values.entries()) {
        yield* store.set(`k${i}`, value, undefined)
        expect(yield* store.get(`k${i}`)).toStrictEqual(JSON.parse(JSON.stringify(value)))
      }
      yield* store.set("zero", { z: -0 }, undefined)
      const zero = (yield* store.get("zero")) as { readonly z: number }
      expect(Object.is(zero.z, 0)).toBe(true)
    }))

  it.effect("a key that is not a string, with a value JSON cannot encode, fails typed rather than as a defect", () =>
    Effect.gen(function*() {
      const store = Services.makeBackingPersistenceStore(MemoryBackend.make(), "s")
      const exit = yield* Effect.exit(store.set(1n as unknown as string, { f: () => 1 }, undefined))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        expect(exit.cause.reasons.some(Cause.isDieReason)).toBe(false)
        const error = exit.cause.reasons.find(Cause.isFailReason)!.error
        expect(error.message).toContain("of type bigint")
      }
    }))
})
