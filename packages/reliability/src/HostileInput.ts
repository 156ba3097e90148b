/**
 * The inputs of the hostile-input scenario: fast-check arbitraries for keys,
 * prefixes, namespaces, store names, values, expiries and persisted objects
 * built from SQL metacharacters, quotes, NUL, lone surrogates, strings at and
 * past a backend's limits, values of the wrong type and objects JSON cannot
 * encode; and the generated operations (`Case`s) that use them.
 *
 * @since 0.0.0
 */
import { KeyCodec } from "@effect-persist/core"
import * as fc from "fast-check"

/**
 * Pieces hostile strings are built from: what means something to SQL, to
 * drivers, to the migration renderer, to collations and to UTF-8.
 *
 * @category constructors
 * @since 0.0.0
 */
export const pieces: ReadonlyArray<string> = [
  "'",
  "''",
  "\"",
  "`",
  ";",
  "--",
  "/*",
  "*/",
  "%",
  "_",
  "\\",
  "\\'",
  "\u0000",
  "\n",
  "\r",
  "\t",
  "\u001a",
  "?",
  "$1",
  ":name",
  "@x",
  "#",
  "[",
  "]",
  "{{table}}",
  "{{table:expires_at}}",
  "${x}",
  "%s",
  "' OR '1'='1",
  "'); DROP TABLE reliability_hostile; --",
  "\" OR \"\"=\"",
  "NULL",
  "\\x00",
  "0x00",
  "\ud800",
  "\udc00",
  "\ud83d",
  "\ufeff",
  "\u200b",
  "\u0301",
  "é",
  "e\u0301",
  "😀",
  "\uffff",
  "\u{10ffff}",
  " ",
  "a",
  "A",
  "ß",
  "İ",
  "kv:",
  "persistence:"
]

/**
 * Short hostile strings: pieces glued together, with arbitrary code units
 * (lone surrogates included) and graphemes between them.
 *
 * @category constructors
 * @since 0.0.0
 */
export const hostileText: fc.Arbitrary<string> = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...pieces) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 3 }) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 3 }) }
  ),
  { maxLength: 6 }
).map((parts) => parts.join(""))

/**
 * Strings whose UTF-8 length is within a few bytes of `limit`, on either
 * side: one character (one to four bytes long) repeated, which compresses
 * well, or random characters of one and two bytes, which do not (PostgreSQL
 * compresses index entries, so only incompressible keys meet its B-tree
 * entry limit).
 *
 * @category constructors
 * @since 0.0.0
 */
export const nearLimit = (limit: number, deltas: { min: number; max: number } = { min: -4, max: 4 }): fc.Arbitrary<string> =>
  fc.oneof(
    fc.tuple(fc.integer(deltas), fc.constantFrom("a", "'", "\u0000", "é", "€", "😀"), hostileText).map(
      ([delta, unit, tail]) => {
        const tailBytes = tail.isWellFormed() ? KeyCodec.utf8Length(tail) : 0
        const unitBytes = KeyCodec.utf8Length(unit)
        const target = Math.max(0, limit + delta - tailBytes)
        const body = unit.repeat(Math.floor(target / unitBytes)) + "a".repeat(target % unitBytes)
        return body + (tail.isWellFormed() ? tail : "")
      }
    ),
    fc.tuple(fc.integer(deltas), fc.uint8Array({ minLength: limit + 8, maxLength: limit + 8 })).map(([delta, noise]) => {
      const target = Math.max(0, limit + delta)
      let text = ""
      let bytes = 0
      for (const byte of noise) {
        const char = byte < 160 || bytes + 2 > target ? String.fromCharCode(0x20 + (byte % 95)) : String.fromCharCode(0x100 + byte)
        if (bytes + KeyCodec.utf8Length(char) > target) break
        text += char
        bytes += KeyCodec.utf8Length(char)
      }
      return text
    })
  )

/**
 * Things passed where a string belongs by callers who ignore the types.
 *
 * @category constructors
 * @since 0.0.0
 */
export const notAString: fc.Arbitrary<unknown> = fc.constantFrom(42, null, undefined, {}, ["a"], true, 1n)

/**
 * A key, prefix or namespace: mostly hostile strings, sometimes at the
 * limit, sometimes not a string at all.
 *
 * @category constructors
 * @since 0.0.0
 */
export const anyText = (limit: number): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 12, arbitrary: hostileText },
    { weight: 1, arbitrary: nearLimit(limit) },
    { weight: 1, arbitrary: notAString }
  )

/**
 * A stored value: hostile strings, byte arrays (views into larger buffers
 * included), and things that are neither.
 *
 * @category constructors
 * @since 0.0.0
 */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: hostileText },
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 64 }), fc.nat(3)).map(([bytes, offset]) =>
      bytes.subarray(offset, bytes.length - 1)
    )
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }).map((bytes) => Buffer.from(bytes)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      42,
      null,
      undefined,
      {},
      new Int8Array([1, 2]),
      new Uint8ClampedArray([1]),
      new DataView(new ArrayBuffer(2)),
      [1, 2],
      1n,
      true
    )
  }
)

