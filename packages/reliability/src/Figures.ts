/**
 * The figures a reliability run reports: writes acknowledged and verified,
 * faults injected, inputs tried. Each scenario records its own under a name;
 * they are printed as they come and merged into one JSON file per run size,
 * from which `docs/reliability.md` is written.
 *
 * @since 0.0.0
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { sizes } from "./Size.ts"

/**
 * One scenario's figures: counts, and for timings the largest value seen.
 *
 * @category models
 * @since 0.0.0
 */
export type Figures = Readonly<Record<string, number | string | boolean>>

/**
 * Where the figures of this run size are written: `EFFECT_PERSIST_FIGURES`,
 * else `node_modules/.cache/reliability/figures-<size>.json` in this package.
 *
 * @category constructors
 * @since 0.0.0
 */
export const file: string = process.env.EFFECT_PERSIST_FIGURES ??
  join(import.meta.dirname, "..", "node_modules", ".cache", "reliability", `figures-${sizes.label}.json`)

const read = (): Record<string, Figures> => {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, Figures>
  } catch {
    return {}
  }
}

/**
 * Prints a scenario's figures on one line and merges them into the run's file.
 *
 * @category constructors
 * @since 0.0.0
 */
export const record = (scenario: string, figures: Figures): void => {
  console.log(`[reliability] ${scenario} (${sizes.label}): ${JSON.stringify(figures)}`)
  const all = read()
  all[scenario] = { ...figures, recordedAt: new Date().toISOString() }
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`)
}
