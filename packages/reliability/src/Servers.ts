/**
 * What the suite does to the database servers, as their administrator: kill
 * a store's connections (`pg_terminate_backend`, MariaDB's `KILL`), restart
 * the local PostgreSQL where the test may, count a store's server
 * connections, and create the tables and users the scenarios run on.
 *
 * @since 0.0.0
 */
import { Migrator } from "@effect-persist/core"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { type AddressInfo, connect, createServer, type Socket } from "node:net"
import type { Fault } from "./Load.ts"

/**
 * Runs `f` with a PostgreSQL administrator's client of its own, closed afterwards.
 *
 * @category constructors
 * @since 0.0.0
 */
export const pgAdmin = <A, E>(url: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>): Effect.Effect<A, unknown> =>
  Effect.provide(
    SqlClient.SqlClient.use(f),
    PgClient.layer({ url: Redacted.make(url), maxConnections: 2, applicationName: "effect-persist reliability admin" })
      .pipe(Layer.fresh)
  )

/**
 * Runs `f` with a MySQL/MariaDB administrator's client of its own, closed afterwards.
 *
 * @category constructors
 * @since 0.0.0
 */
export const mysqlAdmin = <A, E>(url: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>): Effect.Effect<A, unknown> =>
  Effect.provide(SqlClient.SqlClient.use(f), MysqlClient.layer({ url: Redacted.make(url), maxConnections: 2 }).pipe(Layer.fresh))

/**
 * The server connections of a PostgreSQL store, found by its application name.
 *
 * @category constructors
 * @since 0.0.0
 */
export const pgConnections = (url: string, applicationName: string): Effect.Effect<number, unknown> =>
  pgAdmin(url, (sql) =>
    Effect.map(
      sql.unsafe(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, [applicationName]).values,
      (rows) => Number(rows[0]![0])
    ))

/**
 * Terminates every server session of a PostgreSQL store, waiting for each to
 * end, and returns how many there were.
 *
 * @category constructors
 * @since 0.0.0
 */
