/**
 * McpWsServer: the lifecycle of an MCP server speaking WebSocket and
 * Streamable HTTP on one endpoint. It composes the parts and owns what
 * spans them:
 *
 *   server-options.ts   options, defaults and their validation
 *   admission.ts        the door: upgrade and HTTP checks, slots, auth, rejections
 *   http-routes.ts      the endpoint paths, /healthz, /readyz, /metrics
 *   ../observe/         /dashboard, /debug/snapshot, request spans (off unless enabled)
 *   http-transport.ts   Streamable HTTP on the endpoint, legacy HTTP sessions
 *   message-core.ts     the per-message path both transports share
 *   session.ts          one WebSocket as a message stream
 *   session-policies.ts what the sweep does to each session
 *
 * Here: listen (rate-limit store first, then bind), the open sessions, TLS
 * reload, the sweep timer and graceful shutdown.
 *
 * One sweep timer serves every session: it advances the coarse clock and
 * applies each session's lifecycle policies (heartbeats, slow consumers,
 * credential expiry, incomplete messages, stalled closes). No
 * per-connection timers, so 100,000 sessions cost one interval.
 *
 * Graceful shutdown (close()): readiness fails, new upgrades and new HTTP
 * sessions get 503, new requests on open sessions get -32010 (503 over
 * HTTP), in-flight requests (either transport) finish until
 * drainTimeoutMs, then every session is closed with 1001.
 */
import { createServer, type IncomingMessage, type ServerResponse, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Registry } from 'prom-client';
import type { ClusterMember } from '../cluster/member.js';
import type { Logger } from 'pino';
import { CloseCode } from '../protocol/close-codes.js';
import { ServerMetrics, createRegistry, type ExtraMetric } from '../metrics/metrics.js';
import { Observer } from '../observe/observer.js';
import { loadTracing, type RequestTracer, type TracingProbe } from '../observe/tracing.js';
import { silentLogger } from '../log.js';
import { Session, type SessionHost } from './session.js';
import { Admission, handshakeHttpOptions, onClientError } from './admission.js';
import { serveHttp } from './http-routes.js';
import { HttpTransport } from './http-transport.js';
import type { HttpSession } from './http-session.js';
import { enforceSessionPolicies, sweepIntervalMs } from './session-policies.js';
import { Authenticator, type VerifiedIdentity } from './auth.js';
import { RateLimiter } from '../ratelimit/limiter.js';
import { RedisConnection } from '../ratelimit/store-redis.js';
import { resolveCompressionConfig, type ResolvedCompressionConfig } from '../compression/config.js';
import { createNegotiator } from '../compression/negotiate.js';
import { createWireCodec } from '../compression/wire-codec.js';
import type { CodecNegotiator } from '../compression/negotiate.js';
import { compressionMetrics } from '../compression/metrics.js';
import type { HandlerFactory, SessionPeer } from './handler.js';
import type { Backplane, BackplaneEvent, BackplaneListener } from '../backplane/messages.js';
import type { McpRouter } from '../router/router.js';
import { SessionResumer } from './resume.js';
import { ResumeStore } from './resume-store.js';
import { resolveResumeStoreOptions } from './resume-store-options.js';
import { resolveServerOptions, type McpWsServerOptions, type ResolvedServerOptions, type TlsFiles } from './server-options.js';

/** Where a listening server can be reached. */
export interface ServerAddress {
  host: string;
  port: number;
  /** ws:// URL of the MCP endpoint. */
  url: string;
}

