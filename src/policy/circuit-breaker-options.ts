/**
 * Settings of the circuit breaker as they appear in config, declared once:
 * kind, range, default. The gateway config's zod fields, the breaker's own
 * checks and the README's table come from the declaration. Option parsing
 * reads this module; the breaker itself imports it.
 */
import { defineOptions, int } from '../config/option-set.js';

/** Breaker settings as they appear in config (no clock or callbacks). */
export interface BreakerConfig {
  /** Consecutive failures that open the breaker. Default 5. */
  failureThreshold: number;
  /** Cool-down before a half-open trial, in ms. Default 10,000. */
  halfOpenAfterMs: number;
}

/** The declaration of {@link BreakerConfig}; meanings are there. */
export const BREAKER_OPTIONS = defineOptions({
  failureThreshold: int({ min: 1, default: 5 }),
  halfOpenAfterMs: int({ min: 1, default: 10_000 }),
});
