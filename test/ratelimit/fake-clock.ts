import { seededRandom } from '../../src/policy/random.js';

/** A clock tests move by hand. */
export class FakeClock {
  constructor(public t = 0) {}
  /** The clock function to inject. */
  readonly now = (): number => this.t;
  /** Moves to `t` (backwards too). */
  set(t: number): void {
    this.t = t;
  }
  /** Moves forward by `ms`. */
  advance(ms: number): void {
    this.t += ms;
  }
}

/** A small deterministic PRNG, so property tests are reproducible: the policies' own. */
export const prng = seededRandom;
