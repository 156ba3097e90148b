/**
 * The MariaDB floor: mysql2 running the statements of our MySQL backend with
 * `execute` (server-side prepared statements, cached per connection) on a
 * pool of 10, with no Effect in between: keys as UTF-8 bytes, expiry
 * checked, `modify` as SELECT ... FOR UPDATE and UPDATE in a transaction.
 * A batch of 100 uses a statement with exactly 100 rows (our backend pads
 * batches to a power of two, 128, to bound the number of prepared texts).
 *
 * @since 0.0.0
 */
import mysql from "mysql2/promise"
import { operationsOf, poolSize } from "../Model.ts"
import * as Subject from "../Subject.ts"
import * as Workload from "../Workload.ts"

const quote = (name: string) => `\`${name.replace(/`/g, "``")}\``

/**
 * The statements of our MySQL backend (`packages/mysql/src/internal/statements.ts`),
 * repeated here because a package's internals are closed to the others.
 *
 * @category constructors
 * @since 0.0.0
 */
export const statements = (table: string, batch: number) => {
  const t = quote(table)
  const live = "(`expires_at` IS NULL OR `expires_at` > ?)"
  const columns = "(`namespace`, `key`, `value`, `kind`, `expires_at`)"
  const upsert = "ON DUPLICATE KEY UPDATE `value` = VALUES(`value`), `kind` = VALUES(`kind`), " +
    "`expires_at` = VALUES(`expires_at`)"
  return {
    get: `SELECT \`value\`, \`kind\` FROM ${t} WHERE \`namespace\` = ? AND \`key\` = ? AND ${live}`,
    getForUpdate: `SELECT \`value\`, \`kind\` FROM ${t} WHERE \`namespace\` = ? AND \`key\` = ? AND ${live} FOR UPDATE`,
    getMany: `SELECT \`key\`, \`value\`, \`kind\` FROM ${t} WHERE \`namespace\` = ? AND \`key\` IN (${
      Array.from({ length: batch }, () => "?").join(", ")
    }) AND ${live}`,
    set: `INSERT INTO ${t} ${columns} VALUES (?, ?, ?, ?, ?) ${upsert}`,
    setMany: `INSERT INTO ${t} ${columns} VALUES ${Array.from({ length: batch }, () => "(?, ?, ?, ?, ?)").join(", ")} ${upsert}`,
    update: `UPDATE ${t} SET \`value\` = ?, \`kind\` = ? WHERE \`namespace\` = ? AND \`key\` = ?`,
    remove: `DELETE FROM ${t} WHERE \`namespace\` = ? AND \`key\` = ?`
  }
}

const utf8 = (text: string): Buffer => Buffer.from(text, "utf8")

interface Row {
  readonly key: Buffer
  readonly value: Buffer
  readonly kind: number
}

/**
 * Opens a pool of `poolSize` connections.
 *
 * @category constructors
 * @since 0.0.0
 */
export const pool = (url: string): mysql.Pool => mysql.createPool({ uri: url, connectionLimit: poolSize })

/**
 * Builds the raw driver's `kv` and `persistence` subjects on a migrated table.
 *
 * @category constructors
 * @since 0.0.0
 */
