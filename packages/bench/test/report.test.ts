import { describe, expect, it } from "@effect/vitest"
import * as Docs from "../src/Docs.ts"
import * as Markdown from "../src/Markdown.ts"
import type { Database, Report } from "../src/Model.ts"
import * as Run from "../src/Run.ts"
import * as Stats from "../src/Stats.ts"

describe("report helpers", () => {
  it("median and the noise rule", () => {
    expect(Stats.median([3, 1, 2])).toBe(2)
    expect(Stats.median([4, 1, 3, 2])).toBe(2.5)
    expect(Stats.isNoisy([100, 101, 99, 100, 102])).toBe(false)
    expect(Stats.isNoisy([100, 130, 99, 100, 102])).toBe(true)
    expect(Stats.ratio(5, undefined)).toBeUndefined()
    expect(Stats.rotate([1, 2, 3], 4)).toEqual([2, 3, 1])
  })

  it("rewrites only the generated part of the document", () => {
    const document = `# Benchmarks\n\nBefore.\n\n${Docs.begin}\nold table\n${Docs.end}\n\n## Closing note\n\nAfter.\n`
    const next = Docs.splice(document, "new table")
    expect(next).toContain("Before.")
    expect(next).toContain(`${Docs.begin}\nnew table\n${Docs.end}`)
    expect(next).not.toContain("old table")
    expect(next).toContain("## Closing note\n\nAfter.")
    expect(Docs.splice("# Doc\n", "t")).toBe(`# Doc\n\n${Docs.begin}\nt\n${Docs.end}\n`)
  })

  it("formats rates and ratios", () => {
    expect(Markdown.formatRate(812.4)).toBe("812")
    expect(Markdown.formatRate(12_345)).toBe("12.3k")
    expect(Markdown.formatRate(1_050_000)).toBe("1.05M")
    expect(Markdown.formatRatio(0.8549)).toBe("0.85×")
    expect(Markdown.formatRatio(undefined)).toBe("–")
  })

  it("merges runs database by database, the last run that measured a database winning", () => {
    const report = (date: string, databases: ReadonlyArray<Database>, rate: number): Report => ({
      environment: {
        date,
        commit: "abc",
        quick: false,
        node: "v24",
        platform: "linux x64",
        cpus: "cpu",
        cores: 2,
        memoryGiB: 24,
        loadAverage: { start: [1, 1, 1], end: [2, 2, 2] },
        servers: Object.fromEntries(databases.map((db) => [db, `${db} server`])),
        packages: {},
        method: { rounds: 5, secondsPerCell: 0.2, warmupSeconds: 0.1, rowsPerStore: 10, scaleRows: [], sweepRows: 0, noiseRule: "" },
        durationSeconds: 100,
        notes: databases.includes("pg") ? ["pg: the run failed"] : []
      },
      results: databases.map((database) => ({
        database,
        contender: "raw-driver",
        store: "kv",
        operation: "get-hit",
        mode: "seq",
        opsPerSec: rate,
        rounds: [rate],
        noisy: false,
        cpuMicrosPerOp: 1
      })),
      scale: [],
      sweep: []
    })
    const merged = Run.merge([report("first", ["sqlite", "pg"], 1), report("second", ["pg"], 2)])
    expect(merged.results.map((r) => [r.database, r.opsPerSec])).toEqual([["sqlite", 1], ["pg", 2]])
    expect(merged.environment.servers).toEqual({ sqlite: "sqlite server", pg: "pg server" })
    expect(merged.environment.durationSeconds).toBe(200)
    expect(merged.environment.notes[0]).toContain("Merged from 2 runs")
    expect(merged.environment.notes.filter((n) => n.startsWith("pg: "))).toHaveLength(1)
  })
})
