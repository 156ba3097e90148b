/**
 * Records the text of every SQL statement a store sends, through Effect's
 * tracer: each statement of an Effect SQL client runs in a span that carries
 * its text as the `db.query.text` attribute. The hostile-input scenario uses
 * it to show that no input ever becomes part of a statement's text.
 *
 * @since 0.0.0
 */
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"

/**
 * The attribute Effect's SQL clients put a statement's text in.
 *
 * @category constructors
 * @since 0.0.0
 */
export const queryTextAttribute = "db.query.text"

/**
 * A recorder of statement texts.
 *
 * @category models
 * @since 0.0.0
 */
export interface Recorder {
  /** Distinct texts, with how many times each was sent. */
  readonly texts: Map<string, number>
  /** Runs an effect with the recording tracer. */
  readonly record: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Forgets what was recorded. */
  readonly reset: () => void
}

/**
 * Creates a recorder.
 *
 * @category constructors
 * @since 0.0.0
 */
export const make = (): Recorder => {
  const texts = new Map<string, number>()
  class RecordingSpan extends Tracer.NativeSpan {
    override attribute(key: string, value: unknown): void {
      if (key === queryTextAttribute && typeof value === "string") texts.set(value, (texts.get(value) ?? 0) + 1)
      super.attribute(key, value)
    }
  }
  const tracer = Tracer.make({ span: (options) => new RecordingSpan(options) })
  return {
    texts,
    record: (effect) => Effect.withTracer(effect, tracer),
    reset: () => texts.clear()
  }
}