/** An MCP-over-WebSocket server. */
export class McpWsServer implements SessionHost {
  readonly options: ResolvedServerOptions;
  readonly metrics = new ServerMetrics();
  readonly registry: Registry;
  /** The cluster this server is a worker of (`--workers`), if any. */
  readonly cluster: ClusterMember | undefined;
  readonly logger: Logger;
  readonly http: HttpServer | HttpsServer;
  readonly maxBufferedBytes: number;
  readonly maxInFlightPerSession: number;
  readonly inFlightResumeAt: number;
  readonly messageTimeoutMs: number;
  /** Verifies credentials when auth is on. */
  readonly auth: Authenticator | undefined;
  /** Admission by rate, when rate limiting is on. */
  readonly rateLimiter: RateLimiter | undefined;
  private readonly ownsRateLimiter: boolean;
  /** Compression settings, defaults applied. */
  readonly compression: ResolvedCompressionConfig;
  private readonly negotiator: CodecNegotiator | undefined;
  now = Date.now();
  draining = false;
  /** @internal Set while an OpenTelemetry tracer provider is registered (checked each sweep). */
  tracer: RequestTracer | undefined;
  private tracing: TracingProbe | undefined;
  /** @internal The metrics exported beside the server's own (read by the snapshot). */
  readonly extraMetrics: readonly ExtraMetric[];
  /** @internal The handler's snapshot (the gateway's), when it has one. */
  readonly handlerSnapshot: (() => unknown) | undefined;
  /** @internal The dashboard and /debug/snapshot, when either is on. */
  readonly observer: Observer | undefined;

  /** @internal The door: upgrade and HTTP checks (read by the HTTP routes). */
  readonly door: Admission;
  private readonly httpTransport: HttpTransport;
  private readonly makeHandler: HandlerFactory;
  private readonly drainHandler: (() => void) | undefined;
  /** SEP-1288: sessions that outlive their socket, and the `mcp.version.<v>` pre-negotiation. */
  readonly resumer: SessionResumer;
  private readonly sessions = new Set<Session>();
  /** Handler-side peers of open sessions (either transport), by id. */
  private readonly peers = new Map<string, SessionPeer>();
  /** Cross-process delivery, when configured. */
  readonly backplane: Backplane | undefined;
  /** The handler when it is an McpRouter and a backplane is set: its notifications cross processes. */
  private readonly router: McpRouter | undefined;
  private unsubscribeBackplane: (() => void) | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private address: ServerAddress | undefined;
  private closing: Promise<void> | undefined;
  private listenCalled = false;
  private drained: (() => void) | undefined;

