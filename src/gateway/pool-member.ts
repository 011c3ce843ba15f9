/**
 * The pool's parts: a member (one upstream server: its breaker, its warm
 * sessions, its counters) and a pooled session (one upstream MCP session, the
 * unit a client leases).
 *
 * A pooled session owns its transitions; each one updates its member's books
 * (sessions, opening, idle, leased) and the balancer's active count, so the
 * pool never edits those by hand:
 *
 *                  open ok, nobody waiting
 *   opening ──────────────────────────────► idle ──── lease ────► leased
 *      │     open ok, a client waiting (cold)                     ▲   │
 *      ├───────────────────────────────────────────────────────────┘   │
 *      │ open failed,                 │ idle timeout, scaled down,    │ released, lost,
 *      │ ended, pool closed           │ breaker open, lost,           │ health check failed,
 *      ▼                              ▼ pool closed                   ▼ pool closed
 *   closed ◄──────────────────────────┴───────────────────────────────┘
 *
 * A leased session never goes back to idle: an MCP session carries its
 * client's initialize, subscriptions and log level, so a released one is
 * closed and the pool opens fresh ones. `closed` is final: toIdle and
 * toLeased refuse any move not drawn above (they return false), and toClosed
 * on a closed session does nothing.
 */
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { LatencyHistogram } from '../metrics/metrics.js';
import type { CircuitBreaker } from '../policy/circuit-breaker.js';
import { GatewayError } from './errors.js';
import type { MemberTable } from './balancer.js';
import type { UpstreamConnection } from './upstream.js';
import type { UpstreamSpec } from './upstream-spec.js';

/** What a pooled session needs of its pool; UpstreamPool provides it. */
export interface SessionPool {
  /** Coarse clock (ms), advanced by every tick. */
  readonly now: number;
  /** The balancer's table, whose active counts a session keeps. */
  readonly table: MemberTable;
  /** Logger. */
  readonly logger: Logger;
  /** A session ended on its own: a failure for its member; a leased session's client is told. */
  sessionEnded(s: PooledSession, reason: string): void;
  /** Ends a session found broken: a failure for its member; its owner is told. */
  discard(s: PooledSession, reason: string): void;
}

/** Where a pooled session is in its life. */
export type PooledSessionState = 'opening' | 'idle' | 'leased' | 'closed';

/** What a leased session reports to the client session that holds it. */
export interface SessionOwner {
  /** A message from the upstream that is not an answer to the pool's own pings. */
  upstreamMessage(message: JSONRPCMessage): void;
  /** A send failed (Streamable HTTP: a POST failed); `message` is what was being sent. */
  upstreamError(error: Error, message: JSONRPCMessage | undefined): void;
  /** The upstream session ended (died, failed a health check, or the pool closed). */
  upstreamClosed(reason: string): void;
}

/** Error kinds counted per member. */
export const UPSTREAM_ERROR_KINDS = ['connect', 'lost', 'timeout', 'health', 'transport'] as const;
/** One of {@link UPSTREAM_ERROR_KINDS}. */
export type UpstreamErrorKind = (typeof UPSTREAM_ERROR_KINDS)[number];

/** Plain-number metrics of one member. */
export class MemberMetrics {
  /** Requests forwarded (including retries and the pool's own pings). */
  requests = 0;
  /** Requests retried. */
  retries = 0;
  /** Errors by kind. */
  readonly errors: Record<UpstreamErrorKind, number> = { connect: 0, lost: 0, timeout: 0, health: 0, transport: 0 };
  /** Upstream round-trip time of answered client requests, in seconds. */
  readonly latency = new LatencyHistogram();
  /** Sessions opened successfully. */
  opened = 0;
}

/** One upstream server in the pool. */
export class PoolMember {
  /** Its sessions that are not closed. */
  readonly sessions = new Set<PooledSession>();
  /** Warm sessions, oldest first. */
  readonly idle: PooledSession[] = [];
  /** Sessions leased to clients. */
  leased = 0;
  /** Sessions being opened. */
  opening = 0;
  /** Counters. */
  readonly metrics = new MemberMetrics();
  /**
   * Tools safe to retry, learned from `tools/list` results that pass through:
   * true when the tool's annotations say readOnlyHint or idempotentHint.
   */
  readonly retrySafeTools = new Map<string, boolean>();
  /** @internal when the last health check round ran. */
  lastHealthCheck = 0;
  /** @internal a trial or probe is running. */
  probing = false;

