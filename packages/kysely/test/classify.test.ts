// Classification of the errors Kysely's drivers reject with, using fake errors
// shaped as node-postgres, mysql2, node:sqlite and better-sqlite3 produce
// them: no database needed.
import { describe, expect, it } from "@effect/vitest"
import { diagnose } from "#internal/classify"

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: "ERROR" })
const mysqlError = (errno: number, code: string, sqlMessage: string, fatal = false) =>
  Object.assign(new Error(sqlMessage), { errno, code, sqlMessage, sqlState: "HY000", fatal })
const nodeSqliteError = (errcode: number, message: string) =>
  Object.assign(new Error(message), { code: "ERR_SQLITE_ERROR", errcode, errstr: message })
const betterSqliteError = (code: string, message: string) => Object.assign(new Error(message), { code })
const network = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code, errno: -111 })

describe("PostgreSQL failures", () => {
  it("SQLSTATE classes decide the reason", () => {
    expect(diagnose("pg", pgError("40P01", "deadlock detected")).reason).toBe("Conflict")
    expect(diagnose("pg", pgError("40001", "could not serialize access")).reason).toBe("Conflict")
    expect(diagnose("pg", pgError("55P03", "could not obtain lock")).reason).toBe("Conflict")
    expect(diagnose("pg", pgError("53300", "too many connections")).reason).toBe("Unavailable")
    expect(diagnose("pg", pgError("57014", "canceling statement due to statement timeout")).reason).toBe("Unavailable")
    expect(diagnose("pg", pgError("XX001", "invalid page in block")).reason).toBe("Corrupt")
    expect(diagnose("pg", pgError("54000", "index row size 3000 exceeds btree version 4 maximum 2704")).reason).toBe(
      "KeyTooLong"
    )
    expect(diagnose("pg", pgError("54000", "total size of jsonb array elements exceeds the maximum")).reason).toBe(
      "ValueTooLarge"
    )
    expect(diagnose("pg", pgError("23505", "duplicate key value")).reason).toBe("Unknown")
  })

  it("a lost connection is Unavailable and may be retried; a server error is not", () => {
    for (const cause of [
      new Error("Connection terminated unexpectedly"),
      network("ECONNRESET"),
      network("ECONNREFUSED"),
      pgError("57P01", "terminating connection due to administrator command"),
      pgError("08006", "connection failure")
    ]) {
      const diagnosis = diagnose("pg", cause)
      expect(diagnosis.reason, cause.message).toBe("Unavailable")
      expect(diagnosis.connectionLost, cause.message).toBe(true)
    }
    expect(diagnose("pg", pgError("40P01", "deadlock detected")).connectionLost).toBe(false)
  })

  it("messages carry the server's words, the SQLSTATE, and the remedy where there is one", () => {
    const missing = diagnose("pg", pgError("42P01", "relation \"kv\" does not exist"))
    expect(missing.detail).toContain("relation \"kv\" does not exist (SQLSTATE 42P01)")
    expect(missing.detail).toContain("KyselyMigrator.migrate")
    expect(diagnose("pg", pgError("42501", "permission denied for table kv")).detail).toContain("grant")
  })

  it("a value too large to read back as one JavaScript string is ValueTooLarge", () => {
    const diagnosis = diagnose("pg", new RangeError("Invalid string length"))
    expect(diagnosis.reason).toBe("ValueTooLarge")
    expect(diagnosis.detail).toContain("hexadecimal")
  })

  it("the SQLSTATE is found along cause links", () => {
    const wrapped = new Error("wrapped", { cause: pgError("40P01", "deadlock detected") })
    expect(diagnose("pg", wrapped).reason).toBe("Conflict")
  })
})

