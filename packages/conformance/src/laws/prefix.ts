/**
 * Prefix laws: `keys`, `size` and `clearPrefix` under a prefix select exactly
 * the keys that start with it, code unit for code unit. `LIKE` and `GLOB`
 * metacharacters are plain characters, "" is the whole namespace, and
 * prefixes ending in multibyte, `\uFFFF` or astral characters still bound
 * their range correctly.
 *
 * @internal
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { StorageBackend } from "@effect-persist/core"
import { metacharacters } from "../internal/alphabet.ts"
import { escape, expectSameKeys, expectStorageError, expectValue } from "../internal/assert.ts"
import { law, type Law } from "../internal/law.ts"

/** Checks `keys` and `size` under each prefix against a plain `startsWith` over `all`. */
const expectPrefixViews = (
  backend: StorageBackend.StorageBackend,
  ns: string,
  all: ReadonlyArray<string>,
  prefixes: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    for (const prefix of prefixes) {
      const expected = all.filter((key) => key.startsWith(prefix))
      expectSameKeys(yield* backend.keys(ns, prefix), expected, `keys under prefix ${escape(prefix)}`)
      expect(yield* backend.size(ns, prefix), `size under prefix ${escape(prefix)}`).toBe(expected.length)
    }
  })

/** Clears each prefix in turn and checks that exactly the keys starting with it went. */
const expectClearPrefixes = (
  backend: StorageBackend.StorageBackend,
  ns: string,
  all: ReadonlyArray<string>,
  prefixes: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    let remaining = [...all]
    for (const prefix of prefixes) {
      yield* backend.clearPrefix(ns, prefix)
      remaining = remaining.filter((key) => !key.startsWith(prefix))
      expectSameKeys(yield* backend.keys(ns), remaining, `keys after clearPrefix(${escape(prefix)})`)
    }
  })

const metaKeys = (): Array<string> => {
  const keys = new Set(["a", "ab", "abc", "aXb", "a b", "b", "A", "Ab", "a\\\\b"])
  for (const m of metacharacters) {
    keys.add(`a${m}`)
    keys.add(`a${m}b`)
    keys.add(`a${m}${m}`)
    keys.add(`${m}`)
    keys.add(`${m}x`)
  }
  return Array.from(keys)
}

const writeAll = (backend: StorageBackend.StorageBackend, ns: string, keys: ReadonlyArray<string>) =>
  backend.setMany(ns, keys.map((key) => ({ key, value: key })))

/**
 * The prefix laws.
 *
 * @internal
 * @category models
 * @since 0.1.0
 */
