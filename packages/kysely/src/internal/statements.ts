/**
 * Every operation's query, built once per table with Kysely's query builder
 * and compiled once; each call then binds its parameters to the compiled
 * text, so no call builds SQL (the database or driver may also reuse its
 * prepared statement). Batch statements have one text per row count, kept
 * in a bounded cache.
 *
 * @internal
 */
import { type Compilable, type CompiledQuery, type Kysely, sql } from "kysely"
import type { Spec } from "./dialect.ts"

/** A placeholder standing for the call's parameter at `index`. */
class Slot {
  readonly index: number
  constructor(index: number) {
    this.index = index
  }
}

const slot = (index: number): any => new Slot(index)

/**
 * A compiled query whose parameters are placeholders, with the position of
 * each call parameter in the compiled parameter list.
 *
 * @internal
 */
export interface Template {
  readonly compiled: CompiledQuery
  readonly slots: ReadonlyArray<number>
}

const template = (query: Compilable): Template => {
  const compiled = query.compile()
  const slots = compiled.parameters.map((parameter) => {
    if (!(parameter instanceof Slot)) {
      throw new TypeError(`@effect-persist/kysely: unexpected literal parameter in ${compiled.sql}`)
    }
    return parameter.index
  })
  return { compiled, slots }
}

let nextQueryId = 0

/**
 * The compiled query with this call's parameters. A fresh query id per call:
 * drivers that cancel queries (mysql2's kill query) tell calls apart by it.
 *
 * @internal
 */
export const bind = (t: Template, parameters: ReadonlyArray<unknown>): CompiledQuery => ({
  query: t.compiled.query,
  sql: t.compiled.sql,
  queryId: { queryId: `effect-persist-${++nextQueryId}` },
  parameters: t.slots.map((index) => parameters[index])
})

const cached = (build: (count: number) => Template) => {
  const texts = new Map<number, Template>()
  return (count: number): Template => {
    let text = texts.get(count)
    if (text === undefined) {
      text = build(count)
      // Bounded: batch sizes are mostly the full chunk size plus one remainder.
      if (texts.size < 64) texts.set(count, text)
    }
    return text
  }
}

/**
 * The statements of one table. Parameter order is given per statement;
 * namespaces, keys and values are bytes, instants integers.
 *
 * @internal
 */
