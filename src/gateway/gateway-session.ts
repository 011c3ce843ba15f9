/**
 * GatewaySession: one client session served by one upstream MCP session.
 * It is the SessionHandler the server runs for each WebSocket client, and
 * the SessionOwner of the pooled upstream session it leases.
 *
 *   client ── request {id: c} ─────► map c → g (the upstream session's own counter) ──► upstream {id: g}
 *   client ◄─ response {id: c} ───── look up g, restore c ◄──────────────────────────── upstream {id: g}
 *   client ◄─ notifications, server→client requests (sampling, elicitation, roots) — unchanged
 *   client ── responses to those, notifications ──────────────────────────────────────► unchanged
 *
 * Ids are mapped because the pool sends its own pings on the same upstream
 * session and because a request may be sent more than once (a retry gets a
 * fresh upstream id, so a late answer to the first attempt is dropped).
 * `notifications/cancelled` from the client is rewritten to the upstream id;
 * progress tokens are opaque and pass unchanged (one client per upstream
 * session, so they cannot collide), and each progress notification pushes
 * the request's deadline back, so a long tool that reports progress does
 * not time out.
 *
 * Timeouts: a request not answered within requestTimeoutMs gets
 * `notifications/cancelled` upstream and, unless it is safe to repeat,
 * error -32001 to the client. Safe requests (initialize, ping, lists, reads,
 * and tools whose annotations say readOnlyHint or idempotentHint, learned
 * from `tools/list` results passing through) are retried with exponential
 * backoff and full jitter, up to retry.maxRetries times.
 *
 * When the upstream session dies:
 * - before `initialize` has been answered, the session quietly moves to
 *   another upstream session (nothing was established yet);
 * - otherwise, with onUpstreamLost `'close'` (default), every request in
 *   flight gets -32017 and the client is closed with 4003 (reconnect);
 * - with `'reestablish'`, the gateway takes a new upstream session, replays
 *   the client's original initialize, its log level and its resource
 *   subscriptions, re-sends the in-flight requests that are safe to repeat
 *   (the others get -32017), and tells the client that tool, resource and
 *   prompt lists may have changed. Lost: everything else the old upstream
 *   session held — server-side tool state, tasks, pending server→client
 *   requests, progress of interrupted calls. If the new upstream negotiates
 *   a different protocol revision, the session is closed with 4003 instead.
 *
 * Backpressure: a client's pending messages (backlogged while no upstream
 * session is ready, in flight, waiting for a retry) are bounded. At
 * maxPendingPerClient the gateway stops reading the client's socket
 * (SessionPeer.holdReading) and reads again once half have been answered;
 * it does the same while the upstream connection is congested (a stdio
 * child's stdin pipe is full, a WebSocket upstream's send buffer is over
 * its cap), until it drains. Messages that were already read when reading
 * stopped are still forwarded; past twice the limit a request is answered
 * -32018 at once and a notification closes the client with 1013.
 *
 * A client's credentials never go upstream: nothing from the client's
 * upgrade request is forwarded, only its MCP messages.
 */
import { performance } from 'node:perf_hooks';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { CloseCode } from '../protocol/close-codes.js';
import { modernMeta } from '../protocol/meta.js';
import { errorReply, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse, type RequestId } from '../protocol/jsonrpc.js';
import type { Reply, SessionHandler, SessionPeer } from '../server/handler.js';
import { fullJitterDelay } from '../policy/backoff.js';
import type { RandomSource } from '../policy/random.js';
import { GATEWAY_ERRORS } from './errors.js';
import type { ModernClient, ModernClientOwner, ModernLane } from './modern.js';
import type { UpstreamPool } from './pool.js';
import type { PooledSession, SessionOwner } from './pool-member.js';
import type { RetryConfig, UpstreamLostPolicy } from './session-options.js';
import type { SharedClient, SharedClientOwner, SharedLanes } from './shared.js';
import { firstLine } from './upstream.js';
import { activeTraceContext, type TraceHeaders } from '../observe/tracing.js';

/** Methods that are safe to send again: they change nothing upstream. */
export const RETRY_SAFE_METHODS: ReadonlySet<string> = new Set([
  'initialize',
  'ping',
  'tools/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'prompts/list',
  'prompts/get',
]);

/** Re-established sessions give up after this many upstream losses. */
const MAX_REESTABLISH = 3;


