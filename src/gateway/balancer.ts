/**
 * Load balancing: which upstream member serves the next client session.
 *
 * A balancer reads a {@link MemberTable} — one slot per member in typed
 * arrays: healthy flag, active sessions, weight — and returns a member index
 * (or -1 when no member is healthy). It does no I/O, reads no clock, and takes
 * its randomness from an injected source, so tests are exact and a selection
 * costs a few nanoseconds (bench/micro-load-balancing.ts).
 *
 * Only healthy members are ever chosen: the table keeps a compact list of the
 * healthy indices, rebuilt when a member's health changes (rare), so the hot
 * path never skips over unhealthy slots.
 *
 * The strategy names live in load-balance-strategy.ts (config reads them),
 * createBalancer in balancers.ts. Strategies, one file each:
 *   RoundRobin          balancer-round-robin.ts
 *   LeastConnections    balancer-least-connections.ts
 *   Random              balancer-random.ts
 *   WeightedRoundRobin  balancer-weighted-round-robin.ts (nginx's smooth WRR)
 *   PowerOfTwoChoices   balancer-p2c.ts
 */
import type { LoadBalanceStrategy } from './load-balance-strategy.js';

/**
 * What balancers read, one slot per member, in plain typed arrays.
 *
 * The pool owns it: it calls {@link MemberTable.addActive} as sessions are
 * leased and released, and {@link MemberTable.setHealthy} when a member's
 * circuit breaker changes state. `version` bumps on every health or weight
 * change so a strategy that precomputes (weighted round robin) knows when to
 * redo it.
 *
 * Least connections in O(1): besides the counts, the table keeps healthy
 * members in buckets by count (doubly linked lists in typed arrays) and the
 * lowest non-empty bucket. Counts move by ±1, so each change moves one member
 * to a neighbouring bucket and the minimum moves by at most one; the least
 * loaded member is the head of the lowest bucket. Members that tie are served
 * in the order they reached that count, which spreads new sessions over equals.
 */
export class MemberTable {
  /** Number of members. */
  readonly size: number;
  /** 1 when the member may be chosen. Change with {@link setHealthy}. */
  readonly healthy: Uint8Array;
  /** Sessions currently served by each member (leased + being opened). Change with {@link addActive}. */
  readonly active: Int32Array;
  /** Relative weight of each member, a positive integer (default 1). Change with {@link setWeight}. */
  readonly weight: Int32Array;
  /** Indices of healthy members, in index order; the first `healthyCount` entries are valid. */
  readonly healthyList: Int32Array;
  /** How many members are healthy. */
  healthyCount = 0;
  /** Bumped on every health or weight change. */
  version = 0;
  /** Lowest active count among healthy members (meaningless when none is healthy). */
  minActive = 0;
  /** head[c]: first healthy member whose count is c, or -1. Grows as counts grow. */
  private head: Int32Array;
  private tail: Int32Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;

  /**
   * @param size number of members, at least 1
   * @param weights per-member weights (positive integers); default all 1
   */
  constructor(size: number, weights?: readonly number[]) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`size should be a positive integer, got ${String(size)}`);
    this.size = size;
    this.healthy = new Uint8Array(size).fill(1);
    this.active = new Int32Array(size);
    this.weight = new Int32Array(size).fill(1);
    this.healthyList = new Int32Array(size);
    this.next = new Int32Array(size).fill(-1);
    this.prev = new Int32Array(size).fill(-1);
    this.head = new Int32Array(16).fill(-1);
    this.tail = new Int32Array(16).fill(-1);
    if (weights !== undefined) {
      if (weights.length !== size) throw new RangeError(`weights should have ${size} entries, got ${weights.length}`);
      for (let i = 0; i < size; i++) this.checkWeight(i, weights[i]!);
      this.weight.set(weights);
    }
    for (let i = 0; i < size; i++) this.link(i);
    this.rebuild();
  }

  /** The healthy member with the fewest active sessions (-1 when none is healthy). O(1). */
  leastActive(): number {
    return this.healthyCount === 0 ? -1 : this.head[this.minActive]!;
  }

  /**
   * Adds `delta` (usually +1 or -1) to member `i`'s active count; the count
   * never goes below 0. O(|delta|) for a healthy member.
   */
  addActive(i: number, delta: number): void {
    const from = this.active[i]!;
    let to = from + delta;
    if (to < 0) to = 0;
    if (to === from) return;
    if (this.healthy[i] === 0) {
      this.active[i] = to;
      return;
    }
    this.unlink(i);
    this.active[i] = to;
    this.link(i);
    if (to < this.minActive) this.minActive = to;
    else if (from === this.minActive && this.head[from] === -1) this.findMin(from);
  }

  /** Marks member `i` healthy or not; rebuilds the healthy list when it changed. */
  setHealthy(i: number, healthy: boolean): void {
    const v = healthy ? 1 : 0;
    if (this.healthy[i] === v) return;
    this.healthy[i] = v;
    if (healthy) this.link(i);
    else this.unlink(i);
    this.rebuild();
  }

  /** Sets member `i`'s weight (a positive integer). */
  setWeight(i: number, weight: number): void {
    this.checkWeight(i, weight);
    this.weight[i] = weight;
    this.version++;
  }

  private checkWeight(i: number, w: number): void {
    if (!Number.isSafeInteger(w) || w < 1 || w > 1_000_000) {
      throw new RangeError(`weight of member ${i} should be an integer 1–1000000, got ${String(w)}`);
    }
  }

  /** Appends member i to the bucket of its count. */
  private link(i: number): void {
    const c = this.active[i]!;
    if (c >= this.head.length) this.grow(c);
    const t = this.tail[c]!;
    this.prev[i] = t;
    this.next[i] = -1;
    if (t === -1) this.head[c] = i;
    else this.next[t] = i;
    this.tail[c] = i;
  }

  /** Removes member i from the bucket of its count. */
  private unlink(i: number): void {
    const c = this.active[i]!;
    const p = this.prev[i]!;
    const n = this.next[i]!;
    if (p === -1) this.head[c] = n;
    else this.next[p] = n;
    if (n === -1) this.tail[c] = p;
    else this.prev[n] = p;
    this.prev[i] = -1;
    this.next[i] = -1;
  }

  private grow(c: number): void {
    let len = this.head.length;
    while (len <= c) len *= 2;
    const head = new Int32Array(len).fill(-1);
    const tail = new Int32Array(len).fill(-1);
    head.set(this.head);
    tail.set(this.tail);
    this.head = head;
    this.tail = tail;
  }

  /** The lowest non-empty bucket at or above `from` (rare: only health changes or an emptied minimum). */
  private findMin(from: number): void {
    const head = this.head;
    for (let c = from; c < head.length; c++) {
      if (head[c] !== -1) {
        this.minActive = c;
        return;
      }
    }
    this.minActive = 0;
  }

  private rebuild(): void {
    let n = 0;
    for (let i = 0; i < this.size; i++) if (this.healthy[i] === 1) this.healthyList[n++] = i;
    this.healthyCount = n;
    this.findMin(0);
    this.version++;
  }
}

/** Chooses a member. */
export interface Balancer {
  /** The strategy this balancer implements. */
  readonly strategy: LoadBalanceStrategy;
  /** Index of the chosen healthy member, or -1 when none is healthy. */
  select(): number;
}
