import { execFile } from "node:child_process"
import { join } from "node:path"

const bin = join(import.meta.dirname, "..", "bin", "effect-persist.mjs")

interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the command as a real process, as a deploy step would. */
export const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}, cwd?: string): Promise<Result> =>
  new Promise((resolve) => {
    const options = { env: { ...process.env, ...env, DATABASE_URL: env.DATABASE_URL ?? "" }, ...(cwd === undefined ? {} : { cwd }) }
    execFile(process.execPath, [bin, ...args], options, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr })
    })
  })

