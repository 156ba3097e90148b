// `npm run test:install`: the packages as a stranger gets them.
//
// 1. Packs every public package with `pnpm pack` (which builds it, see
//    scripts/prepack.ts) and checks each tarball: dist/ with .js, .d.ts and
//    source maps, README, LICENSE, the migration SQL, an `exports` map that
//    points at dist/ and closes internal/, no workspace: versions.
// 2. Serves the tarballs from a local registry for the @effect-persist scope,
//    so that plain `npm install @effect-persist/sqlite` works as it will once
//    the packages are published (everything else comes from the npm registry).
// 3. In a new project outside the workspace: installs the packages, applies
//    the shipped import-path patches as the READMEs say, type-checks a small
//    program against the installed declarations, and runs it on SQLite (and on
//    PostgreSQL and MariaDB/MySQL when they answer): migrate, set, get, a
//    PersistedCache lookup; then runs the `effect-persist` command.
// 4. Copies examples/json-file-backend/ out of the repository, installs it,
//    and runs its conformance suite against the published suite.
// 5. Runs the steps of docs/custom-backend.md literally in a fresh directory,
//    ending with the suite passing.
//
// Everything runs with the machine's npm and on the repository's Node 24
// (process.execPath), in a directory under os.tmpdir() that is removed when the
// test passes and kept for inspection when it fails.
import { spawn, spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { delimiter, dirname, join, relative, sep } from "node:path"
import { migrationDialects, patchesOf } from "../prepack.ts"
import * as Guide from "./guide.ts"
import * as Registry from "./registry.ts"

const root = join(import.meta.dirname, "..", "..")
const scope = "@effect-persist"
const work = mkdtempSync(join(tmpdir(), "effect-persist-install-"))
const started = Date.now()
const timings: Array<string> = []

const log = (message: string): void => console.log(`[test:install] ${message}`)

class Failure extends Error {}
const check = (condition: unknown, message: string): void => {
  if (!condition) throw new Failure(message)
}

const timed = async <A>(label: string, f: () => Promise<A>): Promise<A> => {
  const start = Date.now()
  const result = await f()
  timings.push(`${label} ${((Date.now() - start) / 1000).toFixed(1)} s`)
  return result
}

// npm settings that reach us through `pnpm run` and that a user may have set
// for npm too (a mirror, a proxy, a certificate): they are kept.
const npmSettings = new Set(["registry", "cache", "userconfig", "cafile", "ca", "proxy", "https_proxy", "noproxy", "strict_ssl"])

// A stranger's environment: the repository's Node 24 first on PATH, none of the
// workspace's own tools, and none of what `pnpm run` adds for the workspace
// (its lifecycle variables, the workspace .npmrc's build-from-source, pnpm's
// own rc file as npm's global config).
const strangerEnv = (extra: Readonly<Record<string, string>>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    const setting = /^npm_config_(.+)$/i.exec(name)?.[1]?.toLowerCase()
    const keep = setting !== undefined && npmSettings.has(setting)
    if (!keep && (/^(npm|pnpm)_/i.test(name) || name === "INIT_CWD")) continue
    env[name] = value
  }
  const path = (process.env.PATH ?? "").split(delimiter).filter((entry) => !entry.startsWith(root + sep) && entry !== root)
  env.PATH = [dirname(process.execPath), ...path].join(delimiter)
  return { ...env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false", ...extra }
}

interface Result {
  readonly code: number
  readonly output: string
}

const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv; readonly allowFailure?: boolean }
): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk))
    child.stderr.on("data", (chunk) => (output += chunk))
    child.on("error", reject)
    child.on("close", (code) => {
      const result = { code: code ?? 1, output: output.replace(/^npm warn Unknown (user|project|env) config.*\n/gm, "") }
      if (result.code !== 0 && !options.allowFailure) {
        reject(new Failure(`\`${[command, ...args].join(" ")}\` in ${options.cwd} exited with ${result.code}:\n${result.output}`))
      } else resolve(result)
    })
  })

// ---------------------------------------------------------------------------
// 1. Pack

interface Packed extends Registry.Tarball {
  readonly dir: string
  readonly unpacked: string
}

const publicPackages = (): ReadonlyArray<{ readonly dir: string; readonly name: string }> =>
  readdirSync(join(root, "packages"))
    .map((dir) => join(root, "packages", dir))
    .filter((dir) => existsSync(join(dir, "package.json")))
    .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }))
    .filter(({ manifest }) => manifest.private !== true)
    .map(({ dir, manifest }) => ({ dir, name: manifest.name as string }))

