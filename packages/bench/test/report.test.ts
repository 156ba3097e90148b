import { describe, expect, it } from "@effect/vitest"
import * as Docs from "../src/Docs.ts"
import * as Markdown from "../src/Markdown.ts"
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
})
