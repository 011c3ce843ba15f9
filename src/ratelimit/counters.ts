/**
 * Rate-limit counters as plain numbers, read by prom-client at scrape time
 * (the same pattern as src/metrics/metrics.ts): a check does one typed-array
 * increment, never a prom-client call.
 */
import { RATE_LIMIT_SCOPES, RATE_LIMIT_STRATEGIES, type RateLimitScope, type RateLimitStrategy } from './types.js';

const STRATEGIES = RATE_LIMIT_STRATEGIES.length;

/** Slot of a (scope, strategy) pair in {@link RateLimitCounters}' arrays. */
export function counterIndex(scope: RateLimitScope, strategy: RateLimitStrategy): number {
  return RATE_LIMIT_SCOPES.indexOf(scope) * STRATEGIES + RATE_LIMIT_STRATEGIES.indexOf(strategy);
}

/** A metric in the shape createRegistry's `extra` option takes. */
export interface RateLimitMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  read: () => Array<{ value: number; labels?: Record<string, string> }>;
}

/** Source of the figures that live outside the counters (store health, key counts). */
export interface RateLimitGauges {
  /** Failed store commands. */
  storeErrors(): number;
  /** Checks decided by the failure mode, by mode. */
  storeFailDecisions(): { open: number; closed: number };
  /** 1 when the shared store is up (or there is none), else 0. */
  storeUp(): number;
  /** Keys holding state in memory. */
  memoryKeys(): number;
}

/** Allowed, denied and delayed checks by scope and strategy. */
export class RateLimitCounters {
  /** Allowed checks; index with {@link counterIndex}. */
  readonly allowed = new Float64Array(RATE_LIMIT_SCOPES.length * STRATEGIES);
  /** Denied checks; index with {@link counterIndex}. */
  readonly denied = new Float64Array(RATE_LIMIT_SCOPES.length * STRATEGIES);
  /** Checks admitted with a delay (leaky bucket queue mode); index with {@link counterIndex}. */
  readonly delayed = new Float64Array(RATE_LIMIT_SCOPES.length * STRATEGIES);

  /** A plain nested snapshot: { allowed: { connection: { TokenBucket: n, … }, … }, denied: …, delayed: … }. Zero cells omitted. */
  snapshot(): Record<'allowed' | 'denied' | 'delayed', Partial<Record<RateLimitScope, Partial<Record<RateLimitStrategy, number>>>>> {
    return { allowed: table(this.allowed), denied: table(this.denied), delayed: table(this.delayed) };
  }

  /**
   * Metrics for createRegistry's `extra` option:
   * mcp_ws_ratelimit_{allowed,denied,delayed}_total{scope,strategy},
   * mcp_ws_ratelimit_store_errors_total, mcp_ws_ratelimit_store_fail_decisions_total{mode},
   * mcp_ws_ratelimit_store_up, mcp_ws_ratelimit_keys.
   */
  metrics(gauges: RateLimitGauges): RateLimitMetric[] {
    return [
      { name: 'mcp_ws_ratelimit_allowed_total', help: 'Rate-limit checks allowed, by scope and strategy', type: 'counter', read: () => labelled(this.allowed) },
      { name: 'mcp_ws_ratelimit_denied_total', help: 'Rate-limit checks denied, by scope and strategy', type: 'counter', read: () => labelled(this.denied) },
      { name: 'mcp_ws_ratelimit_delayed_total', help: 'Requests admitted after a queue delay, by scope and strategy', type: 'counter', read: () => labelled(this.delayed) },
      { name: 'mcp_ws_ratelimit_store_errors_total', help: 'Rate-limit store commands that failed', type: 'counter', read: () => [{ value: gauges.storeErrors() }] },
      {
        name: 'mcp_ws_ratelimit_store_fail_decisions_total',
        help: 'Checks decided by the failure mode while the store was unreachable',
        type: 'counter',
        read: () => {
          const d = gauges.storeFailDecisions();
          return [
            { labels: { mode: 'open' }, value: d.open },
            { labels: { mode: 'closed' }, value: d.closed },
          ];
        },
      },
      { name: 'mcp_ws_ratelimit_store_up', help: '1 when the shared rate-limit store is reachable (or none is configured)', type: 'gauge', read: () => [{ value: gauges.storeUp() }] },
      { name: 'mcp_ws_ratelimit_keys', help: 'Keys holding rate-limit state in this process', type: 'gauge', read: () => [{ value: gauges.memoryKeys() }] },
    ];
  }
}

function table(a: Float64Array): Partial<Record<RateLimitScope, Partial<Record<RateLimitStrategy, number>>>> {
  const out: Partial<Record<RateLimitScope, Partial<Record<RateLimitStrategy, number>>>> = {};
  RATE_LIMIT_SCOPES.forEach((scope, i) => {
    RATE_LIMIT_STRATEGIES.forEach((strategy, j) => {
      const v = a[i * STRATEGIES + j]!;
      if (v !== 0) (out[scope] ??= {})[strategy] = v;
    });
  });
  return out;
}

function labelled(a: Float64Array): Array<{ value: number; labels: Record<string, string> }> {
  const out: Array<{ value: number; labels: Record<string, string> }> = [];
  RATE_LIMIT_SCOPES.forEach((scope, i) => {
    RATE_LIMIT_STRATEGIES.forEach((strategy, j) => {
      const v = a[i * STRATEGIES + j]!;
      if (v !== 0) out.push({ labels: { scope, strategy }, value: v });
    });
  });
  return out;
}
