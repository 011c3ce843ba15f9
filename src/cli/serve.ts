/**
 * `mcp-ws serve`: settings from defaults, then the config file, then flags;
 * what to serve from --module or the embedded demo; prints one ready line
 * with the bound ws:// URL on stdout; drains on SIGTERM/SIGINT and exits 0.
 */
import { createLogger } from '../log.js';
import { ConfigError, loadConfigFile, parseServeConfig, type ServeConfig } from '../config/schema.js';
import { createDemoRouter } from '../demo/demo-router.js';
import { McpWsServer, type HandlerSource } from '../server/server.js';
import { loadHandlerModule } from './load-module.js';

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

/** Merges the config file (if any) and flags into one validated config. */
export function resolveServeConfig(opts: Record<string, unknown>): ServeConfig {
  const fromFile = typeof opts.config === 'string' ? loadConfigFile(opts.config) : {};
  const fromFlags: Record<string, unknown> = {};
  for (const k of FLAG_KEYS) if (opts[k] !== undefined) fromFlags[k] = opts[k];
  return parseServeConfig({ ...fromFile, ...fromFlags }, typeof opts.config === 'string' ? opts.config : 'flags');
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
  const { logLevel: _l, module: _m, pageSize: _p, ...serverOptions } = config;
  let server: McpWsServer;
  try {
    server = new McpWsServer({ ...serverOptions, handler, logger });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const address = await server.listen();
  process.stdout.write(`mcp-ws serving ${kind} on ${address.url}\n`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server.close().then(
      () => {
        logger.flush?.();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