/** Why reading a client is held: too many of its messages pending. */
const HELD_FULL = 1;
/** Why reading a client is held: its upstream connection is congested. */
const HELD_UPSTREAM = 2;

/** Gateway-wide counters kept by client sessions. */
export class GatewayStats {
  /** Client sessions opened. */
  sessionsOpened = 0;
  /** Client sessions closed because their upstream was lost. */
  sessionsLost = 0;
  /** Client sessions moved to a new upstream session. */
  sessionsReestablished = 0;
  /** Requests answered with a timeout error. */
  requestTimeouts = 0;
  /** Times the gateway stopped reading a client (too many pending, or its upstream congested). */
  clientReadsHeld = 0;
  /** Messages refused because their client had twice maxPendingPerClient pending (requests: -32018; notifications: close 1013). */
  overloadRejections = 0;
}

/** What a client session needs from the gateway. */
export interface GatewaySessionHost {
  readonly pool: UpstreamPool;
  /** Serves the 2026-07-28 (stateless) requests of every client. */
  readonly modern: ModernLane;
  /** With pool setting `sharing: "shared"`: serves every 2025-era client from shared upstream sessions (shared.ts). */
  readonly shared: SharedLanes | undefined;
  readonly requestTimeoutMs: number;
  /** Messages of one client held by the gateway (backlog, in flight, retrying) at which it stops reading that client. */
  readonly maxPendingPerClient: number;
  readonly retry: RetryConfig;
  readonly onUpstreamLost: UpstreamLostPolicy;
  readonly logger: Logger;
  readonly random: RandomSource;
  readonly stats: GatewayStats;
  /** True once the gateway is shutting down. */
  readonly closing: boolean;
  sessionClosed(session: GatewaySession): void;
}

/** One client request on its way through the gateway. */
class Call {
  /** Upstream id of the current attempt (0 while not sent). */
  gid = 0;
  deadline = 0;
  sentAt = 0;
  attempts = 0;
  progressToken: string | number | undefined;
  constructor(
    readonly clientId: RequestId,
    readonly method: string,
    readonly params: Record<string, unknown> | undefined,
    readonly resolve: (text: string | undefined) => void,
  ) {}
}

/** Something that arrived before the upstream session was ready. */
type Backlogged = Call | { notification: JSONRPCMessage };

/** Serves one client session from one leased upstream session. */
export class GatewaySession implements SessionHandler, SessionOwner, ModernClientOwner, SharedClientOwner {
  /** The revision the upstream negotiated, once initialize has been answered. */
  protocolVersion: string | undefined;
  private upstream: PooledSession | undefined;
  /** The upstream session is attached and (after a re-establish) re-initialized: messages go straight through. */
  private ready = false;
  /** Requests and notifications held while no upstream session is ready. */
  private backlog: Backlogged[] = [];
  /** Requests in flight, by upstream id. */
  private readonly calls = new Map<number, Call>();
  /** Requests waiting for a retry's backoff. */
  private retrying: Set<Call> | undefined;
  private progress: Map<string | number, Call> | undefined;
  private initParams: Record<string, unknown> | undefined;
  private initialized = false;
  private serverCapabilities: Record<string, unknown> | undefined;
  private logLevel: unknown;
  private subscriptions: Set<string> | undefined;
  private losses = 0;
  private ended = false;
  /** Why reading the client is held (HELD_* bits); 0 while reading. */
  private held = 0;
  /** An upstream session has been asked for (on the client's first message). */
  private leasing = false;
  /** Aborts the pool acquire when the client goes away while waiting. */
  private leaseAbort: AbortController | undefined;
  /** This client's 2026-07-28 requests and listens, from its first such request. */
  private modernClient: ModernClient | undefined;
  /** This client's share of the shared upstream sessions (sharing "shared"), from its first request. */
  private sharedClient: SharedClient | undefined;

  /**
   * Takes no upstream session yet: the first message the client sends starts
   * the lease, so a client that connects and never speaks costs none.
   */
  constructor(
    readonly peer: SessionPeer,
    private readonly host: GatewaySessionHost,
  ) {
    host.stats.sessionsOpened++;
  }

  /** Messages of this client the gateway holds: backlogged, in flight, waiting for a retry. */
  get pending(): number {
    return (
      this.backlog.length +
      this.calls.size +
      (this.retrying === undefined ? 0 : this.retrying.size) +
      (this.modernClient === undefined ? 0 : this.modernClient.size) +
      (this.sharedClient === undefined ? 0 : this.sharedClient.size)
    );
  }

