// The `prepack` (and `postpack --clean`) script of every public package, run by
// `pnpm pack` and `pnpm publish` in the package's directory.
//
// Packages are developed from their TypeScript sources (package.json `exports`
// point at src/, which Node 24 and vitest run directly), and published from
// dist/: `publishConfig` swaps `exports`, `imports` and `bin` when pnpm writes
// the tarball's package.json. This script makes the tarball's contents match:
//
// 1. builds the package (`tsc -b`: ESM, .d.ts and source maps in dist/) and
//    removes outputs left in dist/ by sources that no longer exist;
// 2. copies the SQL migrations the package applies into `migrations/<dialect>/`
//    (the generated src/internal/migrations.ts stays what runs; the SQL files
//    are shipped for people who read them or feed them to their own tools);
// 3. copies the pnpm patches of its dependencies into `patches/`, with
//    scripts/apply-patches.mjs as `patches/apply.mjs`, for npm users.
//
// `--clean` removes what step 2 and 3 copied. The repository's LICENSE is added
// to each tarball by pnpm itself.
import { spawnSync } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { createRequire } from "node:module"
import { join, relative } from "node:path"
import { dialects, kyselyDialects } from "./generate-migrations.ts"

const root = join(import.meta.dirname, "..")

interface Manifest {
  readonly name: string
  readonly private?: boolean
  readonly dependencies?: Readonly<Record<string, string>>
}

/** The dialects whose migrations a package applies, by its directory name. */
export const migrationDialects = (dir: string): ReadonlyArray<string> =>
  dir === "kysely" ? kyselyDialects : dialects().includes(dir) ? [dir] : []

/** `patchedDependencies` of pnpm-workspace.yaml: `name@version` → patch file, relative to the root. */
export const patchedDependencies = (): ReadonlyMap<string, string> => {
  const text = readFileSync(join(root, "pnpm-workspace.yaml"), "utf8")
  const section = /^patchedDependencies:\n((?:[ \t]+.*\n?)*)/m.exec(text)?.[1] ?? ""
  const entries = new Map<string, string>()
  for (const line of section.split("\n")) {
    const match = /^\s+['"]?(.+?)['"]?:\s*(\S+)\s*$/.exec(line)
    if (match) entries.set(match[1]!, match[2]!)
  }
  return entries
}

/** The patches a package ships: those of its own dependencies, at the versions it depends on. */
export const patchesOf = (manifest: Manifest): ReadonlyArray<string> => {
  const patched = patchedDependencies()
  return Object.entries(manifest.dependencies ?? {}).flatMap(([name, version]) => {
    const patch = patched.get(`${name}@${version}`)
    return patch === undefined ? [] : [patch]
  })
}

const copied = ["migrations", "patches"]

const build = (dir: string): void => {
  const tsc = createRequire(join(root, "package.json")).resolve("typescript/bin/tsc")
  const result = spawnSync(process.execPath, [tsc, "-b", dir], { stdio: "inherit" })
  if (result.status !== 0) throw new Error(`tsc -b ${relative(root, dir)} failed`)
  // tsc -b never deletes: drop outputs whose source is gone, or they would ship.
  const dist = join(dir, "dist")
  const prune = (at: string): void => {
    for (const entry of readdirSync(at)) {
      const path = join(at, entry)
      if (statSync(path).isDirectory()) {
        prune(path)
        continue
      }
      const base = relative(dist, path).replace(/(\.d)?\.(ts|js)(\.map)?$/, "")
      if (entry.endsWith(".tsbuildinfo") || base === relative(dist, path)) continue
      if (!existsSync(join(dir, "src", `${base}.ts`))) rmSync(path)
    }
  }
  prune(dist)
}

const copyAssets = (dir: string, manifest: Manifest): void => {
  for (const dialect of migrationDialects(relative(join(root, "packages"), dir))) {
    const from = join(root, "migrations", dialect)
    const to = join(dir, "migrations", dialect)
    mkdirSync(to, { recursive: true })
    for (const file of readdirSync(from).filter((f) => f.endsWith(".sql"))) copyFileSync(join(from, file), join(to, file))
  }
  const patches = patchesOf(manifest)
  if (patches.length > 0) {
    mkdirSync(join(dir, "patches"), { recursive: true })
    for (const patch of patches) copyFileSync(join(root, patch), join(dir, "patches", patch.split("/").pop()!))
    copyFileSync(join(root, "scripts", "apply-patches.mjs"), join(dir, "patches", "apply.mjs"))
  }
}

if (import.meta.main) {
  const dir = process.cwd()
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest
  for (const name of copied) rmSync(join(dir, name), { recursive: true, force: true })
  if (!process.argv.includes("--clean")) {
    // npm ignores publishConfig.exports: its tarball would point at src/.
    if (process.env.npm_config_user_agent?.startsWith("npm/")) {
      console.error(`${manifest.name}: pack and publish with pnpm (\`pnpm pack\`, \`pnpm changeset publish\`); npm ignores publishConfig.exports`)
      process.exit(1)
    }
    build(dir)
    copyAssets(dir, manifest)
  }
}