export const pgTerminate = (url: string, applicationName: string): Effect.Effect<number, unknown> =>
  pgAdmin(url, (sql) =>
    Effect.map(
      sql.unsafe(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE application_name = $1`,
        [applicationName]
      ).values,
      (rows) => Number(rows[0]![0])
    ))

/**
 * A fault: `pg_terminate_backend` on every connection of the store.
 *
 * @category constructors
 * @since 0.0.0
 */
export const pgTerminateFault = (url: string, applicationName: string): Fault =>
  Effect.gen(function*() {
    const startedAt = Date.now()
    const killed = yield* pgTerminate(url, applicationName)
    return { kind: "pg_terminate_backend", detail: `${killed} sessions terminated`, startedAt, returnedAt: Date.now() }
  })

/**
 * Whether this process may restart the PostgreSQL server of `url`, and how.
 *
 * **Details**
 *
 * Only the machine's own default cluster is restarted, and only by root with
 * `pg_ctlcluster`: the server must be the local default address (not a URL
 * from `EFFECT_PERSIST_PG_URL`, which may be anybody's server), and
 * `pg_lsclusters` must list an online cluster on its port.
 *
 * @category constructors
 * @since 0.0.0
 */
export const pgRestartPlan = (
  url: string,
  source: string
): { readonly command: ReadonlyArray<string> } | { readonly reason: string } => {
  if (process.env.EFFECT_PERSIST_PG_URL) {
    return { reason: "the server comes from EFFECT_PERSIST_PG_URL; only the local default cluster is restarted" }
  }
  if (source !== "local default address") return { reason: `the server is not the local default one (${source})` }
  if (process.getuid?.() !== 0) return { reason: "not running as root, so pg_ctlcluster cannot restart the server" }
  const ctl = ["/usr/bin/pg_ctlcluster", "/usr/sbin/pg_ctlcluster"].find((path) => existsSync(path))
  if (ctl === undefined) return { reason: "pg_ctlcluster is not installed" }
  const port = new URL(url).port || "5432"
  let clusters: string
  try {
    clusters = execFileSync("pg_lsclusters", ["--no-header"], { encoding: "utf8", timeout: 10_000 })
  } catch (error) {
    return { reason: `pg_lsclusters failed: ${error instanceof Error ? error.message : String(error)}` }
  }
  const cluster = clusters.split("\n").map((line) => line.trim().split(/\s+/)).find((fields) =>
    fields[2] === port && fields[3] === "online"
  )
  if (cluster === undefined) return { reason: `pg_lsclusters lists no online cluster on port ${port}` }
  return { command: [ctl, "--skip-systemctl-redirect", cluster[0]!, cluster[1]!, "restart"] }
}

/**
 * A fault: the PostgreSQL server restarted (a fast shutdown, which ends every
 * session, then a start). The server has returned when it answers a query.
 *
 * @category constructors
 * @since 0.0.0
 */
export const pgRestartFault = (url: string, command: ReadonlyArray<string>): Fault =>
  Effect.gen(function*() {
    const startedAt = Date.now()
    yield* Effect.tryPromise(() =>
      new Promise<void>((resolve, reject) => {
        import("node:child_process").then(({ execFile }) =>
          execFile(command[0]!, command.slice(1), { timeout: 120_000 }, (error, _stdout, stderr) =>
            error ? reject(new Error(`${command.join(" ")} failed: ${stderr || error.message}`)) : resolve())
        )
      })
    )
    // pg_ctlcluster waits for the start; a query confirms the server accepts connections.
    while (true) {
      const answered = yield* Effect.exit(pgAdmin(url, (sql) => sql.unsafe("SELECT 1").values))
      if (answered._tag === "Success") break
      yield* Effect.sleep("50 millis")
    }
    return { kind: "PostgreSQL restart", detail: command.join(" "), startedAt, returnedAt: Date.now() }
  })

/**
 * The advisory lock that keeps the suite's PostgreSQL scenarios of
 * concurrent runs apart from one run's server restart: the bytes of
 * "reliable" as a `bigint`, distinct from the migration lock.
 *
 * @category constructors
 * @since 0.0.0
 */
export const coordinationKey = 8243113892832767077n

/**
 * Holds the coordination lock until the scope closes, on a session of its
 * own: `shared` for a scenario that only uses the server, `exclusive` for the
 * one that restarts it, which so waits until no other run is in the middle
 * of a PostgreSQL scenario (and makes new ones wait). Colleagues' other
 * suites are not coordinated; a restart interrupts them, as the issue
 * accepts.
 *
 * **Details**
 *
 * A session killed under it (a restart) releases the lock; attempts that
 * fail because the server is down are made again until it answers.
 *
 * @category constructors
 * @since 0.0.0
 */
export const pgCoordinate = (url: string, mode: "shared" | "exclusive"): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const until = Date.now() + 600_000
    while (true) {
      const scope = yield* Scope.make()
      const acquired = yield* Effect.exit(Effect.gen(function*() {
        // One connection, no pool: the lock lives as long as the session, and
        // nothing reconnects (or keeps timers) behind the scenario's back.
        const sql = yield* PgClient.makeClient({
          url: Redacted.make(url),
          applicationName: `effect-persist reliability coordination ${process.pid}`
        }).pipe(Effect.provide(Reactivity.layer), Scope.provide(scope))
        yield* sql.unsafe(`SELECT ${mode === "shared" ? "pg_advisory_lock_shared" : "pg_advisory_lock"}(${coordinationKey})`)
          .unprepared
      }))
      if (acquired._tag === "Success") {
        yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
        return
      }
      yield* Scope.close(scope, Exit.void)
      if (Date.now() > until) return yield* Effect.die(new Error(`Could not take the ${mode} coordination lock for 10 minutes.`))
      yield* Effect.sleep("200 millis")
    }
  })

/**
 * When the PostgreSQL server last started (epoch ms): a change that no
 * restart of this run explains is another process's restart.
 *
 * @category constructors
 * @since 0.0.0
 */
export const pgStartedAt = (url: string): Effect.Effect<number, unknown> =>
  pgAdmin(url, (sql) =>
    Effect.map(
      sql.unsafe(`SELECT (extract(epoch FROM pg_postmaster_start_time()) * 1000)::float8`).values,
      (rows) => Number(rows[0]![0])
    ))

/**
 * Creates a MySQL/MariaDB user (from any host) with exactly `grants`,
 * replacing one a crashed run left behind.
 *
 * @category constructors
 * @since 0.0.0
 */
export const mysqlUser = (
  url: string,
  user: string,
  password: string,
  grants: ReadonlyArray<string>
): Effect.Effect<void, unknown> =>
  mysqlAdmin(url, (sql) =>
    Effect.gen(function*() {
      yield* sql.unsafe(`DROP USER IF EXISTS '${user}'@'%'`).unprepared
      yield* sql.unsafe(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`).unprepared
      for (const grant of grants) yield* sql.unsafe(`GRANT ${grant} TO '${user}'@'%'`).unprepared
    }))

