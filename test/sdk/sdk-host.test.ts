import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { WebSocketClientTransport as SdkWebSocketClientTransport } from '@modelcontextprotocol/sdk/client/websocket.js';
import { SdkHost, type SdkSessionInfo } from '../../src/sdk/sdk-host.js';
import { RawClient, closeAll, startServer } from '../helpers.js';

// Node 20 has no global WebSocket; the SDK's client transport expects one.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

const made: SdkSessionInfo[] = [];

function makeServer(info: SdkSessionInfo): McpServer {
  made.push(info);
  const server = new McpServer({ name: 'sdk-hosted', version: '1.2.3' }, { capabilities: { logging: {} } });
  server.registerTool(
    'echo',
    { description: 'echo', inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  server.registerTool(
    'whoami',
    { description: 'session id', inputSchema: {} },
    async () => ({ content: [{ type: 'text', text: info.sessionId }] }),
  );
  server.registerTool(
    'count',
    { description: 'progress', inputSchema: { n: z.number().int() } },
    async ({ n }, extra) => {
      for (let i = 1; i <= n; i++) {
        const token = extra._meta?.progressToken;
        if (token !== undefined) {
          await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: n } });
        }
      }
      // The SDK Client handles notifications a microtask late and drops progress that arrives in the
      // same socket read as the response; a real tool works between progress and result.
      await new Promise((r) => setTimeout(r, 20));
      return { content: [{ type: 'text', text: `counted ${n}` }] };
    },
  );
  server.registerResource('note', 'sdk://note', { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, text: 'a note' }],
  }));
  return server;
}

let url: string;
beforeAll(async () => {
  ({ url } = await startServer({ handler: new SdkHost(makeServer) }));
});
afterAll(closeAll);

