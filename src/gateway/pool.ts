/**
 * UpstreamPool: the seed's ConnectionPool made real. A pool of upstream MCP
 * sessions over a set of members (upstream servers), each session handed to
 * exactly one client session for that client's life and closed afterwards.
 *
 * Why one upstream session per client session (not multiplexing): an MCP
 * session is stateful — the negotiated revision and client capabilities,
 * clientInfo, resource subscriptions, the log level, roots, tasks, and which
 * client a sampling or elicitation request must reach all live in it. Many
 * servers (server-everything among them) even register tools according to
 * the client's capabilities. Sharing one upstream session between clients
 * would have the gateway fake `initialize` and lose all of that. So the
 * client's own `initialize` goes upstream unchanged, and the pool's job is
 * to make that fast: sessions are opened ahead of demand ("warm": spawned or
 * connected and answering ping, not yet initialized), handed out one per
 * client, and replaced.
 *
 *   size = idle (warm, unleased) + leased + opening
 *
 * Sessions move opening → idle → leased → closed (or opening → leased for a
 * cold acquire); the diagram and the transitions are in pool-member.ts.
 * Waiters: one FIFO queue holds every client not yet served, also one a
 * session is being opened for, so each keeps its deadline (ACQUIRE_TIMEOUT
 * or NO_HEALTHY_UPSTREAM at acquireTimeoutMs, measured by the tick) and
 * close() rejects all of them with POOL_CLOSED. A session that finishes
 * opening goes to the oldest waiter, else to the idle list; one that
 * finishes after close() is closed. A failed open leaves its waiter queued:
 * it is served again (another member, or the same while its breaker stays
 * closed) until its deadline.
 *
 * - minConnections are opened at start and kept (a closed session is replaced).
 * - A client that finds no warm session on the member the balancer chose gets
 *   one opened for it ("cold"), up to maxConnections in total; past that it
 *   waits for a release, up to acquireTimeoutMs, then gets a clear error.
 * - enableAutoScaling: when leased/size reaches scaleUpThreshold the pool
 *   opens warm sessions until utilization is back between the thresholds;
 *   when it stays at or below scaleDownThreshold for scaleDownCooldownMs,
 *   idle sessions are closed (never below minConnections).
 * - Idle sessions beyond minConnections are closed after idleTimeoutMs.
 * - Health: every healthCheckIntervalMs, each session that has been silent
 *   for the interval gets an MCP `ping` (ids from the session's own counter,
 *   so they never collide with a client's); no answer within
 *   healthCheckTimeoutMs ends it. Passive signals (a session dying, a connect
 *   failing, a transport error) feed the member's circuit breaker too; a slow
 *   request or a JSON-RPC error does not (see breaker.ts).
 * - A member whose breaker is open is not chosen and its warm sessions are
 *   closed; after halfOpenAfterMs one trial session is opened and pinged
 *   (for Streamable HTTP: initialize + ping + DELETE); success closes the breaker.
 *
 * One timer drives everything (health checks, trials, scaling, timeouts).
 * Members and pooled sessions live in pool-member.ts.
 */
import type { Logger } from 'pino';
import { silentLogger } from '../log.js';
import { CircuitBreaker, type BreakerState } from '../policy/circuit-breaker.js';
import { DEFAULT_BREAKER, type BreakerConfig } from '../policy/circuit-breaker-options.js';
import type { RandomSource } from '../policy/random.js';
import { MemberTable, type Balancer } from './balancer.js';
import { createBalancer } from './balancers.js';
import { LOAD_BALANCE_STRATEGIES, type LoadBalanceStrategy } from './load-balance-strategy.js';
import { GatewayError } from './errors.js';
import { PoolMember, PooledSession } from './pool-member.js';
import { firstLine, type UpstreamConnector, type UpstreamSpec } from './upstream.js';
import { HttpUpstreamConnection } from './upstream-http.js';
import { createStdioConnection } from './upstream-stdio.js';
import { WsUpstreamConnection } from './upstream-ws.js';

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

/**
 * A client waiting for a session. Every waiter stays in the pool's FIFO
 * queue until it is settled, also while a session is being opened for it,
 * so its deadline and close() reach it wherever it is.
 */
interface Waiter {
  resolve: (s: PooledSession) => void;
  reject: (err: Error) => void;
  deadline: number;
}