  constructor(options: McpWsServerOptions) {
    const { handler, logger, metrics: extraMetrics, cluster, backplane, ...rest } = options;
    this.cluster = cluster;
    this.backplane = backplane;
    if (handler === undefined) throw new TypeError('handler is required: pass an McpRouter, an SdkHost or a factory');
    this.options = resolveServerOptions(rest);
    this.maxBufferedBytes = this.options.maxBufferedBytes;
    this.maxInFlightPerSession = this.options.maxInFlightPerSession;
    this.inFlightResumeAt = Math.floor((this.maxInFlightPerSession * 3) / 4);
    this.messageTimeoutMs = this.options.messageTimeoutMs;
    const auth = this.options.auth;
    this.auth = auth === undefined ? undefined : auth instanceof Authenticator ? auth : new Authenticator(auth);
    const rl = this.options.rateLimit;
    this.ownsRateLimiter = rl !== undefined && !(rl instanceof RateLimiter);
    this.rateLimiter =
      rl === undefined
        ? undefined
        : rl instanceof RateLimiter
          ? rl
          : new RateLimiter({
              ...rl,
              // Constructors do no I/O: listen() opens the connection, a failed listen() closes it.
              redis: rl.redis === undefined || rl.redis instanceof RedisConnection ? rl.redis : { ...rl.redis, lazy: true },
              onStoreStateChange: (state, previous, error) => {
                const log = state === 'up' ? this.logger.info.bind(this.logger) : this.logger.warn.bind(this.logger);
                log({ state, previous, err: error?.message }, 'rate-limit store state changed');
                rl.onStoreStateChange?.(state, previous, error);
              },
            });
    if (this.rateLimiter?.empty) this.rateLimiter = undefined;
    this.logger = logger ?? silentLogger;
    this.auth?.onKeySourceChange((reachable, reason) => {
      if (reachable) this.logger.info('JWT key source reachable again');
      else this.logger.error({ reason }, 'JWT key source unreachable');
    });
    // A factory that throws or returns no handler costs its own session (1011): Session guards the call.
    const made: HandlerFactory = typeof handler === 'function' ? handler : (peer) => handler.createHandler(peer);
    // Every session's peer by id, for sendToSession: registered when its handler is made, removed when it closes.
    const inner: HandlerFactory = (peer) => {
      const h = made(peer);
      if (h === undefined || h === null) return h;
      this.peers.set(peer.id, peer);
      const closed = h.closed.bind(h);
      h.closed = () => {
        if (this.peers.get(peer.id) === peer) this.peers.delete(peer.id);
        // What closed() returns (a promise that may reject) goes on to the Session, which handles it.
        return closed();
      };
      return h;
    };
    if (backplane !== undefined && typeof handler === 'object' && typeof (handler as Partial<McpRouter>).setRelay === 'function') this.router = handler as McpRouter;
    // Cross-node resume: made here (no I/O), connected by listen(), closed after the sessions.
    const rs = this.options.resumeStore;
    const resumeStore = rs === undefined || this.options.resumeGraceMs === 0 ? undefined : new ResumeStore(resolveResumeStoreOptions(rs), this.options.resumeGraceMs, this.logger);
    this.resumer = new SessionResumer(inner, this.options, this.logger, resumeStore);
    this.makeHandler = this.resumer.factory;
    this.drainHandler = typeof handler === 'function' ? undefined : handler.drain?.bind(handler);
    // Codecs are offered by default: a client that offers none pays nothing.
    try {
      this.compression = resolveCompressionConfig(this.options.compression ?? {});
    } catch (err) {
      throw new RangeError((err as Error).message);
    }
    const codecs = createNegotiator(this.compression);
    if (codecs.codecs.length > 0) this.negotiator = codecs;
    this.door = new Admission(this, this.negotiator, this.compression, (ws, socket, ip, identity) => this.accept(ws, socket, ip, identity));
    // HTTP sessions have their own ids (Mcp-Session-Id): SEP-1288 resume is for sockets.
    this.httpTransport = new HttpTransport(this, this.door, inner, typeof handler === 'function' ? undefined : handler.headerParams?.bind(handler));
    this.extraMetrics = [
      {
        name: 'mcp_ws_connection_slots',
        help: 'Connection slots taken (open sessions plus upgrades being admitted), counted against maxConnections',
        type: 'gauge',
        read: () => [{ value: this.door.slots }],
      },
      ...(this.rateLimiter?.metrics() ?? []),
      ...(this.negotiator ? compressionMetrics() : []),
      ...(backplane?.metrics() ?? []),
      ...(resumeStore ? resumeStoreMetrics(resumeStore, this.resumer) : []),
      ...(extraMetrics ?? []),
    ];
    this.registry = createRegistry(this.metrics, { defaultMetrics: this.options.processMetrics, extra: [...this.extraMetrics] });
    this.cluster?.attach(() => this.registry.metrics());
    const snap = typeof handler === 'object' ? (handler as { snapshot?: unknown }).snapshot : undefined;
    this.handlerSnapshot = typeof snap === 'function' ? (snap as () => unknown).bind(handler) : undefined;
    const { dashboard, debugSnapshot, debugProfile, dashboardMaxViewers } = this.options;
    this.observer = dashboard || debugSnapshot || debugProfile ? new Observer(this, this.door, { dashboard, debugSnapshot, debugProfile, maxViewers: dashboardMaxViewers }, this.logger) : undefined;
    const httpOptions = handshakeHttpOptions(this.options);
    this.http = this.options.tls
      ? createHttpsServer({ ...httpOptions, ...readTls(this.options.tls) })
      : createServer(httpOptions);
    // Count every header ourselves (the parser's default keeps 2,000 and drops the rest silently).
    this.http.maxHeadersCount = 0;
    this.http.on('request', (req, res) => serveHttp(this, req, res));
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.door.onUpgrade(req, socket as Socket, head));
    this.http.on('clientError', onClientError);
  }

  /**
   * Starts listening: opens the rate-limit store's connection, then binds.
   * Resolves with the bound address once ready. A server listens once: a
   * second call, or a call after close(), rejects. When binding fails,
   * what listen() opened is closed again, so a failed start leaves nothing
   * keeping the process alive.
   */
  async listen(): Promise<ServerAddress> {
    if (this.closing) throw new Error('listen() after close(): a closed server cannot listen again; create a new one');
    if (this.listenCalled) throw new Error('listen() was already called: a server listens once');
    this.listenCalled = true;
    try {
      return await this.bind();
    } catch (err) {
      if (this.sweepTimer) clearInterval(this.sweepTimer);
      if (this.ownsRateLimiter) await this.rateLimiter?.close();
      await this.resumer.closeStore();
      throw err;
    }
  }

  private async bind(): Promise<ServerAddress> {
    const { host, port, path } = this.options;
    if (this.ownsRateLimiter) this.rateLimiter?.open();
    this.resumer.store?.open();
    if (this.observer) this.metrics.startEventLoopMonitor();
    // Optional: without @opentelemetry/api, or without a registered provider, requests are not traced.
    this.tracing = await loadTracing();
    this.tracer = this.tracing.current();
    this.attachBackplane();
    const redis = this.rateLimiter?.redis;
    if (redis && !(await redis.whenUp(2000))) {
      // Serve anyway: the configured failMode decides until Redis answers.
      this.logger.warn('rate-limit store not reachable yet; its failMode applies until it is');
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        this.http.removeListener('listening', onListening);
        reject(listenError(err, host, port));
      };
      const onListening = (): void => {
        this.http.removeListener('error', onError);
        resolve();
      };
      this.http.once('error', onError);
      this.http.once('listening', onListening);
      this.http.listen({ port, host, backlog: this.options.backlog });
    });
    const bound = this.http.address();
    const actualPort = typeof bound === 'object' && bound !== null ? bound.port : port;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    const scheme = this.options.tls ? 'wss' : 'ws';
    this.address = { host, port: actualPort, url: `${scheme}://${hostPart}:${actualPort}${path}` };
    this.startSweep();
    this.logger.info({ url: this.address.url }, 'listening');
    return this.address;
  }

  /** The bound address; throws before listen() resolved. */
  get url(): string {
    if (!this.address) throw new Error('server is not listening yet');
    return this.address.url;
  }

  /**
   * Rereads the TLS certificate, key and CA from their files. New handshakes
   * use them; open connections are untouched. The CLI calls this on SIGHUP.
   */
  reloadTls(): void {
    if (!this.options.tls) throw new Error('reloadTls: the server was not started with tls');
    (this.http as HttpsServer).setSecureContext(readTls(this.options.tls));
    this.logger.info('TLS certificate reloaded');
  }

  /**
   * Sends a notification to one session, wherever it is connected: at once
   * when this process holds it, else through the backplane (if any) to the
   * process that does. `sessionId` is the session's id (a tool handler's
   * `ctx.sessionId`). Returns 'delivered' (held here), 'published' (handed
   * to the backplane; delivered if another process holds it and Redis is
   * up) or 'unknown' (not here, and no backplane). Never waits.
   *
   * @throws TypeError when the notification's method is not a string or its params not an object
   */
  sendToSession(sessionId: string, notification: { method: string; params?: Record<string, unknown> }): 'delivered' | 'published' | 'unknown' {
    if (typeof sessionId !== 'string' || sessionId === '') throw new TypeError('sendToSession: sessionId should be a non-empty string');
    const { method, params } = notification ?? ({} as { method?: unknown; params?: unknown });
    if (typeof method !== 'string' || method === '') throw new TypeError('sendToSession: notification.method should be a non-empty string');
    if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) throw new TypeError('sendToSession: notification.params should be an object');
    const peer = this.peers.get(sessionId);
    if (peer !== undefined) {
      peer.notify(method, params);
      return 'delivered';
    }
    if (this.backplane === undefined) return 'unknown';
    this.backplane.publish(params === undefined ? { kind: 'session-notification', sessionId, method } : { kind: 'session-notification', sessionId, method, params }, this.onBackplaneEvent);
    return 'published';
  }

  private attachBackplane(): void {
    const bp = this.backplane;
    if (bp === undefined) return;
    this.unsubscribeBackplane = bp.subscribe(this.onBackplaneEvent);
    // Local delivery has happened when these run: an event the channel cannot carry (a URI over
    // its field limit) stays local, never a throw into the application's notify call.
    const relay = (event: BackplaneEvent): void => {
      try {
        bp.publish(event, this.onBackplaneEvent);
      } catch (err) {
        this.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'backplane: event not published');
      }
    };
    this.router?.setRelay({
      resourceUpdated: (uri) => relay({ kind: 'resource-updated', uri }),
      listChanged: (list) => relay({ kind: 'list-changed', list }),
    });
    bp.open();
  }

  /** An event from another process (or another server of this process). */
  private readonly onBackplaneEvent: BackplaneListener = (event: BackplaneEvent): void => {
    switch (event.kind) {
      case 'resource-updated':
        this.router?.deliverResourceUpdated(event.uri);
        break;
      case 'list-changed':
        this.router?.deliverListChanged(event.list);
        break;
      case 'session-notification':
        this.peers.get(event.sessionId)?.notify(event.method, event.params);
        break;
    }
  };

  /** Number of open WebSocket sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Number of open legacy Streamable HTTP sessions (Mcp-Session-Id). */
  get httpSessionCount(): number {
    return this.httpTransport.sessionCount;
  }

  /** @internal Streamable HTTP on an endpoint path (http-routes.ts calls it). */
  serveEndpoint(req: IncomingMessage, res: ServerResponse): void {
    this.httpTransport.serve(req, res);
  }

  /** True while requests are traced: `@opentelemetry/api` is installed and a tracer provider is registered. */
  get tracingActive(): boolean {
    return this.tracer !== undefined;
  }

  /** Connection slots taken: open sessions plus upgrades still being admitted. */
  get slotCount(): number {
    return this.door.slots;
  }

  // -------------------------------------------------------------- sessions

  private accept(ws: WebSocket, socket: Socket, ip: string, identity: VerifiedIdentity | undefined): void {
    const codec = this.negotiator?.codecFor(ws.protocol);
    const wire = codec ? createWireCodec(codec, this.compression, this.options.maxPayload) : undefined;
    const session = new Session(ws, socket, this, randomUUID(), ip, identity, this.makeHandler, wire);
    this.sessions.add(session);
    this.metrics.connectionsActive++;
    this.metrics.connectionsOpened++;
    if (this.draining) session.close(CloseCode.GOING_AWAY, 'server shutting down');
  }

  // ------------------------------------------------------------ SessionHost

  /** @internal */
  sessionClosed(session: Session): void {
    if (this.sessions.delete(session)) this.metrics.connectionsActive--;
    this.rateLimiter?.releaseConnection(session.id);
    if (this.draining && this.sessions.size === 0) this.drained?.();
  }

  /** @internal */
  httpSessionClosed(session: HttpSession): void {
    this.httpTransport.sessionClosed(session);
  }

  /** @internal */
  requestSettled(): void {
    if (this.draining && this.metrics.requestsInFlight === 0) this.drained?.();
  }

  // ----------------------------------------------------------------- sweep

  private startSweep(): void {
    this.sweepTimer = setInterval(() => this.sweep(), sweepIntervalMs(this.options));
    this.sweepTimer.unref();
  }

  /** @internal One pass over all sessions: the coarse clock, then each session's lifecycle policies. */
  sweep(): void {
    // Timed (wall and CPU) for mcp_ws_sweep_*: its cost per session is what sizes a worker's share.
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const now = (this.now = Date.now());
    if (this.tracing?.available) this.tracer = this.tracing.current();
    // Free rate-limit state of idle keys a slice at a time, so one sweep never stalls the loop.
    this.rateLimiter?.sweep(10_000);
    const { options, metrics, logger } = this;
    for (const s of this.sessions) enforceSessionPolicies(s, now, options, metrics, logger);
    this.httpTransport.sweep(now);
    const cpu = process.cpuUsage(cpu0);
    metrics.sweeps++;
    metrics.sweepSeconds += (performance.now() - t0) / 1000;
    metrics.sweepCpuSeconds += (cpu.user + cpu.system) / 1e6;
  }

  // -------------------------------------------------------------- shutdown

  /**
   * Graceful shutdown: stop admitting, let in-flight requests finish until
   * drainTimeoutMs, close every session with 1001, then stop the HTTP server.
   * Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // Stay reachable while draining: /readyz answers 503 so a load balancer
    // stops routing here, and late upgrades get 503 + Retry-After, not a reset.
    this.draining = true;
    // A cluster worker stops taking connections at once: the primary hands new
    // ones to the other workers (a rolling restart never refuses a client).
    let stopped: Promise<void> | undefined = this.cluster ? new Promise<void>((resolve) => this.http.close(() => resolve())) : undefined;
    // Detached sessions are released now; attached ones are released as their sockets close.
    this.resumer.close();
    this.logger.info({ sessions: this.sessions.size, inFlight: this.metrics.requestsInFlight }, 'draining');
    this.drainHandler?.(); // ends long-lived requests (the router's subscriptions/listen) so they do not hold the drain
    if (this.metrics.requestsInFlight > 0) {
      await this.waitDrained(this.options.drainTimeoutMs, () => this.metrics.requestsInFlight === 0);
    }
    for (const s of this.sessions) s.close(CloseCode.GOING_AWAY, 'server shutting down');
    this.httpTransport.closeAll();
    if (this.sessions.size > 0) await this.waitDrained(this.options.closeTimeoutMs, () => this.sessions.size === 0);
    for (const s of this.sessions) s.terminate();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.observer?.close();
    this.metrics.stopEventLoopMonitor();
    stopped ??= new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await stopped;
    if (this.ownsRateLimiter) await this.rateLimiter?.close();
    this.unsubscribeBackplane?.();
    this.router?.setRelay(undefined);
    // After the sessions: their state was handed off to the store for another node.
    await this.resumer.closeStore();
    this.logger.info('closed');
  }

  private waitDrained(ms: number, done: () => boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.drained = undefined;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.drained = () => {
        if (done()) finish();
      };
      if (done()) finish();
    });
  }
}

function readTls(files: TlsFiles): { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean; rejectUnauthorized?: boolean } {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read TLS ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const out: ReturnType<typeof readTls> = { cert: read('certificate', files.cert), key: read('key', files.key) };
  if (files.ca) {
    out.ca = read('CA', files.ca);
    out.requestCert = true;
    out.rejectUnauthorized = true;
  }
  return out;
}

/** Turns a listen failure into one clear line. */
function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = `${host}:${port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return Object.assign(new Error(`cannot listen on ${where}: address already in use`), { code: err.code });
    case 'EACCES':
      return Object.assign(new Error(`cannot listen on ${where}: permission denied`), { code: err.code });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return Object.assign(new Error(`cannot listen on ${where}: no such local address`), { code: err.code });
    default:
      return Object.assign(new Error(`cannot listen on ${where}: ${err.message}`), { code: err.code });
  }
}

/** The resume store's counters as metrics. */
function resumeStoreMetrics(store: ResumeStore, resumer: SessionResumer): ExtraMetric[] {
  return [
    {
      name: 'mcp_ws_resume_store_errors_total',
      help: 'Resume store commands that failed (Redis down, slow past resumeStore.timeoutMs, or refusing): writes given up, lookups refused',
      type: 'counter',
      read: () => [{ value: store.stats.errors }],
    },
    {
      name: 'mcp_ws_resume_store_writes_total',
      help: 'Resumable session states written to the resume store',
      type: 'counter',
      read: () => [{ value: store.stats.writes }],
    },
    {
      name: 'mcp_ws_resume_remote_total',
      help: 'Resume ids looked up in the resume store, by outcome (resumed: rebuilt on this node; refused: -32019)',
      type: 'counter',
      read: () => [
        { labels: { outcome: 'resumed' }, value: resumer.stats.remoteResumed },
        { labels: { outcome: 'refused' }, value: resumer.stats.remoteRefused },
      ],
    },
  ];
}
