/**
 * Key identity laws: every well-formed JS string is its own key, including
 * "", NUL, and strings differing only in case, trailing space, accents or
 * normalization form; keys of at least 1 KiB work and the backend's limit is
 * enforced with a typed error naming it; ill-formed strings (lone
 * surrogates) are refused, never stored under a changed key.
 *
 * @internal
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { StorageBackend } from "@effect-persist/core"
import type { StorageError } from "@effect-persist/core/StorageError"
import { astralKeys, confusablePairs, loneSurrogates, metacharacters, nulKeys } from "../internal/alphabet.ts"
import { escape, expectSameKeys, expectStorageError, expectValue } from "../internal/assert.ts"
import { law, type Law } from "../internal/law.ts"

/**
 * Writes each key with its own value and checks that every key reads back
 * its own value, that `keys` lists each exactly once, and that removing one
 * leaves the others.
 */
const expectDistinct = (backend: StorageBackend.StorageBackend, ns: string, keys: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    expect(new Set(keys).size, "the law's own keys must be distinct").toBe(keys.length)
    for (const [i, key] of keys.entries()) yield* backend.set(ns, key, `value-${i}`)
    for (const [i, key] of keys.entries()) {
      expectValue(yield* backend.get(ns, key), `value-${i}`, `get(${escape(key)})`)
    }
    expectSameKeys(yield* backend.keys(ns), keys)
    expect(yield* backend.size(ns)).toBe(keys.length)
    expect(yield* backend.getMany(ns, keys)).toEqual(keys.map((_, i) => `value-${i}`))
    yield* backend.remove(ns, keys[0]!)
    expect(yield* backend.get(ns, keys[0]!), `get(${escape(keys[0]!)}) after its removal`).toBeUndefined()
    expectSameKeys(yield* backend.keys(ns), keys.slice(1))
  })

const pairLaw = (title: string, reasons: ReadonlyArray<string>) =>
  law(title, ({ backend, namespace }) =>
    Effect.gen(function*() {
      for (const [a, b, reason] of confusablePairs) {
        if (!reasons.includes(reason)) continue
        const ns = yield* namespace(reason)
        yield* expectDistinct(backend, ns, [a, b])
        yield* expectDistinct(backend, yield* namespace(`${reason} reversed`), [b, a])
      }
    }))

/** A string of exactly `bytes` UTF-8 bytes, mixing one-, two- and three-byte characters. */
const utf8OfLength = (bytes: number): string => {
  const unit = "aé€" // 1 + 2 + 3 bytes
  let text = unit.repeat(Math.floor(bytes / 6))
  let rest = bytes - Math.floor(bytes / 6) * 6
  while (rest > 0) {
    text += "a"
    rest--
  }
  return text
}

