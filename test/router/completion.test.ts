/**
 * completion/complete in the native router, both eras, over real sockets.
 * Hostile cases first: what a client can send, what a handler can do wrong.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpRouter } from '../../src/router/router.js';
import { RpcError } from '../../src/protocol/errors.js';
import { RawClient, closeAll, startServer } from '../helpers.js';

afterAll(closeAll);

const V = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': {} };
const PROMPT = { type: 'ref/prompt', name: 'greet' } as const;
const TEMPLATE = { type: 'ref/resource', uri: 'demo://notes/{id}' } as const;

function router(): McpRouter {
  const r = new McpRouter({ name: 'completion-test', version: '1' });
  r.prompt({ name: 'greet', arguments: [{ name: 'language' }, { name: 'tone' }] }, () => 'hi');
  r.resourceTemplate({ uriTemplate: 'demo://notes/{id}', name: 'notes' }, (uri) => uri);
  return r;
}

describe('completion/complete: a router without completions', () => {
  it('answers -32601 in both eras and advertises no completions capability', async () => {
    const { url } = await startServer({ handler: router() });
    const c = await RawClient.session(url);
    expect((await c.request('completion/complete', { ref: PROMPT, argument: { name: 'language', value: 'e' } })).error.code).toBe(-32601);
    expect((await c.request('completion/complete', { ref: PROMPT, argument: { name: 'language', value: 'e' }, _meta: META })).error.code).toBe(-32601);
    const d = await RawClient.open(url);
    const init = await d.request('initialize', { protocolVersion: '2025-11-25', capabilities: {} });
    expect(init.result.capabilities.completions).toBeUndefined();
    expect((await d.request('server/discover', { _meta: META })).result.capabilities.completions).toBeUndefined();
    c.close();
    d.close();
  });
});

describe('completion/complete: hostile input', () => {
  let url: string;
  const seen: string[] = [];
  beforeAll(async () => {
    const r = router();
    r.completion(PROMPT, 'language', (value, context) => {
      seen.push(JSON.stringify(context.arguments));
      return ['english', 'esperanto', 'estonian'].filter((l) => l.startsWith(value));
    });
    r.completion(PROMPT, 'tone', () => Array.from({ length: 250 }, (_, i) => `tone-${i}`));
    r.completion(TEMPLATE, 'id', (value) => {
      if (value === 'boom') throw new Error('secret detail of the notes store');
      if (value === 'junk') return { values: [1, 2] } as never;
      if (value === 'denied') throw new RpcError(-32602, 'Invalid params: no such notebook');
      return { values: [`${value}1`, `${value}2`], total: 40, hasMore: true };
    });
    ({ url } = await startServer({ handler: r }));
  });

  it('refuses malformed params with -32602, and a ref that names nothing served', async () => {
    const c = await RawClient.session(url);
    const bad: unknown[] = [
      undefined,
      {},
      { ref: PROMPT },
      { ref: 'greet', argument: { name: 'language', value: 'e' } },
      { ref: PROMPT, argument: { name: 'language' } },
      { ref: PROMPT, argument: { name: 'language', value: 42 } },
      { ref: PROMPT, argument: ['language', 'e'] },
      { ref: { type: 'ref/tool', name: 'greet' }, argument: { name: 'language', value: 'e' } },
      { ref: { type: 'ref/prompt', name: 'nope' }, argument: { name: 'language', value: 'e' } },
      { ref: { type: 'ref/resource', uri: 'demo://other/{id}' }, argument: { name: 'id', value: '1' } },
      { ref: PROMPT, argument: { name: 'language', value: 'e' }, context: { arguments: { tone: 7 } } },
      { ref: PROMPT, argument: { name: 'language', value: 'e' }, context: { arguments: ['x'] } },
    ];
    for (const params of bad) {
      const r = await c.request('completion/complete', params);
      expect(r.error?.code, JSON.stringify(params)).toBe(-32602);
    }
    // A prompt name of 100 KB is not echoed back whole.
    const long = await c.request('completion/complete', { ref: { type: 'ref/prompt', name: 'x'.repeat(100_000) }, argument: { name: 'a', value: '' } });
    expect(long.error.code).toBe(-32602);
    expect(long.error.message.length).toBeLessThanOrEqual(300);
    c.close();
  });

  it('a handler that throws answers -32603 without its detail; one returning junk too; an RpcError passes through', async () => {
    const c = await RawClient.session(url);
    const boom = await c.request('completion/complete', { ref: TEMPLATE, argument: { name: 'id', value: 'boom' } });
    expect(boom.error.code).toBe(-32603);
    expect(JSON.stringify(boom)).not.toMatch(/secret/);
    expect((await c.request('completion/complete', { ref: TEMPLATE, argument: { name: 'id', value: 'junk' } })).error.code).toBe(-32603);
    const denied = await c.request('completion/complete', { ref: TEMPLATE, argument: { name: 'id', value: 'denied' } });
    expect(denied.error).toMatchObject({ code: -32602, message: 'Invalid params: no such notebook' });
    // The session goes on.
    expect((await c.request('ping')).result).toEqual({});
    c.close();
  });

  it('sends at most 100 values, saying how many there were', async () => {
    const c = await RawClient.session(url);
    const r = await c.request('completion/complete', { ref: PROMPT, argument: { name: 'tone', value: '' } });
    expect(r.result.completion.values).toHaveLength(100);
    expect(r.result.completion).toMatchObject({ total: 250, hasMore: true });
    c.close();
  });
});

describe('completion/complete: both eras', () => {
  let url: string;
  let r: McpRouter;
  beforeAll(async () => {
    r = router();
    ({ url } = await startServer({ handler: r }));
  });

  it('advertises completions once one is registered (initialize and server/discover), and completes in a legacy session', async () => {
    const c = await RawClient.open(url);
    // server/discover is cached: registering the first completion must refresh it.
    expect((await c.request('server/discover', { _meta: META })).result.capabilities.completions).toBeUndefined();
    r.completion(PROMPT, 'language', (value, context) => ['english', 'esperanto', 'french'].filter((l) => l.startsWith(value) && l !== context.arguments.tone));
    r.completion(TEMPLATE, 'id', async (value) => ['1', '12', '2'].filter((id) => id.startsWith(value)));
    expect((await c.request('server/discover', { _meta: META })).result.capabilities.completions).toEqual({});
    const init = await c.request('initialize', { protocolVersion: '2025-11-25', capabilities: {} });
    expect(init.result.capabilities.completions).toEqual({});
    const lang = await c.request('completion/complete', { ref: PROMPT, argument: { name: 'language', value: 'e' } });
    expect(lang.result).toEqual({ completion: { values: ['english', 'esperanto'], total: 2, hasMore: false } });
    const ctx = await c.request('completion/complete', { ref: PROMPT, argument: { name: 'language', value: 'e' }, context: { arguments: { tone: 'english' } } });
    expect(ctx.result.completion.values).toEqual(['esperanto']);
    const id = await c.request('completion/complete', { ref: TEMPLATE, argument: { name: 'id', value: '1' } });
    expect(id.result.completion.values).toEqual(['1', '12']);
    // A known prompt argument nobody completes: no suggestions, not an error.
    const none = await c.request('completion/complete', { ref: PROMPT, argument: { name: 'tone', value: 'x' } });
    expect(none.result).toEqual({ completion: { values: [], hasMore: false } });
    c.close();
  });

  it('2026-07-28: the same result with resultType and serverInfo; removing the last completion withdraws the capability', async () => {
    const c = await RawClient.open(url);
    const r2 = await c.request('completion/complete', { ref: TEMPLATE, argument: { name: 'id', value: '2' }, _meta: META });
    expect(r2.result).toMatchObject({ resultType: 'complete', completion: { values: ['2'], total: 1, hasMore: false } });
    expect(r2.result._meta['io.modelcontextprotocol/serverInfo'].name).toBe('completion-test');
    expect(r.removeCompletion(PROMPT, 'language')).toBe(true);
    expect(r.removeCompletion(TEMPLATE, 'id')).toBe(true);
    expect(r.removeCompletion(TEMPLATE, 'id')).toBe(false);
    expect((await c.request('server/discover', { _meta: META })).result.capabilities.completions).toBeUndefined();
    expect((await c.request('completion/complete', { ref: TEMPLATE, argument: { name: 'id', value: '2' }, _meta: META })).error.code).toBe(-32601);
    c.close();
  });

  it('a completion handler cannot answer input_required (only tools/call, prompts/get, resources/read may)', async () => {
    const local = router();
    local.completion(PROMPT, 'language', async (_value, _context, ctx) => {
      await ctx.requireInput({ x: { method: 'roots/list' } });
      return [];
    });
    const { url: u } = await startServer({ handler: local });
    const c = await RawClient.open(u);
    const res = await c.request('completion/complete', {
      ref: PROMPT,
      argument: { name: 'language', value: '' },
      _meta: { ...META, 'io.modelcontextprotocol/clientCapabilities': { roots: {} } },
    });
    expect(res.result).toBeUndefined();
    expect(res.error.code).toBe(-32603);
    c.close();
  });

  it('refuses a malformed registration', () => {
    const local = router();
    expect(() => local.completion({ type: 'ref/tool', name: 'x' } as never, 'a', () => [])).toThrow(TypeError);
    expect(() => local.completion(PROMPT, '', () => [])).toThrow(TypeError);
    expect(() => local.completion(PROMPT, 'a', 'nope' as never)).toThrow(TypeError);
  });
});
