/**
 * Smooth weighted round robin, nginx's algorithm
 * (ngx_http_upstream_get_peer): on every pick each healthy member's
 * `current` grows by its weight, the member with the largest `current` is
 * chosen, and the chosen one's `current` drops by the total weight. Weights
 * 5:1:1 give a a b a c a a — interleaved, not a a a a a b c.
 *
 * The sequence is periodic with period = sum of healthy weights, so it is
 * computed once per health or weight change into a schedule and each pick is
 * an array read. Past {@link MAX_SCHEDULE} entries it runs the algorithm
 * live instead (the same sequence, a scan per pick).
 */
import type { Balancer, MemberTable } from './balancer.js';

/** Largest precomputed schedule (sum of healthy weights); beyond it picks are computed live. */
export const MAX_SCHEDULE = 65_536;

/** nginx's smooth weighted round robin over healthy members. */
export class WeightedRoundRobinBalancer implements Balancer {
  /** Always `'WeightedRoundRobin'`. */
  readonly strategy = 'WeightedRoundRobin' as const;
  private readonly current: Float64Array;
  private schedule: Int32Array = new Int32Array(0);
  private period = 0;
  private cursor = 0;
  private version = -1;
  private live = false;

  /** @param table the members to choose from; weights from `table.weight` */
  constructor(private readonly table: MemberTable) {
    this.current = new Float64Array(table.size);
  }

  /** The next member of the smooth weighted sequence, or -1 when none is healthy. */
  select(): number {
    const t = this.table;
    if (this.version !== t.version) this.rebuild();
    if (this.live) return this.step();
    if (this.period === 0) return -1;
    const c = this.cursor;
    this.cursor = c + 1 === this.period ? 0 : c + 1;
    return this.schedule[c]!;
  }

  /** One step of nginx's algorithm over the healthy members. */
  private step(): number {
    const t = this.table;
    const n = t.healthyCount;
    if (n === 0) return -1;
    const list = t.healthyList;
    const cur = this.current;
    let total = 0;
    let best = -1;
    let bestCurrent = -Infinity;
    for (let k = 0; k < n; k++) {
      const i = list[k]!;
      const w = t.weight[i]!;
      const c = cur[i]! + w;
      cur[i] = c;
      total += w;
      if (c > bestCurrent) {
        bestCurrent = c;
        best = i;
      }
    }
    cur[best] = cur[best]! - total;
    return best;
  }

  private rebuild(): void {
    const t = this.table;
    this.version = t.version;
    this.current.fill(0);
    this.cursor = 0;
    let total = 0;
    for (let k = 0; k < t.healthyCount; k++) total += t.weight[t.healthyList[k]!]!;
    this.live = total > MAX_SCHEDULE;
    if (this.live) {
      this.schedule = new Int32Array(0);
      this.period = 0;
      return;
    }
    const schedule = new Int32Array(total);
    for (let s = 0; s < total; s++) schedule[s] = this.step();
    // After one full period every `current` is back to 0: the schedule repeats exactly.
    this.current.fill(0);
    this.schedule = schedule;
    this.period = total;
  }
}
