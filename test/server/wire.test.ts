import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { RawClient, closeAll, startServer, scrape } from '../helpers.js';

let url: string;
let server: Awaited<ReturnType<typeof startServer>>['server'];

beforeAll(async () => {
  ({ url, server } = await startServer({ maxPayload: 64 * 1024 }));
});
afterAll(closeAll);

describe('wire protocol', () => {
  it('selects the mcp subprotocol when offered', async () => {
    const c = await RawClient.open(url, ['mcp']);
    expect(c.ws.protocol).toBe('mcp');
    c.close();
  });

  it('accepts a client offering no subprotocol', async () => {
    const c = await RawClient.open(url, []);
    expect(c.ws.protocol).toBe('');
    const r = await c.request('ping');
    expect(r).toEqual({ jsonrpc: '2.0', id: 1, result: {} });
    c.close();
  });

  it('answers invalid JSON with -32700 and id null, and stays open', async () => {
    const c = await RawClient.open(url);
    c.send('{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(await c.next()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: expect.any(String) } });
    expect((await c.request('ping')).result).toEqual({});
    c.close();
  });

  it.each([
    ['a number', 42],
    ['a string', '"hello"'],
    ['null', null],
    ['no jsonrpc field', { id: 1, method: 'ping' }],
    ['wrong jsonrpc version', { jsonrpc: '1.0', id: 1, method: 'ping' }],
    ['a numeric method', { jsonrpc: '2.0', id: 1, method: 5 }],
    ['a fractional id', { jsonrpc: '2.0', id: 1.5, method: 'ping' }],
    ['an object id', { jsonrpc: '2.0', id: {}, method: 'ping' }],
    ['a null id on a request', { jsonrpc: '2.0', id: null, method: 'ping' }],
    ['array params', { jsonrpc: '2.0', id: 1, method: 'ping', params: [1] }],
    ['result and error together', { jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'x' } }],
  ])('answers %s with -32600', async (_name, msg) => {
    const c = await RawClient.open(url);
    c.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
    const r = await c.next();
    expect(r.error.code).toBe(-32600);
    expect(r.jsonrpc).toBe('2.0');
    // The id is echoed only when it is a valid id; otherwise null.
    const id = (msg as { id?: unknown } | null)?.id;
    expect(r.id).toBe(id === 1 ? 1 : null);
    c.close();
  });

  it('echoes string and integer ids exactly', async () => {
    const c = await RawClient.open(url);
    for (const id of ['abc', '', '0', 0, -7, 2 ** 53 - 1, 'ünïcødé-🚀']) {
      const r = await c.request('ping', undefined, id);
      expect(r.id).toStrictEqual(id);
    }
    c.close();
  });

  it('never answers notifications, even unknown or malformed-params ones', async () => {
    const c = await RawClient.open(url);
    c.send({ jsonrpc: '2.0', method: 'notifications/whatever' });
    c.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'nope' } });
    await c.expectSilence(100);
    c.close();
  });

  it('rejects requests before initialize with a clear error, but answers ping', async () => {
    const c = await RawClient.open(url);
    const r = await c.request('tools/list');
    expect(r.error.code).toBe(-32011);
    expect(r.error.message).toMatch(/initialize/);
    expect((await c.request('ping')).result).toEqual({});
    c.close();
  });

  it('answers an unknown method with -32601', async () => {
    const c = await RawClient.session(url);
    const r = await c.request('no/such/method');
    expect(r.error.code).toBe(-32601);
    c.close();
  });

  it('closes with 1003 on a binary frame', async () => {
    const c = await RawClient.open(url);
    c.ws.send(Buffer.from('{"jsonrpc":"2.0","id":1,"method":"ping"}'), { binary: true });
    expect((await c.closed).code).toBe(1003);
  });

  it('closes with 1007 on invalid UTF-8 in a text frame', async () => {
    const c = await RawClient.open(url);
    // ws lets a client send arbitrary bytes as a text frame when given a Buffer with binary: false.
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await c.closed).code).toBe(1007);
  });

  it('closes with 1009 on a message over maxPayload', async () => {
    const c = await RawClient.open(url);
    c.send({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(70 * 1024) } });
    expect((await c.closed).code).toBe(1009);
  });

  it('keeps other sessions unaffected when one misbehaves', async () => {
    const good = await RawClient.session(url);
    const bad = await RawClient.open(url);
    bad.send('not json at all');
    await bad.next();
    bad.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await bad.closed;
    const r = await good.request('tools/call', { name: 'echo', arguments: { text: 'still here' } });
    expect(r.result.content[0].text).toBe('still here');
    good.close();
  });

  it('rejects batches unless the session negotiated 2025-03-26', async () => {
    const c = await RawClient.session(url, '2025-06-18');
    c.send([{ jsonrpc: '2.0', id: 1, method: 'ping' }]);
    const r = await c.next();
    expect(r).toMatchObject({ id: null, error: { code: -32600 } });
    c.close();
  });

  it('answers a batch on 2025-03-26 with one array, in order, without the notifications', async () => {
    const c = await RawClient.session(url, '2025-03-26');
    c.send([
      { jsonrpc: '2.0', id: 'a', method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 'b', method: 'tools/call', params: { name: 'sleep', arguments: { ms: 10 } } },
      { jsonrpc: '2.0', id: 'c', method: 'tools/call', params: { name: 'add', arguments: { a: 1, b: 2 } } },
      { bogus: true },
    ]);
    const r = await c.next();
    expect(Array.isArray(r)).toBe(true);
    expect(r.map((x: { id: unknown }) => x.id)).toEqual(['a', 'b', 'c', null]);
    expect(r[2].result.structuredContent).toEqual({ sum: 3 });
    expect(r[3].error.code).toBe(-32600);
    c.send([]);
    expect((await c.next()).error.code).toBe(-32600);
    c.send([{ jsonrpc: '2.0', method: 'notifications/initialized' }]);
    await c.expectSilence(100);
    c.close();
  });

  it('stays up after all of the above', async () => {
    const c = await RawClient.session(url);
    expect((await c.request('ping')).result).toEqual({});
    expect(server.sessionCount).toBeGreaterThanOrEqual(1);
    c.close();
  });
});

