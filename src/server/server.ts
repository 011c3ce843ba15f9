/**
 * McpWsServer: an HTTP server whose upgrade handler is the door to MCP
 * sessions, plus health and metrics routes on the same port.
 *
 * Admission happens in the `upgrade` event, before a WebSocket object
 * exists, and takes a connection slot synchronously, so a burst of
 * concurrent upgrades cannot race past maxConnections / maxConnectionsPerIp.
 * A slot is released when the TCP socket closes, whatever happened to the
 * handshake.
 *
 *   upgrade ─► path? 404 ─► draining? 503 ─► slots? 503 + Retry-After
 *          ─► ws.handleUpgrade (subprotocol `mcp`) ─► Session(handler)
 *
 * One sweep timer serves every session: it advances the coarse clock,
 * pings idle sessions, terminates those whose pong is overdue, closes slow
 * consumers and finishes close handshakes that stall. No per-connection
 * timers, so 100,000 sessions cost one interval.
 *
 * Graceful shutdown (close()): readiness fails, new upgrades get 503, new
 * requests on open sessions get -32010, in-flight requests finish until
 * drainTimeoutMs, then every session is closed with 1001.
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { CloseCode } from '../protocol/close-codes.js';
import { ServerMetrics, createRegistry, type ExtraMetric, type RejectReason } from '../metrics/metrics.js';
import { silentLogger } from '../log.js';
import { Session, type SessionHost } from './session.js';
import { OriginPolicy } from './origin.js';
import { AuthError, Authenticator, KeySourceUnavailableError, extractCredential, type AuthOptions, type VerifiedIdentity } from './auth.js';
import { RateLimiter, type RateLimiterOptions } from '../ratelimit/limiter.js';
import { RedisConnection } from '../ratelimit/store-redis.js';
import {
  createNegotiator,
  createWireCodec,
  resolveCompressionConfig,
  toWsPerMessageDeflate,
  type CompressionConfig,
  type ResolvedCompressionConfig,
} from '../compression/config.js';
import type { CodecNegotiator } from '../compression/negotiate.js';
import { compressionMetrics } from '../compression/metrics.js';
import type { HandlerFactory, SessionHandler, SessionPeer } from './handler.js';

/** Something that makes a handler per session: a factory or an object with createHandler (router, SDK host). */
export type HandlerSource = HandlerFactory | { createHandler(peer: SessionPeer): SessionHandler };

/** Options of {@link McpWsServer}. Every limit has a default sized for one 2-core machine. */
export interface McpWsServerOptions {
  /** What serves each session: an McpRouter, an SdkHost, or a factory. Required. */
  handler: HandlerSource;
  /** Interface to bind. Default '127.0.0.1' (loopback: exposing the server is a decision). */
  host?: string;
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** WebSocket endpoint path. Default '/ws'. */
  path?: string;
  /** Largest message in bytes; larger closes with 1009. Default 4 MiB. */
  maxPayload?: number;
  /** Open connections in total, counted from the upgrade request. Default 100,000. */
  maxConnections?: number;
  /** Open connections per remote IP; 0 means no per-IP limit. Default 0. */
  maxConnectionsPerIp?: number;
  /** Time allowed to send the upgrade request headers. Default 10,000 ms. */
  handshakeTimeoutMs?: number;
  /** Ping a session idle this long; 0 disables heartbeats. Default 30,000 ms. */
  heartbeatIntervalMs?: number;
  /** Terminate a session whose pong is this late. Default 10,000 ms. */
  heartbeatTimeoutMs?: number;
  /** Per-connection send queue cap; over it the session stops reading. Default 4 MiB, at least 64 KiB. */
  maxBufferedBytes?: number;
  /** A session over maxBufferedBytes this long is closed with 4001. Default 30,000 ms. */
  slowConsumerTimeoutMs?: number;
  /**
   * Requests one session may have in flight (replies still being computed);
   * at the cap it stops reading, so TCP pushes back on the client, and reads
   * again once a quarter of them are answered. Nothing is refused. Default 256:
   * a parked request costs about 1.7 KB (parsed message, promises, timers of a
   * tool), so a session holds under half a MiB of them, while 256 concurrent
   * calls is more overlap than one MCP client uses in practice.
   */
  maxInFlightPerSession?: number;
  /** How long close() lets in-flight requests finish. Default 10,000 ms. */
  drainTimeoutMs?: number;
  /** How long a close handshake the server started may take before the socket is dropped. Default 5,000 ms. */
  closeTimeoutMs?: number;
  /** Seconds sent in Retry-After with 503 rejections. Default 1. */
  retryAfterSeconds?: number;
  /** Export prom-client's default process metrics at /metrics. Default true. */
  processMetrics?: boolean;
  /** Browser origins allowed to connect. Default: loopback origins only; ['*'] allows any. No Origin (not a browser) is always allowed. */
  allowedOrigins?: string[];
  /** Host header values allowed. Default: loopback names when bound to loopback, else any. */
  allowedHosts?: string[];
  /** Authentication; off when absent. An Authenticator or its options. */
  auth?: AuthOptions | Authenticator;
  /** TLS: file paths of the certificate and key (PEM), optional CA to verify client certificates. Reloaded by reloadTls(). */
  tls?: TlsFiles;
  /** Most request headers an upgrade may carry (more → 400). Default 100. */
  maxHeaders?: number;
  /** Most fragments one message may have (ws maxFragments; more → 1009). Default 1024. */
  maxFragments?: number;
  /** Most chunks ws buffers while parsing (ws maxBufferedChunks; more → 1009). Default 65536. */
  maxBufferedChunks?: number;
  /** A message left incomplete this long closes the session with 1008; 0 disables. Default 30,000 ms. */
  messageTimeoutMs?: number;
  /** Rate limiting (off when absent): the seed's RateLimitConfig and scopes, or a RateLimiter to share. */
  rateLimit?: RateLimiterOptions | RateLimiter;
  /** Consecutive rate-limited requests after which a session is closed with 1008; 0 never closes. Default 1000. */
  rateLimitCloseAfter?: number;
  /** More metrics to export at /metrics (e.g. a gateway's), read at scrape time. */
  metrics?: ExtraMetric[];
  /** Compression: codecs negotiated by subprotocol (`mcp.zstd`, …; offered by default, `{ enabled: false }` turns them off) and permessage-deflate (off unless enabled). */
  compression?: CompressionConfig;
  /** Logger. Default: silent (the CLI passes its own). */
  logger?: Logger;
}

