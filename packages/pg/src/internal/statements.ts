/**
 * The SQL text of every operation, built once per table name. Every text has
 * a fixed shape and fixed parameter types — batches travel as array
 * parameters, never as a variable number of placeholders — so each
 * connection prepares a statement once and binds to it on every later call.
 * The server then plans it once for any parameters (its generic plan), from
 * the statistics of that moment, which may be of an empty table: every
 * shape here is one whose generic plan reads by primary key or index range
 * however the table grows afterwards, except the sweep, which is sent
 * unnamed and planned per batch. The review is in the package's README.
 *
 * @internal
 */
import * as PgTypes from "@effect/sql-pg/PgTypes"
import * as Result from "effect/Result"

/** @internal */
export const quoteIdentifier = (name: string): string => `"${name.replace(/"/g, "\"\"")}"`

/**
 * Rows per `setMany` statement. Arrays keep the statement at five bind
 * parameters whatever the batch size, far under PostgreSQL's 65,535; the
 * bound keeps each statement's memory and lock footprint modest.
 *
 * @internal
 */
export const rowsPerInsert = 5000

/**
 * Payload bytes (keys and values) per `getMany` or `setMany` statement. One
 * message to the server may not exceed 1 GiB, and large statements hold
 * their row locks for longer.
 *
 * @internal
 */
export const bytesPerStatement = 32 * 1024 * 1024

const int8Min = -(2n ** 63n)
const int8Max = 2n ** 63n - 1n

/**
 * An instant in epoch milliseconds as a `bigint` parameter. Rounded up, so
 * that for whole-millisecond clocks `expires_at > now` is exactly
 * `expiresAt > now`; for fractional clocks an entry may expire up to a
 * millisecond early, never late. Clamped to the `bigint` range.
 *
 * @internal
 */
export const instant = (millis: number): bigint => {
  const rounded = BigInt(Math.ceil(millis))
  return rounded < int8Min ? int8Min : rounded > int8Max ? int8Max : rounded
}

/** @internal */
export const int8 = (millis: number | undefined): PgTypes.Parameter =>
  PgTypes.int8(millis === undefined ? null : instant(millis))

/** @internal */
export const bytea = (bytes: Uint8Array): PgTypes.Parameter => PgTypes.bytea(bytes)

/** @internal */
export const int2 = (value: number): PgTypes.Parameter => PgTypes.int2(value)

/** @internal */
export const byteaArray = (values: ReadonlyArray<Uint8Array>): PgTypes.Parameter =>
  Result.getOrThrow(PgTypes.array(values, PgTypes.OID.bytea))

/** @internal */
export const int2Array = (values: ReadonlyArray<number>): PgTypes.Parameter =>
  Result.getOrThrow(PgTypes.array(values, PgTypes.OID.int2))

/** @internal */
export const int8Array = (values: ReadonlyArray<bigint | null>): PgTypes.Parameter =>
  Result.getOrThrow(PgTypes.array(values, PgTypes.OID.int8))

