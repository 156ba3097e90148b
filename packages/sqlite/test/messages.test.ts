// Failures name SQLite's own words, waiting for a lock leaves the thread
// free, and an unusable table name is refused before the file is touched. Found by the reliability suite: SQLite's
// answer ("database is locked", "no such table: ...") was hidden behind the
// client's generic "Failed to execute statement", and a refused table name
// had already created the file and switched it to WAL.
import { Migrator } from "@effect-persist/core"
import { SqliteBackend, SqliteMigrator } from "@effect-persist/sqlite"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import { tmpdir } from "node:os"
import { join } from "node:path"

const freshFile = () => join(mkdtempSync(join(tmpdir(), "effect-persist-sqlite-")), "store.db")

describe("SQLite failures", () => {
  it.effect("an unusable table name is a ConfigurationError, and the file is not created", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      const fromOpen = yield* Effect.flip(Effect.scoped(SqliteBackend.open({ filename, table: "a-b", autoMigrate: true })))
      expect(fromOpen._tag).toBe("ConfigurationError")
      const fromLayer = yield* Effect.flip(
        Effect.scoped(Layer.build(SqliteBackend.layer({ filename, table: "x; DROP TABLE y", autoMigrate: true })))
      )
      expect(fromLayer._tag).toBe("ConfigurationError")
      expect(existsSync(filename)).toBe(false)
    }))

  // Found by the reliability suite: node:sqlite throws from its constructor,
  // and the client turned that into a defect.
  it.effect("a file that cannot be opened, or is not a database, is a ConfigurationError, not a defect", () =>
    Effect.gen(function*() {
      const missing = join(freshFile(), "no-such-directory", "store.db")
      const fromOpen = yield* Effect.flip(Effect.scoped(SqliteBackend.open({ filename: missing, autoMigrate: true })))
      expect(fromOpen._tag).toBe("ConfigurationError")
      expect(fromOpen.message).toContain("unable to open database file")
      const fromMigrate = yield* Effect.flip(SqliteMigrator.migrateFile(missing))
      expect(fromMigrate._tag).toBe("ConfigurationError")

      const notADatabase = freshFile()
      writeFileSync(notADatabase, "this is not a SQLite database, but it is long enough to have a header".repeat(20))
      const refused = yield* Effect.flip(Effect.scoped(SqliteBackend.open({ filename: notADatabase })))
      expect(refused._tag).toBe("ConfigurationError")
      expect(refused.message).toContain("not a database")
    }))

  it.effect("a write refused because another connection holds the lock is a retryable Conflict that says so", () =>
    Effect.scoped(Effect.gen(function*() {
      const filename = freshFile()
      yield* SqliteMigrator.migrateFile(filename)
      const backend = yield* SqliteBackend.open({ filename, busyTimeout: "50 millis" })
      const other = new DatabaseSync(filename)
      yield* Effect.addFinalizer(() => Effect.sync(() => other.close()))
      other.exec("BEGIN EXCLUSIVE")
      const error = yield* Effect.flip(backend.set("ns", "k", "v"))
      other.exec("COMMIT")
      expect(error.reason).toBe("Conflict")
      expect(error.retryable).toBe(true)
      expect(error.message).toContain("database is locked")
      yield* backend.set("ns", "k", "v")
    })))

  // Found by the reliability suite: node:sqlite runs statements on the
  // thread, and with SQLite's own busy timeout a writer waiting for another
  // process's lock slept there, freezing the whole program: a 1-second lock
  // held by another process stalled a store with 32 writers for 30 seconds.
  it.live("a writer waiting for another connection's lock does not hold the thread: reads go on meanwhile", () =>
    Effect.scoped(Effect.gen(function*() {
      const filename = freshFile()
      yield* SqliteMigrator.migrateFile(filename)
      const backend = yield* SqliteBackend.open({ filename, busyTimeout: "30 seconds" })
      yield* backend.set("ns", "read", "served")
      const other = new DatabaseSync(filename)
      yield* Effect.addFinalizer(() => Effect.sync(() => other.close()))
      other.exec("BEGIN EXCLUSIVE")
      const writer = yield* Effect.forkChild(backend.set("ns", "k", "written"))
      const modifier = yield* Effect.forkChild(backend.modify("ns", "read", (value) => Effect.succeed(`${value}!`)))
      yield* Effect.yieldNow
      // WAL serves reads while another connection writes: this one completes
      // while both writers are still waiting for the lock.
      expect(yield* backend.get("ns", "read")).toBe("served")
      expect(writer.pollUnsafe()).toBeUndefined()
      expect(modifier.pollUnsafe()).toBeUndefined()
      other.exec("COMMIT")
      yield* Fiber.join(writer)
      expect(yield* Fiber.join(modifier)).toBe("served!")
      expect(yield* backend.get("ns", "k")).toBe("written")
    })))

  it.live("a layer migrating on open waits for another connection's lock without failing or holding the thread", () =>
    Effect.scoped(Effect.gen(function*() {
      const filename = freshFile()
      const other = new DatabaseSync(filename)
      yield* Effect.addFinalizer(() => Effect.sync(() => other.close()))
      other.exec("PRAGMA journal_mode = WAL")
      other.exec("BEGIN EXCLUSIVE")
      const migrating = yield* Effect.forkChild(Effect.scoped(SqliteBackend.open({ filename, autoMigrate: true })))
      yield* Effect.yieldNow
      expect(migrating.pollUnsafe()).toBeUndefined()
      other.exec("COMMIT")
      const backend = yield* Fiber.join(migrating)
      expect(backend.dialect).toBe("sqlite")
    })))

  it.effect("a failing migration's error names SQLite's own message", () =>
    Effect.gen(function*() {
      const broken: Migrator.Migration = {
        version: 1,
        name: "broken",
        sql: "INSERT INTO no_such_table VALUES (1);",
        checksum: "broken"
      }
      const error = yield* Effect.flip(
        SqlClient.SqlClient.use((sql) => Migrator.migrate(SqliteMigrator.driver(sql), [broken])).pipe(
          Effect.provide(SqliteBackend.layerClient({ filename: freshFile() }))
        )
      )
      expect(error._tag).toBe("MigrationError")
      expect(error.message).toContain("0001_broken")
      expect(error.message).toContain("no such table: no_such_table")
    }))
})
