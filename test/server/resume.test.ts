/**
 * SEP-1288 resume and the mcp.version subprotocol, against a real server
 * over real sockets: hostile cases first (foreign and made-up ids, expiry,
 * races, floods, shutdown), then what survives a resume.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { McpRouter } from '../../src/router/router.js';
import type { McpWsServer } from '../../src/server/server.js';
import type { SessionHandler, SessionPeer } from '../../src/server/handler.js';
import type { JsonRpcRequest } from '../../src/protocol/jsonrpc.js';
import { RawClient, closeAll, startServer, waitFor } from '../helpers.js';

afterAll(closeAll);

const INIT = { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'test', version: '1' } };
const NOT_RESUMABLE = -32019;

/** Gates the `wait` tool: the test decides when each call returns. */
class Gates {
  private readonly open = new Map<string, (v: string) => void>();
  private readonly started = new Map<string, Promise<void>>();
  private readonly startedResolve = new Map<string, () => void>();
  wait(key: string): Promise<string> {
    this.startedResolve.get(key)?.();
    return new Promise((resolve) => this.open.set(key, resolve));
  }
  /** Resolves once the tool call for `key` has started. */
  whenStarted(key: string): Promise<void> {
    let p = this.started.get(key);
    if (!p) {
      p = new Promise<void>((resolve) => this.startedResolve.set(key, resolve));
      this.started.set(key, p);
    }
    return p;
  }
  release(key: string, value: string): void {
    this.open.get(key)!(value);
  }
}

function testRouter(gates = new Gates()): McpRouter {
  return new McpRouter({ name: 'resume-test', version: '1' })
    .tool({ name: 'echo' }, (args) => String(args.text))
    .tool({ name: 'wait' }, (args) => gates.wait(String(args.key)))
    .tool({ name: 'whoami' }, (_a, ctx) => ctx.identity?.subject ?? 'anonymous')
    .tool({ name: 'whoami-later' }, async (args, ctx) => {
      await gates.wait(String(args.key));
      return ctx.identity?.subject ?? 'anonymous';
    })
    .resource({ uri: 'test://r', name: 'r' }, () => 'r');
}

async function open(url: string, options: { token?: string; protocols?: string[] } = {}): Promise<RawClient> {
  return RawClient.open(url, options.protocols ?? ['mcp'], options.token ? { headers: { authorization: `Bearer ${options.token}` } } : {});
}

/** Opens and initializes; returns the client and the resume id the server offered. */
async function session(url: string, options: { token?: string } = {}): Promise<{ c: RawClient; resumeId: string }> {
  const c = await open(url, options);
  const r = await c.request('initialize', INIT);
  c.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return { c, resumeId: r.result.mcpSessionId as string };
}

/** Drops the socket abruptly and waits until the server holds `detached` sessions. */
async function drop(server: McpWsServer, c: RawClient, detached: number): Promise<void> {
  c.ws.terminate();
  await waitFor(() => server.resumer.detachedCount === detached, 30_000);
}

function resumeCall(c: RawClient, resumeId: string, id: number, method: string, params?: unknown): Promise<any> {
  c.send({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }), mcpSessionId: resumeId });
  return c.nextResponse();
}