/** Pool-wide counters. */
export class PoolStats {
  /** Clients served from a warm session. */
  acquiredWarm = 0;
  /** Clients that waited for a session to be opened for them. */
  acquiredCold = 0;
  /** Acquires that gave up after acquireTimeoutMs. */
  acquireTimeouts = 0;
  /** Sessions that failed to open. */
  openFailures = 0;
}

/** Options of {@link UpstreamPool}. */
export interface UpstreamPoolOptions {
  /** The members, at least one. Names must be unique. */
  upstreams: readonly UpstreamSpec[];
  /** Pool settings; defaults in {@link DEFAULT_POOL}. */
  pool?: Partial<PoolConfig>;
  /** Circuit breaker settings per member; defaults in {@link DEFAULT_BREAKER}. */
  breaker?: Partial<BreakerConfig>;
  /** Logger. Default silent. */
  logger?: Logger;
  /** Clock in ms. Default `Date.now`. */
  clock?: () => number;
  /** Random source for Random and PowerOfTwoChoices. */
  random?: RandomSource;
  /** Makes connections; default by kind (ws, http, stdio). Tests may inject. */
  connect?: UpstreamConnector;
  /** Period of the maintenance timer in ms. Default: derived from the timeouts (20–1000 ms). */
  tickMs?: number;
  /** Called on every tick with the pool clock (the gateway sweeps request timeouts here). */
  onTick?: (now: number) => void;
  /** Other timeouts the tick must serve with ~10% precision (the gateway's request timeout). */
  tickFor?: readonly number[];
}

/** Makes a connection for `spec` by its kind. */
export const defaultConnector: UpstreamConnector = (spec, logger) => {
  switch (spec.kind) {
    case 'ws':
      return new WsUpstreamConnection(spec, logger);
    case 'http':
      return new HttpUpstreamConnection(spec, logger);
    case 'stdio':
      return createStdioConnection(spec, logger);
  }
};

const PROBE_CLIENT = { name: 'mcp-ws-gateway-probe', version: '0.1.0' };

/** A pool of upstream MCP sessions over one or more members. */
export class UpstreamPool {
  /** Resolved settings. */
  readonly config: Readonly<PoolConfig>;
  /** The members, in configuration order. */
  readonly members: readonly PoolMember[];
  /** What the balancer reads. */
  readonly table: MemberTable;
  /** Chooses a member per client session. */
  readonly balancer: Balancer;
  /** Counters. */
  readonly stats = new PoolStats();
  /** Logger. */
  readonly logger: Logger;
  /** Coarse clock (ms), advanced by every tick. */
  now: number;
  private readonly clock: () => number;
  private readonly connect: UpstreamConnector;
  private readonly onTick: ((now: number) => void) | undefined;
  private readonly tickMs: number;
  /** Unsettled waiters, oldest first; the first `coldOpening` of them are being served by an open. */
  private readonly waiters: Waiter[] = [];
  /** Opens in flight for waiters (cold acquires). */
  private coldOpening = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private lowSince = 0;
  private warmOpening = 0;

  /** @throws RangeError naming the option when a setting is invalid */
  constructor(options: UpstreamPoolOptions) {
    const specs = options.upstreams;
    if (!Array.isArray(specs as unknown) || specs.length === 0) throw new RangeError('upstreams should list at least one upstream');
    const names = new Set<string>();
    for (const s of specs) {
      if (names.has(s.name)) throw new RangeError(`upstream names should be unique, got ${JSON.stringify(s.name)} twice`);
      names.add(s.name);
    }
    this.config = resolvePoolConfig(options.pool);
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? Date.now;
    this.now = this.clock();
    this.connect = options.connect ?? defaultConnector;
    this.onTick = options.onTick;
    const breaker = { ...DEFAULT_BREAKER, ...stripUndefined(options.breaker ?? {}) };
    this.table = new MemberTable(specs.length, specs.map((s) => s.weight));
    this.members = specs.map((spec, i) => {
      const b = new CircuitBreaker({
        failureThreshold: breaker.failureThreshold,
        halfOpenAfterMs: breaker.halfOpenAfterMs,
        clock: this.clock,
        onStateChange: (state, previous) => this.breakerChanged(i, state, previous),
      });
      return new PoolMember(i, spec, b);
    });
    this.balancer = createBalancer(this.config.loadBalanceStrategy, this.table, options.random);
    const c = this.config;
    const quarter = [c.acquireTimeoutMs, c.healthCheckTimeoutMs, breaker.halfOpenAfterMs, 4000];
    if (c.healthCheckIntervalMs > 0) quarter.push(c.healthCheckIntervalMs);
    const tenth = options.tickFor ?? [];
    this.tickMs = options.tickMs ?? Math.max(20, Math.min(1000, Math.floor(Math.min(...quarter) / 4), ...tenth.map((t) => Math.floor(t / 10))));
  }

