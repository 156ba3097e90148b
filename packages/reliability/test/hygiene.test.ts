// Resource hygiene: closing a store's scope releases every server connection
// (counted on the server: pg_stat_activity by application name, MariaDB's
// PROCESSLIST by user) and every file handle (SQLite: /proc/<pid>/fd), also
// when the scope closes with operations in flight or after the server killed
// the connections. The store runs in a process of its own (fixtures/
// hygiene-child.ts), which must then exit by itself: it cannot while a
// socket, a timer or a background sweeper is left open. No promise may be
// left rejected unhandled.
//
// No backend runs a background sweeper (expired entries are deleted by an
// explicit `sweep` call, e.g. the CLI's `sweep` command): a process that
// exits by itself is what shows none is left running.
import { MysqlMigrator } from "@effect-persist/mysql"
import { PgMigrator } from "@effect-persist/pg"
import { Figures, Run, Servers } from "@effect-persist/reliability"
import { SqliteMigrator } from "@effect-persist/sqlite"
import { mysqlServer, postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"

const table = Run.name("reliability_hygiene")

interface Subject {
  readonly dialect: "sqlite" | "pg" | "mysql"
  readonly target: string
  /** The child's identity on the server: its application name, or user:password. */
  readonly who: string
  /** What the store holds open outside the child: server connections, or file handles. */
  readonly held: (pid: number) => Effect.Effect<number, unknown>
  readonly kill?: Effect.Effect<number, unknown> | undefined
  readonly setUp: Effect.Effect<void, unknown>
  readonly tearDown: Effect.Effect<void>
}

const subjects = Effect.promise(async (): Promise<ReadonlyArray<Subject>> => {
  const pg = (await postgres()).url
  const mysql = (await mysqlServer()).url
  const applicationName = `effect-persist reliability hygiene ${Run.id}`
  const user = `ep_hygiene_${Run.id}`
  const password = "reliability-hygiene"
  const filename = join(mkdtempSync(join(tmpdir(), "effect-persist-reliability-")), "hygiene.db")
  const database = Servers.databaseOf(mysql)
  return [
    {
      dialect: "sqlite",
      target: filename,
      who: "",
      held: (pid) =>
        Effect.sync(() =>
          readdirSync(`/proc/${pid}/fd`).filter((fd) => {
            try {
              return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(filename)
            } catch {
              return false
            }
          }).length
        ),
      setUp: SqliteMigrator.migrateFile(filename, { table }),
      tearDown: Effect.void
    },
    {
      dialect: "pg",
      target: pg,
      who: applicationName,
      held: () => Servers.pgConnections(pg, applicationName),
      kill: Servers.pgTerminate(pg, applicationName),
      setUp: Effect.andThen(Servers.dropPgTables(pg, table), PgMigrator.migrateUrl(pg, { table })),
      tearDown: Servers.dropPgTables(pg, table)
    },
    {
      dialect: "mysql",
      target: mysql,
      who: `${user}:${password}`,
      held: () => Servers.mysqlConnections(mysql, user),
      kill: Servers.mysqlKill(mysql, user),
      setUp: Effect.gen(function*() {
        yield* Servers.dropMysqlTables(mysql, table)
        yield* MysqlMigrator.migrateUrl(mysql, { table })
        yield* Servers.mysqlUser(mysql, user, password, [
          `SELECT, INSERT, UPDATE, DELETE ON \`${database}\`.\`${table}\``,
          `SELECT ON \`${database}\`.\`effect_persist_migrations\``
        ])
      }),
      tearDown: Effect.andThen(Servers.dropMysqlTables(mysql, table), Servers.dropMysqlUser(mysql, user))
    }
  ]
})

/**
 * Polls until `count` is 0, for up to a minute (a closed socket takes a
 * moment to leave the server's list); returns the last count.
 */
const drained = (count: Effect.Effect<number, unknown>) =>
  Effect.gen(function*() {
    const until = Date.now() + 60_000
    while (true) {
      const left = yield* count
      if (left === 0 || Date.now() > until) return left
      yield* Effect.sleep("50 millis")
    }
  })

const store = (subject: Subject) => {
  const child = spawn(process.execPath, [
    join(import.meta.dirname, "fixtures", "hygiene-child.ts"),
    subject.dialect,
    subject.target,
    table,
    subject.who
  ], { stdio: ["pipe", "pipe", "pipe"] })
  let stderr = ""
  child.stderr!.on("data", (chunk) => stderr += String(chunk))
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return {
    pid: child.pid!,
    next: Effect.promise(async () => {
      const line = await lines.next()
      if (line.done) throw new Error(`the store's process ended early: ${stderr}`)
      return line.value
    }),
    say: (line: string) => Effect.sync(() => child.stdin!.write(`${line}\n`)),
    /** Its exit code, or "still running" after a minute (then it is killed). */
    exit: Effect.promise(() =>
      Promise.race([
        exited,
        new Promise<string>((resolve) => setTimeout(() => resolve("still running"), 60_000).unref())
      ]).then((code) => {
        if (code === "still running") child.kill("SIGKILL")
        return { code, stderr }
      })
    )
  }
}

describe("resource hygiene", () => {
  it.live("closing the scope releases every connection and file handle, and leaves nothing running, on every backend", () =>
    Effect.gen(function*() {
      yield* Servers.pgCoordinate((yield* Effect.promise(() => postgres())).url, "shared")
      const figures: Record<string, number | string> = {}
      for (const subject of yield* subjects) {
        yield* subject.setUp
        yield* Effect.addFinalizer(() => subject.tearDown)
        const child = store(subject)
        const step = (line: string) => Effect.flatMap(child.next, (said) => Effect.sync(() => expect(said).toBe(line)))
        const held = subject.held(child.pid)

        yield* step("open")
        const opened = yield* held
        expect(opened, `${subject.dialect}: connections or handles while open`).toBeGreaterThan(0)
        yield* child.say("close")
        yield* step("closed")
        expect(yield* drained(held), `${subject.dialect}: left after closing`).toBe(0)

        yield* step("closed in flight")
        expect(yield* drained(held), `${subject.dialect}: left after closing with operations in flight`).toBe(0)
        yield* child.say("next")

        yield* step("open again")
        if (subject.kill !== undefined) expect(yield* subject.kill).toBeGreaterThan(0)
        yield* child.say("killed")
        yield* step("closed after kill")
        expect(yield* drained(held), `${subject.dialect}: left after the server killed them and the scope closed`).toBe(0)

        const report = JSON.parse((yield* child.next).replace(/^resources /, "")) as {
          readonly left: ReadonlyArray<string>
          readonly unhandled: number
        }
        expect(report.unhandled, `${subject.dialect}: unhandled rejections`).toBe(0)
        const exit = yield* child.exit
        expect(exit, `${subject.dialect}: the store's process exits by itself; handles it had left: ${report.left.join(", ")}`)
          .toEqual({ code: 0, stderr: "" })
        figures[`${subject.dialect}: connections or handles while open`] = opened
        figures[`${subject.dialect}: exited by itself`] = "yes"
      }
      Figures.record("resource hygiene", figures)
    }).pipe(Effect.scoped), 300_000)
})
