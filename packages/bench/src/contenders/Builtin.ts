/**
 * Effect's own SQL stores, the baseline effect-persist replaces:
 * `KeyValueStore.layerSql` and `Persistence.layerBackingSql`, on the same
 * `SqlClient` a user would give them. They create their tables themselves
 * (`layerBackingSql` always names its table `effect_persistence`, which is why
 * the server databases run in a database of the benchmark's own).
 *
 * @since 0.0.0
 */
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as KeyValueStore from "effect/persistence/KeyValueStore"
import * as Persistence from "effect/persistence/Persistence"
import * as SqlClient from "effect/sql/SqlClient"
import type { Database } from "../Model.ts"
import type * as Workload from "../Workload.ts"
import * as EffectStores from "./EffectStores.ts"

/**
 * The table of the built-in `KeyValueStore`.
 *
 * @category constructors
 * @since 0.0.0
 */
export const kvTable = "bench_builtin_kv"

const encoder = new TextEncoder()

// `layerSql` has no batch write: rows go in with the same upsert it uses,
// many at a time, straight through the client.
const writeKv: EffectStores.KvBulkWrite<SqlClient.SqlClient> = (entries) =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const rows = entries.map(([id, value]) => ({ id, value: encoder.encode(value), value_type: 0 }))
    if (!Arr.isArrayNonEmpty(rows)) return
    yield* sql.onDialectOrElse({
      mysql: () =>
        sql`INSERT INTO ${sql(kvTable)} ${
          sql.insert(rows)
        } ON DUPLICATE KEY UPDATE value = VALUES(value), value_type = VALUES(value_type)`,
      orElse: () =>
        sql`INSERT INTO ${sql(kvTable)} ${
          sql.insert(rows)
        } ON CONFLICT (id) DO UPDATE SET value = excluded.value, value_type = excluded.value_type`
    })
  })

/**
 * Builds the built-in stores' subjects on the given client layer.
 *
 * @category constructors
 * @since 0.0.0
 */
export const make = (options: {
  readonly database: Database
  readonly client: Layer.Layer<SqlClient.SqlClient, unknown>
  readonly workload: Workload.Workload
  readonly onClose?: (() => Promise<void>) | undefined
}) =>
  EffectStores.make({
    database: options.database,
    contender: "effect-builtin",
    layer: Layer.mergeAll(KeyValueStore.layerSql({ table: kvTable }), Persistence.layerBackingSql).pipe(
      Layer.provideMerge(options.client)
    ),
    writeKv,
    workload: options.workload,
    onClose: options.onClose
  })
