/**
 * McpWsGateway: serves MCP clients over WebSocket from a pool of upstream
 * MCP servers (WebSocket, Streamable HTTP, or stdio commands). Pass it to
 * McpWsServer as the handler:
 *
 * ```ts
 * const gateway = new McpWsGateway({
 *   upstreams: ['node server.js', 'ws://10.0.0.2:8080/ws'],
 *   pool: { minConnections: 4, loadBalanceStrategy: 'LeastConnections' },
 * });
 * await gateway.start();
 * const server = new McpWsServer({ handler: gateway });
 * await server.listen();
 * // shutdown: await server.close(); await gateway.close();
 * ```
 *
 * Each legacy client session is pinned to one upstream MCP session for its
 * life (see pool.ts for why); gateway-session.ts describes the id mapping,
 * timeouts, retries and what happens when an upstream dies. 2026-07-28
 * (stateless) requests are pinned to nothing: modern.ts serves them from
 * lane sessions the gateway opens for itself.
 */
import type { Logger } from 'pino';
import { silentLogger } from '../log.js';
import type { SessionHandler, SessionPeer } from '../server/handler.js';
import { validateBackoffOptions } from '../policy/backoff.js';
import type { BreakerConfig } from '../policy/circuit-breaker-options.js';
import { seededRandom, type RandomSource } from '../policy/random.js';
import { parseUpstreams, type UpstreamInput } from './config.js';
import { GatewaySession, GatewayStats } from './gateway-session.js';
import { gatewayMetrics, type ExtraMetric } from './metrics.js';
import { ModernLane, ModernStats, type ModernLaneHost } from './modern.js';
import { SharedLanes, SharedStats, type SharedLanesHost } from './shared.js';
import { defaultConnector } from './connector.js';
import { UpstreamPool } from './pool.js';
import { POOL_PRESETS, type PoolConfig, type PoolPreset } from './pool-config.js';
import { GATEWAY_OPTIONS, RETRY_OPTIONS, type RetryConfig, type UpstreamLostPolicy } from './session-options.js';
import type { UpstreamConnector } from './upstream.js';
import type { UpstreamSpec } from './upstream-spec.js';
import { StdioChildren, createStdioConnection } from './upstream-stdio.js';

/** Options of {@link McpWsGateway}. */
export interface McpWsGatewayOptions {
  /** The upstreams: URLs, command lines, config objects or resolved specs. At least one. */
  upstreams: ReadonlyArray<UpstreamInput | UpstreamSpec>;
  /** One of the seed's PoolConfig examples, applied before `pool`. */
  preset?: PoolPreset;
  /** Pool settings (see {@link PoolConfig}); override the preset. */
  pool?: Partial<PoolConfig>;
  /** Circuit breaker per upstream member. Default 5 failures, 10 s cool-down. */
  breaker?: Partial<BreakerConfig>;
  /** Retries of requests safe to repeat. Default 2 retries, 100 ms … 2 s full-jitter backoff. */
  retry?: Partial<RetryConfig>;
  /** A request not answered upstream within this many ms gets -32001 (or a retry). Default 60,000. */
  requestTimeoutMs?: number;
  /**
   * Messages of one client the gateway holds (backlogged while no upstream
   * session is ready, in flight, waiting for a retry) at which it stops
   * reading that client; reading resumes at half. Past twice this, requests
   * get -32018. Default 1024.
   */
  maxPendingPerClient?: number;
  /** What to do when an initialized client's upstream session dies. Default `'close'` (4003). */
  onUpstreamLost?: UpstreamLostPolicy;
  /** Logger. Default silent. */
  logger?: Logger;
  /** Clock in ms (breakers, deadlines). Default `Date.now`. */
  clock?: () => number;
  /** Random source for balancing and retry jitter. */
  random?: RandomSource;
  /** Makes upstream connections; default by kind. For tests. */
  connect?: UpstreamConnector;
  /** Period of the maintenance timer in ms; default derived from the timeouts. */
  tickMs?: number;
  /**
   * Stdio children get stdin EOF when their session ends, SIGTERM this many
   * ms later and SIGKILL as long again. close() waits for all of them.
   * Default 2,000.
   */
  closeGraceMs?: number;
}

function isSpec(u: unknown): u is UpstreamSpec {
  return typeof u === 'object' && u !== null && 'kind' in u && 'name' in u && 'weight' in u;
}

/** A WebSocket front for a pool of upstream MCP servers. */
export class McpWsGateway implements ModernLaneHost, SharedLanesHost {
  /** The pool of upstream sessions. */
  readonly pool: UpstreamPool;
  /** Client-session counters. */
  readonly stats = new GatewayStats();
  /** Counters of the 2026-07-28 lane. */
  readonly modernStats = new ModernStats();
  /** Serves 2026-07-28 (stateless) requests from lane sessions of its own (modern.ts). */
  readonly modern: ModernLane;
  /** Counters of shared upstream sessions. */
  readonly sharedStats = new SharedStats();
  /** With pool setting `sharing: "shared"`: the shared upstream sessions 2025-era clients are served from (shared.ts). */
  readonly shared: SharedLanes | undefined;
  /** Resolved request timeout. */
  readonly requestTimeoutMs: number;
  /** Resolved pending limit per client. */
  readonly maxPendingPerClient: number;
  /** Resolved retry policy. */
  readonly retry: RetryConfig;
  /** Resolved upstream-lost policy. */
  readonly onUpstreamLost: UpstreamLostPolicy;
  /** Logger. */
  readonly logger: Logger;
  /** Random source (retry jitter). */
  readonly random: RandomSource;
  /** True once close() began. */
  closing = false;
  private readonly sessions = new Set<GatewaySession>();
  /** Stdio children this gateway started that have not exited. */
  private readonly children = new StdioChildren();

