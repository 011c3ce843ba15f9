/**
 * Power of two choices: sample two distinct healthy members at random and
 * take the less loaded. Nearly as even as least connections, without a scan
 * and without every gateway instance herding onto the same least-loaded
 * member (Mitzenmacher, "The Power of Two Choices in Randomized Load
 * Balancing", 2001).
 */
import type { RandomSource } from '../policy/random.js';
import type { Balancer, MemberTable } from './balancer.js';

/** Picks the less loaded of two distinct random healthy members. */
export class PowerOfTwoChoicesBalancer implements Balancer {
  /** Always `'PowerOfTwoChoices'`. */
  readonly strategy = 'PowerOfTwoChoices' as const;

  /**
   * @param table the members to choose from
   * @param random uniform source in [0, 1)
   */
  constructor(
    private readonly table: MemberTable,
    private readonly random: RandomSource,
  ) {}

  /** The less loaded of two random healthy members (the first on a tie), or -1 when none is healthy. */
  select(): number {
    const t = this.table;
    const n = t.healthyCount;
    if (n <= 1) return n === 0 ? -1 : t.healthyList[0]!;
    const list = t.healthyList;
    // One draw gives both picks without a division: x from its integer part, y
    // from the fractional rest (still uniform, with ~48 random bits), over the
    // other n - 1 slots so the two are distinct without a retry loop.
    const f = this.random() * n;
    const x = f | 0;
    let y = ((f - x) * (n - 1)) | 0;
    // Branch-free on purpose: both comparisons are coin flips, and a
    // mispredicted branch costs more than the arithmetic.
    y += (x - y - 1) >>> 31; // +1 when y >= x
    const a = list[x]!;
    const b = list[y]!;
    const m = (t.active[b]! - t.active[a]!) >> 31; // -1 when b is less loaded, else 0
    return (b & m) | (a & ~m);
  }
}