  /**
   * @param index position in the pool (and the balancer's table)
   * @param spec what the member is
   * @param breaker its circuit breaker
   */
  constructor(
    readonly index: number,
    readonly spec: UpstreamSpec,
    readonly breaker: CircuitBreaker,
  ) {}

  /** The member's name (metrics label). */
  get name(): string {
    return this.spec.name;
  }
}

interface InternalCall {
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * One upstream MCP session in the pool. Ids of requests sent on it come from
 * {@link PooledSession.nextId}, shared by the client session that leases it
 * and the pool's own pings, so they cannot collide.
 */
export class PooledSession {
  private _state: PooledSessionState = 'opening';
  /** The client session holding it, while leased. */
  owner: SessionOwner | undefined;
  /** Next request id on this upstream session. */
  nextId = 1;
  /** Pool clock time of the last inbound message. */
  lastInbound: number;
  /** Pool clock time it became idle. */
  idleSince = 0;
  /** Set by the client session once `initialize` was answered. */
  initialized = false;
  /** @internal a health ping is outstanding. */
  pinging = false;
  private internal: Map<number, InternalCall> | undefined;
  /** Messages of the wrong shape received on this session. */
  private invalidSeen = 0;

  /**
   * @param pool the pool it belongs to
   * @param member its member
   * @param conn the upstream connection (not started)
   * @param booked counted in the member's books (false for a throwaway probe)
   */
  constructor(
    private readonly pool: SessionPool,
    readonly member: PoolMember,
    readonly conn: UpstreamConnection,
    private readonly booked = true,
  ) {
    this.lastInbound = pool.now;
    conn.onmessage = (m) => this.receive(m);
    conn.onerror = (e, m) => this.error(e, m);
    conn.onclose = (reason) => pool.sessionEnded(this, reason);
    if (booked) {
      member.sessions.add(this);
      member.opening++;
    }
  }

  /** Where it is in its life; changed only by the transition methods below. */
  get state(): PooledSessionState {
    return this._state;
  }

  /** opening → idle (warm, at the back of the member's idle list). False from any other state. */
  toIdle(now: number): boolean {
    if (this.state !== 'opening') return false;
    this.leaveOpening();
    this._state = 'idle';
    this.idleSince = now;
    this.member.idle.push(this);
    return true;
  }

  /** opening or idle → leased (counted active for the balancer). False from any other state. */
  toLeased(): boolean {
    const member = this.member;
    if (this.state === 'opening') this.leaveOpening();
    else if (this.state === 'idle') this.leaveIdle();
    else return false;
    this._state = 'leased';
    member.leased++;
    this.pool.table.addActive(member.index, 1);
    return true;
  }

  /**
   * Any state → closed: off the member's books, the pool's own calls on it
   * failed with `reason`. Returns the state it left (`'closed'` when it
   * already was, and then does nothing). Does not close the connection.
   */
  toClosed(reason: string): PooledSessionState {
    const previous = this.state;
    if (previous === 'closed') return previous;
    const member = this.member;
    if (previous === 'opening') this.leaveOpening();
    else if (previous === 'idle') this.leaveIdle();
    else {
      member.leased--;
      this.pool.table.addActive(member.index, -1);
    }
    this._state = 'closed';
    if (this.booked) member.sessions.delete(this);
    this.failInternal(reason);
    return previous;
  }

  private leaveOpening(): void {
    if (this.booked) this.member.opening--;
  }

  private leaveIdle(): void {
    const idle = this.member.idle;
    if (idle[0] === this) idle.shift();
    else {
      const i = idle.indexOf(this);
      if (i !== -1) idle.splice(i, 1);
    }
  }

  /** Sends one message upstream. */
  send(message: JSONRPCMessage): void {
    this.conn.send(message);
  }

