/**
 * Value laws: a value `set` accepts is read back byte for byte and as the
 * kind it was written (string or `Uint8Array`), whatever its content or size;
 * values that cannot be stored exactly are refused with a typed error and
 * change nothing.
 *
 * @internal
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { byteRange, expectBytes, expectSameKeys, expectStorageError, expectString, expectValue, show } from "../internal/assert.ts"
import { law, type Law } from "../internal/law.ts"

/** A well-formed string of exactly `bytes` UTF-8 bytes with characters of every width. */
const largeString = (bytes: number): string => {
  const unit = "abc\u0000é€😀\n" // 1+1+1+1+2+3+4+1 = 14 bytes
  const whole = Math.floor(bytes / 14)
  return unit.repeat(whole) + "x".repeat(bytes - whole * 14)
}

/**
 * The value laws.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const values: ReadonlyArray<Law> = [
  law("the empty string is stored and read back as \"\", not as missing or as bytes", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.set(ns, "k", "")
      expectString(yield* backend.get(ns, "k"), "")
      expectString((yield* backend.getMany(ns, ["k"]))[0], "")
      expect(yield* backend.size(ns)).toBe(1)
      expectSameKeys(yield* backend.keys(ns), ["k"])
    })),

  law("the empty Uint8Array is stored and read back as an empty Uint8Array", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.set(ns, "k", new Uint8Array(0))
      expectBytes(yield* backend.get(ns, "k"), [])
      expectBytes((yield* backend.getMany(ns, ["k"]))[0], [])
      expect(yield* backend.size(ns)).toBe(1)
    })),

  law("binary values keep every byte value 0..255, in any order", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const ascending = byteRange(256)
      const descending = ascending.slice().reverse()
      // Invalid UTF-8 and a UTF-16 BOM: a backend that decodes bytes as text would change them.
      const tricky = Uint8Array.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0x00])
      yield* backend.set(ns, "ascending", ascending)
      yield* backend.set(ns, "descending", descending)
      yield* backend.set(ns, "tricky", tricky)
      yield* backend.set(ns, "zeros", new Uint8Array(100))
      expectBytes(yield* backend.get(ns, "ascending"), ascending, "ascending")
      expectBytes(yield* backend.get(ns, "descending"), descending, "descending")
      expectBytes(yield* backend.get(ns, "tricky"), tricky, "tricky")
      expectBytes(yield* backend.get(ns, "zeros"), new Uint8Array(100), "zeros")
    })),

  law(
    "a large value (largeValueBytes) is read back exactly, as a string and as bytes",
    ({ backend, namespace, options }) =>
      Effect.gen(function*() {
        const ns = yield* namespace()
        const size = options.largeValueBytes
        expect(
          size <= backend.capabilities.maxValueBytes,
          `largeValueBytes (${size}) must not exceed the backend's maxValueBytes (${backend.capabilities.maxValueBytes})`
        ).toBe(true)
        const text = largeString(size)
        const bytes = byteRange(size, 7)
        yield* backend.set(ns, "text", text)
        expectString(yield* backend.get(ns, "text"), text, "large string")
        yield* backend.set(ns, "bytes", bytes)
        expectBytes(yield* backend.get(ns, "bytes"), bytes, "large bytes")
        const [again] = yield* backend.getMany(ns, ["text"])
        expectString(again, text, "large string through getMany")
      }),
    { timeout: 120_000 }
  ),

  law(
    "values over maxValueBytes fail with ValueTooLarge naming the limit (without a limit: a large value inside a batch is stored)",
    ({ backend, namespace, options }) =>
      Effect.gen(function*() {
        const ns = yield* namespace()
        const limit = backend.capabilities.maxValueBytes
        yield* backend.set(ns, "k", "previous")
        if (!Number.isFinite(limit)) {
          const bytes = byteRange(options.largeValueBytes, 3)
          yield* backend.setMany(ns, [{ key: "small", value: "s" }, { key: "big", value: bytes }])
          expectBytes(yield* backend.get(ns, "big"), bytes, "large value written by setMany")
          expectValue(yield* backend.get(ns, "small"), "s")
          return
        }
        // A zero-filled array costs no memory until it is touched, so the
        // over-limit bytes are cheap whatever the limit; strings are built only
        // for limits small enough to hold in a test process.
        const attempts: Array<readonly [string, Effect.Effect<unknown, unknown>]> = [
          ["set of bytes", backend.set(ns, "k", new Uint8Array(limit + 1))],
          ["setMany", backend.setMany(ns, [{ key: "other", value: "x" }, { key: "k", value: new Uint8Array(limit + 1) }])]
        ]
        if (limit < 64 * 1024 * 1024) {
          attempts.push(
            ["set of a string", backend.set(ns, "k", "a".repeat(limit + 1))],
            ["set of a multibyte string", backend.set(ns, "k", "é".repeat(Math.floor(limit / 2) + 1))]
          )
        }
        for (const [what, attempt] of attempts) {
          const error = yield* expectStorageError(attempt, "ValueTooLarge", what)
          expect(error.message, `the ${what} error must name the limit`).toContain(String(limit))
        }
        expectValue(yield* backend.get(ns, "k"), "previous")
        expectSameKeys(yield* backend.keys(ns), ["k"])
      }),
    { timeout: 120_000 }
  ),

  law("strings that look like base64 stay strings", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const list = ["aGVsbG8=", "AAAA", "YQ==", "AQID", "/w==", "aGVsbG8"]
      for (const value of list) yield* backend.set(ns, value, value)
      for (const value of list) {
        const got = yield* backend.get(ns, value)
        expect(typeof got, `${value} must be read back as a string`).toBe("string")
        expect(got).toBe(value)
      }
    })),

  law("strings that look like numbers, JSON, booleans or null stay those strings", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const list = ["0", "1", "-1.5e3", "NaN", "true", "false", "null", "undefined", "{\"a\":1}", "[1,2]", "\"quoted\"", " 1 "]
      yield* backend.setMany(ns, list.map((value, i) => ({ key: `k${i}`, value })))
      const got = yield* backend.getMany(ns, list.map((_, i) => `k${i}`))
      got.forEach((value, i) => expectString(value, list[i]!, `value ${show(list[i])}`))
    })),

  law("strings with NUL, control, astral and non-character code points are read back exactly", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const list = [
        "a\u0000b",
        "\u0000",
        "line\nbreak\r\nand\ttab",
        "😀𝒳👨‍👩‍👧",
        "\uffff\ufffe\ufffd",
        "\u{10ffff}",
        "e\u0301 vs \u00e9",
        "trailing spaces   ",
        "\\u0000 is not NUL",
        "'; DROP TABLE kv; --"
      ]
      for (const [i, value] of list.entries()) yield* backend.set(ns, `k${i}`, value)
      for (const [i, value] of list.entries()) expectString(yield* backend.get(ns, `k${i}`), value, `value ${show(value)}`)
    })),

  law("the kind written is the kind read: string, Uint8Array, and a Node Buffer comes back as a plain Uint8Array", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const buffer = Buffer.from("buffer bytes")
      const backing = byteRange(64)
      const view = backing.subarray(10, 20) // a view whose byteOffset is not 0
      yield* backend.set(ns, "string", "text")
      yield* backend.set(ns, "bytes", new Uint8Array([104, 105]))
      yield* backend.set(ns, "buffer", buffer)
      yield* backend.set(ns, "view", view)
      yield* backend.setMany(ns, [{ key: "buffer-batch", value: Buffer.from([1, 2]) }])
      expectString(yield* backend.get(ns, "string"), "text")
      expectBytes(yield* backend.get(ns, "bytes"), [104, 105])
      expectBytes(yield* backend.get(ns, "buffer"), Array.from(buffer), "Buffer value")
      expectBytes(yield* backend.get(ns, "view"), Array.from(backing.subarray(10, 20)), "subarray value")
      expectBytes(yield* backend.get(ns, "buffer-batch"), [1, 2], "Buffer in setMany")
    })),

  law("stored values are not aliased: changing the written or the returned array changes nothing stored", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const written = new Uint8Array([1, 2, 3])
      yield* backend.set(ns, "k", written)
      written[0] = 99
      const read = (yield* backend.get(ns, "k")) as Uint8Array
      expectBytes(read, [1, 2, 3])
      read[1] = 99
      expectBytes(yield* backend.get(ns, "k"), [1, 2, 3])
    })),

  law(
    "strings with lone surrogates are refused with InvalidValue and the previous value stays",
    ({ backend, namespace }) =>
      Effect.gen(function*() {
        const ns = yield* namespace()
        yield* backend.set(ns, "k", "previous")
        for (const bad of ["\ud800", "abc\udc00", "\udc00\ud800", "😀\ud83d"]) {
          yield* expectStorageError(backend.set(ns, "k", bad), "InvalidValue", `set of ${show(bad)}`)
          yield* expectStorageError(backend.set(ns, "new", bad), "InvalidValue", `set of ${show(bad)} under a new key`)
          yield* expectStorageError(
            backend.setMany(ns, [{ key: "other", value: "fine" }, { key: "k", value: bad }]),
            "InvalidValue",
            `setMany with ${show(bad)}`
          )
        }
        expectValue(yield* backend.get(ns, "k"), "previous")
        expectSameKeys(yield* backend.keys(ns), ["k"])
      })
  ),

  law("values that are neither strings nor Uint8Arrays are refused with InvalidValue, never a defect", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.set(ns, "k", "previous")
      const bad: ReadonlyArray<unknown> = [
        42,
        { a: 1 },
        null,
        undefined,
        true,
        [1, 2, 3],
        new ArrayBuffer(4),
        new Uint16Array([1, 2]),
        new DataView(new ArrayBuffer(2)),
        Symbol("s"),
        10n
      ]
      for (const value of bad) {
        yield* expectStorageError(backend.set(ns, "k", value as any), "InvalidValue", `set of ${String(value)}`)
        yield* expectStorageError(
          backend.setMany(ns, [{ key: "other", value: "fine" }, { key: "k", value: value as any }]),
          "InvalidValue",
          `setMany with ${String(value)}`
        )
      }
      expectValue(yield* backend.get(ns, "k"), "previous")
      expectSameKeys(yield* backend.keys(ns), ["k"])
    }))
]