describe('resume: hostile peers', () => {
  it('refuses a made-up id and another identity\'s id with the same error, leaking nothing, and leaves the socket usable', async () => {
    const { url, server } = await startServer({
      handler: testRouter(),
      auth: { tokens: [{ token: 'token-of-alice-0123456789', subject: 'alice' }, { token: 'token-of-mallory-0123456789', subject: 'mallory' }] },
    });
    const alice = await session(url, { token: 'token-of-alice-0123456789' });
    expect(alice.resumeId).toMatch(/^[A-Za-z0-9_-]{24}$/);
    await drop(server, alice.c, 1);

    const mallory = await open(url, { token: 'token-of-mallory-0123456789' });
    const foreign = await resumeCall(mallory, alice.resumeId, 1, 'tools/call', { name: 'whoami', arguments: {} });
    const madeUp = await resumeCall(mallory, 'A'.repeat(24), 2, 'tools/call', { name: 'whoami', arguments: {} });
    const notString = await resumeCall(mallory, { $ne: null } as unknown as string, 3, 'ping');
    expect(foreign.error).toEqual(madeUp.error);
    expect(notString.error).toEqual(madeUp.error);
    expect(foreign.error.code).toBe(NOT_RESUMABLE);
    expect(JSON.stringify(foreign)).not.toContain('alice');
    expect(server.resumer.stats.refused).toBe(3);
    // Alice's session is still there for Alice.
    expect(server.resumer.detachedCount).toBe(1);
    // The refused socket is a fresh one: it may start its own session.
    const init = await mallory.request('initialize', INIT, 4);
    expect(init.result.serverInfo.name).toBe('resume-test');
    const who = await mallory.request('tools/call', { name: 'whoami', arguments: {} }, 5);
    expect(who.result.content[0].text).toBe('mallory');

    const back = await open(url, { token: 'token-of-alice-0123456789' });
    const r = await resumeCall(back, alice.resumeId, 1, 'tools/call', { name: 'whoami', arguments: {} });
    expect(r.result.content[0].text).toBe('alice');
    mallory.close();
    back.close();
  });

  it('refuses a resume after the grace period: the session was released', async () => {
    const router = testRouter();
    const { url, server } = await startServer({ handler: router, resumeGraceMs: 20 });
    const { c, resumeId } = await session(url);
    c.ws.terminate();
    await waitFor(() => server.resumer.stats.expired === 1, 30_000);
    expect(server.resumer.detachedCount).toBe(0);
    expect(router.sessionCount).toBe(0);
    const next = await open(url);
    const r = await resumeCall(next, resumeId, 1, 'ping');
    expect(r.error.code).toBe(NOT_RESUMABLE);
    next.close();
  });

  it('two sockets racing for one session: the later takes it, the earlier is closed with 1000', async () => {
    const { url, server } = await startServer({ handler: testRouter() });
    const { c, resumeId } = await session(url);
    await drop(server, c, 1);
    const [b, d] = await Promise.all([open(url), open(url)]);
    b.send({ jsonrpc: '2.0', id: 1, method: 'ping', mcpSessionId: resumeId });
    d.send({ jsonrpc: '2.0', id: 1, method: 'ping', mcpSessionId: resumeId });
    const closed = await Promise.race([b.closed.then((x) => ({ who: b, other: d, ...x })), d.closed.then((x) => ({ who: d, other: b, ...x }))]);
    expect(closed.code).toBe(1000);
    expect(closed.reason).toBe('MCP session resumed on another connection');
    const survivor = closed.other;
    const r = await survivor.nextResponse();
    expect(r.result).toEqual({});
    const echo = await survivor.request('tools/call', { name: 'echo', arguments: { text: 'still here' } }, 2);
    expect(echo.result.content[0].text).toBe('still here');
    expect(server.resumer.stats.resumed).toBe(2);
    survivor.close();
  });

  it('taking over a session whose socket is still open closes that socket with 1000', async () => {
    const { url } = await startServer({ handler: testRouter() });
    const a = await session(url);
    const b = await open(url);
    const r = await resumeCall(b, a.resumeId, 1, 'tools/call', { name: 'echo', arguments: { text: 'moved' } });
    expect(r.result.content[0].text).toBe('moved');
    expect(await a.c.closed).toEqual({ code: 1000, reason: 'MCP session resumed on another connection' });
    b.close();
  });

  it('a later message naming another session is refused; the socket keeps its own', async () => {
    const { url } = await startServer({ handler: testRouter() });
    const a = await session(url);
    const other = await session(url);
    const r = await resumeCall(a.c, other.resumeId, 9, 'ping');
    expect(r.error.code).toBe(NOT_RESUMABLE);
    const own = await resumeCall(a.c, a.resumeId, 10, 'ping');
    expect(own.result).toEqual({});
    a.c.close();
    other.c.close();
  });

  it('a flood of detached sessions is bounded per identity and in total, oldest released first', async () => {
    const tokens = ['a', 'b', 'c'].map((s) => ({ token: `token-of-${s}-0123456789abcdef`, subject: s }));
    const router = testRouter();
    const { url, server } = await startServer({ handler: router, auth: { tokens }, maxDetachedPerIdentity: 2, maxDetachedSessions: 4 });
    const all: Array<{ c: RawClient; resumeId: string }> = [];
    for (const t of tokens) for (let i = 0; i < 3; i++) all.push(await session(url, { token: t.token }));
    // One at a time, so "oldest" is well defined.
    for (const [i, s] of all.entries()) {
      s.c.ws.terminate();
      await waitFor(() => server.resumer.detachedCount + server.resumer.stats.evicted === i + 1, 30_000);
    }
    expect(router.sessionCount).toBe(4);
    expect(server.resumer.detachedCount).toBe(4);
    expect(server.resumer.stats.evicted).toBe(5);
    // The newest of c survives; the oldest of a does not.
    const c = await open(url, { token: tokens[2]!.token });
    expect((await resumeCall(c, all[8]!.resumeId, 1, 'ping')).result).toEqual({});
    const a = await open(url, { token: tokens[0]!.token });
    expect((await resumeCall(a, all[0]!.resumeId, 1, 'ping')).error.code).toBe(NOT_RESUMABLE);
    a.close();
    c.close();
  });

  it('a detached session whose buffered messages pass resumeBufferBytes is released', async () => {
    const router = testRouter();
    const { url, server } = await startServer({ handler: router, resumeBufferBytes: 200 });
    const { c, resumeId } = await session(url);
    expect((await c.request('resources/subscribe', { uri: 'test://r' }, 2)).result).toEqual({});
    await drop(server, c, 1);
    for (let i = 0; i < 5; i++) router.notifyResourceUpdated('test://r');
    expect(server.resumer.stats.overflowed).toBe(1);
    expect(server.resumer.detachedCount).toBe(0);
    expect(router.sessionCount).toBe(0);
    const next = await open(url);
    expect((await resumeCall(next, resumeId, 1, 'ping')).error.code).toBe(NOT_RESUMABLE);
    next.close();
  });

  it('resumeBufferBytes counts bytes: a reply of multi-byte characters past it releases the session', async () => {
    const gates = new Gates();
    const router = testRouter(gates);
    const { url, server } = await startServer({ handler: router, resumeBufferBytes: 1000 });
    const { c, resumeId } = await session(url);
    const started = gates.whenStarted('big');
    c.send({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'wait', arguments: { key: 'big' } } });
    await started;
    await drop(server, c, 1);
    // 400 characters, 1,200 bytes in UTF-8: the reply is past the bound though its length is not.
    gates.release('big', '€'.repeat(400));
    await waitFor(() => server.resumer.stats.overflowed === 1, 30_000);
    expect(server.resumer.detachedCount).toBe(0);
    const next = await open(url);
    expect((await resumeCall(next, resumeId, 1, 'ping')).error.code).toBe(NOT_RESUMABLE);
    next.close();
  });

  it('shutdown releases detached sessions and finishes', async () => {
    const router = testRouter();
    const { url, server } = await startServer({ handler: router, resumeGraceMs: 600_000 });
    for (let i = 0; i < 3; i++) {
      const { c } = await session(url);
      c.ws.terminate();
    }
    await waitFor(() => server.resumer.detachedCount === 3, 30_000);
    await server.close();
    expect(server.resumer.detachedCount).toBe(0);
    expect(router.sessionCount).toBe(0);
  });

  it('with resumeGraceMs 0 no id is offered and a closed socket releases its session at once', async () => {
    const router = testRouter();
    const { url, server } = await startServer({ handler: router, resumeGraceMs: 0 });
    const c = await open(url);
    const r = await c.request('initialize', INIT);
    expect(r.result.mcpSessionId).toBeUndefined();
    c.ws.terminate();
    await waitFor(() => router.sessionCount === 0, 30_000);
    expect(server.resumer.detachedCount).toBe(0);
  });

  it('a client that closes with 1000 is done: its session is released at once, and its id refused', async () => {
    const router = testRouter();
    const { url, server } = await startServer({ handler: router });
    const { c, resumeId } = await session(url);
    c.ws.close(1000);
    await c.closed;
    await waitFor(() => router.sessionCount === 0, 30_000);
    expect(server.resumer.detachedCount).toBe(0);
    const next = await open(url);
    expect((await resumeCall(next, resumeId, 1, 'ping')).error.code).toBe(NOT_RESUMABLE);
    next.close();
  });

  it('an uninitialized socket is not kept', async () => {
    const router = testRouter();
    const { url, server } = await startServer({ handler: router });
    const c = await open(url);
    expect((await c.request('ping')).result).toEqual({});
    c.ws.terminate();
    await waitFor(() => router.sessionCount === 0, 30_000);
    expect(server.resumer.detachedCount).toBe(0);
  });
});

