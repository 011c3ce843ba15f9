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
 *   request or a JSON-RPC error does not (see policy/circuit-breaker.ts).
 * - A member whose breaker is open is not chosen and its warm sessions are
 *   closed; after halfOpenAfterMs one trial session is opened and pinged
 *   (for Streamable HTTP: initialize + ping + DELETE); success closes the breaker.
 *
 * One timer drives everything (health checks, trials, scaling, timeouts).
 * Members and pooled sessions live in pool-member.ts, settings and presets in
 * pool-config.ts, health checks, trials and probes in pool-health.ts, the
 * transport factory in connector.ts.
 */
import type { Logger } from 'pino';
import { silentLogger } from '../log.js';
import { CircuitBreaker, type BreakerState } from '../policy/circuit-breaker.js';
import { BREAKER_OPTIONS, type BreakerConfig } from '../policy/circuit-breaker-options.js';
import type { RandomSource } from '../policy/random.js';
import { MemberTable, type Balancer } from './balancer.js';
import { createBalancer } from './balancers.js';
import { defaultConnector } from './connector.js';
import { GatewayError } from './errors.js';
import { resolvePoolConfig, type PoolConfig } from './pool-config.js';
import { PoolHealth, withTimeout } from './pool-health.js';
import { PoolMember, PooledSession, type SessionPool } from './pool-member.js';
import { firstLine, type UpstreamConnector } from './upstream.js';
import type { UpstreamSpec } from './upstream-spec.js';

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
  /** Circuit breaker settings per member; declared in {@link BREAKER_OPTIONS}. */
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

/** A pool of upstream MCP sessions over one or more members. */
export class UpstreamPool implements SessionPool {
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
  private readonly health: PoolHealth;
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
    const breaker = BREAKER_OPTIONS.resolve(options.breaker ?? {}, 'breaker.');
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
    this.health = new PoolHealth(this, this.connect, (m) => this.openWarm(m));
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
   * acquireTimeoutMs, and with `ACQUIRE_ABORTED` when `signal` aborts first:
   * the waiter leaves the queue at once, so a client that went away costs no
   * further open (an open already started for it serves the next waiter).
   */
  acquire(signal?: AbortSignal): Promise<PooledSession> {
    if (this.closed) return Promise.reject(new GatewayError('POOL_CLOSED', 'the upstream pool is closed'));
    if (signal?.aborted === true) return Promise.reject(new GatewayError('ACQUIRE_ABORTED', 'the acquire was aborted'));
    return new Promise<PooledSession>((resolve, reject) => {
      const w: Waiter = { resolve, reject, deadline: this.clock() + this.config.acquireTimeoutMs };
      if (signal !== undefined) {
        const onAbort = (): void => {
          const k = this.waiters.indexOf(w);
          if (k < 0) return;
          this.waiters.splice(k, 1);
          reject(new GatewayError('ACQUIRE_ABORTED', 'the acquire was aborted'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        w.resolve = (s) => {
          signal.removeEventListener('abort', onAbort);
          resolve(s);
        };
        w.reject = (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        };
      }
      this.waiters.push(w);
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

  /**
   * Opens a warm session and puts it in the idle list (or hands it to a
   * waiter). A half-open trial is the same open: it reports to the breaker.
   */
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
      if (m.breaker.state === 'open' && !m.probing && m.breaker.tryTrial()) this.health.trial(m);
    }
    if (this.config.healthCheckIntervalMs > 0) {
      for (const m of this.members) {
        if (now - m.lastHealthCheck >= this.config.healthCheckIntervalMs) this.health.check(m, now);
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
}
