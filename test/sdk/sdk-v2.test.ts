/**
 * The v2 SDK (`@modelcontextprotocol/server` / `@modelcontextprotocol/client`
 * 2.x) over mcp-ws, both eras, beside v1: real packages, real sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SdkHost, sdkGenerationOf, type SdkSessionInfo } from '../../src/sdk/sdk-host.js';
import { WebSocketClientTransport } from '../../src/transport/client-transport.js';
import type { SessionPeer } from '../../src/server/handler.js';
import { RawClient, closeAll, startServer, waitFor } from '../helpers.js';

const MODERN = '2026-07-28';
const PIN = { versionNegotiation: { mode: { pin: MODERN } } } as const;

/** What the hosted v2 servers saw, for the hostile tests. */
const seen = { aborted: 0, hanging: 0, made: [] as SdkSessionInfo[] };

function makeV2(info: SdkSessionInfo): McpServerV2 {
  seen.made.push(info);
  const server = new McpServerV2({ name: 'v2-hosted', version: '2.0.0' }, { capabilities: { logging: {} } });
  server.registerTool('echo', { description: 'echo', inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('whoami', { description: 'session id' }, async () => ({ content: [{ type: 'text', text: info.sessionId }] }));
  server.registerTool(
    'count',
    { description: 'reports progress', inputSchema: z.object({ n: z.number().int() }) },
    async ({ n }, ctx) => {
      const token = ctx.mcpReq._meta?.progressToken;
      for (let i = 1; i <= n; i++) {
        if (token !== undefined) await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: n } });
      }
      // Work between the last progress and the result, as a real tool would.
      await new Promise((r) => setTimeout(r, 20));
      return { content: [{ type: 'text', text: `counted ${n}` }] };
    },
  );
  server.registerTool('fail', { description: 'throws' }, async () => {
    throw new Error('tool broke');
  });
  server.registerTool('hang', { description: 'answers only when cancelled' }, async (ctx) => {
    seen.hanging++;
    await new Promise<void>((resolve) => ctx.mcpReq.signal.addEventListener('abort', () => resolve()));
    seen.aborted++;
    return { content: [{ type: 'text', text: 'cancelled' }] };
  });
  server.registerResource('note', 'v2://note', { mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, text: 'a v2 note' }],
  }));
  server.registerPrompt('greet', { description: 'greets', argsSchema: z.object({ who: z.string() }) }, ({ who }) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `hello ${who}` } }],
  }));
  return server;
}