  /** @internal A request on a shared upstream session settled. */
  sharedSettled(): void {
    if (this.held !== 0) this.relieve();
  }

  /** @internal The shared upstream session this client's request went to is congested. */
  sharedCongested(): void {
    this.hold(HELD_UPSTREAM);
  }

  /** @internal That session drained (or died). */
  sharedDrained(): void {
    this.unhold(HELD_UPSTREAM);
  }

  /** @internal A stateless request of this client settled: read the client again if it was held for it. */
  modernSettled(): void {
    if (this.held !== 0) this.relieve();
  }

  /** The upstream member serving this session, if attached. */
  get memberName(): string | undefined {
    return this.upstream?.member.name;
  }

  // ----------------------------------------------------- client → upstream

  /** Forwards a request; the reply is the upstream's answer with the client's id. */
  request(msg: JsonRpcRequest): Reply {
    if (this.ended) return undefined;
    const max = this.host.maxPendingPerClient;
    const pending = this.pending;
    if (pending >= max) {
      if (pending >= 2 * max) return this.overloaded(msg.id, max);
      this.hold(HELD_FULL);
    }
    // Traced: the gateway's request span becomes the upstream's parent (W3C trace context in `_meta`).
    const trace = activeTraceContext();
    if (trace !== undefined) msg = withTraceContext(msg, trace);
    // The era, per request: a 2026-07-28 request goes to the stateless lane (modern.ts).
    const modern = modernMeta(msg.params);
    if (modern !== undefined) return this.host.modern.request((this.modernClient ??= this.host.modern.client(this)), msg, modern);
    const shared = this.host.shared;
    if (shared !== undefined) return shared.request((this.sharedClient ??= shared.client(this)), msg);
    let resolve!: (text: string | undefined) => void;
    const reply = new Promise<string | undefined>((r) => (resolve = r));
    const params = msg.params;
    const call = new Call(msg.id, msg.method, params, resolve);
    if (params !== undefined) {
      const meta = params._meta as { progressToken?: unknown } | undefined;
      const token = meta?.progressToken;
      if (typeof token === 'string' || typeof token === 'number') {
        call.progressToken = token;
        (this.progress ??= new Map()).set(token, call);
      }
      if (msg.method !== 'tools/call') this.remember(msg.method, params);
    }
    if (this.ready) this.send(call, this.upstream!);
    else {
      this.backlog.push(call);
      if (!this.leasing) this.acquire();
    }
    return reply;
  }

  /** Forwards a notification; `notifications/cancelled` gets the upstream id. */
  notification(msg: JsonRpcNotification): void {
    if (this.ended) return;
    if (msg.method === 'notifications/cancelled') {
      if (this.modernClient?.cancel(msg.params) === true) return;
      if (this.host.shared !== undefined) this.sharedClient?.cancel(msg.params);
      else this.cancel(msg);
      return;
    }
    if (this.host.shared !== undefined) return; // Nothing of a client's own notifications can go to a shared session.
    this.forward(msg as JSONRPCMessage);
  }

  /** Forwards the client's answer to a server→client request (ids are the upstream's own). */
  response(msg: JsonRpcResponse): void {
    if (this.ended) return;
    const shared = this.host.shared;
    if (shared !== undefined) {
      if (this.sharedClient !== undefined) shared.response(this.sharedClient, msg);
      return;
    }
    this.forward(msg as unknown as JSONRPCMessage);
  }

  /** Sends a notification or response upstream, or backlogs it while no upstream session is ready. */
  private forward(msg: JSONRPCMessage): void {
    if (this.ready) {
      const s = this.upstream!;
      s.send(msg);
      if (s.conn.congested === true) this.hold(HELD_UPSTREAM);
      return;
    }
    const max = this.host.maxPendingPerClient;
    const pending = this.pending;
    if (pending >= max) {
      if (pending >= 2 * max) {
        this.host.stats.overloadRejections++;
        this.end(CloseCode.TRY_AGAIN_LATER, 'too many pending messages', `${GATEWAY_ERRORS.CLIENT_OVERLOADED.message} (limit ${max})`, GATEWAY_ERRORS.CLIENT_OVERLOADED.rpc);
        return;
      }
      this.hold(HELD_FULL);
    }
    // Only a request starts a lease: a notification or response before any
    // request has no upstream session to belong to (an MCP session begins
    // with initialize), and must not let a peer pin an upstream by sending one.
    if (!this.leasing) {
      this.host.logger.debug({ method: (msg as { method?: unknown }).method }, 'message before any request dropped');
      return;
    }
    this.backlog.push({ notification: msg });
  }

