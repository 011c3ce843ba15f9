/**
 * A circuit breaker per upstream member, with an injected clock.
 *
 *            failures ≥ failureThreshold
 *   CLOSED ───────────────────────────────► OPEN
 *     ▲                                     │  halfOpenAfterMs elapsed:
 *     │ trial succeeded                     │  tryTrial() lets one trial through
 *     │                                     ▼
 *     └──────────────────────────────── HALF-OPEN
 *                 trial failed: back to OPEN, cool-down restarts
 *
 * Written here rather than taken from cockatiel because cockatiel's breaker
 * reads `Date.now()` itself, so tests of the cool-down would need global fake
 * timers; here the clock is a constructor argument and tests are exact. The
 * shape follows cockatiel's: a consecutive-failure policy, a half-open trial,
 * and a serialisable state ({@link CircuitBreaker.toJSON} / `initialState`).
 *
 * The breaker only keeps state; the pool decides what counts, and feeds it
 * connection-level evidence only:
 *
 *   failure()  a spawn/connect failing or timing out, a health ping or probe
 *              failing, a session ending on its own, a transport error
 *              (a send or Streamable HTTP POST that failed)
 *   success()  a session opened and answering ping, a health ping answered,
 *              a probe or half-open trial passing
 *
 * A request timing out or answered with a JSON-RPC error is not evidence: a
 * slow tool of one client must not take the upstream away from everyone,
 * and an ordinary response does not end a streak of failed connects. The
 * pool runs the half-open trial (opening a fresh session and pinging it).
 */

import { BREAKER_OPTIONS } from './circuit-breaker-options.js';

/** Where a breaker is. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Breaker states as numbers, for the `..._breaker_state` gauge: closed 0, half-open 1, open 2. */
export const BREAKER_STATE_VALUE: Readonly<Record<BreakerState, number>> = { closed: 0, 'half-open': 1, open: 2 };

/** Serialisable state of a breaker. */
export interface BreakerSnapshot {
  readonly state: BreakerState;
  /** Consecutive failures counted while closed. */
  readonly failures: number;
  /** Clock time the breaker last opened (0 if never). */
  readonly openedAt: number;
  /** How many times it has opened. */
  readonly opens: number;
}

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the breaker. Default 5. */
  failureThreshold?: number;
  /** Cool-down before a half-open trial, in ms. Default 10,000. */
  halfOpenAfterMs?: number;
  /** Clock in ms. Default `Date.now`. */
  clock?: () => number;
  /** Called on every state change. */
  onStateChange?: (state: BreakerState, previous: BreakerState) => void;
  /** Starting state, e.g. a {@link BreakerSnapshot} saved earlier. */
  initialState?: BreakerSnapshot;
}

/** Closed / open / half-open circuit breaker counting consecutive failures. */
export class CircuitBreaker {
  private _state: BreakerState;
  private failures: number;
  private openedAt: number;
  private opens: number;
  private readonly threshold: number;
  private readonly halfOpenAfterMs: number;
  private readonly clock: () => number;
  private readonly onStateChange: ((state: BreakerState, previous: BreakerState) => void) | undefined;

  /** @throws RangeError naming the option when a threshold or cool-down is not a positive integer */
  constructor(options: CircuitBreakerOptions = {}) {
    const settings = BREAKER_OPTIONS.resolve({ failureThreshold: options.failureThreshold, halfOpenAfterMs: options.halfOpenAfterMs });
    this.threshold = settings.failureThreshold;
    this.halfOpenAfterMs = settings.halfOpenAfterMs;
    this.clock = options.clock ?? Date.now;
    this.onStateChange = options.onStateChange;
    const init = options.initialState;
    this._state = init?.state ?? 'closed';
    this.failures = init?.failures ?? 0;
    this.openedAt = init?.openedAt ?? 0;
    this.opens = init?.opens ?? 0;
  }

  /** The current state. */
  get state(): BreakerState {
    return this._state;
  }

  /** True while closed: the member may be chosen for new sessions. */
  get isClosed(): boolean {
    return this._state === 'closed';
  }

  /** Milliseconds until a trial is due (0 when due or not open). */
  trialDueIn(): number {
    if (this._state !== 'open') return 0;
    return Math.max(0, this.openedAt + this.halfOpenAfterMs - this.clock());
  }

  /**
   * When open and the cool-down has passed, moves to half-open and returns
   * true: the caller runs the one trial and reports it with
   * {@link success} or {@link failure}. Otherwise returns false.
   */
  tryTrial(): boolean {
    if (this._state !== 'open' || this.clock() - this.openedAt < this.halfOpenAfterMs) return false;
    this.transition('half-open');
    return true;
  }

  /** Records a success: resets the failure count; a half-open breaker closes. */
  success(): void {
    this.failures = 0;
    if (this._state === 'half-open') this.transition('closed');
  }

  /** Records a failure: opens after `failureThreshold` in a row; a half-open breaker reopens. */
  failure(): void {
    if (this._state === 'open') return;
    if (this._state === 'half-open' || ++this.failures >= this.threshold) this.open();
  }

  /** Opens the breaker now, whatever the count (e.g. the upstream is known to be gone). */
  open(): void {
    this.openedAt = this.clock();
    this.failures = 0;
    this.opens++;
    if (this._state !== 'open') this.transition('open');
  }

  /** A serialisable copy of the state (feed it back as `initialState`). */
  toJSON(): BreakerSnapshot {
    return { state: this._state, failures: this.failures, openedAt: this.openedAt, opens: this.opens };
  }

  private transition(next: BreakerState): void {
    const previous = this._state;
    this._state = next;
    this.onStateChange?.(next, previous);
  }
}