const pack = async (): Promise<ReadonlyArray<Packed>> => {
  const destination = join(work, "tarballs")
  const packages = publicPackages()
  // Topological order, one at a time: each prepack runs `tsc -b`, which builds references.
  await run(
    "pnpm",
    ["-r", "--workspace-concurrency=1", ...packages.flatMap(({ name }) => ["--filter", name]), "pack", "--pack-destination", destination],
    { cwd: root, env: process.env }
  )
  return packages.map(({ dir, name }) => {
    const version = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version
    const file = join(destination, `${name.replace("@", "").replace("/", "-")}-${version}.tgz`)
    check(existsSync(file), `pnpm pack made no ${file}`)
    const unpacked = join(work, "unpacked", name)
    mkdirSync(unpacked, { recursive: true })
    const tar = spawnSync("tar", ["-xzf", file, "-C", unpacked, "--strip-components=1"], { encoding: "utf8" })
    check(tar.status === 0, `could not unpack ${file}: ${tar.stderr}`)
    return { dir, file, unpacked, manifest: JSON.parse(readFileSync(join(unpacked, "package.json"), "utf8")) }
  })
}

const listFiles = (dir: string): Array<string> =>
  readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((entry) => statSync(join(dir, entry)).isFile())
    .map((entry) => entry.split(sep).join("/"))

type ExportTarget = string | null | { readonly [condition: string]: ExportTarget }