  /** Sessions open or opening (idle + leased + opening). */
  get size(): number {
    let n = 0;
    for (const m of this.members) n += m.sessions.size;
    return n;
  }

  /** Sessions leased to clients. */
  get leased(): number {
    let n = 0;
    for (const m of this.members) n += m.leased;
    return n;
  }

  /** Warm sessions waiting for a client. */
  get idle(): number {
    let n = 0;
    for (const m of this.members) n += m.idle.length;
    return n;
  }

  /** Clients waiting for a session. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Opens minConnections sessions, spread over the members, and starts the
   * maintenance timer. Rejects (after closing) when minConnections > 0 and
   * not one session could be opened, with the first failure's message.
   */
  async start(): Promise<void> {
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
    const opens: Array<Promise<PooledSession>> = [];
    for (let k = 0; k < this.config.minConnections; k++) {
      const member = this.warmTarget();
      if (member === undefined) break;
      opens.push(this.openWarm(member));
    }
    const results = await Promise.allSettled(opens);
    if (results.length > 0 && results.every((r) => r.status === 'rejected')) {
      const first = (results[0] as PromiseRejectedResult).reason as Error;
      await this.close();
      throw new GatewayError('UPSTREAM_START_FAILED', `no upstream session could be opened: ${firstLine(first)}`, { cause: first });
    }
  }

  /**
   * A session for one client: warm when one is ready on the chosen member,
   * otherwise opened for the caller. Rejects with a {@link GatewayError}
   * (`ACQUIRE_TIMEOUT`, `POOL_CLOSED`) when none can be had within
   * acquireTimeoutMs.
   */
  acquire(): Promise<PooledSession> {
    if (this.closed) return Promise.reject(new GatewayError('POOL_CLOSED', 'the upstream pool is closed'));
    return new Promise<PooledSession>((resolve, reject) => {
      this.waiters.push({ resolve, reject, deadline: this.clock() + this.config.acquireTimeoutMs });
      this.pump();
    });
  }

  /** Gives a leased session back: it is closed (MCP sessions are not reusable) and replaced as needed. */
  release(s: PooledSession): void {
    if (s.state !== 'leased') return;
    s.owner = undefined;
    this.retire(s, 'released');
    void s.conn.close();
    this.maintain();
    this.pump();
  }

  /**
   * Ends a session found broken (a failed health check): counts a failure
   * against its member and reports the loss to its owner.
   */
  discard(s: PooledSession, reason: string): void {
    if (s.state === 'closed') return;
    this.sessionEnded(s, reason);
    void s.conn.close();
  }

  /** Closes every session and stops the timer; waiting clients get POOL_CLOSED. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    // Queued and being served alike: a session still opening is closed when its open ends.
    for (const w of this.waiters.splice(0)) w.reject(new GatewayError('POOL_CLOSED', 'the upstream pool is closed'));
    const closing: Array<Promise<void>> = [];
    for (const m of this.members) {
      for (const s of [...m.sessions]) {
        const owner = s.state === 'leased' ? s.owner : undefined;
        this.retire(s, 'gateway shutting down');
        owner?.upstreamClosed('gateway shutting down');
        closing.push(s.conn.close());
      }
    }
    await Promise.allSettled(closing);
  }

  // ------------------------------------------------------------ acquiring

  /**
   * Serves waiting clients while sessions can be had, oldest first: a warm
   * session goes to the oldest waiter; a waiter not yet covered by an open in
   * flight gets one started (cold), up to maxConnections. Whichever open
   * finishes first serves the oldest waiter then (see handOut).
   */
  private pump(): void {
    while (this.waiters.length > 0 && !this.closed) {
      const m = this.balancer.select();
      if (m < 0) return; // No healthy member: wait for a trial to close a breaker.
      const member = this.members[m]!;
      let s: PooledSession | undefined = member.idle[0];
      if (s === undefined && (this.waiters.length <= this.coldOpening || this.size >= this.config.maxConnections)) {
        s = this.takeAnyIdle();
        if (s === undefined) return; // Every waiter is being served, or the pool is full: wait.
      }
      if (s !== undefined) {
        this.stats.acquiredWarm++;
        this.lease(s, this.waiters.shift()!);
      } else {
        this.openFor(member);
      }
    }
  }