/**
 * An expiry instant: none, far in the past, far in the future, or not a finite number.
 *
 * @category constructors
 * @since 0.0.0
 */
export const anyExpiry = (now: number): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.integer({ min: -1e12, max: now - 1e9 }) },
    { weight: 2, arbitrary: fc.integer({ min: now + 1e9, max: now + 1e12 }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(Number.NaN, Infinity, -Infinity, "123", 1e300, -1e300, -0, 0.5) }
  )

class Point {
  readonly x: number
  constructor(x: number) {
    this.x = x
  }
}

/**
 * Objects for a persistence store: JSON values that encode exactly (hostile
 * strings and lone surrogates included, which JSON escapes), and objects
 * JSON cannot encode exactly: BigInt, cycles, `undefined` fields and array
 * elements, non-finite numbers, dates, maps, class instances, functions,
 * symbols, sparse arrays, `toJSON`, and non-objects.
 *
 * @category constructors
 * @since 0.0.0
 */
export const anyPersisted: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.dictionary(
      fc.oneof(hostileText, fc.string()),
      fc.oneof(fc.jsonValue({ maxDepth: 3 }), hostileText),
      { maxKeys: 5 }
    )
  },
  { weight: 1, arbitrary: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }) },
  {
    weight: 4,
    arbitrary: fc.constantFrom<() => unknown>(
      () => ({ big: 1n }),
      () => {
        const cycle: Record<string, unknown> = { name: "cycle" }
        cycle.self = cycle
        return cycle
      },
      () => ({ a: 1, missing: undefined }),
      () => ({ list: [1, undefined, 3] }),
      () => ({ n: Number.NaN }),
      () => ({ n: Infinity }),
      () => ({ when: new Date(0) }),
      () => ({ map: new Map([["a", 1]]) }),
      () => ({ point: new Point(1) }),
      () => ({ f: () => 1 }),
      () => ({ s: Symbol("s") }),
      () => ({ sparse: [1, , 3] }),
      () => ({ custom: { toJSON: () => "replaced" } }),
      () => ({ bytes: new Uint8Array([1]) }),
      () => [undefined],
      () => "a string, not an object",
      () => 42,
      () => null,
      () => ({ negativeZero: -0 })
    ).map((make) => make())
  }
)

/**
 * One generated operation.
 *
 * @category models
 * @since 0.0.0
 */
export type Case =
  | { readonly op: "set"; readonly ns: unknown; readonly key: unknown; readonly value: unknown; readonly expiresAt: unknown }
  | { readonly op: "setMany"; readonly ns: unknown; readonly entries: unknown }
  | { readonly op: "get"; readonly ns: unknown; readonly key: unknown }
  | { readonly op: "getMany"; readonly ns: unknown; readonly keys: unknown }
  | { readonly op: "remove"; readonly ns: unknown; readonly key: unknown }
  | { readonly op: "clear"; readonly ns: unknown }
  | { readonly op: "clearPrefix"; readonly ns: unknown; readonly prefix: unknown }
  | { readonly op: "keys"; readonly ns: unknown; readonly prefix: unknown }
  | { readonly op: "size"; readonly ns: unknown; readonly prefix: unknown }
  | { readonly op: "modify"; readonly ns: unknown; readonly key: unknown; readonly next: unknown; readonly refuse: boolean }
  | { readonly op: "kv.set"; readonly name: string; readonly key: unknown; readonly value: unknown }
  | { readonly op: "kv.get"; readonly name: string; readonly key: unknown; readonly bytes: boolean }
  | { readonly op: "kv.has"; readonly name: string; readonly key: unknown }
  | { readonly op: "kv.modify"; readonly name: string; readonly key: unknown; readonly suffix: string; readonly throws: boolean }
  | { readonly op: "kv.keys"; readonly name: string }
  | { readonly op: "kv.clearPrefix"; readonly name: string; readonly prefix: unknown }
  | { readonly op: "persistence.set"; readonly store: string; readonly key: unknown; readonly value: unknown; readonly ttl: boolean }
  | { readonly op: "persistence.setMany"; readonly store: string; readonly entries: ReadonlyArray<readonly [unknown, unknown]> }
  | { readonly op: "persistence.get"; readonly store: string; readonly key: unknown }
  | { readonly op: "persistence.getMany"; readonly store: string; readonly keys: ReadonlyArray<unknown> }
  | { readonly op: "persistence.remove"; readonly store: string; readonly key: unknown }

/**
 * Generates cases for a backend with the given limits. Namespaces, names and
 * keys come mostly from small pools, so operations meet each other's data.
 *
 * @category constructors
 * @since 0.0.0
 */