describe('resume: the identity while detached', () => {
  it('a handler that reads the identity while its session is detached still sees the one it was made for', async () => {
    const gates = new Gates();
    const token = 'token-of-alice-0123456789abcdef';
    const { url, server } = await startServer({ handler: testRouter(gates), auth: { tokens: [{ token, subject: 'alice' }] } });
    const { c, resumeId } = await session(url, { token });
    const started = gates.whenStarted('id');
    c.send({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'whoami-later', arguments: { key: 'id' } } });
    await started;
    await drop(server, c, 1);
    gates.release('id', '');
    const back = await open(url, { token });
    back.send({ jsonrpc: '2.0', id: 8, method: 'ping', mcpSessionId: resumeId });
    expect(await back.next()).toMatchObject({ id: 7, result: { content: [{ type: 'text', text: 'alice' }] } });
    back.close();
  });
});

describe('resume: a handler that fails', () => {
  /** A handler whose `fail` request rejects when the test says, `boom` notification throws. */
  function failing(): { factory: (peer: SessionPeer) => SessionHandler; reject: () => void; started: Promise<void> } {
    let rejectIt!: () => void;
    let startedIt!: () => void;
    const started = new Promise<void>((r) => (startedIt = r));
    let version: string | undefined;
    const factory = (_peer: SessionPeer): SessionHandler => ({
      get protocolVersion() {
        return version;
      },
      request(msg: JsonRpcRequest) {
        if (msg.method === 'initialize') {
          version = '2025-11-25';
          return JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: version, capabilities: {}, serverInfo: { name: 'f', version: '1' } } });
        }
        if (msg.method === 'fail') {
          startedIt();
          return new Promise<string>((_resolve, reject) => (rejectIt = () => reject(new Error('secret detail'))));
        }
        return JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {} });
      },
      notification(msg) {
        if (msg.method === 'boom') throw new Error('notification bug');
      },
      response() {},
      closed() {},
    });
    return { factory, reject: () => rejectIt(), started };
  }

  it('a request that fails after its session moved gets its -32603 on the new socket', async () => {
    const f = failing();
    const { url } = await startServer({ handler: f.factory });
    const { c, resumeId } = await session(url);
    c.send({ jsonrpc: '2.0', id: 5, method: 'fail' });
    await f.started;
    const back = await open(url);
    expect((await resumeCall(back, resumeId, 6, 'ping')).result).toEqual({});
    await c.closed;
    f.reject();
    const r = await back.next();
    expect(r).toEqual({ jsonrpc: '2.0', id: 5, error: { code: -32603, message: 'Internal error' } });
    back.close();
  });

  it('a request that fails while detached gets its -32603 after the resume', async () => {
    const f = failing();
    const { url, server } = await startServer({ handler: f.factory });
    const { c, resumeId } = await session(url);
    c.send({ jsonrpc: '2.0', id: 5, method: 'fail' });
    await f.started;
    await drop(server, c, 1);
    f.reject();
    const back = await open(url);
    back.send({ jsonrpc: '2.0', id: 6, method: 'ping', mcpSessionId: resumeId });
    expect(await back.next()).toEqual({ jsonrpc: '2.0', id: 5, error: { code: -32603, message: 'Internal error' } });
    expect(await back.next()).toEqual({ jsonrpc: '2.0', id: 6, result: {} });
    back.close();
  });

  it('a resumed session whose handler throws on a notification is closed with 1011 and released: its id is refused', async () => {
    const f = failing();
    const { url, server } = await startServer({ handler: f.factory });
    const { c, resumeId } = await session(url);
    await drop(server, c, 1);
    const back = await open(url);
    expect((await resumeCall(back, resumeId, 1, 'ping')).result).toEqual({});
    back.send({ jsonrpc: '2.0', method: 'boom' });
    expect((await back.closed).code).toBe(1011);
    expect(server.resumer.detachedCount).toBe(0);
    const again = await open(url);
    expect((await resumeCall(again, resumeId, 1, 'ping')).error.code).toBe(NOT_RESUMABLE);
    again.close();
  });
});