/** @internal */
export const make = (table: string) => {
  const t = quoteIdentifier(table)
  const live = (n: number, alias = "") =>
    `(${alias}expires_at IS NULL OR ${alias}expires_at > $${n})`
  const upsert = `ON CONFLICT (namespace, key) DO UPDATE
SET value = EXCLUDED.value, kind = EXCLUDED.kind, expires_at = EXCLUDED.expires_at`
  return {
    /** $1 namespace, $2 key, $3 now */
    get: `SELECT value, kind FROM ${t} WHERE namespace = $1 AND key = $2 AND ${live(3)}`,
    /** $1 namespace, $2 key, $3 now: locks the live row until the transaction ends. */
    getForUpdate: `SELECT value, kind FROM ${t} WHERE namespace = $1 AND key = $2 AND ${live(3)} FOR UPDATE`,
    /**
     * $1 namespace, $2 keys (bytea[]), $3 now. One row per live key,
     * carrying its 1-based position in the input, so repeated and missing
     * keys are answered in input order.
     *
     * Each key is looked up by primary key in a LATERAL subquery. Its LIMIT
     * keeps the planner from flattening it into a join, so the only plan
     * left is a nested loop over the keys: a plain join let a generic plan
     * made while the table was empty read the whole namespace on every call
     * once it had grown (see test/plans.test.ts).
     */
    getMany: `SELECT k.i, e.value, e.kind
FROM unnest($2::bytea[]) WITH ORDINALITY AS k(key, i)
CROSS JOIN LATERAL (
  SELECT value, kind FROM ${t}
  WHERE namespace = $1 AND key = k.key AND ${live(3)}
  LIMIT 1
) AS e`,
    /** $1 namespace, $2 key, $3 value, $4 kind, $5 expires_at */
    set: `INSERT INTO ${t} (namespace, key, value, kind, expires_at) VALUES ($1, $2, $3, $4, $5)
${upsert}`,
    /**
     * $1 namespace, $2 keys, $3 values, $4 kinds, $5 expiries (arrays of one
     * length). A key repeated in the arrays keeps its last entry (ON CONFLICT
     * cannot touch a row twice in one statement), and rows are written in key
     * order, so concurrent batches take their row locks in the same order and
     * cannot deadlock each other.
     */
    setMany: `INSERT INTO ${t} (namespace, key, value, kind, expires_at)
SELECT DISTINCT ON (u.key) $1::bytea, u.key, u.value, u.kind, u.expires_at
FROM unnest($2::bytea[], $3::bytea[], $4::int2[], $5::int8[]) WITH ORDINALITY AS u(key, value, kind, expires_at, i)
ORDER BY u.key, u.i DESC
${upsert}`,
    /** $1 value, $2 kind, $3 namespace, $4 key */
    update: `UPDATE ${t} SET value = $1, kind = $2 WHERE namespace = $3 AND key = $4`,
    /** $1 namespace, $2 key */
    remove: `DELETE FROM ${t} WHERE namespace = $1 AND key = $2`,
    /** $1 namespace */
    clear: `DELETE FROM ${t} WHERE namespace = $1`,
    /** $1 namespace, $2 low, $3 high */
    clearRange: `DELETE FROM ${t} WHERE namespace = $1 AND key >= $2 AND key < $3`,
    /** $1 namespace, $2 now */
    keys: `SELECT key FROM ${t} WHERE namespace = $1 AND ${live(2)}`,
    /** $1 namespace, $2 low, $3 high, $4 now */
    keysRange: `SELECT key FROM ${t} WHERE namespace = $1 AND key >= $2 AND key < $3 AND ${live(4)}`,
    /** $1 namespace, $2 now */
    size: `SELECT count(*) FROM ${t} WHERE namespace = $1 AND ${live(2)}`,
    /** $1 namespace, $2 low, $3 high, $4 now */
    sizeRange: `SELECT count(*) FROM ${t} WHERE namespace = $1 AND key >= $2 AND key < $3 AND ${live(4)}`,
    /**
     * $1 now, $2 batch size → the number of rows deleted. Deletes one batch
     * of expired rows, oldest expiry first through the partial index. SKIP
     * LOCKED passes over rows a writer holds, so the sweep never waits for
     * writers; FOR UPDATE re-checks a row that a writer changed meanwhile,
     * so an entry re-set with a later expiry survives.
     *
     * Sent unnamed, so planned afresh for each batch: no query shape keeps
     * the join of the batch with the table on the primary key in a generic
     * plan made while the table was small, which hashes a scan of the whole
     * table on every batch once it has grown. Planned for its parameters
     * and the table's current size, the batch (gathered into arrays and
     * unnested, estimated at a handful of rows) is found by primary key.
     */
    sweep: `WITH deleted AS (
  DELETE FROM ${t} USING (
    SELECT unnest(locked.namespaces) AS namespace, unnest(locked.keys) AS key
    FROM (
      SELECT array_agg(expired.namespace) AS namespaces, array_agg(expired.key) AS keys
      FROM (
        SELECT namespace, key FROM ${t}
        WHERE expires_at <= $1
        ORDER BY expires_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED
      ) AS expired
    ) AS locked
  ) AS batch
  WHERE ${t}.namespace = batch.namespace AND ${t}.key = batch.key
  RETURNING 1
)
SELECT count(*) FROM deleted`
  }
}

/** @internal */
export type Statements = ReturnType<typeof make>