/**
 * Drops a MySQL/MariaDB user.
 *
 * @category constructors
 * @since 0.0.0
 */
export const dropMysqlUser = (url: string, user: string): Effect.Effect<void> =>
  Effect.ignore(
    Effect.retry(mysqlAdmin(url, (sql) => sql.unsafe(`DROP USER IF EXISTS '${user}'@'%'`).unprepared), {
      schedule: Schedule.spaced("500 millis"),
      times: 20
    })
  )

/**
 * The same server and database as another user.
 *
 * @category constructors
 * @since 0.0.0
 */
export const urlAs = (url: string, user: string, password: string): string => {
  const parsed = new URL(url)
  parsed.username = user
  parsed.password = password
  return parsed.toString()
}

/**
 * The database a server URL names.
 *
 * @category constructors
 * @since 0.0.0
 */
export const databaseOf = (url: string): string => decodeURIComponent(new URL(url).pathname.slice(1))

/**
 * The server connections of a MySQL/MariaDB user.
 *
 * @category constructors
 * @since 0.0.0
 */
export const mysqlConnections = (url: string, user: string): Effect.Effect<number, unknown> =>
  mysqlAdmin(url, (sql) =>
    Effect.map(
      sql.unsafe(`SELECT count(*) FROM information_schema.PROCESSLIST WHERE USER = ?`, [user]).values,
      (rows) => Number(rows[0]![0])
    ))

/**
 * Kills every server connection of a MySQL/MariaDB user and returns how many there were.
 *
 * @category constructors
 * @since 0.0.0
 */
export const mysqlKill = (url: string, user: string): Effect.Effect<number, unknown> =>
  mysqlAdmin(url, (sql) =>
    Effect.gen(function*() {
      const ids = yield* sql.unsafe(`SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?`, [user]).values
      for (const [id] of ids) {
        // A connection may end by itself between the listing and the KILL.
        yield* Effect.ignore(sql.unsafe(`KILL CONNECTION ${Number(id)}`).unprepared)
      }
      return ids.length
    }))

/**
 * A fault: MariaDB's `KILL CONNECTION` on every connection of the store's user.
 *
 * @category constructors
 * @since 0.0.0
 */
export const mysqlKillFault = (url: string, user: string): Fault =>
  Effect.gen(function*() {
    const startedAt = Date.now()
    const killed = yield* mysqlKill(url, user)
    return { kind: "KILL CONNECTION", detail: `${killed} connections killed`, startedAt, returnedAt: Date.now() }
  })

/**
 * A TCP proxy in front of a server, which can take the server away: while
 * it is down, connecting is refused and every open connection is reset, as
 * when a server (or the network to it) is gone.
 *
 * @category models
 * @since 0.0.0
 */
