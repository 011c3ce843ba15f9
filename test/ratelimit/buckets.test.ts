/**
 * Token bucket and leaky bucket (GCRA meter) against one table, in the
 * style of golang.org/x/time/rate's tests: a sequence of (time, cost) →
 * (allowed, remaining, retryAfterMs). The two are the same meter seen from
 * opposite sides, so every row must hold for both.
 */
import { describe, expect, it } from 'vitest';
import { LeakyBucketLimiter } from '../../src/ratelimit/leaky-bucket.js';
import { SlidingWindowLimiter } from '../../src/ratelimit/sliding-window.js';
import { TokenBucketLimiter } from '../../src/ratelimit/token-bucket.js';
import type { RateLimitAlgorithm } from '../../src/ratelimit/types.js';
import type { RateLimitOptions } from '../../src/ratelimit/options.js';
import { FakeClock, prng } from './fake-clock.js';

interface Step {
  /** Clock reading (ms). */
  at: number;
  /** Cost; default 1. */
  n?: number;
  ok: boolean;
  remaining?: number;
  retryAfterMs?: number;
}

interface Case {
  name: string;
  limit: RateLimitOptions;
  steps: Step[];
}

const R10B3 = { maxRequestsPerSecond: 10, maxBurst: 3 }; // one request per 100 ms, three at once

const CASES: Case[] = [
  {
    name: 'burst from idle, then refusal',
    limit: R10B3,
    steps: [
      { at: 0, ok: true, remaining: 2 },
      { at: 0, ok: true, remaining: 1 },
      { at: 0, ok: true, remaining: 0 },
      { at: 0, ok: false, remaining: 0, retryAfterMs: 100 },
      { at: 0, ok: false, remaining: 0, retryAfterMs: 100 },
    ],
  },
  {
    name: 'refill: one request per interval, fractions carried over',
    limit: R10B3,
    steps: [
      { at: 0, ok: true },
      { at: 0, ok: true },
      { at: 0, ok: true },
      { at: 100, ok: true, remaining: 0 },
      { at: 100, ok: false, retryAfterMs: 100 },
      { at: 150, ok: false, retryAfterMs: 50 },
      { at: 250, ok: true, remaining: 0 },
      { at: 250, ok: false, retryAfterMs: 50 },
      { at: 300, ok: true, remaining: 0 },
    ],
  },
  {
    name: 'refill stops at the burst',
    limit: R10B3,
    steps: [
      { at: 0, ok: true, remaining: 2 },
      { at: 10_000, ok: true, remaining: 2 },
      { at: 10_000, ok: true, remaining: 1 },
      { at: 10_000, ok: true, remaining: 0 },
      { at: 10_000, ok: false, retryAfterMs: 100 },
    ],
  },
  {
    name: 'costs above 1',
    limit: R10B3,
    steps: [
      { at: 0, n: 2, ok: true, remaining: 1 },
      { at: 0, n: 2, ok: false, remaining: 1, retryAfterMs: 100 },
      { at: 100, n: 2, ok: true, remaining: 0 },
      { at: 100, n: 0, ok: true, remaining: 0 },
      { at: 100, n: 4, ok: false, retryAfterMs: Infinity },
    ],
  },
  {
    name: 'clock jumping backwards grants nothing',
    limit: R10B3,
    steps: [
      { at: 1000, ok: true },
      { at: 1000, ok: true },
      { at: 1000, ok: true, remaining: 0 },
      { at: 500, ok: false },
      { at: 0, ok: false },
      { at: -1e9, ok: false },
      { at: 1000, ok: false },
      { at: 1099, ok: false },
      { at: 1100, ok: true, remaining: 0 },
      { at: 1100, ok: false },
    ],
  },
  {
    name: 'backwards, then forwards again: exactly the time that really passed refills',
    limit: R10B3,
    steps: [
      { at: 0, ok: true },
      { at: 0, ok: true },
      { at: 0, ok: true },
      { at: -300, ok: false },
      { at: 300, ok: true },
      { at: 300, ok: true },
      { at: 300, ok: true, remaining: 0 },
      { at: 300, ok: false },
    ],
  },
  {
    name: 'slow rate: 0.5 per second, burst 1',
    limit: { maxRequestsPerSecond: 0.5, maxBurst: 1 },
    steps: [
      { at: 0, ok: true, remaining: 0 },
      { at: 1, ok: false, retryAfterMs: 1999 },
      { at: 1999, ok: false, retryAfterMs: 1 },
      { at: 2000, ok: true },
    ],
  },
  {
    name: 'fractional burst: 2.5 holds two whole requests',
    limit: { maxRequestsPerSecond: 10, maxBurst: 2.5 },
    steps: [
      { at: 0, ok: true, remaining: 1 },
      { at: 0, ok: true, remaining: 0 },
      { at: 0, ok: false, retryAfterMs: 50 },
      { at: 50, ok: true, remaining: 0 },
    ],
  },
];

