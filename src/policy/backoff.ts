/**
 * Exponential backoff with full jitter, as a pure function.
 *
 * The delay before retry number `attempt` (0-based) is a uniformly random
 * value in `[0, min(maxDelayMs, initialDelayMs * multiplier ** attempt))`.
 * Full jitter spreads reconnecting clients over the whole window, so a fleet
 * that lost its server at the same moment does not come back in lockstep.
 */

import { describeValue } from '../config/describe-value.js';

/** Shape of the exponential backoff. */
export interface BackoffOptions {
  /** Cap of the first window (attempt 0), in milliseconds. Positive. */
  readonly initialDelayMs: number;
  /** Largest window, in milliseconds. Positive and at least `initialDelayMs`. */
  readonly maxDelayMs: number;
  /** Growth factor of the window per attempt. At least 1. */
  readonly multiplier: number;
}

/**
 * Checks backoff options and throws a `TypeError` naming the offending option
 * and repeating its value, for example
 * `maxDelayMs should be a positive number, got -1`.
 *
 * @param options the options to check
 * @param prefix prepended to option names in messages (e.g. `reconnect.`)
 */
export function validateBackoffOptions(options: BackoffOptions, prefix = ''): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${prefix || 'backoff options '}should be an object, got ${describeValue(options)}`);
  }
  const { initialDelayMs, maxDelayMs, multiplier } = options;
  if (!isPositiveFinite(initialDelayMs)) {
    throw new TypeError(`${prefix}initialDelayMs should be a positive number, got ${describeValue(initialDelayMs)}`);
  }
  if (!isPositiveFinite(maxDelayMs)) {
    throw new TypeError(`${prefix}maxDelayMs should be a positive number, got ${describeValue(maxDelayMs)}`);
  }
  if (maxDelayMs < initialDelayMs) {
    throw new TypeError(
      `${prefix}maxDelayMs should be at least ${prefix}initialDelayMs (${initialDelayMs}), got ${maxDelayMs}`,
    );
  }
  if (typeof multiplier !== 'number' || !Number.isFinite(multiplier) || multiplier < 1) {
    throw new TypeError(`${prefix}multiplier should be a number >= 1, got ${describeValue(multiplier)}`);
  }
}

/**
 * The full-jitter delay before retry number `attempt`:
 * `random() * min(maxDelayMs, initialDelayMs * multiplier ** attempt)`.
 *
 * @param attempt 0-based retry number (0 for the first retry)
 * @param options window shape; validated on every call (a few comparisons)
 * @param random source of uniform values in `[0, 1)`; injectable for tests
 * @returns the delay in milliseconds, in `[0, window)`
 */
export function fullJitterDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  if (!Number.isSafeInteger(attempt) || attempt < 0) {
    throw new TypeError(`attempt should be a non-negative integer, got ${describeValue(attempt)}`);
  }
  validateBackoffOptions(options);
  // multiplier ** attempt may overflow to Infinity; min() caps it.
  const window = Math.min(options.maxDelayMs, options.initialDelayMs * options.multiplier ** attempt);
  return random() * window;
}

function isPositiveFinite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}
