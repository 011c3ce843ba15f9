import { describe, it, expect, afterEach } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InitializeResultSchema, McpError, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { WebSocketClientTransport, type ClientTransportEvents } from '../../src/transport/client-transport.js';
import { WebSocketConnectError } from '../../src/transport/connect-error.js';
import { freePort, nextEvent, startServer, startSilentServer, type TestServer } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server(options: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(options);
  cleanups.push(() => s.close());
  return s;
}

function transport(url: string, options: ConstructorParameters<typeof WebSocketClientTransport>[1] = {}) {
  const t = new WebSocketClientTransport(url, { heartbeat: false, ...options });
  cleanups.push(() => t.close());
  return t;
}

/** Records everything the transport reports. */
function record(t: WebSocketClientTransport) {
  const log = {
    messages: [] as JSONRPCMessage[],
    errors: [] as Error[],
    closes: 0,
    events: [] as { name: keyof ClientTransportEvents; info: unknown }[],
  };
  t.onmessage = (m) => void log.messages.push(m);
  t.onerror = (e) => void log.errors.push(e);
  t.onclose = () => void log.closes++;
  for (const name of ['disconnected', 'reconnecting', 'reconnected', 'reconnect_failed'] as const) {
    t.on(name, (info: unknown) => void log.events.push({ name, info }));
  }
  return log;
}

/** Resolves with the next message the transport delivers for which `pred` holds. */
function nextMessage(t: WebSocketClientTransport, pred: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  const previous = t.onmessage;
  return new Promise((resolve) => {
    t.onmessage = (m) => {
      previous?.(m);
      if (pred(m as Record<string, unknown>)) {
        t.onmessage = previous;
        resolve(m as Record<string, unknown>);
      }
    };
  });
}

function nextError(t: WebSocketClientTransport): Promise<Error> {
  const previous = t.onerror;
  return new Promise((resolve) => {
    t.onerror = (e) => {
      previous?.(e);
      t.onerror = previous;
      resolve(e);
    };
  });
}

function nextClose(t: WebSocketClientTransport): Promise<void> {
  const previous = t.onclose;
  return new Promise((resolve) => {
    t.onclose = () => {
      previous?.();
      resolve();
    };
  });
}

const fastReconnect = { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 50, multiplier: 2 };

describe('WebSocketClientTransport options', () => {
  it('resolves defaults once and freezes them', () => {
    const t = new WebSocketClientTransport('ws://127.0.0.1:1/mcp');
    expect(t.options).toMatchObject({
      protocols: ['mcp'],
      connectTimeoutMs: 10_000,
      highWaterMark: 1024 * 1024,
      maxPayload: 4 * 1024 * 1024,
      perMessageDeflate: false,
      reconnect: false,
      heartbeat: { intervalMs: 30_000, timeoutMs: 10_000 },
    });
    expect(Object.isFrozen(t.options)).toBe(true);
    expect(t.sessionId).toBeUndefined();
    expect(t.state).toBe('idle');
  });

  it('fills a partial reconnect policy from the defaults', () => {
    const t = new WebSocketClientTransport('ws://127.0.0.1:1/mcp', { reconnect: { maxAttempts: 2 } });
    expect(t.options.reconnect).toEqual({ maxAttempts: 2, initialDelayMs: 250, maxDelayMs: 10_000, multiplier: 2 });
  });

  it.each([
    [{ connectTimeoutMs: -1 }, 'connectTimeoutMs should be a positive number, got -1'],
    [{ maxPayload: 0 }, 'maxPayload should be a positive integer, got 0'],
    [{ highWaterMark: -5 }, 'highWaterMark should be a non-negative integer, got -5'],
    [{ heartbeat: { intervalMs: 0 } }, 'heartbeat.intervalMs should be a positive number, got 0'],
    [{ reconnect: { maxDelayMs: -1 } }, 'reconnect.maxDelayMs should be a positive number, got -1'],
    [{ reconnect: { maxAttempts: 0 } }, 'reconnect.maxAttempts should be a positive integer or Infinity, got 0'],
    [{ protocols: 'mcp' }, 'protocols should be an array of strings, got "mcp"'],
    [{ headers: { Authorization: 1 } }, 'headers.Authorization should be a string, got a number'],
    [{ heartBeat: false }, 'unknown option "heartBeat"'],
  ])('rejects %o', (options, message) => {
    expect(() => new WebSocketClientTransport('ws://127.0.0.1:1/mcp', options as never)).toThrow(message);
  });

  it('rejects a URL that is not ws:// or wss://', () => {
    expect(() => new WebSocketClientTransport('ftp://example.com/mcp')).toThrow(
      'url should be a ws:// or wss:// URL, got "ftp://example.com/mcp"',
    );
    expect(() => new WebSocketClientTransport('not a url')).toThrow('url should be a ws:// or wss:// URL');
  });
});

