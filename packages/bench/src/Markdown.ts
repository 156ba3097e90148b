/**
 * Renders a run as markdown: the environment it came from, the ops/s of
 * every cell with its ratios against the raw driver (the floor) and Effect's
 * built-in stores, the scale and sweep runs, and the targets checked.
 *
 * @since 0.0.0
 */
import type { Contender, Database, Report, Result } from "./Model.ts"
import { contenders, databases, noiseThreshold, operationsOf } from "./Model.ts"
import * as Stats from "./Stats.ts"
import * as Targets from "./Targets.ts"

/**
 * How each database is titled.
 *
 * @category constructors
 * @since 0.0.0
 */
export const databaseTitles: Readonly<Record<Database, string>> = {
  sqlite: "SQLite (file, WAL)",
  pg: "PostgreSQL",
  mariadb: "MariaDB"
}

/**
 * How each contender is titled.
 *
 * @category constructors
 * @since 0.0.0
 */
export const contenderTitles: Readonly<Record<Contender, string>> = {
  "effect-persist": "effect-persist",
  "effect-persist-kysely": "effect-persist (Kysely)",
  "effect-builtin": "Effect built-in",
  "raw-driver": "raw driver (floor)",
  keyv: "Keyv"
}

/**
 * Ops/s in a short, readable form: `812`, `12.3k`, `1.05M`.
 *
 * @category constructors
 * @since 0.0.0
 */
export const formatRate = (rate: number): string =>
  rate >= 1e6
    ? `${(rate / 1e6).toFixed(2)}M`
    : rate >= 1e4
    ? `${(rate / 1e3).toFixed(1)}k`
    : rate >= 1e3
    ? `${(rate / 1e3).toFixed(2)}k`
    : rate.toFixed(rate >= 100 ? 0 : 1)

/**
 * A ratio as `0.85×`, or `–` when there is none.
 *
 * @category constructors
 * @since 0.0.0
 */
export const formatRatio = (ratio: number | undefined): string => ratio === undefined ? "–" : `${ratio.toFixed(2)}×`

const cellText = (result: Result | undefined, floor: Result | undefined, builtin: Result | undefined): string => {
  if (result === undefined) return "n/a"
  const noisy = result.noisy ? " ~" : ""
  if (result.contender === "raw-driver") return `**${formatRate(result.opsPerSec)}**${noisy}`
  const parts = [formatRate(result.opsPerSec), formatRatio(Stats.ratio(result.opsPerSec, floor?.opsPerSec))]
  if (result.contender !== "effect-builtin") parts.push(formatRatio(Stats.ratio(result.opsPerSec, builtin?.opsPerSec)))
  return parts.join(" · ") + noisy
}

/**
 * The table of one database: one row per (store, operation, mode), one
 * column per contender.
 *
 * @category constructors
 * @since 0.0.0
 */
export const databaseTable = (results: ReadonlyArray<Result>, database: Database): string => {
  const present = contenders.filter((c) => results.some((r) => r.database === database && r.contender === c))
  const ordered: ReadonlyArray<Contender> = [
    ...present.filter((c) => c === "raw-driver"),
    ...present.filter((c) => c !== "raw-driver")
  ]
  const lines = [
    `| store | operation | mode | ${ordered.map((c) => contenderTitles[c]).join(" | ")} |`,
    `| --- | --- | --- | ${ordered.map(() => "---:").join(" | ")} |`
  ]
  for (const store of ["kv", "persistence"] as const) {
    for (const operation of operationsOf[store]) {
      for (const mode of ["seq", "conc32"] as const) {
        const of = (contender: Contender) =>
          results.find((r) =>
            r.database === database && r.contender === contender && r.store === store && r.operation === operation &&
            r.mode === mode
          )
        if (!ordered.some((c) => of(c) !== undefined)) continue
        const floor = of("raw-driver")
        const builtin = of("effect-builtin")
        lines.push(`| ${store} | ${operation} | ${mode} | ${ordered.map((c) => cellText(of(c), floor, builtin)).join(" | ")} |`)
      }
    }
  }
  return lines.join("\n")
}

/**
 * This process's CPU time per sequential call of one database, in
 * microseconds: what each contender costs the application, whatever else
 * the machine was doing.
 *
 * @category constructors
 * @since 0.0.0
 */
