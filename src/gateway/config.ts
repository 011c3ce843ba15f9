/**
 * Gateway configuration: the `gateway` section of a config file, and the
 * `--upstream` strings of the command line.
 *
 * ```json
 * {
 *   "port": 8080,
 *   "gateway": {
 *     "upstreams": [
 *       "ws://127.0.0.1:9001/ws",
 *       { "url": "http://127.0.0.1:3001/mcp", "headers": { "Authorization": "Bearer …" }, "weight": 2 },
 *       { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"], "name": "everything" }
 *     ],
 *     "preset": "high-throughput",
 *     "pool": { "minConnections": 4, "loadBalanceStrategy": "LeastConnections" },
 *     "breaker": { "failureThreshold": 5, "halfOpenAfterMs": 10000 },
 *     "retry": { "maxRetries": 2 },
 *     "requestTimeoutMs": 60000,
 *     "maxPendingPerClient": 1024,
 *     "onUpstreamLost": "close",
 *     "closeGraceMs": 2000
 *   }
 * }
 * ```
 *
 * The rest of the file holds `mcp-ws serve` settings (host, port, path,
 * limits), validated by src/config/schema.ts. Names are the camelCase of the
 * seed's; an unknown or misspelt key is an error that suggests the right one.
 */
import { z } from 'zod';
import { ConfigError, parseServeConfig, readJsonFile, suggestKey, type ServeConfig } from '../config/schema.js';
import { BREAKER_OPTIONS, type BreakerConfig } from '../policy/circuit-breaker-options.js';
import { LOAD_BALANCE_STRATEGIES, parseStrategy } from './load-balance-strategy.js';
import { GATEWAY_OPTIONS, RETRY_OPTIONS, type RetryConfig, type UpstreamLostPolicy } from './session-options.js';
import { POOL_OPTIONS, type PoolConfig, type PoolPreset } from './pool-config.js';
import { redactedUrl, splitCommandLine, type UpstreamSpec } from './upstream-spec.js';

/** An upstream as written in config: a URL or command line string, or an object. */
export type UpstreamInput =
  | string
  | { url: string; headers?: Record<string, string>; name?: string; weight?: number }
  | {
      command: string;
      args?: string[];
      env?: Record<string, string>;
      inheritEnv?: boolean;
      cwd?: string;
      transport?: 'line' | 'sdk';
      name?: string;
      weight?: number;
    };

const name = z.string().min(1).max(100);
const weight = z.number().int().min(1).max(1_000_000);
const headers = z.record(z.string(), z.string());

const UrlUpstream = z.strictObject({ url: z.string().min(1), headers: headers.optional(), name: name.optional(), weight: weight.optional() });
const CommandUpstream = z.strictObject({
  command: z.string().min(1),
  args: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  inheritEnv: z.boolean().optional(),
  cwd: z.string().min(1).optional(),
  transport: z.enum(['line', 'sdk']).optional(),
  name: name.optional(),
  weight: weight.optional(),
});

/**
 * Turns one upstream input into a spec: `ws://`/`wss://` URLs are WebSocket
 * upstreams, `http://`/`https://` URLs Streamable HTTP, anything else a
 * command line (split like a shell would, without expansion).
 *
 * @param index position in the list, for the default name and messages
 * @throws ConfigError naming the upstream
 */
