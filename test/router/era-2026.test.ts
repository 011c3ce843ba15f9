/**
 * MCP 2026-07-28 (stateless, `_meta` per request) beside legacy sessions in
 * the native router, over real sockets. Hostile cases first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpRouter } from '../../src/router/router.js';
import { LOG_LEVELS } from '../../src/router/log-levels.js';
import { RpcError } from '../../src/protocol/errors.js';
import { RawClient, closeAll, startServer } from '../helpers.js';

afterAll(closeAll);

const V = '2026-07-28';
const PV = 'io.modelcontextprotocol/protocolVersion';
const CAPS = 'io.modelcontextprotocol/clientCapabilities';
const INFO = 'io.modelcontextprotocol/clientInfo';
const SUB = 'io.modelcontextprotocol/subscriptionId';
const SERVER_INFO = 'io.modelcontextprotocol/serverInfo';

function meta(extra: Record<string, unknown> = {}, caps: Record<string, unknown> = {}): Record<string, unknown> {
  return { [PV]: V, [CAPS]: caps, [INFO]: { name: 'era-test', version: '1' }, ...extra };
}

/** Messages up to and including the response to `id`. */
async function until(c: RawClient, id: number | string): Promise<{ notes: any[]; reply: any }> {
  const notes: any[] = [];
  for (;;) {
    const m = await c.next();
    if ('id' in m && m.id === id && !('method' in m)) return { notes, reply: m };
    notes.push(m);
  }
}

describe('2026-07-28: bad _meta', () => {
  let url: string;
  beforeAll(async () => ({ url } = await startServer()));

  it('answers a request whose _meta lacks the version, or has it of the wrong type, with -32602', async () => {
    const c = await RawClient.open(url);
    const noVersion = await c.request('tools/list', { _meta: { [CAPS]: {} } });
    expect(noVersion.error.code).toBe(-32602);
    expect(noVersion.error.message).toMatch(/protocolVersion/);
    expect((await c.request('tools/list', { _meta: { [PV]: 20260728, [CAPS]: {} } })).error.code).toBe(-32602);
    expect((await c.request('tools/list', { _meta: { [PV]: V } })).error.code).toBe(-32602); // capabilities required
    expect((await c.request('tools/list', { _meta: { [PV]: V, [CAPS]: [] } })).error.code).toBe(-32602);
    expect((await c.request('tools/list', { _meta: { [PV]: V, [CAPS]: {}, [INFO]: 'me' } })).error.code).toBe(-32602);
    expect((await c.request('tools/list', { _meta: meta({ 'io.modelcontextprotocol/logLevel': 'loud' }) })).error.code).toBe(-32602);
    c.close();
  });

  it('answers an unknown version, or a legacy one named per request, with -32022 listing what it supports', async () => {
    const c = await RawClient.open(url);
    for (const requested of ['1900-01-01', '2025-11-25']) {
      const r = await c.request('tools/call', { name: 'echo', arguments: { text: 'x' }, _meta: meta({ [PV]: requested }) });
      expect(r.error.code).toBe(-32022);
      expect(r.error.message).toBe('Unsupported protocol version');
      expect(r.error.data).toEqual({ supported: ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'], requested });
    }
    const long = await c.request('tools/list', { _meta: meta({ [PV]: 'x'.repeat(10_000) }) });
    expect(long.error.data.requested).toHaveLength(64);
    c.close();
  });

  it('treats a _meta without the per-request keys (or not an object) as legacy: -32011 before initialize', async () => {
    const c = await RawClient.open(url);
    for (const m of ['2026-07-28', [V], null, { progressToken: 1 }]) {
      expect((await c.request('tools/list', { _meta: m })).error.code).toBe(-32011);
    }
    c.close();
  });

  it('reads __proto__ keys as plain keys: no era from a prototype, no capability from one, no pollution', async () => {
    const c = await RawClient.open(url);
    c.send(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"__proto__":{"${PV}":"${V}","${CAPS}":{}}}}}`);
    expect((await c.next()).error.code).toBe(-32011);
    c.send(
      `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask","arguments":{"question":"?"},` +
        `"_meta":{"${PV}":"${V}","${CAPS}":{"__proto__":{"elicitation":{}}},"__proto__":{"polluted":true}}}}`,
    );
    const r = await c.next();
    expect(r.error.code).toBe(-32021);
    expect(r.error.data).toEqual({ requiredCapabilities: { elicitation: {} } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).elicitation).toBeUndefined();
    c.close();
  });

  it('refuses methods this era removed (ping, logging/setLevel, initialize, resources/subscribe) with -32601', async () => {
    const c = await RawClient.open(url);
    for (const method of ['ping', 'logging/setLevel', 'initialize', 'resources/subscribe', 'nope/nope']) {
      const r = await c.request(method, { level: 'debug', uri: 'demo://readme', protocolVersion: '2025-11-25', _meta: meta() });
      expect(r.error.code, method).toBe(-32601);
    }
    c.close();
  });

  it('refuses malformed MRTR retry fields with -32602', async () => {
    const c = await RawClient.open(url);
    const p = { name: 'echo', arguments: { text: 'x' }, _meta: meta() };
    expect((await c.request('tools/call', { ...p, inputResponses: 'yes' })).error.code).toBe(-32602);
    expect((await c.request('tools/call', { ...p, inputResponses: [1] })).error.code).toBe(-32602);
    expect((await c.request('tools/call', { ...p, requestState: { a: 1 } })).error.code).toBe(-32602);
    c.close();
  });
});

