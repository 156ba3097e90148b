/**
 * The data every contender works on: the same keys, values and batches,
 * computed once before anything is timed, so that no contender pays for
 * building strings inside its measured loop and all of them touch the same
 * rows in the same order.
 *
 * @since 0.0.0
 */

/**
 * Namespace of the `KeyValueStore` under test, as our derivation stores it.
 *
 * @category constructors
 * @since 0.0.0
 */
export const kvName = "bench"

/**
 * Store id of the `BackingPersistence` store under test.
 *
 * @category constructors
 * @since 0.0.0
 */
export const storeId = "bench"

/**
 * Entries a persistence `set` lives for. Persisted caches set a time-to-live,
 * so every contender writes one (Keyv and the raw driver as an expiry instant).
 *
 * @category constructors
 * @since 0.0.0
 */
export const ttlMillis = 60 * 60 * 1000

/**
 * Keys per batch of `getMany100` / `setMany100`.
 *
 * @category constructors
 * @since 0.0.0
 */
export const batchSize = 100

/**
 * The key of row `i`: fixed width, so that every key has the same length.
 *
 * @category constructors
 * @since 0.0.0
 */
export const keyOf = (i: number): string => `key-${String(i).padStart(7, "0")}`

/**
 * The key of the `i`-th row written for `remove` to delete.
 *
 * @category constructors
 * @since 0.0.0
 */
export const removableKeyOf = (i: number): string => `rm-${String(i).padStart(7, "0")}`

/**
 * A `KeyValueStore` value: 100 characters of text.
 *
 * @category constructors
 * @since 0.0.0
 */
export const kvValueOf = (i: number): string => `value-${String(i).padStart(7, "0")}-`.padEnd(100, "abcdefghij")

/**
 * A persisted value: a small JSON object of about 120 bytes, like a cached
 * lookup result.
 *
 * @category models
 * @since 0.0.0
 */
export interface Payload {
  readonly id: number
  readonly name: string
  readonly email: string
  readonly tags: ReadonlyArray<string>
  readonly score: number
  readonly active: boolean
}

/**
 * The persisted value of row `i`.
 *
 * @category constructors
 * @since 0.0.0
 */
export const payloadOf = (i: number): Payload => ({
  id: i,
  name: `User ${i}`,
  email: `user${i}@example.com`,
  tags: ["bench", `group-${i % 17}`],
  score: (i * 37) % 1000 / 10,
  active: i % 3 !== 0
})

/** Precomputed values cycle with this period (a power of two). */
const period = 1024

// Every timed run starts its call numbers at 0, so without this the same
// calls would write the same values as the run before, and a database that
// skips an update which changes nothing (InnoDB does) would be timed on
// writes it never made. Each run shifts the values by a different amount.
let generation = 0

/**
 * Starts a new timed run: from now on call `i` writes another value than it
 * did in any recent run.
 *
 * @category constructors
 * @since 0.0.0
 */
export const nextRun = (): void => {
  generation++
}

/**
 * The keys, values and batches of one store of `rows` rows, indexed by the
 * call number so that consecutive calls spread over the whole table.
 *
 * @category models
 * @since 0.0.0
 */
export interface Workload {
  readonly rows: number
  /** An existing key, for get hits, sets, modifies. */
  readonly hit: (i: number) => string
  /** A key that is never written. */
  readonly miss: (i: number) => string
  readonly kvValue: (i: number) => string
  readonly payload: (i: number) => Payload
  /** 100 existing keys, spread over the table. */
  readonly batch: (i: number) => ReadonlyArray<string>
  /** The key `remove` deletes on call `i` (written before the measurement). */
  readonly removable: (i: number) => string
}

// Multiplying by a prime that shares no factor with the row count visits
// every row once per `rows` calls, in an order without locality.
const stride = 7919

/**
 * Builds the workload of a store of `rows` rows.
 *
 * @category constructors
 * @since 0.0.0
 */
export const make = (rows: number): Workload => {
  const keys = Array.from({ length: rows }, (_, i) => keyOf(i))
  const misses = Array.from({ length: period }, (_, i) => `miss-${String(i).padStart(7, "0")}`)
  const kvValues = Array.from({ length: period }, (_, i) => kvValueOf(i))
  const payloads = Array.from({ length: period }, (_, i) => payloadOf(i))
  const batches = Array.from({ length: period / 4 }, (_, b) =>
    Array.from({ length: batchSize }, (_, j) => keys[((b * batchSize + j) * stride + 13) % rows]!))
  const removables: Array<string> = []
  const spread = (i: number) => (i * stride + 13) % rows
  return {
    rows,
    hit: (i) => keys[spread(i)]!,
    miss: (i) => misses[i % period]!,
    kvValue: (i) => kvValues[(i + generation * 389) % period]!,
    payload: (i) => payloads[i % period]!,
    batch: (i) => batches[i % batches.length]!,
    removable: (i) => {
      for (let n = removables.length; n <= i; n++) removables.push(removableKeyOf(n))
      return removables[i]!
    }
  }
}

/**
 * Flips the first character of a value: `modify`'s function, which keeps the
 * value's length so that every round writes rows of the same size.
 *
 * @category constructors
 * @since 0.0.0
 */
export const modifyValue = (value: string): string => (value.startsWith("a") ? "b" : "a") + value.slice(1)
