import { describe, it, expect, afterEach } from 'vitest';
import { McpRpcError, McpWsError, RpcError } from '../../src/protocol/errors.js';
import { ConnectionClosedError, McpWsClient } from '../../src/transport/client.js';
import { WebSocketConnectError } from '../../src/transport/connect-error.js';
import { freePort, startServer, startSilentServer, type TestServer } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server(options: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(options);
  cleanups.push(() => s.close());
  return s;
}

async function connect(url: string, options: Parameters<typeof McpWsClient.connect>[1] = {}): Promise<McpWsClient> {
  const client = await McpWsClient.connect(url, { heartbeat: false, ...options });
  cleanups.push(() => client.close());
  return client;
}

describe('McpWsClient connect', () => {
  it('sends headers, offers mcp, and initializes', async () => {
    const s = await server();
    const client = await connect(s.url, { headers: { Authorization: 'Bearer abc' } });
    expect(client.protocol).toBe('mcp');
    expect(s.upgrades[0]!.headers.authorization).toBe('Bearer abc');

    const result = await client.initialize({ name: 'cli', version: '2.0.0' });
    expect(result).toEqual({
      protocolVersion: '2025-11-25',
      capabilities: { tools: {} },
      serverInfo: { name: 'test-server', version: '1.0.0' },
    });
    await s.waitForMessage((m) => m.method === 'notifications/initialized');
    expect(s.received.map((r) => r.message)).toEqual([
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'cli', version: '2.0.0' } },
      },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
    ]);
  });

  it('rejects with a clear message when refused, timed out, or answered with a status', async () => {
    const port = await freePort();
    await expect(McpWsClient.connect(`ws://127.0.0.1:${port}/`)).rejects.toThrow(
      `WebSocket connect to ws://127.0.0.1:${port}/ failed: connect ECONNREFUSED`,
    );

    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    await expect(McpWsClient.connect(silent.url, { connectTimeoutMs: 50 })).rejects.toThrow('timed out after 50 ms');

    const s = await server({ verifyClient: (_info, cb) => cb(false, 503) });
    const err = await McpWsClient.connect(s.url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebSocketConnectError);
    expect((err as Error).message).toMatch(/^WebSocket upgrade rejected: HTTP 503/);
  });

  it('validates options', async () => {
    await expect(McpWsClient.connect('ws://127.0.0.1:1/', { requestTimeoutMs: 0 })).rejects.toThrow(
      'requestTimeoutMs should be a positive number or false, got 0',
    );
    await expect(McpWsClient.connect('ws://127.0.0.1:1/', { reconnect: {} } as never)).rejects.toThrow(
      'unknown option "reconnect"',
    );
  });
});

describe('McpWsClient requests', () => {
  it('uses incrementing integer ids and resolves results', async () => {
    const s = await server();
    const client = await connect(s.url);
    const results = await Promise.all([
      client.request('echo', { n: 1 }),
      client.request('echo', { n: 2 }),
      client.request('echo'),
    ]);
    expect(results).toEqual([{ echo: { n: 1 } }, { echo: { n: 2 } }, { echo: {} }]);
    expect(s.received.map((r) => r.message.id)).toEqual([1, 2, 3]);
    expect(s.received[2]!.message).not.toHaveProperty('params');
    expect(client.pendingCount).toBe(0);
  });

  it('rejects with McpRpcError on an error reply', async () => {
    const s = await server();
    const client = await connect(s.url);
    const err = await client.request('fail').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpRpcError);
    expect(err).toMatchObject({ code: -32602, message: 'bad params', data: { field: 'x' } });
    await expect(client.request('nope')).rejects.toMatchObject({ code: -32601 });
  });

  it('times out a request and tells the server', async () => {
    const s = await server();
    const client = await connect(s.url);
    const err = await client.request('slow', {}, { timeoutMs: 30 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpWsError);
    expect(err).toMatchObject({ code: 'REQUEST_TIMEOUT', message: 'Request slow (id 1) timed out after 30 ms' });
    const cancelled = await s.waitForMessage((m) => m.method === 'notifications/cancelled');
    expect(cancelled.params).toEqual({ requestId: 1, reason: 'timeout' });
    expect(client.pendingCount).toBe(0);
  });

  it('uses the client-wide request timeout', async () => {
    const s = await server();
    const client = await connect(s.url, { requestTimeoutMs: 20 });
    await expect(client.request('slow')).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
  });

  it('cancels a request through an AbortSignal', async () => {
    const s = await server();
    const client = await connect(s.url);
    const controller = new AbortController();
    const pending = client.request('slow', {}, { signal: controller.signal });
    await s.waitForMessage((m) => m.method === 'slow');
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'REQUEST_CANCELLED' });
    const cancelled = await s.waitForMessage((m) => m.method === 'notifications/cancelled');
    expect(cancelled.params).toEqual({ requestId: 1, reason: 'aborted' });
    await expect(client.request('echo', {}, { signal: controller.signal })).rejects.toMatchObject({
      code: 'REQUEST_CANCELLED',
    });
  });

  it('rejects pending requests with the close code when the connection closes', async () => {
    const s = await server();
    const client = await connect(s.url);
    const slow = client.request('slow');
    const closing = client.request('close-me', { code: 4001, reason: 'slow consumer' });
    const closed = new Promise((resolve) => client.onClose(resolve));

    for (const pending of [slow, closing]) {
      const err = await pending.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionClosedError);
      expect(err).toMatchObject({ code: 'CONNECTION_CLOSED', closeCode: 4001, closeReason: 'slow consumer' });
    }
    expect(await closed).toEqual({ code: 4001, reason: 'slow consumer' });
    expect(((await slow.catch((e: unknown) => e)) as Error).message).toBe(
      'Connection closed (code 4001: slow consumer) before the reply to slow (id 1)',
    );
    await expect(client.request('echo')).rejects.toMatchObject({ closeCode: 4001 });
    await expect(client.notify('x')).rejects.toBeInstanceOf(ConnectionClosedError);
    expect(client.closeInfo).toEqual({ code: 4001, reason: 'slow consumer' });
  });

  it('rejects pending requests when the server drops the socket', async () => {
    const s = await server();
    const client = await connect(s.url);
    const pending = client.request('slow');
    (await s.waitForConnection(1)).terminate();
    await expect(pending).rejects.toMatchObject({ closeCode: 1006 });
  });

  it('close() is idempotent and resolves once closed', async () => {
    const s = await server();
    const client = await connect(s.url);
    const pending = client.request('slow');
    const first = client.close(4000, 'bye');
    await expect(client.request('echo')).rejects.toThrow('Connection closing (code 4000: bye); cannot send echo');
    await Promise.all([first, client.close()]);
    await expect(pending).rejects.toMatchObject({ closeCode: 4000 });
    expect(client.closeInfo).toEqual({ code: 4000, reason: 'bye' });
    let calledBack = false;
    client.onClose(() => (calledBack = true));
    await Promise.resolve();
    expect(calledBack).toBe(true);
  });

  it('notify() resolves, with and without backpressure', async () => {
    const s = await server();
    const fast = await connect(s.url);
    await fast.notify('notifications/one', { a: 1 });
    const slow = await connect(s.url, { highWaterMark: 0 });
    await slow.notify('notifications/two');
    await s.waitForMessage((m) => m.method === 'notifications/two');
    expect(s.received.map((r) => r.message)).toEqual([
      { jsonrpc: '2.0', method: 'notifications/one', params: { a: 1 } },
      { jsonrpc: '2.0', method: 'notifications/two' },
    ]);
  });
});

