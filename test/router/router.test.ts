import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpRouter } from '../../src/router/router.js';
import { ToolError } from '../../src/router/types.js';
import { RawClient, closeAll, startServer } from '../helpers.js';

afterAll(closeAll);

describe('initialize and version negotiation', () => {
  let url: string;
  beforeAll(async () => ({ url } = await startServer()));

  it.each(['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'])('accepts %s', async (v) => {
    const c = await RawClient.open(url);
    const r = await c.request('initialize', { protocolVersion: v, capabilities: {}, clientInfo: { name: 't', version: '1' } });
    expect(r.result.protocolVersion).toBe(v);
    expect(r.result.serverInfo.name).toBe('mcp-ws-demo');
    expect(r.result.capabilities).toMatchObject({ tools: { listChanged: true }, resources: { subscribe: true }, logging: {} });
    c.close();
  });

  it('answers an unknown version with the latest', async () => {
    const c = await RawClient.open(url);
    const r = await c.request('initialize', { protocolVersion: '1999-01-01', capabilities: {} });
    expect(r.result.protocolVersion).toBe('2025-11-25');
    c.close();
  });

  it('rejects initialize without protocolVersion (-32602) and a second initialize (-32600)', async () => {
    const c = await RawClient.open(url);
    expect((await c.request('initialize', {})).error.code).toBe(-32602);
    await c.request('initialize', { protocolVersion: '2025-11-25', capabilities: {} });
    expect((await c.request('initialize', { protocolVersion: '2025-11-25', capabilities: {} })).error.code).toBe(-32600);
    c.close();
  });
});

describe('tools', () => {
  let url: string;
  beforeAll(async () => ({ url } = await startServer()));

  it('lists the demo tools with their schemas', async () => {
    const c = await RawClient.session(url);
    const r = await c.request('tools/list');
    expect(r.result.tools.map((t: { name: string }) => t.name)).toEqual(['echo', 'add', 'sleep', 'ask', 'stream_text', 'increment']);
    expect(r.result.tools[0].inputSchema.required).toEqual(['text']);
    expect(r.result.nextCursor).toBeUndefined();
    c.close();
  });

  it('calls echo and add', async () => {
    const c = await RawClient.session(url);
    const e = await c.request('tools/call', { name: 'echo', arguments: { text: 'héllo' } });
    expect(e.result).toEqual({ content: [{ type: 'text', text: 'héllo' }] });
    const a = await c.request('tools/call', { name: 'add', arguments: { a: 2, b: 40 } });
    expect(a.result.structuredContent).toEqual({ sum: 42 });
    c.close();
  });

  it('returns invalid arguments as a tool result with isError (SEP-1303)', async () => {
    const c = await RawClient.session(url);
    const r = await c.request('tools/call', { name: 'add', arguments: { a: 'two', b: 1 } });
    expect(r.result.isError).toBe(true);
    expect(r.result.content[0].text).toMatch(/Invalid arguments for tool add: arguments\.a must be number/);
    const missing = await c.request('tools/call', { name: 'echo', arguments: {} });
    expect(missing.result.isError).toBe(true);
    c.close();
  });

  it('answers an unknown tool or a malformed call with -32602', async () => {
    const c = await RawClient.session(url);
    expect((await c.request('tools/call', { name: 'nope', arguments: {} })).error.code).toBe(-32602);
    expect((await c.request('tools/call', { arguments: {} })).error.code).toBe(-32602);
    expect((await c.request('tools/call', { name: 'echo', arguments: [1] })).error.code).toBe(-32602);
    c.close();
  });

  it('sends progress when the request carries a progressToken', async () => {
    const c = await RawClient.session(url);
    c.send({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 20 }, _meta: { progressToken: 'p1' } } });
    const seen: number[] = [];
    for (;;) {
      const m = await c.next();
      if (m.method === 'notifications/progress') {
        expect(m.params.progressToken).toBe('p1');
        expect(m.params.total).toBe(10);
        seen.push(m.params.progress);
        continue;
      }
      expect(m).toMatchObject({ id: 9, result: { content: [{ text: 'slept 20 ms' }] } });
      break;
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    c.close();
  });

  it('sends no progress without a progressToken', async () => {
    const c = await RawClient.session(url);
    const r = await c.request('tools/call', { name: 'sleep', arguments: { ms: 5 } });
    expect(r.id).toBe(1 + 1); // initialize took id 1; nothing came before this response
    c.close();
  });

  it('aborts a handler on notifications/cancelled and sends no reply for it', async () => {
    const c = await RawClient.session(url);
    c.send({ jsonrpc: '2.0', id: 'long', method: 'tools/call', params: { name: 'sleep', arguments: { ms: 30000 } } });
    c.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'long', reason: 'user' } });
    const r = await c.request('ping', undefined, 'after');
    expect(r.id).toBe('after');
    await c.expectSilence(100);
    c.close();
  });
});

