import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { McpRouter } from '../../src/router/router.js';
import { RawClient, closeAll, startServer } from '../helpers.js';

afterAll(closeAll);

function upgradeStatus(url: string): Promise<{ status: number; retryAfter?: string; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['mcp']);
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined });
      res.resume();
      ws.terminate();
    });
    ws.once('error', (err) => {
      if (!String(err.message).includes('Unexpected server response')) reject(err);
    });
  });
}

describe('connection limits', () => {
  it('admits exactly maxConnections out of a burst of concurrent upgrades; the rest get 503 + Retry-After', async () => {
    const { url, server } = await startServer({ maxConnections: 10 });
    const results = await Promise.all(Array.from({ length: 40 }, () => upgradeStatus(url)));
    const open = results.filter((r) => r.status === 101);
    const refused = results.filter((r) => r.status === 503);
    expect(open.length).toBe(10);
    expect(refused.length).toBe(30);
    expect(refused.every((r) => r.retryAfter === '1')).toBe(true);
    expect(server.metrics.rejected.max_connections).toBe(30);
    // Closing one frees its slot.
    const closed = new Promise((r) => open[0]!.ws!.once('close', r));
    open[0]!.ws!.close();
    await closed;
    await new Promise((r) => setTimeout(r, 50));
    const again = await upgradeStatus(url);
    expect(again.status).toBe(101);
    for (const r of [...open.slice(1), again]) r.ws!.terminate();
  });

  it('limits connections per IP', async () => {
    const { url, server } = await startServer({ maxConnectionsPerIp: 2 });
    const a = await upgradeStatus(url);
    const b = await upgradeStatus(url);
    const c = await upgradeStatus(url);
    expect([a.status, b.status, c.status]).toEqual([101, 101, 503]);
    expect(server.metrics.rejected.max_connections_per_ip).toBe(1);
    a.ws!.terminate();
    b.ws!.terminate();
  });
});

describe('heartbeat', () => {
  it('terminates a session that stops answering pings, and keeps one that answers', async () => {
    const { url, server } = await startServer({ heartbeatIntervalMs: 50, heartbeatTimeoutMs: 100 });
    const alive = await RawClient.open(url);
    const dead = await RawClient.open(url, ['mcp'], { autoPong: false });
    const closed = await dead.closed;
    expect(closed.code).toBe(1006); // terminated: no close frame
    expect(server.metrics.errors.heartbeat_timeout).toBe(1);
    expect(alive.ws.readyState).toBe(WebSocket.OPEN);
    expect((await alive.request('ping')).result).toEqual({});
    alive.close();
  });

  it('sends no pings when heartbeats are off', async () => {
    const { url } = await startServer({ heartbeatIntervalMs: 0 });
    const c = await RawClient.open(url, ['mcp'], { autoPong: false });
    let pings = 0;
    c.ws.on('ping', () => pings++);
    await new Promise((r) => setTimeout(r, 150));
    expect(pings).toBe(0);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.close();
  });
});

describe('backpressure', () => {
  it('stops reading from a consumer that does not read, then closes it with 4001', async () => {
    const big = 'x'.repeat(256 * 1024);
    const router = new McpRouter({ name: 'big', version: '1' }).tool({ name: 'big' }, () => big);
    const { url, server } = await startServer({
      handler: router,
      maxBufferedBytes: 1024 * 1024,
      slowConsumerTimeoutMs: 100,
      closeTimeoutMs: 200,
    });
    const c = await RawClient.session(url);
    // Stop reading at the TCP level, then ask for far more than the cap.
    (c.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const pad = 'p'.repeat(4096);
    for (let i = 0; i < 4000; i++) c.send({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'big', arguments: {}, _meta: { pad } } });
    for (let i = 0; i < 100 && server.sessionCount > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(server.metrics.errors.slow_consumer).toBe(1);
    expect(server.sessionCount).toBe(0);
    // The server read only part of the 4,000 requests: it paused reading once over the cap.
    expect(server.metrics.messagesReceived).toBeLessThan(4000);
  });
});

describe('graceful shutdown', () => {
  it('fails readiness, refuses new upgrades and requests, finishes in-flight work, then closes with 1001', async () => {
    const { url, server, base } = await startServer({ drainTimeoutMs: 5000 });
    const c = await RawClient.session(url);
    c.send({ jsonrpc: '2.0', id: 'slow', method: 'tools/call', params: { name: 'sleep', arguments: { ms: 300 } } });
    await new Promise((r) => setTimeout(r, 20));
    const closing = server.close();
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    expect((await upgradeStatus(url)).status).toBe(503);
    const refused = await c.request('ping', undefined, 'late');
    expect(refused).toMatchObject({ id: 'late', error: { code: -32010 } });
    const done = await c.nextResponse();
    expect(done).toMatchObject({ id: 'slow', result: { content: [{ text: 'slept 300 ms' }] } });
    expect((await c.closed).code).toBe(1001);
    await closing;
  });

  it('closes sessions with 1001 at the drain deadline even if work is still running', async () => {
    const { url, server } = await startServer({ drainTimeoutMs: 100 });
    const c = await RawClient.session(url);
    c.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 30000 } } });
    await new Promise((r) => setTimeout(r, 20));
    await server.close();
    expect((await c.closed).code).toBe(1001);
  });
});
