/**
 * Resolves the database servers the test suites run against, and says which.
 *
 * Order: the URL in the suite's environment variable; else the local default
 * address when a server answers there; else a throwaway server started by
 * testcontainers when a Docker engine answers. With none of them the suite
 * fails: it never skips.
 *
 * @since 0.0.0
 */
import { execFileSync } from "node:child_process"
import { connect } from "node:net"

/**
 * A resolved server: its URL and where it came from.
 *
 * @category models
 * @since 0.0.0
 */
export interface Server {
  readonly url: string
  readonly source: string
}

const answers = (host: string, port: number, timeoutMs = 1500): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

const dockerAnswers = (): boolean => {
  try {
    execFileSync("docker", ["info", "--format", "{{.ServerVersion}}"], { stdio: "pipe", timeout: 5000 })
    return true
  } catch {
    return false
  }
}

/**
 * A URL with its password replaced, for logs.
 *
 * @category constructors
 * @since 0.0.0
 */
export const redact = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = "***"
    return parsed.toString()
  } catch {
    return "<unparsable url>"
  }
}

const announced = new Set<string>()
const announce = (label: string, server: Server): Server => {
  const line = `[test-servers] ${label}: ${redact(server.url)} (${server.source})`
  if (!announced.has(line)) {
    announced.add(line)
    console.log(line)
  }
  return server
}

const resolve = async (options: {
  readonly label: string
  readonly env: string
  readonly defaultUrl: string
  readonly start: () => Promise<string>
}): Promise<Server> => {
  const fromEnv = process.env[options.env]
  if (fromEnv) return announce(options.label, { url: fromEnv, source: `from ${options.env}` })
  const local = new URL(options.defaultUrl)
  if (await answers(local.hostname, Number(local.port))) {
    return announce(options.label, { url: options.defaultUrl, source: "local default address" })
  }
  if (dockerAnswers()) {
    return announce(options.label, { url: await options.start(), source: "testcontainers" })
  }
  throw new Error(
    `No ${options.label} server for the tests: set ${options.env}, start one at ${
      redact(options.defaultUrl)
    }, or run a Docker engine so testcontainers can start one.`
  )
}

let pg: Promise<Server> | undefined
let mysql: Promise<Server> | undefined

/**
 * The PostgreSQL server: `EFFECT_PERSIST_PG_URL`, else
 * `postgres://postgres@127.0.0.1:5432/test`, else a testcontainers PostgreSQL 15.
 *
 * @category constructors
 * @since 0.0.0
 */
export const postgres = (): Promise<Server> =>
  pg ??= resolve({
    label: "PostgreSQL",
    env: "EFFECT_PERSIST_PG_URL",
    defaultUrl: "postgres://postgres@127.0.0.1:5432/test",
    start: async () => {
      const { PostgreSqlContainer } = await import("@testcontainers/postgresql")
      const container = await new PostgreSqlContainer("postgres:15").withDatabase("test").start()
      return container.getConnectionUri()
    }
  })

/**
 * The MySQL/MariaDB server: `EFFECT_PERSIST_MYSQL_URL`, else
 * `mysql://root@127.0.0.1:3306/test`, else a testcontainers MariaDB 10.11.
 *
 * @category constructors
 * @since 0.0.0
 */
export const mysqlServer = (): Promise<Server> =>
  mysql ??= resolve({
    label: "MySQL/MariaDB",
    env: "EFFECT_PERSIST_MYSQL_URL",
    defaultUrl: "mysql://root@127.0.0.1:3306/test",
    start: async () => {
      const { MariaDbContainer } = await import("@testcontainers/mariadb")
      const container = await new MariaDbContainer("mariadb:10.11").withDatabase("test").withRootPassword("test")
        .start()
      return `mysql://root:test@${container.getHost()}:${container.getPort()}/test`
    }
  })
