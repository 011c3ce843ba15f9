/**
 * Sliding window, as a weighted two-window counter: time is cut into fixed
 * windows of W = windowSizeMs; each key counts requests in the current
 * window (`curr`) and keeps the previous window's count (`prev`). At a
 * fraction f ∈ [0, 1) into the current window, the requests in the last W
 * ms are estimated as
 *
 *   estimate = prev · (1 − f) + curr
 *
 * and a request of cost c is admitted iff estimate + c ≤ L, with
 * L = maxRequestsPerSecond × W / 1000.
 *
 *   ├──── previous window ────┼──── current window ────┤
 *                 ├────────── the last W ms ──────┤
 *                   weight (1 − f) of prev          f
 *
 * State per key: [window index, prev, curr] — three numbers, no log.
 *
 * Error bound. The weighting assumes the previous window's requests were
 * spread evenly. Let P = prev (P ≤ L) and let E be the exact number of
 * admitted requests in the last W ms (what a full request log would count).
 * Then E = (those of P still inside the last W ms) + curr, a number between
 * curr and P + curr, while the estimate counts P·(1 − f) of them, so
 *
 *   estimate − P·(1 − f)  ≤  E  ≤  estimate + P·f
 *
 * Consequences, each checked by test/ratelimit/sliding-window.test.ts:
 * - every fixed window admits at most L (at its end f → 1, the estimate is
 *   curr), so over n consecutive windows at most n·L: the long-run rate is
 *   never above the limit;
 * - after admitting, E ≤ L + P·f < 2L: the overshoot over an exact sliding
 *   log is at most P·f, reached only when the previous window's requests
 *   all came at its very end; with evenly spread traffic E ≤ L;
 * - a refusal happens only when E + c > L − P·(1 − f): it may refuse while
 *   an exact log still has up to P·(1 − f) of room (previous requests early
 *   in their window);
 * - under sustained overload a window admits about L − 1, not L: the last
 *   slot opens only as prev's weight reaches 0, at the window's end. The
 *   long-run rate is within 1/L of the limit (1 % for L ≥ 100).
 *
 * Clock going backwards: the window index never moves back, and a time
 * before the stored window's start counts as its start (f = 0, the full
 * weight of prev): stricter, never looser, and never a throw.
 */
import { SlabLimiter, type SlabLimiterOptions } from './key-slab.js';
import { resolveRateLimitOptions, type RateLimitOptions } from './options.js';
import type { RateLimitResult } from './types.js';

/** Slack for float rounding in request counts. */
const EPS = 1e-9;

/** The weighted two-window counter in memory. */
export class SlidingWindowLimiter extends SlabLimiter {
  /** Always 'SlidingWindow'. */
  readonly strategy = 'SlidingWindow' as const;
  private readonly window: number;
  private readonly limit: number;
  /**
   * The window index and prev's weight (1 − f) for the last `now` seen:
   * every check of one event-loop turn shares one clock reading, so the
   * division and floor are done once per turn, not per check.
   */
  private lastNow = NaN;
  private lastWin = 0;
  private lastWeight = 1;

  /**
   * @param options the limit; `strategy` may be omitted; maxBurst is unused.
   * @param more clock and key cap
   * @throws RangeError for invalid options (including a window too short to hold one request)
   */
  constructor(options: RateLimitOptions, more?: SlabLimiterOptions) {
    super(resolveRateLimitOptions({ ...options, strategy: 'SlidingWindow' }), 3, more);
    this.window = this.options.windowSizeMs;
    this.limit = this.options.capacity;
  }

  /** Counts `cost` against `key`'s window at `now` if the estimate stays within the limit. */
  check(key: string, cost = 1, now: number = this.clock()): RateLimitResult {
    const r = this.result;
    const slab = this.slab;
    if (now !== this.lastNow) this.at(now);
    const win = this.lastWin;
    let slot = slab.index.get(key);
    let stored = win;
    let prev = 0;
    let curr = 0;
    if (slot !== undefined) {
      const d = slab.data;
      const i = slot * 3;
      stored = d[i]!;
      prev = d[i + 1]!;
      curr = d[i + 2]!;
      if (win > stored) {
        prev = win === stored + 1 ? curr : 0;
        curr = 0;
        stored = win;
      }
    }
    // stored > win only when the clock went back before the stored window: f = 0, full weight.
    const estimate = prev * (stored === win ? this.lastWeight : 1) + curr;
    let left = this.limit - estimate;
    if (cost <= left + EPS) {
      curr += cost;
      left -= cost;
      r.allowed = true;
      r.retryAfterMs = 0;
    } else {
      r.allowed = false;
      r.retryAfterMs = this.retryAfter(now, stored, prev, curr, cost);
    }
    if (slot === undefined) {
      if (!r.allowed) {
        r.remaining = left + EPS >= 1 ? Math.floor(left + EPS) : 0;
        return r;
      }
      slot = this.insert(key, now);
    }
    const d = slab.data;
    const i = slot * 3;
    d[i] = stored;
    d[i + 1] = prev;
    d[i + 2] = curr;
    r.remaining = left + EPS >= 1 ? Math.floor(left + EPS) : 0;
    return r;
  }

  /** Caches the window index and prev's weight at `now`. */
  private at(now: number): void {
    const W = this.window;
    const win = Math.floor(now / W);
    let f = (now - win * W) / W;
    if (f < 0) f = 0;
    else if (f > 1) f = 1;
    this.lastNow = now;
    this.lastWin = win;
    this.lastWeight = 1 - f;
  }

  /** Uncounts `cost` from `key` (from the current window, then the previous). */
  refund(key: string, cost = 1, now: number = this.clock()): void {
    const slot = this.slab.index.get(key);
    if (slot === undefined) return;
    const d = this.slab.data;
    const i = slot * 3;
    const win = Math.floor(now / this.window);
    if (win > d[i]!) {
      d[i + 1] = win === d[i]! + 1 ? d[i + 2]! : 0;
      d[i + 2] = 0;
      d[i] = win;
    }
    const fromCurr = Math.min(cost, d[i + 2]!);
    d[i + 2] = d[i + 2]! - fromCurr;
    d[i + 1] = Math.max(0, d[i + 1]! - (cost - fromCurr));
  }

  protected isIdle(slot: number, now: number): boolean {
    const d = this.slab.data;
    const i = slot * 3;
    const win = Math.floor((now - this.evictAfterMs) / this.window);
    const stored = d[i]!;
    if (win >= stored + 2) return true;
    if (win === stored + 1) return d[i + 2] === 0;
    return d[i + 1] === 0 && d[i + 2] === 0;
  }

  /** ms until `estimate + cost ≤ limit`, from the state at `now`; Infinity if cost > limit. */
  private retryAfter(now: number, stored: number, prev: number, curr: number, cost: number): number {
    const W = this.window;
    const L = this.limit;
    if (cost > L + EPS) return Infinity;
    let at: number;
    if (curr + cost <= L + EPS) {
      // Within this window, once prev's weight has decayed enough.
      at = (stored + 1 - (L - curr - cost) / prev) * W;
    } else {
      // In the next window, where this window's count becomes prev.
      const g = 1 - (L - cost) / curr;
      at = (stored + 1 + (g > 0 ? g : 0)) * W;
    }
    const wait = Math.ceil(at - now - 1e-6);
    return wait > 1 ? wait : 1;
  }
}
