#!/usr/bin/env node
/**
 * Process entry of the `effect-persist` command: parses argv, runs the
 * command, and turns any failure into one clear line on stderr and a
 * non-zero exit code, with passwords removed from what is printed.
 *
 * @since 0.1.0
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Command from "effect/cli/Command"
import { isCliError } from "effect/cli/CliError"
import { command, ExitCode, exitFailure } from "./Cli.ts"
import { redact } from "./internal/target.ts"
import { createRequire } from "node:module"

// From the package, so that `--version` follows releases; `../package.json` is
// the package root from src/ (development) and from dist/ (published) alike.
const version: string = createRequire(import.meta.url)("../package.json").version

/**
 * Runs the command with the given arguments and resolves to the exit code.
 *
 * @category constructors
 * @since 0.1.0
 */
export const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const exit = await Effect.runPromiseExit(
    Command.runWith(command, { version })(argv).pipe(Effect.provide(NodeServices.layer))
  )
  if (Exit.isSuccess(exit)) return 0
  const failure = exit.cause.reasons.find(Cause.isFailReason)?.error ??
    exit.cause.reasons.find(Cause.isDieReason)?.defect
  if (failure instanceof ExitCode) return failure.code
  // effect/cli has already shown help or the parse error.
  if (isCliError(failure)) return exitFailure
  const message = failure instanceof Error || (typeof failure === "object" && failure !== null && "message" in failure)
    ? String((failure as { message: unknown }).message)
    : String(failure ?? Cause.pretty(exit.cause))
  process.stderr.write(`effect-persist: ${redact(message.split("\n")[0]!)}\n`)
  return exitFailure
}

// `import.meta.main` when the published bin (dist/main.js) runs, however npm
// links it; the development shim bin/effect-persist.mjs imports this file.
if (import.meta.main || process.argv[1]?.endsWith("effect-persist.mjs")) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code
  })
}
