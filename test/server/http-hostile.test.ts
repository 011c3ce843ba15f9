/**
 * Streamable HTTP on the endpoint, hostile first: what a malicious or broken
 * client can do over plain HTTP, and that each gets its documented status,
 * never a crash, a stack trace or unbounded memory. Real sockets, real
 * server, real handlers.
 */
import { connect } from 'node:net';
import { McpRouter } from '../../src/router/router.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { SessionHandler, SessionPeer } from '../../src/server/handler.js';
import type { JsonRpcRequest } from '../../src/protocol/jsonrpc.js';
import { RateLimiter } from '../../src/ratelimit/limiter.js';
import { closeAll, startServer, until } from '../helpers.js';

afterAll(closeAll);

const JSON_SSE = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };

function post(base: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/mcp`, { method: 'POST', headers: { ...JSON_SSE, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

/** Opens a legacy session; returns its id. */
async function initialize(base: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await post(base, INIT, headers);
  expect(r.status).toBe(200);
  await r.text();
  const id = r.headers.get('mcp-session-id');
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  return id!;
}

/** A 2026-07-28 request with its mirrored headers. */
function stateless(base: string, method: string, params: Record<string, unknown>, extra: Record<string, string> = {}): Promise<Response> {
  const headers: Record<string, string> = { 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': method, ...extra };
  return post(base, { jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: META } }, headers);
}

/** A handler of our own: `boom` throws, `chatty` sends `n` notifications first, anything else echoes its method. */
function testHandler(peer: SessionPeer): SessionHandler {
  return {
    protocolVersion: undefined,
    request(msg: JsonRpcRequest) {
      if (msg.method === 'boom') throw new Error('secret detail');
      if (msg.method === 'hang') {
        peer.notify('notifications/message', { level: 'info', data: 'started' });
        return new Promise(() => {});
      }
      if (msg.method === 'chatty') {
        const n = Number(msg.params?.n ?? 1);
        const size = Number(msg.params?.size ?? 10);
        for (let i = 0; i < n; i++) peer.notify('notifications/message', { level: 'info', data: 'x'.repeat(size) });
        return new Promise((resolve) => setTimeout(() => resolve(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { sent: n } })), 10));
      }
      return JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { method: msg.method } });
    },
    notification() {},
    response() {},
    closed() {},
  };
}

describe('Streamable HTTP: bad requests get their status', () => {
  it('oversized bodies get 413, declared or streamed, and the server keeps serving', async () => {
    const { base } = await startServer({ maxPayload: 1024 });
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(4096) } });
    expect((await post(base, big)).status).toBe(413);
    // Chunked: no Content-Length, counted while read.
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const r = await fetch(`${base}/mcp`, { method: 'POST', headers: JSON_SSE, body: stream, duplex: 'half' } as RequestInit);
    expect(r.status).toBe(413);
    await initialize(base);
  });

  it('malformed JSON gets 400 with a -32700 body; wrong Content-Type 415; wrong Accept 406; a codec 400; Content-Encoding 415', async () => {
    const { base, server } = await startServer();
    const bad = await post(base, '{"jsonrpc":');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: number } }).error.code).toBe(-32700);
    expect((await post(base, INIT, { 'Content-Type': 'text/plain' })).status).toBe(415);
    expect((await post(base, INIT, { Accept: 'text/html' })).status).toBe(406);
    const codec = await post(base, INIT, { 'Sec-WebSocket-Protocol': 'mcp.zstd' });
    expect(codec.status).toBe(400);
    expect(await codec.text()).toMatch(/WebSocket upgrade only/);
    expect((await post(base, INIT, { 'Content-Encoding': 'gzip' })).status).toBe(415);
    expect(server.metrics.httpResponses['415']).toBe(2);
  });

  it('a body that never completes (slowloris) gets 408 after messageTimeoutMs and frees the socket', async () => {
    const { base } = await startServer({ messageTimeoutMs: 200 });
    const port = Number(new URL(base).port);
    const text = await new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => {
        s.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: 100\r\n\r\n{"jsonrpc"`);
      });
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
    expect(text).toMatch(/^HTTP\/1\.1 408/);
  });

  it('a handler that throws gets -32603 with no detail: 500 stateless, 200 in a legacy session', async () => {
    const { base } = await startServer({ handler: testHandler });
    const r = await stateless(base, 'boom', {});
    expect(r.status).toBe(500);
    const body = await r.text();
    expect(JSON.parse(body)).toMatchObject({ id: 1, error: { code: -32603, message: 'Internal error' } });
    expect(body).not.toMatch(/secret|at /);
    const ok = await stateless(base, 'tools/list', {});
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ result: { method: 'tools/list' } });
  });
});

