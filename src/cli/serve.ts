/**
 * `mcp-ws serve`: settings from defaults, then the config file, then flags;
 * what to serve from --module or the embedded demo; prints one ready line
 * with the bound ws:// URL on stdout; drains on SIGTERM/SIGINT and exits 0.
 */
import { readFileSync } from 'node:fs';
import { createLogger } from '../log.js';
import type { AuthOptions } from '../server/auth.js';
import { isLoopbackHost } from '../server/origin.js';
import { ConfigError, loadConfigFile, parseServeConfig, type ServeConfig } from '../config/schema.js';
import { createDemoRouter } from '../demo/demo-router.js';
import { McpRouter } from '../router/router.js';
import { McpWsServer } from '../server/server.js';
import type { HandlerSource } from '../server/server-options.js';
import { loadHandlerModule } from './load-module.js';
import { exitOnSignals } from './signals.js';

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
] as const;

/** Environment variable read for bearer tokens when set (comma or whitespace separated). */
export const TOKENS_ENV = 'MCP_WS_AUTH_TOKENS';

/** Merges the config file (if any) and flags into one validated config. */
export function resolveServeConfig(opts: Record<string, unknown>): ServeConfig {
  const fromFile = typeof opts.config === 'string' ? loadConfigFile(opts.config) : {};
  const fromFlags: Record<string, unknown> = {};
  for (const k of FLAG_KEYS) if (opts[k] !== undefined) fromFlags[k] = opts[k];
  if (opts.allowedOrigin !== undefined) fromFlags.allowedOrigins = opts.allowedOrigin;
  if (opts.allowedHost !== undefined) fromFlags.allowedHosts = opts.allowedHost;
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
  if (opts.tlsCert !== undefined || opts.tlsKey !== undefined || opts.tlsCa !== undefined) {
    merged.tls = { ...(fromFile.tls ?? {}), cert: opts.tlsCert ?? fromFile.tls?.cert, key: opts.tlsKey ?? fromFile.tls?.key, ca: opts.tlsCa ?? fromFile.tls?.ca };
  }
  return parseServeConfig(merged, typeof opts.config === 'string' ? opts.config : 'flags');
}

function splitTokens(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .flatMap((l) => l.split(/[\s,]+/))
    .filter(Boolean);
}

/** Turns the config's auth section into Authenticator options: reads token files, env vars and key files. */
export function resolveAuth(auth: ServeConfig['auth'], env: NodeJS.ProcessEnv = process.env): AuthOptions | undefined {
  const tokens: NonNullable<AuthOptions['tokens']> = [...(auth?.tokens ?? [])];
  if (auth?.tokensFile) {
    let text: string;
    try {
      text = readFileSync(auth.tokensFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read auth.tokensFile ${auth.tokensFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    tokens.push(...splitTokens(text));
  }
  const envName = auth?.tokensEnv ?? TOKENS_ENV;
  const fromEnv = env[envName];
  if (fromEnv !== undefined && fromEnv.trim() !== '') tokens.push(...splitTokens(fromEnv));
  else if (auth?.tokensEnv) throw new ConfigError(`auth.tokensEnv names ${auth.tokensEnv}, which is not set`);
  let jwt: AuthOptions['jwt'];
  if (auth?.jwt) {
    const { secretEnv, publicKeyFile, ...rest } = auth.jwt;
    jwt = { ...rest };
    if (secretEnv) {
      const v = env[secretEnv];
      if (!v) throw new ConfigError(`auth.jwt.secretEnv names ${secretEnv}, which is not set`);
      jwt.secret = v;
    }
    if (publicKeyFile) {
      try {
        jwt.publicKey = readFileSync(publicKeyFile, 'utf8');
      } catch (err) {
        throw new ConfigError(`cannot read auth.jwt.publicKeyFile ${publicKeyFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
  }
  if (tokens.length === 0 && !jwt) {
    if (auth && Object.keys(auth).length > 0) throw new ConfigError('auth is configured but has no tokens and no jwt');
    return undefined;
  }
  for (const t of tokens) {
    const token = typeof t === 'string' ? t : t.token;
    if (token.length < 16) throw new ConfigError('auth tokens should be at least 16 characters');
  }
  return { tokens, jwt, requiredScopes: auth?.requiredScopes, toolScopes: auth?.toolScopes, realm: auth?.realm };
}

export async function runServe(opts: Record<string, unknown>): Promise<void> {
  const config = resolveServeConfig(opts);
  const logger = createLogger({ level: config.logLevel ?? 'info' });
  let handler: HandlerSource;
  let kind: string;
  if (config.module) {
    ({ handler, kind } = await loadHandlerModule(config.module));
  } else {
    handler = createDemoRouter();
    kind = 'demo';
  }
  if (config.pageSize !== undefined) {
    // Only the native router pages with this setting; an SDK server pages its own lists.
    if (!(handler instanceof McpRouter)) {
      throw new ConfigError(`pageSize applies to the native router only; module ${config.module} serves an SDK server, which pages its own lists`);
    }
    handler.setPageSize(config.pageSize);
  }
  const { logLevel: _l, module: _m, pageSize: _p, auth: authConfig, ...serverOptions } = config;
  const auth = resolveAuth(authConfig);
  let server: McpWsServer;
  try {
    server = new McpWsServer({ ...serverOptions, auth, handler, logger });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (!auth && !isLoopbackHost(server.options.host)) {
    logger.warn({ host: server.options.host }, 'listening beyond loopback without authentication');
  }
  const address = await server.listen();
  // Handlers first: a script that signals as soon as it reads the ready line must find them installed.
  exitOnSignals(logger, () => server.close(), server);
  process.stdout.write(`mcp-ws serving ${kind} on ${address.url}\n`);
}
