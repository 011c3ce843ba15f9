/**
 * Leaky bucket as a meter, in the GCRA form (generic cell rate algorithm):
 * the bucket drains at `maxRequestsPerSecond` and holds `maxBurst` requests;
 * a request adds its cost and is refused if the bucket would overflow.
 *
 * State per key is one number, the theoretical arrival time (TAT): the
 * moment the bucket would be empty. With T = 1000 / rate ms per request,
 *
 *   level(now)   = max(TAT − now, 0)            (ms of drain still pending)
 *   admit cost c   iff  level + c·T ≤ maxBurst·T   then TAT = now + level + c·T
 *
 *   time ─►        T    T    T    T
 *   bucket ▕████▏ drains one request per T; maxBurst·T of room
 *
 * Queue mode (queueSize > 0): a request that overflows the burst by at most
 * queueSize·T is admitted with `delayMs` = the time until it fits, and its
 * place is reserved (TAT advances); the caller holds it that long. That is
 * a leaky bucket with a bounded queue: requests leave at the drain rate,
 * and one that would wait longer than the queue allows is refused.
 *
 * TATs are stored relative to the first clock reading the limiter saw:
 * with wall-clock-sized readings (~1.7e12 ms, whose doubles step by
 * 0.24 µs) every stored TAT would round, and at 10,000 requests per second
 * the roundings add up to whole requests per burst.
 *
 * Clock going backwards: TAT is absolute, so a backward jump makes the
 * bucket look fuller (level grows by the jump) — stricter, never looser,
 * and never a throw. With the default monotonic clock this cannot happen.
 */
import { SlabLimiter, type SlabLimiterOptions } from './key-slab.js';
import { resolveRateLimitOptions, type RateLimitOptions } from './options.js';
import type { RateLimitResult } from './types.js';

/** The leaky bucket (GCRA) in memory. */
export class LeakyBucketLimiter extends SlabLimiter {
  /** Always 'LeakyBucket'. */
  readonly strategy = 'LeakyBucket' as const;
  /** ms per request of cost 1. */
  private readonly interval: number;
  /** Room in ms: maxBurst · interval. */
  private readonly room: number;
  /** Queue room in ms: queueSize · interval. */
  private readonly queueRoom: number;
  /** Requests per ms (1 / interval). */
  private readonly perMs: number;
  /** Float slack in ms: a millionth of an interval. */
  private readonly eps: number;
  /** The first clock reading seen; stored TATs are relative to it (NaN until then). */
  private base = NaN;

  /**
   * @param options the limit; `strategy` may be omitted. `queueSize` turns on queue mode.
   * @param more clock and key cap
   * @throws RangeError for invalid options
   */
  constructor(options: RateLimitOptions, more?: SlabLimiterOptions) {
    super(resolveRateLimitOptions({ ...options, strategy: 'LeakyBucket' }), 1, more);
    this.interval = 1000 / this.options.maxRequestsPerSecond;
    this.room = this.options.maxBurst * this.interval;
    this.queueRoom = this.options.queueSize * this.interval;
    this.eps = this.interval * 1e-6;
    this.perMs = 1 / this.interval;
  }

  /** Adds `cost` to `key`'s bucket at `now` if it fits (or fits the queue). */
  check(key: string, cost = 1, now: number = this.clock()): RateLimitResult {
    const r = this.result;
    const slab = this.slab;
    if (this.base !== this.base) this.base = now;
    const rel = now - this.base;
    const slot = slab.index.get(key);
    let level = 0;
    if (slot !== undefined) {
      level = slab.data[slot]! - rel;
      if (level < 0) level = 0;
    }
    const next = level + cost * this.interval;
    const over = next - this.room;
    if (over <= this.eps) {
      r.allowed = true;
      r.delayMs = 0;
      r.retryAfterMs = 0;
      level = next;
    } else if (over <= this.queueRoom + this.eps) {
      r.allowed = true;
      r.delayMs = over > 1e-6 ? Math.ceil(over - 1e-6) : 0;
      r.retryAfterMs = 0;
      level = next;
    } else {
      r.allowed = false;
      r.delayMs = 0;
      r.retryAfterMs = cost * this.interval > this.room + this.queueRoom + this.eps ? Infinity : Math.max(1, Math.ceil(over - this.queueRoom - 1e-6));
      r.remaining = this.free(level);
      return r;
    }
    const s = slot === undefined ? this.insert(key, now) : slot;
    slab.data[s] = rel + level;
    r.remaining = this.free(level);
    return r;
  }

  /** Whole requests of cost 1 that fit without waiting at `level`. */
  private free(level: number): number {
    const free = (this.room - level) * this.perMs;
    return free > 1 - 1e-6 ? Math.floor(free + 1e-6) : 0;
  }

  /** Takes `cost` back out of `key`'s bucket (not below empty). */
  refund(key: string, cost = 1, now: number = this.clock()): void {
    const slot = this.slab.index.get(key);
    if (slot === undefined) return;
    const rel = now - this.base;
    const tat = this.slab.data[slot]! - cost * this.interval;
    this.slab.data[slot] = tat > rel ? tat : rel;
  }

  protected isIdle(slot: number, now: number): boolean {
    return this.slab.data[slot]! <= now - this.base - this.evictAfterMs;
  }
}
