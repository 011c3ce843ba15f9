/**
 * The weighted two-window counter: a table of steps, then the error bound
 * stated in src/ratelimit/sliding-window.ts checked against an exact log of
 * admitted requests.
 */
import { describe, expect, it } from 'vitest';
import { SlidingWindowLimiter } from '../../src/ratelimit/sliding-window.js';
import { FakeClock, prng } from './fake-clock.js';

const L10 = { maxRequestsPerSecond: 10, windowSizeMs: 1000 }; // 10 per 1,000 ms window

describe('SlidingWindow', () => {
  it.each([
    {
      name: 'the limit from idle, then refusal until the previous window has decayed enough',
      steps: [
        ...Array.from({ length: 10 }, (_, i) => [0, true, 9 - i] as const),
        [0, false, 0, 1100],
        [999, false, 0, 101],
        [1100, true, 0], // prev 10 weighs 9: one more fits
        [1100, false, 0, 100],
        [1200, true, 0],
        [1550, true, 2], // 10·0.45 + 2 = 6.5 before this one
        [1550, true, 1],
        [1550, true, 0],
        [1550, false, 0],
      ],
    },
    {
      name: 'a window skipped forgets everything',
      steps: [...Array.from({ length: 10 }, () => [500, true] as const), [500, false], [2000, true, 9], [2000, true, 8]],
    },
    {
      name: 'clock jumping backwards within a window: prev weighs more, never less',
      steps: [
        ...Array.from({ length: 5 }, () => [900, true] as const), // window 0: 5
        [1500, true, 6], // window 1, f = .5: 2.5 + 0 → 1 taken, 6 left
        [1000, true, 3], // back to f = 0: 5·1 + 1 before this one
        [1000, true, 2],
        [1000, true, 1],
        [1000, true, 0],
        [1000, false, 0],
        [-5000, false], // before the stored window: f = 0, never a reset
        [1500, true],
      ],
    },
    {
      name: 'costs above 1, and a cost above the limit never fits',
      steps: [
        [0, true, 6, 0, 4],
        [0, false, 6, 1250, 7], // next window: 4·(1 − g) + 7 ≤ 10 at g = .25
        [0, false, 6, Infinity, 11],
        [1000, true, 0, 0, 6],
      ],
    },
  ])('$name', ({ steps }) => {
    const clock = new FakeClock();
    const limiter = new SlidingWindowLimiter(L10, { clock: clock.now });
    steps.forEach((step, i) => {
      const [at, ok, remaining, retry, cost] = step as readonly [number, boolean, number?, number?, number?];
      clock.set(at);
      const r = limiter.check('k', cost ?? 1);
      expect(r.allowed, `step ${i} at ${at}`).toBe(ok);
      if (remaining !== undefined) expect(r.remaining, `step ${i} remaining`).toBe(remaining);
      if (retry !== undefined) expect(r.retryAfterMs, `step ${i} retryAfterMs`).toBe(retry);
    });
  });

  it('retryAfterMs is exact: denied one ms before, allowed at it', () => {
    const random = prng(7);
    for (let trial = 0; trial < 200; trial++) {
      const clock = new FakeClock();
      const limiter = new SlidingWindowLimiter(L10, { clock: clock.now });
      let t = 0;
      for (;;) {
        t += Math.floor(random() * 150);
        clock.set(t);
        const r = limiter.check('k');
        if (r.allowed) continue;
        const wait = r.retryAfterMs;
        expect(wait).toBeGreaterThan(0);
        // A denied check changes nothing, so probing the same limiter is fair.
        clock.set(t + wait - 1);
        expect(limiter.check('k').allowed, `trial ${trial}: denied at ${t}, retry ${wait}`).toBe(false);
        clock.set(t + wait);
        expect(limiter.check('k').allowed, `trial ${trial}: denied at ${t}, retry ${wait}`).toBe(true);
        break;
      }
    }
  });

  /**
   * The error bound of the header comment, checked request by request: an
   * exact log of admitted requests, E = those in (t − W, t], P = admitted in
   * the previous fixed window, f = position in the current one.
   */
  describe('error bound against an exact sliding log', () => {
    const W = 1000;
    const L = 10;

    function run(arrivals: number[]): { maxOver: number; fixedWindowMax: number; admitted: number } {
      const clock = new FakeClock();
      const limiter = new SlidingWindowLimiter({ maxRequestsPerSecond: L, windowSizeMs: W }, { clock: clock.now });
      const log: number[] = [];
      const perWindow = new Map<number, number>();
      let maxOver = -Infinity;
      for (const t of arrivals) {
        clock.set(t);
        const win = Math.floor(t / W);
        const P = perWindow.get(win - 1) ?? 0;
        const f = (t - win * W) / W;
        const ok = limiter.check('k').allowed;
        const E = log.filter((x) => x > t - W).length + (ok ? 1 : 0);
        if (ok) {
          log.push(t);
          perWindow.set(win, (perWindow.get(win) ?? 0) + 1);
          // Admitted: E ≤ L + P·f
          expect(E, `admitted at ${t}: E=${E} P=${P} f=${f}`).toBeLessThanOrEqual(L + P * f + 1e-9);
          maxOver = Math.max(maxOver, E - L);
        } else {
          // Refused: E + 1 > L − P·(1 − f)
          expect(E + 1, `refused at ${t}: E=${E} P=${P} f=${f}`).toBeGreaterThan(L - P * (1 - f) - 1e-9);
        }
      }
      return { maxOver, fixedWindowMax: Math.max(...perWindow.values()), admitted: log.length };
    }

    it('random traffic (Poisson, 3× the limit, 200 windows): bound holds at every request; no fixed window over L', () => {
      const random = prng(2024);
      const arrivals: number[] = [];
      let t = 0;
      while (t < 200 * W) {
        t += -Math.log(1 - random()) * (W / (3 * L));
        arrivals.push(t);
      }
      const { fixedWindowMax } = run(arrivals);
      expect(fixedWindowMax).toBeLessThanOrEqual(L);
    });

    it('evenly spread traffic never exceeds L in any sliding window', () => {
      const arrivals = Array.from({ length: 20 * L * 4 }, (_, i) => (i * W) / (L * 4));
      expect(run(arrivals).maxOver).toBeLessThanOrEqual(0);
    });

    it('worst case: the previous window all at its end reaches L + P·f (tight), never 2L', () => {
      // L requests just before the boundary, then one every 10 ms.
      const arrivals = [...Array.from({ length: L }, () => W - 0.001), ...Array.from({ length: 99 }, (_, i) => W + 10 * (i + 1))];
      const { maxOver } = run(arrivals);
      expect(maxOver).toBeGreaterThanOrEqual(L * 0.8);
      expect(maxOver).toBeLessThan(L);
    });

    it.each([2, 3, 10])('long run: 100 simulated seconds at %i× the limit lands within 1 %% of the ideal', (overload) => {
      const clock = new FakeClock();
      const limiter = new SlidingWindowLimiter({ maxRequestsPerSecond: 200, windowSizeMs: 1000 }, { clock: clock.now });
      const random = prng(99);
      let allowed = 0;
      let t = 0;
      while (t < 100_000) {
        t += -Math.log(1 - random()) * (1000 / (200 * overload));
        clock.set(t);
        if (limiter.check('k').allowed) allowed++;
      }
      const ideal = 200 * 100;
      expect(Math.abs(allowed - ideal) / ideal).toBeLessThan(0.01);
      expect(allowed).toBeLessThanOrEqual(ideal);
    });
  });

  it('N simultaneous requests allow exactly the window limit', () => {
    const limiter = new SlidingWindowLimiter({ maxRequestsPerSecond: 10_000, windowSizeMs: 2000 }, { clock: () => 1_700_000_000_123 });
    let allowed = 0;
    for (let i = 0; i < 50_000; i++) if (limiter.check('k').allowed) allowed++;
    expect(allowed).toBe(20_000);
  });

  it('refund takes back from the current window first', () => {
    const clock = new FakeClock();
    const limiter = new SlidingWindowLimiter(L10, { clock: clock.now });
    for (let i = 0; i < 10; i++) limiter.check('k');
    limiter.refund('k', 3);
    expect(limiter.check('k').remaining).toBe(2);
    clock.set(1000);
    limiter.refund('k', 2); // the window rolled: the 8 are prev now, and 6 after the refund
    expect(limiter.check('k').remaining).toBe(3); // 10 − 6·1 − 1
  });
});
