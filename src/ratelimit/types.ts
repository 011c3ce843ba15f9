/**
 * The vocabulary shared by every rate-limit module: the clock, the strategy
 * names, the scopes, and the result every check returns.
 */

/** A clock in milliseconds. Injected everywhere so tests are exact and need no timers. */
export type Clock = () => number;

/** The three strategies of the seed's RateLimitConfig, spelt as the seed spells them. */
export const RATE_LIMIT_STRATEGIES = ['TokenBucket', 'LeakyBucket', 'SlidingWindow'] as const;

/** A rate-limit strategy. */
export type RateLimitStrategy = (typeof RATE_LIMIT_STRATEGIES)[number];

/**
 * Where a limit applies. The first three are keyed by what a request carries;
 * `method`, `notification` and `handshake` are the scopes of the extra limits
 * a {@link RateLimiter} can add.
 */
export const RATE_LIMIT_SCOPES = ['connection', 'identity', 'global', 'method', 'notification', 'handshake'] as const;

/** A scope a denial names. */
export type RateLimitScope = (typeof RATE_LIMIT_SCOPES)[number];

/** Where a configured limit keys its state: one bucket per connection, per identity (IP when anonymous), or one in all. */
export type RateLimitKeyScope = 'connection' | 'identity' | 'global';

/**
 * What one check decided. In-memory limiters return the same object on every
 * call (read it before the next check); stores that answer asynchronously
 * return a fresh one.
 */
export interface RateLimitResult {
  /** True when the request may go (now, or after `delayMs` in queue mode). */
  allowed: boolean;
  /** Requests of cost 1 that would still be allowed right now, after this one. */
  remaining: number;
  /** When denied: milliseconds until the same request would be allowed; Infinity if it never can (cost over capacity). 0 when allowed. */
  retryAfterMs: number;
  /** Leaky bucket in queue mode: milliseconds the caller should hold the request before serving it. 0 otherwise. */
  delayMs: number;
}

/**
 * One strategy's in-memory limiter: per-key state, an injected clock, a
 * reused result object.
 */
export interface RateLimitAlgorithm {
  /** The strategy this limiter implements. */
  readonly strategy: RateLimitStrategy;
  /** Keys currently holding state. */
  readonly size: number;
  /**
   * Takes `cost` (default 1) from `key`'s allowance at time `now` (default:
   * the injected clock) if it fits. Never throws for any clock value.
   */
  check(key: string, cost?: number, now?: number): RateLimitResult;
  /** Gives back `cost` taken by an earlier allowed check (e.g. another scope denied the request). */
  refund(key: string, cost?: number, now?: number): void;
  /**
   * Frees the state of up to `budget` keys' worth of slots whose state is
   * back to full (indistinguishable from a key never seen). Returns the
   * number of keys freed. Default budget: every slot.
   */
  sweep(now?: number, budget?: number): number;
}