describe('SDK host', () => {
  it("serves an SDK McpServer to the SDK's own Client over its WebSocketClientTransport", async () => {
    const client = new Client({ name: 'sdk-client', version: '1.0.0' });
    await client.connect(new SdkWebSocketClientTransport(new URL(url)));
    expect(client.getServerVersion()).toMatchObject({ name: 'sdk-hosted', version: '1.2.3' });
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name).sort()).toEqual(['count', 'echo', 'whoami']);
    const r = await client.callTool({ name: 'echo', arguments: { text: 'through the SDK' } });
    expect(r.content).toEqual([{ type: 'text', text: 'through the SDK' }]);
    const progress: number[] = [];
    const c = await client.callTool({ name: 'count', arguments: { n: 3 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(c.content).toEqual([{ type: 'text', text: 'counted 3' }]);
    expect(progress).toEqual([1, 2, 3]);
    const res = await client.readResource({ uri: 'sdk://note' });
    expect(res.contents[0]).toMatchObject({ text: 'a note' });
    await client.close();
  });

  it('makes one server per connection, with its own session id', async () => {
    const before = made.length;
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const client = new Client({ name: 'c', version: '1' });
      await client.connect(new SdkWebSocketClientTransport(new URL(url)));
      const r = await client.callTool({ name: 'whoami', arguments: {} });
      ids.push((r.content as Array<{ text: string }>)[0]!.text);
      await client.close();
    }
    expect(made.length).toBe(before + 2);
    expect(new Set(ids).size).toBe(2);
    expect(made.slice(-2).map((m) => m.sessionId)).toEqual(ids);
  });

  it('applies the same envelope check before the SDK sees a message', async () => {
    const c = await RawClient.open(url);
    c.send('{oops');
    expect((await c.next()).error.code).toBe(-32700);
    c.send({ jsonrpc: '2.0', id: {}, method: 'ping' });
    expect(await c.next()).toMatchObject({ id: null, error: { code: -32600 } });
    const r = await c.request('initialize', { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
    expect(r.result.protocolVersion).toBe('2025-03-26');
    c.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    // 2025-03-26 allows batches; the SDK answers each, mcp-ws gathers them into one array.
    c.send([
      { jsonrpc: '2.0', id: 'x', method: 'ping' },
      { jsonrpc: '2.0', id: 'y', method: 'tools/call', params: { name: 'echo', arguments: { text: 'b' } } },
    ]);
    const batch = await c.next();
    expect(batch.map((m: { id: string }) => m.id)).toEqual(['x', 'y']);
    expect(batch[1].result.content[0].text).toBe('b');
    c.close();
  });

  it('refuses a second request with an id still in flight', async () => {
    const c = await RawClient.session(url);
    c.send({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'count', arguments: { n: 1 } } });
    c.send({ jsonrpc: '2.0', id: 5, method: 'ping' });
    const replies = [await c.nextResponse(), await c.nextResponse()];
    const codes = replies.map((r) => (r.error ? r.error.code : 'ok')).sort();
    expect(codes).toEqual([-32600, 'ok']);
    c.close();
  });

  it('closes the session with 1011 when the factory throws, and keeps serving others', async () => {
    const { url: badUrl } = await startServer({
      handler: new SdkHost(() => {
        throw new Error('no database');
      }),
    });
    const c = await RawClient.open(badUrl);
    expect((await c.closed).code).toBe(1011);
    const ok = new Client({ name: 'c', version: '1' });
    await ok.connect(new SdkWebSocketClientTransport(new URL(url)));
    await ok.ping();
    await ok.close();
  });

  it('a cancelled request and a request the SDK schema refuses do not stay in flight', async () => {
    const host = new SdkHost((info) => {
      const server = makeServer(info);
      server.registerTool('hang', { description: 'never answers until cancelled', inputSchema: {} }, async (_args, extra) => {
        await new Promise<void>((resolve) => extra.signal.addEventListener('abort', () => resolve()));
        return { content: [{ type: 'text', text: 'cancelled' }] };
      });
      return server;
    });
    const { url: u, server } = await startServer({ handler: host });
    const c = await RawClient.session(u);
    c.send({ jsonrpc: '2.0', id: 'h', method: 'tools/call', params: { name: 'hang', arguments: {} } });
    for (let i = 0; i < 100 && server.metrics.requestsInFlight === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.metrics.requestsInFlight).toBe(1);
    c.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'h', reason: 'test' } });
    const bad = await c.request('tools/list', { _meta: 5 }, 'bad');
    expect(bad).toMatchObject({ id: 'bad', error: { code: -32600 } });
    for (let i = 0; i < 100 && server.metrics.requestsInFlight !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.metrics.requestsInFlight).toBe(0);
    // The id is free again, and the session still serves.
    expect((await c.request('ping', undefined, 'h')).result).toEqual({});
    c.close();
  });

  it('closes a session whose SDK server does not start within startTimeoutMs (reading was held meanwhile)', async () => {
    expect(() => new SdkHost(makeServer, { startTimeoutMs: 0 })).toThrow(/startTimeoutMs/);
    const errors: unknown[] = [];
    const host = new SdkHost(() => new Promise<McpServer>(() => {}), { startTimeoutMs: 300, onError: (err) => errors.push(err) });
    const { url: u, server } = await startServer({ handler: host, closeTimeoutMs: 500 });
    const c = await RawClient.open(u);
    c.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
    expect((await c.closed).code).toBe(1011);
    expect(String(errors[0])).toMatch(/did not start within 300 ms/);
    for (let i = 0; i < 100 && server.sessionCount !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.sessionCount).toBe(0);
  });

  it('stops reading while an async factory is pending: a flood waits in TCP, not in memory, and nothing is lost', async () => {
    let release: () => void = () => {};
    const ready = new Promise<void>((r) => (release = r));
    const transports: Array<{ backlog?: unknown[] }> = [];
    const host = new SdkHost(async (info) => {
      await ready;
      return makeServer(info);
    });
    const { url: slowUrl } = await startServer({
      handler: {
        createHandler(peer) {
          const t = host.createHandler(peer);
          transports.push(t as unknown as { backlog?: unknown[] });
          return t;
        },
      },
    });
    const c = await RawClient.open(slowUrl);
    c.send({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'flood', version: '1' } } });
    const flood = 50_000;
    for (let i = 0; i < flood; i++) c.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: `none-${i}`, reason: 'flood' } });
    c.send({ jsonrpc: '2.0', id: 'last', method: 'tools/call', params: { name: 'echo', arguments: { text: 'after the flood' } } });
    let peak = 0;
    for (let i = 0; i < 50; i++) {
      peak = Math.max(peak, transports[0]?.backlog?.length ?? 0);
      await new Promise((r) => setTimeout(r, 20));
    }
    // Without the hold the whole flood sits in the SDK transport's backlog; with it, the flood waits in TCP.
    expect(peak).toBeLessThan(flood / 5);
    release();
    const init = await c.nextResponse(20_000);
    expect(init.id).toBe('init');
    const last = await c.nextResponse(20_000);
    expect(last).toMatchObject({ id: 'last', result: { content: [{ text: 'after the flood' }] } });
    c.close();
  }, 60_000);
});