  /** The answer to a request past twice the limit: not forwarded, -32018 at once. */
  private overloaded(id: RequestId, max: number): string {
    this.host.stats.overloadRejections++;
    const e = GATEWAY_ERRORS.CLIENT_OVERLOADED;
    return errorReply(id, e.rpc, `${e.message} (limit ${max})`, { limit: max });
  }

  /** Stops reading the client, for `why` (a HELD_* bit). */
  private hold(why: number): void {
    if (this.held === 0) {
      this.host.stats.clientReadsHeld++;
      this.peer.holdReading?.(true);
    }
    this.held |= why;
  }

  /** Clears `why`; reads the client again when nothing else holds it. */
  private unhold(why: number): void {
    if ((this.held & why) === 0) return;
    this.held &= ~why;
    if (this.held === 0 && !this.ended) this.peer.holdReading?.(false);
  }

  /** Reads the client again once half of its limit has been answered. */
  private relieve(): void {
    if ((this.held & HELD_FULL) !== 0 && this.pending <= this.host.maxPendingPerClient >> 1) this.unhold(HELD_FULL);
  }

  /** The client went away: nothing pending can be answered; the upstream session is closed. */
  closed(): void {
    if (this.ended) return;
    this.ended = true;
    this.modernClient?.close();
    if (this.sharedClient !== undefined) this.host.shared!.release(this.sharedClient);
    // Still waiting for an upstream session: leave the pool's queue now.
    this.leaseAbort?.abort();
    this.settleAll(undefined);
    const s = this.upstream;
    this.upstream = undefined;
    this.ready = false;
    if (s !== undefined) this.host.pool.release(s);
    this.host.sessionClosed(this);
  }

  private send(call: Call, s: PooledSession): void {
    const gid = s.nextId++;
    call.gid = gid;
    call.deadline = this.host.pool.now + this.host.requestTimeoutMs;
    call.sentAt = performance.now();
    this.calls.set(gid, call);
    s.member.metrics.requests++;
    const params = call.params;
    s.send(
      (params === undefined
        ? { jsonrpc: '2.0', id: gid, method: call.method }
        : { jsonrpc: '2.0', id: gid, method: call.method, params }) as JSONRPCMessage,
    );
    if (s.conn.congested === true) this.hold(HELD_UPSTREAM);
  }

  /** Keeps what a re-established session must replay. */
  private remember(method: string, params: Record<string, unknown>): void {
    switch (method) {
      case 'initialize':
        this.initParams = params;
        return;
      case 'logging/setLevel':
        this.logLevel = params.level;
        return;
      case 'resources/subscribe':
        if (typeof params.uri === 'string') (this.subscriptions ??= new Set()).add(params.uri);
        return;
      case 'resources/unsubscribe':
        if (typeof params.uri === 'string') this.subscriptions?.delete(params.uri);
    }
  }

