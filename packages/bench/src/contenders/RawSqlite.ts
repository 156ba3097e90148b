/**
 * The SQLite floor: `node:sqlite` running the statements of our SQLite
 * backend, prepared once, on our schema, with no Effect in between. It
 * does what the store must do and nothing else: encodes keys as UTF-8 bytes,
 * checks expiry, and (for persistence) converts JSON.
 *
 * @since 0.0.0
 */
import { DatabaseSync } from "node:sqlite"
import { operationsOf } from "../Model.ts"
import * as Subject from "../Subject.ts"
import * as Workload from "../Workload.ts"

/**
 * Opens the file the way our backend's client does: WAL, `synchronous =
 * NORMAL`, a busy timeout.
 *
 * @category constructors
 * @since 0.0.0
 */
export const open = (filename: string): DatabaseSync => {
  const db = new DatabaseSync(filename)
  db.exec("PRAGMA busy_timeout = 5000")
  db.exec("PRAGMA journal_mode = WAL")
  db.exec("PRAGMA synchronous = NORMAL")
  return db
}

const quote = (name: string) => `"${name.replace(/"/g, "\"\"")}"`

/**
 * The statements of our SQLite backend (`packages/sqlite/src/internal/statements.ts`),
 * repeated here because a package's internals are closed to the others.
 *
 * @category constructors
 * @since 0.0.0
 */
export const statements = (table: string, batch: number) => {
  const t = quote(table)
  const live = "(expires_at IS NULL OR expires_at > ?)"
  const upsert =
    "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, kind = excluded.kind, expires_at = excluded.expires_at"
  return {
    get: `SELECT value, kind FROM ${t} WHERE namespace = ? AND key = ? AND ${live}`,
    getMany: `WITH k(i, key) AS (VALUES ${
      Array.from({ length: batch }, (_, i) => `(${i}, ?)`).join(", ")
    }) SELECT k.i, e.value, e.kind FROM k CROSS JOIN ${t} AS e ON e.namespace = ? AND e.key = k.key WHERE ${
      live.replace(/expires_at/g, "e.expires_at")
    }`,
    set: `INSERT INTO ${t} (namespace, key, value, kind, expires_at) VALUES (?, ?, ?, ?, ?)\n${upsert}`,
    setMany: `INSERT INTO ${t} (namespace, key, value, kind, expires_at) VALUES ${
      Array.from({ length: batch }, () => "(?, ?, ?, ?, ?)").join(", ")
    }\n${upsert}`,
    update: `UPDATE ${t} SET value = ?, kind = ? WHERE namespace = ? AND key = ?`,
    remove: `DELETE FROM ${t} WHERE namespace = ? AND key = ?`
  }
}

const utf8 = (text: string): Buffer => Buffer.from(text, "utf8")

interface Row {
  readonly value: string | Uint8Array
  readonly kind: number
}

/**
 * Builds the raw driver's `kv` and `persistence` subjects on a migrated file.
 *
 * @category constructors
 * @since 0.0.0
 */
