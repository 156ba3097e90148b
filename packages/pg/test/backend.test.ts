import { Migrator, StorageBackend, StorageError } from "@effect-persist/core"
import { PgBackend, PgMigrator } from "@effect-persist/pg"
import { postgres } from "@effect-persist/test-servers"
import { describe, expect, it } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Cause, Context, Effect, Exit, Layer, Redacted } from "effect"
import { KeyValueStore } from "effect/persistence"
import { readFileSync } from "node:fs"
import { render, target } from "../../../scripts/generate-migrations.ts"
import { admin, dropTable } from "./fixtures/admin.ts"

const server = await postgres()
const url = server.url

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const reason = exit.cause.reasons.find(Cause.isFailReason)
  return reason?.error
}

const tableExists = (table: string) =>
  admin(url, (sql) => sql.unsafe(`SELECT to_regclass($1) IS NOT NULL`, [table]).values).pipe(
    Effect.map((rows) => rows[0]?.[0] === true),
    Effect.orDie
  )

/** A fresh, migrated table for one test, dropped when the test ends. */
const freshTable = (table: string) =>
  Effect.acquireRelease(
    Effect.andThen(dropTable(url, table), PgMigrator.migrateUrl(url, { table })),
    () => dropTable(url, table)
  ).pipe(Effect.as(table))

const mib = 1024 * 1024