describe('2026-07-28: stateless requests', () => {
  let url: string;
  beforeAll(async () => ({ url } = await startServer()));

  it('serves tools/call with no initialize: resultType and serverInfo in _meta', async () => {
    const c = await RawClient.open(url);
    const r = await c.request('tools/call', { name: 'add', arguments: { a: 2, b: 40 }, _meta: meta() });
    expect(r.result).toEqual({
      resultType: 'complete',
      _meta: { [SERVER_INFO]: { name: 'mcp-ws-demo', version: '0.1.0', title: 'mcp-ws demo server' } },
      content: [{ type: 'text', text: '42' }],
      structuredContent: { sum: 42 },
    });
    const bad = await c.request('tools/call', { name: 'add', arguments: { a: 'two', b: 1 }, _meta: meta() });
    expect(bad.result).toMatchObject({ resultType: 'complete', isError: true });
    c.close();
  });

  it('answers server/discover with versions, capabilities, instructions, cache hints and serverInfo', async () => {
    const c = await RawClient.open(url);
    const r = await c.request('server/discover', { _meta: meta() });
    expect(r.result).toMatchObject({
      resultType: 'complete',
      supportedVersions: ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'],
      capabilities: { tools: { listChanged: true }, resources: { listChanged: true }, prompts: { listChanged: true }, logging: {} },
      instructions: expect.stringContaining('ask {question}'),
      ttlMs: 0,
      cacheScope: 'private',
      _meta: { [SERVER_INFO]: { name: 'mcp-ws-demo' } },
    });
    c.close();
  });

  it('puts resultType and cache hints on lists and reads; an unknown resource is -32602 (this era retired -32002)', async () => {
    const c = await RawClient.open(url);
    for (const [method, key] of [
      ['tools/list', 'tools'],
      ['resources/list', 'resources'],
      ['resources/templates/list', 'resourceTemplates'],
      ['prompts/list', 'prompts'],
    ] as const) {
      const r = await c.request(method, { _meta: meta() });
      expect(r.result, method).toMatchObject({ resultType: 'complete', ttlMs: 0, cacheScope: 'private', _meta: { [SERVER_INFO]: { name: 'mcp-ws-demo' } } });
      expect(Array.isArray(r.result[key])).toBe(true);
    }
    const read = await c.request('resources/read', { uri: 'demo://greeting/ada', _meta: meta() });
    expect(read.result).toMatchObject({ resultType: 'complete', ttlMs: 0, cacheScope: 'private', contents: [{ text: 'Hello, ada!' }] });
    const missing = await c.request('resources/read', { uri: 'demo://nothing', _meta: meta() });
    expect(missing.error).toMatchObject({ code: -32602, data: { uri: 'demo://nothing' } });
    const prompt = await c.request('prompts/get', { name: 'summarize', arguments: { text: 'abc' }, _meta: meta() });
    expect(prompt.result.resultType).toBe('complete');
    c.close();
  });

  it('takes cache hints from the router options and setCacheHint, and checks them', async () => {
    const router = new McpRouter({ name: 'cache', version: '1', cacheHints: { tools: { ttlMs: 60_000, cacheScope: 'public' } } });
    router.tool({ name: 't' }, () => 'x');
    router.resource({ uri: 'x://own', name: 'own' }, () => ({ contents: [{ uri: 'x://own', text: 'o' }], ttlMs: 5, cacheScope: 'public' }) as never);
    router.setCacheHint('discover', { ttlMs: 3_600_000, cacheScope: 'public' });
    expect(() => router.setCacheHint('tools', { ttlMs: -1, cacheScope: 'public' })).toThrow(/cacheHints\.tools should be/);
    expect(() => new McpRouter({ name: 'n', version: '1', cacheHints: { read: { ttlMs: 1, cacheScope: 'shared' as never } } })).toThrow(/cacheHints\.read/);
    const { url: u } = await startServer({ handler: router });
    const c = await RawClient.open(u);
    expect((await c.request('tools/list', { _meta: meta() })).result).toMatchObject({ ttlMs: 60_000, cacheScope: 'public' });
    expect((await c.request('server/discover', { _meta: meta() })).result).toMatchObject({ ttlMs: 3_600_000, cacheScope: 'public' });
    expect((await c.request('resources/read', { uri: 'x://own', _meta: meta() })).result).toMatchObject({ ttlMs: 5, cacheScope: 'public' });
    c.close();
  });

  it('serves both eras on one socket, each request by its own era (the spec lets a dual-era server do so)', async () => {
    const c = await RawClient.session(url); // legacy session, no elicitation capability
    const legacy = await c.request('tools/call', { name: 'echo', arguments: { text: 'a' } });
    expect(legacy.result).toEqual({ content: [{ type: 'text', text: 'a' }] });
    const modern = await c.request('tools/call', { name: 'echo', arguments: { text: 'b' }, _meta: meta() });
    expect(modern.result.resultType).toBe('complete');
    // The modern request's capabilities come from its _meta, not from the session's initialize.
    const ask = await c.request('tools/call', { name: 'ask', arguments: { question: 'q?' }, _meta: meta({}, { elicitation: {} }) });
    expect(ask.result.resultType).toBe('input_required');
    // And the legacy session is untouched: ping still works there, not in the modern era.
    expect((await c.request('ping')).result).toEqual({});
    expect((await c.request('ping', { _meta: meta() })).error.code).toBe(-32601);
    c.close();
  });

  it('passes traceparent, tracestate and baggage to handlers; ignores ones that are not strings', async () => {
    const router = new McpRouter({ name: 'trace', version: '1' });
    router.tool({ name: 'trace' }, (_a, ctx) => ({ trace: ctx.trace ?? null, era: ctx.era, version: ctx.protocolVersion, client: ctx.clientInfo }));
    const { url: u } = await startServer({ handler: router });
    const c = await RawClient.open(u);
    const tp = '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01';
    const r = await c.request('tools/call', { name: 'trace', _meta: meta({ traceparent: tp, tracestate: 'a=1', baggage: 7 }) });
    expect(r.result.structuredContent).toEqual({ trace: { traceparent: tp, tracestate: 'a=1' }, era: 'modern', version: V, client: { name: 'era-test', version: '1' } });
    c.close();
  });
});

