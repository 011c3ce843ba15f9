/**
 * Options of McpWsServer: what each one means, its default (sized for one
 * 2-core machine), and the checks that turn a bad value into a RangeError
 * naming the option before anything is opened.
 */
import type { Logger } from 'pino';
import type { ExtraMetric } from '../metrics/metrics.js';
import type { ClusterMember } from '../cluster/member.js';
import type { AuthOptions, Authenticator } from './auth.js';
import type { RateLimiter, RateLimiterOptions } from '../ratelimit/limiter.js';
import type { CompressionConfig } from '../compression/config.js';
import type { Backplane } from '../backplane/messages.js';
import type { ResumeStoreOptions } from './resume-store-options.js';
import type { HandlerFactory, HeaderParamsOf, SessionHandler, SessionPeer } from './handler.js';
import { bool, defineOptions, int, str } from '../config/option-set.js';
import { describeValue } from '../config/describe-value.js';

export { MAX_LIMIT } from '../config/option-set.js';

/** Something that makes a handler per session: a factory or an object with createHandler (router, SDK host). */
export type HandlerSource =
  | HandlerFactory
  | { createHandler(peer: SessionPeer): SessionHandler; drain?(): void; headerParams?: HeaderParamsOf };

/** Options of {@link McpWsServer}. Every limit has a default sized for one 2-core machine. */
export interface McpWsServerOptions {
  /** What serves each session: an McpRouter, an SdkHost, or a factory. Required. */
  handler: HandlerSource;
  /** Interface to bind. Default '127.0.0.1' (loopback: exposing the server is a decision). */
  host?: string;
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /**
   * Path (or paths) of the MCP endpoint. Each one answers the WebSocket
   * upgrade and Streamable HTTP (POST, GET, DELETE). Default ['/ws', '/mcp']:
   * the seed's path and the conventional one. The first is the one printed.
   */
  path?: string | readonly string[];
  /** A legacy Streamable HTTP session (Mcp-Session-Id) unused this long is ended; later requests get 404. Default 300,000 ms. */
  httpSessionIdleMs?: number;
  /** Legacy Streamable HTTP sessions open at once (each also takes a connection slot); more → 503. Default 10,000. */
  maxHttpSessions?: number;
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
  /**
   * Reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For is
   * believed: a connection from one of them is counted and logged as the
   * client it names (per-IP limits, the handshake rate, rate limiting's ip
   * scope). Default none: the TCP peer is the client.
   */
  trustedProxies?: string[];
  /** Authentication; off when absent. An Authenticator or its options. */
  auth?: AuthOptions | Authenticator;
  /** TLS: file paths of the certificate and key (PEM), optional CA to verify client certificates. Reloaded by reloadTls(). */
  tls?: TlsFiles;
  /** Most request headers an upgrade may carry (more → 400). Default 100. */
  maxHeaders?: number;
  /**
   * Listen backlog: connections the kernel queues before accept (capped by
   * net.core.somaxconn; `mcp-ws doctor` checks it). Default 1024, the seed's.
   */
  backlog?: number;
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
  /**
   * Resume across nodes and workers: a session's resumable state is kept in
   * this Redis, so another server (or worker) sharing it rebuilds the
   * session when its client comes back there (docs/PROTOCOL.md). Off when
   * absent: sessions resume in their own process only.
   */
  resumeStore?: ResumeStoreOptions;
  /** Serve the live dashboard at /dashboard (and /debug/snapshot); behind auth when auth is on. Default false. */
  dashboard?: boolean;
  /** Serve the snapshot at /debug/snapshot without the dashboard; behind auth when auth is on. Default false. */
  debugSnapshot?: boolean;
  /**
   * Serve GET /debug/profile?seconds=N (a CPU profile of the process, N ≤ 60)
   * and GET /debug/heapsnapshot (a heap snapshot; pauses the process while
   * V8 takes it); one of each at a time, behind auth when auth is on. Default false.
   */
  debugProfile?: boolean;
  /** Dashboard viewers at once (each an SSE stream of the one shared snapshot); more get 503. Default 100. */
  dashboardMaxViewers?: number;
  /** Logger. Default: silent (the CLI passes its own). */
  logger?: Logger;
  /**
   * This process is one worker of a cluster (`mcp-ws serve --workers N`):
   * /metrics merges every worker's, /readyz reports the cluster, and
   * maxConnectionsPerIp is counted across workers. Set by the CLI.
   */
  cluster?: ClusterMember;
  /**
   * A backplane (createRedisBackplane(url)): the router's notifyResourceUpdated
   * and notifyListChanged, and sendToSession, reach sessions of every process
   * sharing it. listen() opens it; the caller closes it after close().
   */
  backplane?: Backplane;
}

/** TLS certificate files. */
export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle: when set, clients must present a certificate it signed. */
  ca?: string;
}

