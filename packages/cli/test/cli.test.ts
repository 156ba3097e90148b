import { describe, expect, it } from "@effect/vitest"
import { existsSync, mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { cli } from "./run.ts"

const freshFile = () => join(mkdtempSync(join(tmpdir(), "effect-persist-cli-")), "store.db")

/** The schema as SQLite describes it: every table and index with its SQL. */
const schemaOf = (filename: string) => {
  const db = new DatabaseSync(filename, { readOnly: true })
  try {
    return db.prepare(
      "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name <> 'effect_persist_migrations' ORDER BY name"
    ).all()
  } finally {
    db.close()
  }
}

describe("effect-persist command on SQLite", () => {
  it("migrates a fresh database, reports it clean, and re-running applies nothing", async () => {
    const url = `sqlite:${freshFile()}`
    const before = await cli(["status", "--url", url])
    expect(before.code).toBe(2)
    expect(before.stdout).toContain("0001_create_entries  pending")

    const first = await cli(["migrate", "--url", url])
    expect(first.code).toBe(0)
    expect(first.stdout).toContain("applied 0001_create_entries")

    const status = await cli(["status", "--url", url, "--json"])
    expect(status.code).toBe(0)
    const state = JSON.parse(status.stdout)
    expect(state).toMatchObject({ dialect: "sqlite", clean: true, version: 1, latest: 1, pending: [], drifted: [] })

    const again = await cli(["migrate", "--url", url, "--json"])
    expect(again.code).toBe(0)
    expect(JSON.parse(again.stdout).applied).toEqual([])
  })

  it("--dry-run prints the SQL and applies nothing", async () => {
    const filename = freshFile()
    const dry = await cli(["migrate", "--url", `sqlite:${filename}`, "--dry-run"])
    expect(dry.code).toBe(0)
    expect(dry.stdout).toContain(`CREATE TABLE "effect_persist_entries"`)
    expect(schemaOf(filename)).toEqual([])
  })

  it("detects an edited migration as drift and exits non-zero", async () => {
    const filename = freshFile()
    await cli(["migrate", "--url", `sqlite:${filename}`])
    const db = new DatabaseSync(filename)
    db.exec("UPDATE effect_persist_migrations SET checksum = 'edited-by-hand'")
    db.close()
    const status = await cli(["status", "--url", `sqlite:${filename}`])
    expect(status.code).toBe(2)
    expect(status.stdout).toContain("DRIFTED")
    const migrate = await cli(["migrate", "--url", `sqlite:${filename}`])
    expect(migrate.code).toBe(1)
    expect(migrate.stderr).toMatch(/^effect-persist: Applied migration 0001_create_entries changed/)
    expect(migrate.stderr.trim().split("\n")).toHaveLength(1)
  })

  it("`sql` output applied by another tool produces the same schema as `migrate`", async () => {
    const viaMigrate = freshFile()
    await cli(["migrate", "--url", `sqlite:${viaMigrate}`, "--table", "app_cache"])
    const printed = await cli(["sql", "--dialect", "sqlite", "--table", "app_cache"])
    expect(printed.code).toBe(0)
    const viaTool = freshFile()
    const db = new DatabaseSync(viaTool)
    db.exec(printed.stdout)
    db.close()
    expect(schemaOf(viaTool)).toEqual(schemaOf(viaMigrate))
    expect(schemaOf(viaTool).length).toBeGreaterThan(0)
  })

  it("sweep deletes exactly the expired rows; inspect reports namespaces with counts, bytes and expired", async () => {
    const filename = freshFile()
    const url = `sqlite:${filename}`
    await cli(["migrate", "--url", url])
    const db = new DatabaseSync(filename)
    const insert = db.prepare("INSERT INTO effect_persist_entries (namespace, key, value, kind, expires_at) VALUES (?, ?, ?, 0, ?)")
    const enc = (s: string) => new TextEncoder().encode(s)
    const past = Date.now() - 60_000
    const future = Date.now() + 3_600_000
    for (let i = 0; i < 2500; i++) insert.run(enc("kv:sessions"), enc(`expired-${i}`), "x", past)
    for (let i = 0; i < 10; i++) insert.run(enc("kv:sessions"), enc(`live-${i}`), "y", future)
    for (let i = 0; i < 5; i++) insert.run(enc("kv:settings"), enc(`k${i}`), "z", null)
    db.close()

    const inspect = JSON.parse((await cli(["inspect", "--url", url, "--json"])).stdout)
    expect(inspect.namespaces).toEqual([
      { namespace: "kv:sessions", entries: 2510, bytes: expect.any(Number), expired: 2500 },
      { namespace: "kv:settings", entries: 5, bytes: 5 * 3, expired: 0 }
    ])

    const refused = await cli(["sweep", "--url", url, "--share", "0"])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain("share must be a number above 0 and at most 1")

    const sweep = await cli(["sweep", "--url", url, "--batch-size", "1000", "--share", "1"])
    expect(sweep.code).toBe(0)
    expect(sweep.stdout).toContain("deleted 2500 expired entries")
    expect(sweep.stderr).toContain("2500 of 2500")

    const after = JSON.parse((await cli(["inspect", "--url", url, "--json"])).stdout)
    expect(after.namespaces).toEqual([
      { namespace: "kv:sessions", entries: 10, bytes: expect.any(Number), expired: 0 },
      { namespace: "kv:settings", entries: 5, bytes: 15, expired: 0 }
    ])
  })

  it("takes the database from DATABASE_URL when --url is absent", async () => {
    const filename = freshFile()
    const result = await cli(["migrate", "--json"], { DATABASE_URL: `sqlite:${filename}` })
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout).url).toBe(`sqlite:${filename}`)
  })

  it("with neither --url nor DATABASE_URL, every command refuses in one line and creates no file", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "effect-persist-cli-cwd-"))
    for (const args of [["migrate"], ["status"], ["inspect"], ["sweep"]]) {
      const result = await cli(args, { DATABASE_URL: "" }, cwd)
      expect(result.code, args.join(" ")).toBe(1)
      expect(result.stderr.trim().split("\n")).toEqual([
        "effect-persist: No database given: pass --url (sqlite:<file>, postgres://…, mysql://…) or set DATABASE_URL, which keeps a password out of ps and shell history."
      ])
    }
    expect(readdirSync(cwd)).toEqual([])
  })

  it("a table name that cannot be used is refused before the database is opened or created", async () => {
    const filename = freshFile()
    const result = await cli(["migrate", "--url", `sqlite:${filename}`, "--table", "bad-name"])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`Table name "bad-name" is not usable`)
    expect(existsSync(filename)).toBe(false)
  })

  it("errors are one clear line, a non-zero exit, and never show a password", async () => {
    const bad = await cli(["status", "--url", "ftp://user:hunter2@example.invalid/db"])
    expect(bad.code).toBe(1)
    expect(bad.stderr).not.toContain("hunter2")
    expect(bad.stderr.trim().split("\n")).toHaveLength(1)
    expect(bad.stderr).toMatch(/^effect-persist: Cannot use database URL/)
  })

  it("inspect on an unmigrated database names the migrate step", async () => {
    const result = await cli(["inspect", "--url", `sqlite:${freshFile()}`])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("has not been migrated")
  })
})