function makeV1(): McpServerV1 {
  const server = new McpServerV1({ name: 'v1-hosted', version: '1.0.0' });
  server.registerTool('echo', { description: 'echo', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  return server;
}

let v2Url: string;
let v1Url: string;
let nativeUrl: string;
const peers: SessionPeer[] = [];
let v2Server: Awaited<ReturnType<typeof startServer>>['server'];

beforeAll(async () => {
  const host = new SdkHost(makeV2);
  ({ url: v2Url, server: v2Server } = await startServer({
    handler: {
      createHandler(peer) {
        peers.push(peer);
        return host.createHandler(peer);
      },
    },
  }));
  ({ url: v1Url } = await startServer({ handler: new SdkHost(makeV1) }));
  ({ url: nativeUrl } = await startServer());
});
afterAll(closeAll);

/** A v2 Client over mcp-ws's transport; `pin` selects the 2026-07-28 era. */
async function connectV2(url: string, era: 'legacy' | 'modern' | 'auto' = 'legacy', options = {}): Promise<{ client: ClientV2; transport: WebSocketClientTransport }> {
  const negotiation = era === 'modern' ? PIN : era === 'auto' ? { versionNegotiation: { mode: 'auto' as const } } : {};
  const client = new ClientV2({ name: 'v2-client', version: '2.0.0' }, negotiation);
  const transport = new WebSocketClientTransport(url, { heartbeat: false, ...options });
  await client.connect(transport);
  return { client, transport };
}

describe('SDK generations are told apart by shape', () => {
  it('v2 McpServer and Server are generation 2, v1 ones generation 1', () => {
    expect(sdkGenerationOf(makeV2({ sessionId: 's', remoteAddress: '127.0.0.1', identity: undefined }))).toBe(2);
    expect(sdkGenerationOf(makeV2({ sessionId: 's', remoteAddress: '127.0.0.1', identity: undefined }).server)).toBe(2);
    expect(sdkGenerationOf(makeV1())).toBe(1);
    expect(sdkGenerationOf(makeV1().server)).toBe(1);
  });
});

describe.each(['legacy', 'modern'] as const)('v2 Client ↔ SdkHost(v2 McpServer), %s era', (era) => {
  it('lists and calls tools with progress, reads resources, gets prompts', async () => {
    const { client, transport } = await connectV2(v2Url, era);
    expect(transport.protocolVersion).toBe(era === 'modern' ? MODERN : '2025-11-25');
    expect(client.getServerVersion()).toMatchObject({ name: 'v2-hosted', version: '2.0.0' });
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name).sort()).toEqual(['count', 'echo', 'fail', 'hang', 'whoami']);
    const r = await client.callTool({ name: 'echo', arguments: { text: `over ${era}` } });
    expect(r.content).toEqual([{ type: 'text', text: `over ${era}` }]);
    const progress: number[] = [];
    const c = await client.callTool({ name: 'count', arguments: { n: 3 } }, { onprogress: (p) => progress.push(p.progress) });
    expect(c.content).toEqual([{ type: 'text', text: 'counted 3' }]);
    expect(progress).toEqual([1, 2, 3]);
    const res = await client.readResource({ uri: 'v2://note' });
    expect(res.contents[0]).toMatchObject({ text: 'a v2 note' });
    const p = await client.getPrompt({ name: 'greet', arguments: { who: 'ws' } });
    expect(p.messages[0]!.content).toEqual({ type: 'text', text: 'hello ws' });
    await client.close();
  });

  it('reports a tool that throws as a tool error, and an unknown tool as a protocol error', async () => {
    const { client } = await connectV2(v2Url, era);
    const r = await client.callTool({ name: 'fail', arguments: {} });
    expect(r.isError).toBe(true);
    expect(JSON.stringify(r.content)).toContain('tool broke');
    const unknown = await client.callTool({ name: 'nope', arguments: {} }).then(
      (x) => x,
      (err: unknown) => err,
    );
    expect(unknown).toMatchObject({ code: -32602, message: expect.stringMatching(/nope/) });
    await client.close();
  });

  it('cancels a call: the server sees the abort and the request leaves flight', async () => {
    const { client } = await connectV2(v2Url, era);
    const before = { hanging: seen.hanging, aborted: seen.aborted };
    const ac = new AbortController();
    const call = client.callTool({ name: 'hang', arguments: {} }, { signal: ac.signal });
    await waitFor(() => seen.hanging > before.hanging);
    ac.abort('changed my mind');
    await expect(call).rejects.toThrow();
    await waitFor(() => seen.aborted > before.aborted);
    await waitFor(() => v2Server.metrics.requestsInFlight === 0);
    // The session still serves.
    expect((await client.callTool({ name: 'echo', arguments: { text: 'after' } })).content).toEqual([{ type: 'text', text: 'after' }]);
    await client.close();
  });
});

describe('the other pairings', () => {
  it('v1 Client ↔ SdkHost(v2 McpServer): the legacy era', async () => {
    const client = new ClientV1({ name: 'v1-client', version: '1.0.0' });
    await client.connect(new WebSocketClientTransport(v2Url, { heartbeat: false }));
    expect(client.getServerVersion()).toMatchObject({ name: 'v2-hosted' });
    const progress: number[] = [];
    const r = await client.callTool({ name: 'count', arguments: { n: 2 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    expect(r.content).toEqual([{ type: 'text', text: 'counted 2' }]);
    expect(progress).toEqual([1, 2]);
    expect((await client.readResource({ uri: 'v2://note' })).contents[0]).toMatchObject({ text: 'a v2 note' });
    await client.close();
  });

  it('v2 Client ↔ SdkHost(v1 McpServer): legacy, and an auto client falls back to it', async () => {
    for (const era of ['legacy', 'auto'] as const) {
      const { client, transport } = await connectV2(v1Url, era);
      expect(transport.protocolVersion).toBe('2025-11-25');
      expect(client.getServerVersion()).toMatchObject({ name: 'v1-hosted' });
      expect((await client.callTool({ name: 'echo', arguments: { text: era } })).content).toEqual([{ type: 'text', text: era }]);
      await client.close();
    }
  });

  it('v2 Client (auto) ↔ SdkHost(v2 McpServer) settles on 2026-07-28', async () => {
    const { client, transport } = await connectV2(v2Url, 'auto');
    expect(transport.protocolVersion).toBe(MODERN);
    expect((await client.callTool({ name: 'echo', arguments: { text: 'auto' } })).content).toEqual([{ type: 'text', text: 'auto' }]);
    await client.close();
  });

  it('v2 Client ↔ native router (McpRouter): legacy, with progress, resources and prompts', async () => {
    const { client, transport } = await connectV2(nativeUrl, 'legacy');
    expect(transport.protocolVersion).toBe('2025-11-25');
    expect(client.getServerVersion()).toMatchObject({ name: 'mcp-ws-demo' });
    expect((await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } })).content).toEqual([{ type: 'text', text: '5' }]);
    const progress: number[] = [];
    await client.callTool({ name: 'sleep', arguments: { ms: 50 } }, { onprogress: (p) => progress.push(p.progress) });
    expect(progress.length).toBeGreaterThan(0);
    const resources = await client.listResources();
    expect(resources.resources.length).toBeGreaterThan(0);
    const prompts = await client.listPrompts();
    expect(prompts.prompts.length).toBeGreaterThan(0);
    await client.close();
  });
});

