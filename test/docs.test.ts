import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../src/protocol/errors.js';
import { CLOSE_CODE_TABLE, CloseCode } from '../src/protocol/close-codes.js';

const protocolDoc = readFileSync(new URL('../docs/PROTOCOL.md', import.meta.url), 'utf8');

describe('docs/PROTOCOL.md stays in step with the code', () => {
  it.each(Object.entries(ERRORS))('documents error %s with its JSON-RPC code', (name, spec) => {
    expect(protocolDoc).toContain(`| ${spec.rpc} | ${name} |`);
  });

  it.each(CLOSE_CODE_TABLE)('documents close code $code ($name)', (row) => {
    const line = protocolDoc.split('\n').find((l) => l.startsWith(`| ${row.code} | ${row.name} |`));
    expect(line, `row for ${row.code}`).toBeDefined();
    expect(line).toContain(row.reconnect ? '| yes |' : '| no |');
  });

  it('has a table row for every CloseCode constant', () => {
    expect(CLOSE_CODE_TABLE.map((r) => r.code).sort()).toEqual(Object.values(CloseCode).sort());
  });
});