export const make = (options: {
  readonly filename: string
  readonly table: string
  readonly workload: Workload.Workload
}): readonly [Subject.Subject, Subject.Subject] => {
  const w = options.workload
  const db = open(options.filename)
  const q = statements(options.table, Workload.batchSize)
  const get = db.prepare(q.get)
  const getMany = db.prepare(q.getMany)
  const set = db.prepare(q.set)
  const setMany = db.prepare(q.setMany)
  const update = db.prepare(q.update)
  const remove = db.prepare(q.remove)
  const begin = db.prepare("BEGIN IMMEDIATE")
  const commit = db.prepare("COMMIT")
  const rollback = db.prepare("ROLLBACK")
  const kvNs = utf8(`kv:${Workload.kvName}`)
  const pNs = utf8(`persistence:${Workload.storeId}`)

  const read = (ns: Buffer, key: string): string | undefined => {
    const row = get.get(ns, utf8(key), Date.now()) as Row | undefined
    return row === undefined ? undefined : row.value as string
  }
  const write = (ns: Buffer, key: string, value: string, expiresAt: number | null) =>
    set.run(ns, utf8(key), value, 0, expiresAt)

  const modify = (key: string) => {
    begin.run()
    try {
      const k = utf8(key)
      const row = get.get(kvNs, k, Date.now()) as Row | undefined
      if (row !== undefined) update.run(Workload.modifyValue(row.value as string), 0, kvNs, k)
      commit.run()
    } catch (cause) {
      rollback.run()
      throw cause
    }
  }

  const readMany = (keys: ReadonlyArray<string>) => {
    const params: Array<Buffer | number> = keys.map(utf8)
    params.push(pNs, Date.now())
    const out = new Array<object | undefined>(keys.length).fill(undefined)
    for (const row of getMany.all(...params) as Array<{ readonly i: number; readonly value: string }>) {
      out[row.i] = JSON.parse(row.value)
    }
    return out
  }
  const writeMany = (ns: Buffer, rows: ReadonlyArray<readonly [string, string, number | null]>) => {
    const params: Array<Buffer | string | number | null> = []
    for (const [key, value, expiresAt] of rows) params.push(ns, utf8(key), value, 0, expiresAt)
    if (rows.length === Workload.batchSize) {
      setMany.run(...params)
    } else {
      db.prepare(statements(options.table, rows.length).setMany).run(...params)
    }
  }
  const fill = (ns: Buffer, indexes: ReadonlyArray<number>, key: (i: number) => string, value: (i: number) => string) =>
    writeMany(ns, indexes.map((i) => [key(i), value(i), ns === pNs ? Date.now() + Workload.ttlMillis : null] as const))

  const kvOperations = {
    "get-hit": (i: number) => read(kvNs, w.hit(i)),
    "get-miss": (i: number) => read(kvNs, w.miss(i)),
    set: (i: number) => write(kvNs, w.hit(i), w.kvValue(i), null),
    remove: (i: number) => remove.run(kvNs, utf8(w.removable(i))),
    modify: (i: number) => modify(w.hit(i))
  }
  const parsed = (text: string | undefined) => text === undefined ? undefined : JSON.parse(text)
  const persistenceOperations = {
    "get-hit": (i: number) => parsed(read(pNs, w.hit(i))),
    "get-miss": (i: number) => parsed(read(pNs, w.miss(i))),
    set: (i: number) => write(pNs, w.hit(i), JSON.stringify(w.payload(i)), Date.now() + Workload.ttlMillis),
    getMany100: (i: number) => readMany(w.batch(i)),
    setMany100: (i: number) => {
      const expiresAt = Date.now() + Workload.ttlMillis
      const keys = w.batch(i)
      writeMany(pNs, keys.map((key, j) => [key, JSON.stringify(w.payload(i * Workload.batchSize + j)), expiresAt]))
    },
    remove: (i: number) => remove.run(pNs, utf8(w.removable(i)))
  }

  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    db.close()
  }
  const kvValue = w.kvValue
  const payloadText = (i: number) => JSON.stringify(w.payload(i))
  return [
    {
      database: "sqlite",
      contender: "raw-driver",
      store: "kv",
      operations: Subject.offered(operationsOf.kv, kvOperations),
      run: Subject.promiseRunner("raw-driver kv", kvOperations),
      populate: (rows) => Subject.inChunks(rows, 1000, (ix) => fill(kvNs, ix, Workload.keyOf, kvValue)),
      writeRemovable: (count) => Subject.inChunks(count, 1000, (ix) => fill(kvNs, ix, w.removable, kvValue)),
      close
    },
    {
      database: "sqlite",
      contender: "raw-driver",
      store: "persistence",
      operations: Subject.offered(operationsOf.persistence, persistenceOperations),
      run: Subject.promiseRunner("raw-driver persistence", persistenceOperations),
      populate: (rows) => Subject.inChunks(rows, 1000, (ix) => fill(pNs, ix, Workload.keyOf, payloadText)),
      writeRemovable: (count) => Subject.inChunks(count, 1000, (ix) => fill(pNs, ix, w.removable, payloadText)),
      close
    }
  ]
}
