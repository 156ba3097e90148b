// Reads the executable steps of a markdown guide (docs/custom-backend.md).
//
// Two kinds of fenced blocks are steps, marked in their info string:
//
//   ```sh step                      commands, run in order by bash in the current
//                                   directory (a `cd` carries over to later steps)
//   ```ts file=src/MyBackend.ts     the content of a file, written in the current
//                                   directory; further blocks for the same file
//                                   append to it, after a blank line
//
// Every other block (```text output, illustrative ```ts) is prose.
import { readFileSync } from "node:fs"

/** One step of a guide, in document order. */
export type Step =
  | { readonly kind: "sh"; readonly line: number; readonly text: string }
  | { readonly kind: "file"; readonly line: number; readonly path: string; readonly text: string }

export const steps = (markdown: string): ReadonlyArray<Step> => {
  const lines = markdown.split("\n")
  const out: Array<Step> = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})(.*)$/.exec(lines[i]!)
    if (open === null) continue
    const fence = open[1]!
    const info = open[2]!.trim().split(/\s+/)
    const body: Array<string> = []
    const start = i + 1
    const closes = (line: string) => (/^(`{3,})\s*$/.exec(line)?.[1]?.length ?? 0) >= fence.length
    for (i++; i < lines.length && !closes(lines[i]!); i++) body.push(lines[i]!)
    const text = body.join("\n") + "\n"
    const file = info.find((word) => word.startsWith("file="))?.slice("file=".length)
    if (info[0] === "sh" && info.includes("step")) out.push({ kind: "sh", line: start, text })
    else if (file !== undefined) out.push({ kind: "file", line: start, path: file, text })
  }
  return out
}

/** The files a guide writes, each the concatenation of its blocks. */
export const files = (guide: ReadonlyArray<Step>): ReadonlyMap<string, string> => {
  const out = new Map<string, string>()
  for (const step of guide) {
    if (step.kind !== "file") continue
    const before = out.get(step.path)
    out.set(step.path, before === undefined ? step.text : `${before}\n${step.text}`)
  }
  return out
}

export const read = (path: string): ReadonlyArray<Step> => steps(readFileSync(path, "utf8"))
