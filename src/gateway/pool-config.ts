/**
 * Settings of the upstream pool: the shape, the defaults, the seed's two
 * presets and the validation. No runtime code: option parsing (config.ts,
 * the CLI) and the pool both import it.
 */
import { bool, defineOptions, int, num, oneOf } from '../config/option-set.js';
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
  /**
   * How 2025-era client sessions use upstream sessions: `'per-client'` (default)
   * leases one upstream session per client session; `'shared'` multiplexes every
   * client over a few upstream sessions the gateway opens itself (shared.ts), for
   * stateless servers only. 2026-07-28 clients are always served from shared
   * lane sessions (modern.ts).
   */
  sharing: Sharing;
}

/** Values of {@link PoolConfig.sharing}. */
export const SHARING_MODES = ['per-client', 'shared'] as const;
/** One of {@link SHARING_MODES}. */
export type Sharing = (typeof SHARING_MODES)[number];

/**
 * The declaration of every pool setting: kind, range, default. The
 * defaults, the config file's zod fields (gateway/config.ts) and
 * {@link resolvePoolConfig} come from it; meanings are in {@link PoolConfig}.
 */
export const POOL_OPTIONS = defineOptions({
  minConnections: int({ min: 0, default: 1 }),
  maxConnections: int({ min: 1, default: 100 }),
  loadBalanceStrategy: oneOf(LOAD_BALANCE_STRATEGIES, { default: 'RoundRobin' }),
  enableAutoScaling: bool({ default: true }),
  scaleUpThreshold: num({ min: 0, max: 1, default: 0.8 }),
  scaleDownThreshold: num({ min: 0, max: 1, default: 0.2 }),
  scaleDownCooldownMs: int({ min: 0, default: 30_000 }),
  healthCheckIntervalMs: int({ min: 0, default: 10_000 }),
  healthCheckTimeoutMs: int({ min: 1, default: 5_000 }),
  idleTimeoutMs: int({ min: 0, default: 300_000 }),
  acquireTimeoutMs: int({ min: 1, default: 10_000 }),
  connectTimeoutMs: int({ min: 1, default: 10_000 }),
  maxConcurrentOpens: int({ min: 1, default: 8 }),
  sharing: oneOf(SHARING_MODES, { default: 'per-client' }),
});

/** Defaults of {@link PoolConfig}. */
export const DEFAULT_POOL: Readonly<PoolConfig> = POOL_OPTIONS.defaults;

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
  // Typed as the public interface: a setting missing from the declaration, or declared with another type, does not compile.
  const c: PoolConfig = POOL_OPTIONS.resolve(config);
  check(c.minConnections <= c.maxConnections, `minConnections (${c.minConnections}) should be at most maxConnections (${c.maxConnections})`);
  check(
    c.scaleDownThreshold < c.scaleUpThreshold,
    `scaleDownThreshold (${c.scaleDownThreshold}) should be below scaleUpThreshold (${c.scaleUpThreshold})`,
  );
  return Object.freeze(c);
}