describe('WebSocketClientTransport connect', () => {
  it('sends the headers, offers the mcp subprotocol, and exchanges messages', async () => {
    const s = await server();
    const t = transport(s.url, { headers: { Authorization: 'Bearer t0k3n', 'X-Trace': 'abc' } });
    await t.start();
    expect(t.state).toBe('open');
    expect(t.protocol).toBe('mcp');
    expect(s.upgrades[0]!.headers.authorization).toBe('Bearer t0k3n');
    expect(s.upgrades[0]!.headers['x-trace']).toBe('abc');
    expect(s.upgrades[0]!.headers['sec-websocket-protocol']).toBe('mcp');
    expect(s.sockets[0]!.protocol).toBe('mcp');

    const reply = nextMessage(t, (m) => m.id === 1);
    await t.send({ jsonrpc: '2.0', id: 1, method: 'echo', params: { hello: 'world' } });
    expect(await reply).toEqual({ jsonrpc: '2.0', id: 1, result: { echo: { hello: 'world' } } });
  });

  it('rejects start() with a clear message when the connection is refused', async () => {
    const port = await freePort();
    const t = transport(`ws://127.0.0.1:${port}/mcp`);
    const err = await t.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WebSocketConnectError);
    expect((err as WebSocketConnectError).kind).toBe('network');
    expect((err as Error).message).toBe(`WebSocket connect to ws://127.0.0.1:${port}/mcp failed: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(t.state).toBe('closed');
  });

  it('times out when the server never answers the upgrade', async () => {
    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const t = transport(silent.url, { connectTimeoutMs: 100 });
    await expect(t.start()).rejects.toThrow(`WebSocket connect to ${silent.url} timed out after 100 ms`);
  });

  it('reports an HTTP status on the upgrade', async () => {
    const s = await server({ verifyClient: (_info, cb) => cb(false, 503, 'Service Unavailable') });
    const t = transport(s.url);
    const err = (await t.start().catch((e: unknown) => e)) as WebSocketConnectError;
    expect(err.message).toContain('WebSocket upgrade rejected: HTTP 503');
    expect(err.message).not.toContain('\n');
    expect(err.kind).toBe('http');
    expect(err.status).toBe(503);
  });

  it('fails when the server selects no subprotocol', async () => {
    const s = await server({ handleProtocols: () => false });
    const t = transport(s.url);
    await expect(t.start()).rejects.toThrow('Server sent no subprotocol (offered: mcp)');
  });

  it('refuses a second start()', async () => {
    const s = await server();
    const t = transport(s.url);
    await t.start();
    await expect(t.start()).rejects.toThrow('already started');
  });

  it('close() during connect rejects start()', async () => {
    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const t = transport(silent.url);
    const log = record(t);
    const started = t.start();
    await t.close();
    await expect(started).rejects.toThrow('aborted');
    expect(log.closes).toBe(1);
  });
});

describe('WebSocketClientTransport messages', () => {
  it('reports invalid JSON, invalid envelopes and binary frames to onerror and keeps going', async () => {
    const s = await server();
    const t = transport(s.url);
    const log = record(t);
    await t.start();
    const ws = await s.waitForConnection(1);

    let error = nextError(t);
    ws.send('{not json');
    expect((await error).message).toMatch(/^Ignored a text frame that is not valid JSON/);

    error = nextError(t);
    ws.send(JSON.stringify({ hello: 'world' }));
    expect((await error).message).toMatch(/^Ignored a message that is not a valid JSON-RPC 2.0 message/);

    error = nextError(t);
    ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await error).message).toMatch(/binary WebSocket frame/);

    const reply = nextMessage(t, (m) => m.id === 7);
    await t.send({ jsonrpc: '2.0', id: 7, method: 'echo' });
    await reply;
    expect(log.messages).toHaveLength(1);
    expect(log.closes).toBe(0);
  });

  it('rejects send() before start and after close', async () => {
    const s = await server();
    const t = transport(s.url);
    await expect(t.send({ jsonrpc: '2.0', method: 'x' })).rejects.toThrow('Not connected: start() has not completed');
    await t.start();
    await t.close();
    await expect(t.send({ jsonrpc: '2.0', method: 'x' })).rejects.toThrow('Not connected: the transport is closed');
  });

  it('close() is idempotent and calls onclose once', async () => {
    const s = await server();
    const t = transport(s.url);
    const log = record(t);
    await t.start();
    const closedOnServer = new Promise<number>((resolve) => s.sockets[0]!.once('close', resolve));
    await Promise.all([t.close(), t.close()]);
    await t.close();
    expect(log.closes).toBe(1);
    expect(t.state).toBe('closed');
    expect(await closedOnServer).toBe(1000);
  });

  it('calls onclose when the server closes (reconnect off)', async () => {
    const s = await server();
    const t = transport(s.url);
    const log = record(t);
    await t.start();
    const closed = nextClose(t);
    await t.send({ jsonrpc: '2.0', id: 1, method: 'close-me', params: { code: 1001, reason: 'draining' } });
    await closed;
    expect(t.lastClose).toEqual({ code: 1001, reason: 'draining' });
    expect(log.events).toEqual([]);
    await t.close();
    expect(log.closes).toBe(1);
  });
});

describe('WebSocketClientTransport backpressure', () => {
  it('resolves send() at once under the high-water mark', async () => {
    const s = await server();
    const t = transport(s.url);
    await t.start();
    await Promise.all([1, 2, 3].map((id) => t.send({ jsonrpc: '2.0', id, method: 'echo' })));
    await s.waitForMessage((m) => m.id === 3);
    expect(s.received.map((r) => r.message.id)).toEqual([1, 2, 3]);
  });

  it('waits for the write callback at or above the high-water mark', async () => {
    const s = await server();
    const t = transport(s.url, { highWaterMark: 0 });
    await t.start();
    await Promise.all([1, 2, 3].map((id) => t.send({ jsonrpc: '2.0', id, method: 'echo' })));
    await s.waitForMessage((m) => m.id === 3);
    expect(s.received.map((r) => r.message.id)).toEqual([1, 2, 3]);
  });

  it('buffers while the peer does not read, and every send resolves once it reads again', async () => {
    const s = await server();
    const highWaterMark = 64 * 1024;
    const t = transport(s.url, { highWaterMark });
    await t.start();
    const peer = await s.waitForConnection(1);
    peer.pause();
    const blob = 'x'.repeat(1024 * 1024);
    const sends = Array.from({ length: 16 }, (_, i) =>
      t.send({ jsonrpc: '2.0', method: 'notifications/blob', params: { i, blob } }),
    );
    expect(t.bufferedAmount).toBeGreaterThan(highWaterMark);
    peer.resume();
    await Promise.all(sends);
    await s.waitForMessage((m) => (m.params as { i?: number } | undefined)?.i === 15);
    expect(s.received).toHaveLength(16);
  });
});

describe('WebSocketClientTransport heartbeat', () => {
  it('terminates the socket when pings go unanswered', async () => {
    const s = await server({ autoPong: false });
    const t = transport(s.url, { heartbeat: { intervalMs: 20, timeoutMs: 20 } });
    const log = record(t);
    await t.start();
    await nextClose(t);
    expect(log.errors.map((e) => e.message)).toContainEqual(expect.stringMatching(/^Heartbeat timeout: no pong/));
    expect(t.lastClose).toEqual({ code: 4002, reason: 'heartbeat timeout' });
    expect(log.closes).toBe(1);
  });

  it('keeps a healthy connection open', async () => {
    const s = await server();
    const t = transport(s.url, { heartbeat: { intervalMs: 10, timeoutMs: 5_000 } });
    const log = record(t);
    await t.start();
    const peer = await s.waitForConnection(1);
    // Wait for a few pings, then check the connection is still fine.
    for (let i = 0; i < 3; i++) await new Promise((resolve) => peer.once('ping', resolve));
    const reply = nextMessage(t, (m) => m.id === 1);
    await t.send({ jsonrpc: '2.0', id: 1, method: 'echo' });
    await reply;
    expect(log.closes).toBe(0);
    expect(log.errors).toEqual([]);
  });

  it('treats a heartbeat timeout as a connection loss when reconnect is on', async () => {
    const s = await server({ autoPong: false });
    const t = transport(s.url, { heartbeat: { intervalMs: 20, timeoutMs: 20 }, reconnect: fastReconnect });
    await t.start();
    const disconnected = await nextEvent<{ code: number }>(t, 'disconnected');
    expect(disconnected.code).toBe(4002);
    await nextEvent(t, 'reconnected');
    await t.close();
  });
});

describe('WebSocketClientTransport reconnect', () => {
  it('reconnects after the server terminates the socket, with events', async () => {
    const s = await server();
    const t = transport(s.url, { reconnect: fastReconnect });
    const log = record(t);
    await t.start();

    // A request the old connection will never answer.
    await t.send({ jsonrpc: '2.0', id: 1, method: 'slow' });
    await s.waitForMessage((m) => m.id === 1);
    const failed = nextMessage(t, (m) => m.id === 1);
    const reconnected = nextEvent<{ attempt: number }>(t, 'reconnected');
    s.sockets[0]!.terminate();

    expect(await failed).toMatchObject({ id: 1, error: { code: -32000, data: { closeCode: 1006 } } });
    expect((await failed).error).toHaveProperty('message', expect.stringContaining('Connection closed (WebSocket code 1006)'));
    expect(await reconnected).toEqual({ attempt: 1 });
    expect(log.events.map((e) => e.name)).toEqual(['disconnected', 'reconnecting', 'reconnected']);
    expect(log.events[1]!.info).toMatchObject({ attempt: 1 });
    const delayMs = (log.events[1]!.info as { delayMs: number }).delayMs;
    expect(delayMs).toBeGreaterThanOrEqual(0);
    expect(delayMs).toBeLessThan(10);
    expect(log.closes).toBe(0);
    expect(t.state).toBe('open');
    expect(s.sockets).toHaveLength(2);
    expect(s.upgrades[1]!.headers['sec-websocket-protocol']).toBe('mcp');

    // The new connection works.
    const reply = nextMessage(t, (m) => m.id === 2);
    await t.send({ jsonrpc: '2.0', id: 2, method: 'echo', params: { again: true } });
    expect(await reply).toMatchObject({ result: { echo: { again: true } } });
  });

  it('rejects send() while reconnecting', async () => {
    const s = await server();
    const t = transport(s.url, { reconnect: { ...fastReconnect, initialDelayMs: 5_000, maxDelayMs: 5_000 } });
    await t.start();
    const reconnecting = nextEvent(t, 'reconnecting');
    s.sockets[0]!.terminate();
    await reconnecting;
    expect(t.state).toBe('reconnecting');
    await expect(t.send({ jsonrpc: '2.0', method: 'x' })).rejects.toThrow('reconnecting');
  });

  it('gives up after maxAttempts and calls onclose once', async () => {
    const s = await server();
    const t = transport(s.url, { reconnect: fastReconnect });
    const log = record(t);
    await t.start();
    const failed = nextEvent<{ attempts: number; error: Error }>(t, 'reconnect_failed');
    const closed = nextClose(t);
    await s.close();

    const info = await failed;
    await closed;
    expect(info.attempts).toBe(3);
    expect(info.error.message).toMatch(/ECONNREFUSED/);
    expect(log.events.map((e) => e.name)).toEqual([
      'disconnected',
      'reconnecting',
      'reconnecting',
      'reconnecting',
      'reconnect_failed',
    ]);
    expect(log.events.filter((e) => e.name === 'reconnecting').map((e) => (e.info as { attempt: number }).attempt)).toEqual([1, 2, 3]);
    expect(log.errors.filter((e) => /ECONNREFUSED/.test(e.message))).toHaveLength(3);
    expect(t.state).toBe('closed');
    await t.close();
    expect(log.closes).toBe(1);
  });

  it('stops at once on an HTTP 4xx during reconnect', async () => {
    let reject = false;
    const s = await server({ verifyClient: (_info, cb) => (reject ? cb(false, 401, 'Unauthorized') : cb(true)) });
    const t = transport(s.url, { reconnect: { ...fastReconnect, maxAttempts: 10 } });
    await t.start();
    reject = true;
    const failed = nextEvent<{ attempts: number; error: WebSocketConnectError }>(t, 'reconnect_failed');
    s.sockets[0]!.terminate();
    const info = await failed;
    expect(info.attempts).toBe(1);
    expect(info.error.status).toBe(401);
  });

  it('does not reconnect after a close code that says not to', async () => {
    const s = await server();
    const t = transport(s.url, { reconnect: fastReconnect });
    const log = record(t);
    await t.start();
    const closed = nextClose(t);
    await t.send({ jsonrpc: '2.0', id: 1, method: 'close-me', params: { code: 1008, reason: 'token expired' } });
    await closed;
    expect(log.events).toEqual([]);
    expect(t.lastClose).toEqual({ code: 1008, reason: 'token expired' });
  });

  it('close() cancels a pending reconnect', async () => {
    const s = await server();
    const t = transport(s.url, { reconnect: { ...fastReconnect, initialDelayMs: 30, maxDelayMs: 30 } });
    const log = record(t);
    await t.start();
    const reconnecting = nextEvent(t, 'reconnecting');
    s.sockets[0]!.terminate();
    await reconnecting;
    await t.close();
    expect(log.closes).toBe(1);
    // Well past the largest possible delay: no new connection was made.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(s.sockets).toHaveLength(1);
    expect(log.events.map((e) => e.name)).toEqual(['disconnected', 'reconnecting']);
    expect(t.state).toBe('closed');
  });
});

describe('WebSocketClientTransport with the SDK Client', () => {
  it('connects, initializes and lists tools', async () => {
    const s = await server();
    const client = new Client({ name: 'sdk-test', version: '1.0.0' });
    const t = new WebSocketClientTransport(s.url, { heartbeat: false });
    await client.connect(t);
    expect(client.getServerVersion()).toEqual({ name: 'test-server', version: '1.0.0' });
    const initialize = await s.waitForMessage((m) => m.method === 'initialize');
    expect(t.protocolVersion).toBe((initialize.params as { protocolVersion: string }).protocolVersion);
    await s.waitForMessage((m) => m.method === 'notifications/initialized');

    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['echo']);

    let clientClosed = 0;
    client.onclose = () => void clientClosed++;
    await client.close();
    expect(clientClosed).toBe(1);
    expect(t.state).toBe('closed');
  });

  it('fails in-flight calls on a reconnect, then re-initializes on the new connection', async () => {
    const s = await server();
    const client = new Client({ name: 'sdk-test', version: '1.0.0' });
    const t = new WebSocketClientTransport(s.url, { heartbeat: false, reconnect: fastReconnect });
    cleanups.push(() => client.close());
    await client.connect(t);

    const inFlight = client.callTool({ name: 'slow' });
    await s.waitForMessage((m) => m.method === 'tools/call');
    const reconnected = nextEvent(t, 'reconnected');
    s.sockets[0]!.terminate();
    const err = await inFlight.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).code).toBe(-32000);
    await reconnected;

    const init = await client.request(
      {
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'sdk-test', version: '1.0.0' } },
      },
      InitializeResultSchema,
    );
    expect(init.serverInfo.name).toBe('test-server');
    await client.notification({ method: 'notifications/initialized' });
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(1);
    const onNewConnection = s.received.filter((r) => r.socket === s.sockets[1]).map((r) => r.message.method);
    expect(onNewConnection).toEqual(['initialize', 'notifications/initialized', 'tools/list']);
  });
});
