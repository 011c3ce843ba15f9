/**
 * The random source policies and balancers draw from: injected, so tests
 * and benchmarks are exact with a fixed seed.
 */

/** A source of uniform numbers in [0, 1): {@link seededRandom} with a fixed seed in tests. */
export type RandomSource = () => number;

/**
 * A small deterministic PRNG (mulberry32) for tests and benchmarks: the same
 * seed gives the same sequence, uniform in [0, 1).
 */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
