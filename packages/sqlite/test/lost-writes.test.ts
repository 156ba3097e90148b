// The workload that lost acknowledged writes on the backend's own connection:
// fibers whose `modify` fails half of the time (so its transaction rolls back)
// next to fibers writing keys of their own. Every acknowledged key is then
// looked for in the file by another process, which shares nothing with the
// store that wrote it.
import { Services } from "@effect-persist/core"
import { SqliteBackend, SqliteMigrator } from "@effect-persist/sqlite"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer } from "effect"
import { KeyValueStore } from "effect/persistence"
import { execFile } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)
const freshFile = () => join(mkdtempSync(join(tmpdir(), "effect-persist-lost-")), "store.db")

// Lists the keys of one namespace from another process.
const keysInFile = async (filename: string): Promise<Set<string>> => {
  const script = `
    const { DatabaseSync } = require("node:sqlite")
    const db = new DatabaseSync(process.argv[1], { readOnly: true })
    const rows = db.prepare("SELECT key FROM effect_persist_entries WHERE namespace = CAST('kv:app' AS BLOB)").all()
    process.stdout.write(JSON.stringify(rows.map((row) => Buffer.from(row.key).toString("utf8"))))
  `
  const { stdout } = await run(process.execPath, ["-e", script, filename], { maxBuffer: 64 * 1024 * 1024 })
  return new Set(JSON.parse(stdout) as Array<string>)
}

class Refused extends Error {}

interface Tally {
  acknowledged: Array<string>
  modifyOk: number
  refusedByFunction: number
  otherFailures: Array<string>
}

const workload = (millis: number, failShare: number) =>
  Effect.gen(function*() {
    const kv = yield* KeyValueStore.KeyValueStore
    yield* kv.set("counter", "0")
    const tally: Tally = { acknowledged: [], modifyOk: 0, refusedByFunction: 0, otherFailures: [] }
    const deadline = Date.now() + millis
    const modifier = Effect.gen(function*() {
      while (Date.now() < deadline) {
        const exit = yield* Effect.exit(kv.modify("counter", (current) => {
          if (Math.random() < failShare) throw new Refused("the function refused")
          return String(Number(current) + 1)
        }))
        if (Exit.isSuccess(exit)) tally.modifyOk++
        else if (Cause.pretty(exit.cause).includes("the function refused")) tally.refusedByFunction++
        else tally.otherFailures.push(Cause.pretty(exit.cause).split("\n")[0]!)
      }
    })
    const writer = (id: number) =>
      Effect.gen(function*() {
        let i = 0
        while (Date.now() < deadline) {
          const key = `w${id}-${i++}`
          const exit = yield* Effect.exit(kv.set(key, "v"))
          if (Exit.isSuccess(exit)) tally.acknowledged.push(key)
          else tally.otherFailures.push(Cause.pretty(exit.cause).split("\n")[0]!)
        }
      })
    yield* Effect.all(
      [...Array.from({ length: 8 }, () => modifier), ...Array.from({ length: 8 }, (_, id) => writer(id))],
      { concurrency: "unbounded", discard: true }
    )
    const counter = yield* kv.get("counter")
    return { tally, counter }
  })

const backends = {
  "the backend's own connection (layer)": (filename: string) => SqliteBackend.layer({ filename }),
  "an @effect/sql-sqlite-node client (layerFromClient)": (filename: string) =>
    SqliteBackend.layerFromClient().pipe(Layer.provide(SqliteBackend.layerClient({ filename })))
}

describe("SQLite: a modify that fails next to other writers", () => {
  it.each(Object.entries(backends))("%s: loses no acknowledged write and raises no error but the function's own (8 + 8 fibers, 3 s, half the functions fail)", async (_, backend) => {
    const filename = freshFile()
    await Effect.runPromise(SqliteMigrator.migrateFile(filename))
    const storage = Services.layerKeyValueStore({ name: "app" }).pipe(Layer.provide(backend(filename)))
    const { tally, counter } = await Effect.runPromise(Effect.provide(workload(3_000, 0.5), storage))
    const stored = await keysInFile(filename)
    const lost = tally.acknowledged.filter((key) => !stored.has(key))
    console.log(
      `lost-writes: ${tally.acknowledged.length} acknowledged sets, ${lost.length} lost; ` +
        `${tally.modifyOk} modifies, ${tally.refusedByFunction} refused by their function, ` +
        `${tally.otherFailures.length} other failures`
    )
    expect(tally.acknowledged.length).toBeGreaterThan(1000)
    expect(tally.refusedByFunction).toBeGreaterThan(0)
    expect({ lost: lost.length, first: lost.slice(0, 5) }).toEqual({ lost: 0, first: [] })
    expect({ failures: tally.otherFailures.length, first: [...new Set(tally.otherFailures)].slice(0, 3) })
      .toEqual({ failures: 0, first: [] })
    // Every successful increment is in the counter, and no refused one.
    expect(counter).toBe(String(tally.modifyOk))
  }, 60_000)
})
