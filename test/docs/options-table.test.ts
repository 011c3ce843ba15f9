/**
 * The README's settings tables against the option declarations: every row
 * names a setting the config file accepts, every setting has a row, and a
 * declared option's default column says the declared default. A default
 * changed in code and not in the README (or the reverse) fails here.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { OptionSpec } from '../../src/config/option-set.js';
import { CLI_OPTIONS, ServeConfigSchema } from '../../src/config/schema.js';
import { SERVER_OPTIONS } from '../../src/server/server-options.js';
import { POOL_OPTIONS } from '../../src/gateway/pool-config.js';
import { GATEWAY_OPTIONS, RETRY_OPTIONS } from '../../src/gateway/session-options.js';
import { SectionSchema } from '../../src/gateway/config.js';
import { BREAKER_OPTIONS } from '../../src/policy/circuit-breaker-options.js';
import { CONNECT_OPTIONS, CONNECT_OPTION_KEYS, DEFAULT_RECONNECT_ATTEMPTS, HEARTBEAT_OPTIONS, RECONNECT_OPTIONS } from '../../src/transport/open-options.js';
import { CLIENT_OPTION_KEYS, DEFAULT_CLIENT_INFO, DEFAULT_REQUEST_TIMEOUT_MS } from '../../src/transport/client.js';
import { rateLimitConfigSchema, redisConfigSchema } from '../../src/ratelimit/config.js';
import { compressionConfigSchema, permessageDeflateSchema } from '../../src/compression/config.js';
import { CODEC_LEVELS, COMPRESSION_OPTIONS, DEFAULT_INLINE_DECODE_MAX_BYTES, DEFAULT_INLINE_MAX_BYTES, PERMESSAGE_DEFLATE_OPTIONS } from '../../src/compression/options.js';
import { DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_URL, LIMIT_OPTIONS, RATE_LIMITER_OPTIONS, REDIS_OPTIONS } from '../../src/ratelimit/options.js';
import { LLM_OPTIONS, llmConfigSchema } from '../../src/llm/options.js';
import { BACKPLANE_OPTIONS, redisSectionSchema } from '../../src/backplane/options.js';
import { RESUME_STORE_OPTIONS } from '../../src/server/resume-store-options.js';

const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

/** The rows of the `| setting | default | meaning |` table that follows `after`: name → default cell, `a / b` rows split. */
function settingsTable(after: string): Map<string, string> {
  const start = readme.indexOf(after);
  expect(start, `README should contain ${JSON.stringify(after)}`).toBeGreaterThanOrEqual(0);
  const lines = readme.slice(readme.indexOf('| setting | default | meaning |', start)).split('\n').slice(2);
  const rows = new Map<string, string>();
  for (const line of lines) {
    if (!line.startsWith('|')) break;
    const [nameCell, defaultCell] = line.split('|').slice(1, 3).map((c) => c.trim());
    const names = nameCell!.split(' / ').map((n) => n.replace(/`/g, ''));
    const defaults = defaultCell!.split(' / ');
    names.forEach((n, i) => rows.set(n, (defaults.length === names.length ? defaults[i]! : defaultCell!).replace(/`/g, '')));
  }
  return rows;
}

/** Every declared option has a row, and a row of an option with a fixed default says it. */
function checkDefaults(rows: Map<string, string>, specs: Record<string, OptionSpec>): void {
  for (const [name, spec] of Object.entries(specs)) {
    expect(rows.has(name), `README should have a row for ${name}`).toBe(true);
    if (spec.default === undefined) continue; // required or derived: the cell says so in words
    expect(rows.get(name), `README's default of ${name}`).toBe(String(spec.default));
  }
}

/** `specs` under `prefix.` names, as a table row names a nested setting. */
function prefixed(prefix: string, specs: Record<string, OptionSpec>): Record<string, OptionSpec> {
  return Object.fromEntries(Object.entries(specs).map(([k, v]) => [`${prefix}.${k}`, v]));
}

/** The table documents exactly the settings `schema` accepts. */
function checkNames(rows: Map<string, string>, schema: { shape: object }): void {
  expect([...rows.keys()].sort()).toEqual(Object.keys(schema.shape).sort());
}

