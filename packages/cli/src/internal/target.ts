import { StorageError } from "@effect-persist/core"

/** @internal */
export type DialectName = "sqlite" | "pg" | "mysql"

/** @internal */
export interface Target {
  readonly dialect: DialectName
  /** A file path for SQLite, the connection URL for servers. */
  readonly location: string
  /** The location with any password replaced, safe to print. */
  readonly display: string
}


/** @internal */
export const redact = (url: string): string => url.replace(/^([a-z0-9+.-]+:\/\/[^:/@]*:)[^@/]*@/i, "$1***@")

/**
 * Reads `sqlite:path`, `sqlite://path`, `postgres://…`, `postgresql://…`,
 * `mysql://…` and `mariadb://…`.
 *
 * @internal
 */
export const parse = (url: string): Target | StorageError.ConfigurationError => {
  const scheme = /^([a-z0-9+.-]+):/i.exec(url)?.[1]?.toLowerCase()
  switch (scheme) {
    case "sqlite": {
      const location = url.replace(/^sqlite:(\/\/)?/i, "")
      if (location === "") break
      return { dialect: "sqlite", location, display: `sqlite:${location}` }
    }
    case "postgres":
    case "postgresql":
      return { dialect: "pg", location: url, display: redact(url) }
    case "mysql":
    case "mariadb":
      return { dialect: "mysql", location: url.replace(/^mariadb:/i, "mysql:"), display: redact(url) }
  }
  return new StorageError.ConfigurationError({
    option: "url",
    message: `Cannot use database URL ${JSON.stringify(redact(url))}: expected sqlite:<file>, postgres://… or mysql://…`
  })
}