describe('HTTP on the same port', () => {
  it('serves /healthz, /readyz and /metrics', async () => {
    const base = url.replace('ws://', 'http://').replace('/ws', '');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await scrape(base);
    expect(metrics).toMatch(/^mcp_ws_connections_active \d+$/m);
    expect(metrics).toMatch(/^mcp_ws_messages_received_total \d+$/m);
    expect(metrics).toMatch(/^mcp_ws_request_duration_seconds_bucket\{le="0.001"\} \d+$/m);
    expect(metrics).toMatch(/^mcp_ws_request_duration_seconds_bucket\{le="10"\} \d+$/m);
    expect(metrics).toMatch(/^mcp_ws_errors_total\{kind="parse"\} [1-9]\d*$/m);
  });

  it('answers 426 to a plain GET on the WebSocket path and 404 elsewhere', async () => {
    const base = url.replace('ws://', 'http://').replace('/ws', '');
    const r = await fetch(`${base}/ws`);
    expect(r.status).toBe(426);
    expect(r.headers.get('upgrade')).toBe('websocket');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('answers 404 to an upgrade on a wrong path', async () => {
    const wrong = url.replace('/ws', '/elsewhere');
    await expect(RawClient.open(wrong)).rejects.toThrow(/HTTP 404/);
  });

  it('counts messages in metrics', async () => {
    const before = server.metrics.messagesReceived;
    const c = await RawClient.open(url);
    await c.request('ping');
    expect(server.metrics.messagesReceived).toBe(before + 1);
    c.close();
    expect(WebSocket.OPEN).toBe(1);
  });
});