describe('2026-07-28: per-request log level', () => {
  let url: string;
  beforeAll(async () => {
    const router = new McpRouter({ name: 'logs', version: '1' });
    router.tool({ name: 'chatty' }, (_a, ctx) => {
      for (const level of LOG_LEVELS) ctx.log(level, `at ${level}`);
      return 'done';
    });
    ({ url } = await startServer({ handler: router }));
  });

  it('sends no notifications/message when the request set no level', async () => {
    const c = await RawClient.open(url);
    c.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'chatty', _meta: meta() } });
    const { notes, reply } = await until(c, 1);
    expect(notes).toEqual([]);
    expect(reply.result.content[0].text).toBe('done');
    c.close();
  });

  it("sends those at or above the request's level, and that level governs only its own request", async () => {
    const c = await RawClient.session(url);
    c.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'chatty', _meta: meta({ 'io.modelcontextprotocol/logLevel': 'error' }) } });
    const first = await until(c, 1);
    expect(first.notes.map((n) => n.params.level)).toEqual(['error', 'critical', 'alert', 'emergency']);
    c.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'chatty', _meta: meta({ 'io.modelcontextprotocol/logLevel': 'debug' }) } });
    expect((await until(c, 2)).notes).toHaveLength(8);
    // The legacy session on the same socket keeps its own level (default info).
    c.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'chatty' } });
    expect((await until(c, 3)).notes.map((n) => n.params.level)[0]).toBe('info');
    c.close();
  });
});