  private takeAnyIdle(): PooledSession | undefined {
    for (const m of this.members) {
      if (m.breaker.isClosed && m.idle.length > 0) return m.idle[0];
    }
    return undefined;
  }

  private lease(s: PooledSession, w: Waiter): void {
    s.toLeased();
    w.resolve(s);
  }

  /**
   * Opens a session on `member` for the waiting clients (a cold acquire).
   * Failure policy: the waiter it covered is still queued, uncovered now, and
   * the next pump serves it again (another member, or the same one while its
   * breaker stays closed) until its deadline or close().
   */
  private openFor(member: PoolMember): void {
    this.coldOpening++;
    // Counted as active at once, so least-connections sees it before it is open.
    this.table.addActive(member.index, 1);
    this.open(member).then(
      (s) => {
        this.coldOpening--;
        this.table.addActive(member.index, -1);
        this.handOut(s, true);
      },
      () => {
        this.coldOpening--;
        this.table.addActive(member.index, -1);
        if (!this.closed && this.waiters.length > 0) setImmediate(() => this.pump());
      },
    );
  }

  /**
   * A session finished opening: to the oldest waiter when there is one,
   * otherwise to the idle list; closed when the pool closed meanwhile.
   */
  private handOut(s: PooledSession, cold: boolean): void {
    if (s.state === 'closed') {
      // It ended between opening and now: serve its waiter another way.
      this.pump();
      return;
    }
    if (this.closed) {
      this.retire(s, 'pool closed');
      void s.conn.close();
      return;
    }
    // A warm or trial session opened while its breaker tripped is not handed out (makeIdle closes it).
    const w = cold || s.member.breaker.isClosed ? this.waiters.shift() : undefined;
    if (w !== undefined) {
      if (cold) this.stats.acquiredCold++;
      else this.stats.acquiredWarm++;
      this.lease(s, w);
    } else {
      this.makeIdle(s);
    }
    this.pump();
  }

  // ------------------------------------------------------------- opening

  /**
   * Opens one session on `member`: start the connection, then (where the
   * upstream allows it before initialize) one ping to prove it answers.
   * Success and failure feed the member's breaker.
   */
  private async open(member: PoolMember): Promise<PooledSession> {
    const conn = this.connect(member.spec, this.logger);
    const s = new PooledSession(this, member, conn);
    const timeoutMs = this.config.connectTimeoutMs;
    try {
      await withTimeout(conn.start(), timeoutMs, `${member.name}: not started within ${timeoutMs} ms`);
      if (conn.preInitPing) await s.request('ping', undefined, timeoutMs);
      if (s.state === 'closed') throw new GatewayError('UPSTREAM_CLOSED', `${member.name}: session ended while opening`);
    } catch (err) {
      s.toClosed('open failed');
      void conn.close();
      // An open cut short by close() says nothing about the upstream.
      if (!this.closed) {
        member.metrics.errors.connect++;
        this.stats.openFailures++;
        member.breaker.failure();
        this.logger.warn({ upstream: member.name, err: firstLine(err) }, 'upstream session failed to open');
      }
      throw err;
    }
    member.metrics.opened++;
    // Only a ping answered is evidence; a Streamable HTTP session opens without touching the network.
    if (conn.preInitPing) member.breaker.success();
    return s;
  }

  /** Opens a warm session and puts it in the idle list. */
  private openWarm(member: PoolMember): Promise<PooledSession> {
    this.warmOpening++;
    const p = this.open(member);
    p.then(
      (s) => {
        this.warmOpening--;
        this.handOut(s, false);
      },
      () => {
        this.warmOpening--;
      },
    );
    return p;
  }

  private makeIdle(s: PooledSession): void {
    if (!s.member.breaker.isClosed) {
      // Opened while the breaker was tripping: do not keep it warm.
      this.retire(s, 'member unhealthy');
      void s.conn.close();
      return;
    }
    s.toIdle(this.now);
  }

  /** The healthy member with the fewest warm sessions per weight (where the next warm session goes). */
  private warmTarget(): PoolMember | undefined {
    let best: PoolMember | undefined;
    let bestScore = Infinity;
    for (const m of this.members) {
      if (!m.breaker.isClosed) continue;
      const score = (m.idle.length + m.opening + 1) / m.spec.weight;
      if (score < bestScore) {
        bestScore = score;
        best = m;
      }
    }
    return best;
  }

  // ---------------------------------------------------------- session end

