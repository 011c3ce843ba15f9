/**
 * Settings of the circuit breaker as they appear in config, and their
 * defaults. Option parsing reads this module; the breaker itself imports it.
 */

/** Breaker settings as they appear in config (no clock or callbacks). */
export interface BreakerConfig {
  /** Consecutive failures that open the breaker. Default 5. */
  failureThreshold: number;
  /** Cool-down before a half-open trial, in ms. Default 10,000. */
  halfOpenAfterMs: number;
}

/** Defaults of {@link BreakerConfig}. */
export const DEFAULT_BREAKER: BreakerConfig = Object.freeze({ failureThreshold: 5, halfOpenAfterMs: 10_000 });
