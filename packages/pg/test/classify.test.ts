// Classification of @effect/sql-pg failures, with fake errors shaped as the
// client produces them (SQLSTATE fields on the cause of the SqlError's
// reason): no database needed.
import { describe, expect, it } from "@effect/vitest"
import { ConnectionError, SqlError, SqlSyntaxError, UnknownError } from "effect/sql/SqlError"
import { classify, detail, diagnose } from "#internal/classify"

const serverError = (code: string, message: string, syntax = false) => {
  const props = {
    cause: Object.assign(new Error(message), { code, message, severity: "ERROR" }),
    message: "PgConnection: Query failed",
    operation: "query"
  }
  return new SqlError({ reason: syntax ? new SqlSyntaxError(props) : new UnknownError(props) })
}

const connectionError = (cause: Error) =>
  new SqlError({
    reason: new ConnectionError({ cause, message: "PgConnection: Connection closed", operation: "query" })
  })

describe("classify", () => {
  it("lost connections, shutdowns and exhausted resources are Unavailable and retried", () => {
    for (const code of ["08006", "57P01", "57P02", "57P03"]) {
      expect(classify(serverError(code, "terminating connection due to administrator command")), code).toBe("Unavailable")
      expect(diagnose(serverError(code, "x")).connectionLost, code).toBe(true)
    }
    expect(classify(serverError("53300", "sorry, too many clients already"))).toBe("Unavailable")
    expect(diagnose(serverError("53300", "sorry, too many clients already")).connectionLost).toBe(false)
    const closed = connectionError(new Error("Connection closed"))
    expect(classify(closed)).toBe("Unavailable")
    expect(diagnose(closed).connectionLost).toBe(true)
  })

  it("serialization failures, deadlocks and lock timeouts are Conflict, not retried as lost connections", () => {
    for (const code of ["40001", "40P01", "55P03"]) {
      expect(classify(serverError(code, "could not serialize access")), code).toBe("Conflict")
      expect(diagnose(serverError(code, "x")).connectionLost, code).toBe(false)
    }
  })

  it("program limits: an oversized index row is KeyTooLong, anything else ValueTooLarge", () => {
    expect(classify(serverError("54000", "index row size 2712 exceeds btree version 4 maximum 2704 for index \"t_pkey\"")))
      .toBe("KeyTooLong")
    expect(classify(serverError("54000", "invalid memory alloc request size 1073741824"))).toBe("ValueTooLarge")
  })

  it("a server message over the client's maxMessageSize is ValueTooLarge, not a lost connection to retry", () => {
    const error = connectionError(new Error("Message length 2098000 exceeds maxMessageSize 1049600"))
    expect(classify(error)).toBe("ValueTooLarge")
    expect(diagnose(error).connectionLost).toBe(false)
    expect(detail(error, 1048576)).toContain("maxValueBytes")
    expect(detail(error, 1048576)).toContain("1048576")
  })

  it("corruption is Corrupt; other errors fall back to Unknown with the server's message and SQLSTATE", () => {
    expect(classify(serverError("XX001", "invalid page in block 0"))).toBe("Corrupt")
    const missing = serverError("42P01", "relation \"t\" does not exist", true)
    expect(classify(missing)).toBe("Unknown")
    expect(detail(missing, 1)).toBe("relation \"t\" does not exist (SQLSTATE 42P01); the table is missing: run PgMigrator.migrate for this table")
    const denied = serverError("42501", "permission denied for table t")
    expect(detail(denied, 1)).toContain("grant the role SELECT, INSERT, UPDATE and DELETE")
    expect(classify(new Error("something else"))).toBe("Unknown")
    expect(detail(new Error("something else"), 1)).toBeUndefined()
  })
})