/**
 * The key identity laws.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const keys: ReadonlyArray<Law> = [
  pairLaw("keys differing only by case are distinct (\"a\" / \"A\", \"straße\" / \"STRASSE\")", [
    "case",
    "case folding"
  ]),

  pairLaw("keys differing only by leading or trailing whitespace are distinct (\"a\" / \"a \")", [
    "trailing space",
    "leading space",
    "two trailing spaces",
    "trailing tab"
  ]),

  pairLaw("keys differing only by accents are distinct (\"á\" / \"a\")", ["accent", "umlaut"]),

  pairLaw("keys in different Unicode normalization forms are distinct (\"\\u00e9\" / \"e\\u0301\")", [
    "NFC versus NFD",
    "angstrom sign versus A with ring (canonical equivalents)",
    "ligature (compatibility equivalents)"
  ]),

  law(
    "keys with NUL are distinct from their NUL-free forms (or, when nulInKeys is declared missing, refused with InvalidKey)",
    ({ backend, namespace }) =>
      Effect.gen(function*() {
        const ns = yield* namespace()
        if (backend.capabilities.nulInKeys) {
          yield* expectDistinct(backend, ns, ["a", "ab", "", ...nulKeys])
          return
        }
        yield* backend.set(ns, "a", "kept")
        for (const key of nulKeys) {
          yield* expectStorageError(backend.set(ns, key, "x"), "InvalidKey", `set(${escape(key)})`)
          yield* expectStorageError(backend.get(ns, key), "InvalidKey", `get(${escape(key)})`)
          yield* expectStorageError(
            backend.setMany(ns, [{ key: "b", value: "x" }, { key, value: "x" }]),
            "InvalidKey",
            `setMany with ${escape(key)}`
          )
        }
        expectSameKeys(yield* backend.keys(ns), ["a"])
        expectValue(yield* backend.get(ns, "a"), "kept")
      })
  ),

  law("the empty string is a key like any other", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      expect(yield* backend.get(ns, "")).toBeUndefined()
      yield* backend.set(ns, "", "empty key")
      yield* backend.set(ns, " ", "space key")
      expectValue(yield* backend.get(ns, ""), "empty key")
      expectSameKeys(yield* backend.keys(ns), ["", " "])
      expect(yield* backend.getMany(ns, ["", " ", ""])).toEqual(["empty key", "space key", "empty key"])
      yield* backend.remove(ns, "")
      expect(yield* backend.get(ns, "")).toBeUndefined()
      expectSameKeys(yield* backend.keys(ns), [" "])
    })),

  law("keys of 1 KiB of UTF-8 work, whatever their characters", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      expect(
        backend.capabilities.maxKeyBytes,
        "every backend must take keys of at least 1024 UTF-8 bytes"
      ).toBeGreaterThanOrEqual(1024)
      const ascii = "k".repeat(1024)
      const mixed = utf8OfLength(1024)
      const threeByte = "€".repeat(341) // 1023 bytes
      const astral = "😀".repeat(256) // 1024 bytes
      // Long keys that share a long prefix must not be truncated into one.
      const nearTwin = `${ascii.slice(0, 1023)}j`
      const all = [ascii, mixed, threeByte, astral, nearTwin]
      yield* expectDistinct(backend, ns, all)
    })),

  law(
    "keys up to maxKeyBytes work; one byte more fails with KeyTooLong naming the limit (namespaces too)",
    ({ backend, namespace }) =>
      Effect.gen(function*() {
        const ns = yield* namespace()
        const limit = backend.capabilities.maxKeyBytes
        if (!Number.isFinite(limit)) {
          // No limit declared: then a key far beyond what indexes usually take must work.
          const big = utf8OfLength(64 * 1024)
          yield* backend.set(ns, big, "big")
          expectValue(yield* backend.get(ns, big), "big")
          expectSameKeys(yield* backend.keys(ns), [big])
          return
        }
        const atLimit = utf8OfLength(limit)
        const overLimit = `${atLimit}a`
        yield* backend.set(ns, atLimit, "at the limit")
        expectValue(yield* backend.get(ns, atLimit), "at the limit")
        const attempts: ReadonlyArray<readonly [string, Effect.Effect<unknown, StorageError>]> = [
          ["set", backend.set(ns, overLimit, "x")],
          ["get", backend.get(ns, overLimit)],
          ["setMany", backend.setMany(ns, [{ key: "ok", value: "x" }, { key: overLimit, value: "x" }])],
          ["set in an over-long namespace", backend.set(`${atLimit}b`, "k", "x")]
        ]
        for (const [what, attempt] of attempts) {
          const error = yield* expectStorageError(attempt, "KeyTooLong", `${what} with ${limit + 1} bytes`)
          expect(error.message, `the ${what} error must name the limit`).toContain(String(limit))
        }
        expectSameKeys(yield* backend.keys(ns), [atLimit])
      })
  ),

  law("emoji and other astral or boundary code points are distinct keys, listed back exactly", ({ backend, namespace }) =>
    Effect.gen(function*() {
      yield* expectDistinct(backend, yield* namespace(), astralKeys)
    })),

  law(
    "keys with lone surrogates are refused with InvalidKey, nothing is stored, and U+FFFD stays free",
    ({ backend, namespace }) =>
      Effect.gen(function*() {
        const ns = yield* namespace()
        yield* backend.set(ns, "existing", "kept")
        for (const key of loneSurrogates) {
          const error = yield* expectStorageError(backend.set(ns, key, "x"), "InvalidKey", `set(${escape(key)})`)
          expect(error.operation).toBe("set")
        }
        expectSameKeys(yield* backend.keys(ns), ["existing"])
        expect(yield* backend.get(ns, "\ufffd")).toBeUndefined()
        expect(yield* backend.get(ns, "a\ufffdb")).toBeUndefined()
        expectValue(yield* backend.get(ns, "existing"), "kept")
      })
  ),

  law("every operation taking a key or prefix refuses lone surrogates with InvalidKey", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* backend.set(ns, "a", "kept")
      yield* backend.set(ns, "\ufffd", "replacement character")
      for (const bad of loneSurrogates) {
        const label = escape(bad)
        const attempts: ReadonlyArray<readonly [string, Effect.Effect<unknown, StorageError>]> = [
          ["get", backend.get(ns, bad)],
          ["getMany", backend.getMany(ns, ["a", bad])],
          ["setMany", backend.setMany(ns, [{ key: "b", value: "x" }, { key: bad, value: "x" }])],
          ["remove", backend.remove(ns, bad)],
          ["modify", backend.modify(ns, bad, () => Effect.succeed("x"))],
          ["keys", backend.keys(ns, bad)],
          ["size", backend.size(ns, bad)],
          ["clearPrefix", backend.clearPrefix(ns, bad)]
        ]
        for (const [operation, attempt] of attempts) {
          yield* expectStorageError(attempt, "InvalidKey", `${operation}(${label})`)
        }
      }
      expectSameKeys(yield* backend.keys(ns), ["a", "\ufffd"])
      expectValue(yield* backend.get(ns, "\ufffd"), "replacement character")
    })),

  law("all the confusable keys live side by side in one namespace", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const all = new Set<string>(["", "a", "á", "A", "a ", " a", "ä", "e", "é", "e\u0301"])
      for (const [a, b] of confusablePairs) {
        all.add(a)
        all.add(b)
      }
      for (const key of astralKeys) all.add(key)
      if (backend.capabilities.nulInKeys) for (const key of nulKeys) all.add(key)
      const list = Array.from(all)
      yield* backend.setMany(ns, list.map((key, i) => ({ key, value: `value-${i}` })))
      expectSameKeys(yield* backend.keys(ns), list)
      expect(yield* backend.size(ns)).toBe(list.length)
      const got = yield* backend.getMany(ns, list)
      got.forEach((value, i) => expectValue(value, `value-${i}`, `getMany of ${escape(list[i]!)}`))
    })),

  law("keys that look like SQL, escapes, patterns or control characters are stored verbatim", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const list = [
        "'; DROP TABLE kv; --",
        "Robert'); DELETE FROM kv WHERE ('1'='1",
        "\\x00",
        "\\",
        "\\\\",
        "$1",
        "?",
        ":name",
        "@p1",
        "\n",
        "\r\n",
        "\t",
        "\u007f",
        "\u001b[0m",
        ...metacharacters.map((c) => `k${c}`)
      ]
      yield* expectDistinct(backend, ns, Array.from(new Set(list)))
    }))
]