describe("PostgreSQL backend", () => {
  it("the generated migrations module matches migrations/pg", () => {
    expect(readFileSync(target("pg"), "utf8")).toBe(render("pg"))
  })

  it.effect("a layer on an unmigrated table fails with a SchemaVersionError naming the command, and creates nothing", () =>
    Effect.gen(function*() {
      const table = "pg_backend_unmigrated"
      yield* dropTable(url, table)
      const exit = yield* Effect.exit(Layer.build(PgBackend.layer({ url, table })).pipe(Effect.scoped))
      const error = failureOf(exit)
      expect(error).toBeInstanceOf(StorageError.SchemaVersionError)
      expect((error as StorageError.SchemaVersionError).message).toContain(
        `effect-persist migrate --url ${new URL(url).toString()} --table ${table}`
      )
      expect(yield* tableExists(table)).toBe(false)
    }))

  it.effect("migrateUrl applies each migration once, and status and renderSql describe the schema", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = "pg_backend_migrate"
      yield* dropTable(url, table)
      yield* Effect.addFinalizer(() => dropTable(url, table))
      const dry = yield* PgMigrator.migrateUrl(url, { table, dryRun: true })
      expect(dry.dryRun).toBe(true)
      expect(dry.applied.map((m) => m.version)).toEqual([1])
      expect(yield* tableExists(table)).toBe(false)

      const first = yield* PgMigrator.migrateUrl(url, { table })
      expect(first.applied.map((m) => `${m.version}_${m.name}`)).toEqual(["1_create_entries"])
      expect((yield* PgMigrator.migrateUrl(url, { table })).applied).toEqual([])

      const status = yield* PgMigrator.status({ table }).pipe(
        Effect.provide(PgClient.layer({ url: Redacted.make(url) }))
      )
      expect(status.version).toBe(1)
      expect(status.latest).toBe(1)
      expect(status.pending).toEqual([])
      expect(status.drifted).toEqual([])

      const rendered = yield* PgMigrator.renderSql({ table: "app_cache" })
      expect(rendered).toContain(`CREATE TABLE "app_cache"`)
      expect(rendered).toContain(`CONSTRAINT "app_cache_pkey" PRIMARY KEY (namespace, key)`)
      expect(rendered).toContain(`CREATE INDEX "app_cache_expires_at" ON "app_cache" (expires_at) WHERE expires_at IS NOT NULL`)
      expect(rendered).not.toContain("{{")
      const statements = Migrator.splitStatements(rendered)
      expect(statements.length).toBe(2)
      for (const statement of statements) expect(statement.toLowerCase()).not.toContain("ctid")
    })))

  it.effect("an applied migration whose checksum changed stops migrate with a Drift error", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = yield* freshTable("pg_backend_drift")
      yield* admin(url, (sql) =>
        sql.unsafe(`UPDATE ${Migrator.trackingTable} SET checksum = 'edited' WHERE table_name = $1`, [table]).unprepared)
      const error = failureOf(yield* Effect.exit(PgMigrator.migrateUrl(url, { table })))
      expect(error).toBeInstanceOf(StorageError.MigrationError)
      expect((error as StorageError.MigrationError).reason).toBe("Drift")
      expect((error as StorageError.MigrationError).message).toContain("0001_create_entries")
    })))

  it.effect("a failing migration rolls the whole run back: no table, no index, no tracking row", () =>
    Effect.gen(function*() {
      const table = "pg_backend_rollback"
      yield* dropTable(url, table)
      const migrations = yield* Migrator.fromFiles({
        "0001_create.sql": "CREATE TABLE {{table}} (id integer PRIMARY KEY);\nCREATE INDEX {{table:extra}} ON {{table}} (id);",
        "0002_broken.sql": "ALTER TABLE {{table}} ADD COLUMN later integer;\nSELECT 1 / 0;"
      })
      const exit = yield* Effect.exit(
        PgClient.PgClient.use((sql) => Migrator.migrate(PgMigrator.driver(sql), migrations, { table })).pipe(
          Effect.provide(PgClient.layer({ url: Redacted.make(url) }))
        )
      )
      const error = failureOf(exit)
      expect(error).toBeInstanceOf(StorageError.MigrationError)
      expect((error as StorageError.MigrationError).reason).toBe("Failed")
      expect((error as StorageError.MigrationError).version).toBe(2)
      expect((error as StorageError.MigrationError).message).toContain("division by zero")
      expect(yield* tableExists(table)).toBe(false)
      expect(yield* tableExists(`${table}_extra`)).toBe(false)
      const tracked = yield* admin(url, (sql) =>
        sql.unsafe(`SELECT count(*) FROM ${Migrator.trackingTable} WHERE table_name = $1`, [table]).values)
      expect(Number(tracked[0]![0])).toBe(0)
    }))

  it.effect("keys and namespaces of 1,300 UTF-8 bytes work together; one byte more is a KeyTooLong error naming the limit", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = yield* freshTable("pg_backend_keys")
      const backend = yield* PgBackend.open({ url, table })
      expect(backend.capabilities.maxKeyBytes).toBe(1300)
      // Two-byte characters in no repeating pattern, so nothing compresses the index entry.
      const text = (bytes: number, seed: number) =>
        Array.from({ length: bytes / 2 }, (_, i) => String.fromCharCode(0x100 + ((i * 7919 + seed * 104729) % 0x600)))
          .join("")
      const namespace = text(1300, 1)
      const key = text(1300, 2)
      yield* backend.set(namespace, key, "fits")
      expect(yield* backend.get(namespace, key)).toBe("fits")
      expect(yield* backend.keys(namespace)).toEqual([key])

      const error = yield* Effect.flip(backend.set(namespace, `${key}x`, "too long"))
      expect(error.reason).toBe("KeyTooLong")
      expect(error.message).toContain("1300 bytes")
      const namespaceError = yield* Effect.flip(backend.get(`${namespace}x`, "k"))
      expect(namespaceError.reason).toBe("KeyTooLong")
    })))

  it.effect("64 MiB values round-trip as a string and as bytes through the default layer", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = yield* freshTable("pg_backend_large")
      const backend = yield* PgBackend.open({ url, table })
      const bytes = new Uint8Array(64 * mib)
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24
      const text = "é€x".repeat((64 * mib) / 6)
      const started = performance.now()
      yield* backend.set("large", "bytes", bytes)
      const readBytes = yield* backend.get("large", "bytes")
      const bytesMillis = performance.now() - started
      yield* backend.set("large", "text", text)
      const readText = yield* backend.get("large", "text")
      console.log(
        `[pg] 64 MiB Uint8Array set+get: ${bytesMillis.toFixed(0)} ms; 64 MiB string set+get: ${
          (performance.now() - started - bytesMillis).toFixed(0)
        } ms`
      )
      expect(readBytes).toBeInstanceOf(Uint8Array)
      expect(Buffer.compare(readBytes as Uint8Array, bytes)).toBe(0)
      expect(readText === text).toBe(true)
    })), 120_000)

  it.effect("on a client with a small maxMessageSize, values it could not read back are refused with a ValueTooLarge error", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = yield* freshTable("pg_backend_client_limit")
      const client = PgClient.layer({ url: Redacted.make(url), maxMessageSize: mib })
      const context = yield* Layer.build(PgBackend.layerFromClient({ table }).pipe(Layer.provide(client)))
      const backend = Context.get(context, StorageBackend.StorageBackend)
      const limit = backend.capabilities.maxValueBytes
      expect(limit).toBeLessThan(mib)
      expect(limit).toBeGreaterThan(mib - 2048)

      yield* backend.set("limit", "at", new Uint8Array(limit).fill(1))
      expect(((yield* backend.get("limit", "at")) as Uint8Array).length).toBe(limit)
      const error = yield* Effect.flip(backend.set("limit", "over", new Uint8Array(limit + 1)))
      expect(error.reason).toBe("ValueTooLarge")
      expect(error.message).toContain(`limit is ${limit} bytes`)
      expect(yield* backend.get("limit", "over")).toBeUndefined()
    })))

  it.effect("a stored value over this client's limit reads as a typed ValueTooLarge error, and the store keeps working", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = yield* freshTable("pg_backend_read_limit")
      const large = yield* PgBackend.open({ url, table })
      yield* large.set("limit", "big", new Uint8Array(2 * mib).fill(7))
      yield* large.set("limit", "small", "still readable")

      const small = yield* PgBackend.open({ url, table, maxValueBytes: mib })
      const error = yield* Effect.flip(small.get("limit", "big"))
      expect(error).toBeInstanceOf(StorageError.StorageError)
      expect(error.reason).toBe("ValueTooLarge")
      expect(error.message).toContain("maxValueBytes")
      expect(yield* small.get("limit", "small")).toBe("still readable")
    })))

  it.effect("maxValueBytes outside 1 .. serverMaxValueBytes is a ConfigurationError", () =>
    Effect.gen(function*() {
      for (const maxValueBytes of [0, 1.5, PgBackend.serverMaxValueBytes + 1]) {
        const error = failureOf(yield* Effect.exit(Effect.scoped(PgBackend.open({ url, maxValueBytes }))))
        expect(error).toBeInstanceOf(StorageError.ConfigurationError)
        expect((error as StorageError.ConfigurationError).option).toBe("maxValueBytes")
      }
    }))

  it.effect("setMany of 70,000 entries and getMany of 70,000 keys each take one call, past the 65,535 bind-parameter limit", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = yield* freshTable("pg_backend_batches")
      const backend = yield* PgBackend.open({ url, table })
      const keys = Array.from({ length: 70_000 }, (_, i) => `k${i}`)
      yield* backend.setMany("batch", keys.map((key, i) => ({ key, value: i % 2 === 0 ? `v${i}` : new Uint8Array([i & 0xff]) })))
      expect(yield* backend.size("batch")).toBe(70_000)
      const values = yield* backend.getMany("batch", [...keys, "missing", "k0"])
      expect(values.length).toBe(70_002)
      expect(values[0]).toBe("v0")
      expect(values[69_999]).toEqual(new Uint8Array([69_999 & 0xff]))
      expect(values[70_000]).toBeUndefined()
      expect(values[70_001]).toBe("v0")

      // 30,000 keys of 1,300 bytes pass the 32 MiB a statement carries: still one call, answered in order.
      const long = Array.from({ length: 30_000 }, (_, i) => `${String(i).padStart(6, "0")}${"x".repeat(1294)}`)
      yield* backend.set("batch", long[3]!, "early")
      yield* backend.set("batch", long[29_998]!, "late")
      const answers = yield* backend.getMany("batch", long)
      expect(answers.length).toBe(30_000)
      expect(answers[3]).toBe("early")
      expect(answers[29_998]).toBe("late")
      expect(answers.filter((value) => value !== undefined).length).toBe(2)
    })), 60_000)

  it.effect("a setMany that spans several statements (5,000 rows each) is all or nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = yield* freshTable("pg_backend_atomic_batch")
      // A trigger refusing one key, which sorts last, so the statements before it have already run.
      yield* admin(url, (sql) =>
        Effect.gen(function*() {
          yield* sql.unsafe(`CREATE FUNCTION ${table}_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.key = convert_to('zzz-refused', 'UTF8') THEN RAISE EXCEPTION 'refused by test trigger'; END IF;
  RETURN NEW;
END $$`).unprepared
          yield* sql.unsafe(
            `CREATE TRIGGER refuse BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_refuse()`
          ).unprepared
        }))
      yield* Effect.addFinalizer(() =>
        admin(url, (sql) => sql.unsafe(`DROP FUNCTION IF EXISTS ${table}_refuse() CASCADE`).unprepared).pipe(Effect.orDie)
      )
      const backend = yield* PgBackend.open({ url, table })
      const entries = Array.from({ length: 12_000 }, (_, i) => ({ key: `k${i}`, value: "v" }))
      const error = yield* Effect.flip(backend.setMany("atomic", [...entries, { key: "zzz-refused", value: "v" }]))
      expect(error.operation).toBe("setMany")
      expect(error.message).toContain("refused by test trigger")
      expect(yield* backend.size("atomic")).toBe(0)
    })))

  // One connection, so every statement the backend sends is prepared in the
  // session these tests then inspect.
  const oneConnection = (table: string) =>
    Effect.gen(function*() {
      const client = PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })
      const context = yield* Layer.build(PgBackend.layerFromClient({ table }).pipe(Layer.provideMerge(client)))
      return { backend: Context.get(context, StorageBackend.StorageBackend), sql: Context.get(context, PgClient.PgClient) }
    })

  const exerciseEveryOperation = (backend: StorageBackend.StorageBackend) =>
    Effect.gen(function*() {
      for (let size = 2; size <= 30; size++) {
        const keys = Array.from({ length: size }, (_, i) => `k${i}`)
        yield* backend.setMany("ops", keys.map((key) => ({ key, value: "v", expiresAt: size % 2 ? undefined : 2 ** 45 })))
        yield* backend.getMany("ops", keys)
      }
      yield* backend.set("ops", "one", new Uint8Array([1]), 2 ** 45)
      yield* backend.get("ops", "one")
      yield* backend.modify("ops", "one", () => Effect.succeed("two"))
      yield* backend.keys("ops")
      yield* backend.keys("ops", "k1")
      yield* backend.size("ops")
      yield* backend.size("ops", "k1")
      yield* backend.clearPrefix("ops", "k2")
      yield* backend.remove("ops", "one")
      yield* backend.sweep()
      yield* backend.clear("ops")
    })

  it.effect("each operation is one prepared statement per connection, whatever the batch size", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = yield* freshTable("pg_backend_prepared")
      const { backend, sql } = yield* oneConnection(table)
      yield* exerciseEveryOperation(backend)
      yield* exerciseEveryOperation(backend)
      const prepared = yield* sql.unsafe(`SELECT statement FROM pg_prepared_statements WHERE statement LIKE $1`, [
        `%"${table}"%`
      ]).values
      // get, getMany, set, setMany, getForUpdate + update (modify), keys and
      // size with and without a prefix, clearPrefix, remove, clear; the
      // sweep is sent unnamed, planned per batch (see plans.test.ts)
      expect(prepared.length).toBe(13)
      expect(prepared.map(([statement]) => String(statement)).join("\n")).not.toContain("SKIP LOCKED")
    })))

  it.effect("every read and delete is served by an index, in the generic plan prepared statements settle on", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = yield* freshTable("pg_backend_plans")
      yield* admin(url, (sql) =>
        Effect.gen(function*() {
          yield* sql.unsafe(`INSERT INTO ${table} (namespace, key, value, kind, expires_at)
SELECT convert_to('ns' || (g % 20), 'UTF8'), int8send(g), '\\x00', 1, CASE WHEN g % 3 = 0 THEN g END
FROM generate_series(1, 200000) AS g`).unprepared
          yield* sql.unsafe(`ANALYZE ${table}`).unprepared
        }))
      const { backend, sql } = yield* oneConnection(table)
      yield* exerciseEveryOperation(backend)
      const prepared = yield* sql.unsafe(
        `SELECT name, cardinality(parameter_types), statement FROM pg_prepared_statements WHERE statement LIKE $1`,
        [`%"${table}"%`]
      ).values
      const plans = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql.unsafe(`SET LOCAL plan_cache_mode = force_generic_plan`).unprepared
        const out: Array<{ readonly statement: string; readonly plan: string }> = []
        for (const [name, count, statement] of prepared) {
          const nulls = Array.from({ length: Number(count) }, () => "NULL").join(", ")
          const rows = yield* sql.unsafe(`EXPLAIN EXECUTE "${String(name)}"(${nulls})`).unprepared
          out.push({ statement: String(statement), plan: rows.map((row) => Object.values(row)[0]).join("\n") })
        }
        return out
      }))
      expect(plans.length).toBe(13)
      for (const { plan, statement } of plans) {
        if (statement.startsWith("INSERT")) continue
        expect(plan, statement).not.toContain("Seq Scan")
        expect(plan, statement).toMatch(/Index/)
      }
    })))

  it.effect("open gives a backend that keeps working for as long as the caller's scope", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = yield* freshTable("pg_backend_open")
      const backend = yield* PgBackend.open({ url, table })
      yield* backend.set("open", "k", "v")
      expect(yield* backend.get("open", "k")).toBe("v")
      expect(backend.dialect).toBe("pg")
      expect(backend.capabilities.durable).toBe(true)
    })))

  it.effect("layerKeyValueStore runs on a URL and keeps its entries in the kv: namespace family", () =>
    Effect.scoped(Effect.gen(function*() {
      const table = yield* freshTable("pg_backend_services")
      yield* Effect.gen(function*() {
        const kv = yield* KeyValueStore.KeyValueStore
        yield* kv.set("greeting", "hello")
        expect(yield* kv.modify("greeting", (value) => `${value}, world`)).toBe("hello, world")
      }).pipe(Effect.provide(PgBackend.layerKeyValueStore({ url, table, name: "services" })))
      const keys = yield* admin(url, (sql) => sql.unsafe(`SELECT convert_from(namespace, 'UTF8') FROM ${table}`).values)
      expect(keys).toEqual([["kv:services"]])
    })))
})