describe("README's settings tables", () => {
  it('serve: one row per config setting, and the declared defaults', () => {
    const rows = settingsTable('`--config FILE`');
    const settings = Object.keys(ServeConfigSchema.shape);
    for (const name of rows.keys()) expect(settings, `README documents ${name}, which the config does not accept`).toContain(name);
    for (const name of settings) expect([...rows.keys()], `README should document ${name}`).toContain(name);
    checkDefaults(rows, { ...SERVER_OPTIONS.specs, ...CLI_OPTIONS.specs });
  });

  it('resumeStore: one row per setting, and the declared defaults', () => {
    const rows = settingsTable('`resumeStore` settings');
    expect([...rows.keys()].sort()).toEqual(Object.keys((ServeConfigSchema.shape.resumeStore.unwrap() as { shape: object }).shape).sort());
    checkDefaults(rows, RESUME_STORE_OPTIONS.specs);
  });

  it('gateway.pool: one row per pool setting, and the declared defaults', () => {
    const rows = settingsTable('`gateway.pool` settings');
    expect([...rows.keys()].sort()).toEqual(Object.keys(POOL_OPTIONS.specs).sort());
    checkDefaults(rows, POOL_OPTIONS.specs);
  });

  it('client: one row per option of both clients (heartbeat and reconnect by their dotted names), and the declared defaults', () => {
    const rows = settingsTable('Client options (both clients');
    const dotted = { ...prefixed('heartbeat', HEARTBEAT_OPTIONS.specs), ...prefixed('reconnect', RECONNECT_OPTIONS.specs) };
    const names = new Set([...CONNECT_OPTION_KEYS, ...CLIENT_OPTION_KEYS, ...Object.keys(dotted), 'reconnect.maxAttempts']);
    names.delete('heartbeat');
    expect([...rows.keys()].sort()).toEqual([...names].sort());
    checkDefaults(rows, { ...CONNECT_OPTIONS.specs, ...dotted });
    expect(rows.get('reconnect.maxAttempts')).toBe(String(DEFAULT_RECONNECT_ATTEMPTS));
    expect(rows.get('requestTimeoutMs')).toBe(String(DEFAULT_REQUEST_TIMEOUT_MS));
    expect(rows.get('clientInfo')).toBe(DEFAULT_CLIENT_INFO.name);
  });

  it('gateway: one row per setting of the section (breaker and retry by their dotted names), and the declared defaults', () => {
    const rows = settingsTable('The rest of the `gateway` section');
    const nested = { ...prefixed('breaker', BREAKER_OPTIONS.specs), ...prefixed('retry', RETRY_OPTIONS.specs) };
    const names = [...Object.keys(SectionSchema.shape).filter((k) => k !== 'breaker' && k !== 'retry'), ...Object.keys(nested)];
    expect([...rows.keys()].sort()).toEqual(names.sort());
    checkDefaults(rows, { ...GATEWAY_OPTIONS.specs, ...nested });
  });

  it('rateLimit: one row per setting, and the declared defaults', () => {
    const rows = settingsTable('`rateLimit` settings');
    checkNames(rows, rateLimitConfigSchema);
    checkDefaults(rows, { ...LIMIT_OPTIONS.specs, ...RATE_LIMITER_OPTIONS.specs });
  });

  it('redis (the backplane): one row per setting, and the declared defaults', () => {
    const rows = settingsTable('`redis` settings');
    checkNames(rows, redisSectionSchema);
    checkDefaults(rows, BACKPLANE_OPTIONS.specs);
  });

  it('rateLimit.redis: one row per setting, and the declared defaults', () => {
    const rows = settingsTable('`rateLimit.redis` settings');
    checkNames(rows, redisConfigSchema);
    checkDefaults(rows, REDIS_OPTIONS.specs);
    expect(rows.get('url')).toBe(DEFAULT_REDIS_URL);
    expect(rows.get('prefix')).toBe(DEFAULT_REDIS_PREFIX);
  });

  it('compression: one row per setting, the declared defaults, and the per-codec ones', () => {
    const rows = settingsTable('`compression` settings');
    checkNames(rows, compressionConfigSchema);
    checkDefaults(rows, COMPRESSION_OPTIONS.specs);
    expect(rows.get('level')).toBe(`the codec's: ${Object.entries(CODEC_LEVELS).map(([n, l]) => `${n} ${l.default}`).join(', ')}`);
    expect(rows.get('inlineMaxBytes')).toBe(
      `per codec: zstd ${DEFAULT_INLINE_MAX_BYTES.zstd}, others ${DEFAULT_INLINE_MAX_BYTES.br}`,
    );
    expect([DEFAULT_INLINE_MAX_BYTES.gzip, DEFAULT_INLINE_MAX_BYTES.deflate]).toEqual([DEFAULT_INLINE_MAX_BYTES.br, DEFAULT_INLINE_MAX_BYTES.br]);
    expect(rows.get('inlineDecodeMaxBytes')).toBe(
      `per codec: zstd ${DEFAULT_INLINE_DECODE_MAX_BYTES.zstd}, gzip and deflate ${DEFAULT_INLINE_DECODE_MAX_BYTES.gzip}, br ${DEFAULT_INLINE_DECODE_MAX_BYTES.br}`,
    );
    expect(DEFAULT_INLINE_DECODE_MAX_BYTES.deflate).toBe(DEFAULT_INLINE_DECODE_MAX_BYTES.gzip);
  });

  it('compression.permessageDeflate: one row per setting, and the declared defaults', () => {
    const rows = settingsTable('`compression.permessageDeflate` settings');
    checkNames(rows, permessageDeflateSchema);
    checkDefaults(rows, PERMESSAGE_DEFLATE_OPTIONS.specs);
  });
});

describe("README's llm settings table", () => {
  it('one row per llm setting, and the declared defaults', () => {
    const rows = settingsTable('`llm` settings');
    expect([...rows.keys()].sort()).toEqual(Object.keys(llmConfigSchema.shape).sort());
    checkDefaults(rows, LLM_OPTIONS.specs);
  });
});

describe("README's prose defaults", () => {
  it('every "`setting` (default N)" of a declared option says the declared default', () => {
    const specs: Record<string, OptionSpec> = { ...GATEWAY_OPTIONS.specs, ...POOL_OPTIONS.specs, ...SERVER_OPTIONS.specs };
    const found = [...readme.matchAll(/`(\w+)` \(default ([^)]+)\)/g)].filter((m) => m[1]! in specs);
    expect(found.map((m) => m[1]).sort()).toEqual(['closeGraceMs', 'maxPendingPerClient']);
    for (const m of found) expect(m[2], `README's default of ${m[1]}`).toBe(String(specs[m[1]!]!.default));
  });
});
