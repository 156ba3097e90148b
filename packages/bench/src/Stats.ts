/**
 * The few statistics the report needs: medians, the noise rule, ratios.
 *
 * @since 0.0.0
 */
import { noiseThreshold } from "./Model.ts"

/**
 * The median of a non-empty list (the mean of the middle two for an even count).
 *
 * @category constructors
 * @since 0.0.0
 */
export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/**
 * Whether rounds spread too much to trust their median: (max − min) / median
 * above `noiseThreshold`.
 *
 * @category guards
 * @since 0.0.0
 */
export const isNoisy = (values: ReadonlyArray<number>): boolean => {
  if (values.length < 2) return false
  const m = median(values)
  return m > 0 && (Math.max(...values) - Math.min(...values)) / m > noiseThreshold
}

/**
 * `value / reference`, or `undefined` when there is nothing to compare with.
 *
 * @category constructors
 * @since 0.0.0
 */
export const ratio = (value: number | undefined, reference: number | undefined): number | undefined =>
  value === undefined || reference === undefined || !(reference > 0) ? undefined : value / reference

/**
 * Rotates a list left by `by` places, so that in each round another contender goes first.
 *
 * @category constructors
 * @since 0.0.0
 */
export const rotate = <A>(items: ReadonlyArray<A>, by: number): ReadonlyArray<A> => {
  if (items.length === 0) return items
  const shift = by % items.length
  return [...items.slice(shift), ...items.slice(0, shift)]
}
