import { Migrator, StorageError } from "@effect-persist/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"

const quote = (name: string) => `"${name}"`

describe("Migrator", () => {
  it("splits statements at top-level semicolons only", () => {
    const sql = `-- a comment; with a semicolon
CREATE TABLE "a;b" (x TEXT DEFAULT 'it''s; fine'); /* block; comment */
INSERT INTO t VALUES ('x;y', "q;r");

;`
    expect(Migrator.splitStatements(sql)).toEqual([
      `CREATE TABLE "a;b" (x TEXT DEFAULT 'it''s; fine')`,
      `INSERT INTO t VALUES ('x;y', "q;r")`
    ])
  })

  it("renders the table placeholder and derived names, quoted", () => {
    expect(Migrator.render("CREATE INDEX {{table:expires_at}} ON {{table}} (x)", "cache", quote)).toBe(
      `CREATE INDEX "cache_expires_at" ON "cache" (x)`
    )
  })

  it.effect("orders migration files by version and refuses gaps or bad names", () =>
    Effect.gen(function*() {
      const ok = yield* Migrator.fromFiles({ "0002_second.sql": "B", "0001_first.sql": "A" })
      expect(ok.map((m) => [m.version, m.name])).toEqual([[1, "first"], [2, "second"]])
      expect(ok[0]!.checksum).toBe(Migrator.checksum("A"))
      const gap = yield* Effect.flip(Migrator.fromFiles({ "0001_a.sql": "A", "0003_c.sql": "C" }))
      expect(gap.reason).toBe("Invalid")
      const badName = yield* Effect.flip(Migrator.fromFiles({ "1_a.sql": "A" }))
      expect(badName.message).toContain("NNNN_name.sql")
    }))

  it("checksums ignore CRLF line endings, and nothing else", () => {
    expect(Migrator.checksum("a\r\nb")).toBe(Migrator.checksum("a\nb"))
    expect(Migrator.checksum("a\nb ")).not.toBe(Migrator.checksum("a\nb"))
  })

  it("compares applied and shipped migrations: pending, drifted and unknown", () => {
    const migrations = [1, 2, 3].map((version) => ({ version, name: `m${version}`, sql: "", checksum: `c${version}` }))
    const at = new Date(0)
    const state = Migrator.compare("t", migrations, [
      { version: 1, name: "m1", checksum: "c1", appliedAt: at },
      { version: 2, name: "m2", checksum: "edited", appliedAt: at },
      { version: 7, name: "future", checksum: "c7", appliedAt: at }
    ])
    expect(state.pending.map((m) => m.version)).toEqual([3])
    expect(state.drifted.map((m) => [m.version, m.expected])).toEqual([[2, "c2"]])
    expect(state.unknown.map((m) => m.version)).toEqual([7])
    expect([state.version, state.latest]).toEqual([7, 3])
  })

  it.effect("accepts plain identifiers as table names and refuses everything else", () =>
    Effect.gen(function*() {
      expect(yield* Migrator.validateTableName("app_cache_2")).toBe("app_cache_2")
      for (const bad of ["", "1abc", "a-b", "a b", "a\"b", "x".repeat(49), "effect_persist_migrations", "a;drop"]) {
        const exit = yield* Effect.exit(Migrator.validateTableName(bad))
        expect(Exit.isFailure(exit), bad).toBe(true)
      }
      const error = yield* Effect.flip(Migrator.validateTableName("a-b"))
      expect(error).toBeInstanceOf(StorageError.ConfigurationError)
    }))

  // Found by the reliability suite: "sqlite_entries" passed the check, then
  // SQLite refused to create it ("object name reserved for internal use").
  it.effect("refuses names SQLite reserves (sqlite_...), in any case, before anything is migrated", () =>
    Effect.gen(function*() {
      for (const reserved of ["sqlite_entries", "SQLITE_X", "Sqlite_"]) {
        const error = yield* Effect.flip(Migrator.validateTableName(reserved))
        expect(error.message, reserved).toContain("sqlite_")
      }
      expect(yield* Migrator.validateTableName("my_sqlite_cache")).toBe("my_sqlite_cache")
    }))

  it.effect("refuses a table name that is not a string with a typed error, not a defect", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Migrator.validateTableName(1n as unknown as string))
      expect(error).toBeInstanceOf(StorageError.ConfigurationError)
      expect(error.message).toContain("of type bigint")
    }))
})

// Found by the reliability suite: a PostgreSQL store started while its server
// was down failed with a SchemaVersionError ("could not read the migration
// state"), which says nothing of an outage and is not marked retryable.
describe("checkSchema when the database cannot be reached", () => {
  const failingDriver = (reason: StorageError.MigrationError["reason"]): Migrator.MigrationDriver => ({
    dialect: "fake",
    quoteIdentifier: (name) => `"${name}"`,
    withLock: (body) => body,
    ensureTrackingTable: Effect.void,
    applied: () => Effect.fail(new StorageError.MigrationError({ reason, message: "connection refused" })),
    apply: () => Effect.void
  })
  const migrations: ReadonlyArray<Migrator.Migration> = [{ version: 1, name: "one", sql: "", checksum: "c" }]

  it.effect("passes the driver's Unavailable MigrationError on, marked retryable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Migrator.checkSchema(failingDriver("Unavailable"), migrations, { command: "migrate" }))
      expect(error).toBeInstanceOf(StorageError.MigrationError)
      expect((error as StorageError.MigrationError).retryable).toBe(true)
    }))

  it.effect("reports any other failure to read the state as a SchemaVersionError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Migrator.checkSchema(failingDriver("Failed"), migrations, { command: "migrate" }))
      expect(error).toBeInstanceOf(StorageError.SchemaVersionError)
    }))

  it("MigrationError is retryable for Unavailable and Lock only", () => {
    const retryable = (reason: StorageError.MigrationError["reason"]) =>
      new StorageError.MigrationError({ reason, message: "" }).retryable
    expect(["Unavailable", "Lock", "Failed", "Drift", "Invalid"].map((r) => retryable(r as never))).toEqual([
      true,
      true,
      false,
      false,
      false
    ])
  })
})
