/**
 * Options of McpWsServer: what each one means, its default (sized for one
 * 2-core machine), and the checks that turn a bad value into a RangeError
 * naming the option before anything is opened.
 */
import type { Logger } from 'pino';
import type { ExtraMetric } from '../metrics/metrics.js';
import type { AuthOptions, Authenticator } from './auth.js';
import type { RateLimiter, RateLimiterOptions } from '../ratelimit/limiter.js';
import type { CompressionConfig } from '../compression/config.js';
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
  /**
   * SEP-1288 resume: how long an initialized session waits for its client to
   * come back on a new socket (`mcpSessionId`) after its socket closed; 0
   * turns resume off. Default 30,000 ms.
   */
  resumeGraceMs?: number;
  /** Detached sessions one identity may hold (anonymous clients share one budget); the oldest is released first. Default 8. */
  maxDetachedPerIdentity?: number;
  /** Detached sessions in total; the oldest is released first. Default 10,000. */
  maxDetachedSessions?: number;
  /** Bytes of messages buffered for one detached session; past it the session is released. Default 1 MiB. */
  resumeBufferBytes?: number;
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

/** Options after defaults: every limit set, the optional features as given. */
export type ResolvedServerOptions = Required<Omit<McpWsServerOptions, 'handler' | 'logger' | 'allowedOrigins' | 'allowedHosts' | 'auth' | 'tls' | 'rateLimit' | 'metrics' | 'compression'>> &
  Pick<McpWsServerOptions, 'allowedOrigins' | 'allowedHosts' | 'auth' | 'tls' | 'rateLimit' | 'compression'>;

const DEFAULTS: ResolvedServerOptions = {
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
  resumeGraceMs: 30_000,
  maxDetachedPerIdentity: 8,
  maxDetachedSessions: 10_000,
  resumeBufferBytes: 1024 * 1024,
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
export function resolveServerOptions(options: Omit<McpWsServerOptions, 'handler'>): ResolvedServerOptions {
  const o: ResolvedServerOptions = { ...DEFAULTS };
  for (const [k, v] of Object.entries(options)) {
    if (v !== undefined && (k in DEFAULTS || OPTIONAL_KEYS.has(k))) (o as Record<string, unknown>)[k] = v;
  }
  const nonNeg = (name: keyof ResolvedServerOptions): void => {
    const v = o[name] as number;
    check(Number.isFinite(v) && v >= 0, `${name} should be a non-negative number, got ${String(v)}`);
    check(v <= MAX_LIMIT, `${name} should be at most ${MAX_LIMIT}, got ${String(v)}`);
  };
  const positive = (name: keyof ResolvedServerOptions): void => {
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
  nonNeg('resumeGraceMs');
  for (const k of ['maxDetachedPerIdentity', 'maxDetachedSessions', 'resumeBufferBytes'] as const) {
    check(Number.isSafeInteger(o[k]) && o[k] > 0 && o[k] <= MAX_LIMIT, `${k} should be a positive integer, got ${String(o[k])}`);
  }
  if (o.tls) check(typeof o.tls.cert === 'string' && typeof o.tls.key === 'string', 'tls needs cert and key file paths');
  return Object.freeze(o);
}