describe('handlers that fail', () => {
  let url: string;
  beforeAll(async () => {
    const router = new McpRouter({ name: 'failing', version: '1' })
      .tool({ name: 'boom' }, () => {
        throw new Error('secret internal detail at /srv/app.js:10');
      })
      .tool({ name: 'boom-async' }, async () => {
        throw new Error('secret async detail');
      })
      .tool({ name: 'refuse' }, () => {
        throw new ToolError('cannot do that today');
      });
    ({ url } = await startServer({ handler: router }));
  });

  it('answers a throwing handler with -32603 and no detail', async () => {
    const c = await RawClient.session(url);
    for (const name of ['boom', 'boom-async']) {
      const r = await c.request('tools/call', { name, arguments: {} });
      expect(r.error).toEqual({ code: -32603, message: 'Internal error' });
      expect(JSON.stringify(r)).not.toMatch(/secret|stack|\.js/);
    }
    c.close();
  });

  it('turns ToolError into an isError result', async () => {
    const c = await RawClient.session(url);
    const r = await c.request('tools/call', { name: 'refuse', arguments: {} });
    expect(r.result).toEqual({ content: [{ type: 'text', text: 'cannot do that today' }], isError: true });
    c.close();
  });
});

describe('resources, prompts, logging', () => {
  let url: string;
  let router: McpRouter;
  beforeAll(async () => {
    const { createDemoRouter } = await import('../../src/demo/demo-router.js');
    router = createDemoRouter();
    ({ url } = await startServer({ handler: router }));
  });

  it('lists and reads resources and templates', async () => {
    const c = await RawClient.session(url);
    expect((await c.request('resources/list')).result.resources[0].uri).toBe('demo://readme');
    expect((await c.request('resources/templates/list')).result.resourceTemplates[0].uriTemplate).toBe('demo://greeting/{name}');
    const r = await c.request('resources/read', { uri: 'demo://readme' });
    expect(r.result.contents[0]).toMatchObject({ uri: 'demo://readme', mimeType: 'text/markdown' });
    const g = await c.request('resources/read', { uri: 'demo://greeting/Ada%20L' });
    expect(g.result.contents[0].text).toBe('Hello, Ada L!');
    const missing = await c.request('resources/read', { uri: 'demo://nothing' });
    expect(missing.error).toMatchObject({ code: -32002, data: { uri: 'demo://nothing' } });
    c.close();
  });

  it('notifies subscribers of resource updates, and only them', async () => {
    const a = await RawClient.session(url);
    const b = await RawClient.session(url);
    await a.request('resources/subscribe', { uri: 'demo://readme' });
    router.notifyResourceUpdated('demo://readme');
    expect(await a.next()).toEqual({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'demo://readme' } });
    await b.expectSilence(50);
    await a.request('resources/unsubscribe', { uri: 'demo://readme' });
    router.notifyResourceUpdated('demo://readme');
    await a.expectSilence(50);
    a.close();
    b.close();
  });

  it('bounds a session\'s subscriptions: at most 1024 URIs, none longer than 8192 characters; unsubscribing makes room', async () => {
    const c = await RawClient.session(url);
    const replies = await Promise.all(Array.from({ length: 1025 }, (_, i) => c.request('resources/subscribe', { uri: `demo://many/${i}` })));
    expect(replies.slice(0, 1024).every((r) => r.result !== undefined)).toBe(true);
    expect(replies[1024].error).toMatchObject({ code: -32602, message: expect.stringMatching(/at most 1024 subscriptions/) });
    expect((await c.request('resources/subscribe', { uri: 'demo://many/7' })).result).toEqual({});
    expect((await c.request('resources/unsubscribe', { uri: 'demo://many/0' })).result).toEqual({});
    expect((await c.request('resources/subscribe', { uri: 'demo://many/new' })).result).toEqual({});
    expect((await c.request('resources/unsubscribe', { uri: 'demo://many/1' })).result).toEqual({});
    expect((await c.request('resources/subscribe', { uri: `demo://${'x'.repeat(8200)}` })).error).toMatchObject({ code: -32602, message: expect.stringMatching(/longer than 8192/) });
    c.close();
  });

  it('gets prompts and checks required arguments', async () => {
    const c = await RawClient.session(url);
    expect((await c.request('prompts/list')).result.prompts[0].name).toBe('summarize');
    const p = await c.request('prompts/get', { name: 'summarize', arguments: { text: 'abc' } });
    expect(p.result.messages[0]).toMatchObject({ role: 'user', content: { type: 'text' } });
    expect((await c.request('prompts/get', { name: 'summarize', arguments: {} })).error.code).toBe(-32602);
    expect((await c.request('prompts/get', { name: 'summarize', arguments: { text: 5 } })).error.code).toBe(-32602);
    expect((await c.request('prompts/get', { name: 'nope' })).error.code).toBe(-32602);
    c.close();
  });

  it('validates logging/setLevel', async () => {
    const c = await RawClient.session(url);
    expect((await c.request('logging/setLevel', { level: 'debug' })).result).toEqual({});
    expect((await c.request('logging/setLevel', { level: 'loud' })).error.code).toBe(-32602);
    c.close();
  });
});

