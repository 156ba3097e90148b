/**
 * effect-persist's backends (and its Kysely backend) through core's
 * derivation: Effect's `KeyValueStore` and `BackingPersistence`, exactly as an
 * application gets them from `layerKeyValueStore` / `layerBackingPersistence`.
 *
 * @since 0.0.0
 */
import { Services, StorageBackend } from "@effect-persist/core"
import * as Layer from "effect/Layer"
import type { Contender, Database } from "../Model.ts"
import * as Workload from "../Workload.ts"
import * as EffectStores from "./EffectStores.ts"

/**
 * The entries table of our backends in the benchmark.
 *
 * @category constructors
 * @since 0.0.0
 */
export const table = "bench_entries"

/**
 * The entries table of our Kysely backend in the benchmark.
 *
 * @category constructors
 * @since 0.0.0
 */
export const kyselyTable = "bench_kysely_entries"

/**
 * Builds the subjects of one of our backends from its `StorageBackend` layer.
 *
 * @category constructors
 * @since 0.0.0
 */
export const make = (options: {
  readonly database: Database
  readonly contender: Extract<Contender, "effect-persist" | "effect-persist-kysely">
  readonly backend: Layer.Layer<StorageBackend.StorageBackend, unknown>
  readonly workload: Workload.Workload
  readonly onClose?: (() => Promise<void>) | undefined
}) =>
  EffectStores.make({
    database: options.database,
    contender: options.contender,
    layer: Layer.mergeAll(
      Services.layerKeyValueStore({ name: Workload.kvName }),
      Services.layerBackingPersistence
    ).pipe(Layer.provideMerge(options.backend)),
    // Filling goes through the backend's own batch write, outside the clock.
    writeKv: (entries) =>
      StorageBackend.StorageBackend.use((backend) =>
        backend.setMany(
          Services.keyValueNamespace(Workload.kvName),
          entries.map(([key, value]) => ({ key, value }))
        )
      ),
    workload: options.workload,
    onClose: options.onClose
  })
