import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import type { Report } from "../src/Model.ts"
import { contenders, modes, operationsOf } from "../src/Model.ts"
import * as Stats from "../src/Stats.ts"

const run = promisify(execFile)
const main = join(import.meta.dirname, "..", "src", "main.ts")

// The benchmark itself is not part of `npm test`: this only checks that a
// quick run on SQLite writes a complete, well-formed report. No timings are
// asserted, only that every number is a positive rate.
describe("npm run bench -- --quick", () => {
  it("writes a JSON report with a row for every contender, store, operation and mode on SQLite", async () => {
    const dir = mkdtempSync(join(tmpdir(), "effect-persist-bench-test-"))
    const out = join(dir, "out.json")
    const { stdout } = await run(process.execPath, [main, "--quick", "--databases", "sqlite", "--json", out], {
      maxBuffer: 16 * 1024 * 1024
    })
    const report = JSON.parse(readFileSync(out, "utf8")) as Report
    rmSync(dir, { recursive: true, force: true })

    expect(report.environment.quick).toBe(true)
    expect(report.environment.cores).toBeGreaterThan(0)
    expect(report.environment.servers.sqlite).toBeDefined()
    expect(report.environment.method.rounds).toBeGreaterThanOrEqual(5)

    const expected = contenders.flatMap((contender) =>
      (["kv", "persistence"] as const).flatMap((store) =>
        operationsOf[store]
          .filter((operation) => !(contender === "keyv" && operation === "modify"))
          .flatMap((operation) => modes.map(({ mode }) => `${contender} ${store} ${operation} ${mode}`))
      )
    )
    const got = report.results.map((r) => `${r.contender} ${r.store} ${r.operation} ${r.mode}`)
    expect([...got].sort()).toEqual([...expected].sort())
    for (const r of report.results) {
      expect(r.database).toBe("sqlite")
      expect(r.rounds).toHaveLength(report.environment.method.rounds)
      for (const rate of r.rounds) expect(rate).toBeGreaterThan(0)
      expect(r.opsPerSec).toBe(Stats.median(r.rounds))
      expect(r.noisy).toBe(Stats.isNoisy(r.rounds))
    }

    const scale = report.scale.map((s) => `${s.contender} ${s.operation} ${s.mode} ${s.rows}`)
    expect(scale).toHaveLength(16)
    expect(new Set(report.scale.map((s) => s.rows))).toEqual(new Set(report.environment.method.scaleRows))
    for (const s of report.scale) expect(s.opsPerSec).toBeGreaterThan(0)
    expect(report.sweep).toHaveLength(1)
    expect(report.sweep[0]!.deleted).toBeGreaterThan(0)
    expect(report.sweep[0]!.foregroundDuring).toBeGreaterThan(0)

    expect(stdout).toContain("#### SQLite (file, WAL)")
    expect(stdout).toContain("| kv | get-hit | seq |")
  }, 120_000)
})
