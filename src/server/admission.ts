/**
 * The door: admission of WebSocket upgrades to MCP sessions, and the same
 * checks for Streamable HTTP requests (http-transport.ts calls screen(),
 * checkCapacity(), checkHandshakeRate(), takeSlot() and verify() in the
 * same order; only how a rejection is written differs).
 *
 * Admission happens in the `upgrade` event, before a WebSocket object
 * exists, and takes a connection slot synchronously, so a burst of
 * concurrent upgrades cannot race past maxConnections / maxConnectionsPerIp.
 * A slot is released when the TCP socket closes, whatever happened to the
 * handshake.
 *
 *   upgrade ─► client address (the peer, or X-Forwarded-For from trustedProxies: client-ip.ts)
 *          ─► path? 404 ─► headers > maxHeaders? 400 ─► Origin? 403 ─► Host? 403
 *          ─► mcp.version.<v> offered, none spoken? 400
 *          ─► credential malformed? 401 (auth on)
 *          ─► draining? 503 ─► slots? 503 ─► per-IP slots? 503
 *          ─► handshake rate? 503 + Retry-After
 *          ─► take the slot
 *          ─► shared handshake rate (Redis)? 503 + Retry-After
 *          ─► in a cluster, per-IP slots of every worker (the primary)? 503
 *          ─► verify credential? 401 | 403 | 503 (keys unavailable) ─► draining? 503
 *          ─► ws.handleUpgrade (a negotiated codec, else mcp.version.<v>, else `mcp`) ─► admitted
 *
 * Every rejection is a complete HTTP response after which the socket is
 * destroyed once flushed (or after a short grace), so a peer that never
 * closes its side cannot keep a slot. The handshake timeout is the HTTP
 * server's headersTimeout; the parser's own errors (oversized headers,
 * timeout, garbage) are answered by onClientError.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { CloseCode } from '../protocol/close-codes.js';
import type { RejectReason, ServerMetrics } from '../metrics/metrics.js';
import { OriginPolicy } from './origin.js';
import { AuthError, KeySourceUnavailableError, extractCredential, type Authenticator, type VerifiedIdentity } from './auth.js';
import type { RateLimiter } from '../ratelimit/limiter.js';
import { toWsPerMessageDeflate, type ResolvedCompressionConfig } from '../compression/config.js';
import type { CodecNegotiator } from '../compression/negotiate.js';
import type { ResolvedServerOptions } from './server-options.js';
import { ALL_PROTOCOL_VERSIONS } from '../protocol/versions.js';
import { VERSION_SUBPROTOCOL_PREFIX } from './resume.js';
import { ClientIp } from './client-ip.js';
import type { ClusterMember } from '../cluster/member.js';
import type { RequestPlace } from './resource-metadata.js';

/** What the door reads from its server. */
export interface AdmissionHost {
  readonly options: ResolvedServerOptions;
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
  readonly auth: Authenticator | undefined;
  readonly rateLimiter: RateLimiter | undefined;
  readonly draining: boolean;
  /** Set in a cluster worker: maxConnectionsPerIp is counted across workers. */
  readonly cluster: ClusterMember | undefined;
}

/** A refusal at the door: the HTTP status, the metric reason, extra headers, a one-line message. */
export interface Rejection {
  readonly status: RejectStatus;
  readonly reason: RejectReason;
  readonly headers: Record<string, string>;
  readonly message: string;
}

/** What passed screen(): the credential, if auth is on and one was sent. */
export interface Screened {
  readonly token: string | undefined;
}

function rejection(status: RejectStatus, reason: RejectReason, headers: Record<string, string> = {}, message: string = reason): Rejection {
  return { status, reason, headers, message };
}

/** Called with each upgrade that passed the door; the slot is held until `socket` closes. */
export type Admitted = (ws: WebSocket, socket: Socket, ip: string, identity: VerifiedIdentity | undefined) => void;

/** HTTP server options that bound the handshake: header time, request time, header size. */
export function handshakeHttpOptions(options: ResolvedServerOptions): {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
  maxHeaderSize: number;
  noDelay: boolean;
} {
  return {
    // Nagle off on every accepted socket (the seed's set_nodelay): replies go out when written.
    noDelay: true,
    headersTimeout: options.handshakeTimeoutMs,
    requestTimeout: Math.max(options.handshakeTimeoutMs, 30_000),
    connectionsCheckingInterval: Math.min(1000, options.handshakeTimeoutMs),
    maxHeaderSize: 16 * 1024,
  };
}