export const cases = (options: {
  readonly maxKeyBytes: number
  readonly now: number
  readonly count: number
  readonly seed: number
}): ReadonlyArray<Case> => {
  const limit = Number.isFinite(options.maxKeyBytes) ? options.maxKeyBytes : 64 * 1024
  const pool = <A>(arbitrary: fc.Arbitrary<A>, size: number, offset: number) =>
    fc.sample(arbitrary, { numRuns: size, seed: options.seed + offset })
  // One namespace at the byte limit (or just under it), so that keys at the
  // limit meet namespaces at the limit.
  const namespaces = [...pool(hostileText, 6, 1), "", "a", "A", "a ", "á", ...pool(nearLimit(limit, { min: -2, max: 0 }), 1, 5)]
  const names = [...pool(hostileText, 4, 2), ""]
  const keyPool = [...pool(hostileText, 12, 3), "", "a", "\u0000", "😀", ...pool(nearLimit(limit), 2, 4)]
  const ns = fc.oneof({ weight: 8, arbitrary: fc.constantFrom<unknown>(...namespaces) }, { weight: 1, arbitrary: anyText(limit) })
  const name = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...names) }, { weight: 1, arbitrary: hostileText })
  const key = fc.oneof({ weight: 6, arbitrary: fc.constantFrom<unknown>(...keyPool) }, { weight: 2, arbitrary: anyText(limit) })
  // Prefixes of pool keys find data; hostile ones find the edges.
  const prefix = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...keyPool.filter((k) => typeof k === "string")), fc.nat(4)).map(
      ([k, n]) => k.slice(0, n)
    ) },
    { weight: 2, arbitrary: anyText(limit) }
  )
  const expiry = anyExpiry(options.now)
  const entry = fc.record({ key, value: anyValue, expiresAt: expiry })
  const arbitrary: fc.Arbitrary<Case> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant("set" as const), ns, key, value: anyValue, expiresAt: expiry }) },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant("setMany" as const),
        ns,
        entries: fc.oneof(
          { weight: 12, arbitrary: fc.array(entry, { maxLength: 8 }) },
          { weight: 1, arbitrary: fc.constantFrom<unknown>("not an array", null, { key: "a", value: "b" }, [null]) }
        )
      })
    },
    { weight: 4, arbitrary: fc.record({ op: fc.constant("get" as const), ns, key }) },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant("getMany" as const),
        ns,
        keys: fc.oneof(
          { weight: 12, arbitrary: fc.array(key, { maxLength: 8 }) },
          { weight: 1, arbitrary: fc.constantFrom<unknown>("a", null) }
        )
      })
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant("remove" as const), ns, key }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("clear" as const), ns }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant("clearPrefix" as const), ns, prefix }) },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant("keys" as const), ns, prefix: fc.option(prefix, { nil: undefined }) })
    },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant("size" as const), ns, prefix: fc.option(prefix, { nil: undefined }) })
    },
    {
      weight: 3,
      arbitrary: fc.record({ op: fc.constant("modify" as const), ns, key, next: anyValue, refuse: fc.boolean() })
    },
    { weight: 3, arbitrary: fc.record({ op: fc.constant("kv.set" as const), name, key, value: anyValue }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant("kv.get" as const), name, key, bytes: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("kv.has" as const), name, key }) },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant("kv.modify" as const), name, key, suffix: hostileText, throws: fc.boolean() })
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("kv.keys" as const), name }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("kv.clearPrefix" as const), name, prefix }) },
    {
      weight: 4,
      arbitrary: fc.record({ op: fc.constant("persistence.set" as const), store: name, key, value: anyPersisted, ttl: fc.boolean() })
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("persistence.setMany" as const),
        store: name,
        entries: fc.array(fc.tuple(key, anyPersisted), { minLength: 1, maxLength: 4 })
      })
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant("persistence.get" as const), store: name, key }) },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("persistence.getMany" as const),
        store: name,
        keys: fc.array(key, { minLength: 1, maxLength: 4 })
      })
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("persistence.remove" as const), store: name, key }) }
  )
  return fc.sample(arbitrary, { numRuns: options.count, seed: options.seed })
}

/**
 * A case as text a person can read: strings escaped, binary shown as hex.
 *
 * @category constructors
 * @since 0.0.0
 */
export const show = (value: unknown): string => {
  const seen = new WeakSet<object>()
  const text = JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === "bigint") return `${item}n`
    if (item === undefined) return "<undefined>"
    if (typeof item === "number" && !Number.isFinite(item)) return String(item)
    if (typeof item === "function" || typeof item === "symbol") return `<${typeof item}>`
    if (item instanceof Uint8Array) return `<bytes ${Buffer.from(item).toString("hex")}>`
    if (typeof item === "object" && item !== null) {
      if (seen.has(item)) return "<cycle>"
      seen.add(item)
    }
    return item
  })
  return text.length > 400 ? `${text.slice(0, 400)}…` : text
}
