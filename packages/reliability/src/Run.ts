/**
 * The identity of one run of the suite. Colleagues' `npm test` runs this
 * suite too, at the same time, against the same servers: every table and
 * database user a run creates carries this run's identity, so that one
 * run's clean-up never drops what another run is using.
 *
 * @since 0.0.0
 */
import { randomBytes } from "node:crypto"

/**
 * A short identifier of this run: letters and digits, unique among the runs
 * on one machine. `EFFECT_PERSIST_RUN_ID` sets it (for the child processes a
 * test starts, which must use their parent's).
 *
 * @category constructors
 * @since 0.0.0
 */
export const id: string = process.env.EFFECT_PERSIST_RUN_ID ??
  `${process.pid.toString(36)}${randomBytes(3).toString("hex")}`

/**
 * A name of this run's own: `<base>_<run id>`, within the 48 characters a
 * table name may have.
 *
 * @category constructors
 * @since 0.0.0
 */
export const name = (base: string): string => `${base}_${id}`.slice(0, 48)
