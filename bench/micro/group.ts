/**
 * What a micro-benchmark group is: named cases, each a batch of operations
 * timed together (a single 2 ns operation would measure the timer), with
 * the seed's published figure beside it where there is one.
 *
 * Dead-code elimination: a case returns a number derived from its work and
 * the runner folds every return into a sink it prints, and the state a case
 * mutates lives on objects the group also reads after the run (`check`).
 */

/** One measured operation. */
export interface MicroCase {
  /** Row name, e.g. increment_connections. */
  readonly name: string;
  /** Operations one call of `run` performs. */
  readonly opsPerCall: number;
  /** Performs `opsPerCall` operations; returns something derived from them. */
  readonly run: () => number;
  /** The seed's figure for this operation, if it published one. */
  readonly seed?: { readonly opsPerSecond: number; readonly nsPerOp: number };
  /** Marks a comparison row (another library), not held to the target. */
  readonly reference?: boolean;
}

/** A group of cases run by `npm run bench:micro -- <group>`. */
export interface MicroGroup {
  readonly title: string;
  /** Operations per second each non-reference case should reach (PERFORMANCE.md). */
  readonly targetOpsPerSecond?: number;
  readonly cases: readonly MicroCase[];
  /** After the run: throws if the work did not happen (the measured code was optimised away). */
  check?(): void | Promise<void>;
}
