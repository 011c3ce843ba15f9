import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/ratelimit/store-memory.js';
import { RATE_LIMIT_STRATEGIES } from '../../src/ratelimit/types.js';
import { storeContract } from './store-contract.js';
import { FakeClock } from './fake-clock.js';

describe('MemoryStore', () => {
  for (const strategy of RATE_LIMIT_STRATEGIES) storeContract(strategy, (limit) => new MemoryStore(limit));

  it('answers synchronously with the reused result object', () => {
    const store = new MemoryStore({ maxRequestsPerSecond: 1 });
    expect(store.synchronous).toBe(true);
    const a = store.check('a');
    const b = store.check('b');
    expect(a).toBe(b);
    expect(a instanceof Promise).toBe(false);
  });

  it('sweep frees idle keys', () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ maxRequestsPerSecond: 10, maxBurst: 1, clock: clock.now, evictAfterMs: 0 });
    for (let i = 0; i < 100; i++) store.check(`k${i}`);
    expect(store.size).toBe(100);
    clock.advance(100);
    expect(store.sweep()).toBe(100);
    expect(store.size).toBe(0);
  });
});
