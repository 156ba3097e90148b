/**
 * The PostgreSQL floor: node-postgres (`pg`) running the statements of our
 * PostgreSQL backend as named (prepared) statements on a pool of 10, with no
 * Effect in between: keys as UTF-8 bytes, expiry checked, batches as array
 * parameters, `modify` as SELECT ... FOR UPDATE and UPDATE in a transaction.
 *
 * @since 0.0.0
 */
import pg from "pg"
import { operationsOf, poolSize } from "../Model.ts"
import * as Subject from "../Subject.ts"
import * as Workload from "../Workload.ts"

const quote = (name: string) => `"${name.replace(/"/g, "\"\"")}"`

/**
 * The statements of our PostgreSQL backend (`packages/pg/src/internal/statements.ts`),
 * repeated here because a package's internals are closed to the others.
 *
 * @category constructors
 * @since 0.0.0
 */
export const statements = (table: string) => {
  const t = quote(table)
  const live = (n: number, alias = "") => `(${alias}expires_at IS NULL OR ${alias}expires_at > $${n})`
  const upsert = `ON CONFLICT (namespace, key) DO UPDATE
SET value = EXCLUDED.value, kind = EXCLUDED.kind, expires_at = EXCLUDED.expires_at`
  return {
    get: `SELECT value, kind FROM ${t} WHERE namespace = $1 AND key = $2 AND ${live(3)}`,
    getForUpdate: `SELECT value, kind FROM ${t} WHERE namespace = $1 AND key = $2 AND ${live(3)} FOR UPDATE`,
    getMany: `SELECT k.i, e.value, e.kind
FROM unnest($2::bytea[]) WITH ORDINALITY AS k(key, i)
CROSS JOIN LATERAL (
  SELECT value, kind FROM ${t}
  WHERE namespace = $1 AND key = k.key AND ${live(3)}
  LIMIT 1
) AS e`,
    set: `INSERT INTO ${t} (namespace, key, value, kind, expires_at) VALUES ($1, $2, $3, $4, $5)
${upsert}`,
    setMany: `INSERT INTO ${t} (namespace, key, value, kind, expires_at)
SELECT DISTINCT ON (u.key) $1::bytea, u.key, u.value, u.kind, u.expires_at
FROM unnest($2::bytea[], $3::bytea[], $4::int2[], $5::int8[]) WITH ORDINALITY AS u(key, value, kind, expires_at, i)
ORDER BY u.key, u.i DESC
${upsert}`,
    update: `UPDATE ${t} SET value = $1, kind = $2 WHERE namespace = $3 AND key = $4`,
    remove: `DELETE FROM ${t} WHERE namespace = $1 AND key = $2`
  }
}

const utf8 = (text: string): Buffer => Buffer.from(text, "utf8")

interface Row {
  readonly value: Buffer
  readonly kind: number
}

/**
 * Opens a pool of `poolSize` connections that survives the server dropping
 * an idle one.
 *
 * @category constructors
 * @since 0.0.0
 */
export const pool = (url: string): pg.Pool => {
  const opened = new pg.Pool({ connectionString: url, max: poolSize })
  // An idle connection the server drops is an 'error' event on the pool;
  // unheard, it would end the process. The next query reconnects.
  opened.on("error", () => {})
  return opened
}

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
  const q = statements(options.table)
  const name = (statement: keyof typeof q) => `bench_${statement}`
  const kvNs = utf8(`kv:${Workload.kvName}`)
  const pNs = utf8(`persistence:${Workload.storeId}`)

  const read = async (ns: Buffer, key: string): Promise<string | undefined> => {
    const result = await db.query<Row>({ name: name("get"), text: q.get, values: [ns, utf8(key), Date.now()] })
    return result.rows.length === 0 ? undefined : result.rows[0]!.value.toString("utf8")
  }
  const write = (ns: Buffer, key: string, value: string, expiresAt: number | null) =>
    db.query({ name: name("set"), text: q.set, values: [ns, utf8(key), utf8(value), 0, expiresAt] })

  const modify = async (key: string) => {
    const client = await db.connect()
    try {
      await client.query("BEGIN")
      const k = utf8(key)
      const current = await client.query<Row>({
        name: name("getForUpdate"),
        text: q.getForUpdate,
        values: [kvNs, k, Date.now()]
      })
      if (current.rows.length > 0) {
        const next = Workload.modifyValue(current.rows[0]!.value.toString("utf8"))
        await client.query({ name: name("update"), text: q.update, values: [utf8(next), 0, kvNs, k] })
      }
      await client.query("COMMIT")
    } catch (cause) {
      await client.query("ROLLBACK")
      throw cause
    } finally {
      client.release()
    }
  }

  const readMany = async (keys: ReadonlyArray<string>) => {
    const result = await db.query<{ readonly i: string; readonly value: Buffer }>({
      name: name("getMany"),
      text: q.getMany,
      values: [pNs, keys.map(utf8), Date.now()]
    })
    const out = new Array<object | undefined>(keys.length).fill(undefined)
    for (const row of result.rows) out[Number(row.i) - 1] = JSON.parse(row.value.toString("utf8"))
    return out
  }
  const writeMany = (ns: Buffer, rows: ReadonlyArray<readonly [string, string, number | null]>) =>
    db.query({
      name: name("setMany"),
      text: q.setMany,
      values: [
        ns,
        rows.map(([key]) => utf8(key)),
        rows.map(([, value]) => utf8(value)),
        rows.map(() => 0),
        rows.map(([, , expiresAt]) => expiresAt)
      ]
    })
  const fill = (ns: Buffer, indexes: ReadonlyArray<number>, key: (i: number) => string, value: (i: number) => string) =>
    writeMany(ns, indexes.map((i) => [key(i), value(i), ns === pNs ? Date.now() + Workload.ttlMillis : null] as const))

  const kvOperations = {
    "get-hit": (i: number) => read(kvNs, w.hit(i)),
    "get-miss": (i: number) => read(kvNs, w.miss(i)),
    set: (i: number) => write(kvNs, w.hit(i), w.kvValue(i), null),
    remove: (i: number) => db.query({ name: name("remove"), text: q.remove, values: [kvNs, utf8(w.removable(i))] }),
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
    remove: (i: number) => db.query({ name: name("remove"), text: q.remove, values: [pNs, utf8(w.removable(i))] })
  }

  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await db.end()
  }
  const payloadText = (i: number) => JSON.stringify(w.payload(i))
  return [
    {
      database: "pg",
      contender: "raw-driver",
      store: "kv",
      operations: Subject.offered(operationsOf.kv, kvOperations),
      run: Subject.promiseRunner("raw-driver kv", kvOperations),
      populate: (rows) => Subject.inChunks(rows, 1000, (ix) => fill(kvNs, ix, Workload.keyOf, w.kvValue)),
      writeRemovable: (count) => Subject.inChunks(count, 1000, (ix) => fill(kvNs, ix, w.removable, w.kvValue)),
      close
    },
    {
      database: "pg",
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
