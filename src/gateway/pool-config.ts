/**
 * Settings of the upstream pool: the shape, the defaults, the seed's two
 * presets and the validation. No runtime code: option parsing (config.ts,
 * the CLI) and the pool both import it.
 */
import { LOAD_BALANCE_STRATEGIES, type LoadBalanceStrategy } from './load-balance-strategy.js';

/** The seed's PoolConfig, in camelCase, plus the timeouts a real pool needs. */
export interface PoolConfig {
  /** Sessions opened at start and kept open. Default 1. */
  minConnections: number;
  /** Upper bound on sessions (idle + leased + opening). Default 100. */
  maxConnections: number;
  /** How a member is chosen for a client session. Default `'RoundRobin'`. */
  loadBalanceStrategy: LoadBalanceStrategy;
  /** Open warm sessions ahead of demand and close surplus ones. Default true. */
  enableAutoScaling: boolean;
  /** Utilization (leased / size) at which the pool grows. Default 0.8. */
  scaleUpThreshold: number;
  /** Utilization at or below which, after the cool-down, the pool shrinks. Default 0.2. */
  scaleDownThreshold: number;
  /** How long utilization must stay low before shrinking, in ms. Default 30,000. */
  scaleDownCooldownMs: number;
  /** Interval of active health checks (MCP ping) in ms; 0 turns them off. Default 10,000. */
  healthCheckIntervalMs: number;
  /** A ping not answered within this many ms fails the check. Default 5,000. */
  healthCheckTimeoutMs: number;
  /** Idle sessions beyond minConnections are closed after this many ms; 0 = never. Default 300,000. */
  idleTimeoutMs: number;
  /** How long a client may wait for a session before it gets an error, in ms. Default 10,000. */
  acquireTimeoutMs: number;
  /** Time to start a session (spawn or connect, then answer ping), in ms. Default 10,000. */
  connectTimeoutMs: number;
  /** Sessions being opened at once for warm-up (cold opens for waiting clients are not limited). Default 8. */
  maxConcurrentOpens: number;
}

/** Defaults of {@link PoolConfig}. */
export const DEFAULT_POOL: Readonly<PoolConfig> = Object.freeze({
  minConnections: 1,
  maxConnections: 100,
  loadBalanceStrategy: 'RoundRobin',
  enableAutoScaling: true,
  scaleUpThreshold: 0.8,
  scaleDownThreshold: 0.2,
  scaleDownCooldownMs: 30_000,
  healthCheckIntervalMs: 10_000,
  healthCheckTimeoutMs: 5_000,
  idleTimeoutMs: 300_000,
  acquireTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  maxConcurrentOpens: 8,
});

/** The seed's two PoolConfig examples, as written there. */
export const POOL_PRESETS: Readonly<Record<'high-throughput' | 'high-availability', Partial<PoolConfig>>> = Object.freeze({
  'high-throughput': {
    minConnections: 10,
    maxConnections: 1000,
    loadBalanceStrategy: 'Random',
    enableAutoScaling: true,
    scaleUpThreshold: 0.7,
    scaleDownThreshold: 0.3,
    healthCheckIntervalMs: 10_000,
  },
  'high-availability': {
    minConnections: 20,
    maxConnections: 500,
    loadBalanceStrategy: 'LeastConnections',
    enableAutoScaling: true,
    scaleUpThreshold: 0.8,
    scaleDownThreshold: 0.2,
    healthCheckIntervalMs: 5_000,
  },
});

/** A preset name. */
export type PoolPreset = keyof typeof POOL_PRESETS;

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(message);
}

/**
 * Defaults, then `config`; validated with messages that name the option and
 * repeat the value. Returns a frozen object.
 */
export function resolvePoolConfig(config: Partial<PoolConfig> = {}): Readonly<PoolConfig> {
  const c: PoolConfig = { ...DEFAULT_POOL };
  for (const [k, v] of Object.entries(config)) if (v !== undefined && k in DEFAULT_POOL) (c as unknown as Record<string, unknown>)[k] = v;
  const int = (name: keyof PoolConfig, min: number): void => {
    const v = c[name] as number;
    check(Number.isSafeInteger(v) && v >= min, `${name} should be an integer ≥ ${min}, got ${String(v)}`);
  };
  int('minConnections', 0);
  int('maxConnections', 1);
  check(c.minConnections <= c.maxConnections, `minConnections (${c.minConnections}) should be at most maxConnections (${c.maxConnections})`);
  check(
    (LOAD_BALANCE_STRATEGIES as readonly string[]).includes(c.loadBalanceStrategy),
    `loadBalanceStrategy should be one of ${LOAD_BALANCE_STRATEGIES.join(', ')}, got ${JSON.stringify(c.loadBalanceStrategy)}`,
  );
  check(typeof c.enableAutoScaling === 'boolean', `enableAutoScaling should be a boolean, got ${String(c.enableAutoScaling)}`);
  for (const name of ['scaleUpThreshold', 'scaleDownThreshold'] as const) {
    const v = c[name];
    check(typeof v === 'number' && v >= 0 && v <= 1, `${name} should be a number from 0 to 1, got ${String(v)}`);
  }
  check(
    c.scaleDownThreshold < c.scaleUpThreshold,
    `scaleDownThreshold (${c.scaleDownThreshold}) should be below scaleUpThreshold (${c.scaleUpThreshold})`,
  );
  int('scaleDownCooldownMs', 0);
  int('healthCheckIntervalMs', 0);
  int('healthCheckTimeoutMs', 1);
  int('idleTimeoutMs', 0);
  int('acquireTimeoutMs', 1);
  int('connectTimeoutMs', 1);
  int('maxConcurrentOpens', 1);
  return Object.freeze(c);
}