export interface Proxy {
  /** `url` with the proxy's address in place of the server's. */
  readonly url: (url: string) => string
  readonly down: Effect.Effect<void>
  readonly up: Effect.Effect<void>
}

/**
 * Starts a proxy to the server of `url`, stopped when the scope closes.
 *
 * @category constructors
 * @since 0.0.0
 */
export const proxy = (url: string): Effect.Effect<Proxy, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const target = new URL(url)
      const sockets = new Set<Socket>()
      const server = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname)
        sockets.add(client)
        sockets.add(upstream)
        const end = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        client.pipe(upstream).pipe(client)
        client.on("error", end).on("close", end)
        upstream.on("error", end).on("close", end)
      })
      const listen = (port: number) =>
        new Promise<number>((resolve, reject) => {
          server.once("error", reject)
          server.listen(port, "127.0.0.1", () => {
            server.off("error", reject)
            resolve((server.address() as AddressInfo).port)
          })
        })
      const port = await listen(0)
      const close = () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve())
          for (const socket of sockets) socket.destroy()
          sockets.clear()
        })
      return {
        close,
        proxy: {
          url: (original: string) => {
            const through = new URL(original)
            through.hostname = "127.0.0.1"
            through.port = String(port)
            return through.toString()
          },
          down: Effect.promise(close),
          up: Effect.promise(() => listen(port).then(() => undefined))
        } satisfies Proxy
      }
    }),
    ({ close }) => Effect.promise(close)
  ).pipe(Effect.map(({ proxy }) => proxy))

/**
 * A fault: the server is unreachable for `millis` (through `proxy`).
 *
 * @category constructors
 * @since 0.0.0
 */
export const outageFault = (proxy: Proxy, millis: number): Fault =>
  Effect.gen(function*() {
    const startedAt = Date.now()
    yield* proxy.down
    yield* Effect.sleep(`${millis} millis`)
    yield* proxy.up
    return { kind: "server unreachable", detail: `${millis} ms`, startedAt, returnedAt: Date.now() }
  })

// Clean-up runs in finalizers, possibly right after a restart (this run's or
// another's): it tries for a while before giving up.
const persistently = <A>(effect: Effect.Effect<A, unknown>): Effect.Effect<A> =>
  Effect.orDie(Effect.retry(effect, { schedule: Schedule.spaced("500 millis"), times: 20 }))

/**
 * Drops PostgreSQL tables and their migration records.
 *
 * @category constructors
 * @since 0.0.0
 */
export const dropPgTables = (url: string, ...tables: ReadonlyArray<string>): Effect.Effect<void> =>
  persistently(pgAdmin(url, (sql) =>
    Effect.gen(function*() {
      for (const table of tables) {
        yield* sql.unsafe(`DROP TABLE IF EXISTS "${table.replace(/"/g, "\"\"")}"`).unprepared
        const tracking = yield* sql.unsafe(`SELECT to_regclass($1) IS NOT NULL`, [Migrator.trackingTable]).values
        if (tracking[0]?.[0] === true) {
          yield* sql.unsafe(`DELETE FROM ${Migrator.trackingTable} WHERE table_name = $1`, [table]).unprepared
        }
      }
    })))

/**
 * Drops MySQL/MariaDB tables and their migration records.
 *
 * @category constructors
 * @since 0.0.0
 */
export const dropMysqlTables = (url: string, ...tables: ReadonlyArray<string>): Effect.Effect<void> =>
  persistently(mysqlAdmin(url, (sql) =>
    Effect.gen(function*() {
      for (const table of tables) {
        yield* sql.unsafe(`DROP TABLE IF EXISTS \`${table.replace(/`/g, "``")}\``).unprepared
        yield* Effect.ignore(
          sql.unsafe(`DELETE FROM ${Migrator.trackingTable} WHERE table_name = ?`, [table]).unprepared
        )
      }
    })))
