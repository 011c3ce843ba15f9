/**
 * The JSON-RPC error table in docs/PROTOCOL.md, the ERRORS table in
 * src/protocol/errors.ts and the code that sends errors agree both ways:
 * every code the source can send is in the table and documented, and every
 * documented row (its JSON-RPC code and its close code) is produced by some
 * code path.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/protocol/errors.js';
import { CLOSE_CODE_TABLE } from '../../src/protocol/close-codes.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const doc = readFileSync(join(root, 'docs/PROTOCOL.md'), 'utf8');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Source text without comments and import statements, so only code paths count. */
function code(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[\s;])\/\/.*$/gm, '$1')
    .replace(/^import[\s\S]*?from\s+'[^']+';$/gm, '');
}

const files = tsFiles(join(root, 'src')).filter((f) => !f.endsWith(join('protocol', 'errors.ts')));
const source = files.map((f) => code(readFileSync(f, 'utf8'))).join('\n');

/** Rows of the "## JSON-RPC errors" table: code, name, close, http, meaning. */
function docRows(): Array<{ code: number; name: string; close: string; http: string; meaning: string }> {
  const section = doc.split('## JSON-RPC errors')[1]!.split('\n## ')[0]!;
  const lines = section.split('\n').filter((l) => /^\| -?\d+ \|/.test(l));
  return lines.map((l) => {
    const cells = l.split('|').slice(1, -1).map((c) => c.trim());
    return { code: Number(cells[0]), name: cells[1]!, close: cells[2]!, http: cells[3]!, meaning: cells[4]! };
  });
}

/** Where the source produces error `name`: the table entry, its string code, or its JSON-RPC constant passed as an argument. */
function producedBy(name: string): boolean {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return [
    new RegExp(`\\b(?:GATEWAY_)?ERRORS\\.${escaped}\\b`),
    new RegExp(`McpWsError\\('${escaped}'`),
    new RegExp(`[(,]\\s*${escaped}\\s*[,)]`),
  ].some((re) => re.test(source));
}

describe('docs/PROTOCOL.md JSON-RPC error table', () => {
  const rows = docRows();

  it('has one row per ERRORS entry, with the same code, close code and HTTP status, and nothing else', () => {
    const fromDoc = rows.map((r) => `${r.name} ${r.code} ${r.close} ${r.http}`).sort();
    const fromCode = Object.entries(ERRORS)
      .map(([name, spec]) => `${name} ${spec.rpc} ${'close' in spec ? spec.close : '—'} ${spec.http}`)
      .sort();
    expect(fromDoc).toEqual(fromCode);
  });

  it.each(Object.keys(ERRORS))('%s is produced by some code path', (name) => {
    expect(producedBy(name), `no code path sends ${name}`).toBe(true);
  });

  it.each(Object.entries(ERRORS).filter(([, s]) => 'close' in s))('the close code of %s is used by the code and documented as a close code', (name, spec) => {
    const close = (spec as { close: number }).close;
    expect(CLOSE_CODE_TABLE.map((r) => r.code)).toContain(close);
    // Read from the table where the session ends: NAME.close, or a local bound to the entry and then .close.
    const direct = new RegExp(`\\b(?:GATEWAY_)?ERRORS\\.${name}\\.close\\b`).test(source);
    const viaLocal = new RegExp(`const (\\w+) = (?:GATEWAY_)?ERRORS\\.${name};[\\s\\S]{0,600}?\\b\\1\\.close\\b`).test(source);
    expect(direct || viaLocal, `no code path closes with ${name}.close`).toBe(true);
  });

  it('every JSON-RPC error code written in the source is in the table', () => {
    const known = new Set<number>(Object.values(ERRORS).map((s) => s.rpc));
    const literals = [...source.matchAll(/-3[0-2]\d{3}\b/g)].map((m) => Number(m[0]));
    expect(literals.length).toBeGreaterThan(0);
    expect([...new Set(literals.filter((c) => !known.has(c)))]).toEqual([]);
  });

  it('Streamable HTTP takes its statuses from the table (the row of a refusal, or the row of a reply\'s code)', async () => {
    expect(/\b(?:error|spec)\.http\b/.test(source), 'no code path reads ErrorSpec.http').toBe(true);
    const { httpStatusOfRpc } = await import('../../src/protocol/errors.js');
    for (const spec of Object.values(ERRORS)) expect(spec.http).toBeGreaterThanOrEqual(200);
    expect(httpStatusOfRpc(ERRORS.METHOD_NOT_FOUND.rpc)).toBe(404);
    expect(httpStatusOfRpc(ERRORS.HEADER_MISMATCH.rpc)).toBe(400);
    expect(httpStatusOfRpc(-31999)).toBe(200);
  });

  it('the gateway sends only codes of the table', async () => {
    const { GATEWAY_ERRORS } = await import('../../src/gateway/errors.js');
    const known = new Set<number>(Object.values(ERRORS).map((s) => s.rpc));
    for (const e of Object.values(GATEWAY_ERRORS)) expect(known).toContain(e.rpc);
  });
});
