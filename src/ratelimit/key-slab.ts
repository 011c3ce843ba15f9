/**
 * Per-key state for the in-memory limiters: a Map from key to slot number,
 * and the numbers of every slot side by side in one Float64Array.
 *
 *   index: Map<string, slot>      data: [ s0f0 s0f1 | s1f0 s1f1 | … ]   (stride fields per slot)
 *   keys:  slot → key (for the sweep)   free: stack of released slots
 *
 * Why a slab rather than one object per key: a check touches one Map lookup
 * and a few doubles in a typed array, a million keys are a few flat arrays
 * instead of a million objects for the GC to trace, and eviction is a scan
 * over slots in memory order.
 *
 * Bounded memory, three ways (see {@link SlabLimiter}):
 * - every insertion first inspects two slots at a moving cursor and frees
 *   those whose state is back to full, so idle keys are reclaimed at least
 *   as fast as new keys arrive;
 * - `sweep()` frees every idle key (the server's sweep timer calls it);
 * - a hard cap, `maxKeys`, evicts a live key when nothing idle is found.
 * When a pass ends with few live slots the slab is compacted, so the arrays
 * shrink back too.
 */
import type { Clock, RateLimitAlgorithm, RateLimitResult, RateLimitStrategy } from './types.js';
import { RATE_LIMITER_OPTIONS, type ResolvedRateLimitOptions } from './options.js';

const INITIAL_CAPACITY = 64;

/** A Map<string, slot> over a typed-array slab with `stride` numbers per slot. */
export class KeySlab {
  /** Numbers per slot. */
  readonly stride: number;
  /** Key → slot. */
  readonly index = new Map<string, number>();
  /** The slots' numbers, `stride` per slot. Replaced when the slab grows or compacts: re-read after {@link add}. */
  data: Float64Array;
  /** Slot → key; undefined for a free slot. */
  keys: Array<string | undefined>;
  /** Slots ever handed out (free ones included): slots live in [0, top). */
  top = 0;
  private free: Int32Array;
  private freeTop = 0;

  /** @param stride numbers stored per key */
  constructor(stride: number) {
    this.stride = stride;
    this.data = new Float64Array(INITIAL_CAPACITY * stride);
    this.keys = new Array<string | undefined>(INITIAL_CAPACITY).fill(undefined);
    this.free = new Int32Array(INITIAL_CAPACITY);
  }

  /** Keys holding a slot. */
  get size(): number {
    return this.index.size;
  }

  /** Slots the arrays have room for. */
  get capacity(): number {
    return this.keys.length;
  }

  /** Takes a slot for `key` (which must not hold one) and returns it. May replace {@link data}. */
  add(key: string): number {
    let slot: number;
    if (this.freeTop > 0) {
      slot = this.free[--this.freeTop]!;
    } else {
      if (this.top === this.keys.length) this.resize(this.keys.length * 2);
      slot = this.top++;
    }
    this.keys[slot] = key;
    this.index.set(key, slot);
    return slot;
  }

  /** Releases `slot`. No-op for a free slot. */
  remove(slot: number): void {
    const key = this.keys[slot];
    if (key === undefined) return;
    this.index.delete(key);
    this.keys[slot] = undefined;
    this.free[this.freeTop++] = slot;
  }

  /**
   * Moves live slots to the front and shrinks the arrays when at most an
   * eighth of the slots handed out are live. Slot numbers change. Returns
   * true when it compacted.
   */
  compactIfSparse(): boolean {
    const live = this.index.size;
    if (this.top <= INITIAL_CAPACITY || live * 8 > this.top) return false;
    const stride = this.stride;
    let capacity = INITIAL_CAPACITY;
    while (capacity < live * 2) capacity *= 2;
    const data = new Float64Array(capacity * stride);
    const keys = new Array<string | undefined>(capacity).fill(undefined);
    let next = 0;
    for (let s = 0; s < this.top; s++) {
      const key = this.keys[s];
      if (key === undefined) continue;
      data.set(this.data.subarray(s * stride, s * stride + stride), next * stride);
      keys[next] = key;
      this.index.set(key, next);
      next++;
    }
    this.data = data;
    this.keys = keys;
    this.free = new Int32Array(capacity);
    this.freeTop = 0;
    this.top = next;
    return true;
  }

  private resize(capacity: number): void {
    const data = new Float64Array(capacity * this.stride);
    data.set(this.data.subarray(0, Math.min(this.data.length, data.length)));
    this.data = data;
    const old = this.keys.length;
    this.keys.length = capacity;
    if (capacity > old) this.keys.fill(undefined, old);
    const free = new Int32Array(capacity);
    free.set(this.free.subarray(0, this.freeTop));
    this.free = free;
  }
}

/** Default cap on keys per in-memory limiter. */
export const DEFAULT_MAX_KEYS = RATE_LIMITER_OPTIONS.defaults.maxKeys;

