/**
 * Draws a run as an SVG chart: for each database, a grouped bar chart of
 * every contender's ops/s as a multiple of the raw driver's (the floor, the
 * line at 1×), one group per (store, operation, mode). Plain SVG text, no
 * charting dependency.
 *
 * @since 0.0.0
 */
import type { Contender, Database, Result } from "./Model.ts"
import { operationsOf } from "./Model.ts"
import { contenderTitles, databaseTitles } from "./Markdown.ts"
import * as Stats from "./Stats.ts"

const colors: Readonly<Record<Exclude<Contender, "raw-driver">, string>> = {
  "effect-persist": "#2563eb",
  "effect-persist-kysely": "#7c3aed",
  "effect-builtin": "#f59e0b",
  keyv: "#10b981"
}

const barContenders = Object.keys(colors) as ReadonlyArray<Exclude<Contender, "raw-driver">>

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const bar = 7
const groupGap = 12
const groupWidth = barContenders.length * bar + groupGap
const left = 48
const plotHeight = 200
const labelHeight = 110
const titleHeight = 28
const panelHeight = titleHeight + plotHeight + labelHeight

/**
 * Renders the chart of the given results (one panel per database present).
 *
 * @category constructors
 * @since 0.0.0
 */
export const render = (results: ReadonlyArray<Result>): string => {
  const databases = (["sqlite", "pg", "mariadb"] as const).filter((db) => results.some((r) => r.database === db))
  const groups = (["kv", "persistence"] as const).flatMap((store) =>
    operationsOf[store].flatMap((operation) => (["seq", "conc32"] as const).map((mode) => ({ store, operation, mode })))
  )
  // Room on the right for the last groups' slanted labels.
  const width = left + groups.length * groupWidth + 90
  const plotRight = left + groups.length * groupWidth
  const legendHeight = 30
  const height = legendHeight + databases.length * panelHeight
  const parts: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="10">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`
  ]
  barContenders.forEach((contender, i) => {
    const x = left + i * 170
    parts.push(
      `<rect x="${x}" y="10" width="12" height="12" fill="${colors[contender]}"/>`,
      `<text x="${x + 16}" y="20" font-size="11">${escape(contenderTitles[contender])}</text>`
    )
  })
  parts.push(
    `<text x="${left + barContenders.length * 170}" y="20" font-size="11">— dashed line: raw driver = 1×</text>`
  )

  databases.forEach((database: Database, panel) => {
    const top = legendHeight + panel * panelHeight
    const ratioOf = (contender: Contender, group: (typeof groups)[number]) => {
      const find = (c: Contender) =>
        results.find((r) =>
          r.database === database && r.contender === c && r.store === group.store && r.operation === group.operation &&
          r.mode === group.mode
        )
      return Stats.ratio(find(contender)?.opsPerSec, find("raw-driver")?.opsPerSec)
    }
    const ratios = groups.flatMap((g) => barContenders.map((c) => ratioOf(c, g) ?? 0))
    const yMax = Math.min(4, Math.max(1.5, Math.ceil(Math.max(...ratios) * 2) / 2))
    const y = (ratio: number) => top + titleHeight + plotHeight * (1 - Math.min(ratio, yMax) / yMax)
    parts.push(
      `<text x="${left}" y="${top + 18}" font-size="13" font-weight="bold">${
        escape(databaseTitles[database])
      }: ops/s as a multiple of the raw driver</text>`
    )
    for (let tick = 0; tick <= yMax + 1e-9; tick += 0.5) {
      parts.push(
        `<line x1="${left}" x2="${plotRight}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e5e7eb"/>`,
        `<text x="${left - 6}" y="${y(tick) + 3}" text-anchor="end">${tick.toFixed(1)}×</text>`
      )
    }
    groups.forEach((group, g) => {
      const x0 = left + g * groupWidth + groupGap / 2
      barContenders.forEach((contender, i) => {
        const ratio = ratioOf(contender, group)
        if (ratio === undefined) return
        const x = x0 + i * bar
        const yTop = y(ratio)
        parts.push(
          `<rect x="${x}" y="${yTop.toFixed(1)}" width="${bar - 1}" height="${(y(0) - yTop).toFixed(1)}" fill="${
            colors[contender]
          }"><title>${escape(`${contenderTitles[contender]}, ${group.store} ${group.operation} ${group.mode}: ${ratio.toFixed(2)}×`)}</title></rect>`
        )
        if (ratio > yMax) {
          // A clipped bar carries its value, written down the bar itself.
          parts.push(
            `<text transform="translate(${x + 0.5},${yTop + 3}) rotate(90)" font-size="7" fill="#ffffff">${
              ratio.toFixed(1)
            }×</text>`
          )
        }
      })
      const labelX = x0 + (barContenders.length * bar) / 2
      const labelY = y(0) + 8
      parts.push(
        `<text transform="translate(${labelX},${labelY}) rotate(60)" font-size="9">${
          escape(`${group.store === "kv" ? "kv" : "persist."} ${group.operation} ${group.mode}`)
        }</text>`
      )
    })
    parts.push(
      `<line x1="${left}" x2="${plotRight}" y1="${y(1)}" y2="${y(1)}" stroke="#111827" stroke-dasharray="4 3"/>`,
      `<line x1="${left}" x2="${plotRight}" y1="${y(0)}" y2="${y(0)}" stroke="#111827"/>`
    )
  })
  parts.push("</svg>")
  return parts.join("\n") + "\n"
}
