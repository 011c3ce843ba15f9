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

/** A small deterministic PRNG (mulberry32), so property tests are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