describe('McpWsClient server-to-client traffic', () => {
  it('delivers notifications to method and wildcard handlers; unsubscribe works', async () => {
    const s = await server();
    const client = await connect(s.url);
    const byMethod: unknown[] = [];
    const all: [unknown, string][] = [];
    const off = client.onNotification('notifications/message', (params) => byMethod.push(params));
    client.onNotification('*', (params, method) => all.push([params, method]));

    await client.request('notify-me', { level: 'info', data: 'one' });
    off();
    await client.request('notify-me', { level: 'info', data: 'two' });

    expect(byMethod).toEqual([{ level: 'info', data: 'one' }]);
    expect(all).toEqual([
      [{ level: 'info', data: 'one' }, 'notifications/message'],
      [{ level: 'info', data: 'two' }, 'notifications/message'],
    ]);
  });

  it('answers a server-to-client request with its handler', async () => {
    const s = await server();
    const client = await connect(s.url);
    client.onRequest('roots/list', async (params, request) => ({ roots: [{ uri: 'file:///project', name: 'project' }], params, id: request.id }));
    const result = await client.request('ask-client', { method: 'roots/list', params: { x: 1 } });
    expect(result).toEqual({
      answer: { jsonrpc: '2.0', id: 's1', result: { roots: [{ uri: 'file:///project', name: 'project' }], params: { x: 1 }, id: 's1' } },
    });
  });

  it('answers -32601 without a handler, and the handler error code when it throws', async () => {
    const s = await server();
    const client = await connect(s.url);
    const errors: Error[] = [];
    client.onError((e) => errors.push(e));

    expect(await client.request('ask-client', { method: 'sampling/createMessage' })).toEqual({
      answer: { jsonrpc: '2.0', id: 's1', error: { code: -32601, message: 'Method not found: sampling/createMessage' } },
    });

    const off = client.onRequest('elicitation/create', () => {
      throw new RpcError(-32602, 'missing schema', { field: 'requestedSchema' });
    });
    expect(await client.request('ask-client', { method: 'elicitation/create' })).toEqual({
      answer: {
        jsonrpc: '2.0',
        id: 's2',
        error: { code: -32602, message: 'missing schema', data: { field: 'requestedSchema' } },
      },
    });
    off();

    client.onRequest('elicitation/create', () => {
      throw new Error('secret detail');
    });
    expect(await client.request('ask-client', { method: 'elicitation/create' })).toEqual({
      answer: { jsonrpc: '2.0', id: 's3', error: { code: -32603, message: 'Internal error' } },
    });
    expect(errors.map((e) => e.message)).toEqual(['secret detail']);
  });

  it('reports bad frames through onError', async () => {
    const s = await server();
    const client = await connect(s.url);
    const errors: Error[] = [];
    client.onError((e) => errors.push(e));
    const peer = await s.waitForConnection(1);
    peer.send('nope');
    peer.send(Buffer.from([0]), { binary: true });
    peer.send(JSON.stringify({ jsonrpc: '2.0', id: 99, result: {} }));
    // A round trip after the bad frames: they have all been handled by then.
    await client.request('echo');
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/^Ignored a text frame that is not valid JSON/),
      expect.stringMatching(/binary WebSocket frame/),
      'Received a reply for unknown request id 99',
    ]);
  });
});

describe('McpWsClient heartbeat', () => {
  it('terminates on a missing pong and rejects pending requests with code 4002', async () => {
    const s = await server({ autoPong: false });
    const client = await connect(s.url, { heartbeat: { intervalMs: 20, timeoutMs: 20 } });
    const errors: Error[] = [];
    client.onError((e) => errors.push(e));
    const err = await client.request('slow').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect(err).toMatchObject({ closeCode: 4002 });
    expect(errors.map((e) => e.message)).toContainEqual(expect.stringMatching(/^Heartbeat timeout/));
  });
});
