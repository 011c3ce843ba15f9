/**
 * Rate limiting: three strategies in memory (token bucket, leaky bucket as
 * a GCRA meter with an optional queue, weighted sliding window), the same
 * three as Redis scripts, and {@link RateLimiter} combining limits per
 * connection, identity, method and globally.
 */
export { RateLimiter, type RateLimiterOptions, type RateLimitRequest, type ScopedRateLimitOptions, type Denial, type Delay, type Verdict } from './limiter.js';
export { TokenBucketLimiter } from './token-bucket.js';
export { LeakyBucketLimiter } from './leaky-bucket.js';
export { SlidingWindowLimiter } from './sliding-window.js';
export { KeySlab, SlabLimiter, DEFAULT_MAX_KEYS, type SlabLimiterOptions } from './key-slab.js';
export { resolveRateLimitOptions, type RateLimitOptions, type ResolvedRateLimitOptions } from './options.js';
export type { RateLimitStore } from './store.js';
export { MemoryStore, createAlgorithm, type MemoryStoreOptions } from './store-memory.js';
export {
  RedisConnection,
  RedisStore,
  type RedisConnectionOptions,
  type RedisConnectionState,
  type RedisFailMode,
  type RedisStoreOptions,
  type StateChangeListener,
} from './store-redis.js';
export { RateLimitCounters, counterIndex, type RateLimitMetric, type RateLimitGauges } from './counters.js';
export { createTurnClock } from './clock.js';
export { rateLimitConfigSchema, limitSchema, scopedLimitSchema, redisConfigSchema, RATE_LIMIT_PRESETS, type RateLimitConfig } from './config.js';
export {
  RATE_LIMIT_STRATEGIES,
  RATE_LIMIT_SCOPES,
  type Clock,
  type RateLimitStrategy,
  type RateLimitScope,
  type RateLimitKeyScope,
  type RateLimitResult,
  type RateLimitAlgorithm,
} from './types.js';
