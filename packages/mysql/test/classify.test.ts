// Classification of mysql2 failures, with fake errors shaped as mysql2 and
// @effect/sql-mysql2 produce them: no database needed.
import { describe, expect, it } from "@effect/vitest"
import { ConnectionError, SqlError, UnknownError } from "effect/sql/SqlError"
import { classify, describe as describeCause, isConnectionLost } from "#internal/classify"

const serverError = (errno: number, code: string, sqlMessage: string) =>
  new SqlError({
    reason: new UnknownError({
      cause: Object.assign(new Error(sqlMessage), { errno, code, sqlMessage, sqlState: "HY000", fatal: false }),
      message: "Failed to execute statement",
      operation: "execute"
    })
  })

const networkError = (code: string, extra: Record<string, unknown> = {}) =>
  new SqlError({
    reason: new UnknownError({
      cause: Object.assign(new Error(`connect ${code}`), { code, errno: -104, fatal: true, ...extra }),
      message: "Failed to execute statement",
      operation: "execute"
    })
  })

describe("classify", () => {
  it("reads a value over max_allowed_packet as ValueTooLarge and names the setting", () => {
    const error = serverError(1153, "ER_NET_PACKET_TOO_LARGE", "Got a packet bigger than 'max_allowed_packet' bytes")
    expect(classify(error)).toBe("ValueTooLarge")
    expect(isConnectionLost(error)).toBe(false)
    expect(describeCause(error)).toContain("raise max_allowed_packet")
  })

  it("reads MySQL 8's redo-log limit on BLOB data as ValueTooLarge and names the setting", () => {
    const error = serverError(1118, "ER_TOO_BIG_ROWSIZE", "The size of BLOB/TEXT data inserted in one transaction is greater than 10% of redo log size.")
    expect(classify(error)).toBe("ValueTooLarge")
    expect(describeCause(error)).toContain("innodb_redo_log_capacity")
  })

  it("reads deadlocks and lock wait timeouts as Conflict", () => {
    expect(classify(serverError(1213, "ER_LOCK_DEADLOCK", "Deadlock found"))).toBe("Conflict")
    expect(classify(serverError(1205, "ER_LOCK_WAIT_TIMEOUT", "Lock wait timeout exceeded"))).toBe("Conflict")
  })

  it("reads lost and killed connections as Unavailable, and as lost", () => {
    for (const code of ["ECONNRESET", "EPIPE", "PROTOCOL_CONNECTION_LOST", "ECONNREFUSED"]) {
      const error = networkError(code)
      expect(classify(error), code).toBe("Unavailable")
      expect(isConnectionLost(error), code).toBe(true)
    }
    const killed = serverError(1927, "ER_CONNECTION_KILLED", "Connection was killed")
    expect(classify(killed)).toBe("Unavailable")
    expect(isConnectionLost(killed)).toBe(true)
    const closed = new SqlError({
      reason: new UnknownError({
        cause: Object.assign(new Error("Can't add new command when connection is in closed state"), { fatal: true }),
        message: "Failed to execute statement"
      })
    })
    expect(classify(closed)).toBe("Unavailable")
    expect(isConnectionLost(closed)).toBe(true)
  })

  it("reads statement timeouts and a full server as Unavailable, without a lost connection", () => {
    for (const [errno, code] of [[3024, "ER_QUERY_TIMEOUT"], [1969, "ER_STATEMENT_TIMEOUT"], [1040, "ER_CON_COUNT_ERROR"]] as const) {
      const error = serverError(errno, code, "timeout")
      expect(classify(error), code).toBe("Unavailable")
      expect(isConnectionLost(error), code).toBe(false)
    }
  })

  it("falls back to the structured reason of the SqlError, and to Unknown", () => {
    const connection = new SqlError({
      reason: new ConnectionError({ cause: new Error("timeout"), message: "MysqlClient: Connection timeout" })
    })
    expect(classify(connection)).toBe("Unavailable")
    expect(classify(serverError(1064, "ER_PARSE_ERROR", "You have an error in your SQL syntax"))).toBe("Unknown")
    expect(classify(new Error("something else"))).toBe("Unknown")
  })

  it("says what to do about a missing table or a missing privilege", () => {
    expect(describeCause(serverError(1146, "ER_NO_SUCH_TABLE", "Table 'test.t' doesn't exist"))).toContain(
      "MysqlMigrator.migrate"
    )
    expect(describeCause(serverError(1142, "ER_TABLEACCESS_DENIED_ERROR", "DELETE command denied"))).toContain(
      "SELECT, INSERT, UPDATE and DELETE"
    )
  })

  it("quotes the server's own message and error code", () => {
    expect(describeCause(serverError(1064, "ER_PARSE_ERROR", "You have an error in your SQL syntax"))).toBe(
      "You have an error in your SQL syntax (ER_PARSE_ERROR 1064)"
    )
  })

  it("reads refused credentials as Unknown, not retryable, and says what to check", () => {
    const error = serverError(1045, "ER_ACCESS_DENIED_ERROR", "Access denied for user 'app'@'10.0.0.1' (using password: YES)")
    expect(classify(error)).toBe("Unknown")
    expect(describeCause(error)).toContain("check the user, password and database")
  })

  it("quotes the driver's words when there is no server error code", () => {
    const closed = new SqlError({
      reason: new UnknownError({ cause: new Error("Pool is closed."), message: "Failed to execute statement" })
    })
    expect(describeCause(closed)).toBe("Pool is closed")
  })
})