/** What every slab limiter takes besides its limit. */
export interface SlabLimiterOptions {
  /** Clock in ms. Default: performance.now() (monotonic). */
  clock?: Clock;
  /**
   * Hard cap on keys holding state. At the cap, an insertion frees an idle
   * key if a short scan finds one, else evicts the key under the sweep
   * cursor (that key starts afresh: the cap trades exactness for bounded
   * memory; {@link SlabLimiter.forcedEvictions} counts these). Default 1,000,000.
   */
  maxKeys?: number;
  /**
   * How long a key's state must have been back to full before its memory is
   * freed. Freeing a full key loses nothing (a new key starts full), but a
   * busy key that refills between requests would otherwise be freed and
   * re-added over and over. Default 1,000 ms.
   */
  evictAfterMs?: number;
}

const defaultClock: Clock = () => performance.now();

/** The part every in-memory strategy shares: slab, clock, reused result, sweeping. */
export abstract class SlabLimiter implements RateLimitAlgorithm {
  /** The strategy this limiter implements. */
  abstract readonly strategy: RateLimitStrategy;
  /** The resolved limit. */
  readonly options: ResolvedRateLimitOptions;
  /** Live keys evicted because `maxKeys` was reached. */
  forcedEvictions = 0;
  protected readonly slab: KeySlab;
  protected readonly clock: Clock;
  /** Returned by every check; overwritten by the next. */
  protected readonly result: RateLimitResult = { allowed: true, remaining: 0, retryAfterMs: 0, delayMs: 0 };
  /** See {@link SlabLimiterOptions.evictAfterMs}. */
  protected readonly evictAfterMs: number;
  private readonly maxKeys: number;
  private cursor = 0;

  protected constructor(options: ResolvedRateLimitOptions, stride: number, more: SlabLimiterOptions = {}) {
    this.options = options;
    this.slab = new KeySlab(stride);
    this.clock = more.clock ?? defaultClock;
    const { maxKeys, evictAfterMs } = RATE_LIMITER_OPTIONS.resolve({ maxKeys: more.maxKeys, evictAfterMs: more.evictAfterMs });
    this.maxKeys = maxKeys;
    this.evictAfterMs = evictAfterMs;
  }

  /** Keys holding state. */
  get size(): number {
    return this.slab.size;
  }

  /** Takes `cost` from `key` at `now` if it fits. See {@link RateLimitAlgorithm.check}. */
  abstract check(key: string, cost?: number, now?: number): RateLimitResult;

  /** Gives back `cost` to `key`. See {@link RateLimitAlgorithm.refund}. */
  abstract refund(key: string, cost?: number, now?: number): void;

  /** Drops `key`'s state at once (its owner is gone, e.g. a closed connection). Returns whether it had any. */
  forget(key: string): boolean {
    const slot = this.slab.index.get(key);
    if (slot === undefined) return false;
    this.slab.remove(slot);
    return true;
  }

  /**
   * True when `slot`'s state was already that of a key never seen at
   * `now − evictAfterMs` and has not been touched since.
   */
  protected abstract isIdle(slot: number, now: number): boolean;

  /**
   * Frees idle keys, inspecting up to `budget` slots from where the last
   * sweep stopped (default: all of them). Returns how many keys it freed.
   */
  sweep(now: number = this.clock(), budget = Infinity): number {
    const slab = this.slab;
    const lap = budget >= slab.top;
    let left = Math.min(budget, slab.top);
    let freed = 0;
    while (left-- > 0) {
      if (this.cursor >= slab.top) {
        this.cursor = 0;
        slab.compactIfSparse();
        if (slab.top === 0) break;
      }
      const s = this.cursor++;
      if (slab.keys[s] !== undefined && this.isIdle(s, now)) {
        slab.remove(s);
        freed++;
      }
    }
    if (lap && slab.compactIfSparse()) this.cursor = 0;
    return freed;
  }

  /** Takes a slot for a new key, reclaiming idle ones first. Re-read `slab.data` after. */
  protected insert(key: string, now: number): number {
    const slab = this.slab;
    // Two inspections per insertion: the cursor laps the slab at least as
    // fast as keys are added, so keys idle for a lap never pile up.
    if (slab.top > 0) this.sweep(now, 2);
    if (slab.size >= this.maxKeys) {
      if (this.sweep(now, 16) === 0 && slab.size >= this.maxKeys) this.evictAtCursor();
    }
    return slab.add(key);
  }

  private evictAtCursor(): void {
    const slab = this.slab;
    for (let n = 0; n < slab.top; n++) {
      if (this.cursor >= slab.top) this.cursor = 0;
      const s = this.cursor++;
      if (slab.keys[s] !== undefined) {
        slab.remove(s);
        this.forcedEvictions++;
        return;
      }
    }
  }
}
