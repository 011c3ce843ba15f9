/**
 * `mcp-ws serve`: settings from defaults, then the config file, then flags;
 * what to serve from --module or the embedded demo; prints one ready line
 * with the bound ws:// URL on stdout; drains on SIGTERM/SIGINT and exits 0.
 */
import type { Logger } from 'pino';
import { createLogger } from '../log.js';
import { isLoopbackHost } from '../server/origin.js';
import { resolveAuth } from '../config/auth.js';
import { applyRedisUrl, CLI_OPTIONS, ConfigError, loadConfigFile, parseServeConfig, type ServeConfig } from '../config/schema.js';
import { createDemoRouter } from '../demo/demo-router.js';
import { redisCounter } from '../demo/counter.js';
import { createRedisBackplane, type RedisBackplane } from '../backplane/backplane.js';
import { McpRouter } from '../router/router.js';
import { McpWsServer } from '../server/server.js';
import type { HandlerSource } from '../server/server-options.js';
import { loadHandlerModule } from './load-module.js';
import { createLlmService } from '../llm/generate.js';
import { llmMetrics } from '../llm/metrics.js';
import { resolveLlmConfig, type ResolvedLlmConfig } from '../llm/options.js';
import type { ExtraMetric } from '../metrics/metrics.js';
import { exitOnSignals } from './signals.js';
import { announceReady, takeClusterPart } from '../cluster/cli.js';
import { installProfileSignal, resolveProfileSignal } from './profile-signal.js';

const FLAG_KEYS = [
  'host',
  'port',
  'path',
  'maxPayload',
  'maxConnections',
  'maxConnectionsPerIp',
  'heartbeatIntervalMs',
  'heartbeatTimeoutMs',
  'drainTimeoutMs',
  'logLevel',
  'module',
  'workers',
  'dashboard',
  'debugProfile',
] as const;

/** Merges the config file (if any) and flags into one validated config. */
export function resolveServeConfig(opts: Record<string, unknown>): ServeConfig {
  const fromFile = typeof opts.config === 'string' ? loadConfigFile(opts.config) : {};
  const fromFlags: Record<string, unknown> = {};
  for (const k of FLAG_KEYS) if (opts[k] !== undefined) fromFlags[k] = opts[k];
  if (opts.allowedOrigin !== undefined) fromFlags.allowedOrigins = opts.allowedOrigin;
  if (opts.allowedHost !== undefined) fromFlags.allowedHosts = opts.allowedHost;
  if (opts.trustedProxy !== undefined) fromFlags.trustedProxies = opts.trustedProxy;
  const merged: Record<string, unknown> = { ...fromFile, ...fromFlags };
  // Auth and TLS flags fold into their sections.
  const auth: Record<string, unknown> = { ...(fromFile.auth ?? {}) };
  if (opts.authToken !== undefined) auth.tokens = [...((auth.tokens as unknown[]) ?? []), ...(opts.authToken as string[])];
  if (opts.authTokenFile !== undefined) auth.tokensFile = opts.authTokenFile;
  const jwt: Record<string, unknown> = { ...((auth.jwt as object) ?? {}) };
  if (opts.jwtSecretEnv !== undefined) jwt.secretEnv = opts.jwtSecretEnv;
  if (opts.jwtPublicKey !== undefined) jwt.publicKeyFile = opts.jwtPublicKey;
  if (opts.jwtJwksUrl !== undefined) jwt.jwksUrl = opts.jwtJwksUrl;
  if (opts.jwtIssuer !== undefined) jwt.issuer = opts.jwtIssuer;
  if (opts.jwtAudience !== undefined) jwt.audience = opts.jwtAudience;
  if (Object.keys(jwt).length > 0) auth.jwt = jwt;
  if (Object.keys(auth).length > 0) merged.auth = auth;
  if (opts.llm !== undefined || opts.llmModel !== undefined || opts.llmBaseUrl !== undefined) {
    const llm: Record<string, unknown> = { ...(fromFile.llm ?? {}) };
    if (opts.llm !== undefined) llm.provider = opts.llm;
    if (opts.llmModel !== undefined) llm.model = opts.llmModel;
    if (opts.llmBaseUrl !== undefined) llm.baseURL = opts.llmBaseUrl;
    merged.llm = llm;
  }
  if (opts.resumeRedis !== undefined) merged.resumeStore = { ...(fromFile.resumeStore ?? {}), url: opts.resumeRedis };
  if (opts.tlsCert !== undefined || opts.tlsKey !== undefined || opts.tlsCa !== undefined) {
    merged.tls = { ...(fromFile.tls ?? {}), cert: opts.tlsCert ?? fromFile.tls?.cert, key: opts.tlsKey ?? fromFile.tls?.key, ca: opts.tlsCa ?? fromFile.tls?.ca };
  }
  applyRedisUrl(merged, opts.redis);
  return parseServeConfig(merged, typeof opts.config === 'string' ? opts.config : 'flags');
}

