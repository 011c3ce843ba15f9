/**
 * Backpressure through the gateway, against real upstreams that stop
 * reading: a client pipelining thousands of calls must not make the gateway
 * queue them without bound. The gateway stops reading that client instead
 * (its pending count stays bounded), and once the upstream reads again every
 * call is answered, none lost.
 */
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { McpWsGateway } from '../../src/gateway/gateway.js';
import { closeAll, startGateway, until } from './helpers.js';

const RAW = fileURLToPath(new URL('./fixtures/raw-server.mjs', import.meta.url));
const PAD = 'p'.repeat(2000);

afterEach(closeAll);

type RawClient = { ws: WebSocket; replies: Map<unknown, any>; request(id: number | string, method: string, params?: object): void };

/** A raw client, not yet initialized: sends what it is told, collects replies by id. */
async function openClient(url: string): Promise<RawClient> {
  const ws = new WebSocket(url, ['mcp']);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const replies = new Map<unknown, any>();
  ws.on('message', (d) => {
    const m = JSON.parse((d as Buffer).toString());
    if ('id' in m && !('method' in m)) replies.set(m.id, m);
  });
  const request = (id: number | string, method: string, params?: object): void => {
    ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) }));
  };
  return { ws, replies, request };
}

/** Sends initialize and notifications/initialized (without waiting for the reply). */
function sendInitialize(c: RawClient): void {
  c.request('init', 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'flood', version: '1' } });
  c.ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
}

/** A raw client whose initialize has been answered. */
async function rawClient(url: string): Promise<RawClient> {
  const c = await openClient(url);
  sendInitialize(c);
  await until(() => c.replies.has('init'), 10_000, 'initialize');
  return c;
}

/** Has the client's stdio upstream stop reading stdin ("stall"); returns the child's pid, to resume it with SIGUSR1. */
async function stallUpstream(c: RawClient): Promise<number> {
  c.request('pid', 'tools/call', { name: 'pid' });
  await until(() => c.replies.has('pid'), 10_000, 'pid');
  const pid = Number(c.replies.get('pid').result.content[0].text);
  c.request('stall', 'tools/call', { name: 'stall' });
  await until(() => c.replies.has('stall'), 10_000, 'stall');
  return pid;
}

/** A gateway whose only upstream session is leased to `first`: the next client's requests wait for it. */
async function fullPoolGateway(maxPendingPerClient: number): Promise<{ gateway: McpWsGateway; url: string; first: RawClient }> {
  const { gateway, url } = await startGateway({
    upstreams: [{ command: process.execPath, args: [RAW], name: 'raw' }],
    pool: { minConnections: 1, maxConnections: 1, healthCheckIntervalMs: 0, acquireTimeoutMs: 120_000 },
    maxPendingPerClient,
  });
  return { gateway, url, first: await rawClient(url) };
}

/** The /metrics URL on the port of a ws:// endpoint. */
function metricsUrl(wsUrl: string): string {
  const u = new URL(wsUrl);
  u.protocol = 'http:';
  u.pathname = '/metrics';
  return u.href;
}

/** Watches the gateway's pending count for `ms`, returning the highest value seen. */
async function watchPending(gateway: McpWsGateway, ms: number): Promise<number> {
  let max = 0;
  const end = Date.now() + ms;
  for (let k = 0; k < 10_000 && Date.now() < end; k++) {
    max = Math.max(max, gateway.pendingRequests);
    await new Promise((r) => setTimeout(r, 20));
  }
  return max;
}

/** Floods `count` echo calls, waits for the gateway to hold the client, checks the bound, resumes, checks every answer. */
async function floodAndResume(
  gateway: McpWsGateway,
  client: RawClient,
  count: number,
  bound: number,
  resume: () => void,
): Promise<void> {
  for (let i = 0; i < count; i++) client.request(i, 'tools/call', { name: 'echo', arguments: { text: `${i}:${PAD}` } });
  // The gateway stops reading the client: what it holds stays under the bound,
  // and the rest waits in the client's own send buffer.
  await until(() => gateway.stats.clientReadsHeld > 0, 20_000, 'the gateway to stop reading the client');
  const max = await watchPending(gateway, 1500);
  expect(max).toBeGreaterThan(0);
  expect(max).toBeLessThanOrEqual(bound);
  // The same numbers reach /metrics.
  const scrape = await (await fetch(metricsUrl(client.ws.url))).text();
  expect(scrape).toMatch(/^mcp_ws_gateway_client_reads_held_total [1-9]\d*$/m);
  const pending = Number(/^mcp_ws_gateway_client_pending (\d+)$/m.exec(scrape)?.[1]);
  expect(pending).toBeGreaterThan(0);
  expect(pending).toBeLessThanOrEqual(bound);
  expect(client.replies.size).toBeLessThan(count);
  resume();
  await until(() => client.replies.size >= count + 2, 120_000, 'every call to be answered');
  for (let i = 0; i < count; i++) {
    const r = client.replies.get(i);
    expect(r?.error).toBeUndefined();
    expect(r.result.content[0].text).toBe(`${i}:${PAD}`);
  }
  expect(gateway.pendingRequests).toBe(0);
}