describe('2026-07-28: subscriptions/listen', () => {
  let url: string;
  let router: McpRouter;
  beforeAll(async () => {
    router = new McpRouter({ name: 'listen', version: '1', maxListensPerSession: 3 });
    router.tool({ name: 'a' }, () => 'a');
    router.prompt({ name: 'p' }, () => 'p');
    ({ url } = await startServer({ handler: router }));
  });

  it('acknowledges first, then delivers only what was asked, each tagged with the listen id', async () => {
    const c = await RawClient.open(url);
    c.send({ jsonrpc: '2.0', id: 'L1', method: 'subscriptions/listen', params: { _meta: meta(), notifications: { toolsListChanged: true, resourceSubscriptions: ['x://1', 'x://1'] } } });
    const ack = await c.next();
    expect(ack).toEqual({
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { _meta: { [SUB]: 'L1' }, notifications: { toolsListChanged: true, resourceSubscriptions: ['x://1'] } },
    });
    router.prompt({ name: 'p2' }, () => 'p'); // not asked for
    router.tool({ name: 'b' }, () => 'b');
    expect(await c.next()).toEqual({ jsonrpc: '2.0', method: 'notifications/tools/list_changed', params: { _meta: { [SUB]: 'L1' } } });
    router.notifyResourceUpdated('x://2');
    router.notifyResourceUpdated('x://1');
    expect(await c.next()).toEqual({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { _meta: { [SUB]: 'L1' }, uri: 'x://1' } });
    c.close();
  });

  it('ends on notifications/cancelled with no response and no further notifications', async () => {
    const c = await RawClient.open(url);
    c.send({ jsonrpc: '2.0', id: 7, method: 'subscriptions/listen', params: { _meta: meta(), notifications: { toolsListChanged: true } } });
    await c.next();
    expect(router.listenCount).toBe(1);
    c.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7 } });
    // The socket still answers, in order: the cancel was handled before this request.
    expect((await c.request('tools/list', { _meta: meta() })).result.resultType).toBe('complete');
    expect(router.listenCount).toBe(0);
    router.tool({ name: 'c' }, () => 'c');
    await c.expectSilence(50);
    c.close();
  });

  it('refuses a flood of listens past maxListensPerSession (-32600, data.limit) without storing them, and frees them at close', async () => {
    const c = await RawClient.open(url);
    for (let i = 0; i < 3; i++) {
      c.send({ jsonrpc: '2.0', id: i, method: 'subscriptions/listen', params: { _meta: meta(), notifications: {} } });
      expect((await c.next()).method).toBe('notifications/subscriptions/acknowledged');
    }
    for (let i = 3; i < 50; i++) {
      const r = await c.request('subscriptions/listen', { _meta: meta(), notifications: { toolsListChanged: true } }, i);
      expect(r.error).toMatchObject({ code: -32600, data: { limit: 3 } });
    }
    expect(router.listenCount).toBe(3);
    const dup = await c.request('subscriptions/listen', { _meta: meta(), notifications: {} }, 0);
    expect(dup.error.code).toBe(-32600);
    c.close();
    await c.closed;
    await expect.poll(() => router.listenCount).toBe(0);
  });

  it('refuses a malformed filter with -32602', async () => {
    const c = await RawClient.open(url);
    for (const notifications of [undefined, 'all', { toolsListChanged: 'yes' }, { resourceSubscriptions: 'x://1' }, { resourceSubscriptions: [1] }, { resourceSubscriptions: Array(1001).fill('u') }]) {
      const r = await c.request('subscriptions/listen', { _meta: meta(), notifications });
      expect(r.error.code, JSON.stringify(notifications)?.slice(0, 40)).toBe(-32602);
    }
    expect(router.listenCount).toBe(0);
    c.close();
  });
});