const STRATEGIES: Array<[string, (l: RateLimitOptions, clock: FakeClock) => RateLimitAlgorithm]> = [
  ['TokenBucket', (l, c) => new TokenBucketLimiter(l, { clock: c.now })],
  ['LeakyBucket', (l, c) => new LeakyBucketLimiter(l, { clock: c.now })],
];

describe.each(STRATEGIES)('%s', (_name, make) => {
  it.each(CASES)('$name', ({ limit, steps }) => {
    const clock = new FakeClock();
    const limiter = make(limit, clock);
    steps.forEach((step, i) => {
      clock.set(step.at);
      const r = limiter.check('k', step.n ?? 1);
      const where = `step ${i} (at ${step.at}, cost ${step.n ?? 1})`;
      expect(r.allowed, where).toBe(step.ok);
      if (step.remaining !== undefined) expect(r.remaining, `${where} remaining`).toBe(step.remaining);
      if (step.retryAfterMs !== undefined) expect(r.retryAfterMs, `${where} retryAfterMs`).toBe(step.retryAfterMs);
      if (step.ok) expect(r.retryAfterMs, `${where} retryAfterMs`).toBe(0);
      expect(r.delayMs).toBe(0);
    });
  });

  it('keys are independent', () => {
    const clock = new FakeClock();
    const limiter = make(R10B3, clock);
    for (let i = 0; i < 3; i++) expect(limiter.check('a').allowed).toBe(true);
    expect(limiter.check('a').allowed).toBe(false);
    expect(limiter.check('b').allowed).toBe(true);
    expect(limiter.size).toBe(2);
  });

  it.each([1, 3, 100, 20_000])('N simultaneous requests allow exactly the burst (%i)', (burst) => {
    const clock = new FakeClock(12_345.678);
    const limiter = make({ maxRequestsPerSecond: 10_000, maxBurst: burst }, clock);
    let allowed = 0;
    for (let i = 0; i < burst * 2 + 10; i++) if (limiter.check('k').allowed) allowed++;
    expect(allowed).toBe(burst);
  });

  it('the seed\'s high-throughput preset: 20,000 at once, then 10,000 per second', () => {
    const clock = new FakeClock(1_700_000_000_000); // a wall-clock-sized reading
    const limiter = make({ maxRequestsPerSecond: 10_000, maxBurst: 20_000 }, clock);
    let allowed = 0;
    for (let i = 0; i < 30_000; i++) if (limiter.check('k').allowed) allowed++;
    expect(allowed).toBe(20_000);
    allowed = 0;
    for (let ms = 1; ms <= 1000; ms++) {
      clock.set(1_700_000_000_000 + ms);
      for (let j = 0; j < 20; j++) if (limiter.check('k').allowed) allowed++;
    }
    expect(allowed).toBe(10_000);
  });

  it('a long run (100 simulated seconds, random arrivals at 3× the rate) lands within 1 % of the ideal', () => {
    const clock = new FakeClock();
    const rate = 50;
    const burst = 10;
    const limiter = make({ maxRequestsPerSecond: rate, maxBurst: burst }, clock);
    const random = prng(42);
    let allowed = 0;
    let t = 0;
    while (t < 100_000) {
      t += -Math.log(1 - random()) * (1000 / (rate * 3)); // Poisson arrivals
      clock.set(t);
      if (limiter.check('k').allowed) allowed++;
    }
    const ideal = rate * 100 + burst;
    expect(Math.abs(allowed - ideal) / ideal).toBeLessThan(0.01);
    expect(allowed).toBeLessThanOrEqual(ideal);
  });

  it('refund gives back what a check took, never beyond the burst', () => {
    const clock = new FakeClock();
    const limiter = make(R10B3, clock);
    for (let i = 0; i < 3; i++) limiter.check('k');
    expect(limiter.check('k').allowed).toBe(false);
    limiter.refund('k', 2);
    expect(limiter.check('k').remaining).toBe(1);
    limiter.refund('k', 100);
    expect(limiter.check('k').remaining).toBe(2);
    limiter.refund('unknown');
    expect(limiter.size).toBe(1);
  });

  it('frees idle keys once full for evictAfterMs, losslessly', () => {
    const clock = new FakeClock();
    const limiter = make(R10B3, clock);
    limiter.check('a');
    limiter.check('b', 3);
    clock.set(1099); // a full at 100, b at 300: neither full for 1000 ms yet
    expect(limiter.sweep()).toBe(0);
    clock.set(1100);
    expect(limiter.sweep()).toBe(1);
    clock.set(1300);
    expect(limiter.sweep()).toBe(1);
    expect(limiter.size).toBe(0);
    expect(limiter.check('b').remaining).toBe(2);
  });

  it('the clock going backwards never throws, whatever the reading', () => {
    const clock = new FakeClock(5000);
    const limiter = make(R10B3, clock);
    for (const t of [5000, 0, -1, 1e15, -1e15, 5000, Number.MAX_SAFE_INTEGER, 0]) {
      clock.set(t);
      expect(() => limiter.check('k')).not.toThrow();
      expect(() => limiter.sweep()).not.toThrow();
    }
  });
});

