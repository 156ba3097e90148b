// The laws must be able to fail. Each mutant below is the in-memory reference
// backend with one defect that a real backend has been known to have (a
// collation, a LIKE prefix, a read-then-write modify, ...); the test runs
// every law against it and checks that the laws meant to catch the defect do.
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Base64 from "effect/encoding/Base64"
import * as Exit from "effect/Exit"
import * as TestClock from "effect/testing/TestClock"
import { MemoryBackend, StorageBackend } from "@effect-persist/core"
import { StorageError } from "@effect-persist/core/StorageError"
import * as Laws from "@effect-persist/conformance/laws/index"

type Backend = StorageBackend.StorageBackend

const options: Laws.ResolvedOptions = {
  realClock: false,
  largeValueBytes: 64 * 1024,
  modifyConcurrency: 16,
  modelRuns: 20,
  interleaveRounds: 40
}

// No mutant targets the 12,345-entry batch, the slowest law on this backend.
const allButTheLargeBatch = (law: Laws.Law) => !law.name.startsWith("a batch of")

// The interleaving laws run for a second or more each; they are run against
// the reference and the mutants that target them, and the other mutants are
// caught by the laws they name without them.
const interleaving = new Set(Laws.groups.find(([group]) => group === "interleave")![1])
const targeted = (law: Laws.Law) => allButTheLargeBatch(law) && !interleaving.has(law)

/** Runs every law (but the real-clock one) against `backend`; returns the names of those that failed. */
const failingLaws = async (
  backend: Backend,
  only: (law: Laws.Law) => boolean = allButTheLargeBatch,
  resolved: Laws.ResolvedOptions = options
): Promise<Array<string>> => {
  const run = Laws.makeRunner(backend, resolved, "mutant")
  const failed: Array<string> = []
  for (const [index, law] of Laws.all.entries()) {
    if (law.skipWhen?.(resolved) !== undefined || !only(law)) continue
    const effect = run(law, index).pipe(
      Effect.scoped,
      law.clock === "test" ? Effect.provide(TestClock.layer()) : (self) => self
    )
    const exit = await Effect.runPromiseExit(effect)
    if (Exit.isFailure(exit)) failed.push(law.name)
  }
  return failed
}

/** A clock frozen at one instant, and one that ignores Effect's clock for the wall clock. */
const clockAt = (read: () => number): Clock.Clock => ({
  currentTimeMillisUnsafe: read,
  currentTimeMillis: Effect.sync(read),
  currentTimeNanosUnsafe: () => BigInt(read()) * 1_000_000n,
  currentTimeNanos: Effect.sync(() => BigInt(read()) * 1_000_000n),
  monotonicTimeNanosUnsafe: () => process.hrtime.bigint(),
  monotonicTimeNanos: Effect.sync(() => process.hrtime.bigint()),
  sleep: (duration: Duration.Duration) => Effect.promise(() => new Promise((r) => setTimeout(r, Duration.toMillis(duration))))
})
const onClock = (clock: Clock.Clock) => <A, E>(effect: Effect.Effect<A, E>) => Effect.provideService(effect, Clock.Clock, clock)

/** Rewrites every key and prefix before it reaches a correct backend, as a lossy collation or encoding would. */
const mangleKeys = (mangle: (key: string) => string, inner: Backend = MemoryBackend.make()): Backend => {
  const m = (key: string) => (typeof key === "string" ? mangle(key) : key)
  return {
    ...inner,
    get: (ns, key) => inner.get(ns, m(key)),
    getMany: (ns, keys) => inner.getMany(ns, Array.isArray(keys) ? keys.map(m) : keys),
    set: (ns, key, value, expiresAt) => inner.set(ns, m(key), value, expiresAt),
    setMany: (ns, entries) =>
      inner.setMany(ns, Array.isArray(entries) ? entries.map((e) => e && typeof e === "object" ? { ...e, key: m(e.key) } : e) : entries),
    remove: (ns, key) => inner.remove(ns, m(key)),
    clearPrefix: (ns, prefix) => inner.clearPrefix(ns, m(prefix)),
    keys: (ns, prefix) => inner.keys(ns, prefix === undefined ? undefined : m(prefix)),
    size: (ns, prefix) => inner.size(ns, prefix === undefined ? undefined : m(prefix)),
    modify: (ns, key, f) => inner.modify(ns, m(key), f)
  }
}