describe('registry changes and pagination', () => {
  it('sends list_changed to initialized sessions, coalesced, and pages lists with cursors', async () => {
    const router = new McpRouter({ name: 'paged', version: '1', pageSize: 2 });
    for (let i = 0; i < 5; i++) router.tool({ name: `t${i}` }, () => String(i));
    const { url } = await startServer({ handler: router });
    const c = await RawClient.session(url);
    const names: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const r = await c.request('tools/list', cursor === undefined ? {} : { cursor });
      names.push(...r.result.tools.map((t: { name: string }) => t.name));
      cursor = r.result.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 10);
    expect(names).toEqual(['t0', 't1', 't2', 't3', 't4']);
    expect(pages).toBe(3);
    expect((await c.request('tools/list', { cursor: '!!!' })).error.code).toBe(-32602);

    router.tool({ name: 'late' }, () => 'x');
    router.removeTool('t0');
    expect(await c.next()).toEqual({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    await c.expectSilence(50);
    const first = await c.request('tools/list');
    expect(first.result.tools.map((t: { name: string }) => t.name)).toEqual(['t1', 't2']);
    c.close();
  });

  it('rejects a tool with an invalid schema at registration', () => {
    const router = new McpRouter({ name: 'x', version: '1' });
    expect(() => router.tool({ name: 'bad', inputSchema: { type: 'nonsense' } }, () => '')).toThrow(/tool "bad": inputSchema/);
  });
});

describe('session isolation', () => {
  it('cancelling or failing in one session leaves another untouched', async () => {
    const { url } = await startServer();
    const a = await RawClient.session(url);
    const b = await RawClient.session(url);
    b.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 30 } } });
    a.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } });
    a.send('garbage');
    await a.next();
    const r = await b.nextResponse();
    expect(r.result.content[0].text).toBe('slept 30 ms');
    a.close();
    b.close();
  });
});
