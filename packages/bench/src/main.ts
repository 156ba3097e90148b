/**
 * `npm run bench`: measures effect-persist against Effect's built-in SQL
 * stores, the raw drivers and Keyv, on SQLite, PostgreSQL and MariaDB.
 *
 * ```
 * npm run bench                          full run (under 15 minutes), table on stdout
 * npm run bench -- --quick               about a minute: shows everything runs
 * npm run bench -- --json out.json       also writes every result as JSON
 * npm run bench -- --docs                also rewrites the results in docs/benchmarks.md and docs/benchmarks.svg
 * npm run bench -- --docs-file <file>    the same, into another markdown file (the chart beside it)
 * npm run bench -- --databases sqlite    only some databases (sqlite, pg, mariadb)
 * npm run bench -- --no-scale            without the scale and sweep run
 * npm run bench -- --grows               only the "grows from empty" scenario (--grows-rows <n>: its size)
 * npm run bench -- --from out.json --docs  no run: writes the report of an earlier --json
 *                                           (several --from: their databases merged into one report)
 * ```
 *
 * Servers: `EFFECT_PERSIST_PG_URL` and `EFFECT_PERSIST_MYSQL_URL`, else the
 * local defaults. The run creates a database `effect_persist_bench` on each
 * and drops it at the end.
 *
 * @since 0.0.0
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { parseArgs } from "node:util"
import * as Docs from "./Docs.ts"
import * as Grows from "./Grows.ts"
import * as Markdown from "./Markdown.ts"
import type { Database, Report } from "./Model.ts"
import { databases } from "./Model.ts"
import * as Run from "./Run.ts"

const usage =
  `usage: npm run bench -- [--quick] [--json <file>] [--docs | --docs-file <file>] [--databases sqlite,pg,mariadb] [--no-scale] [--from <json>] [--grows [--grows-rows <n>]]`

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    docs: { type: "boolean", default: false },
    "docs-file": { type: "string" },
    databases: { type: "string" },
    "no-scale": { type: "boolean", default: false },
    grows: { type: "boolean", default: false },
    "grows-rows": { type: "string" },
    from: { type: "string", multiple: true },
    help: { type: "boolean", short: "h", default: false }
  },
  allowPositionals: false
})

if (values.help) {
  console.log(usage)
  process.exit(0)
}

const chosen = (values.databases ?? databases.join(",")).split(",").map((name) => name.trim()).filter(Boolean)
const unknown = chosen.filter((name) => !databases.includes(name as Database))
if (unknown.length > 0) {
  console.error(`Unknown database ${unknown.join(", ")}; choose from ${databases.join(", ")}.\n${usage}`)
  process.exit(2)
}

// Paths are taken from where the command was typed, not from the package
// directory `pnpm run` switches to.
const cwd = process.env.INIT_CWD ?? process.cwd()
const root = resolve(import.meta.dirname, "..", "..", "..")

if (values.grows) {
  const rows = values["grows-rows"] === undefined ? undefined : Number(values["grows-rows"])
  if (rows !== undefined && !(Number.isSafeInteger(rows) && rows >= 1000)) {
    console.error(`--grows-rows takes a whole number of at least 1000, got ${values["grows-rows"]}.\n${usage}`)
    process.exit(2)
  }
  const settings = Run.growsSettings({ quick: values.quick, rows })
  const started = new Date()
  const { failures, results } = await Run.grows(chosen as ReadonlyArray<Database>, settings, (line) => console.error(line))
  if (values.json !== undefined) {
    const path = resolve(cwd, values.json)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, JSON.stringify({ date: started.toISOString(), settings, results }, null, 2) + "\n")
    console.error(`wrote ${path}`)
  }
  const generated = [
    `Run of ${started.toISOString()} (${values.quick ? "quick" : "full"}; ${settings.rounds} rounds of ${settings.secondsPerCell} s per cell, medians; ~ marks a cell whose rounds spread by more than 25%), Node ${process.version}.`,
    "",
    Grows.render(results)
  ].join("\n")
  if (values.docs || values["docs-file"] !== undefined) {
    const path = values["docs-file"] === undefined ? join(root, "docs", "benchmarks.md") : resolve(cwd, values["docs-file"])
    Docs.writeGrows(path, generated)
    console.error(`wrote ${path}`)
  }
  console.log(generated)
  if (failures.length > 0) {
    console.error(`\n${failures.length} database(s) failed:\n${failures.join("\n")}`)
    process.exit(1)
  }
  process.exit(0)
}

const { failures, report }: { readonly failures: ReadonlyArray<string>; readonly report: Report } =
  values.from === undefined
    ? await Run.run(
      Run.settings({ quick: values.quick, databases: chosen as ReadonlyArray<Database>, scale: !values["no-scale"] }),
      (line) => console.error(line)
    )
    : {
      failures: [],
      report: Run.merge(values.from.map((file) => JSON.parse(readFileSync(resolve(cwd, file), "utf8")) as Report))
    }

if (values.json !== undefined) {
  const path = resolve(cwd, values.json)
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, JSON.stringify(report, null, 2) + "\n")
  console.error(`wrote ${path}`)
}

if (values.docs || values["docs-file"] !== undefined) {
  const path = values["docs-file"] === undefined ? join(root, "docs", "benchmarks.md") : resolve(cwd, values["docs-file"])
  const written = Docs.write(path, report)
  console.error(`wrote ${written.join(" and ")}`)
}

console.log(Markdown.render(report))
if (failures.length > 0) {
  console.error(`\n${failures.length} database(s) failed:\n${failures.join("\n")}`)
  process.exit(1)
}
