/**
 * One limit's settings, as the seed's RateLimitConfig names them, resolved
 * once (defaults, then user values), validated with messages that name the
 * option and repeat the value, then frozen.
 */
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

function fail(message: string): never {
  throw new RangeError(message);
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
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
  if (typeof options !== 'object' || options === null) fail(`${path || 'rate limit options'} should be an object, got ${show(options)}`);
  const strategy = options.strategy ?? 'TokenBucket';
  if (!(RATE_LIMIT_STRATEGIES as readonly string[]).includes(strategy)) {
    fail(`${path}strategy should be one of ${RATE_LIMIT_STRATEGIES.map((s) => `"${s}"`).join(', ')}, got ${show(strategy)}`);
  }
  const rate = options.maxRequestsPerSecond;
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
    fail(`${path}maxRequestsPerSecond should be a positive number, got ${show(rate)}`);
  }
  const windowSizeMs = options.windowSizeMs ?? 1000;
  if (typeof windowSizeMs !== 'number' || !Number.isFinite(windowSizeMs) || windowSizeMs <= 0) {
    fail(`${path}windowSizeMs should be a positive number, got ${show(windowSizeMs)}`);
  }
  const maxBurst = options.maxBurst ?? Math.max(1, rate);
  if (typeof maxBurst !== 'number' || !Number.isFinite(maxBurst) || maxBurst < 0) {
    fail(`${path}maxBurst should be a non-negative number, got ${show(maxBurst)}`);
  }
  if (strategy !== 'SlidingWindow' && maxBurst < 1) {
    fail(`${path}maxBurst should be at least 1 with strategy ${strategy} (room for one request), got ${show(maxBurst)}`);
  }
  const queueSize = options.queueSize ?? 0;
  if (typeof queueSize !== 'number' || !Number.isFinite(queueSize) || queueSize < 0) {
    fail(`${path}queueSize should be a non-negative number, got ${show(queueSize)}`);
  }
  if (queueSize > 0 && strategy !== 'LeakyBucket') {
    fail(`${path}queueSize applies only to strategy LeakyBucket, got ${show(queueSize)} with ${strategy}`);
  }
  let capacity = maxBurst;
  if (strategy === 'SlidingWindow') {
    capacity = (rate * windowSizeMs) / 1000;
    if (capacity < 1) {
      fail(
        `${path}maxRequestsPerSecond × windowSizeMs / 1000 should be at least 1 with strategy SlidingWindow ` +
          `(one request per window), got ${show(rate)} × ${show(windowSizeMs)} / 1000 = ${show(capacity)}`,
      );
    }
  }
  return Object.freeze({ strategy, maxRequestsPerSecond: rate, maxBurst, windowSizeMs, queueSize, capacity });
}