export const make = (db: Kysely<any>, spec: Spec, table: string, readLimit: number) => {
  const live = (eb: any, now: unknown, column = "expires_at") =>
    eb.or([eb(column, "is", null), eb(column, ">", now)])

  const select = (columns: ReadonlyArray<any>) =>
    db.selectFrom(table).select(columns as Array<any>).where("namespace", "=", slot(0))

  /**
   * The value columns of a read. On PostgreSQL a value over `readLimit`
   * bytes is left out (its size is sent instead): node-postgres reads a row's
   * fields as text, `bytea` as two hexadecimal characters per byte, and a
   * field longer than a JavaScript string can hold (about 268 MB of bytea)
   * throws inside the client's socket handler, which ends the process.
   */
  const value: ReadonlyArray<any> = spec.name === "pg"
    ? [
      sql`case when octet_length(${sql.ref("value")}) <= ${sql.lit(readLimit)} then ${sql.ref("value")} end`.as("value"),
      "kind",
      sql`octet_length(${sql.ref("value")})`.as("size")
    ]
    : ["value", "kind"]

  const upsert = (insert: any): Compilable =>
    spec.name === "mysql"
      ? insert.onDuplicateKeyUpdate({
        value: sql`values(${sql.ref("value")})`,
        kind: sql`values(${sql.ref("kind")})`,
        expires_at: sql`values(${sql.ref("expires_at")})`
      })
      : insert.onConflict((oc: any) =>
        oc.columns(["namespace", "key"]).doUpdateSet((eb: any) => ({
          value: eb.ref("excluded.value"),
          kind: eb.ref("excluded.kind"),
          expires_at: eb.ref("excluded.expires_at")
        }))
      )

  const row = (first: number) => ({
    namespace: slot(first),
    key: slot(first + 1),
    value: slot(first + 2),
    kind: slot(first + 3),
    expires_at: slot(first + 4)
  })

  const inRange = (query: any, bounds: "none" | "from" | "range") =>
    bounds === "none"
      ? query
      : bounds === "from"
      ? query.where("key", ">=", slot(1))
      : query.where("key", ">=", slot(1)).where("key", "<", slot(2))

  /** Parameters: namespace, [low, [high]], now (last). */
  const keys = (bounds: "none" | "from" | "range") => {
    const now = slot(bounds === "none" ? 1 : bounds === "from" ? 2 : 3)
    return template(inRange(select(["key"]), bounds).where((eb: any) => live(eb, now)))
  }

  /** Parameters: namespace, [low, [high]], now (last). */
  const size = (bounds: "none" | "from" | "range") => {
    const now = slot(bounds === "none" ? 1 : bounds === "from" ? 2 : 3)
    return template(
      inRange(
        db.selectFrom(table).select((eb: any) => eb.fn.countAll().as("n")).where("namespace", "=", slot(0)),
        bounds
      ).where((eb: any) => live(eb, now))
    )
  }

  const clear = (bounds: "none" | "from" | "range") =>
    template(inRange(db.deleteFrom(table).where("namespace", "=", slot(0)), bounds))

  /**
   * PostgreSQL's `getMany`: each key looked up by primary key in a LATERAL
   * subquery, which its LIMIT keeps from being flattened into a join. A
   * driver that names its statements (postgres.js, for one) lets the server
   * keep one generic plan per text; for `key IN (...)` a generic plan made
   * while the table was empty reads the whole namespace and filters it by
   * the list, on every call, after the table has grown.
   */
  const lookups = (count: number): Compilable => {
    const t = sql.table(table)
    const v = sql.ref("value")
    const keys = sql.join(Array.from({ length: count }, (_, i) => sql`(${slot(2 + i)}::bytea)`))
    const query = sql`select k.key, e.value, e.kind, e.size from (values ${keys}) as k(key)
cross join lateral (
  select case when octet_length(${v}) <= ${sql.lit(readLimit)} then ${v} end as value, ${sql.ref("kind")},
    octet_length(${v}) as size
  from ${t}
  where ${sql.ref("namespace")} = ${slot(0)} and ${sql.ref("key")} = k.key
    and (${sql.ref("expires_at")} is null or ${sql.ref("expires_at")} > ${slot(1)})
  limit 1
) as e`
    return { compile: () => query.compile(db) }
  }

  const sweep = (): Compilable => {
    if (spec.name === "mysql") {
      // The first of two steps (see sweepDelete): the primary keys of one
      // batch, oldest expiry first, read from the expires_at index alone.
      // `DELETE ... ORDER BY expires_at, namespace, key LIMIT n`, the total
      // order statement-based replication needs, makes MariaDB sort every
      // expired row on each batch (1.7 s per batch at 100,000 expired rows).
      return db.selectFrom(table).select(["namespace", "key"]).where("expires_at", "<=", slot(0))
        .orderBy("expires_at").limit(slot(1))
    }
    if (spec.name === "pg") {
      // SKIP LOCKED passes over rows a writer holds, so a sweep never waits for
      // writers; FOR UPDATE re-checks a row a writer changed meanwhile, so an
      // entry re-set with a later expiry survives. Planned for its
      // parameters (node-postgres, behind Kysely's PostgresDialect, sends
      // every statement unnamed), each row of the batch is deleted by
      // primary key. A generic plan made while the table was small, which a
      // driver that names statements lets the server keep, hashes a scan of
      // the whole table instead; no shape of this delete prevents that, and
      // a setting would need a transaction per batch (see the README).
      return db.deleteFrom(table).where((eb: any) =>
        eb(
          eb.refTuple("namespace", "key"),
          "in",
          eb.selectFrom(table).select(["namespace", "key"]).where("expires_at", "<=", slot(0))
            .orderBy("expires_at").limit(slot(1)).forUpdate().skipLocked()
        )
      )
    }
    return db.deleteFrom(table).where("rowid", "in", (eb: any) =>
      eb.selectFrom(table).select("rowid").where("expires_at", "<=", slot(0)).limit(slot(1)))
  }

  return {
    /** namespace, key, now → value, kind (and on PostgreSQL size; value is null over `readLimit`) */
    get: template(select(value).where("key", "=", slot(1)).where((eb: any) => live(eb, slot(2)))),
    /** namespace, key, now → value, kind; locks the live row until the transaction ends (PostgreSQL, MySQL). */
    getForUpdate: template(
      select(value).where("key", "=", slot(1)).where((eb: any) => live(eb, slot(2))).forUpdate()
    ),
    /** namespace, now, `count` keys → key, value, kind (and size, as `get`) */
    getMany: cached((count) =>
      template(
        spec.name === "pg"
          ? lookups(count)
          : select(["key", ...value])
            .where("key", "in", Array.from({ length: count }, (_, i) => slot(2 + i)))
            .where((eb: any) => live(eb, slot(1)))
      )
    ),
    /** namespace, key, value, kind, expires_at */
    set: template(upsert(db.insertInto(table).values(row(0)))),
    /** `count` rows of namespace, key, value, kind, expires_at */
    setMany: cached((count) =>
      template(upsert(db.insertInto(table).values(Array.from({ length: count }, (_, i) => row(5 * i)))))
    ),
    /** value, kind, namespace, key */
    update: template(
      db.updateTable(table).set({ value: slot(0), kind: slot(1) }).where("namespace", "=", slot(2))
        .where("key", "=", slot(3))
    ),
    /** namespace, key */
    remove: template(db.deleteFrom(table).where("namespace", "=", slot(0)).where("key", "=", slot(1))),
    /** namespace */
    clear: clear("none"),
    /** namespace, low */
    clearFrom: clear("from"),
    /** namespace, low, high */
    clearRange: clear("range"),
    /** namespace, now */
    keys: keys("none"),
    /** namespace, low, now */
    keysFrom: keys("from"),
    /** namespace, low, high, now */
    keysRange: keys("range"),
    /** namespace, now → n */
    size: size("none"),
    /** namespace, low, now → n */
    sizeFrom: size("from"),
    /** namespace, low, high, now → n */
    sizeRange: size("range"),
    /**
     * now, batch size: deletes one bounded batch of expired rows of every
     * namespace; on MySQL, selects the primary keys of that batch → namespace, key.
     */
    sweep: template(sweep()),
    /**
     * MySQL: `count` pairs of namespace and key, then now. Deletes those rows
     * that are still expired (a row written again since is kept), by primary key.
     */
    sweepDelete: cached((count) =>
      template(
        db.deleteFrom(table).where((eb: any) =>
          eb(
            eb.refTuple("namespace", "key"),
            "in",
            Array.from({ length: count }, (_, i) => eb.tuple(slot(2 * i), slot(2 * i + 1)))
          )
        ).where("expires_at", "<=", slot(2 * count))
      )
    )
  }
}

/** @internal */
export type Statements = ReturnType<typeof make>

/**
 * Splits `count` items into runs of at most `maxRows` items whose sizes sum
 * to at most `budget`; an item larger than the budget goes alone.
 *
 * @internal
 */
export const chunk = (
  count: number,
  sizeOf: (index: number) => number,
  maxRows: number,
  budget: number
): ReadonlyArray<readonly [start: number, end: number]> => {
  const runs: Array<readonly [number, number]> = []
  let start = 0
  let bytes = 0
  for (let i = 0; i < count; i++) {
    const size = sizeOf(i)
    if (i > start && (i - start >= maxRows || bytes + size > budget)) {
      runs.push([start, i])
      start = i
      bytes = 0
    }
    bytes += size
  }
  if (count > start) runs.push([start, count])
  return runs
}