/** TLS certificate files. */
export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle: when set, clients must present a certificate it signed. */
  ca?: string;
}

type Resolved = Required<Omit<McpWsServerOptions, 'handler' | 'logger' | 'allowedOrigins' | 'allowedHosts' | 'auth' | 'tls' | 'rateLimit' | 'metrics' | 'compression'>> &
  Pick<McpWsServerOptions, 'allowedOrigins' | 'allowedHosts' | 'auth' | 'tls' | 'rateLimit' | 'compression'>;

const DEFAULTS: Resolved = {
  host: '127.0.0.1',
  port: 8080,
  path: '/ws',
  maxPayload: 4 * 1024 * 1024,
  maxConnections: 100_000,
  maxConnectionsPerIp: 0,
  handshakeTimeoutMs: 10_000,
  heartbeatIntervalMs: 30_000,
  heartbeatTimeoutMs: 10_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  slowConsumerTimeoutMs: 30_000,
  maxInFlightPerSession: 256,
  drainTimeoutMs: 10_000,
  closeTimeoutMs: 5_000,
  retryAfterSeconds: 1,
  processMetrics: true,
  maxHeaders: 100,
  maxFragments: 1024,
  maxBufferedChunks: 65536,
  messageTimeoutMs: 30_000,
  rateLimitCloseAfter: 1000,
};

const OPTIONAL_KEYS = new Set(['allowedOrigins', 'allowedHosts', 'auth', 'tls', 'rateLimit', 'compression']);

/**
 * Largest value of a numeric option: ws keeps maxPayload, maxFragments and
 * maxBufferedChunks as 32-bit integers (`| 0`, so 2^31 and above would mean
 * "no limit"), and timers overflow past it.
 */
export const MAX_LIMIT = 2 ** 31 - 1;

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(message);
}