/** Answers `keys`, `size` and `clearPrefix` by matching the prefix as a SQL LIKE pattern. */
const likePrefix = (): Backend => {
  const inner = MemoryBackend.make()
  const pattern = (prefix: string) =>
    new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/%/g, ".*").replace(/_/g, ".")}`, "s")
  const matching = (ns: string, prefix: string | undefined) =>
    Effect.map(inner.keys(ns), (keys) => prefix === undefined ? keys : keys.filter((key) => pattern(prefix).test(key)))
  return {
    ...inner,
    keys: matching,
    size: (ns, prefix) => Effect.map(matching(ns, prefix), (keys) => keys.length),
    clearPrefix: (ns, prefix) => Effect.flatMap(matching(ns, prefix), (keys) => Effect.forEach(keys, (key) => inner.remove(ns, key), { discard: true }))
  }
}

/** Answers prefix queries with the range [prefix, prefix + "\uFFFF") in UTF-16 order. */
const utf16RangePrefix = (): Backend => {
  const inner = MemoryBackend.make()
  const inRange = (prefix: string | undefined) => (key: string) =>
    prefix === undefined || (key >= prefix && key < `${prefix}\uffff`)
  const matching = (ns: string, prefix: string | undefined) => Effect.map(inner.keys(ns), (keys) => keys.filter(inRange(prefix)))
  return {
    ...inner,
    keys: matching,
    size: (ns, prefix) => Effect.map(matching(ns, prefix), (keys) => keys.length),
    clearPrefix: (ns, prefix) => Effect.flatMap(matching(ns, prefix), (keys) => Effect.forEach(keys, (key) => inner.remove(ns, key), { discard: true }))
  }
}

/** Stores every namespace's keys in one namespace as `${namespace}:${key}`. */
const joinedNamespaces = (): Backend => {
  const inner = MemoryBackend.make()
  const flat = "flat"
  const j = (ns: string, key: string) => `${ns}:${key}`
  const strip = (ns: string) => (keys: ReadonlyArray<string>) => keys.map((key) => key.slice(ns.length + 1))
  return {
    ...inner,
    get: (ns, key) => inner.get(flat, j(ns, key)),
    getMany: (ns, keys) => inner.getMany(flat, keys.map((key) => j(ns, key))),
    set: (ns, key, value, expiresAt) => inner.set(flat, j(ns, key), value, expiresAt),
    setMany: (ns, entries) => inner.setMany(flat, entries.map((e) => ({ ...e, key: j(ns, e.key) }))),
    remove: (ns, key) => inner.remove(flat, j(ns, key)),
    clear: (ns) => inner.clearPrefix(flat, j(ns, "")),
    clearPrefix: (ns, prefix) => inner.clearPrefix(flat, j(ns, prefix)),
    keys: (ns, prefix) => Effect.map(inner.keys(flat, j(ns, prefix ?? "")), strip(ns)),
    size: (ns, prefix) => inner.size(flat, j(ns, prefix ?? "")),
    modify: (ns, key, f) => inner.modify(flat, j(ns, key), f)
  }
}

/** Remembers expiries itself and keeps the previous one when a set omits it. */
const stickyExpiry = (): Backend => {
  const inner = MemoryBackend.make()
  const expiries = new Map<string, number | undefined>()
  return {
    ...inner,
    set: (ns, key, value, expiresAt) => {
      const id = `${ns}\u0000${key}`
      const effective = expiresAt ?? expiries.get(id)
      expiries.set(id, effective)
      return inner.set(ns, key, value, effective)
    }
  }
}

const mutate = (patch: (inner: Backend) => Partial<Backend>) => (): Backend => {
  const inner = MemoryBackend.make()
  return { ...inner, ...patch(inner) }
}

const mutants: ReadonlyArray<{
  readonly defect: string
  readonly make: () => Backend
  /** Fragments of the names of laws that must fail. */
  readonly caughtBy: ReadonlyArray<string>
}> = [
  {
    defect: "case-insensitive keys (a _ci collation)",
    make: () => mangleKeys((key) => key.toLowerCase()),
    caughtBy: ["differing only by case"]
  },
  {
    defect: "trailing spaces ignored (PAD SPACE)",
    make: () => mangleKeys((key) => key.replace(/ +$/, "")),
    caughtBy: ["leading or trailing whitespace"]
  },
  {
    defect: "accent-insensitive keys",
    make: () => mangleKeys((key) => key.normalize("NFD").replace(/[\u0300-\u036f]/g, "")),
    caughtBy: ["differing only by accents", "normalization forms"]
  },
  {
    defect: "keys normalized to NFC",
    make: () => mangleKeys((key) => key.normalize("NFC")),
    caughtBy: ["normalization forms"]
  },
  {
    defect: "keys cut at NUL (C strings)",
    make: () => mangleKeys((key) => key.split("\u0000")[0]!),
    caughtBy: ["keys with NUL"]
  },
  {
    defect: "lone surrogates stored as U+FFFD (UTF-8 text columns)",
    make: () => {
      const inner = MemoryBackend.make()
      const fix = (text: string) => text.toWellFormed()
      return { ...mangleKeys(fix, inner), set: (ns, key, value, e) => inner.set(ns, fix(key), value, e) }
    },
    caughtBy: ["keys with lone surrogates are refused"]
  },
  {
    defect: "prefixes matched as LIKE patterns",
    make: likePrefix,
    caughtBy: ["LIKE/GLOB metacharacters", "clearPrefix(\"a%\") does not delete"]
  },
  {
    defect: "prefix range bounded by prefix + \\uFFFF in UTF-16 order",
    make: utf16RangePrefix,
    caughtBy: ["\\uFFFF or an astral character"]
  },
  {
    defect: "namespace and key joined with ':'",
    make: joinedNamespaces,
    caughtBy: ["never run together"]
  },
  {
    defect: "modify is a read followed by a write",
    make: mutate((inner) => ({
      modify: (ns, key, f) =>
        Effect.flatMap(inner.get(ns, key), (current) =>
          current === undefined
            ? Effect.succeed(undefined)
            : Effect.flatMap(f(current), (next) => Effect.as(Effect.andThen(Effect.yieldNow, inner.set(ns, key, next)), next)))
    })),
    caughtBy: ["modify is atomic"]
  },
  {
    defect: "modify drops the expiry",
    make: mutate((inner) => ({
      modify: (ns, key, f) =>
        Effect.flatMap(inner.get(ns, key), (current) =>
          current === undefined ? Effect.succeed(undefined) : Effect.flatMap(f(current), (next) => Effect.as(inner.set(ns, key, next), next)))
    })),
    caughtBy: ["modify keeps the entry's expiry"]
  },
  {
    defect: "modify of a missing key creates it",
    make: mutate((inner) => ({
      modify: (ns, key, f) =>
        Effect.flatMap(inner.get(ns, key), (current) =>
          Effect.flatMap(f(current ?? ""), (next) => Effect.as(inner.set(ns, key, next), next)))
    })),
    caughtBy: ["modify of a missing key"]
  },
  {
    defect: "modify sees expired entries",
    make: mutate((inner) => ({ modify: (ns, key, f) => onClock(clockAt(() => 0))(inner.modify(ns, key, f)) })),
    caughtBy: ["modify of an expired entry"]
  },
  {
    defect: "entries live until 1 ms after expiresAt",
    make: mutate((inner) => ({
      set: (ns, key, value, expiresAt) => inner.set(ns, key, value, expiresAt === undefined ? undefined : expiresAt + 1)
    })),
    caughtBy: ["gone at exactly expiresAt"]
  },
  {
    defect: "keys and size count expired entries",
    make: mutate((inner) => ({
      keys: (ns, prefix) => onClock(clockAt(() => 0))(inner.keys(ns, prefix)),
      size: (ns, prefix) => onClock(clockAt(() => 0))(inner.size(ns, prefix))
    })),
    caughtBy: ["keys and size, with and without a prefix"]
  },
  {
    defect: "expiry measured on the wall clock instead of Effect's Clock",
    make: () => {
      const inner = MemoryBackend.make()
      const wall = onClock(clockAt(() => Date.now()))
      return { ...inner, get: (ns, key) => wall(inner.get(ns, key)), getMany: (ns, keys) => wall(inner.getMany(ns, keys)) }
    },
    caughtBy: ["get: visible before expiresAt", "getMany: expired entries"]
  },
  {
    defect: "set without expiry keeps the previous expiry",
    make: stickyExpiry,
    caughtBy: ["set without an expiry clears a previous expiry"]
  },
  {
    defect: "getMany answers in key order",
    make: mutate((inner) => ({ getMany: (ns, keys) => inner.getMany(ns, [...keys].sort()) })),
    caughtBy: ["getMany answers in input order", "follow the order asked for"]
  },
  {
    defect: "getMany drops duplicate keys",
    make: mutate((inner) => ({ getMany: (ns, keys) => inner.getMany(ns, Array.from(new Set(keys))) })),
    caughtBy: ["repeats duplicates"]
  },
  {
    defect: "setMany writes entry by entry (not all or nothing)",
    make: mutate((inner) => ({
      setMany: (ns, entries) =>
        Array.isArray(entries)
          ? Effect.forEach(entries, (e) => inner.set(ns, e?.key, e?.value, e?.expiresAt), { discard: true })
          : inner.setMany(ns, entries)
    })),
    caughtBy: ["stores nothing from the batch"]
  },
  {
    defect: "setMany keeps the first of a repeated key",
    make: mutate((inner) => ({
      setMany: (ns, entries) => {
        const seen = new Set<string>()
        return inner.setMany(ns, entries.filter((e) => !seen.has(e.key) && seen.add(e.key)))
      }
    })),
    caughtBy: ["keeps its last value"]
  },
  {
    defect: "sweep reports nothing deleted",
    make: mutate((inner) => ({ sweep: (o) => Effect.as(inner.sweep(o), 0) })),
    caughtBy: ["sweep deletes exactly the expired entries"]
  },
  {
    defect: "sweep reports progress once, at the end",
    make: mutate((inner) => ({
      sweep: (o) =>
        Effect.tap(
          inner.sweep(o?.batchSize === undefined ? {} : { batchSize: o.batchSize }),
          (n) => Effect.sync(() => o?.onProgress?.(n))
        )
    })),
    caughtBy: ["reports progress per batch"]
  },
  {
    defect: "binary values read back as Node Buffers",
    make: mutate((inner) => ({
      get: (ns, key) => Effect.map(inner.get(ns, key), (v) => v instanceof Uint8Array ? Buffer.from(v) : v)
    })),
    caughtBy: ["comes back as a plain Uint8Array", "every byte value"]
  },
  {
    defect: "binary values read back as base64 strings",
    make: mutate((inner) => ({
      get: (ns, key) => Effect.map(inner.get(ns, key), (v) => v instanceof Uint8Array ? Base64.encode(v) : v)
    })),
    caughtBy: ["empty Uint8Array", "the kind written is the kind read"]
  },
  {
    defect: "a non-string key is a defect, not a typed error",
    make: mutate((inner) => ({
      get: (ns, key) => typeof key === "string" ? inner.get(ns, key) : Effect.die(new TypeError("key.startsWith is not a function"))
    })),
    caughtBy: ["never a defect"]
  },
  {
    defect: "keys limited to 255 bytes",
    make: () => {
      const inner = MemoryBackend.make()
      return StorageBackend.make({ ...inner, capabilities: { maxKeyBytes: 255 } })
    },
    caughtBy: ["keys of 1 KiB of UTF-8 work"]
  },
  {
    defect: "clear forgets only live entries of the namespace's first page (clears 2 keys)",
    make: mutate((inner) => ({
      clear: (ns) => Effect.flatMap(inner.keys(ns), (keys) => Effect.forEach(keys.slice(0, 2), (key) => inner.remove(ns, key), { discard: true }))
    })),
    caughtBy: ["clear empties the namespace"]
  }
]

/** Keeps track of every namespace written, for mutants that act on all of them. */
const clearsEverything = (): Backend => {
  const inner = MemoryBackend.make()
  const seen = new Set<string>()
  const remember = <A, E>(ns: string, effect: Effect.Effect<A, E>) => {
    seen.add(ns)
    return effect
  }
  return {
    ...inner,
    set: (ns, key, value, expiresAt) => remember(ns, inner.set(ns, key, value, expiresAt)),
    setMany: (ns, entries) => remember(ns, inner.setMany(ns, entries)),
    clear: () => Effect.forEach(seen, (ns) => inner.clear(ns), { discard: true })
  }
}

const mapValues = (f: (value: StorageBackend.Value) => StorageBackend.Value | undefined) =>
  mutate((inner) => ({
    get: (ns, key) => Effect.map(inner.get(ns, key), (v) => v === undefined ? v : f(v)),
    getMany: (ns, keys) => Effect.map(inner.getMany(ns, keys), (vs) => vs.map((v) => v === undefined ? v : f(v)))
  }))

const moreMutants: typeof mutants = [
  {
    defect: "remove deletes every key starting with the key",
    make: mutate((inner) => ({ remove: (ns, key) => inner.clearPrefix(ns, key) })),
    caughtBy: ["remove deletes one key"]
  },
  {
    defect: "remove does nothing",
    make: mutate(() => ({ remove: () => Effect.void })),
    caughtBy: ["remove deletes one key", "invalidate removes the stored result"]
  },
  {
    defect: "set keeps the first value of a key (INSERT OR IGNORE)",
    make: mutate((inner) => ({
      set: (ns, key, value, expiresAt) =>
        Effect.flatMap(inner.get(ns, key), (old) => old === undefined ? inner.set(ns, key, value, expiresAt) : Effect.void)
    })),
    caughtBy: ["a second set replaces it"]
  },
  {
    defect: "keys lists a key twice",
    make: mutate((inner) => ({ keys: (ns, prefix) => Effect.map(inner.keys(ns, prefix), (keys) => [...keys, ...keys.slice(0, 1)]) })),
    caughtBy: ["keys lists every live key exactly once"]
  },
  {
    defect: "missing keys read as null",
    make: mutate((inner) => ({ get: (ns, key) => Effect.map(inner.get(ns, key), (v) => v ?? (null as any)) })),
    caughtBy: ["a fresh namespace is empty"]
  },
  {
    defect: "an empty getMany reaches the database as IN ()",
    make: mutate((inner) => ({
      getMany: (ns, keys) =>
        keys.length === 0
          ? Effect.fail(new StorageError({ operation: "getMany", reason: "Unknown", message: "syntax error near \")\"" }))
          : inner.getMany(ns, keys)
    })),
    caughtBy: ["empty batches"]
  },
  {
    defect: "the empty string is read back as missing (NULL)",
    make: mapValues((v) => v === "" ? undefined : v),
    caughtBy: ["the empty string is stored and read back"]
  },
  {
    defect: "strings that decode as base64 are read back as bytes",
    make: mapValues((v) => {
      if (typeof v !== "string" || v.length === 0) return v
      const decoded = Base64.decode(v)
      return decoded._tag === "Success" ? decoded.success : v
    }),
    caughtBy: ["strings that look like base64 stay strings"]
  },
  {
    defect: "string values cut at NUL",
    make: mapValues((v) => typeof v === "string" ? v.split("\u0000")[0]! : v),
    caughtBy: ["strings with NUL, control, astral"]
  },
  {
    defect: "strings stored as Latin-1",
    make: mapValues((v) => typeof v === "string" ? Buffer.from(v, "latin1").toString("latin1") : v),
    caughtBy: ["strings with NUL, control, astral", "BackingPersistence: objects round-trip"]
  },
  {
    defect: "string values read back as their UTF-8 bytes",
    make: mapValues((v) => typeof v === "string" ? new TextEncoder().encode(v) : v),
    caughtBy: ["the kind written is the kind read", "getUint8Array of a string value is its UTF-8"]
  },
  {
    defect: "the prefix \"\" matches nothing",
    make: mutate((inner) => ({
      keys: (ns, prefix) => prefix === "" ? Effect.succeed([]) : inner.keys(ns, prefix),
      size: (ns, prefix) => prefix === "" ? Effect.succeed(0) : inner.size(ns, prefix)
    })),
    caughtBy: ["the prefix \"\" is the whole namespace"]
  },
  {
    defect: "namespaces compared case-insensitively",
    make: () => {
      const inner = MemoryBackend.make()
      const lower = (ns: string) => ns.toLowerCase()
      return {
        ...inner,
        get: (ns, key) => inner.get(lower(ns), key),
        getMany: (ns, keys) => inner.getMany(lower(ns), keys),
        set: (ns, key, value, e) => inner.set(lower(ns), key, value, e),
        setMany: (ns, entries) => inner.setMany(lower(ns), entries),
        remove: (ns, key) => inner.remove(lower(ns), key),
        clear: (ns) => inner.clear(lower(ns)),
        clearPrefix: (ns, prefix) => inner.clearPrefix(lower(ns), prefix),
        keys: (ns, prefix) => inner.keys(lower(ns), prefix),
        size: (ns, prefix) => inner.size(lower(ns), prefix),
        modify: (ns, key, f) => inner.modify(lower(ns), key, f)
      }
    },
    caughtBy: ["namespaces differing only by case", "KeyValueStores with different names"]
  },
  {
    defect: "clear empties every namespace",
    make: clearsEverything,
    caughtBy: ["see only their own namespace", "a KeyValueStore and a persistence store with the same name"]
  },
  {
    defect: "a failing modify function leaves the value and reports success",
    make: mutate((inner) => ({
      modify: (ns, key, f) => inner.modify(ns, key, (current) => Effect.orElseSucceed(f(current), () => current))
    })),
    caughtBy: ["modify whose function fails or throws", "a modify function that throws or returns a lone surrogate"]
  }
]

// A sleep on the real clock: the expiry laws run on a TestClock, which an
// Effect.sleep inside a write would wait on forever.
const realSleep = (millis: number) =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })

/**
 * Writes that keep running when their caller is interrupted, and land a few
 * milliseconds later: a statement left queued in a driver's pool.
 */
const zombieWrites = mutate((inner) => {
  const zombie = <A, E>(write: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.andThen(realSleep(1), write).pipe(
      Effect.onInterrupt(() =>
        Effect.sync(() => {
          setTimeout(() => Effect.runFork(write), 3)
        })
      )
    )
  return {
    set: (ns, key, value, expiresAt) => zombie(inner.set(ns, key, value, expiresAt)),
    setMany: (ns, entries) => zombie(inner.setMany(ns, entries)),
    remove: (ns, key) => zombie(inner.remove(ns, key)),
    clearPrefix: (ns, prefix) => zombie(inner.clearPrefix(ns, prefix))
  }
})

/**
 * A modify whose failure rolls back everything written since it began, other
 * callers' acknowledged writes included: two fibers sharing one SQLite
 * transaction.
 */
const rollbackTakesOthersWrites = mutate((inner) => ({
  modify: (ns, key, f) =>
    Effect.gen(function*() {
      const keys = yield* inner.keys(ns)
      const values = keys.length === 0 ? [] : yield* inner.getMany(ns, keys)
      const restore = Effect.andThen(
        inner.clear(ns),
        keys.length === 0
          ? Effect.void
          : inner.setMany(ns, keys.map((key, i) => ({ key, value: values[i]! })))
      )
      return yield* Effect.onError(inner.modify(ns, key, f), () => Effect.ignore(restore))
    })
}))

/** Writes that fail untyped now and then while another write is in flight, as a racing transaction gate did. */
const failsUnderConcurrency = mutate((inner) => {
  let inFlight = 0
  const gated = <A>(operation: string, write: Effect.Effect<A, StorageError>): Effect.Effect<A, StorageError> =>
    Effect.suspend(() => {
      if (inFlight > 0 && Math.random() < 0.1) {
        return Effect.fail(
          new StorageError({ operation, reason: "Unknown", message: "cannot start a transaction within a transaction" })
        )
      }
      inFlight++
      return Effect.ensuring(write, Effect.sync(() => inFlight--))
    })
  return {
    set: (ns, key, value, expiresAt) => gated("set", inner.set(ns, key, value, expiresAt)),
    setMany: (ns, entries) => gated("setMany", inner.setMany(ns, entries)),
    remove: (ns, key) => gated("remove", inner.remove(ns, key)),
    modify: (ns, key, f) => gated("modify", inner.modify(ns, key, f))
  }
})

const interleavingMutants: typeof mutants = [
  {
    defect: "modify reads, runs its function, then writes without a lock (the reference backend of 0.1)",
    make: mutate((inner) => ({
      modify: (ns, key, f) =>
        Effect.flatMap(inner.get(ns, key), (current) =>
          current === undefined
            ? Effect.succeed(undefined)
            : Effect.flatMap(f(current), (next) => Effect.as(inner.set(ns, key, next), next)))
    })),
    caughtBy: ["a modify whose function fails, sleeps or is interrupted", "a setMany spanning several statements"]
  },
  {
    defect: "a failed modify rolls back writes other callers made meanwhile (the SQLite transaction race)",
    make: rollbackTakesOthersWrites,
    caughtBy: ["a modify whose function fails, sleeps or is interrupted", "a setMany spanning several statements"]
  },
  {
    defect: "an interrupted write lands after the caller's next acknowledged write (a zombie statement)",
    make: zombieWrites,
    caughtBy: ["an operation interrupted at a random point"]
  },
  {
    defect: "concurrent writes fail now and then with an untyped error",
    make: failsUnderConcurrency,
    caughtBy: ["fail only with a typed, retryable error"]
  }
]

describe("the laws catch broken backends", () => {
  it("the reference backend passes every law run this way", async () => {
    expect(await failingLaws(MemoryBackend.make())).toEqual([])
  })

  for (const mutant of [...mutants, ...moreMutants, ...interleavingMutants]) {
    it(`catches: ${mutant.defect}`, async () => {
      const failed = await failingLaws(
        mutant.make(),
        interleavingMutants.includes(mutant) ? (law) => interleaving.has(law) : targeted
      )
      for (const fragment of mutant.caughtBy) {
        expect(
          failed.some((name) => name.includes(fragment)),
          `a law named like ${JSON.stringify(fragment)} must fail; failing laws: ${JSON.stringify(failed, null, 2)}`
        ).toBe(true)
      }
    })
  }
})

// The model-based law is a backstop for what the targeted laws miss: on its
// own, with enough runs, it must catch defects of very different kinds.
describe("the model-based law on its own", () => {
  const modelOnly = (law: Laws.Law) => law.name.startsWith("random operation sequences")
  const manyRuns = { ...options, modelRuns: 400 }
  for (const defect of [
    "case-insensitive keys (a _ci collation)",
    "prefixes matched as LIKE patterns",
    "entries live until 1 ms after expiresAt",
    "set without expiry keeps the previous expiry",
    "modify drops the expiry",
    "getMany answers in key order"
  ]) {
    it(`catches: ${defect}`, async () => {
      const mutant = mutants.find((m) => m.defect === defect)!
      expect(await failingLaws(mutant.make(), modelOnly, manyRuns)).toHaveLength(1)
    })
  }
})