describe('resume: what survives', () => {
  it('the initialized state: a resumed socket calls tools without initialize; a fresh one cannot', async () => {
    const { url, server } = await startServer({ handler: testRouter() });
    const { c, resumeId } = await session(url);
    await drop(server, c, 1);
    const fresh = await open(url);
    expect((await fresh.request('tools/call', { name: 'echo', arguments: { text: 'x' } })).error.code).toBe(-32011);
    const back = await open(url);
    const r = await resumeCall(back, resumeId, 1, 'tools/call', { name: 'echo', arguments: { text: 'back' } });
    expect(r.result.content[0].text).toBe('back');
    expect(server.resumer.detachedCount).toBe(0);
    fresh.close();
    back.close();
  });

  it('a reply computed while detached is buffered and delivered first after the resume', async () => {
    const gates = new Gates();
    const { url, server } = await startServer({ handler: testRouter(gates) });
    const { c, resumeId } = await session(url);
    const started = gates.whenStarted('k1');
    c.send({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'wait', arguments: { key: 'k1' } } });
    await started;
    await drop(server, c, 1);
    gates.release('k1', 'done while away');
    const back = await open(url);
    back.send({ jsonrpc: '2.0', id: 8, method: 'ping', mcpSessionId: resumeId });
    const first = await back.next();
    expect(first).toMatchObject({ id: 7, result: { content: [{ type: 'text', text: 'done while away' }] } });
    expect(await back.next()).toEqual({ jsonrpc: '2.0', id: 8, result: {} });
    back.close();
  });

  it('a reply that settles after the resume goes to the new socket', async () => {
    const gates = new Gates();
    const { url, server } = await startServer({ handler: testRouter(gates) });
    const { c, resumeId } = await session(url);
    const started = gates.whenStarted('k2');
    c.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'wait', arguments: { key: 'k2' } } });
    await started;
    await drop(server, c, 1);
    const back = await open(url);
    expect((await resumeCall(back, resumeId, 4, 'ping')).result).toEqual({});
    gates.release('k2', 'late');
    expect(await back.next()).toMatchObject({ id: 3, result: { content: [{ text: 'late' }] } });
    back.close();
  });

  it('subscriptions: an update while detached is delivered after the resume, and later ones keep coming', async () => {
    const router = testRouter();
    const { url, server } = await startServer({ handler: router });
    const { c, resumeId } = await session(url);
    expect((await c.request('resources/subscribe', { uri: 'test://r' }, 2)).result).toEqual({});
    await drop(server, c, 1);
    router.notifyResourceUpdated('test://r');
    const back = await open(url);
    back.send({ jsonrpc: '2.0', id: 3, method: 'ping', mcpSessionId: resumeId });
    expect(await back.next()).toEqual({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'test://r' } });
    expect((await back.next()).id).toBe(3);
    router.notifyResourceUpdated('test://r');
    expect((await back.next()).method).toBe('notifications/resources/updated');
    back.close();
  });
});

