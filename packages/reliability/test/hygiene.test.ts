// Resource hygiene: closing a store's scope releases every server connection
// (counted on the server: pg_stat_activity by application name, MariaDB's
// PROCESSLIST by user), every file handle (SQLite: /proc/self/fd) and every
// Node handle and timer it opened (process.getActiveResourcesInfo), also when
// the scope closes with operations in flight or after the server killed the
// connections; and no promise is left rejected unhandled.
//
// No backend runs a background sweeper (expired entries are deleted by an
// explicit `sweep` call, e.g. the CLI's `sweep` command): the timer count is
// what would show one left running.
import { Services, StorageBackend } from "@effect-persist/core"
import { MysqlBackend, MysqlMigrator } from "@effect-persist/mysql"
import { PgBackend, PgMigrator } from "@effect-persist/pg"
import { Figures, Servers } from "@effect-persist/reliability"
import { SqliteBackend, SqliteMigrator } from "@effect-persist/sqlite"
import { mysqlServer, postgres } from "@effect-persist/test-servers"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Scope } from "effect"
import * as KeyValueStore from "effect/persistence/KeyValueStore"
import { mkdtempSync, readdirSync, readlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const unhandled: Array<unknown> = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)
beforeAll(() => {
  process.on("unhandledRejection", onUnhandled)
})
afterAll(() => {
  process.off("unhandledRejection", onUnhandled)
})

/** Node's handles and timers, by kind. */
const resources = (): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1)
  return counts
}

/** Kinds that have more handles now than in `before`. */
const leaked = (before: Map<string, number>): Array<string> =>
  [...resources()].filter(([kind, n]) => n > (before.get(kind) ?? 0)).map(([kind, n]) => `${kind}: ${before.get(kind) ?? 0} → ${n}`)

/**
 * Polls `check` until it returns nothing, or gives up after a minute
 * (closing a socket, and the server noticing, take a moment).
 */
const eventually = <A>(check: Effect.Effect<ReadonlyArray<A>, unknown>) =>
  Effect.gen(function*() {
    const until = Date.now() + 60_000
    while (true) {
      const left = yield* check
      if (left.length === 0 || Date.now() > until) return left
      yield* Effect.sleep("50 millis")
    }
  })

interface Subject {
  readonly name: string
  /** Opens the store in `scope`, as a layer, with a KeyValueStore on it. */
  readonly open: (scope: Scope.Scope) => Effect.Effect<readonly [StorageBackend.StorageBackend, KeyValueStore.KeyValueStore], unknown>
  /** What the store holds open outside this process: server connections, or file handles. */
  readonly held: Effect.Effect<number, unknown>
  /** Kills the store's server connections, when there is a server. */
  readonly kill?: Effect.Effect<number, unknown> | undefined
  readonly setUp: Effect.Effect<void, unknown>
  readonly tearDown: Effect.Effect<void>
}

const buildIn = (
  scope: Scope.Scope,
  layer: Layer.Layer<StorageBackend.StorageBackend, unknown>
) =>
  Effect.map(
    Layer.buildWithScope(Layer.merge(layer, Services.layerKeyValueStore({ name: "hygiene" }).pipe(Layer.provide(layer))), scope),
    (context) => [Context.get(context, StorageBackend.StorageBackend), Context.get(context, KeyValueStore.KeyValueStore)] as const
  )