describe("MySQL/MariaDB failures", () => {
  it("error numbers decide the reason", () => {
    expect(diagnose("mysql", mysqlError(1213, "ER_LOCK_DEADLOCK", "Deadlock found")).reason).toBe("Conflict")
    expect(diagnose("mysql", mysqlError(1205, "ER_LOCK_WAIT_TIMEOUT", "Lock wait timeout")).reason).toBe("Conflict")
    expect(diagnose("mysql", mysqlError(1153, "ER_NET_PACKET_TOO_LARGE", "Got a packet bigger")).reason).toBe(
      "ValueTooLarge"
    )
    expect(diagnose("mysql", mysqlError(1118, "ER_TOO_BIG_ROWSIZE", "Row size too large")).reason).toBe("ValueTooLarge")
    expect(diagnose("mysql", mysqlError(1040, "ER_CON_COUNT_ERROR", "Too many connections")).reason).toBe("Unavailable")
    expect(diagnose("mysql", mysqlError(1062, "ER_DUP_ENTRY", "Duplicate entry")).reason).toBe("Unknown")
  })

  it("a lost connection is Unavailable and may be retried; a packet over the limit is not a lost connection", () => {
    for (
      const cause of [
        mysqlError(2013, "CR_SERVER_LOST", "Lost connection to server", true),
        Object.assign(new Error("Connection lost: The server closed the connection."), {
          code: "PROTOCOL_CONNECTION_LOST",
          fatal: true
        }),
        network("ECONNREFUSED")
      ]
    ) {
      const diagnosis = diagnose("mysql", cause)
      expect(diagnosis.reason, cause.message).toBe("Unavailable")
      expect(diagnosis.connectionLost, cause.message).toBe(true)
    }
    expect(diagnose("mysql", mysqlError(1153, "ER_NET_PACKET_TOO_LARGE", "Got a packet bigger", true)).connectionLost)
      .toBe(false)
  })

  it("messages carry the server's words and codes, the remedy where there is one, and the error number", () => {
    const packet = diagnose("mysql", mysqlError(1153, "ER_NET_PACKET_TOO_LARGE", "Got a packet bigger than 'max_allowed_packet' bytes"))
    expect(packet.detail).toContain("(ER_NET_PACKET_TOO_LARGE 1153)")
    expect(packet.detail).toContain("raise max_allowed_packet")
    const missing = diagnose("mysql", mysqlError(1146, "ER_NO_SUCH_TABLE", "Table 'test.kv' doesn't exist"))
    expect(missing.errno).toBe(1146)
    expect(missing.detail).toContain("KyselyMigrator.migrate")
    expect(diagnose("mysql", mysqlError(1142, "ER_TABLEACCESS_DENIED_ERROR", "DELETE command denied")).detail).toContain(
      "privilege"
    )
  })
})

describe("SQLite failures", () => {
  it("node:sqlite's result codes decide the reason, extended codes included", () => {
    expect(diagnose("sqlite", nodeSqliteError(5, "database is locked")).reason).toBe("Conflict")
    expect(diagnose("sqlite", nodeSqliteError(517, "database is locked")).reason).toBe("Conflict") // SQLITE_BUSY_SNAPSHOT
    expect(diagnose("sqlite", nodeSqliteError(6, "database table is locked")).reason).toBe("Conflict")
    expect(diagnose("sqlite", nodeSqliteError(18, "string or blob too big")).reason).toBe("ValueTooLarge")
    expect(diagnose("sqlite", nodeSqliteError(13, "database or disk is full")).reason).toBe("Unavailable")
    expect(diagnose("sqlite", nodeSqliteError(11, "database disk image is malformed")).reason).toBe("Corrupt")
    expect(diagnose("sqlite", nodeSqliteError(19, "constraint failed")).reason).toBe("Unknown")
  })

  it("better-sqlite3's codes decide the reason", () => {
    expect(diagnose("sqlite", betterSqliteError("SQLITE_BUSY", "database is locked")).reason).toBe("Conflict")
    expect(diagnose("sqlite", betterSqliteError("SQLITE_BUSY_SNAPSHOT", "database is locked")).reason).toBe("Conflict")
    expect(diagnose("sqlite", betterSqliteError("SQLITE_TOOBIG", "string or blob too big")).reason).toBe("ValueTooLarge")
    expect(diagnose("sqlite", betterSqliteError("SQLITE_CONSTRAINT_CHECK", "CHECK constraint failed")).reason).toBe(
      "Unknown"
    )
  })

  it("a closed database is Unavailable; a missing table names the remedy; a busy database says why", () => {
    expect(diagnose("sqlite", Object.assign(new Error("database is not open"), { code: "ERR_INVALID_STATE" })).reason)
      .toBe("Unavailable")
    expect(diagnose("sqlite", nodeSqliteError(1, "no such table: kv")).detail).toContain("KyselyMigrator.migrate")
    expect(diagnose("sqlite", nodeSqliteError(5, "database is locked")).detail).toContain("busy timeout")
  })
})

describe("Kysely's own failures", () => {
  it("a destroyed Kysely instance is Unavailable, with a message saying so, on every dialect", () => {
    for (const dialect of ["pg", "mysql", "sqlite"] as const) {
      const diagnosis = diagnose(dialect, new Error("driver has already been destroyed"))
      expect(diagnosis.reason).toBe("Unavailable")
      expect(diagnosis.connectionLost).toBe(false)
      expect(diagnosis.detail).toContain("db.destroy()")
    }
  })
})