describe('mcp.version subprotocol', () => {
  it('is selected when the server speaks the version, and pre-negotiates it for initialize', async () => {
    const { url } = await startServer({ handler: testRouter() });
    const c = await open(url, { protocols: ['mcp.version.2025-06-18', 'mcp'] });
    expect(c.ws.protocol).toBe('mcp.version.2025-06-18');
    const r = await c.request('initialize', { capabilities: {}, clientInfo: { name: 't', version: '1' } });
    expect(r.result.protocolVersion).toBe('2025-06-18');
    c.close();
  });

  it('an initialize asking another version is answered for the subprotocol\'s version', async () => {
    const { url } = await startServer({ handler: testRouter() });
    const c = await open(url, { protocols: ['mcp.version.2025-06-18'] });
    const r = await c.request('initialize', INIT);
    expect(r.result.protocolVersion).toBe('2025-06-18');
    c.close();
  });

  it('a version the server does not speak refuses the upgrade with 400 naming the supported ones', async () => {
    const { url, server } = await startServer({ handler: testRouter() });
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const ws = new WebSocket(url, ['mcp.version.1999-01-01', 'mcp']);
      ws.once('unexpected-response', (_req, r) => {
        let body = '';
        r.on('data', (d: Buffer) => (body += d.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      ws.once('open', () => reject(new Error('upgrade accepted')));
      ws.once('error', () => {});
    });
    expect(res.status).toBe(400);
    expect(res.body).toContain('2025-11-25');
    expect(server.metrics.rejected.headers).toBe(1);
  });

  it('a negotiated codec is selected over the version subprotocol', async () => {
    const { url } = await startServer({ handler: testRouter() });
    const c = await open(url, { protocols: ['mcp.gzip', 'mcp.version.2025-11-25', 'mcp'] });
    expect(c.ws.protocol).toBe('mcp.gzip');
    c.close();
  });
});