describe('LeakyBucket queue mode', () => {
  const limit = { strategy: 'LeakyBucket' as const, maxRequestsPerSecond: 10, maxBurst: 2, queueSize: 3 };

  it.each([
    // [at, allowed, delayMs, retryAfterMs]
    [[
      [0, true, 0, 0],
      [0, true, 0, 0],
      [0, true, 100, 0],
      [0, true, 200, 0],
      [0, true, 300, 0],
      [0, false, 0, 100],
      [100, true, 300, 0],
      [100, false, 0, 100],
      [1000, true, 0, 0],
    ]],
  ] as Array<[Array<[number, boolean, number, number]>]>)('delays instead of refusing, up to queueSize waiting', (steps) => {
    const clock = new FakeClock();
    const limiter = new LeakyBucketLimiter(limit, { clock: clock.now });
    steps.forEach(([at, ok, delay, retry], i) => {
      clock.set(at);
      const r = limiter.check('k');
      expect([r.allowed, r.delayMs, r.retryAfterMs], `step ${i}`).toEqual([ok, delay, retry]);
    });
  });

  it('serves queued requests at the drain rate', () => {
    const clock = new FakeClock();
    const limiter = new LeakyBucketLimiter({ maxRequestsPerSecond: 100, maxBurst: 1, queueSize: 50 }, { clock: clock.now });
    const delays: number[] = [];
    for (let i = 0; i < 60; i++) {
      const r = limiter.check('k');
      if (r.allowed) delays.push(r.delayMs);
    }
    expect(delays).toHaveLength(51);
    expect(delays.slice(0, 4)).toEqual([0, 10, 20, 30]);
    expect(delays[50]).toBe(500);
  });

  it('a request larger than burst plus queue can never go', () => {
    const limiter = new LeakyBucketLimiter(limit, { clock: () => 0 });
    expect(limiter.check('k', 6).retryAfterMs).toBe(Infinity);
    expect(limiter.check('k', 5)).toMatchObject({ allowed: true, delayMs: 300 });
  });
});

describe('memory stays bounded', () => {
  it('1,000,000 distinct keys: reclaimed as they go, and the map returns to 0 after the idle time', () => {
    const clock = new FakeClock();
    const limiter = new TokenBucketLimiter({ maxRequestsPerSecond: 10, maxBurst: 5 }, { clock: clock.now });
    let peak = 0;
    for (let i = 0; i < 1_000_000; i++) {
      clock.advance(0.01); // 100,000 new keys per simulated second, for 10 s
      limiter.check(`ip-${i}`);
      if ((i & 1023) === 0) peak = Math.max(peak, limiter.size);
    }
    // A key is full 100 ms after its one request and freed 1,000 ms later:
    // about 110,000 keys are live at any time, never the million.
    expect(peak).toBeLessThan(250_000);
    clock.advance(1100);
    expect(limiter.sweep()).toBeGreaterThan(0);
    expect(limiter.size).toBe(0);
    expect((limiter as unknown as { slab: { capacity: number } }).slab.capacity).toBeLessThanOrEqual(64);
  });

  it.each([
    ['LeakyBucket', (c: FakeClock) => new LeakyBucketLimiter({ maxRequestsPerSecond: 10, maxBurst: 5 }, { clock: c.now })],
    ['SlidingWindow', (c: FakeClock) => new SlidingWindowLimiter({ maxRequestsPerSecond: 10, windowSizeMs: 1000 }, { clock: c.now })],
  ] as const)('%s: 200,000 distinct keys come back to 0', (_n, make) => {
    const clock = new FakeClock();
    const limiter = make(clock);
    for (let i = 0; i < 200_000; i++) {
      clock.advance(0.05);
      limiter.check(`k${i}`);
    }
    clock.advance(5000);
    limiter.sweep();
    expect(limiter.size).toBe(0);
  });

  it('maxKeys caps live keys; each forced eviction is counted', () => {
    const limiter = new TokenBucketLimiter({ maxRequestsPerSecond: 1, maxBurst: 1 }, { clock: () => 0, maxKeys: 1000 });
    for (let i = 0; i < 5000; i++) limiter.check(`k${i}`);
    expect(limiter.size).toBe(1000);
    expect(limiter.forcedEvictions).toBe(4000);
  });
});
