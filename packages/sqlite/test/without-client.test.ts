import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

describe("the backend without @effect/sql-sqlite-node", () => {
  it("works on its own connection when Effect's SQLite client cannot be loaded; layerClient then fails typed, naming the fix", () => {
    const filename = join(mkdtempSync(join(tmpdir(), "effect-persist-sqlite-")), "app.db")
    const child = spawnSync(process.execPath, [join(import.meta.dirname, "fixtures", "without-client.ts"), filename], {
      encoding: "utf8"
    })
    expect(child.status, child.stderr).toBe(0)
    const report = JSON.parse(child.stdout.trim().split("\n").at(-1)!)
    expect(report.stored).toBe("hello")
    expect(report.clientError.tag).toBe("ConfigurationError")
    expect(report.clientError.option).toBe("@effect/sql-sqlite-node")
    expect(report.clientError.message).toContain("made unloadable by the test")
    expect(report.clientError.message).toContain("node node_modules/@effect-persist/sqlite/patches/apply.mjs")
  })
})
