// SQLite contention: two OS processes, each with many fibers, write the same
// file at once with the store's default settings. No busy error may reach a
// caller, no acknowledged write may be lost (checked by a third process), and
// modifies whose function fails or is interrupted must change nothing.
import { Size } from "@effect-persist/reliability"
import * as Figures from "@effect-persist/reliability/Figures"
import { SqliteBackend } from "@effect-persist/sqlite"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { promisify } from "node:util"
import { sqliteReader } from "./fixtures/reader.ts"

const { sizes } = Size
const run = promisify(execFile)
const child = join(import.meta.dirname, "fixtures", "contention-child.ts")

interface ChildResult {
  readonly acked: ReadonlyArray<string>
  readonly increments: number
  readonly changeNothing: number
  readonly failures: ReadonlyArray<string>
}

describe("SQLite contention", () => {
  it.live("two processes and many fibers writing one file: no busy error reaches a caller, no acknowledged write is lost", () =>
    Effect.scoped(Effect.gen(function*() {
      const filename = join(mkdtempSync(join(tmpdir(), "effect-persist-reliability-")), "contention.db")

      // Both processes open the fresh file at once: it switches to WAL and migrates once.
      const opened = yield* Effect.promise(() =>
        Promise.all([1, 2].map(async () => (await run(process.execPath, [child, filename, "open"])).stdout.trim()))
      )
      expect(opened).toEqual(["opened", "opened"])
      yield* Effect.scoped(Effect.flatMap(
        SqliteBackend.open({ filename }),
        (backend) => backend.set("contention", "shared-counter", "0")
      ))

      const children = [1, 2].map((processId) =>
        spawn(process.execPath, [
          child,
          filename,
          String(processId),
          String(sizes.contentionFibers),
          String(sizes.contentionWritesPerProcess)
        ], { stdio: ["pipe", "pipe", "inherit"] })
      )
      // A failed assertion must not leave the processes behind.
      yield* Effect.addFinalizer(() => Effect.sync(() => children.forEach((process) => process.exitCode ?? process.kill())))
      const outputs = children.map((process) => {
        const lines = createInterface({ input: process.stdout! })[Symbol.asyncIterator]()
        return async () => {
          const line = await lines.next()
          if (line.done) throw new Error("the contention process exited early")
          return line.value
        }
      })
      // Both open, then both are told to start at once.
      expect(yield* Effect.promise(() => Promise.all(outputs.map((next) => next())))).toEqual(["ready", "ready"])
      children.forEach((process) => process.stdin!.end("go\n"))
      const results = (yield* Effect.promise(() => Promise.all(outputs.map((next) => next())))).map((line) =>
        JSON.parse(line) as ChildResult
      )
      const failures = results.flatMap((result) => result.failures)
      const acked = results.flatMap((result) => result.acked)
      const increments = results.reduce((sum, result) => sum + result.increments, 0)
      const changeNothing = results.reduce((sum, result) => sum + result.changeNothing, 0)

      // Checked by a third process, reading the file with SQL of its own.
      const reader = yield* sqliteReader(filename)
      let verified = 0
      for (let start = 0; start < acked.length; start += 500) {
        const chunk = acked.slice(start, start + 500)
        const found = yield* reader.getMany("contention", chunk)
        chunk.forEach((key, i) => {
          if (found[i] === key.replace(/-[ab]$/, "")) verified++
        })
      }
      const counter = Number((yield* reader.getMany("contention", ["shared-counter"]))[0])
      Figures.record("SQLite contention", {
        processes: 2,
        fibersPerProcess: sizes.contentionFibers,
        operations: 2 * sizes.contentionWritesPerProcess,
        writesAcknowledged: acked.length + increments,
        writesVerified: verified + (counter === increments ? increments : 0),
        writesChecked: acked.length + increments,
        writesLost: acked.length - verified + Math.max(0, increments - counter),
        modifiesThatChangeNothing: changeNothing,
        failures: failures.length,
        firstFailure: failures[0] ?? ""
      })
      expect(failures.slice(0, 5)).toEqual([])
      expect(verified).toBe(acked.length)
      // Exact: no modify failed, and those that failed or were interrupted added nothing.
      expect(counter, "the shared counter: acknowledged increments, and nothing from failed or interrupted functions")
        .toBe(increments)
      expect(changeNothing).toBeGreaterThan(0)
      expect(acked.length + increments).toBeGreaterThan(sizes.contentionWritesPerProcess)
    })), Size.stress ? 900_000 : 300_000)
})