describe('gateway backpressure', () => {
  it('stdio upstream that stops reading stdin: at most maxPendingPerClient (+ one read) queued; all answered after it resumes', async () => {
    const { gateway, url } = await startGateway({
      upstreams: [{ command: process.execPath, args: [RAW], name: 'raw' }],
      pool: { minConnections: 1, healthCheckIntervalMs: 0 },
      maxPendingPerClient: 100,
    });
    const c = await rawClient(url);
    const pid = await stallUpstream(c);
    await floodAndResume(gateway, c, 4000, 200, () => process.kill(pid, 'SIGUSR1'));
  }, 180_000);

  it('stdio upstream: a full stdin pipe alone holds the client, even under a large maxPendingPerClient', async () => {
    const { gateway, url } = await startGateway({
      upstreams: [{ command: process.execPath, args: [RAW], name: 'raw' }],
      pool: { minConnections: 1, healthCheckIntervalMs: 0 },
      maxPendingPerClient: 100_000,
    }, { maxInFlightPerSession: 100_000 }); // so that only the pipe can hold the client
    const c = await rawClient(url);
    const pid = await stallUpstream(c);
    // 64 KiB of pipe plus stdin's own buffer plus one socket read of 2 KB calls: far below 4000.
    await floodAndResume(gateway, c, 4000, 1000, () => process.kill(pid, 'SIGUSR1'));
  }, 180_000);

  it('no upstream session yet (pool full): the backlog stays bounded, and everything is sent once a session frees up', async () => {
    const { gateway, url, first } = await fullPoolGateway(100);
    // The only upstream session is leased to `first`: the next client waits for it, with a backlog.
    const b = await openClient(url);
    const { ws, replies } = b;
    sendInitialize(b);
    const count = 4000;
    for (let i = 0; i < count; i++) {
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'echo', arguments: { text: `${i}:${PAD}` } } }));
    }
    await until(() => gateway.stats.clientReadsHeld > 0, 20_000, 'the gateway to stop reading the client');
    const max = await watchPending(gateway, 1500);
    expect(max).toBeGreaterThan(0);
    expect(max).toBeLessThanOrEqual(200);
    expect(replies.size).toBe(0);
    first.ws.close();
    await until(() => replies.size >= count + 1, 120_000, 'every call to be answered');
    for (let i = 0; i < count; i++) expect(replies.get(i)?.result?.content[0].text).toBe(`${i}:${PAD}`);
    ws.close();
  }, 180_000);

  it('notifications backlogged past the limit hold the client too, and reading resumes once they are sent upstream', async () => {
    const { gateway, url, first } = await fullPoolGateway(100);
    const { ws, replies } = await openClient(url);
    // A request starts the lease (it waits: the pool is full); then only notifications pile up
    // (no answer to them could resume reading on its own).
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'first', method: 'ping' }));
    for (let i = 0; i < 150; i++) ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }));
    await until(() => gateway.stats.clientReadsHeld > 0, 20_000, 'the gateway to stop reading the client');
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'after', method: 'ping' }));
    first.ws.close();
    await until(() => replies.has('after'), 30_000, 'the request sent while held to be answered');
    expect(replies.get('after').result).toEqual({});
    expect(replies.get('first').result).toEqual({});
    expect(gateway.pendingRequests).toBe(0);
    ws.close();
  }, 60_000);

  it('requests already read past twice the limit get -32018 at once; every request is answered one way or the other', async () => {
    const { gateway, url } = await startGateway({
      upstreams: [{ command: process.execPath, args: [RAW], name: 'raw' }],
      pool: { minConnections: 1, healthCheckIntervalMs: 0 },
      maxPendingPerClient: 10,
    });
    const c = await rawClient(url);
    const pid = await stallUpstream(c);
    // Small requests sent in one burst: many arrive in one socket read, before reading stops.
    const count = 300;
    for (let i = 0; i < count; i++) c.request(i, 'tools/call', { name: 'echo', arguments: { text: `${i}` } });
    await until(() => gateway.stats.clientReadsHeld > 0, 20_000, 'the gateway to stop reading the client');
    expect(await watchPending(gateway, 500)).toBeLessThanOrEqual(20);
    process.kill(pid, 'SIGUSR1');
    await until(() => c.replies.size >= count + 3, 60_000, 'every request to be answered');
    let rejected = 0;
    for (let i = 0; i < count; i++) {
      const r = c.replies.get(i);
      if (r.error !== undefined) {
        expect(r.error).toMatchObject({ code: -32018, data: { limit: 10 } });
        rejected++;
      } else expect(r.result.content[0].text).toBe(`${i}`);
    }
    expect(gateway.stats.overloadRejections).toBe(rejected);
  }, 120_000);

  it('WebSocket upstream that stops reading: bufferedAmount over the cap holds the client; all answered after it resumes', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'mcp' });
    await new Promise((r) => wss.once('listening', r));
    let upstream: WebSocket | undefined;
    wss.on('connection', (ws) => {
      ws.on('message', (d) => {
        const m = JSON.parse((d as Buffer).toString());
        if (m.id === undefined || m.method === undefined) return;
        const reply = (result: unknown): void => ws.send(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }));
        if (m.method === 'initialize') reply({ protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'ws-raw', version: '1' } });
        else if (m.method === 'ping') reply({});
        else if (m.params?.name === 'stall') {
          upstream = ws;
          reply({ content: [{ type: 'text', text: 'stalled' }] });
          ws.pause();
        } else reply({ content: [{ type: 'text', text: m.params?.arguments?.text }] });
      });
    });
    try {
      const port = (wss.address() as AddressInfo).port;
      const { gateway, url } = await startGateway({
        upstreams: [`ws://127.0.0.1:${port}/`],
        pool: { minConnections: 1, healthCheckIntervalMs: 0 },
        maxPendingPerClient: 100_000,
      }, { maxInFlightPerSession: 100_000 }); // the server's own in-flight cap would hold the client first
      const c = await rawClient(url);
      c.request('stall', 'tools/call', { name: 'stall' });
      await until(() => c.replies.has('stall'), 10_000, 'stall');
      // Kernel socket buffers on loopback can take several MB before bufferedAmount grows: send 40 MB.
      await floodAndResume(gateway, c, 20_000, 10_000, () => upstream!.resume());
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((r) => wss.close(r));
    }
  }, 180_000);
});
