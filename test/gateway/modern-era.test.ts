/**
 * 2026-07-28 requests (protocol keys in `_meta`, no initialize) through the
 * gateway, in front of real legacy upstreams (a bare stdio server, and
 * server-everything), hostile first: malformed `_meta`, unknown revisions,
 * an upstream that is slow or dies mid-request, cancel mid-call, a full
 * pool, listen floods, upstream server→client requests, and mixed-era
 * clients on one gateway over WebSocket and Streamable HTTP.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { WebSocketClientTransport } from '../../src/transport/client-transport.js';
import { McpRouter } from '../../src/router/router.js';
import { McpWsServer } from '../../src/server/server.js';
import { EVERYTHING, closeAll, connect, startGateway, text, until } from './helpers.js';
import { httpBase } from '../helpers.js';

const RAW = fileURLToPath(new URL('./fixtures/raw-server.mjs', import.meta.url));
const raw = { command: process.execPath, args: [RAW], name: 'raw' };
const PV = 'io.modelcontextprotocol/protocolVersion';
const CAPS = 'io.modelcontextprotocol/clientCapabilities';
const SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
const SUB = 'io.modelcontextprotocol/subscriptionId';
const META = { [PV]: '2026-07-28', [CAPS]: {}, 'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' } };

type Msg = Record<string, unknown>;

const sockets: WebSocket[] = [];
const upstreamServers: McpWsServer[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await closeAll();
  for (const s of upstreamServers.splice(0)) await s.close();
});

interface RawClient {
  ws: WebSocket;
  /** Every message received, in order. */
  seen: Msg[];
  ask: (msg: Msg) => Promise<Msg>;
  send: (msg: Msg) => void;
}

async function open(url: string): Promise<RawClient> {
  const ws = new WebSocket(url, ['mcp']);
  sockets.push(ws);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const waiting = new Map<unknown, (m: Msg) => void>();
  const seen: Msg[] = [];
  ws.on('message', (data) => {
    const m = JSON.parse((data as Buffer).toString()) as Msg;
    seen.push(m);
    if (m.method === undefined) waiting.get(m.id)?.(m);
  });
  const send = (msg: Msg): void => ws.send(JSON.stringify({ jsonrpc: '2.0', ...msg }));
  return {
    ws,
    seen,
    send,
    ask: (msg) =>
      new Promise((resolve) => {
        waiting.set(msg.id, resolve);
        send(msg);
      }),
  };
}

/** A 2026-07-28 tools/call of the raw server's `tool`. */
function call(id: number, name: string, args: Msg = {}, meta: Msg = {}): Msg {
  return { id, method: 'tools/call', params: { name, arguments: args, _meta: { ...META, ...meta } } };
}

function resultText(m: Msg): string {
  return text(m.result);
}

interface PoolView {
  leased: number;
  waiting: number;
  size: number;
}

