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
import * as Markdown from "./Markdown.ts"
import type { Database, Report } from "./Model.ts"
import { databases } from "./Model.ts"
import * as Run from "./Run.ts"

const usage =
  `usage: npm run bench -- [--quick] [--json <file>] [--docs | --docs-file <file>] [--databases sqlite,pg,mariadb] [--no-scale] [--from <json>]`

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    docs: { type: "boolean", default: false },
    "docs-file": { type: "string" },
    databases: { type: "string" },
    "no-scale": { type: "boolean", default: false },
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
