// A local npm registry for one scope, serving the tarballs `pnpm pack` made,
// so that a temporary project runs `npm install @effect-persist/sqlite` exactly
// as a stranger would once the packages are published. npm is pointed at it
// for the @effect-persist scope only (`@effect-persist:registry`); every other
// package comes from the usual registry (and npm's cache).
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { basename, join } from "node:path"

/** One packed package: its tarball and the package.json inside it. */
export interface Tarball {
  readonly file: string
  readonly manifest: { readonly name: string; readonly version: string } & Record<string, unknown>
}

/** A running registry: its URL, the npm configuration that routes the scope to it, and `close`. */
export interface Registry {
  readonly url: string
  /** Environment variables for npm: this scope from here, everything else as usual. */
  readonly env: Readonly<Record<string, string>>
  readonly close: () => Promise<void>
}

/**
 * npm settings that route one scope to `url`. They go in a copy of npm's
 * global config file, named by `npm_config_globalconfig`: the obvious
 * `npm_config_@scope:registry` variable is not a valid shell name, and the
 * /bin/sh that starts the repository's Node drops it from the environment.
 * The user's own ~/.npmrc is still read, as usual.
 */
const npmEnv = (scope: string, url: string, dir: string, env: NodeJS.ProcessEnv): Record<string, string> => {
  const global = execFileSync("npm", ["config", "get", "globalconfig"], { encoding: "utf8", env, stdio: ["ignore", "pipe", "ignore"] }).trim()
  const file = join(dir, "npmrc")
  const inherited = global !== "" && existsSync(global) ? `${readFileSync(global, "utf8").trimEnd()}\n` : ""
  writeFileSync(file, `${inherited}${scope}:registry=${url}/\n`)
  return { npm_config_globalconfig: file }
}

/**
 * Starts the registry. `env` is the environment npm will run in, to find the
 * global config file it would read.
 */
export const start = async (
  scope: string,
  tarballs: ReadonlyArray<Tarball>,
  dir: string,
  env: NodeJS.ProcessEnv
): Promise<Registry> => {
  const bytes = new Map(tarballs.map((tarball) => [basename(tarball.file), readFileSync(tarball.file)]))
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://localhost").pathname)
    const file = path.startsWith("/-/") ? bytes.get(path.slice(3)) : undefined
    if (file !== undefined) {
      response.writeHead(200, { "content-type": "application/octet-stream", "content-length": file.length })
      response.end(file)
      return
    }
    const name = path.slice(1)
    const versions = tarballs.filter((tarball) => tarball.manifest.name === name)
    if (versions.length === 0) {
      response.writeHead(404, { "content-type": "application/json" })
      response.end(JSON.stringify({ error: `${name} is not one of the packed ${scope} packages` }))
      return
    }
    const packument = {
      name,
      "dist-tags": { latest: versions.at(-1)!.manifest.version },
      versions: Object.fromEntries(versions.map(({ file, manifest }) => {
        const data = bytes.get(basename(file))!
        return [manifest.version, {
          ...manifest,
          dist: {
            tarball: `${url}/-/${encodeURIComponent(basename(file))}`,
            shasum: createHash("sha1").update(data).digest("hex"),
            integrity: `sha512-${createHash("sha512").update(data).digest("base64")}`
          }
        }]
      }))
    }
    response.writeHead(200, { "content-type": "application/json" })
    response.end(JSON.stringify(packument))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    env: npmEnv(scope, url, dir, env),
    close: () => new Promise((resolve) => server.close(() => resolve()))
  }
}