describe('gateway: 2026-07-28 requests, hostile input', () => {
  it('malformed _meta, unknown revisions, bad log levels and legacy-only methods are answered at the gateway without leasing', { timeout: 60_000 }, async () => {
    const { gateway, url } = await startGateway({ upstreams: [raw], pool: { minConnections: 1, maxConnections: 3 } });
    const pool = (): PoolView => gateway.snapshot().pool as unknown as PoolView;
    await until(() => pool().size === 1, 10_000, 'the warm session');
    const c = await open(url);

    const noCaps = await c.ask({ id: 1, method: 'tools/list', params: { _meta: { [PV]: '2026-07-28' } } });
    expect((noCaps.error as { code: number }).code).toBe(-32602);
    const noVersion = await c.ask({ id: 2, method: 'server/discover', params: { _meta: { [CAPS]: {} } } });
    expect((noVersion.error as { code: number }).code).toBe(-32602);
    const capsNotObject = await c.ask({ id: 3, method: 'tools/list', params: { _meta: { [PV]: '2026-07-28', [CAPS]: [1] } } });
    expect((capsNotObject.error as { code: number }).code).toBe(-32602);
    const unknown = await c.ask({ id: 4, method: 'tools/list', params: { _meta: { [PV]: '2099-01-01', [CAPS]: {} } } });
    expect(unknown.error).toMatchObject({ code: -32022, data: { requested: '2099-01-01' } });
    expect((unknown.error as { data: { supported: string[] } }).data.supported).toEqual(expect.arrayContaining(['2026-07-28', '2025-11-25']));
    const badLevel = await c.ask({ id: 5, method: 'tools/list', params: { _meta: { ...META, 'io.modelcontextprotocol/logLevel': 'loud' } } });
    expect((badLevel.error as { code: number }).code).toBe(-32602);
    for (const [i, method] of ['ping', 'logging/setLevel', 'initialize', 'resources/subscribe'].entries()) {
      const r = await c.ask({ id: 10 + i, method, params: { _meta: META } });
      expect((r.error as { code: number }).code).toBe(-32601);
    }
    const badListen = await c.ask({ id: 20, method: 'subscriptions/listen', params: { notifications: { toolsListChanged: 'yes' }, _meta: META } });
    expect((badListen.error as { code: number }).code).toBe(-32602);
    const manyUris = await c.ask({ id: 21, method: 'subscriptions/listen', params: { notifications: { resourceSubscriptions: Array.from({ length: 65 }, (_, i) => `mem://${i}`) }, _meta: META } });
    expect((manyUris.error as { code: number }).code).toBe(-32602);

    expect(pool()).toMatchObject({ leased: 0, waiting: 0 });
    expect(gateway.snapshot().modern).toMatchObject({ laneSessions: 0, forwarded: 0 });
  });

  it('answers discover from the upstream handshake, forwards calls as legacy requests and returns 2026 results; a legacy session beside it on the same socket', { timeout: 60_000 }, async () => {
    const { gateway, url } = await startGateway({ upstreams: [raw], pool: { minConnections: 1, maxConnections: 3 } });
    const c = await open(url);
    const d = await c.ask({ id: 1, method: 'server/discover', params: { _meta: META } });
    const result = d.result as Msg;
    expect(result).toMatchObject({ resultType: 'complete', capabilities: { tools: { listChanged: true }, resources: { subscribe: true } }, _meta: { [SERVER_INFO]: { name: 'raw' } } });
    expect(result.supportedVersions).toEqual(expect.arrayContaining(['2026-07-28', '2025-11-25']));
    // Upstream log messages are not relayed to stateless clients: not advertised.
    expect((result.capabilities as Msg).logging).toBeUndefined();

    const listed = await c.ask({ id: 2, method: 'tools/list', params: { _meta: META } });
    expect(listed.result).toMatchObject({ resultType: 'complete', tools: [{ name: 'echo' }], ttlMs: 0, cacheScope: 'private', _meta: { [SERVER_INFO]: { name: 'raw' } } });
    const echoed = await c.ask(call(3, 'echo', { text: 'hi' }));
    expect(resultText(echoed)).toBe('hi');
    expect(echoed.result).toMatchObject({ resultType: 'complete' });

    // What the upstream saw: the 2026 keys gone, trace keys and others kept.
    const meta = await c.ask(call(4, 'meta', {}, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', custom: 1 }));
    expect(JSON.parse(resultText(meta))).toEqual({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', custom: 1 });

    // An upstream error passes through with the client's id.
    const bad = await c.ask(call(5, 'nope'));
    expect(bad.error).toMatchObject({ code: -32602 });

    // The same socket opens a legacy session too; its own upstream session.
    const init = await c.ask({ id: 6, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    expect(init.result).toMatchObject({ serverInfo: { name: 'raw' } });
    c.send({ method: 'notifications/initialized' });
    const legacy = await c.ask({ id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: 'old' } } });
    expect((legacy.result as Msg).resultType).toBeUndefined();
    expect(resultText(legacy)).toBe('old');
    const modern = await c.ask(call(8, 'echo', { text: 'new' }));
    expect(modern.result).toMatchObject({ resultType: 'complete' });
    expect((gateway.snapshot().pool as PoolView).leased).toBe(2);
    expect(gateway.snapshot().modern).toMatchObject({ laneSessions: 1, laneSessionsOpened: 1 });
  });

  it('maps progress tokens per client (two clients with the same token) and refuses upstream server→client requests with a clear error', { timeout: 60_000 }, async () => {
    const { gateway, url } = await startGateway({ upstreams: [raw], pool: { minConnections: 0, maxConnections: 3 } });
    const a = await open(url);
    const b = await open(url);
    const [ra, rb] = await Promise.all([a.ask(call(1, 'progress', { n: 3 }, { progressToken: 'tok' })), b.ask(call(1, 'progress', { n: 2 }, { progressToken: 'tok' }))]);
    expect(resultText(ra)).toBe('done');
    expect(resultText(rb)).toBe('done');
    const prog = (c: RawClient): Msg[] => c.seen.filter((m) => m.method === 'notifications/progress').map((m) => m.params as Msg);
    expect(prog(a)).toEqual([1, 2, 3].map((progress) => ({ progressToken: 'tok', progress })));
    expect(prog(b)).toEqual([1, 2].map((progress) => ({ progressToken: 'tok', progress })));

    const asked = await a.ask(call(2, 'ask'));
    const answer = JSON.parse(resultText(asked)) as Msg;
    expect(answer.error).toMatchObject({ code: -32601 });
    expect((answer.error as { message: string }).message).toContain('2026-07-28');
    // Nothing reached the clients but their own answers and progress.
    expect(a.seen.some((m) => m.method === 'sampling/createMessage')).toBe(false);
    expect(gateway.snapshot().modern).toMatchObject({ upstreamAsksRefused: 1 });
  });
});

describe('gateway: 2026-07-28 requests when the upstream misbehaves', () => {
  it('a slow upstream: -32001 after requestTimeoutMs and notifications/cancelled upstream; cancel mid-call: no answer, cancelled upstream', { timeout: 60_000 }, async () => {
    const { url } = await startGateway({ upstreams: [raw], requestTimeoutMs: 1500, pool: { minConnections: 0, maxConnections: 2 } });
    const c = await open(url);
    const timedOut = await c.ask(call(1, 'hang'));
    expect(timedOut.error).toMatchObject({ code: -32001, data: { timeoutMs: 1500 } });

    c.send(call(2, 'hang'));
    c.send({ method: 'notifications/cancelled', params: { requestId: 2, reason: 'changed my mind' } });
    // Both the timed-out and the cancelled call were cancelled upstream (upstream ids, not the client's).
    let cancelled: unknown[] = [];
    for (let i = 0; i < 50 && cancelled.length < 2; i++) {
      cancelled = (JSON.parse(resultText(await c.ask(call(100 + i, 'received')))) as { cancelled?: unknown[] }).cancelled ?? [];
    }
    expect(cancelled).toHaveLength(2);
    expect(cancelled.every((id) => typeof id === 'number')).toBe(true);
    expect(c.seen.filter((m) => m.id === 2)).toEqual([]);
  });

  it('an upstream that dies mid-request: -32017, and the next request is served on a new lane session', { timeout: 60_000 }, async () => {
    const { gateway, url } = await startGateway({ upstreams: [raw], pool: { minConnections: 0, maxConnections: 3 } });
    const c = await open(url);
    const pid = Number(resultText(await c.ask(call(1, 'pid'))));
    const hanging = c.ask(call(2, 'hang'));
    await until(() => gateway.pendingRequests === 1, 10_000, 'the hanging call');
    process.kill(pid, 'SIGKILL');
    const lost = await hanging;
    expect(lost.error).toMatchObject({ code: -32017 });
    const pid2 = Number(resultText(await c.ask(call(3, 'pid'))));
    expect(pid2).not.toBe(pid);
    expect(gateway.snapshot().modern).toMatchObject({ laneSessions: 1, laneSessionsOpened: 2 });
    expect(gateway.pendingRequests).toBe(0);
  });

  it('a full pool: the first 2026 request gets -32016 after acquireTimeoutMs, never a hang; served once a session is free', { timeout: 60_000 }, async () => {
    const { gateway, url } = await startGateway({ upstreams: [raw], pool: { minConnections: 0, maxConnections: 1, acquireTimeoutMs: 1000 } });
    const legacy = await connect(url);
    expect((gateway.snapshot().pool as PoolView).leased).toBe(1);
    const c = await open(url);
    const refused = await c.ask(call(1, 'echo', { text: 'x' }));
    expect(refused.error).toMatchObject({ code: -32016 });
    await legacy.close();
    const served = await c.ask(call(2, 'echo', { text: 'y' }));
    expect(resultText(served)).toBe('y');
  });
});

describe('gateway: lane sessions and the pool', () => {
  it('an idle lane session is given back to the pool after idleTimeoutMs, so a legacy client gets the slot', { timeout: 60_000 }, async () => {
    const { gateway, url } = await startGateway({ upstreams: [raw], pool: { minConnections: 0, maxConnections: 1, idleTimeoutMs: 1000, acquireTimeoutMs: 10_000 } });
    const c = await open(url);
    expect(resultText(await c.ask(call(1, 'echo', { text: 'a' })))).toBe('a');
    expect((gateway.snapshot().pool as PoolView).leased).toBe(1);
    await until(() => (gateway.snapshot().modern as { laneSessions: number }).laneSessions === 0, 15_000, 'the idle lane session released');
    const legacy = await connect(url);
    expect(text(await legacy.request('tools/call', { name: 'echo', arguments: { text: 'b' } }))).toBe('b');
  });
});

describe('gateway: subscriptions/listen', () => {
  it('acknowledges what the upstream can honour, tags list_changed and resource updates, subscribes upstream once per URI, bounded per connection', { timeout: 60_000 }, async () => {
    const { gateway, url } = await startGateway({ upstreams: [raw], pool: { minConnections: 0, maxConnections: 3 } });
    const a = await open(url);
    const b = await open(url);
    a.send({ id: 'L1', method: 'subscriptions/listen', params: { notifications: { toolsListChanged: true, promptsListChanged: true, resourceSubscriptions: ['mem://a'] }, _meta: META } });
    b.send({ id: 'L1', method: 'subscriptions/listen', params: { notifications: { resourceSubscriptions: ['mem://a', 'mem://b'] }, _meta: META } });
    const ack = (c: RawClient): Msg | undefined => c.seen.find((m) => m.method === 'notifications/subscriptions/acknowledged');
    await until(() => ack(a) !== undefined && ack(b) !== undefined, 15_000, 'acknowledgements');
    // The raw server has no prompts capability: promptsListChanged is not honoured.
    expect(ack(a)!.params).toEqual({ _meta: { [SUB]: 'L1' }, notifications: { toolsListChanged: true, resourceSubscriptions: ['mem://a'] } });

    const got = JSON.parse(resultText(await a.ask(call(1, 'received')))) as { subscriptions: string[] };
    expect(got.subscriptions.sort()).toEqual(['mem://a', 'mem://b']);

    await a.ask(call(2, 'notify', { method: 'notifications/tools/list_changed' }));
    await a.ask(call(3, 'notify', { method: 'notifications/resources/updated', params: { uri: 'mem://b' } }));
    await a.ask(call(4, 'notify', { method: 'notifications/message', params: { level: 'error', data: 'secret of another client' } }));
    await until(() => b.seen.some((m) => m.method === 'notifications/resources/updated'), 10_000, 'the update');
    await until(() => a.seen.some((m) => m.method === 'notifications/tools/list_changed'), 10_000, 'list_changed');
    expect(a.seen.find((m) => m.method === 'notifications/tools/list_changed')!.params).toEqual({ _meta: { [SUB]: 'L1' } });
    expect(b.seen.find((m) => m.method === 'notifications/resources/updated')!.params).toEqual({ uri: 'mem://b', _meta: { [SUB]: 'L1' } });
    expect(a.seen.some((m) => m.method === 'notifications/resources/updated')).toBe(false);
    expect(b.seen.some((m) => m.method === 'notifications/tools/list_changed')).toBe(false);
    for (const c of [a, b]) expect(c.seen.some((m) => m.method === 'notifications/message')).toBe(false);
    expect(gateway.snapshot().modern).toMatchObject({ logsDropped: 1 });

    // b cancels: mem://b is unsubscribed upstream, mem://a still held by a. No response to the listen.
    b.send({ method: 'notifications/cancelled', params: { requestId: 'L1' } });
    await until(() => gateway.pendingRequests === 0);
    const after = JSON.parse(resultText(await a.ask(call(5, 'received')))) as { subscriptions: string[] };
    expect(after.subscriptions).toEqual(['mem://a']);
    expect(b.seen.some((m) => m.id === 'L1')).toBe(false);

    // Flood: 8 open per connection, the 9th refused; the connection still works.
    for (let i = 0; i < 8; i++) b.send({ id: `F${i}`, method: 'subscriptions/listen', params: { notifications: { toolsListChanged: true }, _meta: META } });
    await until(() => b.seen.filter((m) => m.method === 'notifications/subscriptions/acknowledged').length === 9, 10_000, 'eight more acks');
    const ninth = await b.ask({ id: 'F8', method: 'subscriptions/listen', params: { notifications: { toolsListChanged: true }, _meta: META } });
    expect(ninth.error).toMatchObject({ code: -32600, data: { limit: 8 } });
    expect(resultText(await b.ask(call(6, 'echo', { text: 'still' })))).toBe('still');

    // A closed connection ends its listens: mem://a is unsubscribed upstream.
    a.ws.close();
    await until(() => gateway.sessionCount === 1, 10_000, 'a closed');
    const last = JSON.parse(resultText(await b.ask(call(7, 'received')))) as { subscriptions: string[] };
    expect(last.subscriptions).toEqual([]);
  });
});

describe('gateway: mixed-era clients and the SDKs', () => {
  it('legacy clients, 2026 WebSocket clients and 2026 Streamable HTTP requests on one gateway at once', { timeout: 90_000 }, async () => {
    const { gateway, url } = await startGateway({ upstreams: [raw], pool: { minConnections: 1, maxConnections: 6 } });
    const legacy = await Promise.all([connect(url), connect(url)]);
    const modern = await Promise.all([open(url), open(url)]);
    const base = httpBase(url);
    const http = async (id: number, t: string): Promise<Msg> => {
      const r = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/call', 'Mcp-Name': 'echo' },
        body: JSON.stringify({ jsonrpc: '2.0', ...call(id, 'echo', { text: t }) }),
      });
      expect(r.status).toBe(200);
      const body = await r.text();
      const line = body.startsWith('{') ? body : body.split('\n').find((l) => l.startsWith('data: '))!.slice(6);
      return JSON.parse(line) as Msg;
    };
    const work: Array<Promise<void>> = [];
    for (let i = 0; i < 10; i++) {
      for (const [k, l] of legacy.entries()) work.push(l.request('tools/call', { name: 'echo', arguments: { text: `l${k}-${i}` } }).then((r) => expect(text(r)).toBe(`l${k}-${i}`)));
      for (const [k, m] of modern.entries()) work.push(m.ask(call(i, 'echo', { text: `m${k}-${i}` })).then((r) => expect(resultText(r)).toBe(`m${k}-${i}`)));
      work.push(http(i, `h${i}`).then((r) => expect(r.result).toMatchObject({ resultType: 'complete', content: [{ text: `h${i}` }] })));
    }
    await Promise.all(work);
    // Two legacy sessions and one shared lane session.
    expect((gateway.snapshot().pool as PoolView).leased).toBe(3);
    await until(() => gateway.pendingRequests === 0);
  });

  it('the v2 SDK Client pinned to 2026-07-28 works through the gateway in front of server-everything, and auto negotiation too', { timeout: 90_000 }, async () => {
    const { url } = await startGateway({ upstreams: [{ command: process.execPath, args: [EVERYTHING], name: 'everything' }], pool: { minConnections: 0, maxConnections: 3 } });
    const pinned = new ClientV2({ name: 'v2-pin', version: '2.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await pinned.connect(new WebSocketClientTransport(url, { heartbeat: false }));
    try {
      const listed = await pinned.listTools();
      expect(listed.tools.map((t) => t.name)).toContain('echo');
      const r = await pinned.callTool({ name: 'echo', arguments: { message: 'through' } });
      expect(JSON.stringify(r.content)).toContain('through');
    } finally {
      await pinned.close();
    }
    const auto = new ClientV2({ name: 'v2-auto', version: '2.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await auto.connect(new WebSocketClientTransport(url, { heartbeat: false }));
    try {
      const listed = await auto.listTools();
      expect(listed.tools.map((t) => t.name)).toContain('echo');
    } finally {
      await auto.close();
    }
  });
});

describe('gateway: an upstream that speaks 2026-07-28 itself', () => {
  it('is found by the discover probe and passed through: its own discover, results, progress and a forwarded listen re-tagged', { timeout: 60_000 }, async () => {
    const router = new McpRouter({ name: 'modern-upstream', version: '9.0.0' });
    router.tool({ name: 'echo' }, (a) => String((a as { text?: unknown }).text));
    router.tool({ name: 'steps' }, (_a, ctx) => {
      ctx.progress(1, 2);
      ctx.progress(2, 2);
      return 'stepped';
    });
    const up = new McpWsServer({ handler: router, port: 0, processMetrics: false, drainTimeoutMs: 200 });
    upstreamServers.push(up);
    const addr = await up.listen();
    const { gateway, url } = await startGateway({ upstreams: [addr.url], pool: { minConnections: 0, maxConnections: 2 } });
    const c = await open(url);

    const d = await c.ask({ id: 1, method: 'server/discover', params: { _meta: META } });
    expect(d.result).toMatchObject({ resultType: 'complete', _meta: { [SERVER_INFO]: { name: 'modern-upstream' } } });
    const echoed = await c.ask(call(2, 'echo', { text: 'pass' }));
    expect(echoed.result).toMatchObject({ resultType: 'complete', content: [{ text: 'pass' }], _meta: { [SERVER_INFO]: { name: 'modern-upstream' } } });
    const stepped = await c.ask(call(3, 'steps', {}, { progressToken: 'p' }));
    expect(resultText(stepped)).toBe('stepped');
    expect(c.seen.filter((m) => m.method === 'notifications/progress').map((m) => (m.params as Msg).progressToken)).toEqual(['p', 'p']);

    c.send({ id: 'sub', method: 'subscriptions/listen', params: { notifications: { toolsListChanged: true }, _meta: META } });
    await until(() => c.seen.some((m) => m.method === 'notifications/subscriptions/acknowledged'), 10_000, 'the ack');
    expect((c.seen.find((m) => m.method === 'notifications/subscriptions/acknowledged')!.params as Msg)._meta).toEqual({ [SUB]: 'sub' });
    router.tool({ name: 'late' }, () => 'late');
    await until(() => c.seen.some((m) => m.method === 'notifications/tools/list_changed'), 10_000, 'list_changed');
    expect(c.seen.find((m) => m.method === 'notifications/tools/list_changed')!.params).toEqual({ _meta: { [SUB]: 'sub' } });
    // Cancel the listen: nothing answers it.
    c.send({ method: 'notifications/cancelled', params: { requestId: 'sub' } });
    await until(() => gateway.pendingRequests === 0, 10_000, 'the listen ended');
    expect(c.seen.some((m) => m.id === 'sub')).toBe(false);
    expect(gateway.snapshot().modern).toMatchObject({ laneSessions: 1 });
  });
});
