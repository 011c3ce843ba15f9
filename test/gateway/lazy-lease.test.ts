/**
 * A client costs an upstream session only once it speaks: WebSocket clients
 * that connect and stay silent (ws answers pings by itself, so they look
 * alive) must not lease upstream sessions or spawn stdio children, and must
 * not keep a client that does speak from being served. The first message
 * starts the lease; messages arriving meanwhile wait in the backlog, still
 * bounded by maxPendingPerClient.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { stdioChildCount } from '../../src/gateway/upstream-stdio.js';
import { closeAll, connect, startGateway, until } from './helpers.js';

const RAW = fileURLToPath(new URL('./fixtures/raw-server.mjs', import.meta.url));
const raw = { command: process.execPath, args: [RAW], name: 'raw' };

const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await closeAll();
});

async function silent(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, ['mcp']);
  sockets.push(ws);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return ws;
}

interface PoolView {
  size: number;
  leased: number;
  waiting: number;
}

describe('upstream sessions are leased on a client\'s first message', () => {
  it('silent clients past the pool maximum take no upstream session, and a speaking client is served', { timeout: 60_000 }, async () => {
    const { gateway, url } = await startGateway({
      upstreams: [raw],
      pool: { minConnections: 1, maxConnections: 3, acquireTimeoutMs: 2000 },
    });
    const pool = (): PoolView => gateway.snapshot().pool as PoolView;
    await until(() => pool().size === 1 && stdioChildCount() === 1, 10_000, 'the warm session');
    const N = 12;
    for (let i = 0; i < N; i++) await silent(url);
    await until(() => gateway.snapshot().sessions === N, 10_000, 'silent sessions registered');
    // Longer than acquireTimeoutMs: a lease taken on upgrade would show by now, and waiters would have failed.
    await new Promise((r) => setTimeout(r, 2500));
    expect(pool()).toMatchObject({ size: 1, leased: 0, waiting: 0 });
    expect(stdioChildCount()).toBe(1);
    expect(sockets.every((ws) => ws.readyState === WebSocket.OPEN)).toBe(true);

    const client = await connect(url);
    const listed = (await client.request('tools/list', {})) as { tools: Array<{ name: string }> };
    expect(listed.tools.map((t) => t.name)).toContain('echo');
    expect(pool().leased).toBe(1);
    expect(stdioChildCount()).toBeLessThanOrEqual(3);
  });

  it('a notification or response before any request takes no upstream session either', { timeout: 60_000 }, async () => {
    const { gateway, url } = await startGateway({
      upstreams: [raw],
      pool: { minConnections: 1, maxConnections: 2, acquireTimeoutMs: 2000 },
    });
    const pool = (): PoolView => gateway.snapshot().pool as PoolView;
    await until(() => pool().size === 1, 10_000, 'the warm session');
    for (let i = 0; i < 6; i++) {
      const ws = await silent(url);
      ws.send(JSON.stringify(i % 2 === 0 ? { jsonrpc: '2.0', method: 'notifications/whatever' } : { jsonrpc: '2.0', id: 'x', result: {} }));
    }
    await until(() => gateway.snapshot().sessions === 6, 10_000, 'sessions registered');
    await new Promise((r) => setTimeout(r, 2500));
    expect(pool()).toMatchObject({ size: 1, leased: 0, waiting: 0 });
    const client = await connect(url);
    const listed = (await client.request('tools/list', {})) as { tools: Array<{ name: string }> };
    expect(listed.tools.map((t) => t.name)).toContain('echo');
  });

  it('clients that go away while waiting for an upstream session leave the queue at once', { timeout: 60_000 }, async () => {
    const { gateway, url } = await startGateway({
      upstreams: [raw],
      pool: { minConnections: 1, maxConnections: 1, acquireTimeoutMs: 30_000 },
    });
    const pool = (): PoolView => gateway.snapshot().pool as PoolView;
    const holder = await connect(url);
    await holder.request('tools/list', {});
    for (let i = 0; i < 20; i++) {
      const ws = await silent(url);
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'gone', version: '1' } } }));
    }
    await until(() => pool().waiting === 20, 10_000, 'twenty waiters');
    for (const ws of sockets.splice(0)) ws.terminate();
    // Far sooner than acquireTimeoutMs: the waiters of closed clients are gone.
    await until(() => pool().waiting === 0, 10_000, 'the waiters of closed clients to leave');
    expect(pool().size).toBe(1);
  });

  it('a client that pipelines before its upstream session is ready gets every answer, within maxPendingPerClient', { timeout: 60_000 }, async () => {
    const { gateway, url } = await startGateway({
      upstreams: [raw],
      pool: { minConnections: 0, maxConnections: 2, acquireTimeoutMs: 5000 },
      maxPendingPerClient: 4,
    });
    expect((gateway.snapshot().pool as PoolView).size).toBe(0);
    const ws = await silent(url);
    const replies = new Map<unknown, { result?: unknown; error?: { code: number } }>();
    ws.on('message', (d) => {
      const m = JSON.parse((d as Buffer).toString());
      if ('id' in m && !('method' in m)) replies.set(m.id, m);
    });
    const send = (m: object): void => ws.send(JSON.stringify({ jsonrpc: '2.0', ...m }));
    send({ id: 'init', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'eager', version: '1' } } });
    send({ method: 'notifications/initialized' });
    const M = 12;
    for (let i = 0; i < M; i++) send({ id: i, method: 'tools/call', params: { name: 'echo', arguments: { text: `t${i}` } } });
    await until(() => replies.size === M + 1, 20_000, 'every answer');
    expect(replies.get('init')?.result).toBeDefined();
    for (let i = 0; i < M; i++) {
      const r = replies.get(i)!;
      // Answered, or refused past twice the limit: never lost.
      if (r.error !== undefined) expect(r.error.code).toBe(-32018);
      else expect(r.result).toBeDefined();
    }
    expect((gateway.snapshot().pool as PoolView).leased).toBe(1);
  });
});
