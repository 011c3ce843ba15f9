/**
 * Token bucket: each key holds up to `maxBurst` tokens, refilled
 * continuously at `maxRequestsPerSecond` (fractional tokens accrue between
 * requests); a request of cost c takes c tokens or is refused.
 *
 * State per key: [tokens, last] — tokens as of time `last` (ms).
 *
 * Clock going backwards: `last` never moves back, and time before `last`
 * refills nothing, so a backward jump pauses the refill until the clock
 * passes `last` again. It never grants tokens (and never throws). With the
 * default monotonic clock this cannot happen; with a wall clock the pause
 * lasts as long as the jump.
 */
import { SlabLimiter, type SlabLimiterOptions } from './key-slab.js';
import { resolveRateLimitOptions, type RateLimitOptions } from './options.js';
import type { RateLimitResult } from './types.js';

/** Slack for float rounding in token counts (a billionth of a token). */
const EPS = 1e-9;

/** The token bucket in memory. */
export class TokenBucketLimiter extends SlabLimiter {
  /** Always 'TokenBucket'. */
  readonly strategy = 'TokenBucket' as const;
  private readonly burst: number;
  private readonly perMs: number;

  /**
   * @param options the limit; `strategy` may be omitted. Validated as in {@link resolveRateLimitOptions}.
   * @param more clock and key cap
   * @throws RangeError for invalid options
   */
  constructor(options: RateLimitOptions, more?: SlabLimiterOptions) {
    super(resolveRateLimitOptions({ ...options, strategy: 'TokenBucket' }), 2, more);
    this.burst = this.options.maxBurst;
    this.perMs = this.options.maxRequestsPerSecond / 1000;
  }

  /** Takes `cost` tokens from `key` if it holds them at `now`. */
  check(key: string, cost = 1, now: number = this.clock()): RateLimitResult {
    const r = this.result;
    const slab = this.slab;
    let slot = slab.index.get(key);
    let tokens: number;
    if (slot === undefined) {
      slot = this.insert(key, now);
      tokens = this.burst;
      slab.data[slot * 2 + 1] = now;
    } else {
      // refill(), inlined: this is the hot path.
      const d = slab.data;
      const i = slot * 2;
      tokens = d[i]!;
      const last = d[i + 1]!;
      if (now > last) {
        tokens += (now - last) * this.perMs;
        if (tokens > this.burst) tokens = this.burst;
        d[i + 1] = now;
      }
    }
    if (tokens + EPS >= cost) {
      tokens -= cost;
      r.allowed = true;
      r.retryAfterMs = 0;
    } else {
      r.allowed = false;
      r.retryAfterMs = cost > this.burst + EPS ? Infinity : waitMs((cost - tokens) / this.perMs);
    }
    slab.data[slot * 2] = tokens;
    r.remaining = tokens + EPS >= 1 ? Math.floor(tokens + EPS) : 0;
    return r;
  }

  /** Returns `cost` tokens to `key` (up to the capacity). */
  refund(key: string, cost = 1, now: number = this.clock()): void {
    const slot = this.slab.index.get(key);
    if (slot === undefined) return;
    const tokens = this.refill(slot, now) + cost;
    this.slab.data[slot * 2] = tokens > this.burst ? this.burst : tokens;
  }

  protected isIdle(slot: number, now: number): boolean {
    const d = this.slab.data;
    const last = d[slot * 2 + 1]!;
    const t = now - this.evictAfterMs;
    return t >= last && d[slot * 2]! + (t - last) * this.perMs + EPS >= this.burst;
  }

  /** Tokens of `slot` at `now`, bringing `last` forward (never back). */
  private refill(slot: number, now: number): number {
    const d = this.slab.data;
    const i = slot * 2;
    let tokens = d[i]!;
    const last = d[i + 1]!;
    if (now > last) {
      tokens += (now - last) * this.perMs;
      if (tokens > this.burst) tokens = this.burst;
      d[i + 1] = now;
    }
    return tokens;
  }
}

/** A wait in whole ms, at least 1: float noise of a nanosecond does not add a millisecond. */
function waitMs(ms: number): number {
  const w = Math.ceil(ms - 1e-6);
  return w > 1 ? w : 1;
}
