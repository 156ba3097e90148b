import { KeyCodec, StorageError } from "@effect-persist/core"
import { describe, expect, it } from "@effect/vitest"

describe("KeyCodec", () => {
  it("prefixUpperBound is the least byte string above every extension of the prefix", () => {
    expect(KeyCodec.prefixUpperBound(new Uint8Array([0x61, 0x62]))).toEqual(new Uint8Array([0x61, 0x63]))
    expect(KeyCodec.prefixUpperBound(new Uint8Array([0x61, 0xff, 0xff]))).toEqual(new Uint8Array([0x62]))
    expect(KeyCodec.prefixUpperBound(new Uint8Array([]))).toBeUndefined()
    expect(KeyCodec.prefixUpperBound(new Uint8Array([0xff]))).toBeUndefined()
  })

  it("utf8Length agrees with the encoder on every kind of character", () => {
    for (const text of ["", "a", "é", "€", "😀", "a\u0000b", "\uFFFF", "x😀y€"]) {
      expect(KeyCodec.utf8Length(text), text).toBe(KeyCodec.encode(text).length)
    }
  })

  it("decode refuses malformed UTF-8 instead of replacing it", () => {
    expect(() => KeyCodec.decode(new Uint8Array([0xc3]))).toThrow()
  })
})

describe("StorageError", () => {
  const sqlError = (tag: string) => ({ _tag: "SqlError", reason: { _tag: tag } })

  it("classifies Effect SQL error reasons: lost connections are Unavailable, lock trouble Conflict", () => {
    expect(StorageError.reasonOfSqlError(sqlError("ConnectionError"))).toBe("Unavailable")
    expect(StorageError.reasonOfSqlError(sqlError("StatementTimeoutError"))).toBe("Unavailable")
    expect(StorageError.reasonOfSqlError(sqlError("DeadlockError"))).toBe("Conflict")
    expect(StorageError.reasonOfSqlError(sqlError("SerializationError"))).toBe("Conflict")
    expect(StorageError.reasonOfSqlError(sqlError("LockTimeoutError"))).toBe("Conflict")
    expect(StorageError.reasonOfSqlError(sqlError("SqlSyntaxError"))).toBe("Unknown")
    expect(StorageError.reasonOfSqlError(new Error("plain"))).toBe("Unknown")
  })

  it("marks Unavailable and Conflict retryable, and says so in the message", () => {
    const lost = StorageError.fromDatabase({ dialect: "pg", operation: "get", key: "k", cause: sqlError("ConnectionError") })
    expect(lost.retryable).toBe(true)
    expect(lost.message).toContain("may succeed when retried")
    expect(lost.message).toContain(`for key "k"`)
    const syntax = StorageError.fromDatabase({ dialect: "pg", operation: "get", cause: sqlError("SqlSyntaxError") })
    expect(syntax.retryable).toBe(false)
  })
})
