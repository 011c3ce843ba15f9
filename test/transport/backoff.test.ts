import { describe, it, expect } from 'vitest';
import { fullJitterDelay, validateBackoffOptions, type BackoffOptions } from '../../src/policy/backoff.js';

const opts: BackoffOptions = { initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2 };

describe('fullJitterDelay', () => {
  it.each([
    // attempt, random, expected
    [0, 0, 0],
    [0, 0.5, 50],
    [0, 0.999, 99.9],
    [1, 0.5, 100],
    [2, 0.5, 200],
    [3, 0.5, 400],
    [3, 1, 800],
    [4, 0.5, 500], // 1600 capped at 1000
    [4, 0.25, 250],
    [10, 0.5, 500],
    [2000, 0.5, 500], // multiplier ** attempt overflows to Infinity; still capped
  ])('attempt %i with random %f → %f ms', (attempt, r, expected) => {
    expect(fullJitterDelay(attempt, opts, () => r)).toBeCloseTo(expected, 9);
  });

  it('multiplier 1 keeps a constant window', () => {
    const constant = { initialDelayMs: 40, maxDelayMs: 40, multiplier: 1 };
    for (const attempt of [0, 1, 5, 50]) expect(fullJitterDelay(attempt, constant, () => 0.5)).toBe(20);
  });

  it('multiplier 3 grows by 3', () => {
    const o = { initialDelayMs: 10, maxDelayMs: 10_000, multiplier: 3 };
    expect([0, 1, 2, 3].map((a) => fullJitterDelay(a, o, () => 1))).toEqual([10, 30, 90, 270]);
  });

  it('stays within [0, window) with Math.random', () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const d = fullJitterDelay(attempt, opts);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(1000);
    }
  });

  it('rejects a bad attempt', () => {
    expect(() => fullJitterDelay(-1, opts)).toThrow('attempt should be a non-negative integer, got -1');
    expect(() => fullJitterDelay(1.5, opts)).toThrow('attempt should be a non-negative integer, got 1.5');
  });
});

describe('validateBackoffOptions', () => {
  it.each([
    [{ ...opts, maxDelayMs: -1 }, 'maxDelayMs should be a positive number, got -1'],
    [{ ...opts, maxDelayMs: Number.NaN }, 'maxDelayMs should be a positive number, got NaN'],
    [{ ...opts, initialDelayMs: 0 }, 'initialDelayMs should be a positive number, got 0'],
    [{ ...opts, initialDelayMs: '5' as unknown as number }, 'initialDelayMs should be a positive number, got "5"'],
    [{ ...opts, multiplier: 0.5 }, 'multiplier should be a number >= 1, got 0.5'],
    [{ ...opts, initialDelayMs: 500, maxDelayMs: 100 }, 'maxDelayMs should be at least initialDelayMs (500), got 100'],
  ])('%o → %s', (bad, message) => {
    expect(() => validateBackoffOptions(bad)).toThrow(message);
    expect(() => fullJitterDelay(0, bad, () => 0)).toThrow(message);
  });

  it('prefixes option names', () => {
    expect(() => validateBackoffOptions({ ...opts, maxDelayMs: -1 }, 'reconnect.')).toThrow(
      'reconnect.maxDelayMs should be a positive number, got -1',
    );
  });

  it('describes a bad value in one short line: a function by its kind, not its source; a long object cut', () => {
    const fn = function slow(): number {
      return 1;
    };
    expect(() => validateBackoffOptions({ ...opts, initialDelayMs: fn as unknown as number })).toThrow(
      /^initialDelayMs should be a positive number, got a function$/,
    );
    const big = { note: 'x'.repeat(10_000) } as unknown as number;
    let message = '';
    try {
      validateBackoffOptions({ ...opts, maxDelayMs: big });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^maxDelayMs should be a positive number, got \{"note":"x+\.\.\.$/);
    expect(message.length).toBeLessThan(200);
  });

  it('accepts valid options', () => {
    expect(() => validateBackoffOptions(opts)).not.toThrow();
  });
});