export const cpuTable = (results: ReadonlyArray<Result>, database: Database): string => {
  const present = contenders.filter((c) => results.some((r) => r.database === database && r.contender === c))
  const lines = [
    `| store | operation | ${present.map((c) => contenderTitles[c]).join(" | ")} |`,
    `| --- | --- | ${present.map(() => "---:").join(" | ")} |`
  ]
  for (const store of ["kv", "persistence"] as const) {
    for (const operation of operationsOf[store]) {
      const of = (contender: Contender) =>
        results.find((r) =>
          r.database === database && r.contender === contender && r.store === store && r.operation === operation &&
          r.mode === "seq"
        )
      if (!present.some((c) => of(c) !== undefined)) continue
      lines.push(
        `| ${store} | ${operation} | ${
          present.map((c) => {
            const r = of(c)
            return r === undefined ? "n/a" : r.cpuMicrosPerOp.toFixed(r.cpuMicrosPerOp >= 100 ? 0 : 1)
          }).join(" | ")
        } |`
      )
    }
  }
  return lines.join("\n")
}

const environmentSection = (report: Report): string => {
  const e = report.environment
  const servers = Object.entries(e.servers).map(([db, version]) => `${databaseTitles[db as Database]}: ${version}`)
  const packages = Object.entries(e.packages).map(([name, version]) => `${name} ${version}`).join(", ")
  return [
    `- **Run**: ${e.date}, commit ${e.commit ?? "unknown"}, ${e.quick ? "quick run (`--quick`: shorter cells, smaller scale run)" : "full run"}, ${
      e.durationSeconds.toFixed(0)
    } s in all`,
    `- **Machine**: ${e.cpus}, ${e.cores} cores, ${e.memoryGiB} GiB, ${e.platform}, Node ${e.node}`,
    `- **Load average** (1, 5, 15 min): ${e.loadAverage.start.map((l) => l.toFixed(2)).join(", ")} at the start, ${
      e.loadAverage.end.map((l) => l.toFixed(2)).join(", ")
    } at the end`,
    `- **Servers**: ${servers.length > 0 ? servers.join("; ") : "none"}`,
    `- **Packages**: ${packages}`,
    `- **Method**: ${e.method.rounds} rounds of ${e.method.secondsPerCell} s per cell after a ${e.method.warmupSeconds} s warm-up, contenders interleaved round by round in rotating order; median of the rounds; ${e.method.rowsPerStore.toLocaleString("en-US")} rows per store; pools of 10 connections on the servers; ${e.method.noiseRule}`,
    ...e.notes.map((note) => `- ${note}`)
  ].join("\n")
}

const scaleSection = (report: Report): string => {
  if (report.scale.length === 0) return "Not run."
  const sizes = [...new Set(report.scale.map((s) => s.rows))].sort((a, b) => a - b)
  const lines = [
    `| database | contender | operation | mode | ${sizes.map((n) => `${n.toLocaleString("en-US")} rows`).join(" | ")} | large ÷ small |`,
    `| --- | --- | --- | --- | ${sizes.map(() => "---:").join(" | ")} | ---: |`
  ]
  const order = (db: Database) => databases.indexOf(db)
  const keys = new Set(
    [...report.scale].sort((a, b) => order(a.database) - order(b.database)).map((s) =>
      `${s.database}|${s.contender}|${s.operation}|${s.mode}`
    )
  )
  for (const key of keys) {
    const [database, contender, operation, mode] = key.split("|") as [Database, Contender, string, string]
    const row = sizes.map((rows) =>
      report.scale.find((s) =>
        s.database === database && s.contender === contender && s.operation === operation && s.mode === mode &&
        s.rows === rows
      )
    )
    const ratio = Stats.ratio(row[row.length - 1]?.opsPerSec, row[0]?.opsPerSec)
    lines.push(
      `| ${databaseTitles[database]} | ${contenderTitles[contender]} | ${operation} | ${mode} | ${
        row.map((s) => s === undefined ? "–" : formatRate(s.opsPerSec) + (s.noisy ? " ~" : "")).join(" | ")
      } | ${formatRatio(ratio)} |`
    )
  }
  return lines.join("\n")
}