const subjects = (): Effect.Effect<ReadonlyArray<Subject>> =>
  Effect.promise(async () => {
    const pg = (await postgres()).url
    const mysql = (await mysqlServer()).url
    const table = "reliability_hygiene"
    const applicationName = `effect-persist reliability hygiene ${process.pid}`
    const user = "ep_reliability_hygiene"
    const password = "reliability-hygiene"
    const filename = join(mkdtempSync(join(tmpdir(), "effect-persist-reliability-")), "hygiene.db")
    const fileHandles = Effect.sync(() =>
      readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith(filename)
        } catch {
          return false
        }
      }).length
    )
    return [
      {
        name: "SQLite",
        open: (scope) => buildIn(scope, SqliteBackend.layer({ filename })),
        held: fileHandles,
        setUp: SqliteMigrator.migrateFile(filename),
        tearDown: Effect.void
      },
      {
        name: "PostgreSQL",
        open: (scope) => buildIn(scope, PgBackend.layer({ url: pg, table, applicationName, maxConnections: 6 })),
        held: Servers.pgConnections(pg, applicationName),
        kill: Servers.pgTerminate(pg, applicationName),
        setUp: Effect.andThen(Servers.dropPgTables(pg, table), PgMigrator.migrateUrl(pg, { table })),
        tearDown: Servers.dropPgTables(pg, table)
      },
      {
        name: "MariaDB",
        open: (scope) =>
          buildIn(scope, MysqlBackend.layer({ url: Servers.urlAs(mysql, user, password), table, maxConnections: 6 })),
        held: Servers.mysqlConnections(mysql, user),
        kill: Servers.mysqlKill(mysql, user),
        setUp: Effect.gen(function*() {
          yield* Servers.dropMysqlTables(mysql, table)
          yield* MysqlMigrator.migrateUrl(mysql, { table })
          const database = Servers.databaseOf(mysql)
          yield* Servers.mysqlUser(mysql, user, password, [
            `SELECT, INSERT, UPDATE, DELETE ON \`${database}\`.\`${table}\``,
            `SELECT ON \`${database}\`.\`effect_persist_migrations\``
          ])
        }),
        tearDown: Effect.andThen(Servers.dropMysqlTables(mysql, table), Servers.dropMysqlUser(mysql, user))
      }
    ] satisfies ReadonlyArray<Subject>
  })

/** Work that opens as many connections as the pool allows. */
const busy = (backend: StorageBackend.StorageBackend, kv: KeyValueStore.KeyValueStore, round: number) =>
  Effect.all(
    Array.from({ length: 24 }, (_, i) =>
      i % 3 === 0
        ? kv.set(`k${i}`, `round ${round}`)
        : i % 3 === 1
        ? backend.modify("hygiene", "counter", (v) => Effect.succeed(String(Number(v) + 1)))
        : backend.getMany("hygiene", [`k${i}`, "counter"])),
    { concurrency: "unbounded", discard: true }
  )

describe("resource hygiene", () => {
  it.live("closing the scope releases every connection, file handle, socket and timer, on every backend", () =>
    Effect.gen(function*() {
      const figures: Record<string, number> = {}
      for (const subject of yield* subjects()) {
        yield* subject.setUp
        const before = resources()

        // 1. A plain close after work that opened the whole pool.
        const scope = yield* Scope.make()
        const [backend, kv] = yield* subject.open(scope)
        yield* backend.set("hygiene", "counter", "0")
        yield* busy(backend, kv, 1)
        const opened = yield* subject.held
        expect(opened, `${subject.name}: connections or handles while open`).toBeGreaterThan(0)
        yield* Scope.close(scope, Exit.void)
        expect(yield* eventually(Effect.map(subject.held, (n) => n === 0 ? [] : [n])), `${subject.name} after close`).toEqual([])

        // 2. Closed while operations are in flight.
        const scope2 = yield* Scope.make()
        const [backend2, kv2] = yield* subject.open(scope2)
        const inFlight = yield* Effect.forkChild(Effect.forever(busy(backend2, kv2, 2)))
        yield* Effect.sleep("100 millis")
        yield* Fiber.interrupt(inFlight)
        yield* Scope.close(scope2, Exit.void)
        expect(yield* eventually(Effect.map(subject.held, (n) => n === 0 ? [] : [n])), `${subject.name} after closing in flight`)
          .toEqual([])

        // 3. Closed after the server killed every connection.
        if (subject.kill !== undefined) {
          const scope3 = yield* Scope.make()
          const [backend3, kv3] = yield* subject.open(scope3)
          yield* busy(backend3, kv3, 3)
          expect(yield* subject.kill).toBeGreaterThan(0)
          yield* Effect.exit(busy(backend3, kv3, 4))
          yield* Scope.close(scope3, Exit.void)
          expect(yield* eventually(Effect.map(subject.held, (n) => n === 0 ? [] : [n])), `${subject.name} after kill and close`)
            .toEqual([])
        }

        // Sockets, file handles and timers: back to where they were.
        expect(yield* eventually(Effect.sync(() => leaked(before))), `${subject.name}: Node resources left`).toEqual([])
        figures[`${subject.name}: connections or handles while open`] = opened
        yield* subject.tearDown
      }
      expect(unhandled.map(String)).toEqual([])
      Figures.record("resource hygiene", { ...figures, unhandledRejections: unhandled.length })
    }).pipe(Effect.scoped), 300_000)
})