export const prefix: ReadonlyArray<Law> = [
  law(
    "keys and size under a prefix with LIKE/GLOB metacharacters (% _ \\ [ ] * ? ' \") select exactly the keys starting with it",
    ({ backend, namespace }) =>
      Effect.gen(function*() {
        const ns = yield* namespace()
        const all = metaKeys()
        yield* writeAll(backend, ns, all)
        const prefixes = ["a", ...metacharacters.map((m) => `a${m}`), ...metacharacters]
        yield* expectPrefixViews(backend, ns, all, prefixes)
      })
  ),

  law("clearPrefix with metacharacters removes exactly the keys starting with the prefix", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const all = metaKeys()
      yield* writeAll(backend, ns, all)
      yield* expectClearPrefixes(backend, ns, all, [...metacharacters.map((m) => `a${m}`), ...metacharacters])
    })),

  law("clearPrefix(\"a%\") does not delete \"ab\", and clearPrefix(\"a_\") does not delete \"ax\"", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      yield* writeAll(backend, ns, ["a%", "a%b", "ab", "a", "ax", "a_", "a_b", "a\\", "a\\b"])
      yield* backend.clearPrefix(ns, "a%")
      expectSameKeys(yield* backend.keys(ns), ["ab", "a", "ax", "a_", "a_b", "a\\", "a\\b"])
      yield* backend.clearPrefix(ns, "a_")
      expectSameKeys(yield* backend.keys(ns), ["ab", "a", "ax", "a\\", "a\\b"])
      yield* backend.clearPrefix(ns, "a\\")
      expectSameKeys(yield* backend.keys(ns), ["ab", "a", "ax"])
      expectValue(yield* backend.get(ns, "ab"), "ab")
    })),

  law("the prefix \"\" is the whole namespace for keys, size and clearPrefix, and no other namespace", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace("target")
      const other = yield* namespace("other")
      const all = ["", "a", "b", "😀"]
      yield* writeAll(backend, ns, all)
      yield* writeAll(backend, other, all)
      expectSameKeys(yield* backend.keys(ns, ""), all)
      expect(yield* backend.size(ns, "")).toBe(all.length)
      yield* backend.clearPrefix(ns, "")
      expect(yield* backend.keys(ns)).toEqual([])
      expect(yield* backend.size(ns)).toBe(0)
      expectSameKeys(yield* backend.keys(other), all)
    })),

  law("a prefix that is a whole key selects that key and its extensions, never shorter keys", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const all = ["ab", "abc", "abcd", "abd", "ab ", "abC", "a", "b"]
      yield* writeAll(backend, ns, all)
      yield* expectPrefixViews(backend, ns, all, ["abc", "ab", "abcd", "abcde"])
      yield* expectClearPrefixes(backend, ns, all, ["abcd", "abc", "ab"])
    })),

  law("prefixes are case-, space-, accent- and normalization-sensitive", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      const all = ["apple", "Apple", "APPLE", "a pple", "ápple", "\u00e9t\u00e9", "e\u0301te\u0301", "et", "ét"]
      yield* writeAll(backend, ns, all)
      yield* expectPrefixViews(backend, ns, all, ["a", "A", "ap", "AP", "á", "a ", "\u00e9", "e", "e\u0301", "ét"])
      yield* expectClearPrefixes(backend, ns, all, ["A", "e\u0301", "a "])
    })),

  law("prefixes ending in multibyte characters select by whole characters", ({ backend, namespace }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      // "é" is C3 A9 and "ê" is C3 AA: a prefix compared as truncated bytes would mix them.
      const all = ["é", "éa", "ê", "êa", "e", "€", "€uro", "₭", "日本", "日本語", "日", "本"]
      yield* writeAll(backend, ns, all)
      yield* expectPrefixViews(backend, ns, all, ["é", "ê", "€", "日", "日本", "本"])
      yield* expectClearPrefixes(backend, ns, all, ["é", "日本"])
    })),

  law(
    "prefixes ending in \\uFFFF or an astral character bound their range exactly (UTF-16 and UTF-8 orders differ there)",
    ({ backend, namespace }) =>
      Effect.gen(function*() {
        const ns = yield* namespace()
        // In UTF-16 "\uFFFF" sorts after every surrogate pair; in UTF-8 it sorts before them.
        const all = [
          "a\uffff",
          "a\uffffb",
          "a\uffff\uffff",
          "a\ufffe",
          "a\u{10000}",
          "a😀",
          "a😀x",
          "a😁",
          "a\u{10ffff}",
          "a\u{10ffff}z",
          "b",
          "\uffff",
          "😀",
          "\u{10ffff}"
        ]
        yield* writeAll(backend, ns, all)
        yield* expectPrefixViews(backend, ns, all, [
          "a\uffff",
          "a\ufffe",
          "a😀",
          "a\u{10ffff}",
          "a\u{10000}",
          "\uffff",
          "\u{10ffff}",
          "😀"
        ])
        yield* expectClearPrefixes(backend, ns, all, ["a\uffff", "a😀", "\u{10ffff}"])
      })
  ),

  law("prefixes containing NUL select exactly (or are refused with InvalidKey when nulInKeys is declared missing)", ({
    backend,
    namespace
  }) =>
    Effect.gen(function*() {
      const ns = yield* namespace()
      if (!backend.capabilities.nulInKeys) {
        yield* writeAll(backend, ns, ["a", "ab"])
        for (const bad of ["a\u0000", "\u0000"]) {
          yield* expectStorageError(backend.keys(ns, bad), "InvalidKey", `keys under ${escape(bad)}`)
          yield* expectStorageError(backend.size(ns, bad), "InvalidKey", `size under ${escape(bad)}`)
          yield* expectStorageError(backend.clearPrefix(ns, bad), "InvalidKey", `clearPrefix(${escape(bad)})`)
        }
        expectSameKeys(yield* backend.keys(ns), ["a", "ab"])
        return
      }
      const all = ["a", "a\u0000", "a\u0000b", "a\u0000\u0000", "ab", "a\u0001", "\u0000", "\u0000a"]
      yield* writeAll(backend, ns, all)
      yield* expectPrefixViews(backend, ns, all, ["a\u0000", "\u0000", "a\u0000\u0000", "a"])
      yield* expectClearPrefixes(backend, ns, all, ["a\u0000", "\u0000"])
    }))
]