/** Options after defaults: every limit set, the optional features as given. */
export type ResolvedServerOptions = Required<Omit<McpWsServerOptions, 'handler' | 'logger' | 'allowedOrigins' | 'allowedHosts' | 'trustedProxies' | 'auth' | 'tls' | 'rateLimit' | 'metrics' | 'cluster' | 'compression' | 'path' | 'backplane' | 'resumeStore'>> &
  Pick<McpWsServerOptions, 'allowedOrigins' | 'allowedHosts' | 'trustedProxies' | 'auth' | 'tls' | 'rateLimit' | 'compression' | 'resumeStore'> & {
    /** The first endpoint path (the one printed). */
    readonly path: string;
    /** Every endpoint path. */
    readonly paths: readonly string[];
  };

/**
 * The declaration of every scalar option: kind, range, default. The
 * defaults, the config file's zod fields (src/config/schema.ts) and
 * {@link resolveServerOptions} all come from it; what each option means is
 * in {@link McpWsServerOptions}.
 */
export const SERVER_OPTIONS = defineOptions({
  host: str({ default: '127.0.0.1' }),
  port: int({ min: 0, max: 65535, default: 8080 }),
  httpSessionIdleMs: int({ min: 1, default: 300_000 }),
  maxHttpSessions: int({ min: 1, default: 10_000 }),
  maxPayload: int({ min: 1, default: 4 * 1024 * 1024 }),
  maxConnections: int({ min: 1, default: 100_000 }),
  maxConnectionsPerIp: int({ min: 0, default: 0 }),
  handshakeTimeoutMs: int({ min: 1, default: 10_000 }),
  heartbeatIntervalMs: int({ min: 0, default: 30_000 }),
  heartbeatTimeoutMs: int({ min: 1, default: 10_000 }),
  maxBufferedBytes: int({ min: 65536, default: 4 * 1024 * 1024 }),
  slowConsumerTimeoutMs: int({ min: 1, default: 30_000 }),
  maxInFlightPerSession: int({ min: 1, default: 256 }),
  drainTimeoutMs: int({ min: 0, default: 10_000 }),
  closeTimeoutMs: int({ min: 1, default: 5_000 }),
  retryAfterSeconds: int({ min: 0, default: 1 }),
  processMetrics: bool({ default: true }),
  maxHeaders: int({ min: 1, default: 100 }),
  backlog: int({ min: 1, max: 65535, default: 1024 }),
  maxFragments: int({ min: 1, default: 1024 }),
  maxBufferedChunks: int({ min: 1, default: 65536 }),
  messageTimeoutMs: int({ min: 0, default: 30_000 }),
  rateLimitCloseAfter: int({ min: 0, default: 1000 }),
  resumeGraceMs: int({ min: 0, default: 30_000 }),
  maxDetachedPerIdentity: int({ min: 1, default: 8 }),
  maxDetachedSessions: int({ min: 1, default: 10_000 }),
  resumeBufferBytes: int({ min: 1, default: 1024 * 1024 }),
  dashboard: bool({ default: false }),
  debugSnapshot: bool({ default: false }),
  debugProfile: bool({ default: false }),
  dashboardMaxViewers: int({ min: 1, default: 100 }),
});

/** The default endpoint paths: the seed's `/ws` and the conventional `/mcp`. */
export const DEFAULT_PATHS: readonly string[] = Object.freeze(['/ws', '/mcp']);

const OPTIONAL_KEYS = ['allowedOrigins', 'allowedHosts', 'trustedProxies', 'auth', 'tls', 'rateLimit', 'compression', 'resumeStore'] as const;

/**
 * Resolves and validates options: defaults, then user values.
 *
 * @throws RangeError naming the option and repeating the value, e.g.
 *   `maxPayload should be a positive integer, got 0`.
 */
export function resolveServerOptions(options: Omit<McpWsServerOptions, 'handler'>): ResolvedServerOptions {
  // Typed as the public interface: an option missing from the declaration, or declared with another type, does not compile.
  const o: ResolvedServerOptions = { ...SERVER_OPTIONS.resolve(options), path: DEFAULT_PATHS[0]!, paths: DEFAULT_PATHS };
  for (const k of OPTIONAL_KEYS) if (options[k] !== undefined) (o as Record<string, unknown>)[k] = options[k];
  if (options.path !== undefined) {
    const list: unknown = typeof options.path === 'string' ? [options.path] : options.path;
    if (!Array.isArray(list) || list.length === 0) throw new RangeError(`path should be a path or a non-empty list of paths, got ${describeValue(options.path)}`);
    for (const p of list as unknown[]) if (typeof p !== 'string' || !p.startsWith('/')) throw new RangeError(`path should start with "/", got ${describeValue(p)}`);
    (o as { paths: readonly string[] }).paths = Object.freeze([...new Set(list as string[])]);
    (o as { path: string }).path = (list as string[])[0]!;
  }
  if (o.tls && (typeof o.tls.cert !== 'string' || typeof o.tls.key !== 'string')) throw new RangeError('tls needs cert and key file paths');
  return Object.freeze(o);
}