  /** Removes a session from the books without telling anyone. */
  private retire(s: PooledSession, reason: string): void {
    s.toClosed(reason);
  }

  /**
   * @internal A session ended on its own (or was discarded): a failure for
   * its member; a leased session's client is told.
   */
  sessionEnded(s: PooledSession, reason: string): void {
    const state = s.state;
    if (state === 'closed' || state === 'opening') {
      // Opening: open() sees the closed state and reports the failure itself.
      if (state === 'opening') s.toClosed(reason);
      return;
    }
    const owner = s.owner;
    s.owner = undefined;
    this.retire(s, reason);
    const member = s.member;
    member.metrics.errors.lost++;
    member.breaker.failure();
    this.logger.warn({ upstream: member.name, state, reason }, 'upstream session lost');
    owner?.upstreamClosed(reason);
    this.maintain();
    this.pump();
  }

  private breakerChanged(i: number, state: BreakerState, previous: BreakerState): void {
    const member = this.members[i]!;
    this.table.setHealthy(i, state === 'closed');
    this.logger.warn({ upstream: member.name, state, previous }, 'circuit breaker');
    if (state === 'open') {
      for (const s of [...member.idle]) {
        this.retire(s, 'circuit breaker open');
        void s.conn.close();
      }
    } else if (state === 'closed') {
      queueMicrotask(() => this.pump());
    }
  }

  // ---------------------------------------------------------- maintenance

  /** @internal One maintenance pass; the timer calls it. */
  tick(): void {
    if (this.closed) return;
    const now = (this.now = this.clock());
    for (const m of this.members) {
      if (m.breaker.state === 'open' && !m.probing && m.breaker.tryTrial()) this.trial(m);
    }
    if (this.config.healthCheckIntervalMs > 0) {
      for (const m of this.members) {
        if (now - m.lastHealthCheck >= this.config.healthCheckIntervalMs) this.healthCheck(m, now);
      }
    }
    // Every unsettled waiter is in the queue, also one a session is being opened for.
    for (let k = this.waiters.length - 1; k >= 0; k--) {
      const w = this.waiters[k]!;
      if (w.deadline <= now) {
        this.waiters.splice(k, 1);
        this.stats.acquireTimeouts++;
        w.reject(this.acquireTimeoutError());
      }
    }
    this.maintain();
    this.onTick?.(now);
  }

  private acquireTimeoutError(): GatewayError {
    const ms = this.config.acquireTimeoutMs;
    if (this.table.healthyCount === 0) {
      const next = Math.min(...this.members.map((m) => m.breaker.trialDueIn()));
      return new GatewayError(
        'NO_HEALTHY_UPSTREAM',
        `no healthy upstream within ${ms} ms: all ${this.members.length} circuit breakers are open (next trial in ${next} ms)`,
      );
    }
    return new GatewayError(
      'ACQUIRE_TIMEOUT',
      `no upstream session free within ${ms} ms: ${this.leased} of maxConnections ${this.config.maxConnections} in use` +
        (this.coldOpening > 0 ? `, ${this.coldOpening} being opened` : ''),
    );
  }

  /** Scaling and idle timeout; also called after releases and losses. */
  private maintain(): void {
    if (this.closed) return;
    const c = this.config;
    const size = this.size;
    const leased = this.leased;
    let target = c.minConnections;
    if (c.enableAutoScaling) {
      const u = size === 0 ? (leased > 0 ? 1 : 0) : leased / size;
      const mid = (c.scaleUpThreshold + c.scaleDownThreshold) / 2;
      if (leased > 0 && u >= c.scaleUpThreshold) {
        target = Math.max(target, Math.ceil(leased / mid));
        this.lowSince = 0;
      } else if (u <= c.scaleDownThreshold && size > c.minConnections) {
        if (this.lowSince === 0) this.lowSince = this.now || 1;
        else if (this.now - this.lowSince >= c.scaleDownCooldownMs) {
          this.shrinkTo(Math.max(c.minConnections, Math.ceil(leased / mid)));
          this.lowSince = this.now || 1;
        }
      } else {
        this.lowSince = 0;
      }
    }
    if (c.idleTimeoutMs > 0) this.expireIdle();
    target = Math.min(target, c.maxConnections);
    let need = target - this.size;
    while (need > 0 && this.warmOpening < c.maxConcurrentOpens) {
      const member = this.warmTarget();
      if (member === undefined) break;
      this.openWarm(member).catch(() => {});
      need--;
    }
  }