export const make = (options: {
  readonly url: string
  readonly table: string
  readonly workload: Workload.Workload
}): readonly [Subject.Subject, Subject.Subject] => {
  const w = options.workload
  const db = pool(options.url)
  const q = statements(options.table, Workload.batchSize)
  const kvNs = utf8(`kv:${Workload.kvName}`)
  const pNs = utf8(`persistence:${Workload.storeId}`)

  const read = async (ns: Buffer, key: string): Promise<string | undefined> => {
    const [rows] = await db.execute(q.get, [ns, utf8(key), Date.now()])
    const list = rows as Array<Row>
    return list.length === 0 ? undefined : list[0]!.value.toString("utf8")
  }
  const write = (ns: Buffer, key: string, value: string, expiresAt: number | null) =>
    db.execute(q.set, [ns, utf8(key), utf8(value), 0, expiresAt])

  const modify = async (key: string) => {
    const connection = await db.getConnection()
    try {
      await connection.query("BEGIN")
      const k = utf8(key)
      const [rows] = await connection.execute(q.getForUpdate, [kvNs, k, Date.now()])
      const current = rows as Array<Row>
      if (current.length > 0) {
        const next = Workload.modifyValue(current[0]!.value.toString("utf8"))
        await connection.execute(q.update, [utf8(next), 0, kvNs, k])
      }
      await connection.query("COMMIT")
    } catch (cause) {
      await connection.query("ROLLBACK")
      throw cause
    } finally {
      connection.release()
    }
  }

  const readMany = async (keys: ReadonlyArray<string>) => {
    const params: Array<Buffer | number> = [pNs, ...keys.map(utf8), Date.now()]
    const [rows] = await db.execute(q.getMany, params)
    const found = new Map<string, object>()
    for (const row of rows as Array<Row>) found.set(row.key.toString("latin1"), JSON.parse(row.value.toString("utf8")))
    return keys.map((key) => found.get(utf8(key).toString("latin1")))
  }
  const writeMany = (ns: Buffer, rows: ReadonlyArray<readonly [string, string, number | null]>) => {
    const params: Array<Buffer | number | null> = []
    for (const [key, value, expiresAt] of rows) params.push(ns, utf8(key), utf8(value), 0, expiresAt)
    const text = rows.length === Workload.batchSize ? q.setMany : statements(options.table, rows.length).setMany
    return db.execute(text, params)
  }
  const fill = (ns: Buffer, indexes: ReadonlyArray<number>, key: (i: number) => string, value: (i: number) => string) =>
    writeMany(ns, indexes.map((i) => [key(i), value(i), ns === pNs ? Date.now() + Workload.ttlMillis : null] as const))

  const kvOperations = {
    "get-hit": (i: number) => read(kvNs, w.hit(i)),
    "get-miss": (i: number) => read(kvNs, w.miss(i)),
    set: (i: number) => write(kvNs, w.hit(i), w.kvValue(i), null),
    remove: (i: number) => db.execute(q.remove, [kvNs, utf8(w.removable(i))]),
    modify: (i: number) => modify(w.hit(i))
  }
  const parsed = (text: string | undefined) => text === undefined ? undefined : JSON.parse(text)
  const persistenceOperations = {
    "get-hit": async (i: number) => parsed(await read(pNs, w.hit(i))),
    "get-miss": async (i: number) => parsed(await read(pNs, w.miss(i))),
    set: (i: number) => write(pNs, w.hit(i), JSON.stringify(w.payload(i)), Date.now() + Workload.ttlMillis),
    getMany100: (i: number) => readMany(w.batch(i)),
    setMany100: (i: number) => {
      const expiresAt = Date.now() + Workload.ttlMillis
      return writeMany(
        pNs,
        w.batch(i).map((key, j) => [key, JSON.stringify(w.payload(i * Workload.batchSize + j)), expiresAt] as const)
      )
    },
    remove: (i: number) => db.execute(q.remove, [pNs, utf8(w.removable(i))])
  }

  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await db.end()
  }
  const payloadText = (i: number) => JSON.stringify(w.payload(i))
  // Fill in chunks of 100 rows, rounded up, so one prepared text serves them all.
  const whole = (count: number) => Math.ceil(count / 100) * 100
  return [
    {
      database: "mariadb",
      contender: "raw-driver",
      store: "kv",
      operations: Subject.offered(operationsOf.kv, kvOperations),
      run: Subject.promiseRunner("raw-driver kv", kvOperations),
      populate: (rows) => Subject.inChunks(rows, 100, (ix) => fill(kvNs, ix, Workload.keyOf, w.kvValue)),
      writeRemovable: (count) => Subject.inChunks(whole(count), 100, (ix) => fill(kvNs, ix, w.removable, w.kvValue)),
      close
    },
    {
      database: "mariadb",
      contender: "raw-driver",
      store: "persistence",
      operations: Subject.offered(operationsOf.persistence, persistenceOperations),
      run: Subject.promiseRunner("raw-driver persistence", persistenceOperations),
      populate: (rows) => Subject.inChunks(rows, 100, (ix) => fill(pNs, ix, Workload.keyOf, payloadText)),
      writeRemovable: (count) => Subject.inChunks(whole(count), 100, (ix) => fill(pNs, ix, w.removable, payloadText)),
      close
    }
  ]
}
