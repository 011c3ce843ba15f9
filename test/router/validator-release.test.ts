import { describe, expect, it } from 'vitest';
import { McpRouter } from '../../src/router/router.js';
import { compiledSchemaCount } from '../../src/router/schema.js';

/** A fresh schema object each time, as a module that rebuilds its tools would make. */
function schema(i: number, id?: string): Record<string, unknown> {
  const s: Record<string, unknown> = {
    type: 'object',
    properties: { n: { type: 'integer', minimum: i % 7 } },
    required: ['n'],
  };
  if (id !== undefined) s.$id = id;
  return s;
}

describe('tool argument validators are released with their tool', () => {
  it('keeps the compiled-schema count constant over 10,000 replacements of one tool', () => {
    const router = new McpRouter({ name: 't', version: '1' });
    router.tool({ name: 'x', inputSchema: schema(0) }, () => 'ok');
    const before = compiledSchemaCount();
    for (let i = 1; i <= 10_000; i++) router.tool({ name: 'x', inputSchema: schema(i) }, () => 'ok');
    expect(compiledSchemaCount()).toBe(before);
  }, 120_000);

  it('releases the validator when the tool is removed', () => {
    const router = new McpRouter({ name: 't', version: '1' });
    const before = compiledSchemaCount();
    for (let i = 0; i < 1000; i++) {
      router.tool({ name: `t${i}`, inputSchema: schema(i) }, () => 'ok');
    }
    expect(compiledSchemaCount()).toBe(before + 1000);
    for (let i = 0; i < 1000; i++) expect(router.removeTool(`t${i}`)).toBe(true);
    expect(compiledSchemaCount()).toBe(before);
  });

  it('replaces a tool whose schema carries an $id, and the new schema is the one enforced', () => {
    const router = new McpRouter({ name: 't', version: '1' });
    const id = 'urn:mcp-ws-test:replace-with-id';
    router.tool({ name: 'x', inputSchema: schema(0, id) }, () => 'ok');
    expect(() =>
      router.tool({ name: 'x', inputSchema: { $id: id, type: 'object', required: ['m'] } }, () => 'ok'),
    ).not.toThrow();
    const validate = router.getTool('x')!.validate;
    expect(validate({ m: 1 })).toBeNull();
    expect(validate({ n: 1 })).toMatch(/m/);
    router.removeTool('x');
    // The $id is free again for a new tool.
    expect(() => router.tool({ name: 'y', inputSchema: schema(1, id) }, () => 'ok')).not.toThrow();
  });

  it('keeps the old tool when the new schema is invalid', () => {
    const router = new McpRouter({ name: 't', version: '1' });
    router.tool({ name: 'x', inputSchema: schema(3) }, () => 'ok');
    const before = compiledSchemaCount();
    expect(() => router.tool({ name: 'x', inputSchema: { type: 'no-such-type' } }, () => 'ok')).toThrow(/inputSchema/);
    expect(router.getTool('x')!.validate({ n: 5 })).toBeNull();
    expect(router.getTool('x')!.validate({ n: 1 })).not.toBeNull();
    expect(compiledSchemaCount()).toBe(before);
  });
});

describe('a schema $id belongs to one live tool', () => {
  it('refuses a second tool with the same $id without disturbing the first', () => {
    const router = new McpRouter({ name: 't', version: '1' });
    const id = 'urn:mcp-ws-test:shared-id';
    router.tool({ name: 'first', inputSchema: schema(0, id) }, () => 'ok');
    expect(() => router.tool({ name: 'second', inputSchema: schema(1, id) }, () => 'ok')).toThrow(/second.*already/);
    expect(router.getTool('second')).toBeUndefined();
    // The first still owns the $id: a third tool with it is refused too.
    expect(() => router.tool({ name: 'third', inputSchema: schema(2, id) }, () => 'ok')).toThrow(/third.*already/);
    // Once the first is gone, the $id is free.
    router.removeTool('first');
    expect(() => router.tool({ name: 'third', inputSchema: schema(2, id) }, () => 'ok')).not.toThrow();
  });
});
