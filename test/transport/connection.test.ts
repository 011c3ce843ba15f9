/**
 * The shared Connection under both clients: the heartbeat ends a silent
 * server the same way for McpWsClient and WebSocketClientTransport, and a
 * listener that throws is reported while the connection (or the transport's
 * reconnect) goes on.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { Kind } from '../../src/protocol/jsonrpc.js';
import { Connection, type CloseInfo, type ConnectionListener } from '../../src/transport/connection.js';
import { McpWsClient } from '../../src/transport/client.js';
import { WebSocketClientTransport } from '../../src/transport/client-transport.js';
import { openWebSocket, resolveConnectOptions, type WebSocketConnectOptions } from '../../src/transport/open.js';
import { startServer, type TestServer } from './helpers.js';
import { waitFor } from '../helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function server(options: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(options);
  cleanups.push(() => s.close());
  return s;
}

/** A listener that records everything, with optional throwing hooks. */
function recorder(throwOn: { message?: boolean; close?: boolean } = {}) {
  const log = { messages: [] as { message: unknown; kind: Kind }[], errors: [] as Error[], closes: [] as CloseInfo[] };
  let closed!: () => void;
  const done = new Promise<void>((resolve) => (closed = resolve));
  const listener: ConnectionListener = {
    onMessage(message, kind) {
      log.messages.push({ message, kind });
      if (throwOn.message) throw new Error('listener broke on a message');
    },
    onError(error) {
      log.errors.push(error);
    },
    onClose(info) {
      log.closes.push(info);
      closed();
      if (throwOn.close) throw new Error('listener broke on close');
    },
  };
  return { log, listener, done };
}

async function open(url: string, listener: ConnectionListener, options: WebSocketConnectOptions = {}): Promise<Connection> {
  const resolved = resolveConnectOptions({ heartbeat: false, ...options });
  const conn = new Connection(await openWebSocket(url, resolved), resolved, listener);
  cleanups.push(() => conn.close());
  return conn;
}

const HEARTBEAT_ERROR = /^Heartbeat timeout: no pong( from ws:\/\/127\.0\.0\.1:\d+\/mcp)? within 20 ms; connection terminated$/;
const heartbeat = { intervalMs: 20, timeoutMs: 20 };

describe('Connection heartbeat', () => {
  it('ends a server that never answers pings, reported as 4002', async () => {
    const s = await server({ autoPong: false });
    const r = recorder();
    const conn = await open(s.url, r.listener, { heartbeat });
    await r.done;
    expect(r.log.closes).toEqual([{ code: 4002, reason: 'heartbeat timeout' }]);
    expect(conn.closeInfo).toEqual({ code: 4002, reason: 'heartbeat timeout' });
    expect(conn.isOpen).toBe(false);
    expect(r.log.errors.map((e) => e.message)).toEqual([expect.stringMatching(HEARTBEAT_ERROR)]);
  });

  it('ends the silent server the same way under both clients', async () => {
    const s = await server({ autoPong: false });

    const client = await McpWsClient.connect(s.url, { heartbeat });
    cleanups.push(() => client.close());
    const clientErrors: Error[] = [];
    client.onError((e) => clientErrors.push(e));
    const clientClose = await new Promise<CloseInfo>((resolve) => client.onClose(resolve));

    const t = new WebSocketClientTransport(s.url, { heartbeat });
    cleanups.push(() => t.close());
    const transportErrors: Error[] = [];
    t.onerror = (e) => void transportErrors.push(e);
    const closed = new Promise<void>((resolve) => (t.onclose = resolve));
    await t.start();
    await closed;

    expect(clientClose).toEqual({ code: 4002, reason: 'heartbeat timeout' });
    expect(t.lastClose).toEqual(clientClose);
    expect(clientErrors.map((e) => e.message)).toEqual([expect.stringMatching(HEARTBEAT_ERROR)]);
    expect(transportErrors.map((e) => e.message)).toEqual([expect.stringMatching(HEARTBEAT_ERROR)]);
  });
});

describe('Connection listener guard', () => {
  it('reports a listener that throws on a message and keeps reading', async () => {
    const s = await server();
    const r = recorder({ message: true });
    const conn = await open(s.url, r.listener);
    conn.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'echo' }));
    conn.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'echo' }));
    await waitFor(() => r.log.messages.length === 2);
    expect(r.log.messages.map((m) => m.kind)).toEqual([Kind.Response, Kind.Response]);
    expect(r.log.errors.map((e) => e.message)).toEqual(['listener broke on a message', 'listener broke on a message']);
    expect(conn.isOpen).toBe(true);
  });

  it('reports a listener that throws on close', async () => {
    const s = await server();
    const r = recorder({ close: true });
    await open(s.url, r.listener);
    (await s.waitForConnection(1)).close(4000, 'bye');
    await r.done;
    await waitFor(() => r.log.errors.length === 1);
    expect(r.log.closes).toEqual([{ code: 4000, reason: 'bye' }]);
    expect(r.log.errors[0]!.message).toBe('listener broke on close');
  });

  it('a throwing lifecycle listener goes to onerror and the transport still reconnects', async () => {
    const s = await server();
    const t = new WebSocketClientTransport(s.url, {
      heartbeat: false,
      reconnect: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 50, multiplier: 2 },
    });
    cleanups.push(() => t.close());
    const errors: Error[] = [];
    t.onerror = (e) => void errors.push(e);
    const seen: string[] = [];
    for (const name of ['disconnected', 'reconnecting', 'reconnected'] as const) {
      t.on(name, () => {
        seen.push(`${name} 1`);
        throw new Error(`${name} listener broke`);
      });
      t.on(name, () => void seen.push(`${name} 2`));
    }
    await t.start();
    (await s.waitForConnection(1)).terminate();
    await waitFor(() => seen.length === 6);
    expect(seen).toEqual([
      'disconnected 1',
      'disconnected 2',
      'reconnecting 1',
      'reconnecting 2',
      'reconnected 1',
      'reconnected 2',
    ]);
    expect(errors.map((e) => e.message)).toEqual([
      'disconnected listener broke',
      'reconnecting listener broke',
      'reconnected listener broke',
    ]);
    expect(t.state).toBe('open');
    await t.send({ jsonrpc: '2.0', id: 1, method: 'echo' });
    expect(await s.waitForMessage((m) => m.id === 1)).toMatchObject({ method: 'echo' });
  });

  it('a throwing reconnect_failed listener still lets the transport close', async () => {
    const s = await server();
    const t = new WebSocketClientTransport(s.url, {
      heartbeat: false,
      reconnect: { maxAttempts: 1, initialDelayMs: 10, maxDelayMs: 10, multiplier: 2 },
    });
    cleanups.push(() => t.close());
    const errors: Error[] = [];
    t.onerror = (e) => void errors.push(e);
    let closes = 0;
    t.onclose = () => void closes++;
    t.on('reconnect_failed', () => {
      throw new Error('reconnect_failed listener broke');
    });
    await t.start();
    const peer = await s.waitForConnection(1);
    await s.close();
    peer.terminate();
    await waitFor(() => closes === 1);
    expect(t.state).toBe('closed');
    expect(errors.map((e) => e.message)).toContain('reconnect_failed listener broke');
  });
});