  private cancel(msg: JsonRpcNotification): void {
    const params = msg.params ?? {};
    const id = params.requestId;
    for (const [gid, call] of this.calls) {
      if (call.clientId !== id) continue;
      this.calls.delete(gid);
      this.forget(call);
      call.resolve(undefined);
      this.upstream?.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { ...params, requestId: gid } } as JSONRPCMessage);
      this.relieve();
      return;
    }
    const waiting = this.findWaiting(id);
    if (waiting !== undefined) {
      this.forget(waiting);
      waiting.resolve(undefined);
      this.relieve();
    }
  }

  /** A call not in flight (backlog or retry backoff) with this client id; removed from where it was. */
  private findWaiting(id: unknown): Call | undefined {
    for (let i = 0; i < this.backlog.length; i++) {
      const b = this.backlog[i]!;
      if (b instanceof Call && b.clientId === id) {
        this.backlog.splice(i, 1);
        return b;
      }
    }
    if (this.retrying !== undefined) {
      for (const c of this.retrying) {
        if (c.clientId === id) {
          this.retrying.delete(c);
          return c;
        }
      }
    }
    return undefined;
  }

  private forget(call: Call): void {
    if (call.progressToken !== undefined) this.progress?.delete(call.progressToken);
  }

  // ----------------------------------------------------- upstream → client

  /**
   * @internal A message from the upstream session, its shape already checked
   * by the pooled session (method a string, params an object, a response's id
   * a number or string with a result or an error object).
   */
  upstreamMessage(msg: JSONRPCMessage): void {
    const m = msg as { id?: RequestId; method?: string; params?: { progressToken?: string | number }; result?: unknown };
    if (m.method !== undefined) {
      if (m.method === 'notifications/progress' && this.progress !== undefined && m.params !== undefined) {
        const call = this.progress.get(m.params.progressToken as string | number);
        if (call !== undefined && call.gid !== 0) call.deadline = this.host.pool.now + this.host.requestTimeoutMs;
      }
      this.peer.sendText(JSON.stringify(msg));
      return;
    }
    const call = this.calls.get(m.id as number);
    if (call === undefined) return; // An answer to a timed-out or cancelled attempt.
    this.calls.delete(m.id as number);
    if (call.progressToken !== undefined) this.forget(call);
    const s = this.upstream!;
    s.member.metrics.latency.observe((performance.now() - call.sentAt) / 1000);
    if (typeof m.result === 'object' && m.result !== null) {
      if (call.method === 'initialize') this.onInitialized(m.result as Record<string, unknown>, s);
      else if (call.method === 'tools/list') learnTools(m.result, s.member.retrySafeTools);
    }
    (msg as { id: RequestId }).id = call.clientId;
    call.resolve(JSON.stringify(msg));
    if (this.held !== 0) this.relieve();
  }

  /** @internal A send failed (Streamable HTTP: the POST failed). */
  upstreamError(err: Error, msg: JSONRPCMessage | undefined): void {
    const s = this.upstream;
    const gid = (msg as { id?: number; method?: string } | undefined)?.id;
    if (s === undefined || msg === undefined || gid === undefined || !('method' in msg)) return;
    const call = this.calls.get(gid);
    if (call === undefined) return;
    this.calls.delete(gid);
    if (!this.retry(call, s)) {
      this.forget(call);
      const e = GATEWAY_ERRORS.UPSTREAM_UNAVAILABLE;
      call.resolve(errorReply(call.clientId, e.rpc, `Upstream request failed: ${firstLine(err)}`));
      this.relieve();
    }
  }

  /** @internal The upstream session ended. */
  upstreamClosed(reason: string): void {
    const lostTools = this.upstream?.member.retrySafeTools;
    this.upstream = undefined;
    this.ready = false;
    // The lost connection's drain will never come.
    this.unhold(HELD_UPSTREAM);
    if (this.ended) return;
    if (this.host.closing) {
      this.end(CloseCode.GOING_AWAY, 'gateway shutting down', `Gateway shutting down`);
      return;
    }
    if (this.initialized && this.host.onUpstreamLost === 'close') {
      this.lose(reason);
      return;
    }
    if (++this.losses > MAX_REESTABLISH) {
      this.lose(`${reason} (${MAX_REESTABLISH} upstream sessions lost)`);
      return;
    }
    this.reestablish(reason, lostTools);
  }

  private onInitialized(result: Record<string, unknown>, s: PooledSession): void {
    const v = result.protocolVersion;
    if (typeof v === 'string') {
      this.protocolVersion = v;
      s.conn.setProtocolVersion(v);
    }
    this.serverCapabilities = result.capabilities as Record<string, unknown> | undefined;
    this.initialized = true;
    s.initialized = true;
  }

  // ------------------------------------------------------------ timeouts

  /** @internal Times out requests past their deadline (the pool's tick calls this). */
  sweep(now: number): void {
    if (this.calls.size === 0) return;
    const s = this.upstream;
    for (const [gid, call] of this.calls) {
      if (call.deadline > now) continue;
      this.calls.delete(gid);
      if (s !== undefined) {
        s.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: gid, reason: 'timeout' } } as JSONRPCMessage);
        // Not breaker evidence: a slow tool says nothing about the upstream's connection.
        s.member.metrics.errors.timeout++;
        if (this.retry(call, s)) continue;
      }
      this.forget(call);
      this.host.stats.requestTimeouts++;
      const ms = this.host.requestTimeoutMs;
      const e = GATEWAY_ERRORS.UPSTREAM_TIMEOUT;
      call.resolve(errorReply(call.clientId, e.rpc, `Upstream did not answer ${call.method} within ${ms} ms`, { timeoutMs: ms }));
    }
    if (this.held !== 0) this.relieve();
  }

  /**
   * Schedules another attempt of `call` after a full-jitter backoff when it
   * is safe to repeat and attempts remain. Returns false otherwise.
   */
  private retry(call: Call, s: PooledSession): boolean {
    const policy = this.host.retry;
    if (call.attempts >= policy.maxRetries || !isRetrySafe(call, s.member.retrySafeTools)) return false;
    const delay = fullJitterDelay(call.attempts, policy, this.host.random);
    call.attempts++;
    call.gid = 0;
    s.member.metrics.retries++;
    (this.retrying ??= new Set()).add(call);
    setTimeout(() => {
      if (this.ended || this.retrying?.delete(call) !== true) return;
      if (this.ready) this.send(call, this.upstream!);
      else this.backlog.push(call);
    }, delay).unref();
    return true;
  }

  // ------------------------------------------------------------- upstream

  private acquire(): void {
    this.leasing = true;
    this.leaseAbort = new AbortController();
    this.host.pool.acquire(this.leaseAbort.signal).then(
      (s) => this.attach(s),
      (err: unknown) => this.unavailable(err),
    );
  }

  private attach(s: PooledSession): void {
    if (this.ended) {
      this.host.pool.release(s);
      return;
    }
    s.owner = this;
    this.upstream = s;
    s.conn.ondrain = () => {
      if (this.upstream === s) this.unhold(HELD_UPSTREAM);
    };
    if (this.initialized) {
      void this.replay(s);
      return;
    }
    this.flush(s);
  }

  private flush(s: PooledSession): void {
    const backlog = this.backlog;
    this.backlog = [];
    this.ready = true;
    for (const b of backlog) {
      if (this.upstream !== s) {
        // The session died while flushing: keep the rest for the next one.
        this.backlog.push(b);
        continue;
      }
      if (b instanceof Call) this.send(b, s);
      else s.send(b.notification);
    }
    // Backlogged notifications are gone now; they held reading too.
    this.relieve();
  }

  /** Brings a new upstream session to where the lost one was, then sends what waited. */
  private async replay(s: PooledSession): Promise<void> {
    const timeoutMs = this.host.requestTimeoutMs;
    try {
      const result = (await s.request('initialize', this.initParams, timeoutMs)) as Record<string, unknown>;
      if (result.protocolVersion !== this.protocolVersion) {
        throw new Error(`new upstream negotiated ${String(result.protocolVersion)}, the session had ${String(this.protocolVersion)}`);
      }
      if (this.upstream !== s) return;
      s.initialized = true;
      s.conn.setProtocolVersion(this.protocolVersion!);
      s.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      const restores: Array<Promise<unknown>> = [];
      if (this.logLevel !== undefined) restores.push(s.request('logging/setLevel', { level: this.logLevel }, timeoutMs));
      for (const uri of this.subscriptions ?? []) restores.push(s.request('resources/subscribe', { uri }, timeoutMs));
      await Promise.allSettled(restores);
      this.serverCapabilities = (result.capabilities as Record<string, unknown> | undefined) ?? this.serverCapabilities;
    } catch (err) {
      if (this.upstream !== s || this.ended) return;
      this.upstream = undefined;
      this.ready = false;
      this.host.pool.release(s);
      this.lose(`re-establishing failed: ${firstLine(err)}`);
      return;
    }
    if (this.upstream !== s || this.ended) return;
    this.host.stats.sessionsReestablished++;
    this.host.logger.info({ session: this.peer.id, upstream: s.member.name }, 'client session re-established on a new upstream session');
    const caps = this.serverCapabilities ?? {};
    for (const [cap, method] of LIST_CHANGED) {
      if ((caps[cap] as { listChanged?: boolean } | undefined)?.listChanged === true) {
        this.peer.sendText(JSON.stringify({ jsonrpc: '2.0', method }));
      }
    }
    this.flush(s);
  }

  private reestablish(reason: string, tools: Map<string, boolean> | undefined): void {
    this.host.logger.warn({ session: this.peer.id, reason, initialized: this.initialized }, 'upstream session lost; moving the client session');
    const lost = GATEWAY_ERRORS.UPSTREAM_LOST;
    const resend: Call[] = [];
    for (const call of this.calls.values()) {
      if (isRetrySafe(call, tools) || !this.initialized) resend.push(call);
      else {
        this.forget(call);
        call.resolve(errorReply(call.clientId, lost.rpc, `Upstream MCP session lost: ${reason}`));
      }
    }
    this.calls.clear();
    this.backlog = [...resend, ...this.backlog];
    this.relieve();
    this.acquire();
  }

  /** Fails everything in flight and closes the client with 4003. */
  private lose(reason: string): void {
    this.host.stats.sessionsLost++;
    this.host.logger.warn({ session: this.peer.id, reason }, 'upstream session lost; closing the client session');
    this.end(GATEWAY_ERRORS.UPSTREAM_LOST.close, 'upstream lost', `Upstream MCP session lost: ${reason}`, GATEWAY_ERRORS.UPSTREAM_LOST.rpc);
  }

  private unavailable(err: unknown): void {
    if (this.ended) return;
    const e = GATEWAY_ERRORS.UPSTREAM_UNAVAILABLE;
    this.host.logger.warn({ session: this.peer.id, err: firstLine(err) }, 'no upstream session for a client');
    this.end(e.close, 'no upstream available', `${e.message}: ${firstLine(err)}`, e.rpc);
  }

  private end(code: number, reason: string, message: string, rpc: number = GATEWAY_ERRORS.UPSTREAM_LOST.rpc): void {
    this.settleAll((call) => errorReply(call.clientId, rpc, message));
    // The error replies are written when their promises settle (microtasks);
    // close after them, or they would meet a closing socket and be dropped.
    setImmediate(() => this.peer.close(code, reason));
  }

  /** Settles every call in flight, waiting or backlogged. */
  private settleAll(reply: ((call: Call) => string) | undefined): void {
    const all: Call[] = [...this.calls.values()];
    this.calls.clear();
    for (const b of this.backlog) if (b instanceof Call) all.push(b);
    this.backlog = [];
    if (this.retrying !== undefined) {
      all.push(...this.retrying);
      this.retrying.clear();
    }
    this.progress?.clear();
    for (const call of all) call.resolve(reply === undefined ? undefined : reply(call));
  }
}

