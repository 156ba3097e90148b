// Entry point of `npm run demo` and `npm test` on a fresh clone.
//
// It must run on whatever Node the machine has (Node 20 included), so it is
// plain JavaScript with no dependencies. It installs the workspace with the
// pnpm version pinned in package.json (fetched through npx the first time),
// which also installs the `node` package: a real Node 24 binary placed in
// node_modules/.bin. Every script started through `pnpm run` then runs on that
// Node 24, which has `node:sqlite`.
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const script = process.argv[2]
const forwarded = process.argv.slice(3)
if (!script) {
  console.error("usage: node scripts/bootstrap.mjs <pnpm script> [args...]")
  process.exit(2)
}

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))
const pnpmVersion = pkg.packageManager.replace(/^pnpm@/, "")
const isWindows = process.platform === "win32"
const localPnpm = join(root, "node_modules", ".bin", isWindows ? "pnpm.cmd" : "pnpm")

const run = (command, args) => {
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", shell: isWindows })
  if (result.error) throw result.error
  return result.status ?? 1
}

const pnpm = (args) =>
  existsSync(localPnpm)
    ? run(localPnpm, args)
    : run(isWindows ? "npx.cmd" : "npx", ["--yes", `pnpm@${pnpmVersion}`, ...args])

// `pnpm install` is a no-op taking about a second when node_modules is current.
const installArgs = ["install", "--prefer-offline"]
if (process.env.CI) installArgs.push("--frozen-lockfile")
const installed = pnpm(installArgs)
if (installed !== 0) {
  console.error(`effect-persist: 'pnpm install' failed with exit code ${installed}`)
  process.exit(installed)
}

process.exit(pnpm(["run", script, ...forwarded]))