/** Admits or rejects upgrades, and counts the connection slots they hold. */
export class Admission {
  private readonly wss: WebSocketServer;
  private readonly origins: OriginPolicy;
  private readonly perIp = new Map<string, number>();
  private slotsTaken = 0;

  /** The client address of a request (X-Forwarded-For from trusted proxies only). */
  private readonly clientIp: ClientIp;

  constructor(
    private readonly host: AdmissionHost,
    negotiator: CodecNegotiator | undefined,
    compression: ResolvedCompressionConfig | undefined,
    private readonly admitted: Admitted,
  ) {
    const o = host.options;
    this.clientIp = new ClientIp(o.trustedProxies);
    this.origins = new OriginPolicy({ allowedOrigins: o.allowedOrigins, allowedHosts: o.allowedHosts, bindHost: o.host });
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: o.maxPayload,
      clientTracking: false,
      perMessageDeflate: compression ? toWsPerMessageDeflate(compression) : false,
      handleProtocols: (offered: Set<string>) => selectProtocol(offered, negotiator),
      maxFragments: o.maxFragments,
      maxBufferedChunks: o.maxBufferedChunks,
    } as ConstructorParameters<typeof WebSocketServer>[0]);
  }

  /** Connection slots taken: open sessions plus upgrades still being admitted. */
  get slots(): number {
    return this.slotsTaken;
  }

  /** Where `req` came in, for resource metadata URLs: scheme, Host header, endpoint paths. */
  place(req: IncomingMessage): RequestPlace {
    return { tls: this.host.options.tls !== undefined, host: req.headers.host, paths: this.host.options.paths };
  }

  /** True when the Host header names this server (allowedHosts). */
  hostAllowed(host: string | undefined): boolean {
    return this.origins.checkHost(host);
  }

  /** True when `pathname` is one of the endpoint's paths. */
  isEndpoint(pathname: string): boolean {
    return this.host.options.paths.includes(pathname);
  }

  /**
   * The checks every request to the endpoint passes first, WebSocket or
   * HTTP: header count, Origin, Host, the credential's shape (auth on).
   * `protocols` is the Sec-WebSocket-Protocol header (a credential may ride
   * in it on an upgrade).
   */
  screen(req: IncomingMessage, url: string, protocols: string | undefined): Rejection | Screened {
    const { options, auth } = this.host;
    if (req.rawHeaders.length > 2 * options.maxHeaders) return rejection(400, 'headers');
    if (!this.origins.checkOrigin(req.headers.origin)) return rejection(403, 'origin');
    if (!this.origins.checkHost(req.headers.host)) return rejection(403, 'host');
    let token: string | undefined;
    if (auth) {
      try {
        token = extractCredential(url, req.headers.authorization, protocols);
      } catch (err) {
        return this.authRejection(err, req);
      }
    }
    return { token };
  }

  /** Whether a new connection (or HTTP session) from `ip` fits: draining, maxConnections, maxConnectionsPerIp. */
  checkCapacity(ip: string): Rejection | null {
    const options = this.host.options;
    if (this.host.draining) return rejection(503, 'draining');
    if (this.slotsTaken >= options.maxConnections) return rejection(503, 'max_connections');
    const perIpMax = options.maxConnectionsPerIp;
    if (perIpMax > 0 && (this.perIp.get(ip) ?? 0) >= perIpMax) return rejection(503, 'max_connections_per_ip');
    return null;
  }

  /** The per-IP handshake rate: a rejection, nothing, or (shared through Redis) a promise of either. */
  checkHandshakeRate(ip: string): Rejection | null | Promise<Rejection | null> {
    const v = this.host.rateLimiter?.checkHandshake(ip);
    if (!v) return null;
    if (v instanceof Promise) {
      return v.then(
        (d) => (d?.kind === 'denied' ? rejection(503, 'handshake_rate', retryAfter(d.retryAfterMs)) : null),
        () => null,
      );
    }
    return v.kind === 'denied' ? rejection(503, 'handshake_rate', retryAfter(v.retryAfterMs)) : null;
  }

  /** Verifies a credential (auth on); undefined identity when auth is off. Rejects with what authRejection() turns into a response. */
  verify(token: string | undefined): Promise<VerifiedIdentity | undefined> {
    const auth = this.host.auth;
    return auth ? auth.verify(token) : Promise.resolve(undefined);
  }

  /** The HTTP server's `upgrade` listener. */
  onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', onSocketError);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    if (!this.isEndpoint(pathname)) return this.reject(socket, 404, 'path');
    const offered = req.headers['sec-websocket-protocol'];
    if (offered !== undefined && offered.includes(VERSION_SUBPROTOCOL_PREFIX) && offeredVersion(offered.split(',').map((p) => p.trim())) === undefined) {
      return this.reject(socket, 400, 'headers', {}, `unsupported MCP protocol version; supported: ${ALL_PROTOCOL_VERSIONS.join(', ')}`);
    }
    const screened = this.screen(req, url, req.headers['sec-websocket-protocol']);
    if ('status' in screened) return this.rejectWith(socket, screened);
    const token = screened.token;
    const ip = this.clientIp.of(req, socket.remoteAddress ?? '');
    const full = this.checkCapacity(ip);
    if (full) return this.rejectWith(socket, full);
    // A shared (Redis) handshake limit answers asynchronously; admission waits for it below.
    const rate = this.checkHandshakeRate(ip);
    if (rate !== null && !(rate instanceof Promise)) return this.rejectWith(socket, rate);
    // Take the slot now, synchronously: concurrent upgrades see it at once.
    this.holdSlot(socket, ip);
    const shared = this.holdClusterSlot(socket, ip);
    const pending = shared === null ? rate : rate instanceof Promise ? Promise.all([rate, shared]).then(([a, b]) => a ?? b) : shared;
    if (pending instanceof Promise) {
      pending.then(
        (r) => {
          if (r) return this.rejectWith(socket, r);
          this.authenticate(req, socket, head, ip, token);
        },
        (err: unknown) => {
          this.host.logger.error({ err }, 'handshake admission failed');
          this.reject(socket, 500, 'internal');
        },
      );
      return;
    }
    this.authenticate(req, socket, head, ip, token);
  }

  /** Runs from promise callbacks: whatever throws here is answered on this connection and never escapes. */
  private authenticate(req: IncomingMessage, socket: Socket, head: Buffer, ip: string, token: string | undefined): void {
    if (socket.destroyed) return;
    const auth = this.host.auth;
    if (!auth) return this.upgrade(req, socket, head, ip, undefined);
    auth.verify(token).then(
      (identity) => {
        if (socket.destroyed) return;
        if (this.host.draining) return this.reject(socket, 503, 'draining');
        this.upgrade(req, socket, head, ip, identity);
      },
      (err: unknown) => this.rejectWith(socket, this.authRejection(err, req)),
    );
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer, ip: string, identity: VerifiedIdentity | undefined): void {
    let ws: WebSocket | undefined;
    try {
      this.wss.handleUpgrade(req, socket, head, (opened: WebSocket) => {
        ws = opened;
        this.admitted(opened, socket, ip, identity);
      });
    } catch (err) {
      this.host.logger.error({ err }, 'upgrade failed');
      if (ws) ws.close(CloseCode.INTERNAL_ERROR, 'internal error');
      else this.reject(socket, 500, 'internal');
    }
  }

  /**
   * A failed credential check as a rejection: 401 + WWW-Authenticate (with
   * the resource metadata URL of `req`'s endpoint), 403, or 503 when the
   * keys are unreachable.
   */
  authRejection(err: unknown, req?: IncomingMessage): Rejection {
    // Our failure, not the client's: logged once per outage by the key source listener.
    if (err instanceof KeySourceUnavailableError) return rejection(503, 'auth_unavailable', {}, 'credential keys unavailable');
    if (!(err instanceof AuthError)) {
      this.host.logger.error({ err }, 'credential check failed');
      return rejection(503, 'auth');
    }
    const auth = this.host.auth;
    const metadataUrl = auth && req ? auth.resourceMetadata.urlFor(pathOf(req.url ?? '/'), this.place(req)) : undefined;
    const challenge: Record<string, string> = auth ? { 'WWW-Authenticate': auth.challenge(err, metadataUrl) } : {};
    return rejection(err.status, err.status === 401 ? 'auth' : 'forbidden', challenge, err.message);
  }

  /**
   * Takes a connection slot until the socket closes. A method of its own so
   * the close listener's closure holds only `ip`, not the upgrade request,
   * its head buffer or its credential for the life of the connection.
   */
  private holdSlot(socket: Socket, ip: string): void {
    this.takeSlot(ip);
    socket.once('close', () => this.releaseSlot(ip));
  }

  /**
   * In a cluster worker with maxConnectionsPerIp set: a slot of `ip` counted
   * by the primary across workers, held until the socket closes; null when
   * there is nothing to share. (HTTP sessions are counted per worker.)
   */
  private holdClusterSlot(socket: Socket, ip: string): Promise<Rejection | null> | null {
    const cluster = this.host.cluster;
    const limit = this.host.options.maxConnectionsPerIp;
    if (cluster === undefined || limit <= 0) return null;
    return cluster.acquireSlot(ip, limit).then((ok) => {
      if (!ok) return rejection(503, 'max_connections_per_ip');
      if (socket.destroyed) cluster.releaseSlot(ip);
      else socket.once('close', () => cluster.releaseSlot(ip));
      return null;
    });
  }

  /** The address limits and logs use for `req`: its peer, or the client a trusted proxy names. */
  addressOf(req: IncomingMessage): string {
    return this.clientIp.of(req, req.socket.remoteAddress ?? '');
  }

  /** Takes a connection slot for `ip` (an HTTP session or request releases it with releaseSlot). */
  takeSlot(ip: string): void {
    this.slotsTaken++;
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
  }

  /** Gives back a slot taken with takeSlot(). */
  releaseSlot(ip: string): void {
    this.slotsTaken--;
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  private rejectWith(socket: Socket, r: Rejection): void {
    this.reject(socket, r.status, r.reason, r.headers, r.message);
  }

  private reject(
    socket: Socket,
    status: RejectStatus,
    reason: RejectReason,
    headers: Record<string, string> = {},
    message: string = reason,
  ): void {
    this.host.metrics.rejected[reason]++;
    this.host.logger.debug({ status, reason, ip: socket.remoteAddress }, 'upgrade rejected');
    if (socket.destroyed) return;
    if (status === 503 && headers['Retry-After'] === undefined) headers = { ...headers, 'Retry-After': String(this.host.options.retryAfterSeconds) };
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    const body = `${message}\n`;
    endAndDestroy(
      socket,
      `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function retryAfter(ms: number): Record<string, string> {
  return { 'Retry-After': String(Number.isFinite(ms) ? Math.max(1, Math.ceil(ms / 1000)) : 60) };
}

/** Statuses the door answers with. */
export type RejectStatus = keyof typeof STATUS_TEXT;

const STATUS_TEXT = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
} as const;

/**
 * One subprotocol is selected (RFC 6455): a negotiated codec first (it
 * changes the framing, so it must be confirmed), else the first offered
 * `mcp.version.<v>` this server speaks (SEP-1288), else `mcp` when offered;
 * a client offering no subprotocol is accepted without one.
 */
function selectProtocol(offered: Set<string>, negotiator: CodecNegotiator | undefined): string | false {
  const codec = negotiator?.select(offered);
  if (codec !== undefined && codec !== false && codec !== 'mcp') return codec;
  return offeredVersion(offered) ?? (offered.has('mcp') ? 'mcp' : false);
}

/** The first offered `mcp.version.<v>` subprotocol whose version this server speaks. */
function offeredVersion(offered: Iterable<string>): string | undefined {
  for (const p of offered) {
    if (p.startsWith(VERSION_SUBPROTOCOL_PREFIX) && ALL_PROTOCOL_VERSIONS.includes(p.slice(VERSION_SUBPROTOCOL_PREFIX.length))) return p;
  }
  return undefined;
}

function onSocketError(): void {
  // A reset during or after the handshake: the close handler cleans up.
}

/** The HTTP server's `clientError` listener: a request the parser refused gets 431, 408 or 400, then the socket goes. */
export function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
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