const LIST_CHANGED: ReadonlyArray<[string, string]> = [
  ['tools', 'notifications/tools/list_changed'],
  ['resources', 'notifications/resources/list_changed'],
  ['prompts', 'notifications/prompts/list_changed'],
];

/**
 * True when `call` may be sent again: a method in {@link RETRY_SAFE_METHODS},
 * or `tools/call` of a tool whose annotations (as last listed) say
 * readOnlyHint or idempotentHint.
 */
function isRetrySafe(call: { method: string; params: Record<string, unknown> | undefined }, tools: Map<string, boolean> | undefined): boolean {
  if (RETRY_SAFE_METHODS.has(call.method)) return true;
  if (call.method !== 'tools/call' || tools === undefined) return false;
  const name = call.params?.name;
  return typeof name === 'string' && tools.get(name) === true;
}

/** Records which listed tools are safe to retry (readOnlyHint or idempotentHint). */
export function learnTools(result: unknown, into: Map<string, boolean>): void {
  const tools = (result as { tools?: unknown } | undefined)?.tools;
  if (!Array.isArray(tools)) return;
  for (const t of tools as Array<{ name?: unknown; annotations?: { readOnlyHint?: unknown; idempotentHint?: unknown } }>) {
    if (typeof t?.name !== 'string') continue;
    const a = t.annotations;
    into.set(t.name, a?.readOnlyHint === true || a?.idempotentHint === true);
  }
}

/**
 * `msg` with `trace` as its `_meta.traceparent` / `tracestate` (a copy; the
 * client's own trace keys are replaced: the gateway's span is the parent
 * now, and a tracestate that came with the client's traceparent does not
 * belong with the gateway's).
 */
function withTraceContext(msg: JsonRpcRequest, trace: TraceHeaders): JsonRpcRequest {
  const params = msg.params ?? {};
  const meta: Record<string, unknown> = { ...((params._meta as Record<string, unknown> | undefined) ?? {}), traceparent: trace.traceparent };
  if (trace.tracestate !== undefined) meta.tracestate = trace.tracestate;
  else delete meta.tracestate;
  return { ...msg, params: { ...params, _meta: meta } };
}