  /**
   * A request of the pool's own (ping, probe initialize): resolves with the
   * result, rejects on an error reply, on timeout, or when the session ends.
   */
  request(method: string, params: Record<string, unknown> | undefined, timeoutMs: number): Promise<unknown> {
    if (this.state === 'closed') return Promise.reject(new GatewayError('UPSTREAM_CLOSED', `${this.member.name}: session closed`));
    const id = this.nextId++;
    this.internal ??= new Map();
    const calls = this.internal;
    this.member.metrics.requests++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        calls.delete(id);
        this.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'timeout' } });
        reject(new GatewayError('PING_TIMEOUT', `${this.member.name}: no answer to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      calls.set(id, { resolve, reject, timer });
      this.send((params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params }) as JSONRPCMessage);
    });
  }

  /** @internal fails the pool's own calls when the session ends. */
  failInternal(reason: string): void {
    const calls = this.internal;
    if (calls === undefined || calls.size === 0) return;
    this.internal = undefined;
    for (const c of calls.values()) {
      clearTimeout(c.timer);
      c.reject(new GatewayError('UPSTREAM_CLOSED', `${this.member.name}: ${reason}`));
    }
  }

  /**
   * A message from the upstream. What arrives is whatever the upstream wrote,
   * so its shape is checked (typeof only) before anything reads it: a message
   * that is not a JSON-RPC request, notification or response is dropped and
   * counted as a transport error, except a response to a request in flight
   * that has neither a result nor an error object, which becomes an error
   * response so its caller is answered. Anything the owner still throws ends
   * this upstream session, never the process.
   */
  private receive(msg: JSONRPCMessage): void {
    this.lastInbound = this.pool.now;
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.invalid('not a JSON-RPC message');
      return;
    }
    const m = msg as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    const id = m.id;
    const idOk = typeof id === 'number' || typeof id === 'string';
    if (m.method !== undefined) {
      const params = m.params;
      if (typeof m.method !== 'string' || (id !== undefined && !idOk) || (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params)))) {
        this.invalid('a request or notification of the wrong shape');
        return;
      }
    } else {
      if (!idOk) {
        this.invalid('a response without a usable id');
        return;
      }
      const error = m.error;
      if (error !== undefined ? typeof error !== 'object' || error === null || Array.isArray(error) : m.result === undefined) {
        this.invalid('a response with neither a result nor an error object');
        msg = { jsonrpc: '2.0', id, error: { code: -32603, message: 'Upstream sent an invalid response' } } as JSONRPCMessage;
      }
      // A response says nothing about the connection's health to the breaker:
      // only opens, pings and transport failures feed it (see policy/circuit-breaker.ts).
      const calls = this.internal;
      if (calls !== undefined) {
        const c = calls.get(id as number);
        if (c !== undefined) {
          calls.delete(id as number);
          clearTimeout(c.timer);
          const e = (msg as { error?: { code?: unknown; message?: unknown } }).error;
          if (e !== undefined) c.reject(new Error(`${this.member.name}: ${String(e.message)} (${String(e.code)})`));
          else c.resolve(m.result);
          return;
        }
      }
    }
    const owner = this.owner;
    if (owner !== undefined) {
      try {
        owner.upstreamMessage(msg);
      } catch (err) {
        this.member.metrics.errors.transport++;
        const reason = `a message from the upstream could not be handled: ${err instanceof Error ? err.message : String(err)}`.slice(0, 200);
        this.pool.logger.warn({ upstream: this.member.name, reason }, 'ending the upstream session');
        this.pool.discard(this, reason);
      }
    } else if (m.method !== undefined && id !== undefined) {
      // A server→client request with no client yet: nobody can answer it.
      this.send({ jsonrpc: '2.0', id: id as number | string, error: { code: -32601, message: 'No client attached to this session yet' } } as JSONRPCMessage);
    }
  }

  /** Counts a message of the wrong shape; logs the first of each session at warn, the rest at debug. */
  private invalid(what: string): void {
    this.member.metrics.errors.transport++;
    const log = this.pool.logger;
    if (this.invalidSeen++ === 0) log.warn({ upstream: this.member.name, what }, 'upstream sent a message that is not valid JSON-RPC; ignored');
    else log.debug({ upstream: this.member.name, what }, 'upstream sent a message that is not valid JSON-RPC; ignored');
  }

  private error(err: Error, msg: JSONRPCMessage | undefined): void {
    this.member.metrics.errors.transport++;
    if (msg !== undefined) {
      const id = (msg as { id?: number }).id;
      const c = id === undefined ? undefined : this.internal?.get(id);
      if (c !== undefined) {
        this.internal!.delete(id!);
        clearTimeout(c.timer);
        c.reject(err);
        return;
      }
    }
    // A send (or Streamable HTTP POST) that failed is evidence against the connection; a
    // report with no message (a stray non-JSON stdout line, a stream notice) is not.
    if (msg !== undefined) this.member.breaker.failure();
    if (this.owner !== undefined) this.owner.upstreamError(err, msg);
    else this.pool.logger.debug({ upstream: this.member.name, err: err.message }, 'upstream error');
  }
}
