/**
 * The SQL text of every operation, built once per table name, so each call
 * binds parameters to a statement mysql2 has already prepared on the
 * connection.
 *
 * Batch statements (`getMany`, `setMany`) have one text per row count, and
 * every text is a server-side prepared statement on every pooled connection.
 * The server caps prepared statements at `max_prepared_stmt_count` (16,382 by
 * default, for all connections together) and mysql2 only closes them when
 * its per-connection cache of 16,000 overflows, so texts for every count from
 * 1 to 1,000 would exhaust the server. Counts are therefore rounded up to a
 * power of two and the spare rows filled with a repeat of the smallest row of
 * the batch: a repeated key in an `IN` list or a repeated row of an upsert
 * changes nothing, and each table needs at most a dozen batch texts.
 *
 * @internal
 */

/** @internal */
export const quoteIdentifier = (name: string): string => `\`${name.replace(/`/g, "``")}\``

/**
 * Rows per multi-row upsert: 5 placeholders each, far under the 65,535 a
 * prepared statement may have. Also bounded by bytes, see `chunk`.
 *
 * @internal
 */
export const rowsPerInsert = 512

/** Keys per `getMany` statement: 1 placeholder each, plus 2. @internal */
export const keysPerSelect = 4096

/** Rows per sweep delete: 2 placeholders each, plus 1. @internal */
export const rowsPerSweepDelete = 4096

/** Protocol bytes per row besides its namespace, key and value. @internal */
export const rowOverhead = 64

/**
 * Splits `count` items (with their sizes in bytes) into runs of at most
 * `maxRows` items whose padded statement stays under `budget` bytes.
 *
 * **Details**
 *
 * A run of two or more items is closed before it exceeds half the budget, so
 * that padding it to the next power of two (at most doubling it, with repeats
 * of its smallest item) still fits; a single item larger than that is sent
 * alone, unpadded.
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
  const half = budget / 2
  let start = 0
  let bytes = 0
  for (let i = 0; i < count; i++) {
    const size = sizeOf(i)
    if (i > start && (i - start >= maxRows || bytes + size > half)) {
      runs.push([start, i])
      start = i
      bytes = 0
    }
    bytes += size
  }
  if (count > start) runs.push([start, count])
  return runs
}

/** The smallest power of two at or above `count`. @internal */
export const bucket = (count: number): number => {
  let size = 1
  while (size < count) size *= 2
  return size
}

/** @internal */
export const make = (table: string) => {
  const t = quoteIdentifier(table)
  const live = "(`expires_at` IS NULL OR `expires_at` > ?)"
  const columns = "(`namespace`, `key`, `value`, `kind`, `expires_at`)"
  const upsert = "ON DUPLICATE KEY UPDATE `value` = VALUES(`value`), `kind` = VALUES(`kind`), " +
    "`expires_at` = VALUES(`expires_at`)"
  const cached = (build: (count: number) => string) => {
    const texts = new Map<number, string>()
    return (count: number): string => {
      let text = texts.get(count)
      if (text === undefined) {
        text = build(count)
        // Bounded, in case a caller passes ever-new sweep batch sizes.
        if (texts.size < 64) texts.set(count, text)
      }
      return text
    }
  }
  return {
    get: `SELECT \`value\`, \`kind\` FROM ${t} WHERE \`namespace\` = ? AND \`key\` = ? AND ${live}`,
    /** Takes the row's exclusive lock until the transaction ends. */
    getForUpdate: `SELECT \`value\`, \`kind\` FROM ${t} WHERE \`namespace\` = ? AND \`key\` = ? AND ${live} FOR UPDATE`,
    /** Parameters: the namespace, `count` keys, now. `count` is a power of two. */
    getMany: cached((count) =>
      `SELECT \`key\`, \`value\`, \`kind\` FROM ${t} WHERE \`namespace\` = ? AND \`key\` IN (${
        Array.from({ length: count }, () => "?").join(", ")
      }) AND ${live}`
    ),
    set: `INSERT INTO ${t} ${columns} VALUES (?, ?, ?, ?, ?) ${upsert}`,
    /** `count` rows of 5 parameters. `count` is a power of two. */
    setMany: cached((count) =>
      `INSERT INTO ${t} ${columns} VALUES ${Array.from({ length: count }, () => "(?, ?, ?, ?, ?)").join(", ")} ${upsert}`
    ),
    update: `UPDATE ${t} SET \`value\` = ?, \`kind\` = ? WHERE \`namespace\` = ? AND \`key\` = ?`,
    remove: `DELETE FROM ${t} WHERE \`namespace\` = ? AND \`key\` = ?`,
    clear: `DELETE FROM ${t} WHERE \`namespace\` = ?`,
    clearRange: `DELETE FROM ${t} WHERE \`namespace\` = ? AND \`key\` >= ? AND \`key\` < ?`,
    clearFrom: `DELETE FROM ${t} WHERE \`namespace\` = ? AND \`key\` >= ?`,
    keys: `SELECT \`key\` FROM ${t} WHERE \`namespace\` = ? AND ${live}`,
    keysRange: `SELECT \`key\` FROM ${t} WHERE \`namespace\` = ? AND \`key\` >= ? AND \`key\` < ? AND ${live}`,
    keysFrom: `SELECT \`key\` FROM ${t} WHERE \`namespace\` = ? AND \`key\` >= ? AND ${live}`,
    size: `SELECT COUNT(*) FROM ${t} WHERE \`namespace\` = ? AND ${live}`,
    sizeRange: `SELECT COUNT(*) FROM ${t} WHERE \`namespace\` = ? AND \`key\` >= ? AND \`key\` < ? AND ${live}`,
    sizeFrom: `SELECT COUNT(*) FROM ${t} WHERE \`namespace\` = ? AND \`key\` >= ? AND ${live}`,
    /**
     * The primary keys of one bounded batch of expired rows, oldest expiry
     * first, read from the `expires_at` index alone. A sweep is two
     * statements because `DELETE ... ORDER BY expires_at, namespace, key
     * LIMIT n` (the total order statement-based replication needs) makes
     * MariaDB sort every expired row on each batch: 1.7 s per batch of 1,000
     * at 100,000 expired rows, against under 1 ms for this and 24 ms for the
     * delete by primary key. The batch size is part of the text: mysql2 binds
     * numbers as DOUBLE, which MySQL 8 refuses for `LIMIT`.
     */
    sweepSelect: cached((batchSize) =>
      `SELECT \`namespace\`, \`key\` FROM ${t} WHERE \`expires_at\` <= ? ORDER BY \`expires_at\` LIMIT ${batchSize}`
    ),
    /**
     * Deletes `count` rows by primary key (`count` a power of two, padded with
     * repeats), each only if it is still expired: a row written again since
     * the select is kept. Deterministic, so safe for statement-based replication.
     */
    sweepDelete: cached((count) =>
      `DELETE FROM ${t} WHERE (\`namespace\`, \`key\`) IN (${
        Array.from({ length: count }, () => "(?, ?)").join(", ")
      }) AND \`expires_at\` <= ?`
    )
  }
}

/** @internal */
export type Statements = ReturnType<typeof make>
