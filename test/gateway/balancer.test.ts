/**
 * Balancers: pure, seeded, exact. Each strategy runs the same contract
 * (only healthy members, -1 when none, stated fairness bounds), then its own
 * specifics.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/policy/random.js';
import { MemberTable } from '../../src/gateway/balancer.js';
import { createBalancer } from '../../src/gateway/balancers.js';
import { LOAD_BALANCE_STRATEGIES, parseStrategy, type LoadBalanceStrategy } from '../../src/gateway/load-balance-strategy.js';

function counts(strategy: LoadBalanceStrategy, table: MemberTable, n: number, lease = false): number[] {
  const b = createBalancer(strategy, table, seededRandom(42));
  const c = new Array<number>(table.size).fill(0);
  for (let k = 0; k < n; k++) {
    const i = b.select();
    c[i]!++;
    if (lease) table.addActive(i, 1);
  }
  return c;
}

describe.each(LOAD_BALANCE_STRATEGIES)('%s: the balancer contract', (strategy) => {
  it('chooses only healthy members, and -1 when none is', () => {
    const t = new MemberTable(5);
    t.setHealthy(1, false);
    t.setHealthy(3, false);
    const b = createBalancer(strategy, t, seededRandom(1));
    for (let k = 0; k < 1000; k++) expect([0, 2, 4]).toContain(b.select());
    for (const i of [0, 2, 4]) t.setHealthy(i, false);
    expect(b.select()).toBe(-1);
    t.setHealthy(3, true);
    expect(b.select()).toBe(3);
  });

  it('spreads sessions evenly over equal members (each within ±10% of its share over 16,000 leases)', () => {
    const t = new MemberTable(16);
    const c = counts(strategy, t, 16_000, true);
    for (const x of c) {
      expect(x).toBeGreaterThanOrEqual(900);
      expect(x).toBeLessThanOrEqual(1100);
    }
  });
});

describe('RoundRobin', () => {
  it('visits healthy members in order', () => {
    const t = new MemberTable(4);
    t.setHealthy(2, false);
    const b = createBalancer('RoundRobin', t);
    expect(Array.from({ length: 6 }, () => b.select())).toEqual([0, 1, 3, 0, 1, 3]);
  });
});

describe('Random', () => {
  it('is uniform without lease feedback: each of 8 members within ±5% of 10,000 in 80,000 draws (seeded)', () => {
    const c = counts('Random', new MemberTable(8), 80_000);
    for (const x of c) expect(Math.abs(x - 10_000)).toBeLessThan(500);
  });
});

describe('LeastConnections', () => {
  it('picks the least loaded member, ties to the one that reached the count first', () => {
    const t = new MemberTable(3);
    t.addActive(0, 5);
    t.addActive(1, 2);
    t.addActive(2, 2);
    const b = createBalancer('LeastConnections', t);
    expect(b.select()).toBe(1);
    t.addActive(1, 1);
    expect(b.select()).toBe(2);
    t.addActive(0, -5);
    expect(b.select()).toBe(0);
  });

  it('agrees with a brute-force scan over 20,000 random changes of load and health', () => {
    const t = new MemberTable(16);
    const r = seededRandom(9);
    const b = createBalancer('LeastConnections', t);
    for (let k = 0; k < 20_000; k++) {
      const i = (r() * 16) | 0;
      const op = r();
      if (op < 0.45) t.addActive(i, 1);
      else if (op < 0.9) t.addActive(i, -1);
      else t.setHealthy(i, r() < 0.7);
      let min = Infinity;
      for (let j = 0; j < 16; j++) if (t.healthy[j] === 1 && t.active[j]! < min) min = t.active[j]!;
      const chosen = b.select();
      if (min === Infinity) expect(chosen).toBe(-1);
      else expect(t.active[chosen]).toBe(min);
    }
  });
});

describe('WeightedRoundRobin (smooth, nginx)', () => {
  it('weights 5:1:1 give a a b a c a a', () => {
    const t = new MemberTable(3, [5, 1, 1]);
    const b = createBalancer('WeightedRoundRobin', t);
    expect(Array.from({ length: 14 }, () => 'abc'[b.select()]).join('')).toBe('aabacaaaabacaa');
  });

  it('gives each member exactly its weight share per period, and recomputes when health changes', () => {
    const t = new MemberTable(4, [4, 3, 2, 1]);
    const c = counts('WeightedRoundRobin', t, 1000);
    expect(c).toEqual([400, 300, 200, 100]);
    t.setHealthy(0, false);
    expect(counts('WeightedRoundRobin', t, 600)).toEqual([0, 300, 200, 100]);
  });
});

describe('PowerOfTwoChoices', () => {
  it('never sends a session to the most loaded of several members', () => {
    const t = new MemberTable(4);
    t.addActive(3, 100);
    const c = counts('PowerOfTwoChoices', t, 3000);
    expect(c[3]).toBe(0);
  });

  it('compares two distinct members (with two members it always takes the less loaded)', () => {
    const t = new MemberTable(2);
    t.addActive(0, 1);
    expect(counts('PowerOfTwoChoices', t, 500)).toEqual([0, 500]);
  });
});

describe('parseStrategy and validation', () => {
  it('accepts the seed names and kebab-case', () => {
    expect(parseStrategy('LeastConnections')).toBe('LeastConnections');
    expect(parseStrategy('least-connections')).toBe('LeastConnections');
    expect(parseStrategy('p2c')).toBe('PowerOfTwoChoices');
    expect(parseStrategy('weighted_round_robin')).toBe('WeightedRoundRobin');
    expect(parseStrategy('fastest')).toBeUndefined();
  });

  it('rejects bad weights naming the member and the value', () => {
    expect(() => new MemberTable(2, [1, 0])).toThrow('weight of member 1 should be an integer 1–1000000, got 0');
  });
});