/** The backplane of the `redis` section, if any (no I/O until the server listens). */
export function backplaneOf(config: Pick<ServeConfig, 'redis'>, logger: Logger): RedisBackplane | undefined {
  if (config.redis === undefined) return undefined;
  const { url, ...rest } = config.redis;
  if (url === undefined) throw new ConfigError('redis.url is required: give --redis URL or redis.url in the config file');
  try {
    return createRedisBackplane({ ...rest, url, logger });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

export async function runServe(opts: Record<string, unknown>): Promise<void> {
  const config = resolveServeConfig(opts);
  const profileSignal = resolveProfileSignal(opts);
  const logger = createLogger({ level: config.logLevel ?? CLI_OPTIONS.defaults.logLevel });
  // With --workers N the first process supervises (and returns only by exiting); each worker goes on here.
  const part = await takeClusterPart(config.workers, logger);
  const backplane = backplaneOf(config, logger);
  let handler: HandlerSource;
  let kind: string;
  if (config.module) {
    ({ handler, kind } = await loadHandlerModule(config.module));
  } else {
    // With a backplane the demo counter lives in Redis, so every server counts the same number.
    handler = createDemoRouter(backplane ? { counter: redisCounter(() => backplane.commandClient, `${backplane.options.keyPrefix}demo:counter`) } : {});
    kind = 'demo';
  }
  if (config.pageSize !== undefined) {
    // Only the native router pages with this setting; an SDK server pages its own lists.
    if (!(handler instanceof McpRouter)) {
      throw new ConfigError(`pageSize applies to the native router only; module ${config.module} serves an SDK server, which pages its own lists`);
    }
    handler.setPageSize(config.pageSize);
  }
  const { logLevel: _l, module: _m, pageSize: _p, workers: _w, auth: authConfig, llm: llmConfig, redis: _r, ...serverOptions } = config;
  let metrics: ExtraMetric[] | undefined;
  if (llmConfig !== undefined) {
    // The llm_generate tool joins the native router's tools; an SDK server registers its own.
    if (!(handler instanceof McpRouter)) {
      throw new ConfigError(`llm applies to the native router only; module ${config.module} serves an SDK server (use LlmService in it instead)`);
    }
    let resolved: ResolvedLlmConfig;
    try {
      resolved = resolveLlmConfig(llmConfig);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    const llm = createLlmService(resolved);
    llm.register(handler);
    metrics = llmMetrics(llm.metrics);
    logger.info({ provider: resolved.provider, model: resolved.model, baseURL: resolved.baseURL }, 'llm_generate tool enabled');
  }
  const auth = resolveAuth(authConfig);
  let server: McpWsServer;
  try {
    server = new McpWsServer({ ...serverOptions, auth, handler, logger, backplane, ...(metrics !== undefined ? { metrics } : {}), cluster: part.role === 'worker' ? part.member : undefined });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (!auth && !isLoopbackHost(server.options.host)) {
    logger.warn({ host: server.options.host }, 'listening beyond loopback without authentication');
  }
  let address;
  try {
    address = await server.listen();
  } catch (err) {
    await backplane?.close();
    throw err;
  }
  // Handlers first: a script that signals as soon as it reads the ready line must find them installed.
  exitOnSignals(logger, () => server.close().then(() => backplane?.close()), server, part.role === 'worker');
  if (profileSignal) installProfileSignal(profileSignal, logger);
  announceReady(part, address.url, `mcp-ws serving ${kind} on ${address.url}`);
}
