/**
 * The oracle of the hostile-input scenario: what the store must answer to
 * each generated case. A plain in-memory model of the entries table, the
 * contract's validity rules (which inputs must be accepted, and with which
 * reason the others are refused), and the exact-JSON rule of persistence
 * values.
 *
 * @since 0.0.0
 */
import { KeyCodec, Services, type StorageBackend, StorageError } from "@effect-persist/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Base64 from "effect/encoding/Base64"
import type * as KeyValueStore from "effect/persistence/KeyValueStore"
import type * as Persistence from "effect/persistence/Persistence"
import type { Case } from "./HostileInput.ts"

/**
 * Whether JSON encodes a value exactly: `JSON.parse(JSON.stringify(value))`
 * is the same value. Negative zero is the one tolerated change (JSON has no
 * such number; it reads back as 0).
 *
 * @category guards
 * @since 0.0.0
 */
export const jsonExact = (value: unknown, top = true, ancestors: Array<object> = []): boolean => {
  if (value === null) return !top
  switch (typeof value) {
    case "string":
    case "boolean":
      return !top
    case "number":
      return !top && Number.isFinite(value)
    case "object": {
      if (ancestors.includes(value)) return false
      const inner = [...ancestors, value]
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype) return false
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || !jsonExact(value[i], false, inner)) return false
        }
        return true
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return false
      if ("toJSON" in value) return false
      if (Object.getOwnPropertySymbols(value).length > 0) return false
      return Object.entries(value).every(([, item]) => jsonExact(item, false, inner))
    }
    default:
      return false
  }
}

/**
 * Whether a value read back from a persistence store is the JSON value
 * expected: objects and arrays compared by their own keys, numbers with
 * `===` (so -0 and 0 are the same).
 *
 * @category guards
 * @since 0.0.0
 */
export const sameJson = (a: unknown, b: unknown): boolean => {
  if (typeof a === "number" && typeof b === "number") return a === b
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return a === b
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const keysA = Object.keys(a)
  const keysB = Object.keys(b)
  return keysA.length === keysB.length &&
    keysA.every((k) => Object.hasOwn(b, k) && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

interface Slot {
  readonly value: StorageBackend.Value
  readonly expiresAt: number | undefined
}

/**
 * What the store should hold: namespaces of slots, expired ones included
 * (the store keeps them until a sweep, and so does the model).
 *
 * @category models
 * @since 0.0.0
 */
export class Model {
  readonly namespaces = new Map<string, Map<string, Slot>>()
  private table(ns: string) {
    let slots = this.namespaces.get(ns)
    if (slots === undefined) {
      slots = new Map()
      this.namespaces.set(ns, slots)
    }
    return slots
  }
  get(ns: string, key: string, now: number): StorageBackend.Value | undefined {
    const slot = this.namespaces.get(ns)?.get(key)
    return slot !== undefined && (slot.expiresAt === undefined || slot.expiresAt > now) ? slot.value : undefined
  }
  set(ns: string, key: string, value: StorageBackend.Value, expiresAt: number | undefined) {
    this.table(ns).set(key, { value: typeof value === "string" ? value : new Uint8Array(value), expiresAt })
  }
  keep(ns: string, key: string, value: StorageBackend.Value) {
    const slot = this.namespaces.get(ns)!.get(key)!
    this.table(ns).set(key, { value: typeof value === "string" ? value : new Uint8Array(value), expiresAt: slot.expiresAt })
  }
  remove(ns: string, key: string) {
    this.namespaces.get(ns)?.delete(key)
  }
  clearPrefix(ns: string, prefix: string) {
    const slots = this.namespaces.get(ns)
    if (slots === undefined) return
    for (const key of [...slots.keys()]) if (key.startsWith(prefix)) slots.delete(key)
  }
  keys(ns: string, prefix: string, now: number): Array<string> {
    const out: Array<string> = []
    for (const [key, slot] of this.namespaces.get(ns) ?? []) {
      if (key.startsWith(prefix) && (slot.expiresAt === undefined || slot.expiresAt > now)) out.push(key)
    }
    return out
  }
  /** Every slot, expired ones included: the table's row count. */
  get rows(): number {
    let rows = 0
    for (const slots of this.namespaces.values()) rows += slots.size
    return rows
  }
}

/**
 * What a case must do: succeed with a result (and then change the model as
 * `apply` does), or fail with one of the reasons.
 *
 * @category models
 * @since 0.0.0
 */
export type Expected =
  | { readonly kind: "success"; readonly result: unknown; readonly apply?: () => void }
  | { readonly kind: "failure"; readonly reasons: ReadonlySet<StorageError.StorageErrorReason> }

const isText = (value: unknown): value is string => typeof value === "string"

/**
 * Why a key, prefix or namespace is refused, or `undefined` when it is accepted.
 *
 * @category constructors
 * @since 0.0.0
 */
export const textProblem = (value: unknown, limit: number): StorageError.StorageErrorReason | undefined =>
  typeof value !== "string" || !value.isWellFormed()
    ? "InvalidKey"
    : value.length > limit / 3 && KeyCodec.utf8Length(value) > limit
    ? "KeyTooLong"
    : undefined

const valueProblem = (value: unknown, limit: number): StorageError.StorageErrorReason | undefined => {
  if (typeof value === "string") {
    if (!value.isWellFormed()) return "InvalidValue"
    return KeyCodec.utf8Length(value) > limit ? "ValueTooLarge" : undefined
  }
  if (value instanceof Uint8Array) return value.byteLength > limit ? "ValueTooLarge" : undefined
  return "InvalidValue"
}

const expiryProblem = (value: unknown): StorageError.StorageErrorReason | undefined =>
  value === undefined || (typeof value === "number" && Number.isFinite(value)) ? undefined : "InvalidValue"

const refusal = (...problems: ReadonlyArray<StorageError.StorageErrorReason | undefined>): Expected | undefined => {
  const reasons = new Set(problems.filter((p): p is StorageError.StorageErrorReason => p !== undefined))
  return reasons.size === 0 ? undefined : { kind: "failure", reasons }
}

/**
 * Whether two values are the same: strings equal, or plain `Uint8Array`s with the same bytes.
 *
 * @category guards
 * @since 0.0.0
 */
export const sameValue = (a: unknown, b: unknown): boolean => {
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.constructor === Uint8Array && a.byteLength === b.byteLength && Buffer.from(a).equals(Buffer.from(b))
  }
  return a === b
}

/**
 * `sameValue`, element by element for arrays.
 *
 * @category guards
 * @since 0.0.0
 */
export const sameResult = (actual: unknown, expected: unknown): boolean => {
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => sameResult(actual[i], e))
  }
  return sameValue(actual, expected)
}