describe('hostile and failing peers (v2)', () => {
  it('a v2 factory that throws closes the session with 1011; the client connect rejects; others go on', async () => {
    const errors: unknown[] = [];
    const { url } = await startServer({
      handler: new SdkHost(
        () => {
          throw new Error('no database');
        },
        { onError: (err) => errors.push(err) },
      ),
    });
    const client = new ClientV2({ name: 'c', version: '1' }, PIN);
    await expect(client.connect(new WebSocketClientTransport(url, { heartbeat: false }))).rejects.toThrow();
    expect(String(errors[0])).toMatch(/no database/);
    const { client: ok } = await connectV2(v2Url, 'modern');
    await ok.callTool({ name: 'echo', arguments: { text: 'fine' } });
    await ok.close();
  });

  it('a v2 server that never starts answering is closed after startTimeoutMs', async () => {
    const errors: unknown[] = [];
    const { url } = await startServer({
      handler: new SdkHost(() => new Promise<McpServerV2>(() => {}), { startTimeoutMs: 200, onError: (err) => errors.push(err) }),
    });
    const raw = await RawClient.open(url);
    raw.send({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN } } });
    expect((await raw.closed).code).toBe(1011);
    expect(String(errors[0])).toMatch(/did not start within 200 ms/);
  });

  it('a v2 tool that never answers: the client times out, cancels, and the server side settles', async () => {
    const { client } = await connectV2(v2Url, 'modern');
    const before = seen.aborted;
    await expect(client.callTool({ name: 'hang', arguments: {} }, { timeout: 200 })).rejects.toThrow(/timed out|timeout/i);
    await waitFor(() => seen.aborted > before);
    await waitFor(() => v2Server.metrics.requestsInFlight === 0);
    await client.close();
  });

  it('a client that disconnects mid-call: the tool is aborted, nothing stays in flight, the server closes its instance', async () => {
    const { client } = await connectV2(v2Url, 'modern');
    const before = { hanging: seen.hanging, aborted: seen.aborted };
    const sessionsBefore = v2Server.sessionCount;
    const call = client.callTool({ name: 'hang', arguments: {} }).catch((err: unknown) => err);
    await waitFor(() => seen.hanging > before.hanging);
    await client.close();
    expect(await call).toBeInstanceOf(Error);
    await waitFor(() => seen.aborted > before.aborted);
    await waitFor(() => v2Server.metrics.requestsInFlight === 0 && v2Server.sessionCount < sessionsBefore);
  });

  it('2026-07-28 requests with a bad or unknown version claim get the documented errors, not a crash', async () => {
    const raw = await RawClient.open(v2Url);
    const unknown = await raw.request('tools/list', {
      _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01', 'io.modelcontextprotocol/clientCapabilities': {} },
    });
    expect(unknown.error.code).toBe(-32022);
    expect(JSON.stringify(unknown.error.data)).toContain(MODERN);
    const bad = await raw.request('tools/list', { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': 'yes' } });
    expect(bad.error.code).toBe(-32602);
    const missing = await raw.request('tools/list', { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN } });
    expect(missing.error).toMatchObject({ code: -32602, data: { envelope: { key: 'io.modelcontextprotocol/clientCapabilities' } } });
    expect(JSON.stringify(bad)).not.toMatch(/at .*\.js:\d+/);
    // The session still takes a good request after both.
    const good = await raw.request('tools/list', { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} } });
    expect(good.result.resultType).toBe('complete');
    raw.close();
  });

  it("the authenticated identity reaches a v2 tool as authInfo, in both eras", async () => {
    const token = 'static-token-0123456789abcdef';
    const host = new SdkHost(({ identity }) => {
      const server = new McpServerV2({ name: 'auth', version: '2.0.0' });
      server.registerTool('auth', { description: 'who' }, async (ctx) => ({
        content: [{ type: 'text', text: JSON.stringify({ clientId: ctx.http?.authInfo?.clientId, subject: identity?.subject }) }],
      }));
      return server;
    });
    const { url } = await startServer({ handler: host, auth: { tokens: [token] } });
    for (const era of ['legacy', 'modern'] as const) {
      const { client } = await connectV2(url, era, { headers: { Authorization: `Bearer ${token}` } });
      const r = JSON.parse(((await client.callTool({ name: 'auth', arguments: {} })).content as Array<{ text: string }>)[0]!.text) as {
        clientId?: string;
        subject?: string;
      };
      expect(r.subject).toBeTruthy();
      expect(r.clientId).toBe(r.subject);
      await client.close();
    }
  });

  it('a server/discover probe followed by initialize: the probe instance is dropped, the factory makes the legacy one', async () => {
    const before = seen.made.length;
    const raw = await RawClient.open(v2Url);
    const meta = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} };
    const discover = await raw.request('server/discover', { _meta: meta });
    expect(discover.result.supportedVersions).toContain(MODERN);
    const init = await raw.request('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
    expect(init.result.protocolVersion).toBe('2025-11-25');
    raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const echo = await raw.request('tools/call', { name: 'echo', arguments: { text: 'legacy now' } });
    expect(echo.result.content).toEqual([{ type: 'text', text: 'legacy now' }]);
    // One session, two instances: the first (probe) and the fallback, both with this session's info.
    const mine = seen.made.slice(before);
    expect(mine).toHaveLength(2);
    expect(mine[0]!.sessionId).toBe(mine[1]!.sessionId);
    raw.close();
  });

  it('reconnect on a 2026-07-28 connection: no new handshake, the next call just works', async () => {
    const { client, transport } = await connectV2(v2Url, 'modern', { reconnect: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 5 } });
    const who = async () => ((await client.callTool({ name: 'whoami', arguments: {} })).content as Array<{ text: string }>)[0]!.text;
    const first = await who();
    const reconnected = new Promise((resolve) => transport.once('reconnected', resolve));
    peers.find((p) => p.id === first)!.close(1011, 'test: server-side failure');
    await reconnected;
    const second = await who();
    expect(second).not.toBe(first);
    await client.close();
  });
});

