#!/usr/bin/env node
// Applies the patches shipped beside this file to the installed dependencies
// they name. Shipped in the tarballs of @effect-persist/sqlite and
// @effect-persist/mysql as `patches/apply.mjs`, next to the very patch files
// this repository applies through pnpm's `patchedDependencies`.
//
// Why it exists: @effect/sql-sqlite-node 4.0.0-beta.102 and @effect/sql-mysql2
// 4.0.0-rc.111, the only releases of those clients for Effect 4, import
// `effect/unstable/sql/*` and `effect/unstable/reactivity/*`, which effect 4.1
// renamed to `effect/sql/*` and `effect/reactivity/*`. Until they publish a
// release for effect 4.1, an application installing them with npm must patch
// them; this script is that patch, applied with nothing but Node:
//
//   node node_modules/@effect-persist/sqlite/patches/apply.mjs
//
// It is idempotent (a second run reports "already patched"), applies all of a
// package's files or none, checks the installed version against the patch's,
// and refuses pnpm's store, whose files are shared between projects (pnpm
// users register the patch in `patchedDependencies` instead).
//
// Plain JavaScript with no dependencies, so that it runs on any Node >= 18.
import { existsSync, readdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from "node:fs"
import { dirname, join, relative, sep } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const packageRoot = dirname(here)
const owner = JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")).name

/** `@effect__sql-sqlite-node@4.0.0-beta.102.patch` (pnpm's naming) → name and version. */
const target = (file) => {
  const match = /^(.+)@([^@]+)\.patch$/.exec(file)
  if (match === null) throw new Error(`${file}: not named <package>@<version>.patch`)
  return { name: match[1].replace(/^@([^_]+)__/, "@$1/"), version: match[2] }
}

/** Finds the dependency as Node resolves it from the package owning this script. */
const locate = (name) => {
  for (let dir = packageRoot; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name)
    if (existsSync(join(candidate, "package.json"))) return candidate
    if (dirname(dir) === dir) return undefined
  }
}

/** Parses a unified diff into files, each a list of hunks of old and new lines. */
const parse = (text) => {
  const files = []
  let file
  let hunk
  for (const line of text.split("\n")) {
    if (line.startsWith("diff --git ")) {
      file = undefined
      hunk = undefined
    } else if (line.startsWith("+++ ")) {
      file = { path: line.slice(4).replace(/^b\//, ""), hunks: [] }
      files.push(file)
    } else if (line.startsWith("@@ ") && file !== undefined) {
      hunk = { start: Number(/^@@ -(\d+)/.exec(line)[1]), before: [], after: [] }
      file.hunks.push(hunk)
    } else if (hunk !== undefined) {
      if (line.startsWith(" ")) {
        hunk.before.push(line.slice(1))
        hunk.after.push(line.slice(1))
      } else if (line.startsWith("-") && !line.startsWith("--- ")) {
        hunk.before.push(line.slice(1))
      } else if (line.startsWith("+")) {
        hunk.after.push(line.slice(1))
      }
    }
  }
  return files
}

const indexOf = (lines, block, near) => {
  const matches = (at) => block.every((line, i) => lines[at + i] === line)
  // Nearest match to where the patch says the hunk is, as `patch` does.
  for (let distance = 0; distance < lines.length; distance++) {
    if (near - distance >= 0 && matches(near - distance)) return near - distance
    if (near + distance + block.length <= lines.length && matches(near + distance)) return near + distance
  }
  return -1
}

/** The patched text of one file, `undefined` when already patched; throws when it matches neither side. */
const patchFile = (text, hunks, path) => {
  let lines = text.split("\n")
  let changed = false
  let offset = 0
  for (const hunk of hunks) {
    const near = Math.max(0, hunk.start - 1 + offset)
    const at = indexOf(lines, hunk.before, near)
    if (at >= 0) {
      lines = [...lines.slice(0, at), ...hunk.after, ...lines.slice(at + hunk.before.length)]
      offset += hunk.after.length - hunk.before.length
      changed = true
    } else if (indexOf(lines, hunk.after, near) < 0) {
      throw new Error(`${path}: the installed file matches neither the original nor the patched text at line ${hunk.start}`)
    }
  }
  return changed ? lines.join("\n") : undefined
}

let failed = false
const patches = readdirSync(here).filter((file) => file.endsWith(".patch")).sort()
for (const file of patches) {
  const { name, version } = target(file)
  const label = `${owner}: ${name}@${version}`
  try {
    const dir = locate(name)
    if (dir === undefined) throw new Error(`${name} is not installed; install ${owner}'s dependencies first`)
    const installed = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version
    if (installed !== version) {
      throw new Error(`found ${name}@${installed} in ${dir}, but this patch is for ${version} (the version ${owner} depends on)`)
    }
    const real = realpathSync(dir)
    if (real.includes(`${sep}.pnpm${sep}`)) {
      throw new Error(
        `${real} is in pnpm's store, whose files are shared with other projects: register the patch with pnpm instead, ` +
          `in pnpm-workspace.yaml: patchedDependencies: { "${name}@${version}": "<a copy of ${relative(process.cwd(), join(here, file))}>" }`
      )
    }
    const results = parse(readFileSync(join(here, file), "utf8")).map((entry) => {
      const path = join(dir, entry.path)
      if (!existsSync(path)) throw new Error(`${path}: missing from the installed package`)
      return { path, text: patchFile(readFileSync(path, "utf8"), entry.hunks, path) }
    })
    const pending = results.filter((result) => result.text !== undefined)
    // Write each file beside itself and rename it over the original, so a
    // hard-linked original (npm's cache never is, but be safe) is not altered.
    for (const { path, text } of pending) {
      writeFileSync(`${path}.effect-persist-patch`, text)
      renameSync(`${path}.effect-persist-patch`, path)
    }
    console.log(
      pending.length === 0
        ? `${label}: already patched`
        : `${label}: patched ${pending.length} of ${results.length} files (effect/unstable/* imports → effect 4.1's paths)`
    )
  } catch (error) {
    failed = true
    console.error(`${label}: not patched: ${error.message}`)
  }
}
if (patches.length === 0) console.log(`${owner}: no patches to apply`)
process.exitCode = failed ? 1 : 0