/**
 * Keys in a fixed order, for comparing listings whose order is unspecified.
 *
 * @category constructors
 * @since 0.0.0
 */
export const sortedKeys = (keys: ReadonlyArray<string>): Array<string> => [...keys].sort()

const asKvString = (value: StorageBackend.Value): string => typeof value === "string" ? value : Base64.encode(value)
const asKvBytes = (value: StorageBackend.Value): Uint8Array => typeof value === "string" ? KeyCodec.encode(value) : value

/** The read of a persisted entry: the object, or the typed refusal of a corrupt one. */
const persistedRead = (value: StorageBackend.Value | undefined): { ok: true; value: unknown } | { ok: false } => {
  if (value === undefined) return { ok: true, value: undefined }
  if (typeof value !== "string") return { ok: false }
  try {
    const parsed: unknown = JSON.parse(value)
    return typeof parsed === "object" && parsed !== null ? { ok: true, value: parsed } : { ok: false }
  } catch {
    return { ok: false }
  }
}

const dayMillis = 24 * 60 * 60 * 1000

/**
 * What running a case means: the effect to run against the store, what it
 * must do according to the model, and the namespaces a refusal must leave
 * untouched.
 *
 * @category models
 * @since 0.0.0
 */
export interface Plan {
  readonly effect: Effect.Effect<unknown, unknown>
  readonly expected: Expected
  readonly touched: ReadonlyArray<string>
}

/**
 * Plans a case against the model's current state at instant `now`.
 *
 * @category constructors
 * @since 0.0.0
 */