describe('2026-07-28: listen on a draining server', () => {
  it('ends open listens with a complete result carrying the subscription id, then closes with 1001', async () => {
    const { server, url } = await startServer({ drainTimeoutMs: 60_000 });
    const c = await RawClient.open(url);
    c.send({ jsonrpc: '2.0', id: 'drain-me', method: 'subscriptions/listen', params: { _meta: meta(), notifications: { toolsListChanged: true } } });
    await c.next();
    const closing = server.close();
    const end = await c.next();
    expect(end).toEqual({
      jsonrpc: '2.0',
      id: 'drain-me',
      result: { resultType: 'complete', _meta: { [SERVER_INFO]: expect.objectContaining({ name: 'mcp-ws-demo' }), [SUB]: 'drain-me' } },
    });
    expect((await c.closed).code).toBe(1001);
    await closing;
  });
});

describe('MRTR (input required) in both eras', () => {
  let url: string;
  let seen: unknown[];
  beforeAll(async () => {
    seen = [];
    const router = new McpRouter({ name: 'mrtr', version: '1', inputTimeoutMs: 300 });
    router.tool({ name: 'stateful' }, async (_a, ctx) => {
      const step = ctx.requestState === undefined ? 1 : Number(ctx.requestState);
      const { name } = await ctx.requireInput(
        { name: { method: 'elicitation/create', params: { message: 'name?', requestedSchema: { type: 'object' } } } },
        { requestState: String(step + 1) },
      );
      return { step, name };
    });
    router.tool({ name: 'watch' }, async (_a, ctx) => {
      try {
        return await ctx.requireInput({ x: { method: 'roots/list' } });
      } catch (err) {
        seen.push(err instanceof RpcError ? err.code : String(err));
        throw err;
      }
    });
    ({ url } = await startServer({ handler: router }));
  });

  it('2026-07-28: input_required with inputRequests, then the retry with inputResponses completes', async () => {
    const { url: demo } = await startServer();
    const c = await RawClient.open(demo);
    const p = { name: 'ask', arguments: { question: 'Your name?' }, _meta: meta({}, { elicitation: {} }) };
    const first = await c.request('tools/call', p);
    expect(first.result).toEqual({
      resultType: 'input_required',
      inputRequests: {
        answer: {
          method: 'elicitation/create',
          params: { mode: 'form', message: 'Your name?', requestedSchema: { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] } },
        },
      },
      _meta: { [SERVER_INFO]: expect.objectContaining({ name: 'mcp-ws-demo' }) },
    });
    const retry = await c.request('tools/call', { ...p, inputResponses: { answer: { action: 'accept', content: { answer: 'Ada' } } } });
    expect(retry.result).toMatchObject({ resultType: 'complete', content: [{ type: 'text', text: 'the user answered: Ada' }] });
    // A retry that answers another key is asked again, not failed.
    const wrongKey = await c.request('tools/call', { ...p, inputResponses: { other: {} } });
    expect(wrongKey.result.resultType).toBe('input_required');
    const declined = await c.request('tools/call', { ...p, inputResponses: { answer: { action: 'decline' } } });
    expect(declined.result.content[0].text).toBe('the user did not answer (decline)');
    const noCap = await c.request('tools/call', { ...p, _meta: meta() });
    expect(noCap.error).toMatchObject({ code: -32021, data: { requiredCapabilities: { elicitation: {} } } });
    c.close();
  });

  it('2026-07-28: the handler\'s requestState goes out sealed with input_required and comes back verified on the retry', async () => {
    const c = await RawClient.open(url);
    const p = { name: 'stateful', _meta: meta({}, { elicitation: {} }) };
    const first = await c.request('tools/call', p);
    expect(first.result).toMatchObject({ resultType: 'input_required', requestState: expect.any(String) });
    // Sealed: the handler's '2' is not what the client sees.
    expect(first.result.requestState).not.toBe('2');
    const ada = { action: 'accept', content: { name: 'Ada' } };
    const retry = await c.request('tools/call', { ...p, requestState: first.result.requestState, inputResponses: { name: ada } });
    expect(retry.result.structuredContent).toEqual({ step: 2, name: ada });
    c.close();
  });

  it('legacy: the same tool sends elicitation/create to a client that declared it, and goes on with the answer', async () => {
    const { url: demo } = await startServer();
    const c = await RawClient.open(demo);
    await c.request('initialize', { protocolVersion: '2025-11-25', capabilities: { elicitation: {} }, clientInfo: { name: 't', version: '1' } });
    c.send({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'ask', arguments: { question: 'Your name?' } } });
    const ask = await c.next();
    expect(ask).toMatchObject({ jsonrpc: '2.0', method: 'elicitation/create', params: { message: 'Your name?', mode: 'form' } });
    expect(typeof ask.id).toBe('string');
    c.send({ jsonrpc: '2.0', id: 'not-ours', result: {} }); // stray responses are ignored
    c.send({ jsonrpc: '2.0', id: ask.id, result: { action: 'accept', content: { answer: 'Grace' } } });
    const r = await c.next();
    expect(r).toEqual({ jsonrpc: '2.0', id: 5, result: { content: [{ type: 'text', text: 'the user answered: Grace' }] } });
    c.close();
  });

  it('legacy: a client without the capability gets -32021; a client error answers the call with it', async () => {
    const c = await RawClient.session(url);
    const r = await c.request('tools/call', { name: 'watch' });
    expect(r.error).toMatchObject({ code: -32021, data: { requiredCapabilities: { roots: {} } } });
    const d = await RawClient.open(url);
    await d.request('initialize', { protocolVersion: '2025-11-25', capabilities: { roots: {} } });
    d.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'watch' } });
    const ask = await d.next();
    expect(ask.method).toBe('roots/list');
    d.send({ jsonrpc: '2.0', id: ask.id, error: { code: -32601, message: 'no roots here' } });
    expect((await d.next()).error).toMatchObject({ code: -32601, message: 'no roots here' });
    c.close();
    d.close();
  });

  it('legacy: an elicitation never answered fails after inputTimeoutMs (-32001) and is withdrawn from the client', async () => {
    const c = await RawClient.open(url);
    await c.request('initialize', { protocolVersion: '2025-11-25', capabilities: { roots: {} } });
    c.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'watch' } });
    const ask = await c.next();
    const withdrawn = await c.next();
    expect(withdrawn).toMatchObject({ method: 'notifications/cancelled', params: { requestId: ask.id } });
    expect(await c.next()).toMatchObject({ id: 3, error: { code: -32001 } });
    // A late answer is ignored.
    c.send({ jsonrpc: '2.0', id: ask.id, result: { roots: [] } });
    expect((await c.request('ping')).result).toEqual({});
    c.close();
  });

  it('legacy: cancelling the call withdraws its pending request; closing the socket ends one cleanly', async () => {
    const c = await RawClient.open(url);
    await c.request('initialize', { protocolVersion: '2025-11-25', capabilities: { roots: {} } });
    c.send({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'watch' } });
    const ask = await c.next();
    c.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 4 } });
    expect(await c.next()).toMatchObject({ method: 'notifications/cancelled', params: { requestId: ask.id } });
    await expect.poll(() => seen).toContain(-32800);
    c.send({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'watch' } });
    await c.next();
    c.close();
    await expect.poll(() => seen).toContain(-32000);
  });
});
