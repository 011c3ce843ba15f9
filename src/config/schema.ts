/**
 * The configuration file: one zod schema, camelCase names taken from the
 * seed's (max_payload → maxPayload, max_requests_per_second →
 * maxRequestsPerSecond, …) so a reader of the guide finds them.
 *
 * Errors are for people: an unknown key names itself and the closest known
 * key ("did you mean"), a snake_case key gets its camelCase spelling, a bad
 * value names the setting and repeats what was given.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { rateLimitConfigSchema } from '../ratelimit/config.js';
import { compressionConfigSchema } from '../compression/config.js';
import { llmConfigSchema } from '../llm/options.js';
import { redisSectionSchema } from '../backplane/options.js';
import { SERVER_OPTIONS } from '../server/server-options.js';
import { RESUME_STORE_OPTIONS } from '../server/resume-store-options.js';
import { defineOptions, MAX_LIMIT, oneOf } from './option-set.js';

const positiveInt = z.number().int().positive().max(MAX_LIMIT);
const nonNegInt = z.number().int().nonnegative().max(MAX_LIMIT);

/** Settings of the command line's own (not McpWsServer options), declared as the server's are. */
export const CLI_OPTIONS = defineOptions({
  logLevel: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], { default: 'info' }),
});

/**
 * Every setting of `mcp-ws serve`. All optional: the scalar server options
 * come from their declaration (SERVER_OPTIONS, with their defaults); the
 * structured ones are described here and checked again where they are used.
 */
export const ServeConfigSchema = z.strictObject({
  ...SERVER_OPTIONS.shape,
  path: z.union([z.string().startsWith('/'), z.array(z.string().startsWith('/')).min(1)]).optional(),
  ...CLI_OPTIONS.shape,
  pageSize: positiveInt.optional(),
  module: z.string().min(1).optional(),
  workers: z.union([z.number().int().min(1).max(256), z.literal('auto')]).optional(),
  allowedOrigins: z.array(z.string().min(1)).optional(),
  allowedHosts: z.array(z.string().min(1)).optional(),
  trustedProxies: z.array(z.string().min(1)).optional(),
  auth: z
    .strictObject({
      tokens: z.array(z.union([z.string().min(16), z.strictObject({ token: z.string().min(16), subject: z.string().optional(), scopes: z.array(z.string()).optional() })])).optional(),
      tokensFile: z.string().min(1).optional(),
      tokensEnv: z.string().min(1).optional(),
      jwt: z
        .strictObject({
          secret: z.string().min(32).optional(),
          secretEnv: z.string().min(1).optional(),
          publicKeyFile: z.string().min(1).optional(),
          jwksUrl: z.url().optional(),
          jwksCooldownMs: nonNegInt.optional(),
          jwksCacheMaxAgeMs: positiveInt.optional(),
          algorithms: z.array(z.string()).optional(),
          issuer: z.union([z.string(), z.array(z.string())]).optional(),
          audience: z.union([z.string(), z.array(z.string())]).optional(),
          requiredClaims: z.array(z.string()).optional(),
          clockToleranceSec: nonNegInt.optional(),
          scopesClaim: z.string().optional(),
        })
        .optional(),
      requiredScopes: z.array(z.string()).optional(),
      toolScopes: z.record(z.string(), z.array(z.string())).optional(),
      realm: z.string().optional(),
      protectedResource: z
        .strictObject({
          resource: z.url().optional(),
          authorizationServers: z.array(z.url()).optional(),
          scopesSupported: z.array(z.string()).optional(),
          resourceName: z.string().optional(),
          resourceDocumentation: z.url().optional(),
        })
        .optional(),
    })
    .optional(),
  rateLimit: rateLimitConfigSchema.optional(),
  compression: compressionConfigSchema.optional(),
  resumeStore: z.strictObject({ ...RESUME_STORE_OPTIONS.shape, url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').optional() }).optional(),
  llm: llmConfigSchema.optional(),
  redis: redisSectionSchema.optional(),
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1), ca: z.string().min(1).optional() }).optional(),
});

export type ServeConfig = z.infer<typeof ServeConfigSchema>;

