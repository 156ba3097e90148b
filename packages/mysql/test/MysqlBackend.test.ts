// MySQL-specific behaviour of the backend on a real server: the value limit
// that follows from max_allowed_packet (checked before sending, and when the
// server refuses a packet), batches larger than one packet, index use, the
// bound on prepared statements, and the layers.
import { Services, StorageBackend, StorageError } from "@effect-persist/core"
import { MysqlBackend } from "@effect-persist/mysql"
import { mysqlServer } from "@effect-persist/test-servers"
import { afterAll, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as KeyValueStore from "effect/persistence/KeyValueStore"
import * as Persistence from "effect/persistence/Persistence"
import * as SqlClient from "effect/sql/SqlClient"
import * as Statements from "#internal/statements"
import { adminLayer, dropTables, isMariaDb, runToken, urlAs, withAdmin } from "./fixtures/admin.ts"

const server = await mysqlServer()
const url = server.url
const mariaDb = await isMariaDb(url)
const table = `ep_backend_${runToken}`
const servicesTable = `ep_backend_services_${runToken}`

const sameBytes = (a: StorageBackend.Value | undefined, b: Uint8Array) =>
  a instanceof Uint8Array && Buffer.compare(a, b) === 0

const globalPacket = (sql: SqlClient.SqlClient) =>
  Effect.map(sql.unsafe("SELECT @@global.max_allowed_packet").unprepared, (rows) => Number(Object.values(rows[0]!)[0]))

afterAll(() => withAdmin(url, (sql) => dropTables(sql, table, servicesTable)))

layer(adminLayer(url), { excludeTestServices: true })("MysqlBackend", (it) => {
  it.effect("values up to the limit derived from max_allowed_packet work; one byte more fails naming the setting", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const backend = yield* MysqlBackend.open({ url, table, autoMigrate: true })
      const limit = backend.capabilities.maxValueBytes
      const packetLimit = MysqlBackend.maxValueBytes(yield* globalPacket(sql))
      // On MySQL the redo log may set a lower limit, named in the error instead.
      const setting = mariaDb || limit === packetLimit ? "max_allowed_packet" : "innodb_redo_log_capacity"
      if (mariaDb) expect(limit).toBe(packetLimit)
      else expect(limit).toBeLessThanOrEqual(packetLimit)
      expect(backend.capabilities.maxKeyBytes).toBe(1536)

      const largest = new Uint8Array(limit).fill(7)
      largest[limit - 1] = 9
      yield* backend.set("limits", "largest", largest)
      expect(sameBytes(yield* backend.get("limits", "largest"), largest)).toBe(true)

      const tooLarge = new Uint8Array(limit + 1)
      const failures = [
        yield* Effect.flip(backend.set("limits", "largest", tooLarge)),
        yield* Effect.flip(backend.setMany("limits", [{ key: "largest", value: tooLarge }])),
        yield* Effect.flip(backend.set("limits", "largest", "é".repeat(Math.ceil((limit + 1) / 2)))),
        yield* Effect.flip(backend.modify("limits", "largest", () => Effect.succeed(tooLarge)))
      ]
      for (const error of failures) {
        expect(error.reason).toBe("ValueTooLarge")
        expect(error.message).toContain(setting)
        expect(error.message).toContain(String(limit))
      }
      expect(sameBytes(yield* backend.get("limits", "largest"), largest)).toBe(true)
      yield* backend.clear("limits")
    }))

  it.effect("a packet the server refuses fails with ValueTooLarge naming max_allowed_packet, and the pool recovers", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const original = yield* globalPacket(sql)
      const lowered = 1024 * 1024
      // The backend sized its limit from the original setting; its only
      // connection is then replaced by one that sees the lowered one, as
      // after an operator lowers max_allowed_packet on a running server.
      const client = yield* Layer.build(MysqlBackend.layerClient({ url, maxConnections: 1 }))
      const backend = yield* MysqlBackend.make({ table, autoMigrate: true }).pipe(Effect.provideContext(client))
      const clientSql = Context.get(client, SqlClient.SqlClient)
      const [[connection]] = yield* clientSql.unsafe("SELECT CONNECTION_ID()").values
      yield* Effect.acquireRelease(
        sql.unsafe(`SET GLOBAL max_allowed_packet = ${lowered}`).unprepared,
        () => Effect.orDie(sql.unsafe(`SET GLOBAL max_allowed_packet = ${original}`).unprepared)
      )
      yield* sql.unsafe(`KILL ${Number(connection)}`).unprepared
      const value = new Uint8Array(2 * lowered).fill(1)
      expect(value.byteLength).toBeLessThan(backend.capabilities.maxValueBytes)

      yield* backend.set("packet", "kept", "before")
      // Whether the server's error or its closing of the connection reaches
      // the client first, the answer is the same.
      const failures = [
        yield* Effect.flip(backend.set("packet", "big", value)),
        yield* Effect.flip(backend.setMany("packet", [{ key: "big", value }, { key: "other", value: "x" }])),
        yield* Effect.flip(backend.modify("packet", "kept", () => Effect.succeed(value)))
      ]
      for (const error of failures) {
        expect(error).toBeInstanceOf(StorageError.StorageError)
        expect(error.reason).toBe("ValueTooLarge")
        expect(error.message).toContain(`max_allowed_packet (now ${lowered} bytes`)
      }
      expect(yield* backend.get("packet", "kept")).toBe("before")
      expect(yield* backend.get("packet", "other")).toBeUndefined()

      yield* backend.set("packet", "small", "still works")
      expect(yield* backend.get("packet", "small")).toBe("still works")
      expect(yield* backend.get("packet", "big")).toBeUndefined()
      yield* backend.clear("packet")
    }))

  it.effect("a setMany larger than one packet is split, and stored whole", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const backend = yield* MysqlBackend.open({ url, table, autoMigrate: true })
      const packet = yield* globalPacket(sql)
      const size = Math.min(Math.floor(packet * 0.4), backend.capabilities.maxValueBytes)
      const big = (fill: number) => new Uint8Array(size).fill(fill)
      const entries = [
        { key: "a", value: big(1) },
        { key: "b", value: "small" },
        { key: "c", value: big(2) },
        { key: "d", value: big(3) },
        { key: "e", value: new Uint8Array([4]) }
      ]
      yield* backend.setMany("split", entries)
      const read = yield* backend.getMany("split", ["e", "d", "c", "b", "a"])
      expect(sameBytes(read[0], entries[4]!.value as Uint8Array)).toBe(true)
      expect(sameBytes(read[1], entries[3]!.value as Uint8Array)).toBe(true)
      expect(sameBytes(read[2], entries[2]!.value as Uint8Array)).toBe(true)
      expect(read[3]).toBe("small")
      expect(sameBytes(read[4], entries[0]!.value as Uint8Array)).toBe(true)
      expect(yield* backend.size("split")).toBe(5)
      yield* backend.clear("split")
    }))

  it.effect("gets, prefix scans and sweeps are served by the primary key and the expires_at index", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const backend = yield* MysqlBackend.open({ url, table, autoMigrate: true })
      const entries = Array.from({ length: 2000 }, (_, i) => ({
        key: `k${String(i).padStart(5, "0")}`,
        value: "v",
        expiresAt: i % 2 === 0 ? Date.now() + 3_600_000 + i : undefined
      }))
      for (const ns of ["explain-a", "explain-b", "explain-c"]) yield* backend.setMany(ns, entries)
      yield* sql.unsafe(`ANALYZE TABLE \`${table}\``).unprepared
      const q = Statements.make(table)
      const explain = (text: string, params: ReadonlyArray<unknown>) =>
        Effect.map(sql.unsafe(`EXPLAIN ${text}`, params).unprepared, (rows) => rows[0] as Record<string, unknown>)
      const ns = Buffer.from("explain-b")
      const get = yield* explain(q.get, [ns, Buffer.from("k00010"), 0])
      expect(get.key).toBe("PRIMARY")
      const prefix = yield* explain(q.keysRange, [ns, Buffer.from("k001"), Buffer.from("k002"), 0])
      expect(prefix.key).toBe("PRIMARY")
      expect(prefix.type).toBe("range")
      const sweep = yield* explain(q.sweepSelect(100), [Date.now()])
      expect(sweep.key).toBe(`${table}_expires_at`)
      // Read in index order: no sort of every expired row on each batch.
      expect(String(sweep.Extra)).not.toContain("filesort")
      // As if every entry with an expiry had expired: the index on expires_at
      // would then match thousands of rows, the primary key two.
      const sweepDelete = yield* explain(q.sweepDelete(2), [
        ns,
        Buffer.from("k00010"),
        ns,
        Buffer.from("k00012"),
        Number.MAX_SAFE_INTEGER
      ])
      expect(sweepDelete.key).toBe("PRIMARY")
      expect(sweepDelete.type).toBe("range")
      for (const ns of ["explain-a", "explain-b", "explain-c"]) yield* backend.clear(ns)
    }))

  it.effect("batches of every size share a dozen prepared statements", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const preparedCount = Effect.map(
        sql.unsafe("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'").unprepared,
        (rows) => Number(Object.values(rows[0]!)[1])
      )
      const backend = yield* MysqlBackend.open({ url, table, autoMigrate: true, maxConnections: 1 })
      yield* backend.set("prepared", "warm", "up")
      const before = yield* preparedCount
      for (let count = 1; count <= 150; count++) {
        const keys = Array.from({ length: count }, (_, i) => `key-${i}`)
        yield* backend.setMany("prepared", keys.map((key) => ({ key, value: key })))
        const values = yield* backend.getMany("prepared", keys)
        expect(values).toEqual(keys)
      }
      // Sizes round up to 1, 2, 4, ..., 256: 9 texts each for getMany and setMany.
      expect((yield* preparedCount) - before).toBeLessThanOrEqual(18)
      yield* backend.clear("prepared")
    }))

  it.effect("open's backend stays usable until its scope closes", () =>
    Effect.gen(function*() {
      const backend = yield* MysqlBackend.open({ url, table, autoMigrate: true })
      yield* backend.set("open", "k", "v")
      expect(yield* backend.keys("open")).toEqual(["k"])
      yield* backend.clear("open")
    }))

  it.effect("a server that cannot be reached, or refuses the password, fails the layer with a typed error", () =>
    Effect.gen(function*() {
      const unreachable = yield* Effect.flip(Effect.scoped(MysqlBackend.open({ url: "mysql://app:s3cret@127.0.0.1:1/test" })))
      expect(unreachable).toBeInstanceOf(StorageError.StorageError)
      const down = unreachable as StorageError.StorageError
      expect(down.operation).toBe("connect")
      expect(down.reason).toBe("Unavailable")
      expect(down.message).toContain("mysql://app:***@127.0.0.1:1/test")
      expect(down.message).not.toContain("s3cret")

      const refused = yield* Effect.flip(
        Effect.scoped(MysqlBackend.open({ url: urlAs(url, "ep_nobody", "wrong-password") }))
      )
      expect(refused).toBeInstanceOf(StorageError.StorageError)
      expect((refused as StorageError.StorageError).retryable).toBe(false)
      expect(refused.message).toContain("Access denied")
      expect(refused.message).not.toContain("wrong-password")
    }))

  it.effect("layerKeyValueStore and layerPersistence provide Effect's services on the table", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* dropTables(sql, servicesTable)
      const options = { url, table: servicesTable, autoMigrate: true }
      const kv = Context.get(
        yield* Layer.build(MysqlBackend.layerKeyValueStore({ ...options, name: "sessions" })),
        KeyValueStore.KeyValueStore
      )
      yield* kv.set("user:1", "Ada")
      expect(yield* kv.get("user:1")).toBe("Ada")
      expect(yield* kv.modify("user:1", (name) => `${name} Lovelace`)).toBe("Ada Lovelace")

      const backing = Context.get(
        yield* Layer.build(MysqlBackend.layerBackingPersistence(options)),
        Persistence.BackingPersistence
      )
      const store = yield* backing.make("store-1")
      yield* store.set("a", { n: 1 }, undefined)
      expect(yield* store.get("a")).toEqual({ n: 1 })
      yield* Layer.build(MysqlBackend.layerPersistence(options))

      // Both live in the one table, in separate namespaces.
      const [[rows]] = yield* sql.unsafe(`SELECT COUNT(*) FROM \`${servicesTable}\``).values
      expect(Number(rows)).toBe(2)
      const namespaces = yield* sql.unsafe(
        `SELECT DISTINCT CAST(\`namespace\` AS CHAR) FROM \`${servicesTable}\` ORDER BY 1`
      )
        .values
      expect(namespaces.map(([ns]) => ns)).toEqual([
        Services.persistenceNamespace("store-1"),
        Services.keyValueNamespace("sessions")
      ].sort())
      yield* dropTables(sql, servicesTable)
    }))
})
