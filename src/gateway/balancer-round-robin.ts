/**
 * Round robin: healthy members in turn. Equal shares whatever the load;
 * the cheapest strategy after Random.
 */
import type { Balancer, MemberTable } from './balancer.js';

/** Picks healthy members in index order, one after the other. */
export class RoundRobinBalancer implements Balancer {
  /** Always `'RoundRobin'`. */
  readonly strategy = 'RoundRobin' as const;
  private cursor = -1;

  /** @param table the members to choose from */
  constructor(private readonly table: MemberTable) {}

  /** The next healthy member after the previous pick, or -1 when none is healthy. */
  select(): number {
    const t = this.table;
    const n = t.healthyCount;
    if (n === 0) return -1;
    // The cursor indexes the healthy list, so a health change may leave it past the end.
    let c = this.cursor + 1;
    if (c >= n) c = 0;
    this.cursor = c;
    return t.healthyList[c]!;
  }
}