export const plan = (backend: StorageBackend.StorageBackend, model: Model, testCase: Case, now: number): Plan => {
  const maxKey = backend.capabilities.maxKeyBytes
  const maxValue = backend.capabilities.maxValueBytes
  const touched: Array<string> = []
  let effect: Effect.Effect<unknown, unknown>
  let expected: Expected
  switch (testCase.op) {
    case "set": {
      const { ns, key, value, expiresAt } = testCase
      if (isText(ns)) touched.push(ns)
      expected = refusal(textProblem(ns, maxKey), textProblem(key, maxKey), valueProblem(value, maxValue), expiryProblem(expiresAt)) ??
        {
          kind: "success",
          result: undefined,
          apply: () => model.set(ns as string, key as string, value as StorageBackend.Value, expiresAt as number | undefined)
        }
      effect = backend.set(ns as string, key as string, value as StorageBackend.Value, expiresAt as number | undefined)
      break
    }
    case "setMany": {
      const { ns, entries } = testCase
      if (isText(ns)) touched.push(ns)
      const list = Array.isArray(entries) ? entries as ReadonlyArray<{ key: unknown; value: unknown; expiresAt: unknown } | null> : undefined
      expected = refusal(
        textProblem(ns, maxKey),
        list === undefined ? "InvalidValue" : undefined,
        ...(list ?? []).flatMap((entry) =>
          entry === null || typeof entry !== "object"
            ? ["InvalidKey" as const]
            : [textProblem(entry.key, maxKey), valueProblem(entry.value, maxValue), expiryProblem(entry.expiresAt)]
        )
      ) ?? {
        kind: "success",
        result: undefined,
        apply: () => {
          for (const entry of list!) {
            model.set(ns as string, entry!.key as string, entry!.value as StorageBackend.Value, entry!.expiresAt as number | undefined)
          }
        }
      }
      effect = backend.setMany(ns as string, entries as ReadonlyArray<StorageBackend.Entry>)
      break
    }
    case "get": {
      const { ns, key } = testCase
      expected = refusal(textProblem(ns, maxKey), textProblem(key, maxKey)) ??
        { kind: "success", result: model.get(ns as string, key as string, now) }
      effect = backend.get(ns as string, key as string)
      break
    }
    case "getMany": {
      const { ns, keys } = testCase
      const list = Array.isArray(keys) ? keys as ReadonlyArray<unknown> : undefined
      expected = refusal(
        textProblem(ns, maxKey),
        list === undefined ? "InvalidKey" : undefined,
        ...(list ?? []).map((key) => textProblem(key, maxKey))
      ) ?? { kind: "success", result: list!.map((key) => model.get(ns as string, key as string, now)) }
      effect = backend.getMany(ns as string, keys as ReadonlyArray<string>)
      break
    }
    case "remove": {
      const { ns, key } = testCase
      if (isText(ns)) touched.push(ns)
      expected = refusal(textProblem(ns, maxKey), textProblem(key, maxKey)) ??
        { kind: "success", result: undefined, apply: () => model.remove(ns as string, key as string) }
      effect = backend.remove(ns as string, key as string)
      break
    }
    case "clear": {
      const { ns } = testCase
      if (isText(ns)) touched.push(ns)
      expected = refusal(textProblem(ns, maxKey)) ??
        { kind: "success", result: undefined, apply: () => model.clearPrefix(ns as string, "") }
      effect = backend.clear(ns as string)
      break
    }
    case "clearPrefix": {
      const { ns, prefix } = testCase
      if (isText(ns)) touched.push(ns)
      expected = refusal(textProblem(ns, maxKey), textProblem(prefix, maxKey)) ??
        { kind: "success", result: undefined, apply: () => model.clearPrefix(ns as string, prefix as string) }
      effect = backend.clearPrefix(ns as string, prefix as string)
      break
    }
    case "keys":
    case "size": {
      const { ns, prefix } = testCase
      const problem = refusal(textProblem(ns, maxKey), prefix === undefined ? undefined : textProblem(prefix, maxKey))
      const keys = problem === undefined ? model.keys(ns as string, (prefix as string | undefined) ?? "", now) : []
      expected = problem ?? { kind: "success", result: testCase.op === "keys" ? sortedKeys(keys) : keys.length }
      effect = testCase.op === "keys"
        ? Effect.map(backend.keys(ns as string, prefix as string | undefined), sortedKeys)
        : backend.size(ns as string, prefix as string | undefined)
      break
    }
    case "modify": {
      const { ns, key, next, refuse } = testCase
      if (isText(ns)) touched.push(ns)
      const inputProblem = refusal(textProblem(ns, maxKey), textProblem(key, maxKey))
      const current = inputProblem === undefined ? model.get(ns as string, key as string, now) : undefined
      const userRefusal = new StorageError.StorageError({
        operation: "modify",
        reason: "Conflict",
        message: "the modify function refused"
      })
      expected = inputProblem ??
        (current === undefined
          ? { kind: "success", result: undefined }
          : refuse
          ? { kind: "failure", reasons: new Set(["Conflict"]) }
          : refusal(valueProblem(next, maxValue)) ??
            {
              kind: "success",
              result: next instanceof Uint8Array ? new Uint8Array(next) : next,
              apply: () => model.keep(ns as string, key as string, next as StorageBackend.Value)
            })
      effect = backend.modify(ns as string, key as string, () =>
        refuse ? Effect.fail(userRefusal) : Effect.succeed(next as StorageBackend.Value))
      break
    }
    case "kv.set":
    case "kv.get":
    case "kv.has":
    case "kv.modify":
    case "kv.keys":
    case "kv.clearPrefix": {
      const ns = Services.keyValueNamespace(testCase.name)
      const kv: KeyValueStore.KeyValueStore = Services.makeKeyValueStore(backend, { name: testCase.name })
      const nsProblem = textProblem(ns, maxKey)
      touched.push(ns)
      switch (testCase.op) {
        case "kv.set": {
          const { key, value } = testCase
          expected = refusal(nsProblem, textProblem(key, maxKey), valueProblem(value, maxValue)) ??
            { kind: "success", result: undefined, apply: () => model.set(ns, key as string, value as StorageBackend.Value, undefined) }
          effect = kv.set(key as string, value as string)
          break
        }
        case "kv.get": {
          const { key, bytes } = testCase
          const problem = refusal(nsProblem, textProblem(key, maxKey))
          const current = problem === undefined ? model.get(ns, key as string, now) : undefined
          expected = problem ??
            { kind: "success", result: current === undefined ? undefined : bytes ? asKvBytes(current) : asKvString(current) }
          effect = bytes ? kv.getUint8Array(key as string) : kv.get(key as string)
          break
        }
        case "kv.has": {
          const { key } = testCase
          expected = refusal(nsProblem, textProblem(key, maxKey)) ??
            { kind: "success", result: model.get(ns, key as string, now) !== undefined }
          effect = kv.has(key as string)
          break
        }
        case "kv.modify": {
          const { key, suffix, throws } = testCase
          const problem = refusal(nsProblem, textProblem(key, maxKey))
          const current = problem === undefined ? model.get(ns, key as string, now) : undefined
          const next = current === undefined ? undefined : asKvString(current) + suffix
          expected = problem ??
            (current === undefined
              ? { kind: "success", result: undefined }
              : throws
              ? { kind: "failure", reasons: new Set(["InvalidValue"]) }
              : refusal(valueProblem(next, maxValue)) ??
                { kind: "success", result: next, apply: () => model.keep(ns, key as string, next!) })
          effect = kv.modify(key as string, (value) => {
            if (throws) throw new Error("the function threw")
            return value + suffix
          })
          break
        }
        case "kv.keys": {
          expected = refusal(nsProblem) ?? { kind: "success", result: sortedKeys(model.keys(ns, "", now)) }
          effect = Effect.map(kv.keys, sortedKeys)
          break
        }
        case "kv.clearPrefix": {
          const { prefix } = testCase
          expected = refusal(nsProblem, textProblem(prefix, maxKey)) ??
            { kind: "success", result: undefined, apply: () => model.clearPrefix(ns, prefix as string) }
          effect = kv.clearPrefix(prefix as string)
          break
        }
      }
      break
    }
    case "persistence.set":
    case "persistence.setMany":
    case "persistence.get":
    case "persistence.getMany":
    case "persistence.remove": {
      const ns = Services.persistenceNamespace(testCase.store)
      const store: Persistence.BackingPersistenceStore = Services.makeBackingPersistenceStore(backend, testCase.store)
      const nsProblem = textProblem(ns, maxKey)
      touched.push(ns)
      switch (testCase.op) {
        case "persistence.set": {
          const { key, value, ttl } = testCase
          const expiresAt = ttl ? now + dayMillis : undefined
          expected = refusal(nsProblem, textProblem(key, maxKey), jsonExact(value) ? undefined : "InvalidValue") ??
            {
              kind: "success",
              result: undefined,
              apply: () => model.set(ns, key as string, JSON.stringify(value), expiresAt)
            }
          effect = store.set(key as string, value as object, ttl ? Duration.days(1) : undefined)
          break
        }
        case "persistence.setMany": {
          const { entries } = testCase
          expected = refusal(
            nsProblem,
            ...entries.flatMap(([key, value]) => [textProblem(key, maxKey), jsonExact(value) ? undefined : "InvalidValue" as const])
          ) ?? {
            kind: "success",
            result: undefined,
            apply: () => entries.forEach(([key, value]) => model.set(ns, key as string, JSON.stringify(value), undefined))
          }
          effect = store.setMany(
            entries.map(([key, value]) => [key as string, value as object, undefined] as const) as never
          )
          break
        }
        case "persistence.get":
        case "persistence.getMany": {
          const keys = testCase.op === "persistence.get" ? [testCase.key] : testCase.keys
          const problem = refusal(nsProblem, ...keys.map((key) => textProblem(key, maxKey)))
          if (problem !== undefined) expected = problem
          else {
            const reads = keys.map((key) => persistedRead(model.get(ns, key as string, now)))
            expected = reads.every((read) => read.ok)
              ? {
                kind: "success",
                result: testCase.op === "persistence.get"
                  ? (reads[0] as { value: unknown }).value
                  : reads.map((read) => (read as { value: unknown }).value)
              }
              : { kind: "failure", reasons: new Set(["Corrupt"]) }
          }
          effect = testCase.op === "persistence.get"
            ? store.get(testCase.key as string)
            : store.getMany(testCase.keys as [string, ...Array<string>])
          break
        }
        case "persistence.remove": {
          const { key } = testCase
          expected = refusal(nsProblem, textProblem(key, maxKey)) ??
            { kind: "success", result: undefined, apply: () => model.remove(ns, key as string) }
          effect = store.remove(key as string)
          break
        }
      }
      break
    }
  }
  return { effect, expected, touched }
}
