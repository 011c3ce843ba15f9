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
import { GATEWAY_OPTIONS } from '../../src/gateway/session-options.js';
import { LLM_OPTIONS, llmConfigSchema } from '../../src/llm/options.js';

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

function checkDefaults(rows: Map<string, string>, specs: Record<string, OptionSpec>): void {
  for (const [name, spec] of Object.entries(specs)) {
    expect(rows.has(name), `README should have a row for ${name}`).toBe(true);
    expect(rows.get(name), `README's default of ${name}`).toBe(String(spec.default));
  }
}

describe("README's settings tables", () => {
  it('serve: one row per config setting, and the declared defaults', () => {
    const rows = settingsTable('`--config FILE`');
    const settings = Object.keys(ServeConfigSchema.shape);
    for (const name of rows.keys()) expect(settings, `README documents ${name}, which the config does not accept`).toContain(name);
    for (const name of settings) expect([...rows.keys()], `README should document ${name}`).toContain(name);
    checkDefaults(rows, { ...SERVER_OPTIONS.specs, ...CLI_OPTIONS.specs });
  });

  it('gateway.pool: one row per pool setting, and the declared defaults', () => {
    const rows = settingsTable('`gateway.pool` settings');
    expect([...rows.keys()].sort()).toEqual(Object.keys(POOL_OPTIONS.specs).sort());
    checkDefaults(rows, POOL_OPTIONS.specs);
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