  /** @throws RangeError or ConfigError naming the option when a setting is invalid */
  constructor(options: McpWsGatewayOptions) {
    const inputs = options.upstreams ?? [];
    const specs =
      inputs.length > 0 && inputs.every(isSpec)
        ? (inputs as UpstreamSpec[])
        : parseUpstreams(inputs.map((u) => (isSpec(u) ? specToInput(u) : u)));
    this.logger = options.logger ?? silentLogger;
    this.random = options.random ?? seededRandom((Math.random() * 4294967296) >>> 0);
    const settings = GATEWAY_OPTIONS.resolve(options);
    this.requestTimeoutMs = settings.requestTimeoutMs;
    this.maxPendingPerClient = settings.maxPendingPerClient;
    const retry = RETRY_OPTIONS.resolve(options.retry ?? {}, 'retry.');
    validateBackoffOptions(retry, 'retry.');
    this.retry = Object.freeze(retry);
    this.onUpstreamLost = settings.onUpstreamLost;
    const grace = settings.closeGraceMs;
    const stdio = { closeGraceMs: grace, group: this.children };
    const connect: UpstreamConnector =
      options.connect ?? ((spec, logger) => (spec.kind === 'stdio' ? createStdioConnection(spec, logger, stdio) : defaultConnector(spec, logger)));
    const preset = options.preset === undefined ? {} : POOL_PRESETS[options.preset];
    if (preset === undefined) throw new RangeError(`preset should be one of ${Object.keys(POOL_PRESETS).join(', ')}, got ${JSON.stringify(options.preset)}`);
    this.pool = new UpstreamPool({
      upstreams: specs,
      pool: { ...preset, ...stripUndefined(options.pool ?? {}) },
      breaker: options.breaker,
      logger: this.logger,
      clock: options.clock,
      random: this.random,
      connect,
      tickMs: options.tickMs,
      tickFor: [settings.requestTimeoutMs],
      onTick: (now) => this.sweep(now),
    });
    this.modern = new ModernLane(this);
    this.shared = this.pool.config.sharing === 'shared' ? new SharedLanes(this) : undefined;
  }

  /** Opens the pool's minConnections sessions. Rejects when none could be opened. */
  start(): Promise<void> {
    return this.pool.start();
  }

  /** Makes the handler of one client session (McpWsServer calls this). */
  createHandler(peer: SessionPeer): SessionHandler {
    const session = new GatewaySession(peer, this);
    this.sessions.add(session);
    return session;
  }

  /** Client sessions open now. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Client messages the gateway holds now, over all sessions (backlogged, in flight, retrying). */
  get pendingRequests(): number {
    let n = 0;
    for (const s of this.sessions) n += s.pending;
    return n;
  }

  /** @internal */
  sessionClosed(session: GatewaySession): void {
    this.sessions.delete(session);
  }

  /**
   * Closes the pool: upstream sessions end and remaining client sessions
   * are closed with 1001. Resolves once every stdio child this gateway
   * started has exited — released ones too — each having had stdin EOF and
   * closeGraceMs before SIGTERM. Close the server first so clients are
   * drained gracefully. Idempotent.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.modern.close();
    this.shared?.close();
    await this.pool.close();
    await this.children.close();
  }

  /**
   * The server is draining (McpWsServer calls this): subscriptions/listen
   * held for 2026-07-28 clients end with a complete result.
   */
  drain(): void {
    this.modern.drain();
  }

  /** Metrics in the shape `createRegistry(m, { extra })` accepts. */
  metrics(): ExtraMetric[] {
    return gatewayMetrics(this.pool, this.stats, () => this.pendingRequests);
  }

  /** A plain snapshot for logs, tests and dashboards. */
  snapshot(): Record<string, unknown> {
    const pool = this.pool;
    return {
      sessions: this.sessions.size,
      pending: this.pendingRequests,
      pool: { size: pool.size, idle: pool.idle, leased: pool.leased, waiting: pool.waiting, ...pool.stats },
      stats: { ...this.stats },
      modern: { laneSessions: this.modern.size, ...this.modernStats },
      ...(this.shared === undefined ? {} : { shared: { laneSessions: this.shared.size, ...this.sharedStats } }),
      upstreams: pool.members.map((m) => ({
        name: m.name,
        kind: m.spec.kind,
        active: m.leased,
        idle: m.idle.length,
        opening: m.opening,
        requests: m.metrics.requests,
        retries: m.metrics.retries,
        errors: { ...m.metrics.errors },
        latency: { count: m.metrics.latency.count, sumSeconds: m.metrics.latency.sum },
        breaker: m.breaker.toJSON(),
      })),
    };
  }

  private sweep(now: number): void {
    for (const s of this.sessions) s.sweep(now);
    this.modern.sweep(now);
    this.shared?.sweep(now);
  }
}

function specToInput(spec: UpstreamSpec): UpstreamInput {
  if (spec.kind === 'stdio') {
    return {
      command: spec.command,
      args: [...spec.args],
      env: { ...spec.env },
      inheritEnv: spec.inheritEnv,
      ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
      transport: spec.transport,
      name: spec.name,
      weight: spec.weight,
    };
  }
  return { url: spec.url, headers: { ...spec.headers }, name: spec.name, weight: spec.weight };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] !== undefined) out[key] = value[key];
  return out;
}