/** Resolves and validates options: defaults, then user values; messages name the option. */
export function resolveServerOptions(options: Omit<McpWsServerOptions, 'handler'>): Resolved {
  const o: Resolved = { ...DEFAULTS };
  for (const [k, v] of Object.entries(options)) {
    if (v !== undefined && (k in DEFAULTS || OPTIONAL_KEYS.has(k))) (o as Record<string, unknown>)[k] = v;
  }
  const nonNeg = (name: keyof Resolved): void => {
    const v = o[name] as number;
    check(Number.isFinite(v) && v >= 0, `${name} should be a non-negative number, got ${String(v)}`);
    check(v <= MAX_LIMIT, `${name} should be at most ${MAX_LIMIT}, got ${String(v)}`);
  };
  const positive = (name: keyof Resolved): void => {
    const v = o[name] as number;
    check(Number.isFinite(v) && v > 0, `${name} should be a positive number, got ${String(v)}`);
    check(v <= MAX_LIMIT, `${name} should be at most ${MAX_LIMIT}, got ${String(v)}`);
  };
  check(Number.isInteger(o.port) && o.port >= 0 && o.port <= 65535, `port should be an integer 0–65535, got ${String(o.port)}`);
  check(typeof o.path === 'string' && o.path.startsWith('/'), `path should start with "/", got ${JSON.stringify(o.path)}`);
  positive('maxPayload');
  positive('maxConnections');
  nonNeg('maxConnectionsPerIp');
  positive('handshakeTimeoutMs');
  nonNeg('heartbeatIntervalMs');
  positive('heartbeatTimeoutMs');
  check(o.maxBufferedBytes >= 65536, `maxBufferedBytes should be at least 65536, got ${String(o.maxBufferedBytes)}`);
  check(o.maxBufferedBytes <= MAX_LIMIT, `maxBufferedBytes should be at most ${MAX_LIMIT}, got ${String(o.maxBufferedBytes)}`);
  positive('slowConsumerTimeoutMs');
  check(Number.isSafeInteger(o.maxInFlightPerSession) && o.maxInFlightPerSession > 0, `maxInFlightPerSession should be a positive integer, got ${String(o.maxInFlightPerSession)}`);
  nonNeg('drainTimeoutMs');
  positive('closeTimeoutMs');
  nonNeg('retryAfterSeconds');
  positive('maxHeaders');
  positive('maxFragments');
  positive('maxBufferedChunks');
  nonNeg('messageTimeoutMs');
  nonNeg('rateLimitCloseAfter');
  if (o.tls) check(typeof o.tls.cert === 'string' && typeof o.tls.key === 'string', 'tls needs cert and key file paths');
  return Object.freeze(o);
}

/** Where a listening server can be reached. */
export interface ServerAddress {
  host: string;
  port: number;
  /** ws:// URL of the MCP endpoint. */
  url: string;
}

/** An MCP-over-WebSocket server. */
export class McpWsServer implements SessionHost {
  readonly options: Resolved;
  readonly metrics = new ServerMetrics();
  readonly registry: Registry;
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
  private readonly origins: OriginPolicy;
  now = Date.now();
  draining = false;

  private readonly wss: WebSocketServer;
  private readonly makeHandler: HandlerFactory;
  private readonly sessions = new Set<Session>();
  private readonly perIp = new Map<string, number>();
  private slots = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private address: ServerAddress | undefined;
  private closing: Promise<void> | undefined;
  private listenCalled = false;
  private drained: (() => void) | undefined;