/**
 * Folds `--redis URL` into settings (before they are parsed): it sets
 * `redis.url`, and a `rateLimit.redis` section without a url of its own
 * shares the same server.
 */
export function applyRedisUrl(merged: Record<string, unknown>, flag: unknown): void {
  if (flag !== undefined) merged.redis = { ...((merged.redis as object | undefined) ?? {}), url: flag };
  const url = (merged.redis as { url?: unknown } | undefined)?.url;
  const rl = merged.rateLimit as { redis?: Record<string, unknown> } | undefined;
  if (url !== undefined && typeof rl === 'object' && rl !== null && typeof rl.redis === 'object' && rl.redis !== null && rl.redis.url === undefined) {
    merged.rateLimit = { ...rl, redis: { ...rl.redis, url } };
  }
}

/** A configuration error: one line, meant to be printed as it is. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Seed names (snake_case, sometimes a different word) that map to a setting. */
const SEED_ALIASES: Record<string, string> = {
  max_connections: 'maxConnections',
  max_payload: 'maxPayload',
  rate_limit: 'rateLimit',
  rate_limit_config: 'rateLimit',
  max_message_size: 'maxPayload',
  heartbeat_interval: 'heartbeatIntervalMs',
  heartbeat_interval_ms: 'heartbeatIntervalMs',
  heartbeat_timeout: 'heartbeatTimeoutMs',
  bind: 'host',
  address: 'host',
};

function snakeToCamel(key: string): string {
  return key.replace(/[_-]([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function distance(a: string, b: string): number {
  const al = a.toLowerCase();
  const bl = b.toLowerCase();
  const prev = Array.from({ length: bl.length + 1 }, (_, i) => i);
  for (let i = 1; i <= al.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= bl.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (al[i - 1] === bl[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[bl.length]!;
}

/** The known key a misspelt or snake_case `key` most likely means, if any. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  const alias = SEED_ALIASES[key];
  if (alias && known.includes(alias)) return alias;
  const camel = snakeToCamel(key);
  if (known.includes(camel)) return camel;
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(camel, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 4)) ? best : undefined;
}

/** Validates a parsed config object. `source` names it in messages (a file name, or 'config'). */
export function parseServeConfig(value: unknown, source = 'config'): ServeConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${source}: expected a JSON object of settings`);
  }
  checkKeys(value as Record<string, unknown>, ServeConfigSchema, source, '');
  const parsed = ServeConfigSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = issue.path.join('.');
  const given = issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown>)?.[k as PropertyKey], value);
  // Never repeat a credential back, not even a wrong one.
  const secret = /token|secret|key/i.test(key);
  throw new ConfigError(`${source}: ${key} ${describeIssue(issue)}${secret ? '' : ` (got ${JSON.stringify(given)})`}`);
}

/** Walks nested objects of the schema so an unknown key anywhere gets its own message. */
function checkKeys(value: Record<string, unknown>, schema: z.ZodType, source: string, prefix: string): void {
  const shape = objectShape(schema);
  if (!shape) return;
  const known = Object.keys(shape);
  for (const [key, v] of Object.entries(value)) {
    if (!known.includes(key)) {
      const hint = suggestKey(key, known);
      throw new ConfigError(`${source}: unknown setting "${prefix}${key}"${hint ? ` — did you mean "${prefix}${hint}"?` : ''}`);
    }
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) checkKeys(v as Record<string, unknown>, shape[key]!, source, `${prefix}${key}.`);
  }
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  let s: z.ZodType = schema;
  while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
  return s instanceof z.ZodObject ? (s.shape as Record<string, z.ZodType>) : undefined;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `should be ${issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`}`;
    case 'too_small':
      return issue.origin === 'string' ? `should be at least ${String(issue.minimum)} characters` : `should be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `should be at most ${String(issue.maximum)}`;
    case 'invalid_value':
      return `should be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return issue.message.charAt(0).toLowerCase() + issue.message.slice(1);
  }
}

/** Reads a JSON file for configuration; one-line ConfigError when it is missing or not JSON. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`cannot read config ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Reads and validates a JSON config file. */
export function loadConfigFile(file: string): ServeConfig {
  return parseServeConfig(readJsonFile(file), file);
}
