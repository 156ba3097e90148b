// The -wal of a file that other processes read without pause: SQLite's own
// checkpoints cannot restart the log while some reader is always in it, so
// it grows with every write; walSizeLimit restarts it.
import { SqliteBackend, SqliteMigrator } from "@effect-persist/sqlite"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"

const mib = 1024 * 1024

const walSize = (filename: string) => {
  try {
    return statSync(`${filename}-wal`).size
  } catch {
    return 0
  }
}

/** Largest -wal seen while 4,000 sets of 1 KiB are written next to readers that never pause. */
const largestWal = (walSizeLimit: number | false) =>
  Effect.gen(function*() {
    const filename = join(mkdtempSync(join(tmpdir(), "effect-persist-wal-")), "store.db")
    yield* SqliteMigrator.migrateFile(filename)
    const backend = yield* SqliteBackend.open({ filename, walSizeLimit })
    yield* backend.set("wal", "first", "x")
    const readers = spawn(process.execPath, [join(import.meta.dirname, "fixtures", "overlapping-readers.ts"), filename], {
      stdio: ["pipe", "pipe", "inherit"]
    })
    yield* Effect.addFinalizer(() =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          if (readers.exitCode !== null) return resolve()
          readers.once("exit", () => resolve())
          readers.stdin!.end()
        })
      )
    )
    const lines = createInterface({ input: readers.stdout! })[Symbol.asyncIterator]()
    expect((yield* Effect.promise(() => lines.next())).value).toBe("reading")
    const value = "v".repeat(1024)
    let largest = 0
    for (let i = 0; i < 4000; i++) {
      yield* backend.set("wal", `key-${i}`, value)
      largest = Math.max(largest, walSize(filename))
      // Time for the other process to read, and for this one's timers.
      if (i % 20 === 19) yield* Effect.sleep("2 millis")
    }
    console.log(`[wal-limit] walSizeLimit ${walSizeLimit}: largest -wal ${largest} bytes`)
    return largest
  }).pipe(Effect.scoped)

describe("walSizeLimit", () => {
  it.live("without it, a -wal that other processes read without pause grows with every write", () =>
    Effect.gen(function*() {
      // 4,000 commits of at least one 4 KiB page each, none of them reclaimed.
      expect(yield* largestWal(false)).toBeGreaterThan(15 * mib)
    }), 60_000)

  it.live("with it, the backend restarts the log: the -wal stays within the limit plus what is written while a checkpoint is pending", () =>
    Effect.gen(function*() {
      expect(yield* largestWal(1 * mib)).toBeLessThan(6 * mib)
    }), 60_000)
})