const sweepSection = (report: Report): string => {
  if (report.sweep.length === 0) return "Not run."
  const lines = [
    "| database | live rows | expired rows | deleted | sweep time | rows/s swept | callers before | callers during | during ÷ before |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  ]
  for (const s of [...report.sweep].sort((a, b) => databases.indexOf(a.database) - databases.indexOf(b.database))) {
    lines.push(
      `| ${databaseTitles[s.database]} | ${s.liveRows.toLocaleString("en-US")} | ${
        s.expiredRows.toLocaleString("en-US")
      } | ${s.deleted.toLocaleString("en-US")}${s.finished ? "" : " (stopped at the time cap)"} | ${
        s.sweepSeconds.toFixed(1)
      } s | ${formatRate(s.deleted / s.sweepSeconds)} | ${
        formatRate(s.foregroundBefore)
      } ops/s | ${formatRate(s.foregroundDuring)} ops/s | ${formatRatio(s.ratio)} |`
    )
  }
  return lines.join("\n")
}

const shortBy = (check: Targets.Check): string =>
  check.met ? "–" : Targets.shortfall(check) > 0 ? `${(Targets.shortfall(check) * 100).toFixed(0)}%` : "did not finish"

const targetsSection = (report: Report): string => {
  const checks = Targets.check(report)
  if (checks.length === 0) return "Nothing to check."
  const groups = new Map<string, Array<Targets.Check>>()
  for (const c of checks) {
    const key = `${c.target}|${c.database}|${c.contender}`
    groups.set(key, [...groups.get(key) ?? [], c])
  }
  const lines = [
    `${checks.filter((c) => c.met).length} of ${checks.length} checks met.`,
    "",
    "| target | database | contender | met | worst cell | measured | short by |",
    "| --- | --- | --- | ---: | --- | ---: | ---: |"
  ]
  for (const group of groups.values()) {
    const first = group[0]!
    const worst = [...group].sort((a, b) =>
      Targets.shortfall(b) - Targets.shortfall(a) || (a.measured ?? 0) - (b.measured ?? 0)
    )[0]!
    lines.push(
      `| ${first.target} | ${databaseTitles[first.database]} | ${contenderTitles[first.contender]} | ${
        group.filter((c) => c.met).length
      } of ${group.length} | ${worst.subject} | ${formatRatio(worst.measured)} | ${
        shortBy(worst)
      } |`
    )
  }
  const missed = checks.filter((c) => !c.met).sort((a, b) => Targets.shortfall(b) - Targets.shortfall(a))
  if (missed.length > 0) {
    lines.push(
      "",
      "<details><summary>Every missed check, worst first</summary>",
      "",
      "| target | database | contender | measured on | required | measured | short by |",
      "| --- | --- | --- | --- | ---: | ---: | ---: |",
      ...missed.map((c) =>
        `| ${c.target} | ${databaseTitles[c.database]} | ${contenderTitles[c.contender]} | ${c.subject} | ${
          formatRatio(c.required)
        } | ${formatRatio(c.measured)} | ${shortBy(c)} |`
      ),
      "",
      "</details>"
    )
  }
  return lines.join("\n")
}

/**
 * The whole generated section: environment, one table per database, scale,
 * sweep, targets, with a link to the chart when there is one.
 *
 * @category constructors
 * @since 0.0.0
 */
export const render = (report: Report, options?: { readonly chart?: string | undefined }): string => {
  const measured = (["sqlite", "pg", "mariadb"] as const).filter((db) => report.results.some((r) => r.database === db))
  return [
    "### Environment",
    "",
    environmentSection(report),
    "",
    "### Ops/s and ratios",
    "",
    `Each cell: ops/s · × the raw driver (the floor) · × Effect's built-in store. \`~\` marks a noisy cell: its rounds spread by more than ${
      noiseThreshold * 100
    }% of their median. \`n/a\`: the contender has no such operation.`,
    ...(options?.chart === undefined ? [] : ["", `![Ratio of each contender to the raw driver](${options.chart})`]),
    ...measured.flatMap((db) => ["", `#### ${databaseTitles[db]}`, "", databaseTable(report.results, db)]),
    "",
    "### Client CPU per sequential call (µs)",
    "",
    "This process's CPU time (user + system) per call in `seq` mode, median of the rounds. It moves little when other processes compete for the cores, so it is the steadier measure of what each contender costs the application; it leaves out the database server's own work.",
    ...measured.flatMap((db) => ["", `#### ${databaseTitles[db]}`, "", cpuTable(report.results, db)]),
    "",
    "### Scale: get and set on a small and a large table",
    "",
    scaleSection(report),
    "",
    "### Sweep of expired rows while 32 callers read and write",
    "",
    sweepSection(report),
    "",
    "### Targets",
    "",
    targetsSection(report)
  ].join("\n")
}
