/**
 * Rate-limit settings, declared once: one limit's (the seed's
 * RateLimitConfig names), the limiter's own and the Redis store's. Each is
 * resolved once (defaults, then user values), validated with messages that
 * name the option and repeat the value, then frozen. No runtime code: the
 * config schema, the limiter and the stores all import it.
 */
import { defineOptions, int, num, oneOf } from '../config/option-set.js';
import { describeValue } from '../config/describe-value.js';
import { RATE_LIMIT_STRATEGIES, type RateLimitStrategy } from './types.js';

/** One limit: the seed's RateLimitConfig plus the leaky bucket's queue. */
export interface RateLimitOptions {
  /** Algorithm. Default 'TokenBucket'. */
  strategy?: RateLimitStrategy;
  /** Sustained rate: requests allowed per second, on average. Required, positive. */
  maxRequestsPerSecond: number;
  /**
   * TokenBucket: bucket capacity (requests allowed at once from idle).
   * LeakyBucket: room in the meter above the drain rate. At least 1 for both.
   * SlidingWindow: unused. Default: maxRequestsPerSecond, at least 1.
   */
  maxBurst?: number;
  /** SlidingWindow: window length; the limit per window is maxRequestsPerSecond × windowSizeMs / 1000. Default 1000. */
  windowSizeMs?: number;
  /**
   * LeakyBucket only: requests that may wait in a queue beyond the burst
   * instead of being rejected. A check then answers with `delayMs`; one that
   * would wait longer than `queueSize` requests' drain time is rejected.
   * Default 0 (no queue).
   */
  queueSize?: number;
}

/** {@link RateLimitOptions} with every default applied, plus the derived figures the algorithms use. */
export interface ResolvedRateLimitOptions {
  readonly strategy: RateLimitStrategy;
  readonly maxRequestsPerSecond: number;
  readonly maxBurst: number;
  readonly windowSizeMs: number;
  readonly queueSize: number;
  /** Requests the strategy admits at once from idle: maxBurst, or the window limit for SlidingWindow. */
  readonly capacity: number;
}

/**
 * The declaration of one limit's settings: kind, range, default. The config
 * file's zod fields (config.ts), {@link resolveRateLimitOptions} and the
 * README's table come from it; meanings are in {@link RateLimitOptions}.
 * The rate has no default (a limit needs one); the burst follows the rate.
 */
export const LIMIT_OPTIONS = defineOptions({
  strategy: oneOf(RATE_LIMIT_STRATEGIES, { default: 'TokenBucket' }),
  maxRequestsPerSecond: num({ min: 0, above: true, default: undefined }),
  maxBurst: num({ min: 0, default: undefined }),
  windowSizeMs: num({ min: 0, above: true, default: 1000 }),
  queueSize: num({ min: 0, default: 0 }),
});

/**
 * The declaration of the {@link RateLimiter}'s own scalar settings: the
 * in-memory limiters' key cap and eviction delay (SlabLimiterOptions).
 */
export const RATE_LIMITER_OPTIONS = defineOptions({
  maxKeys: int({ min: 1, default: 1_000_000 }),
  evictAfterMs: num({ min: 0, default: 1000 }),
});

/**
 * The declaration of the Redis store's scalar settings
 * (RedisConnectionOptions). The URL and the key prefix, strings of their
 * own shape, are declared beside it.
 */
export const REDIS_OPTIONS = defineOptions({
  failMode: oneOf(['open', 'closed'], { default: 'open' }),
  timeoutMs: num({ min: 0, above: true, default: 100 }),
  failRetryAfterMs: num({ min: 0, default: 1000 }),
});

/** Default Redis server URL. The config file takes redis:// or rediss:// URLs. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Default prefix of every rate-limit key in Redis (may be set to ''). */
export const DEFAULT_REDIS_PREFIX = 'mcp-ws:rl:';

function fail(message: string): never {
  throw new RangeError(message);
}

/**
 * Resolves and validates one limit. `path` prefixes option names in
 * messages (e.g. `methods["tools/call"].`).
 *
 * @throws RangeError naming the option and repeating the value, for a
 *   missing or non-positive rate, a burst under 1 where the strategy needs
 *   one, a non-positive window, a window too short to hold one request, a
 *   negative queue, or a queue with a strategy other than LeakyBucket.
 */
export function resolveRateLimitOptions(options: RateLimitOptions, path = ''): ResolvedRateLimitOptions {
  if (typeof options !== 'object' || options === null) fail(`${path || 'rate limit options'} should be an object, got ${describeValue(options)}`);
  const { strategy, maxRequestsPerSecond: rate, windowSizeMs, queueSize, ...given } = LIMIT_OPTIONS.resolve(options, path);
  if (rate === undefined) fail(LIMIT_OPTIONS.problem('maxRequestsPerSecond', rate, path)!);
  const maxBurst = given.maxBurst ?? Math.max(1, rate);
  if (strategy !== 'SlidingWindow' && maxBurst < 1) {
    fail(`${path}maxBurst should be at least 1 with strategy ${strategy} (room for one request), got ${describeValue(maxBurst)}`);
  }
  if (queueSize > 0 && strategy !== 'LeakyBucket') {
    fail(`${path}queueSize applies only to strategy LeakyBucket, got ${describeValue(queueSize)} with ${strategy}`);
  }
  let capacity = maxBurst;
  if (strategy === 'SlidingWindow') {
    capacity = (rate * windowSizeMs) / 1000;
    if (capacity < 1) {
      fail(
        `${path}maxRequestsPerSecond × windowSizeMs / 1000 should be at least 1 with strategy SlidingWindow ` +
          `(one request per window), got ${describeValue(rate)} × ${describeValue(windowSizeMs)} / 1000 = ${describeValue(capacity)}`,
      );
    }
  }
  return Object.freeze({ strategy, maxRequestsPerSecond: rate, maxBurst, windowSizeMs, queueSize, capacity });
}