describe('Streamable HTTP: 2026-07-28 mirrored headers (SEP-2243)', () => {
  it('refuses a missing or mismatched Mcp-Method / Mcp-Name / version with 400 and -32020, before the handler runs', async () => {
    const { base } = await startServer({ handler: testHandler });
    const cases: Array<[Record<string, string>, string, Record<string, unknown>]> = [
      [{ 'Mcp-Method': 'tools/list' }, 'tools/call', { name: 'echo' }],
      [{ 'Mcp-Name': 'other' }, 'tools/call', { name: 'echo' }],
      [{}, 'tools/call', { name: 'echo' }], // no Mcp-Name
      [{ 'Mcp-Name': '=?base64?!!?=' }, 'resources/read', { uri: 'x' }],
    ];
    for (const [headers, method, params] of cases) {
      const r = await stateless(base, method, params, headers);
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { code: number } }).error.code).toBe(-32020);
    }
    // The body says 2026-07-28 but the headers were left out.
    const bare = await post(base, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: META } });
    expect(bare.status).toBe(400);
    expect(((await bare.json()) as { error: { code: number } }).error.code).toBe(-32020);
    // Matching, with a Base64 sentinel name.
    const name = 'héllo';
    const ok = await stateless(base, 'tools/call', { name }, { 'Mcp-Name': `=?base64?${Buffer.from(name).toString('base64')}?=` });
    expect(ok.status).toBe(200);
  });

  it('a 2026-07-28 header over a _meta without version or capabilities is malformed: 400 and -32602, before the handler runs', async () => {
    let seen = 0;
    const { base } = await startServer({ handler: (peer) => ((seen++, testHandler(peer))) });
    const headers = { 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'server/discover' };
    const bodies = [
      {},
      { _meta: { 'io.modelcontextprotocol/clientCapabilities': {} } },
      { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } },
      { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': [] } },
    ];
    for (const [i, params] of bodies.entries()) {
      const r = await post(base, { jsonrpc: '2.0', id: 100 + i, method: 'server/discover', params }, headers);
      expect(r.status).toBe(400);
      const body = (await r.json()) as { id: number; error: { code: number; message: string } };
      expect(body.id).toBe(100 + i);
      expect(body.error.code).toBe(-32602);
      expect(body.error.message).toMatch(/_meta/);
    }
    // A version in the body that differs from the header is still a mismatch.
    const other = await post(base, { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': 'v999' } } }, headers);
    expect(other.status).toBe(400);
    expect(((await other.json()) as { error: { code: number } }).error.code).toBe(-32020);
    expect(seen).toBe(0);
  });

  it('a 2026-07-28 initialize opens no session: it is a stateless request, and the router answers 404 with -32601', async () => {
    const { base, server } = await startServer();
    const r = await stateless(base, 'initialize', { protocolVersion: '2026-07-28', capabilities: {} });
    expect(r.status).toBe(404);
    expect(r.headers.get('mcp-session-id')).toBeNull();
    expect(((await r.json()) as { error: { code: number } }).error.code).toBe(-32601);
    expect(server.httpSessionCount).toBe(0);
    // Removed methods the same way.
    for (const method of ['ping', 'logging/setLevel', 'resources/subscribe']) {
      const gone = await stateless(base, method, {});
      expect(gone.status, method).toBe(404);
      await gone.text();
    }
    // A legacy initialize still opens a session.
    await initialize(base);
    expect(server.httpSessionCount).toBe(1);
  });

  it('checks Mcp-Param-* headers of a router tool\'s x-mcp-header arguments against the body: 400 and -32020 otherwise', async () => {
    const router = new McpRouter({ name: 'params', version: '1' });
    let runs = 0;
    router.tool(
      {
        name: 'sql',
        inputSchema: {
          type: 'object',
          properties: {
            region: { type: 'string', 'x-mcp-header': 'Region' },
            shard: { type: 'integer', 'x-mcp-header': 'Shard' },
            opts: { type: 'object', properties: { dry: { type: 'boolean', 'x-mcp-header': 'Dry' } } },
            query: { type: 'string' },
          },
        },
      },
      () => (runs++, 'ok'),
    );
    const { base } = await startServer({ handler: router });
    const call = (args: Record<string, unknown>, headers: Record<string, string>): Promise<Response> =>
      stateless(base, 'tools/call', { name: 'sql', arguments: args }, { 'Mcp-Name': 'sql', ...headers });
    const args = { region: 'eu-west1', shard: 42, opts: { dry: true }, query: 'select 1' };
    const good = { 'Mcp-Param-Region': 'eu-west1', 'Mcp-Param-Shard': '42', 'mcp-param-dry': 'true' };
    const refused: Array<[Record<string, unknown>, Record<string, string>]> = [
      [args, { ...good, 'Mcp-Param-Region': 'us-east1' }], // different
      [args, { 'Mcp-Param-Shard': '42', 'mcp-param-dry': 'true' }], // missing
      [args, { ...good, 'Mcp-Param-Shard': '43' }],
      [args, { ...good, 'Mcp-Param-Shard': '' }],
      [args, { ...good, 'mcp-param-dry': 'TRUE' }],
      [args, { ...good, 'Mcp-Param-Region': `=?base64?${Buffer.from('eu-west1').toString('base64').replace(/=+$/, '')}?=` }], // bad padding
      [args, { ...good, 'Mcp-Param-Region': '=?base64?ZXUt!!!?=' }],
      [{ shard: 42, opts: { dry: true } }, good], // a header with no value in the body to mirror
    ];
    for (const [a, h] of refused) {
      const r = await call(a, h);
      expect(r.status, JSON.stringify(h)).toBe(400);
      expect(((await r.json()) as { error: { code: number } }).error.code).toBe(-32020);
    }
    expect(runs).toBe(0);
    const ok = await call(args, { ...good, 'Mcp-Param-Shard': '42.0' }); // integers compare numerically
    expect(ok.status).toBe(200);
    await ok.text();
    const encoded = await call({ ...args, region: 'Zürich ' }, { ...good, 'Mcp-Param-Region': `=?base64?${Buffer.from('Zürich ').toString('base64')}?=` });
    expect(encoded.status).toBe(200);
    await encoded.text();
    // Not wrapped in both markers: a literal.
    const literal = await call({ ...args, region: '=?base64?abc' }, { ...good, 'Mcp-Param-Region': '=?base64?abc' });
    expect(literal.status).toBe(200);
    await literal.text();
    // Values absent from the body need no header.
    const bare = await call({ query: 'select 1' }, {});
    expect(bare.status).toBe(200);
    await bare.text();
    expect(runs).toBe(4);
  });

  it('refuses a tool whose x-mcp-header annotation the spec forbids', () => {
    const router = new McpRouter({ name: 'params', version: '1' });
    const bad = [
      { a: { type: 'number', 'x-mcp-header': 'A' } },
      { a: { type: 'object', 'x-mcp-header': 'A' } },
      { a: { type: 'string', 'x-mcp-header': 'Bad Name' } },
      { a: { type: 'string', 'x-mcp-header': '' } },
      { a: { type: 'string', 'x-mcp-header': 'Dup' }, b: { type: 'string', 'x-mcp-header': 'dup' } },
    ];
    for (const properties of bad) expect(() => router.tool({ name: 't', inputSchema: { type: 'object', properties } }, () => 'x')).toThrow(TypeError);
    expect(router.headerParams('t')).toBeUndefined();
  });

  it('a body version that is an object which cannot become a string gets 400 and -32602 (malformed _meta), and the server goes on', async () => {
    const { base } = await startServer();
    for (const bad of [{ toString: 1 }, { toString: 1, valueOf: 1 }, ['x'], null]) {
      const body = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': bad } } };
      const r = await post(base, body, { 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/list' });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { code: number } }).error.code).toBe(-32602);
    }
    const ok = await stateless(base, 'tools/list', {});
    expect(ok.status).toBe(200);
  });

  it('a method named like an Object.prototype member is not taken for a named method (no Mcp-Name asked)', async () => {
    const { base } = await startServer();
    for (const method of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const r = await stateless(base, method, {});
      expect(r.status).toBe(404);
      expect(((await r.json()) as { error: { code: number } }).error.code).toBe(-32601);
    }
  });

  it('a batch or a notification in a legacy session gets its MCP-Protocol-Version checked too', async () => {
    const { base } = await startServer();
    const r0 = await post(base, { ...INIT, params: { ...INIT.params, protocolVersion: '2025-03-26' } });
    const id = r0.headers.get('mcp-session-id')!;
    await r0.text();
    const batch = [{ jsonrpc: '2.0', id: 1, method: 'tools/list' }];
    const bogus = await post(base, batch, { 'Mcp-Session-Id': id, 'MCP-Protocol-Version': 'bogus' });
    expect(bogus.status).toBe(400);
    expect(((await bogus.json()) as { error: { code: number } }).error.code).toBe(-32022);
    const note = await post(base, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'Mcp-Session-Id': id, 'MCP-Protocol-Version': 'bogus' });
    expect(note.status).toBe(400);
    // 2026-07-28 has no batches: a batch under that header says one thing to a router and another to the server.
    const modern = await post(base, batch, { 'Mcp-Session-Id': id, 'MCP-Protocol-Version': '2026-07-28' });
    expect(modern.status).toBe(400);
    expect(((await modern.json()) as { error: { code: number } }).error.code).toBe(-32020);
    const ok = await post(base, batch, { 'Mcp-Session-Id': id, 'MCP-Protocol-Version': '2025-03-26' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject([{ id: 1, result: { tools: expect.any(Array) } }]);
  });

  it('an unsupported MCP-Protocol-Version gets 400 and -32022 listing the supported ones', async () => {
    const { base } = await startServer({ handler: testHandler });
    const r = await post(base, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'MCP-Protocol-Version': '1999-01-01' });
    expect(r.status).toBe(400);
    const body = (await r.json()) as { error: { code: number; data: { supported: string[] } } };
    expect(body.error.code).toBe(-32022);
    expect(body.error.data.supported).toContain('2026-07-28');
  });

  it('answers JSON when the reply comes first, and switches to SSE when a notification comes first', async () => {
    const { base } = await startServer({ handler: testHandler });
    const plain = await stateless(base, 'tools/list', {});
    expect(plain.headers.get('content-type')).toMatch(/application\/json/);
    const streamed = await stateless(base, 'chatty', { n: 2 });
    expect(streamed.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = (await streamed.text()).split('\n\n').filter(Boolean);
    expect(events).toHaveLength(3);
    expect(events[2]).toMatch(/"result":\{"sent":2\}/);
    // A client that takes no SSE: the notifications are dropped (counted), the reply is JSON.
    const jsonOnly = await stateless(base, 'chatty', { n: 2 }, { Accept: 'application/json' });
    expect(jsonOnly.headers.get('content-type')).toMatch(/application\/json/);
  });
});

describe('Streamable HTTP: legacy sessions are bounded and private', () => {
  it('a flood of sessions never deleted stops at maxHttpSessions (503), and idle ones expire (404 after)', async () => {
    const { base, server } = await startServer({ maxHttpSessions: 5, httpSessionIdleMs: 300 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await initialize(base));
    const sixth = await post(base, INIT);
    expect(sixth.status).toBe(503);
    expect(sixth.headers.get('retry-after')).toBeTruthy();
    expect(server.httpSessionCount).toBe(5);
    expect(server.slotCount).toBe(5);
    expect(await until(() => server.httpSessionCount === 0)).toBe(true);
    expect(server.slotCount).toBe(0);
    const late = await post(base, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'Mcp-Session-Id': ids[0]! });
    expect(late.status).toBe(404);
  });

  it('a session id used by another identity gets the same 404 as an unknown one, and nothing of the session', async () => {
    const alice = 'alice-token-0123456789';
    const bob = 'bob-token-0123456789ab';
    const { base } = await startServer({ auth: { tokens: [{ token: alice, subject: 'alice' }, { token: bob, subject: 'bob' }] } });
    expect((await post(base, INIT)).status).toBe(401);
    const id = await initialize(base, { Authorization: `Bearer ${alice}` });
    const asBob = await post(base, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { Authorization: `Bearer ${bob}`, 'Mcp-Session-Id': id });
    const unknown = await post(base, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { Authorization: `Bearer ${bob}`, 'Mcp-Session-Id': '00000000-0000-4000-8000-000000000000' });
    expect(asBob.status).toBe(404);
    expect(await asBob.text()).toBe(await unknown.text());
    const del = await fetch(`${base}/mcp`, { method: 'DELETE', headers: { Authorization: `Bearer ${bob}`, 'Mcp-Session-Id': id } });
    expect(del.status).toBe(404);
    const asAlice = await post(base, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { Authorization: `Bearer ${alice}`, 'Mcp-Session-Id': id });
    expect(asAlice.status).toBe(200);
  });

  it('GET for an unknown session is 404; DELETE twice is 204 then 404; GET without a session is 405 (426 without SSE)', async () => {
    const { base } = await startServer();
    const get = (h: Record<string, string>): Promise<Response> => fetch(`${base}/mcp`, { headers: { Accept: 'text/event-stream', ...h } });
    expect((await get({ 'Mcp-Session-Id': 'nope' })).status).toBe(404);
    expect((await get({})).status).toBe(405);
    expect((await fetch(`${base}/mcp`)).status).toBe(426);
    const id = await initialize(base);
    const del = (): Promise<Response> => fetch(`${base}/mcp`, { method: 'DELETE', headers: { 'Mcp-Session-Id': id } });
    expect((await del()).status).toBe(204);
    expect((await del()).status).toBe(404);
  });

  it('an SSE client that never reads is closed as a slow consumer; its queue stays bounded', async () => {
    const { base, server } = await startServer({ maxBufferedBytes: 65536, handler: testHandler });
    const port = Number(new URL(base).port);
    const s = connect(port, '127.0.0.1');
    await new Promise<void>((r) => s.once('connect', () => r()));
    // 2,000 notifications of 16 KiB (32 MiB) on the response of one request, to a client that reads none.
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'chatty', params: { n: 2000, size: 16384, _meta: META } });
    s.pause();
    s.write(
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n` +
        `MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: chatty\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    expect(await until(() => server.metrics.errors.slow_consumer > 0)).toBe(true);
    // The request's session ended with its response: the rest of the notifications were dropped, not queued.
    expect(await until(() => server.metrics.requestsInFlight === 0)).toBe(true);
    s.destroy();
    expect(await until(() => server.slotCount === 0)).toBe(true);
  });
});

describe('Streamable HTTP: the GET stream', () => {
  it('a quiet stream gets SSE comments every heartbeatIntervalMs, so proxies keep it open', async () => {
    const { base } = await startServer({ heartbeatIntervalMs: 100 });
    const id = await initialize(base);
    const res = await fetch(`${base}/mcp`, { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': id } });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toMatch(/^:\n\n/);
    await reader.cancel();
  });
});

describe('Streamable HTTP: long SSE responses to POSTs', () => {
  it('a 2026-07-28 subscriptions/listen kept open over HTTP gets SSE comments while quiet, and its session ends with the response', async () => {
    const { base, server } = await startServer({ heartbeatIntervalMs: 100 });
    const res = await stateless(base, 'subscriptions/listen', { notifications: { toolsListChanged: true } }, {});
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let got = '';
    const deadline = Date.now() + 5000;
    while (!/(^|\n):\n\n/.test(got) && Date.now() < deadline) {
      const timeout = new Promise<{ done: true; value: undefined }>((r) => setTimeout(() => r({ done: true, value: undefined }), deadline - Date.now()));
      const { value, done } = await Promise.race([reader.read(), timeout]);
      if (done) break;
      got += new TextDecoder().decode(value);
    }
    expect(got).toMatch(/notifications\/subscriptions\/acknowledged/);
    expect(got).toMatch(/(^|\n):\n\n/);
    expect(server.slotCount).toBe(1);
    await reader.cancel();
    expect(await until(() => server.slotCount === 0 && server.metrics.requestsInFlight === 0)).toBe(true);
  });
});

describe('Streamable HTTP: shutdown', () => {
  it('during drain new POSTs get 503 + -32010, the request in flight finishes, open SSE streams end cleanly', async () => {
    const { base, server } = await startServer({ drainTimeoutMs: 5000 });
    const id = await initialize(base);
    const stream = await fetch(`${base}/mcp`, { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': id } });
    expect(stream.status).toBe(200);
    const streamText = stream.text();
    const slow = post(base, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 300 } } }, { 'Mcp-Session-Id': id });
    expect(await until(() => server.metrics.requestsInFlight === 1)).toBe(true);
    const closing = server.close();
    const inSession = await post(base, { jsonrpc: '2.0', id: 6, method: 'tools/list' }, { 'Mcp-Session-Id': id });
    expect(inSession.status).toBe(503);
    expect(((await inSession.json()) as { error: { code: number } }).error.code).toBe(-32010);
    const fresh = await post(base, INIT);
    expect(fresh.status).toBe(503);
    expect(((await fresh.json()) as { error: { code: number } }).error.code).toBe(-32010);
    const done = await slow;
    expect(done.status).toBe(200);
    expect(await done.text()).toMatch(/"id":5/);
    await streamText; // ends, not reset
    await closing;
  });

  it('a stateless request streaming past drainTimeoutMs is ended cleanly at shutdown, not reset', async () => {
    const { base, server } = await startServer({ handler: testHandler, drainTimeoutMs: 200 });
    const res = await stateless(base, 'hang', {});
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const text = res.text();
    expect(await until(() => server.metrics.requestsInFlight === 1)).toBe(true);
    await server.close();
    expect(await text).toMatch(/started/);
    expect(server.slotCount).toBe(0);
  });
});

describe('Streamable HTTP: slots and sessions come back', () => {
  it('a handler factory that throws costs the request a 500, and leaves no session, slot or counter behind', async () => {
    let calls = 0;
    const { base, server } = await startServer({
      handler: () => {
        calls++;
        throw new Error('secret factory detail');
      },
      maxHttpSessions: 2,
    });
    for (let i = 0; i < 3; i++) {
      const r = await post(base, INIT);
      expect(r.status).toBe(500);
      expect(r.headers.get('mcp-session-id')).toBeNull();
      expect(await r.text()).not.toMatch(/secret/);
    }
    const s = await stateless(base, 'tools/list', {});
    expect(s.status).toBe(500);
    expect(await s.text()).not.toMatch(/secret/);
    expect(calls).toBe(4);
    expect(server.httpSessionCount).toBe(0);
    expect(server.metrics.httpSessionsActive).toBe(0);
    expect(await until(() => server.slotCount === 0)).toBe(true);
  });
});

describe('Streamable HTTP: a handshake limit shared through Redis', () => {
  it('an initialize takes one handshake of the shared budget, not all of it', async () => {
    // Redis is part of the test environment (127.0.0.1:6379): no silent skip.
    const prefix = `mcp-ws-test:http-handshake:${process.pid}:${Date.now()}:`;
    const shared = new RateLimiter({ handshake: { strategy: 'TokenBucket', maxRequestsPerSecond: 0.001, maxBurst: 3 }, redis: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix } });
    try {
      const { base, server } = await startServer({ rateLimit: shared });
      await initialize(base);
      await initialize(base);
      await initialize(base);
      const fourth = await post(base, INIT);
      expect(fourth.status).toBe(503);
      expect(fourth.headers.get('retry-after')).toBeTruthy();
      await fourth.text();
      expect(server.httpSessionCount).toBe(3);
      expect(server.slotCount).toBe(3);
    } finally {
      await shared.close();
    }
  });
});
