/**
 * Health of the pool's members: the active health check (an MCP `ping` on
 * each session silent for the interval), the half-open trial that decides a
 * tripped breaker, and the probe (a throwaway initialize + ping session) used
 * for Streamable HTTP members, whose sessions cannot be pinged before
 * initialize. The pool's timer calls {@link PoolHealth.check} and
 * {@link PoolHealth.trial}; what they learn goes to the member's breaker, and
 * a session that fails its check is discarded through the pool.
 */
import { GatewayError } from './errors.js';
import type { PoolConfig } from './pool-config.js';
import { PooledSession, type PoolMember, type SessionPool } from './pool-member.js';
import { firstLine, type UpstreamConnector } from './upstream.js';

const PROBE_CLIENT = { name: 'mcp-ws-gateway-probe', version: '0.1.0' };

/** What the health logic needs of its pool. */
export interface HealthPool extends SessionPool {
  /** Resolved pool settings (the health check interval and timeout). */
  readonly config: Readonly<PoolConfig>;
}

/** Health checks, half-open trials and probes for the members of one pool. */
export class PoolHealth {
  /**
   * @param pool the pool whose sessions are checked
   * @param connect makes the probe's connection
   * @param openTrial opens one warm session on a member as its half-open
   *   trial (the open reports to the breaker itself); settles when it is done
   */
  constructor(
    private readonly pool: HealthPool,
    private readonly connect: UpstreamConnector,
    private readonly openTrial: (m: PoolMember) => Promise<unknown>,
  ) {}

  /** Pings every session of `m` that has been silent for the interval. */
  check(m: PoolMember, now: number): void {
    m.lastHealthCheck = now;
    if (!m.breaker.isClosed) return;
    const pool = this.pool;
    const interval = pool.config.healthCheckIntervalMs;
    let pingable = 0;
    for (const s of m.sessions) {
      if (s.state !== 'idle' && s.state !== 'leased') continue;
      if (!s.conn.preInitPing && !s.initialized) continue;
      pingable++;
      if (s.pinging || now - s.lastInbound < interval) continue;
      s.pinging = true;
      s.request('ping', undefined, pool.config.healthCheckTimeoutMs).then(
        () => {
          s.pinging = false;
          // An answered ping is evidence for the connection: it ends a failure streak.
          m.breaker.success();
        },
        (err: unknown) => {
          s.pinging = false;
          if (s.state === 'closed') return;
          m.metrics.errors.health++;
          pool.discard(s, `health check failed: ${firstLine(err)}`);
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
          pool.logger.warn({ upstream: m.name, err: firstLine(err) }, 'health probe failed');
        },
      );
    }
  }

  /** The half-open trial: a fresh session (or, for Streamable HTTP, a probe) decides the breaker. */
  trial(m: PoolMember): void {
    m.probing = true;
    this.pool.logger.info({ upstream: m.name }, 'circuit breaker trial');
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
    // The open reports success or failure to the breaker, which closes or reopens it.
    const done = (): void => {
      m.probing = false;
    };
    this.openTrial(m).then(done, done);
  }

  /** A full MCP handshake on a throwaway session: initialize, initialized, ping, close. */
  private async probe(m: PoolMember): Promise<void> {
    const conn = this.connect(m.spec, this.pool.logger);
    // Not in the member's books: 'opening' makes an early end just fail the calls.
    const s = new PooledSession(this.pool, m, conn, false);
    const timeoutMs = this.pool.config.healthCheckTimeoutMs;
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

/** `p`, or an UPSTREAM_START_FAILED GatewayError with `message` after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new GatewayError('UPSTREAM_START_FAILED', message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