export function parseUpstream(input: UpstreamInput, index = 0): UpstreamSpec {
  const where = `upstreams[${index}]`;
  if (typeof input === 'string') {
    const text = input.trim();
    if (text.length === 0) throw new ConfigError(`${where}: empty upstream`);
    if (/^(wss?|https?):\/\//i.test(text)) return parseUpstream({ url: text }, index);
    let words: string[];
    try {
      words = splitCommandLine(text);
    } catch (err) {
      throw new ConfigError(`${where}: ${(err as Error).message}`);
    }
    return parseUpstream({ command: words[0]!, args: words.slice(1) }, index);
  }
  if (typeof input !== 'object' || input === null) {
    throw new ConfigError(`${where}: expected a URL, a command line or an object, got ${JSON.stringify(input)}`);
  }
  if ('url' in input) {
    const parsed = UrlUpstream.safeParse(input);
    if (!parsed.success) throw new ConfigError(`${where}: ${issueText(parsed.error)}`);
    const u = parsed.data;
    let url: URL;
    try {
      url = new URL(u.url);
    } catch {
      throw new ConfigError(`${where}: url should be a ws://, wss://, http:// or https:// URL, got ${JSON.stringify(u.url)}`);
    }
    const proto = url.protocol;
    if (proto !== 'ws:' && proto !== 'wss:' && proto !== 'http:' && proto !== 'https:') {
      throw new ConfigError(`${where}: url should be a ws://, wss://, http:// or https:// URL, got ${JSON.stringify(redactedUrl(u.url))}`);
    }
    const kind = proto === 'ws:' || proto === 'wss:' ? 'ws' : 'http';
    return Object.freeze({
      kind,
      url: u.url,
      headers: Object.freeze({ ...u.headers }),
      name: u.name ?? `${kind}:${url.host}${url.pathname}`,
      weight: u.weight ?? 1,
    });
  }
  if ('command' in input) {
    const parsed = CommandUpstream.safeParse(input);
    if (!parsed.success) throw new ConfigError(`${where}: ${issueText(parsed.error)}`);
    const c = parsed.data;
    const base = c.command.split(/[\\/]/).pop() ?? c.command;
    const script = (c.args ?? []).find((a) => !a.startsWith('-'));
    const label = script === undefined ? base : `${base} ${script.split(/[\\/]/).pop()}`;
    return Object.freeze({
      kind: 'stdio',
      command: c.command,
      args: Object.freeze([...(c.args ?? [])]),
      env: Object.freeze({ ...c.env }),
      inheritEnv: c.inheritEnv ?? false,
      cwd: c.cwd,
      transport: c.transport ?? 'line',
      name: c.name ?? `stdio:${label}`,
      weight: c.weight ?? 1,
    });
  }
  const keys = Object.keys(input);
  throw new ConfigError(`${where}: an upstream object needs "url" or "command" (got keys: ${keys.join(', ') || 'none'})`);
}

/**
 * Parses a list of upstream inputs; names left to default are made unique
 * by appending `#2`, `#3`, … (explicit duplicate names are an error).
 */
export function parseUpstreams(inputs: readonly UpstreamInput[]): UpstreamSpec[] {
  if (!Array.isArray(inputs as unknown) || inputs.length === 0) {
    throw new ConfigError('no upstreams: give at least one --upstream (ws:// or http:// URL, or a command) or gateway.upstreams in the config');
  }
  const seen = new Map<string, number>();
  return inputs.map((input, i) => {
    const spec = parseUpstream(input, i);
    const explicit = typeof input === 'object' && input !== null && typeof input.name === 'string';
    const n = (seen.get(spec.name) ?? 0) + 1;
    seen.set(spec.name, n);
    if (n === 1) return spec;
    if (explicit) throw new ConfigError(`upstreams[${i}]: name ${JSON.stringify(spec.name)} is used twice`);
    return Object.freeze({ ...spec, name: `${spec.name}#${n}` });
  });
}

/**
 * One federated server (`gateway.servers.<name>`): its upstream(s) and pool
 * settings (the section's own pool, breaker, retry, … are the defaults), its
 * name prefix, tool filters and per-tool scopes. The place of per-server
 * settings to come (such as how upstream sessions are shared).
 */
export interface ServerSection {
  upstream?: UpstreamInput;
  upstreams?: UpstreamInput[];
  preset?: PoolPreset;
  pool?: Partial<PoolConfig>;
  breaker?: Partial<BreakerConfig>;
  retry?: Partial<RetryConfig>;
  requestTimeoutMs?: number;
  maxPendingPerClient?: number;
  onUpstreamLost?: UpstreamLostPolicy;
  closeGraceMs?: number;
  prefix?: string;
  allowTools?: string[];
  denyTools?: string[];
  toolScopes?: Record<string, string[]>;
}

/** The gateway section, validated. */
export interface GatewaySection {
  upstreams?: UpstreamInput[];
  /** Federation: named, different servers behind one endpoint (instead of `upstreams`). */
  servers?: Record<string, ServerSection>;
  /** Federation: between a server's prefix and a tool or prompt name. Default `_`. */
  separator?: string;
  /** Federation: a server's list call not answered by then is left out of that listing. Default 5,000 ms. */
  listTimeoutMs?: number;
  /** Federation: items of one server in one merged page. Default 500. */
  maxListItemsPerServer?: number;
  preset?: PoolPreset;
  pool?: Partial<PoolConfig>;
  breaker?: Partial<BreakerConfig>;
  retry?: Partial<RetryConfig>;
  requestTimeoutMs?: number;
  maxPendingPerClient?: number;
  onUpstreamLost?: UpstreamLostPolicy;
  closeGraceMs?: number;
}

// The strategy is checked after parsing: parseStrategy also takes the seed's spelling and kebab-case.
const PoolSchema = z.strictObject({ ...POOL_OPTIONS.shape, loadBalanceStrategy: z.string().optional() });
const BreakerSchema = z.strictObject(BREAKER_OPTIONS.shape);
const RetrySchema = z.strictObject(RETRY_OPTIONS.shape);
const ServerSchema = z.strictObject({
  upstream: z.unknown().optional(),
  upstreams: z.array(z.unknown()).optional(),
  preset: z.enum(['high-throughput', 'high-availability']).optional(),
  pool: PoolSchema.optional(),
  breaker: BreakerSchema.optional(),
  retry: RetrySchema.optional(),
  ...GATEWAY_OPTIONS.shape,
  prefix: z.string().max(63).optional(),
  allowTools: z.array(z.string().min(1)).optional(),
  denyTools: z.array(z.string().min(1)).optional(),
  toolScopes: z.record(z.string(), z.array(z.string())).optional(),
});
/** The `gateway` section of the config file. */
export const SectionSchema = z.strictObject({
  upstreams: z.array(z.unknown()).optional(),
  servers: z.record(z.string(), ServerSchema).optional(),
  separator: z.string().min(1).max(8).optional(),
  listTimeoutMs: z.number().int().min(1).max(2_147_483_647).optional(),
  maxListItemsPerServer: z.number().int().min(1).max(1_000_000).optional(),
  preset: z.enum(['high-throughput', 'high-availability']).optional(),
  pool: PoolSchema.optional(),
  breaker: BreakerSchema.optional(),
  retry: RetrySchema.optional(),
  ...GATEWAY_OPTIONS.shape,
});

const NESTED: Record<string, readonly string[]> = {
  pool: Object.keys(POOL_OPTIONS.specs),
  breaker: Object.keys(BREAKER_OPTIONS.specs),
  retry: Object.keys(RETRY_OPTIONS.specs),
};

/**
 * Validates a gateway section. Unknown keys name themselves and the likely
 * intended key (a pool setting written at the top of the section is pointed
 * to `pool.`); strategy names accept the seed's spelling and kebab-case.
 *
 * @param source names the origin in messages (a file name)
 */
export function parseGatewaySection(value: unknown, source = 'config'): GatewaySection {
  const at = `${source}: gateway`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${at} should be an object`);
  const known = Object.keys(SectionSchema.shape);
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    for (const [group, keys] of Object.entries(NESTED)) {
      if (keys.includes(key)) throw new ConfigError(`${at}: unknown setting "${key}" — did you mean "${group}.${key}"?`);
    }
    const hint = suggestKey(key, known);
    throw new ConfigError(`${at}: unknown setting "${key}"${hint ? ` — did you mean "${hint}"?` : ''}`);
  }
  for (const [group, keys] of Object.entries(NESTED)) {
    const sub = (value as Record<string, unknown>)[group];
    if (typeof sub !== 'object' || sub === null) continue;
    for (const key of Object.keys(sub)) {
      if (keys.includes(key)) continue;
      const hint = suggestKey(key, keys);
      throw new ConfigError(`${at}.${group}: unknown setting "${key}"${hint ? ` — did you mean "${hint}"?` : ''}`);
    }
  }
  const parsed = SectionSchema.safeParse(value);
  if (!parsed.success) throw new ConfigError(`${at}.${issueText(parsed.error)}`);
  const section = parsed.data as GatewaySection & { pool?: { loadBalanceStrategy?: string } };
  const strategy = section.pool?.loadBalanceStrategy;
  if (strategy !== undefined) {
    const s = parseStrategy(strategy);
    if (s === undefined) {
      throw new ConfigError(
        `${at}.pool.loadBalanceStrategy should be one of ${LOAD_BALANCE_STRATEGIES.join(', ')}, got ${JSON.stringify(strategy)}`,
      );
    }
    section.pool = { ...section.pool, loadBalanceStrategy: s };
  }
  if (section.servers !== undefined) {
    if (section.upstreams !== undefined) throw new ConfigError(`${at}: give either upstreams (one server, pooled) or servers (federation), not both`);
    const names = Object.keys(section.servers);
    if (names.length === 0) throw new ConfigError(`${at}.servers: name at least one server`);
    for (const name of names) {
      const server = section.servers[name]!;
      const ups = server.upstreams ?? (server.upstream === undefined ? undefined : [server.upstream]);
      if (ups === undefined || (server.upstream !== undefined && server.upstreams !== undefined)) {
        throw new ConfigError(`${at}.servers.${name}: give one of "upstream" or "upstreams"`);
      }
      try {
        parseUpstreams(ups);
      } catch (err) {
        throw new ConfigError(`${at}.servers.${name}.${(err as Error).message}`);
      }
      const s = server.pool?.loadBalanceStrategy as string | undefined;
      if (s !== undefined) {
        const parsedStrategy = parseStrategy(s);
        if (parsedStrategy === undefined) throw new ConfigError(`${at}.servers.${name}.pool.loadBalanceStrategy should be one of ${LOAD_BALANCE_STRATEGIES.join(', ')}, got ${JSON.stringify(s)}`);
        server.pool = { ...server.pool, loadBalanceStrategy: parsedStrategy };
      }
    }
  }
  if (section.upstreams !== undefined) {
    // Parsed here so a bad upstream is reported with the file's name.
    try {
      parseUpstreams(section.upstreams);
    } catch (err) {
      throw new ConfigError(`${at}.${(err as Error).message}`);
    }
  }
  return section;
}

/** A whole gateway config file: serve settings plus the gateway section. */
export interface GatewayConfigFile {
  serve: ServeConfig;
  gateway: GatewaySection;
}

/** Reads a JSON config file and validates both parts. */
export function loadGatewayConfigFile(file: string): GatewayConfigFile {
  const value = readJsonFile(file);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${file}: expected a JSON object of settings`);
  }
  const { gateway, ...serve } = value as Record<string, unknown>;
  return {
    serve: parseServeConfig(serve, file),
    gateway: gateway === undefined ? {} : parseGatewaySection(gateway, file),
  };
}

function issueText(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const key = issue.path.join('.');
  return `${key ? `${key}: ` : ''}${issue.message}`;
}
