/**
 * `mcp-ws gateway`: settings from defaults, then the config file (`gateway`
 * section plus serve settings), then flags; prints one ready line with the
 * bound ws:// URL on stdout; on SIGTERM/SIGINT drains the server, then stops
 * the upstream sessions (stdio children included) and exits 0.
 *
 *   mcp-ws gateway --upstream "node server.js" --upstream ws://10.0.0.2:8080/ws --port 0
 */
import { createLogger } from '../log.js';
import { resolveAuth } from '../config/auth.js';
import { applyRedisUrl, CLI_OPTIONS, ConfigError, parseServeConfig } from '../config/schema.js';
import { backplaneOf } from './serve.js';
import { loadGatewayConfigFile, parseUpstreams, type GatewaySection } from '../gateway/config.js';
import { McpWsGateway } from '../gateway/gateway.js';
import { McpWsFederation, type McpWsFederationOptions } from '../gateway/federation.js';
import type { Logger } from 'pino';
import { LOAD_BALANCE_STRATEGIES, parseStrategy } from '../gateway/load-balance-strategy.js';
import { POOL_PRESETS, SHARING_MODES, type PoolPreset, type Sharing } from '../gateway/pool-config.js';
import { McpWsServer } from '../server/server.js';
import { exitOnSignals } from './signals.js';
import { announceReady, takeClusterPart } from '../cluster/cli.js';
import { installProfileSignal, resolveProfileSignal } from './profile-signal.js';

/** Flags `mcp-ws gateway` understands (commander's camelCase names). */
export interface GatewayFlags {
  config?: string;
  upstream?: string[];
  /** Federation: `name=<upstream>`, repeatable. */
  server?: string[];
  host?: string;
  port?: number;
  path?: string;
  preset?: string;
  strategy?: string;
  minConnections?: number;
  maxConnections?: number;
  healthCheckIntervalMs?: number;
  requestTimeoutMs?: number;
  onUpstreamLost?: string;
  sharing?: string;
  logLevel?: string;
  workers?: number | 'auto';
  dashboard?: boolean;
  debugProfile?: boolean;
  redis?: string;
}

/** Merges file and flags into gateway options and server options. Throws ConfigError with one line. */
export function resolveGatewayConfig(flags: GatewayFlags): { gateway: GatewaySection; serve: ReturnType<typeof parseServeConfig> } {
  const file = typeof flags.config === 'string' ? loadGatewayConfigFile(flags.config) : { serve: {}, gateway: {} as GatewaySection };
  const serveFlags: Record<string, unknown> = {};
  for (const k of ['host', 'port', 'path', 'logLevel', 'workers', 'dashboard', 'debugProfile'] as const) if (flags[k] !== undefined) serveFlags[k] = flags[k];
  const merged: Record<string, unknown> = { ...file.serve, ...serveFlags };
  applyRedisUrl(merged, flags.redis);
  const serve = parseServeConfig(merged, flags.config ?? 'flags');
  if (serve.pageSize !== undefined) {
    throw new ConfigError('pageSize does not apply to the gateway: its upstream servers page their own lists; remove it from the config');
  }
  const gateway: GatewaySection = { ...file.gateway, pool: { ...file.gateway.pool } };
  if (flags.upstream !== undefined && flags.upstream.length > 0) gateway.upstreams = flags.upstream;
  if (flags.preset !== undefined) {
    if (!(flags.preset in POOL_PRESETS)) {
      throw new ConfigError(`--preset should be one of ${Object.keys(POOL_PRESETS).join(', ')}, got "${flags.preset}"`);
    }
    gateway.preset = flags.preset as PoolPreset;
  }
  if (flags.strategy !== undefined) {
    const s = parseStrategy(flags.strategy);
    if (s === undefined) throw new ConfigError(`--strategy should be one of ${LOAD_BALANCE_STRATEGIES.join(', ')}, got "${flags.strategy}"`);
    gateway.pool!.loadBalanceStrategy = s;
  }
  if (flags.minConnections !== undefined) gateway.pool!.minConnections = flags.minConnections;
  if (flags.maxConnections !== undefined) gateway.pool!.maxConnections = flags.maxConnections;
  if (flags.healthCheckIntervalMs !== undefined) gateway.pool!.healthCheckIntervalMs = flags.healthCheckIntervalMs;
  if (flags.sharing !== undefined) {
    if (!(SHARING_MODES as readonly string[]).includes(flags.sharing)) {
      throw new ConfigError(`--sharing should be one of ${SHARING_MODES.join(', ')}, got "${flags.sharing}"`);
    }
    gateway.pool!.sharing = flags.sharing as Sharing;
  }
  if (flags.requestTimeoutMs !== undefined) gateway.requestTimeoutMs = flags.requestTimeoutMs;
  if (flags.onUpstreamLost !== undefined) {
    if (flags.onUpstreamLost !== 'close' && flags.onUpstreamLost !== 'reestablish') {
      throw new ConfigError(`--on-upstream-lost should be "close" or "reestablish", got "${flags.onUpstreamLost}"`);
    }
    gateway.onUpstreamLost = flags.onUpstreamLost;
  }
  if (flags.server !== undefined && flags.server.length > 0) {
    if (flags.upstream !== undefined && flags.upstream.length > 0) throw new ConfigError('give either --upstream (one server, pooled) or --server (federation), not both');
    const servers: NonNullable<GatewaySection['servers']> = { ...gateway.servers };
    for (const arg of flags.server) {
      const eq = arg.indexOf('=');
      const name = eq <= 0 ? '' : arg.slice(0, eq).trim();
      if (name === '' || arg.slice(eq + 1).trim() === '') throw new ConfigError(`--server should be name=<ws-url|http-url|"command args">, got ${JSON.stringify(arg)}`);
      if (flags.server.filter((a) => a.slice(0, a.indexOf('=')).trim() === name).length > 1) throw new ConfigError(`--server ${name} is given twice`);
      servers[name] = { ...servers[name], upstream: arg.slice(eq + 1).trim(), upstreams: undefined };
    }
    gateway.servers = servers;
    delete gateway.upstreams;
  }
  if (gateway.servers !== undefined) {
    for (const [name, server] of Object.entries(gateway.servers)) {
      try {
        parseUpstreams(server.upstreams ?? [server.upstream!]);
      } catch (err) {
        throw new ConfigError(`servers.${name}.${(err as Error).message}`);
      }
    }
    return { gateway, serve };
  }
  if (gateway.upstreams === undefined || gateway.upstreams.length === 0) {
    throw new ConfigError('no upstreams: give at least one --upstream (ws:// or http:// URL, or a command in quotes) or gateway.upstreams in --config');
  }
  parseUpstreams(gateway.upstreams);
  return { gateway, serve };
}

