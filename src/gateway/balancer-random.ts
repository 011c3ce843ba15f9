/**
 * Random: a uniform pick among healthy members. No shared cursor, so the
 * cheapest strategy (the seed's choice for throughput).
 */
import type { RandomSource } from '../policy/random.js';
import type { Balancer, MemberTable } from './balancer.js';

/** Picks a healthy member uniformly at random. */
export class RandomBalancer implements Balancer {
  /** Always `'Random'`. */
  readonly strategy = 'Random' as const;

  /**
   * @param table the members to choose from
   * @param random uniform source in [0, 1)
   */
  constructor(
    private readonly table: MemberTable,
    private readonly random: RandomSource,
  ) {}

  /** A uniformly random healthy member, or -1 when none is healthy. */
  select(): number {
    const t = this.table;
    const n = t.healthyCount;
    if (n === 0) return -1;
    return t.healthyList[(this.random() * n) | 0]!;
  }
}
