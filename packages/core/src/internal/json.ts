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
  const problem = visit(value, [])
  if (problem === undefined) return undefined
  let at = "value"
  for (let i = problem.path.length - 1; i >= 0; i--) at = path(at, problem.path[i]!)
  return problem.message(at)
}

// Where a problem is, innermost key first (filled in on the way back up, so
// that a value without problems never pays for building paths), and what it is.
interface Problem {
  readonly path: Array<string | number>
  readonly message: (at: string) => string
}

const problemAt = (message: (at: string) => string): Problem => ({ path: [], message })

const within = (key: string | number, problem: Problem): Problem => {
  problem.path.push(key)
  return problem
}

const visit = (value: unknown, ancestors: Array<object>): Problem | undefined => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value) ? undefined : problemAt((at) => `${at} is ${value}, which JSON writes as null`)
    case "object": {
      if (value === null) return undefined
      if (ancestors.includes(value)) return problemAt((at) => `${at} refers back to an enclosing object (a cycle)`)
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) {
          return problemAt((at) => `${at} is ${describeKind(value)}, not a plain array`)
        }
        ancestors.push(value)
        try {
          for (let i = 0; i < value.length; i++) {
            if (!(i in value)) {
              return within(i, problemAt((at) => `${at} is a hole in a sparse array, which JSON writes as null`))
            }
            const item: unknown = value[i]
            if (item === undefined || typeof item === "function" || typeof item === "symbol") {
              return within(i, problemAt((at) => `${at} is ${describeKind(item)}, which JSON writes as null`))
            }
            const problem = visit(item, ancestors)
            if (problem !== undefined) return within(i, problem)
          }
          return undefined
        } finally {
          ancestors.pop()
        }
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) {
        return problemAt((at) =>
          `${at} is ${describeKind(value)}, which JSON writes as ${
            "toJSON" in value ? "what its toJSON returns" : "a plain object"
          }`
        )
      }
      if ("toJSON" in value) {
        return problemAt((at) => `${at} has a toJSON method, so JSON writes what it returns instead`)
      }
      if (Object.getOwnPropertySymbols(value).length > 0) {
        return problemAt((at) => `${at} has symbol keys, which JSON drops`)
      }
      ancestors.push(value)
      try {
        for (const key in value) {
          if (!Object.hasOwn(value, key)) continue
          const item: unknown = (value as Record<string, unknown>)[key]
          if (item === undefined || typeof item === "function" || typeof item === "symbol") {
            return within(
              key,
              problemAt((at) => `${at} is ${describeKind(item)}, which JSON drops; omit the field or use null`)
            )
          }
          const problem = visit(item, ancestors)
          if (problem !== undefined) return within(key, problem)
        }
        return undefined
      } finally {
        ancestors.pop()
      }
    }
    default:
      return problemAt((at) => `${at} is ${describeKind(value)}, which JSON cannot encode`)
  }
}