  constructor(options: McpWsServerOptions) {
    const { handler, logger, metrics: extraMetrics, ...rest } = options;
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
    this.origins = new OriginPolicy({
      allowedOrigins: this.options.allowedOrigins,
      allowedHosts: this.options.allowedHosts,
      bindHost: this.options.host,
    });
    this.logger = logger ?? silentLogger;
    this.auth?.onKeySourceChange((reachable, reason) => {
      if (reachable) this.logger.info('JWT key source reachable again');
      else this.logger.error({ reason }, 'JWT key source unreachable');
    });
    const make: HandlerFactory = typeof handler === 'function' ? handler : (peer) => handler.createHandler(peer);
    // A factory that throws costs its own session (1011), never the process.
    this.makeHandler = (peer) => {
      try {
        const h = make(peer);
        if (!isSessionHandler(h)) throw new TypeError(`handler factory returned ${h === null ? 'null' : typeof h}, not a SessionHandler (request, notification, response, closed)`);
        return h;
      } catch (err) {
        this.logger.error({ err, session: peer.id }, 'handler factory failed; closing the session with 1011');
        peer.close(CloseCode.INTERNAL_ERROR, 'internal error');
        return FAILED_HANDLER;
      }
    };
    // Codecs are offered by default: a client that offers none pays nothing.
    try {
      this.compression = resolveCompressionConfig(this.options.compression ?? {});
    } catch (err) {
      throw new RangeError((err as Error).message);
    }
    const codecs = createNegotiator(this.compression);
    if (codecs.codecs.length > 0) this.negotiator = codecs;
    const negotiator = this.negotiator;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.options.maxPayload,
      clientTracking: false,
      perMessageDeflate: toWsPerMessageDeflate(this.compression),
      handleProtocols: negotiator ? (offered: Set<string>) => negotiator.select(offered) : selectProtocol,
      maxFragments: this.options.maxFragments,
      maxBufferedChunks: this.options.maxBufferedChunks,
    } as ConstructorParameters<typeof WebSocketServer>[0]);
    this.registry = createRegistry(this.metrics, {
      defaultMetrics: this.options.processMetrics,
      extra: [
        {
          name: 'mcp_ws_connection_slots',
          help: 'Connection slots taken (open sessions plus upgrades being admitted), counted against maxConnections',
          type: 'gauge',
          read: () => [{ value: this.slots }],
        },
        ...(this.rateLimiter?.metrics() ?? []),
        ...(this.negotiator ? compressionMetrics() : []),
        ...(extraMetrics ?? []),
      ],
    });
    const httpOptions = {
      headersTimeout: this.options.handshakeTimeoutMs,
      requestTimeout: Math.max(this.options.handshakeTimeoutMs, 30_000),
      connectionsCheckingInterval: Math.min(1000, this.options.handshakeTimeoutMs),
      maxHeaderSize: 16 * 1024,
    };
    this.http = this.options.tls
      ? createHttpsServer({ ...httpOptions, ...readTls(this.options.tls) })
      : createServer(httpOptions);
    // Count every header ourselves (the parser's default keeps 2,000 and drops the rest silently).
    this.http.maxHeadersCount = 0;
    this.http.on('request', (req, res) => this.onRequest(req, res));
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket as Socket, head));
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
      throw err;
    }
  }

  private async bind(): Promise<ServerAddress> {
    const { host, port, path } = this.options;
    if (this.ownsRateLimiter) this.rateLimiter?.open();
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
      this.http.listen(port, host);
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

  /** Number of open sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Connection slots taken: open sessions plus upgrades still being admitted. */
  get slotCount(): number {
    return this.slots;
  }

  // ------------------------------------------------------------------ door

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', onSocketError);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    if (pathname !== this.options.path) return this.reject(socket, 404, 'path');
    if (req.rawHeaders.length > 2 * this.options.maxHeaders) return this.reject(socket, 400, 'headers');
    if (!this.origins.checkOrigin(req.headers.origin)) return this.reject(socket, 403, 'origin');
    if (!this.origins.checkHost(req.headers.host)) return this.reject(socket, 403, 'host');
    let token: string | undefined;
    if (this.auth) {
      try {
        token = extractCredential(url, req.headers.authorization, req.headers['sec-websocket-protocol']);
      } catch (err) {
        return this.rejectAuth(socket, err);
      }
    }
    if (this.draining) return this.reject(socket, 503, 'draining');
    if (this.slots >= this.options.maxConnections) return this.reject(socket, 503, 'max_connections');
    const ip = socket.remoteAddress ?? '';
    const perIpMax = this.options.maxConnectionsPerIp;
    const ipCount = this.perIp.get(ip) ?? 0;
    if (perIpMax > 0 && ipCount >= perIpMax) return this.reject(socket, 503, 'max_connections_per_ip');
    const handshakeVerdict = this.rateLimiter?.checkHandshake(ip);
    if (handshakeVerdict) {
      // A shared (Redis) handshake limit answers asynchronously; admission waits for it below.
      if (!(handshakeVerdict instanceof Promise)) {
        if (handshakeVerdict.kind === 'denied') return this.reject(socket, 503, 'handshake_rate', retryAfter(handshakeVerdict.retryAfterMs));
      }
    }
    // Take the slot now, synchronously: concurrent upgrades see it at once.
    this.holdSlot(socket, ip, ipCount);
    if (handshakeVerdict instanceof Promise) {
      handshakeVerdict.then(
        (v) => {
          if (v?.kind === 'denied') return this.reject(socket, 503, 'handshake_rate', retryAfter(v.retryAfterMs));
          this.authenticate(req, socket, head, ip, token);
        },
        () => this.authenticate(req, socket, head, ip, token),
      );
      return;
    }
    this.authenticate(req, socket, head, ip, token);
  }

  /** Runs from promise callbacks: whatever throws here is answered on this connection and never escapes. */
  private authenticate(req: IncomingMessage, socket: Socket, head: Buffer, ip: string, token: string | undefined): void {
    if (socket.destroyed) return;
    if (!this.auth) return this.upgrade(req, socket, head, ip, undefined);
    this.auth.verify(token).then(
      (identity) => {
        if (socket.destroyed) return;
        if (this.draining) return this.reject(socket, 503, 'draining');
        this.upgrade(req, socket, head, ip, identity);
      },
      (err: unknown) => this.rejectAuth(socket, err),
    );
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer, ip: string, identity: VerifiedIdentity | undefined): void {
    let ws: WebSocket | undefined;
    try {
      this.wss.handleUpgrade(req, socket, head, (opened: WebSocket) => {
        ws = opened;
        this.accept(opened, socket, ip, identity);
      });
    } catch (err) {
      this.logger.error({ err }, 'upgrade failed');
      if (ws) ws.close(CloseCode.INTERNAL_ERROR, 'internal error');
      else this.reject(socket, 500, 'internal');
    }
  }

  private rejectAuth(socket: Socket, err: unknown): void {
    // Our failure, not the client's: logged once per outage by the key source listener.
    if (err instanceof KeySourceUnavailableError) return this.reject(socket, 503, 'auth_unavailable', {}, 'credential keys unavailable');
    if (!(err instanceof AuthError)) {
      this.logger.error({ err }, 'credential check failed');
      return this.reject(socket, 503, 'auth');
    }
    const challenge: Record<string, string> = this.auth ? { 'WWW-Authenticate': this.auth.challenge(err) } : {};
    this.reject(socket, err.status, err.status === 401 ? 'auth' : 'forbidden', challenge, err.message);
  }

  /**
   * Takes a connection slot until the socket closes. A method of its own so
   * the close listener's closure holds only `ip`, not the upgrade request,
   * its head buffer or its credential for the life of the connection.
   */
  private holdSlot(socket: Socket, ip: string, ipCount: number): void {
    this.slots++;
    this.perIp.set(ip, ipCount + 1);
    socket.once('close', () => this.releaseSlot(ip));
  }

  private releaseSlot(ip: string): void {
    this.slots--;
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  private reject(
    socket: Socket,
    status: keyof typeof STATUS_TEXT,
    reason: RejectReason,
    headers: Record<string, string> = {},
    message: string = reason,
  ): void {
    this.metrics.rejected[reason]++;
    this.logger.debug({ status, reason, ip: socket.remoteAddress }, 'upgrade rejected');
    if (socket.destroyed) return;
    if (status === 503 && headers['Retry-After'] === undefined) headers = { ...headers, 'Retry-After': String(this.options.retryAfterSeconds) };
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    const body = `${message}\n`;
    endAndDestroy(
      socket,
      `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

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
  requestSettled(): void {
    if (this.draining && this.metrics.requestsInFlight === 0) this.drained?.();
  }

  // ------------------------------------------------------------------ HTTP

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    if (pathname === this.options.path) {
      this.metrics.rejected.not_upgrade++;
      // Connection: close — the HTTP server then ends and destroys the socket once the reply is out.
      res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket', Connection: 'Upgrade, close' });
      res.end('Upgrade Required: this endpoint speaks MCP over WebSocket\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'Content-Type': 'text/plain', Allow: 'GET, HEAD' });
      res.end('Method Not Allowed\n');
      return;
    }
    switch (pathname) {
      case '/healthz':
        sendJson(res, 200, { status: 'ok' });
        return;
      case '/readyz':
        if (this.draining) sendJson(res, 503, { status: 'draining' });
        else sendJson(res, 200, { status: 'ready', sessions: this.sessions.size });
        return;
      case '/metrics':
        this.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'Content-Type': this.registry.contentType });
            res.end(text);
          },
          (err: unknown) => {
            this.logger.error({ err }, 'metrics scrape failed');
            res.writeHead(500, { 'Content-Type': 'text/plain' });
            res.end('metrics unavailable\n');
          },
        );
        return;
      default:
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('Not Found\n');
    }
  }

  // ----------------------------------------------------------------- sweep

  private startSweep(): void {
    const { heartbeatIntervalMs, heartbeatTimeoutMs } = this.options;
    const { slowConsumerTimeoutMs, closeTimeoutMs } = this.options;
    let base = Math.min(slowConsumerTimeoutMs, closeTimeoutMs, 4000);
    if (heartbeatIntervalMs > 0) base = Math.min(base, heartbeatIntervalMs, heartbeatTimeoutMs);
    const tick = Math.max(20, Math.min(1000, Math.floor(base / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), tick);
    this.sweepTimer.unref();
  }

  /** @internal One pass over all sessions: clock, heartbeats, slow consumers, stalled closes. */
  sweep(): void {
    const now = (this.now = Date.now());
    // Free rate-limit state of idle keys a slice at a time, so one sweep never stalls the loop.
    this.rateLimiter?.sweep(10_000);
    const { heartbeatIntervalMs: interval, heartbeatTimeoutMs: timeout, slowConsumerTimeoutMs } = this.options;
    const m = this.metrics;
    for (const s of this.sessions) {
      if (s.closingAt !== 0) {
        if (now - s.closingAt >= this.options.closeTimeoutMs) s.terminate();
        continue;
      }
      if (s.expiresAt !== 0 && now >= s.expiresAt) {
        this.logger.info({ session: s.id }, 'credential expired');
        s.close(CloseCode.POLICY_VIOLATION, 'credential expired');
        continue;
      }
      if (s.partialSince !== 0 && now - s.partialSince >= this.messageTimeoutMs) {
        m.errors.message_timeout++;
        s.close(CloseCode.POLICY_VIOLATION, 'message left incomplete');
        continue;
      }
      if (s.pausedAt !== 0 && now - s.pausedAt >= slowConsumerTimeoutMs) {
        m.errors.slow_consumer++;
        this.logger.warn({ session: s.id, buffered: s.bufferedAmount }, 'slow consumer closed');
        s.close(CloseCode.SLOW_CONSUMER, 'slow consumer');
        continue;
      }
      if (interval === 0 || s.readingHeld) continue;
      if (s.pingSentAt !== 0) {
        if (now - s.pingSentAt >= timeout) {
          m.errors.heartbeat_timeout++;
          this.logger.debug({ session: s.id }, 'heartbeat timeout');
          s.terminate();
        }
      } else if (now - s.lastSeen >= interval) {
        s.ping(now);
      }
    }
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
    this.logger.info({ sessions: this.sessions.size, inFlight: this.metrics.requestsInFlight }, 'draining');
    if (this.metrics.requestsInFlight > 0) {
      await this.waitDrained(this.options.drainTimeoutMs, () => this.metrics.requestsInFlight === 0);
    }
    for (const s of this.sessions) s.close(CloseCode.GOING_AWAY, 'server shutting down');
    if (this.sessions.size > 0) await this.waitDrained(this.options.closeTimeoutMs, () => this.sessions.size === 0);
    for (const s of this.sessions) s.terminate();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    const stopped = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await stopped;
    if (this.ownsRateLimiter) await this.rateLimiter?.close();
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

function retryAfter(ms: number): Record<string, string> {
  return { 'Retry-After': String(Number.isFinite(ms) ? Math.max(1, Math.ceil(ms / 1000)) : 60) };
}

const STATUS_TEXT = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
} as const;

/** The handler of a session whose factory threw: the session is already closing with 1011. */
function isSessionHandler(h: unknown): h is SessionHandler {
  if (typeof h !== 'object' || h === null) return false;
  const o = h as Record<string, unknown>;
  return typeof o.request === 'function' && typeof o.notification === 'function' && typeof o.response === 'function' && typeof o.closed === 'function';
}

const FAILED_HANDLER: SessionHandler = {
  protocolVersion: undefined,
  request: () => undefined,
  notification: () => {},
  response: () => {},
  closed: () => {},
};

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

/** Selects `mcp` when offered; a client offering no subprotocol is accepted without one. */
function selectProtocol(protocols: Set<string>): string | false {
  return protocols.has('mcp') ? 'mcp' : false;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(text);
}

function onSocketError(): void {
  // A reset during or after the handshake: the close handler cleans up.
}

function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const text = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  endAndDestroy(socket, `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** Grace a rejected peer gets to receive its response before the socket is destroyed anyway. */
const REJECT_GRACE_MS = 1000;

/**
 * Sends a final response on a socket the HTTP server does not manage (an
 * upgrade, a parse error) and destroys the socket once the response is
 * flushed, as ws does when it aborts a handshake. end() alone only half-closes:
 * a peer that never closes its side would keep the socket, and the
 * connection slot released on its close, forever. A peer that does not even
 * let the response out is cut off after REJECT_GRACE_MS.
 */
function endAndDestroy(socket: Duplex, response: string): void {
  if (socket.destroyed) return;
  socket.once('finish', destroyThis);
  const timer = setTimeout(() => socket.destroy(), REJECT_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.end(response);
}

function destroyThis(this: Duplex): void {
  this.destroy();
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