const checkTarball = (packed: Packed): void => {
  const { manifest, unpacked, dir } = packed
  const name = manifest.name
  const files = new Set(listFiles(unpacked))
  const problems: Array<string> = []
  const need = (file: string, why: string) => {
    if (!files.has(file)) problems.push(`missing ${file} (${why})`)
  }
  need("LICENSE", "license text")
  need("README.md", "package README")
  const sources = listFiles(join(dir, "src")).filter((file) => file.endsWith(".ts"))
  for (const source of sources) {
    const base = `dist/${source.replace(/\.ts$/, "")}`
    for (const output of [".js", ".js.map", ".d.ts", ".d.ts.map"]) need(`${base}${output}`, `built from src/${source}`)
  }
  for (const file of files) {
    if (/^(test|node_modules)\//.test(file) || file.endsWith(".tsbuildinfo")) problems.push(`ships ${file}`)
  }
  for (const dialect of migrationDialects(relative(join(root, "packages"), dir))) {
    for (const sql of readdirSync(join(root, "migrations", dialect)).filter((f) => f.endsWith(".sql"))) {
      const shipped = join(unpacked, "migrations", dialect, sql)
      if (!existsSync(shipped)) problems.push(`missing migrations/${dialect}/${sql}`)
      else if (readFileSync(shipped, "utf8") !== readFileSync(join(root, "migrations", dialect, sql), "utf8")) {
        problems.push(`migrations/${dialect}/${sql} differs from the repository's`)
      }
    }
  }
  for (const patch of patchesOf(manifest as never)) need(`patches/${patch.split("/").pop()}`, "import-path patch")
  if (patchesOf(manifest as never).length > 0) need("patches/apply.mjs", "patch applier")

  const exports = manifest.exports as Record<string, ExportTarget> | undefined
  if (exports === undefined) problems.push("no exports map")
  else {
    if (exports["./internal/*"] !== null) problems.push(`exports["./internal/*"] is not null`)
    const targets = (target: ExportTarget): Array<string> =>
      target === null ? [] : typeof target === "string" ? [target] : Object.values(target).flatMap(targets)
    for (const target of Object.values(exports).flatMap(targets)) {
      if (target === "./package.json") continue
      if (!/^\.\/dist\/.*\.(js|d\.ts)$/.test(target)) problems.push(`exports target ${target} is not in dist/`)
      else if (!target.includes("*") && !files.has(target.slice(2))) problems.push(`exports target ${target} is missing`)
    }
  }
  for (const [binName, target] of Object.entries((manifest.bin ?? {}) as Record<string, string>)) {
    const path = target.replace(/^\.\//, "")
    if (!/^dist\/.*\.js$/.test(path)) problems.push(`bin ${binName} → ${target} is not compiled JavaScript`)
    else if (!files.has(path)) problems.push(`bin ${binName} → ${target} is missing`)
    else if (!readFileSync(join(unpacked, path), "utf8").startsWith("#!/usr/bin/env node")) {
      problems.push(`bin ${binName} → ${target} has no #!/usr/bin/env node line`)
    }
  }
  const text = JSON.stringify(manifest)
  if (text.includes("workspace:")) problems.push("a workspace: version is left in package.json")
  if (manifest.sideEffects !== false) problems.push("sideEffects is not false")
  if (manifest.license !== "MIT") problems.push(`license is ${String(manifest.license)}`)
  const peers = (manifest.peerDependencies ?? {}) as Record<string, string>
  const deps = (manifest.dependencies ?? {}) as Record<string, string>
  if (peers.effect === undefined || deps.effect !== undefined) problems.push("effect is not a peer dependency (only)")
  check(problems.length === 0, `${name}'s tarball:\n  ${problems.join("\n  ")}`)
}

// ---------------------------------------------------------------------------
// 3. The program

const reachable = (url: string): Promise<boolean> =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = connect({ host: hostname, port: Number(port) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1500, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/** A server URL for the program, or why there is none. */
const server = async (variable: string, fallback: string): Promise<{ url?: string; note: string }> => {
  const fromEnv = process.env[variable]
  if (fromEnv) return { url: fromEnv, note: `from ${variable}` }
  return (await reachable(fallback))
    ? { url: fallback, note: "local default address" }
    : { note: `skipped: nothing answers at ${fallback} and ${variable} is not set` }
}

interface Report {
  readonly database: string
  readonly migrated: ReadonlyArray<string>
  readonly previous: string | null
  readonly greeting: string | null
  readonly values: ReadonlyArray<number>
  readonly lookups: number
}

const reports = (output: string): Map<string, Report> =>
  new Map(
    output.split("\n").filter((line) => line.startsWith("{")).map((line) => {
      const report = JSON.parse(line) as Report
      return [report.database, report]
    })
  )

const app = async (packed: ReadonlyArray<Packed>, env: NodeJS.ProcessEnv): Promise<void> => {
  const dir = join(work, "app")
  mkdirSync(dir)
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "install-test-app", private: true, type: "module" }, null, 2))
  for (const file of ["main.ts", "tsconfig.json"]) cpSync(join(import.meta.dirname, "app", file), join(dir, file))
  const names = packed.map((p) => p.manifest.name).filter((name) => name !== `${scope}/conformance`)
  const devTools = ["typescript", "@types/node"].map((name) => `${name}@${installedVersion(name)}`)
  // kysely, as @effect-persist/kysely's README says, at the version its tests run.
  const kyselySpec = `kysely@${JSON.parse(readFileSync(join(root, "packages", "kysely", "package.json"), "utf8")).devDependencies.kysely}`
  await timed("app: npm install", async () => {
    await run("npm", ["install", ...names, "effect@4", kyselySpec], { cwd: dir, env })
    await run("npm", ["install", "--save-dev", ...devTools], { cwd: dir, env })
  })
  log(`app: npm installed ${names.join(", ")}`)

  // Until @effect/sql-sqlite-node and @effect/sql-mysql2 have releases for
  // effect 4.1, their imports of effect/unstable/* fail. The SQLite backend on
  // its own connection never loads the client, so it works unpatched; Effect's
  // client (layerClient) fails with a typed error that says what to run. When
  // the client loads unpatched, drop the patches (and this check).
  const unpatchedProgram = `
    import { SqliteBackend } from "${scope}/sqlite"
    import { Effect, Layer } from "effect"
    const filename = ${JSON.stringify(join(dir, "unpatched.db"))}
    const value = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const backend = yield* SqliteBackend.open({ filename, autoMigrate: true })
      yield* backend.set("app", "greeting", "hello unpatched", undefined)
      return yield* backend.get("app", "greeting")
    })))
    console.log("backend: " + value)
    const error = await Effect.runPromise(Effect.flip(Effect.scoped(Layer.build(SqliteBackend.layerClient({ filename })))))
    console.log(error._tag + ": " + error.message)
  `
  const unpatched = await run(process.execPath, ["--input-type=module", "-e", unpatchedProgram], { cwd: dir, env, allowFailure: true })
  check(
    unpatched.code === 0 && unpatched.output.includes("backend: hello unpatched"),
    `SqliteBackend.open failed without the patch, which it must not need:\n${unpatched.output}`
  )
  const clientError = unpatched.output.split("\n").find((line) => line.startsWith("ConfigurationError: "))
  check(
    clientError !== undefined && clientError.includes("unstable") && clientError.includes("patches/apply.mjs"),
    `SqliteBackend.layerClient without the patch did not fail with the ConfigurationError that names the fix; the patches may be obsolete:\n${unpatched.output}`
  )
  log(`app: unpatched, SqliteBackend.open works and layerClient says: ${clientError!.slice(0, 200)}…`)
  for (const name of [`${scope}/sqlite`, `${scope}/mysql`]) {
    const command = ["node_modules/" + name + "/patches/apply.mjs"]
    const first = await run(process.execPath, command, { cwd: dir, env })
    check(/patched \d+ of \d+ files/.test(first.output), `${name}'s patches/apply.mjs did not patch:\n${first.output}`)
    const again = await run(process.execPath, command, { cwd: dir, env })
    check(again.output.includes("already patched"), `a second run of ${name}'s patches/apply.mjs:\n${again.output}`)
    log(`app: node ${command[0]}: ${first.output.trim()}`)
  }

  await timed("app: tsc", () => run(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "."], { cwd: dir, env }))
  log("app: tsc type-checks the program against the installed declarations (and its deliberate mistakes fail)")

  const pg = await server("EFFECT_PERSIST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
  const mysql = await server("EFFECT_PERSIST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
  const runId = `install${Date.now().toString(36)}`
  const programEnv = {
    ...env,
    SQLITE_FILE: join(dir, "app.db"),
    RUN_ID: runId,
    ...(pg.url ? { PG_URL: pg.url } : {}),
    ...(mysql.url ? { MYSQL_URL: mysql.url } : {})
  }
  const first = reports((await timed("app: run", () => run(process.execPath, ["main.ts"], { cwd: dir, env: programEnv }))).output)
  const second = reports((await run(process.execPath, ["main.ts"], { cwd: dir, env: { ...programEnv, PG_URL: "", MYSQL_URL: "" } })).output)

  const sqlite = first.get("sqlite")
  check(sqlite !== undefined, "the program printed nothing for SQLite")
  check(sqlite!.migrated.join() === "create_entries", `SQLite: first migrate applied ${JSON.stringify(sqlite!.migrated)}`)
  check(sqlite!.greeting === "hello from sqlite", `SQLite: get answered ${JSON.stringify(sqlite!.greeting)}`)
  check(sqlite!.values.join() === "144,144" && sqlite!.lookups === 1, `SQLite: PersistedCache ${JSON.stringify(sqlite)}`)
  const kysely = first.get("kysely")
  check(
    kysely !== undefined && kysely.migrated.length === 0 && kysely.previous === "hello from sqlite" &&
      kysely.greeting === "hello from kysely" && kysely.values.join() === "144,144" && kysely.lookups === 0,
    `@effect-persist/kysely on the SQLite file @effect-persist/sqlite wrote: ${JSON.stringify(kysely)}`
  )
  const again = second.get("sqlite")!
  check(
    again.migrated.length === 0 && again.previous === "hello from kysely" && again.lookups === 0,
    `SQLite, second process on the same file: ${JSON.stringify(again)}`
  )
  log("app: SQLite: migrated, set and got, PersistedCache computed once; a second process found all of it in the file")
  log("app: Kysely (NodeSqliteDialect) on the same file: nothing left to migrate, read what @effect-persist/sqlite wrote, cache served from it")
  for (const [label, database, resolved] of [["PostgreSQL", "pg", pg], ["MariaDB/MySQL", "mysql", mysql]] as const) {
    if (resolved.url === undefined) {
      log(`app: ${label}: ${resolved.note}`)
      continue
    }
    const report = first.get(database)
    check(report !== undefined, `the program printed nothing for ${label}`)
    check(
      report!.greeting === `hello from ${database}` && report!.values.join() === "144,144" && report!.lookups === 1,
      `${label}: ${JSON.stringify(report)}`
    )
    log(`app: ${label} (${resolved.note}): migrated (${report!.migrated.length} applied), set and got, PersistedCache served the second cache from the store`)
  }

  const version = packed.find((p) => p.manifest.name === `${scope}/cli`)!.manifest.version
  const cli = (args: ReadonlyArray<string>, allowFailure = false) =>
    run(join(dir, "node_modules", ".bin", "effect-persist"), args, { cwd: dir, env, allowFailure })
  check((await cli(["--version"])).output.includes(version), "effect-persist --version does not print the package version")
  const migrated = await cli(["migrate", "--url", "sqlite:cli.db"])
  check(migrated.output.includes("applied 0001_create_entries"), `effect-persist migrate:\n${migrated.output}`)
  const status = await cli(["status", "--url", "sqlite:cli.db"], true)
  check(status.code === 0 && status.output.includes("up to date"), `effect-persist status (exit ${status.code}):\n${status.output}`)
  log(`app: npx effect-persist ${version}: migrate applied 0001_create_entries, status exits 0 (up to date)`)
}

/** The version of a tool the workspace uses, so that npm finds it in its cache. */
const installedVersion = (name: string): string =>
  JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version

// ---------------------------------------------------------------------------
// 4 and 5. The example backend and the guide

const summary = (output: string, backend: string): { passed: number; total: number } => {
  const match = new RegExp(`conformance: ${backend} \\(${backend}\\): (\\d+)/(\\d+) laws passed`).exec(output)
  check(match !== null, `no conformance summary for ${backend} in:\n${output}`)
  return { passed: Number(match![1]), total: Number(match![2]) }
}

const example = async (env: NodeJS.ProcessEnv): Promise<number> => {
  const dir = join(work, "json-file-backend")
  cpSync(join(root, "examples", "json-file-backend"), dir, {
    recursive: true,
    filter: (source) => !source.split(sep).includes("node_modules")
  })
  await timed("example: npm install", () => run("npm", ["install"], { cwd: dir, env }))
  await run("npm", ["run", "typecheck"], { cwd: dir, env })
  const test = await timed("example: npm test", () => run("npm", ["test"], { cwd: dir, env }))
  const { passed, total } = summary(test.output, "json-file")
  check(passed === total, `examples/json-file-backend: ${passed}/${total} laws passed`)
  log(`example: examples/json-file-backend installed the published suite and passed ${passed}/${total} laws`)
  return total
}

const guide = async (env: NodeJS.ProcessEnv, laws: number): Promise<void> => {
  const path = join(root, "docs", "custom-backend.md")
  const steps = Guide.read(path)
  let cwd = join(work, "guide")
  mkdirSync(cwd)
  const where = join(work, "guide-cwd")
  let last = ""
  await timed("guide", async () => {
    for (const step of steps) {
      if (step.kind === "file") {
        mkdirSync(dirname(join(cwd, step.path)), { recursive: true })
        const target = join(cwd, step.path)
        writeFileSync(target, existsSync(target) ? `${readFileSync(target, "utf8")}\n${step.text}` : step.text)
        continue
      }
      const result = await run("bash", ["-e", "-o", "pipefail", "-c", `${step.text}\npwd > '${where}'`], { cwd, env }).catch(
        (error: Error) => {
          throw new Failure(`docs/custom-backend.md, the step at line ${step.line}:\n${error.message}`)
        }
      )
      cwd = readFileSync(where, "utf8").trim()
      last = result.output
    }
  })
  const { passed, total } = summary(last, "json-file")
  check(passed === total && total === laws, `docs/custom-backend.md: ${passed}/${total} laws passed (the example ran ${laws})`)
  log(`guide: the ${steps.length} steps of docs/custom-backend.md, run in a fresh directory, end in ${passed}/${total} laws passed`)
}

// ---------------------------------------------------------------------------

const main = async (): Promise<void> => {
  log(`working in ${work}`)
  const packed = await timed("pack", pack)
  for (const tarball of packed) checkTarball(tarball)
  log(`packed and checked ${packed.map((p) => `${p.manifest.name}@${p.manifest.version}`).join(", ")}`)
  const registry = await Registry.start(scope, packed, work, strangerEnv({}))
  try {
    const env = strangerEnv(registry.env)
    await app(packed, env)
    const laws = await example(env)
    await guide(env, laws)
  } finally {
    await registry.close()
  }
}

main().then(
  () => {
    log(`passed in ${((Date.now() - started) / 1000).toFixed(1)} s (${timings.join(", ")})`)
    rmSync(work, { recursive: true, force: true })
  },
  (error) => {
    console.error(`[test:install] FAILED: ${error instanceof Failure ? error.message : error?.stack ?? error}`)
    console.error(`[test:install] the projects are kept in ${work}`)
    process.exit(1)
  }
)
