/**
 * The limiter's default clock: performance.now() read once per event-loop
 * turn.
 *
 * Why: on the machines this runs on a clock read costs 50–250 ns, more than
 * a whole in-memory check, and every message handled in one turn arrived
 * in the same socket reads anyway. The first read in a turn takes the time
 * and schedules one setImmediate that forgets it, so a turn costs one read
 * and one immediate however many messages it handles. A reading can be as
 * old as the turn is long; a stale reading refills less, never more.
 */
import type { Clock } from './types.js';

/**
 * Returns a clock that calls `source` (default performance.now) at most
 * once per event-loop turn.
 */
export function createTurnClock(source: Clock = () => performance.now()): Clock {
  let cached = 0;
  let fresh = false;
  const expire = (): void => {
    fresh = false;
  };
  return () => {
    if (fresh) return cached;
    fresh = true;
    cached = source();
    setImmediate(expire);
    return cached;
  };
}
