/**
 * The contract between a {@link RateLimiter} and where limit state lives:
 * in this process ({@link MemoryStore}) or shared by every process through
 * Redis ({@link RedisStore}). A store is bound to one limit (strategy and
 * figures) and keys its state by the strings it is given.
 *
 * test/ratelimit/store-contract.ts is the contract suite every store runs.
 */
import type { RateLimitResult, RateLimitStrategy } from './types.js';

/** Where one limit's per-key state lives. */
export interface RateLimitStore {
  /** The strategy this store applies. */
  readonly strategy: RateLimitStrategy;
  /**
   * True when {@link check} always answers synchronously (in memory): the
   * limiter then stays on a synchronous, promise-free path.
   */
  readonly synchronous: boolean;
  /**
   * Takes `cost` (default 1) from `key`'s allowance if it fits. A
   * synchronous store returns a result object it reuses on the next call.
   * Never rejects: a store that cannot reach its backend answers as its
   * failure mode says.
   */
  check(key: string, cost?: number): RateLimitResult | Promise<RateLimitResult>;
  /** Gives back `cost` taken by an earlier allowed check. Best effort; never rejects. */
  refund(key: string, cost?: number): void | Promise<void>;
  /** Frees state that is back to full; returns how many keys it freed (0 where the backend expires keys itself). */
  sweep(): number;
  /** Releases connections and timers. Idempotent. */
  close(): Promise<void>;
}