  private shrinkTo(target: number): void {
    let excess = this.size - target;
    // Oldest idle sessions first, from the members with the most idle ones.
    while (excess > 0) {
      let from: PoolMember | undefined;
      for (const m of this.members) if (m.idle.length > 0 && (from === undefined || m.idle.length > from.idle.length)) from = m;
      if (from === undefined) return;
      const s = from.idle[0]!;
      this.retire(s, 'scaled down');
      void s.conn.close();
      excess--;
    }
  }

  private expireIdle(): void {
    const limit = this.now - this.config.idleTimeoutMs;
    let excess = this.size - this.config.minConnections;
    for (const m of this.members) {
      while (excess > 0 && m.idle.length > 0 && m.idle[0]!.idleSince <= limit) {
        const s = m.idle[0]!;
        this.retire(s, 'idle timeout');
        void s.conn.close();
        excess--;
      }
    }
  }

  /** Pings every session of `m` that has been silent for the interval. */
  private healthCheck(m: PoolMember, now: number): void {
    m.lastHealthCheck = now;
    if (!m.breaker.isClosed) return;
    const interval = this.config.healthCheckIntervalMs;
    let pingable = 0;
    for (const s of m.sessions) {
      if (s.state !== 'idle' && s.state !== 'leased') continue;
      if (!s.conn.preInitPing && !s.initialized) continue;
      pingable++;
      if (s.pinging || now - s.lastInbound < interval) continue;
      s.pinging = true;
      s.request('ping', undefined, this.config.healthCheckTimeoutMs).then(
        () => {
          s.pinging = false;
          // An answered ping is evidence for the connection: it ends a failure streak.
          m.breaker.success();
        },
        (err: unknown) => {
          s.pinging = false;
          if (s.state === 'closed') return;
          m.metrics.errors.health++;
          this.discard(s, `health check failed: ${firstLine(err)}`);
        },
      );
    }
    // Streamable HTTP with no initialized session to ping: check the server with a probe session.
    if (pingable === 0 && m.spec.kind === 'http' && !m.probing) {
      m.probing = true;
      this.probe(m).then(
        () => {
          m.probing = false;
          m.breaker.success();
        },
        (err: unknown) => {
          m.probing = false;
          m.metrics.errors.health++;
          m.breaker.failure();
          this.logger.warn({ upstream: m.name, err: firstLine(err) }, 'health probe failed');
        },
      );
    }
  }

  /** The half-open trial: a fresh session (or, for Streamable HTTP, a probe) decides the breaker. */
  private trial(m: PoolMember): void {
    m.probing = true;
    this.logger.info({ upstream: m.name }, 'circuit breaker trial');
    if (m.spec.kind === 'http') {
      this.probe(m).then(
        () => {
          m.probing = false;
          m.breaker.success();
        },
        () => {
          m.probing = false;
          m.breaker.failure();
        },
      );
      return;
    }
    // open() reports success or failure to the breaker, which closes or reopens it.
    this.warmOpening++;
    this.open(m).then(
      (s) => {
        m.probing = false;
        this.warmOpening--;
        this.handOut(s, false);
      },
      () => {
        m.probing = false;
        this.warmOpening--;
      },
    );
  }

  /** A full MCP handshake on a throwaway session: initialize, initialized, ping, close. */
  private async probe(m: PoolMember): Promise<void> {
    const conn = this.connect(m.spec, this.logger);
    // Not in the member's books: 'opening' makes an early end just fail the calls.
    const s = new PooledSession(this, m, conn, false);
    const timeoutMs = this.config.healthCheckTimeoutMs;
    try {
      await withTimeout(conn.start(), timeoutMs, `${m.name}: not started within ${timeoutMs} ms`);
      const init = (await s.request(
        'initialize',
        { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: PROBE_CLIENT },
        timeoutMs,
      )) as { protocolVersion?: string };
      if (typeof init?.protocolVersion === 'string') conn.setProtocolVersion(init.protocolVersion);
      conn.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      await s.request('ping', undefined, timeoutMs);
    } finally {
      s.toClosed('probe finished');
      await conn.close().catch(() => {});
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GatewayError('UPSTREAM_START_FAILED', message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] !== undefined) out[key] = value[key];
  return out;
}

export { MemberMetrics, PoolMember, PooledSession, UPSTREAM_ERROR_KINDS } from './pool-member.js';
export type { PooledSessionState, SessionOwner, UpstreamErrorKind } from './pool-member.js';
