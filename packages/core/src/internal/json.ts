/**
 * The rule for values of a persistence store: an object that JSON encodes
 * exactly, so that what `get` returns is what `set` was given.
 *
 * `JSON.stringify` changes what it cannot represent without a word: it drops
 * fields whose value is `undefined`, a function or a symbol, writes `null`
 * for `undefined` array elements, holes, `NaN` and `Infinity`, turns dates
 * into strings, maps, sets and typed arrays into `{}` or index objects,
 * class instances into plain objects, and calls `toJSON`. Each of those
 * would be stored, and read back, as a different value. The one change
 * tolerated is negative zero, which JSON has no way to write: Effect's own
 * Schema JSON encoding passes it through, and it reads back as 0.
 *
 * @internal
 */

const path = (parent: string, key: string | number): string =>
  typeof key === "number" ? `${parent}[${key}]` : /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`

const describeKind = (value: unknown): string => {
  if (value === undefined) return "undefined"
  if (typeof value === "number") return String(value)
  if (typeof value === "bigint") return "a BigInt"
  if (typeof value === "function") return "a function"
  if (typeof value === "symbol") return "a symbol"
  const name = (value as object).constructor?.name
  return name ? `a ${name}` : "an object with a custom prototype"
}

/**
 * Why JSON would not encode `value` exactly, naming where in the value, or
 * `undefined` when it would. The top level must be an object or array.
 *
 * @internal
 */
export const inexactJson = (value: unknown): string | undefined => {
  if (typeof value !== "object" || value === null) {
    return `the value is ${value === null ? "null" : typeof value === "string" ? "a string" : describeKind(value)}, not an object or array`
  }
  return visit(value, "value", [])
}

const visit = (value: unknown, at: string, ancestors: Array<object>): string | undefined => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value) ? undefined : `${at} is ${value}, which JSON writes as null`
    case "object": {
      if (value === null) return undefined
      if (ancestors.includes(value)) return `${at} refers back to an enclosing object (a cycle)`
      const inner = [...ancestors, value]
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) return `${at} is ${describeKind(value)}, not a plain array`
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return `${path(at, i)} is a hole in a sparse array, which JSON writes as null`
          const item: unknown = value[i]
          if (item === undefined || typeof item === "function" || typeof item === "symbol") {
            return `${path(at, i)} is ${describeKind(item)}, which JSON writes as null`
          }
          const problem = visit(item, path(at, i), inner)
          if (problem !== undefined) return problem
        }
        return undefined
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) {
        return `${at} is ${describeKind(value)}, which JSON writes as ${
          "toJSON" in value ? "what its toJSON returns" : "a plain object"
        }`
      }
      if ("toJSON" in value) return `${at} has a toJSON method, so JSON writes what it returns instead`
      if (Object.getOwnPropertySymbols(value).length > 0) return `${at} has symbol keys, which JSON drops`
      for (const [key, item] of Object.entries(value)) {
        if (item === undefined || typeof item === "function" || typeof item === "symbol") {
          return `${path(at, key)} is ${describeKind(item)}, which JSON drops; omit the field or use null`
        }
        const problem = visit(item, path(at, key), inner)
        if (problem !== undefined) return problem
      }
      return undefined
    }
    default:
      return `${at} is ${describeKind(value)}, which JSON cannot encode`
  }
}