describe('the discover → initialize fallback under a flood', () => {
  it('reading waits while the fallback instance is made: a flood stays on the socket, not in the SDK entry queue, and is served after', async () => {
    let made = 0;
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    const host = new SdkHost(async (info) => {
      // The second instance (the legacy fallback) takes as long as the test says.
      if (++made === 2) await gate;
      return makeV2(info);
    });
    const { url, server } = await startServer({ handler: host });
    const raw = await RawClient.open(url);
    const meta = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} };
    expect((await raw.request('server/discover', { _meta: meta }, 1)).result.supportedVersions).toContain(MODERN);
    const before = server.metrics.messagesReceived;
    raw.send({ jsonrpc: '2.0', id: 2, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    const flood = 20_000;
    for (let i = 0; i < flood; i++) raw.send({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' });
    await waitFor(() => made === 2);
    // Give the flood every chance to be read; it must wait on the socket.
    await new Promise((r) => setTimeout(r, 1000));
    expect(server.metrics.messagesReceived - before).toBeLessThan(flood / 2);
    openGate();
    const init = await raw.next(10_000);
    expect(init).toMatchObject({ id: 2, result: { protocolVersion: '2025-11-25' } });
    raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const echo = await raw.request('tools/call', { name: 'echo', arguments: { text: 'after the flood' } }, 3);
    expect(echo.result.content).toEqual([{ type: 'text', text: 'after the flood' }]);
    expect(server.metrics.messagesReceived - before).toBeGreaterThanOrEqual(flood + 3);
    raw.close();
  });
});

describe('close during connect (v2)', () => {
  it('a socket that closes while the factory is still making its server: the server is closed when it arrives, nothing stays', async () => {
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    let closedServers = 0;
    const host = new SdkHost(async (info) => {
      await gate;
      const s = makeV2(info);
      const close = s.close.bind(s);
      s.close = async () => {
        closedServers++;
        return close();
      };
      return s;
    }, { startTimeoutMs: 1000 });
    const { url, server } = await startServer({ handler: host });
    const raw = await RawClient.open(url);
    raw.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    raw.ws.terminate();
    // Reading is held until the server starts, so the hang-up is seen at startTimeoutMs at the latest.
    await waitFor(() => server.sessionCount === 0 && server.slotCount === 0);
    openGate();
    await waitFor(() => closedServers === 1);
    expect(server.metrics.requestsInFlight).toBe(0);
  });
});

describe('the fallback instance that never comes', () => {
  it('an initialize after a probe that the factory never serves closes the session with 1011 after startTimeoutMs', async () => {
    let made = 0;
    const host = new SdkHost(async (info) => {
      if (++made === 2) await new Promise(() => {});
      return makeV2(info);
    }, { startTimeoutMs: 1000 });
    const { url, server } = await startServer({ handler: host });
    const raw = await RawClient.open(url);
    const meta = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} };
    expect((await raw.request('server/discover', { _meta: meta }, 1)).result.supportedVersions).toContain(MODERN);
    raw.send({ jsonrpc: '2.0', id: 2, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    expect((await raw.closed).code).toBe(1011);
    await waitFor(() => server.sessionCount === 0 && server.metrics.requestsInFlight === 0);
  });
});
