/**
 * The contract every RateLimitStore keeps, run by each implementation
 * (memory in store-memory.test.ts, Redis in store-redis.test.ts). Limits are
 * slow enough (one request per 1,000 s) that no refill happens during a
 * test, so the same expectations hold whatever clock the store uses.
 */
import { expect, it } from 'vitest';
import type { RateLimitOptions } from '../../src/ratelimit/options.js';
import type { RateLimitStore } from '../../src/ratelimit/store.js';
import type { RateLimitStrategy } from '../../src/ratelimit/types.js';

/** Makes a store for `limit`; `key` prefixes give each test its own keys. */
export type StoreFactory = (limit: RateLimitOptions) => RateLimitStore | Promise<RateLimitStore>;

/** A limit of 5 at once that does not refill during a test, in each strategy. */
export function slowLimit(strategy: RateLimitStrategy): RateLimitOptions {
  return strategy === 'SlidingWindow'
    ? { strategy, maxRequestsPerSecond: 0.001, windowSizeMs: 5_000_000 }
    : { strategy, maxRequestsPerSecond: 0.001, maxBurst: 5 };
}

let unique = 0;
const key = (name: string): string => `${name}-${process.pid}-${++unique}`;

/** Registers the contract tests for one strategy of one store kind (call inside a describe). */
export function storeContract(strategy: RateLimitStrategy, make: StoreFactory): void {
  it(`${strategy}: allows the capacity with remaining counting down, then refuses with a finite retryAfterMs`, async () => {
    const store = await make(slowLimit(strategy));
    const k = key('capacity');
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await store.check(k);
      expect(r.allowed).toBe(true);
      expect(r.retryAfterMs).toBe(0);
      expect(r.delayMs).toBe(0);
      remaining.push(r.remaining);
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    const denied = await store.check(k);
    expect(denied.allowed).toBe(false);
    expect(denied.remaining).toBe(0);
    expect(denied.retryAfterMs).toBeGreaterThan(0);
    expect(Number.isFinite(denied.retryAfterMs)).toBe(true);
  });

  it(`${strategy}: costs above 1; a cost above the capacity never fits`, async () => {
    const store = await make(slowLimit(strategy));
    const k = key('cost');
    expect(await store.check(k, 3)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await store.check(k, 3)).toMatchObject({ allowed: false, remaining: 2 });
    expect(await store.check(k, 2)).toMatchObject({ allowed: true, remaining: 0 });
    expect((await store.check(key('huge'), 6)).retryAfterMs).toBe(Infinity);
  });

  it(`${strategy}: keys are independent`, async () => {
    const store = await make(slowLimit(strategy));
    const a = key('a');
    const b = key('b');
    for (let i = 0; i < 5; i++) await store.check(a);
    expect((await store.check(a)).allowed).toBe(false);
    expect((await store.check(b)).allowed).toBe(true);
  });

  it(`${strategy}: refund gives back what a check took`, async () => {
    const store = await make(slowLimit(strategy));
    const k = key('refund');
    for (let i = 0; i < 5; i++) await store.check(k);
    await store.refund(k, 2);
    expect((await store.check(k)).allowed).toBe(true);
    expect((await store.check(k)).allowed).toBe(true);
    expect((await store.check(k)).allowed).toBe(false);
    await store.refund(key('never-seen'));
  });

  if (strategy === 'LeakyBucket') {
    it('LeakyBucket: queue mode answers with delayMs, bounded by queueSize', async () => {
      const store = await make({ strategy, maxRequestsPerSecond: 0.001, maxBurst: 2, queueSize: 2 });
      const k = key('queue');
      const results = [];
      for (let i = 0; i < 5; i++) results.push({ ...(await store.check(k)) });
      expect(results.map((r) => r.allowed)).toEqual([true, true, true, true, false]);
      // Redis time moves on between the calls, so a delay may be a few ms shorter.
      const delays = results.map((r) => r.delayMs);
      expect(delays[0]! + delays[1]! + delays[4]!).toBe(0);
      expect(delays[2]).toBeGreaterThan(1_000_000 - 5000);
      expect(delays[2]).toBeLessThanOrEqual(1_000_000);
      expect(delays[3]).toBeGreaterThan(2_000_000 - 5000);
      expect(delays[3]).toBeLessThanOrEqual(2_000_000);
      expect(results[4]!.retryAfterMs).toBeGreaterThan(900_000);
    });
  }
}