/** Runs the gateway until a signal. */
export async function runGateway(flags: GatewayFlags): Promise<void> {
  const { gateway: section, serve } = resolveGatewayConfig(flags);
  const profileSignal = resolveProfileSignal(flags as unknown as Record<string, unknown>);
  const { logLevel, module: _module, pageSize: _pageSize, workers, auth: authConfig, llm, redis: _redis, ...serverOptions } = serve;
  if (llm !== undefined) throw new ConfigError('llm applies to mcp-ws serve only: a gateway relays its upstreams\' tools');
  const auth = resolveAuth(authConfig);
  const logger = createLogger({ level: logLevel ?? CLI_OPTIONS.defaults.logLevel });
  // With --workers N the first process supervises; each worker runs its own gateway and pool.
  const part = await takeClusterPart(workers, logger);
  let gateway: McpWsGateway | McpWsFederation;
  try {
    gateway = section.servers !== undefined ? new McpWsFederation(federationOptions(section, logger)) : new McpWsGateway({ ...section, upstreams: section.upstreams!, logger });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  await gateway.start();
  // sendToSession reaches a client of any gateway process sharing the backplane.
  const backplane = backplaneOf(serve, logger);
  let server: McpWsServer;
  try {
    server = new McpWsServer({ ...serverOptions, auth, handler: gateway, logger, backplane, metrics: gateway.metrics(), cluster: part.role === 'worker' ? part.member : undefined });
  } catch (err) {
    await gateway.close();
    await backplane?.close();
    throw new ConfigError((err as Error).message);
  }
  let address;
  try {
    address = await server.listen();
  } catch (err) {
    await gateway.close();
    await backplane?.close();
    throw err;
  }
  const names =
    gateway instanceof McpWsFederation
      ? gateway.slots.map((s) => `${s.name}: ${s.gateway.pool.members.map((m) => m.name).join(', ')}`).join('; ')
      : gateway.pool.members.map((m) => m.name).join(', ');
  // Handlers first: a script that signals as soon as it reads the ready line must find them installed.
  exitOnSignals(logger, () => server.close().then(() => Promise.all([gateway.close(), backplane?.close()])).then(() => undefined), server, part.role === 'worker');
  if (profileSignal) installProfileSignal(profileSignal, logger);
  announceReady(part, address.url, `mcp-ws gateway on ${address.url} (upstreams: ${names})`);
}

/**
 * The federation of a gateway section with `servers`: the section's pool,
 * breaker, retry and timeouts are every server's defaults, each server's own
 * settings override them.
 */
export function federationOptions(section: GatewaySection, logger: Logger): McpWsFederationOptions {
  const { servers, separator, listTimeoutMs, maxListItemsPerServer, upstreams: _u, pool, breaker, retry, ...shared } = section;
  const out: McpWsFederationOptions['servers'] = {};
  for (const [name, server] of Object.entries(servers ?? {})) {
    const { upstream, upstreams, pool: ownPool, breaker: ownBreaker, retry: ownRetry, ...own } = server;
    out[name] = {
      ...shared,
      ...own,
      upstreams: upstreams ?? [upstream!],
      pool: { ...pool, ...ownPool },
      breaker: { ...breaker, ...ownBreaker },
      retry: { ...retry, ...ownRetry },
    };
  }
  return { servers: out, separator, listTimeoutMs, maxListItemsPerServer, logger };
}
