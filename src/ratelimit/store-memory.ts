/**
 * The default store: state in this process, one in-memory limiter per
 * store. Checks are synchronous and allocate nothing once a key exists.
 *
 * Memory stays bounded under any number of distinct keys: keys whose state
 * is back to full are freed (two inspected per insertion, all of them on
 * {@link MemoryStore.sweep}), and `maxKeys` caps the rest (see key-slab.ts).
 */
import { LeakyBucketLimiter } from './leaky-bucket.js';
import { SlidingWindowLimiter } from './sliding-window.js';
import { TokenBucketLimiter } from './token-bucket.js';
import type { SlabLimiter, SlabLimiterOptions } from './key-slab.js';
import { resolveRateLimitOptions, type RateLimitOptions, type ResolvedRateLimitOptions } from './options.js';
import type { RateLimitStore } from './store.js';
import type { RateLimitResult, RateLimitStrategy } from './types.js';

/**
 * Makes the in-memory limiter for `options.strategy` (default TokenBucket).
 *
 * @throws RangeError for invalid options
 */
export function createAlgorithm(options: RateLimitOptions, more?: SlabLimiterOptions): SlabLimiter {
  const resolved = resolveRateLimitOptions(options);
  switch (resolved.strategy) {
    case 'TokenBucket':
      return new TokenBucketLimiter(resolved, more);
    case 'LeakyBucket':
      return new LeakyBucketLimiter(resolved, more);
    case 'SlidingWindow':
      return new SlidingWindowLimiter(resolved, more);
  }
}

/** Options of {@link MemoryStore}: the limit, plus the clock and key cap. */
export type MemoryStoreOptions = RateLimitOptions & SlabLimiterOptions;

/** A {@link RateLimitStore} in this process. */
export class MemoryStore implements RateLimitStore {
  /** Always true: checks answer synchronously. */
  readonly synchronous = true;
  /** The limiter holding the state (exposed so a caller can pass one clock reading to several checks). */
  readonly algorithm: SlabLimiter;

  /** @throws RangeError for invalid options */
  constructor(options: MemoryStoreOptions) {
    const { clock, maxKeys, evictAfterMs, ...limit } = options;
    this.algorithm = createAlgorithm(limit, { clock, maxKeys, evictAfterMs });
  }

  /** The strategy applied. */
  get strategy(): RateLimitStrategy {
    return this.algorithm.strategy;
  }

  /** The resolved limit. */
  get options(): ResolvedRateLimitOptions {
    return this.algorithm.options;
  }

  /** Keys holding state. */
  get size(): number {
    return this.algorithm.size;
  }

  /** Takes `cost` from `key` now. Returns the limiter's reused result object. */
  check(key: string, cost = 1): RateLimitResult {
    return this.algorithm.check(key, cost);
  }

  /** Gives back `cost` to `key`. */
  refund(key: string, cost = 1): void {
    this.algorithm.refund(key, cost);
  }

  /** Frees every key whose state is back to full; returns how many. */
  sweep(): number {
    return this.algorithm.sweep();
  }

  /** Nothing to release. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
