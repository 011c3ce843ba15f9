/** The circuit breaker with an injected clock: exact, no timers. */
import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerState } from '../../src/policy/circuit-breaker.js';

describe('CircuitBreaker', () => {
  it('opens after failureThreshold consecutive failures; a success resets the count', () => {
    let now = 1000;
    const b = new CircuitBreaker({ failureThreshold: 3, halfOpenAfterMs: 500, clock: () => now });
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    expect(b.state).toBe('closed');
    b.failure();
    expect(b.state).toBe('open');
    expect(b.trialDueIn()).toBe(500);
    now += 499;
    expect(b.tryTrial()).toBe(false);
  });

  it('lets one trial through after the cool-down; success closes, failure reopens', () => {
    let now = 0;
    const changes: Array<[BreakerState, BreakerState]> = [];
    const b = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 100, clock: () => now, onStateChange: (s, p) => changes.push([s, p]) });
    b.failure();
    now = 100;
    expect(b.tryTrial()).toBe(true);
    expect(b.state).toBe('half-open');
    expect(b.tryTrial()).toBe(false);
    b.failure();
    expect(b.state).toBe('open');
    expect(b.trialDueIn()).toBe(100);
    now = 200;
    expect(b.tryTrial()).toBe(true);
    b.success();
    expect(b.state).toBe('closed');
    expect(changes).toEqual([
      ['open', 'closed'],
      ['half-open', 'open'],
      ['open', 'half-open'],
      ['half-open', 'open'],
      ['closed', 'half-open'],
    ]);
  });

  it('exports its state and starts from an exported one', () => {
    const b = new CircuitBreaker({ failureThreshold: 1, clock: () => 42 });
    b.failure();
    const saved = JSON.parse(JSON.stringify(b));
    expect(saved).toEqual({ state: 'open', failures: 0, openedAt: 42, opens: 1 });
    const c = new CircuitBreaker({ initialState: saved, clock: () => 42 });
    expect(c.state).toBe('open');
  });

  it('names a bad option and repeats the value', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow('failureThreshold should be a positive integer, got 0');
    expect(() => new CircuitBreaker({ halfOpenAfterMs: -1 })).toThrow('halfOpenAfterMs should be a positive integer, got -1');
  });
});
