/**
 * Shared upstream sessions (pool `sharing: "shared"`), hostile first, with
 * real processes: 50 WebSocket clients over 2 stdio children of the raw
 * fixture, which records every message it receives (RAW_RECORD_DIR). Every
 * client uses the same request ids and progress tokens, so a reply or a
 * progress notification that reached the wrong client would show.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { closeAll, startGateway, until } from './helpers.js';
import { resolveGatewayConfig } from '../../src/cli/gateway.js';
import { McpWsGateway } from '../../src/gateway/gateway.js';

const RAW = fileURLToPath(new URL('./fixtures/raw-server.mjs', import.meta.url));

type Msg = Record<string, unknown>;

const sockets: WebSocket[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await closeAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A raw fixture upstream recording into a fresh directory. */
function recorded(): { upstream: { command: string; args: string[]; env: Record<string, string>; name: string }; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-shared-'));
  dirs.push(dir);
  return { upstream: { command: process.execPath, args: [RAW], env: { RAW_RECORD_DIR: dir }, name: 'raw' }, dir };
}

/** What each child received, by pid. */
function records(dir: string): Map<number, Msg[]> {
  const out = new Map<number, Msg[]>();
  for (const f of readdirSync(dir)) {
    const lines = readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.length > 0);
    out.set(Number(f.replace('.jsonl', '')), lines.map((l) => JSON.parse(l) as Msg));
  }
  return out;
}

function all(dir: string): Msg[] {
  return [...records(dir).values()].flat();
}

interface RawClient {
  ws: WebSocket;
  seen: Msg[];
  send: (msg: Msg) => void;
  ask: (msg: Msg) => Promise<Msg>;
  closed: Promise<number>;
}

async function open(url: string): Promise<RawClient> {
  const ws = new WebSocket(url, ['mcp']);
  sockets.push(ws);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const waiting = new Map<unknown, (m: Msg) => void>();
  const seen: Msg[] = [];
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('message', (data) => {
    const m = JSON.parse((data as Buffer).toString()) as Msg;
    seen.push(m);
    if (m.method === undefined) {
      const w = waiting.get(m.id);
      waiting.delete(m.id);
      w?.(m);
    }
  });
  const send = (msg: Msg): void => ws.send(JSON.stringify({ jsonrpc: '2.0', ...msg }));
  return {
    ws,
    seen,
    send,
    closed,
    ask: (msg) =>
      new Promise((resolve) => {
        waiting.set(msg.id, resolve);
        send(msg);
      }),
  };
}

async function initialized(url: string, capabilities: Msg = {}): Promise<RawClient> {
  const c = await open(url);
  const r = await c.ask({ id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities, clientInfo: { name: 't', version: '1' } } });
  expect(r.result).toMatchObject({ protocolVersion: '2025-06-18', serverInfo: { name: 'raw' } });
  c.send({ method: 'notifications/initialized' });
  return c;
}

function tool(id: number, name: string, args: Msg = {}, meta?: Msg): Msg {
  return { id, method: 'tools/call', params: { name, arguments: args, ...(meta === undefined ? {} : { _meta: meta }) } };
}

function textOf(m: Msg): string {
  return ((m.result as { content: Array<{ text: string }> }).content[0]!).text;
}

const shared = (upstream: ReturnType<typeof recorded>['upstream'], max: number, extra: Record<string, unknown> = {}) =>
  // resumeGraceMs 0: a dropped socket ends its session at once (no SEP-1288 wait), so disconnects show upstream.
  startGateway({ upstreams: [upstream], pool: { minConnections: 0, maxConnections: max, sharing: 'shared' }, requestTimeoutMs: 60_000, ...extra }, { resumeGraceMs: 0 });

describe('gateway: shared upstream sessions', () => {
  it('50 clients over 2 children: every reply and progress notification reaches its own caller, ids never collide upstream, initialize is answered from the cache', { timeout: 120_000 }, async () => {
    const { upstream, dir } = recorded();
    const { gateway, url } = await shared(upstream, 2);
    const clients: RawClient[] = [];
    for (let i = 0; i < 50; i++) clients.push(await initialized(url));

    // Every client the same ids (1–4) and the same progress token, all at once.
    await Promise.all(
      clients.map(async (c, i) => {
        const [a, b, c3, p] = await Promise.all([
          c.ask(tool(1, 'echo', { text: `c${i}-1` })),
          c.ask(tool(2, 'echo', { text: `c${i}-2` })),
          c.ask(tool(3, 'echo', { text: `c${i}-3` })),
          c.ask(tool(4, 'progress', { n: (i % 5) + 1 }, { progressToken: 'tok' })),
        ]);
        expect([a.id, b.id, c3.id, p.id]).toEqual([1, 2, 3, 4]);
        expect([textOf(a), textOf(b), textOf(c3), textOf(p)]).toEqual([`c${i}-1`, `c${i}-2`, `c${i}-3`, 'done']);
      }),
    );
    for (const [i, c] of clients.entries()) {
      const progress = c.seen.filter((m) => m.method === 'notifications/progress');
      expect(progress.map((m) => (m.params as Msg).progress)).toEqual(Array.from({ length: (i % 5) + 1 }, (_, k) => k + 1));
      for (const m of progress) expect((m.params as Msg).progressToken).toBe('tok');
    }

    // Two children at most, each initialized once by the gateway; ids unique on each; no client's token went upstream.
    const recs = records(dir);
    expect(recs.size).toBeGreaterThanOrEqual(1);
    expect(recs.size).toBeLessThanOrEqual(2);
    for (const msgs of recs.values()) {
      expect(msgs.filter((m) => m.method === 'initialize')).toHaveLength(1);
      const ids = msgs.filter((m) => m.method !== undefined && m.id !== undefined).map((m) => m.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const m of msgs) expect((m.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta?.progressToken).not.toBe('tok');
    }
    expect(all(dir).filter((m) => m.method === 'tools/call')).toHaveLength(200);
    expect(gateway.snapshot().shared).toMatchObject({ forwarded: 200 });
  });

  it('a cancelled request is cancelled upstream under its upstream id; a client that disconnects has its requests cancelled; others are untouched', { timeout: 120_000 }, async () => {
    const { upstream, dir } = recorded();
    const { gateway, url } = await shared(upstream, 2);
    const a = await initialized(url);
    const b = await initialized(url);
    a.send(tool(7, 'hang', { tag: 'a7' }));
    b.send(tool(7, 'hang', { tag: 'b7' }));
    b.send(tool(8, 'hang', { tag: 'b8' }));
    await until(() => all(dir).filter((m) => m.method === 'tools/call').length === 3, 30_000, 'three hangs upstream');
    const upId = (tag: string): unknown => all(dir).find((m) => (m.params as { arguments?: { tag?: string } } | undefined)?.arguments?.tag === tag)!.id;

    a.send({ method: 'notifications/cancelled', params: { requestId: 7, reason: 'user' } });
    await until(() => all(dir).some((m) => m.method === 'notifications/cancelled'), 30_000, 'the cancel upstream');
    const cancels = (): Msg[] => all(dir).filter((m) => m.method === 'notifications/cancelled');
    expect(cancels().map((m) => (m.params as Msg).requestId)).toEqual([upId('a7')]);
    expect((cancels()[0]!.params as Msg).reason).toBe('user');

    // b disconnects mid-request: both of its requests are cancelled upstream.
    b.ws.terminate();
    await until(() => cancels().length === 3, 30_000, 'b\'s cancels upstream');
    expect(new Set(cancels().map((m) => (m.params as Msg).requestId))).toEqual(new Set([upId('a7'), upId('b7'), upId('b8')]));
    // a is still served, and was answered nothing for its cancelled request.
    expect(textOf(await a.ask(tool(9, 'echo', { text: 'still here' })))).toBe('still here');
    expect(a.seen.filter((m) => m.id === 7)).toHaveLength(0);
    expect(gateway.pendingRequests).toBe(0);
  });

  it('an upstream child that dies fails only the requests in flight on it (-32017); clients stay connected and the lane is replaced', { timeout: 120_000 }, async () => {
    const { upstream, dir } = recorded();
    const { gateway, url } = await shared(upstream, 2);
    const clients: RawClient[] = [];
    for (let i = 0; i < 6; i++) clients.push(await initialized(url));
    // 20 hangs: more than one lane's SHARED_LANE_BUSY, so a second lane opens; 20 more spread over both.
    const replies: Array<Promise<Msg>> = [];
    for (let k = 0; k < 20; k++) replies.push(clients[k % 6]!.ask(tool(100 + k, 'hang', { tag: `h${k}` })));
    await until(() => gateway.shared!.size === 2, 30_000, 'a second lane session');
    for (let k = 20; k < 40; k++) replies.push(clients[k % 6]!.ask(tool(100 + k, 'hang', { tag: `h${k}` })));
    await until(() => all(dir).filter((m) => m.method === 'tools/call').length === 40, 30_000, 'forty hangs upstream');
    await until(() => records(dir).size === 2, 30_000, 'two children');
    const recs = records(dir);
    const [victim, survivor] = [...recs.keys()];
    const tagsOn = (pid: number): Set<string> =>
      new Set(recs.get(pid)!.filter((m) => m.method === 'tools/call').map((m) => (m.params as { arguments: { tag: string } }).arguments.tag));
    const dying = tagsOn(victim!);
    const living = tagsOn(survivor!);
    expect(dying.size).toBeGreaterThan(0);
    expect(living.size).toBeGreaterThan(0);

    process.kill(victim!, 'SIGKILL');
    const lost = replies.filter((_, k) => dying.has(`h${k}`));
    for (const r of await Promise.all(lost)) {
      expect(r.error).toMatchObject({ code: -32017 });
      expect((r.error as { message: string }).message).toMatch(/Upstream MCP session lost/);
    }
    // The survivors' requests are still in flight: each client's next request is answered first.
    for (const [i, c] of clients.entries()) expect(textOf(await c.ask(tool(500, 'echo', { text: `after ${i}` })))).toBe(`after ${i}`);
    let settled = 0;
    for (const [k, r] of replies.entries()) if (living.has(`h${k}`)) void r.then(() => settled++);
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(0);
    for (const c of clients) expect(c.ws.readyState).toBe(WebSocket.OPEN);

    // The lane is replaced: a third child serves once the survivor is busy again.
    for (let k = 0; k < 40; k++) clients[k % 6]!.send(tool(600 + k, 'hang', { tag: `g${k}` }));
    await until(() => records(dir).size === 3, 30_000, 'a replacement child');
    await until(() => gateway.shared!.size === 2, 30_000, 'two lane sessions again');
    expect(gateway.snapshot().shared).toMatchObject({ laneSessionsLost: 1, laneSessionsOpened: 3 });
  });

  it('the per-client pending bound holds: reading stops at maxPendingPerClient, at most twice it are held (beyond, -32018), and upstream never sees more', { timeout: 120_000 }, async () => {
    const { upstream, dir } = recorded();
    const { gateway, url } = await shared(upstream, 2, { maxPendingPerClient: 4 });
    const c = await initialized(url);
    const other = await initialized(url);
    const replies: Array<Promise<Msg>> = [];
    for (let k = 0; k < 30; k++) replies.push(c.ask(tool(1000 + k, 'hang')));
    await until(() => gateway.stats.clientReadsHeld > 0, 30_000, 'reading held');
    await until(() => all(dir).filter((m) => m.method === 'tools/call').length >= 4, 30_000, 'four hangs upstream');
    // Messages already read when reading stopped are forwarded up to twice the limit; beyond, -32018.
    expect(gateway.pendingRequests).toBeLessThanOrEqual(8);
    for (const m of c.seen) if (m.error !== undefined) expect(m.error).toMatchObject({ code: -32018, data: { limit: 4 } });
    expect(all(dir).filter((m) => m.method === 'tools/call').length).toBeLessThanOrEqual(8);
    // Another client is not held by it.
    expect(textOf(await other.ask(tool(1, 'echo', { text: 'free' })))).toBe('free');
    c.ws.terminate();
    await until(() => gateway.pendingRequests === 0, 30_000, 'the pending requests released');
  });

  it('server→client requests: to the client whose request caused them with a gateway id; a response it was not sent is ignored; ambiguous asks are refused upstream', { timeout: 120_000 }, async () => {
    const { upstream, dir } = recorded();
    const { gateway, url } = await shared(upstream, 1);
    const a = await initialized(url, { sampling: {} });
    const b = await initialized(url, { sampling: {} });
    // Stray responses before anything was asked: ignored, nothing upstream.
    b.send({ id: 1, result: { content: { type: 'text', text: 'forged' } } });
    b.send({ id: 'ask-1', result: {} });
    expect(textOf(await b.ask(tool(2, 'echo', { text: 'x' })))).toBe('x');
    expect(all(dir).filter((m) => m.method === undefined)).toHaveLength(0);
    expect(gateway.sharedStats.strayResponses).toBe(2);

    // a alone has a request in flight: the ask is its.
    const asked = a.ask(tool(3, 'ask'));
    await until(() => a.seen.some((m) => m.method === 'sampling/createMessage'), 30_000, 'the ask at a');
    const q = a.seen.find((m) => m.method === 'sampling/createMessage')!;
    expect(typeof q.id).toBe('number');
    expect(b.seen.some((m) => m.method === 'sampling/createMessage')).toBe(false);
    // b answers a's ask: ignored. Then a answers.
    b.send({ id: q.id, result: { role: 'assistant', content: { type: 'text', text: 'from b' }, model: 'm' } });
    a.send({ id: q.id, result: { role: 'assistant', content: { type: 'text', text: 'from a' }, model: 'm' } });
    const answered = JSON.parse(textOf(await asked)) as Msg;
    expect(answered.result).toMatchObject({ content: { text: 'from a' } });
    expect(answered.id).toMatch(/^ask-\d+$/);
    expect(gateway.sharedStats.strayResponses).toBe(3);

    // Two clients in flight on the one session: the ask is ambiguous and refused upstream.
    b.send(tool(4, 'hang'));
    await until(() => all(dir).some((m) => m.method === 'tools/call' && (m.params as Msg).name === 'hang'), 30_000, 'b\'s hang upstream');
    const refused = JSON.parse(textOf(await a.ask(tool(5, 'ask')))) as Msg;
    expect(refused.error).toMatchObject({ code: -32601 });
    expect((refused.error as { message: string }).message).toMatch(/several clients/);
    expect(a.seen.filter((m) => m.method === 'sampling/createMessage')).toHaveLength(1);

    // A client without the sampling capability is not asked.
    const c = await initialized(url);
    b.send({ method: 'notifications/cancelled', params: { requestId: 4 } });
    await until(() => all(dir).some((m) => m.method === 'notifications/cancelled'), 30_000, 'b\'s cancel');
    const noCap = JSON.parse(textOf(await c.ask(tool(6, 'ask')))) as Msg;
    expect((noCap.error as { message: string }).message).toMatch(/did not declare the sampling capability/);
    expect(gateway.sharedStats).toMatchObject({ asksRouted: 1, asksRefused: 2 });

    // An ask naming a progress token no request in flight holds (its request was cancelled or
    // timed out) is refused, even with one client in flight: it is never guessed onto another client.
    const stale = JSON.parse(textOf(await a.ask(tool(7, 'ask', { token: 987_654 })))) as Msg;
    expect((stale.error as { message: string }).message).toMatch(/progress token it names belongs to no request in flight/);
    expect(a.seen.filter((m) => m.method === 'sampling/createMessage')).toHaveLength(1);
    expect(gateway.sharedStats).toMatchObject({ asksRouted: 1, asksRefused: 3 });
  });

  it('subscriptions are reference-counted upstream and updates reach subscribed clients only; log messages are filtered per client level', { timeout: 120_000 }, async () => {
    const { upstream, dir } = recorded();
    const { url } = await shared(upstream, 1);
    const a = await initialized(url);
    const b = await initialized(url);
    const c = await initialized(url);
    expect((await a.ask({ id: 1, method: 'resources/subscribe', params: { uri: 'mem://a' } })).result).toEqual({});
    expect((await b.ask({ id: 1, method: 'resources/subscribe', params: { uri: 'mem://a' } })).result).toEqual({});
    expect((await b.ask({ id: 2, method: 'resources/subscribe', params: {} })).error).toMatchObject({ code: -32602 });
    // Bounded like the router's: a URI over 8192 characters never goes upstream.
    expect((await b.ask({ id: 3, method: 'resources/subscribe', params: { uri: `mem://${'x'.repeat(8200)}` } })).error).toMatchObject({ code: -32602, message: expect.stringMatching(/longer than 8192/) });
    const subs = (method: string): number => all(dir).filter((m) => m.method === method).length;
    expect(subs('resources/subscribe')).toBe(1);

    await c.ask(tool(3, 'notify', { method: 'notifications/resources/updated', params: { uri: 'mem://a' } }));
    await c.ask(tool(4, 'notify', { method: 'notifications/resources/updated', params: { uri: 'mem://other' } }));
    await until(() => a.seen.some((m) => m.method === 'notifications/resources/updated') && b.seen.some((m) => m.method === 'notifications/resources/updated'), 30_000, 'the update at a and b');
    // An echo through each client orders its messages: nothing else arrives.
    for (const x of [a, b, c]) await x.ask(tool(9, 'echo', { text: '.' }));
    expect(a.seen.filter((m) => m.method === 'notifications/resources/updated')).toHaveLength(1);
    expect(b.seen.filter((m) => m.method === 'notifications/resources/updated')).toHaveLength(1);
    expect(c.seen.filter((m) => m.method === 'notifications/resources/updated')).toHaveLength(0);

    await a.ask({ id: 5, method: 'resources/unsubscribe', params: { uri: 'mem://a' } });
    expect(subs('resources/unsubscribe')).toBe(0);
    b.ws.terminate();
    await until(() => subs('resources/unsubscribe') === 1, 30_000, 'the last unsubscribe upstream');

    // Levels: a debug, c error; the session is set to debug; an info message reaches a only.
    await a.ask({ id: 6, method: 'logging/setLevel', params: { level: 'debug' } });
    await c.ask({ id: 6, method: 'logging/setLevel', params: { level: 'error' } });
    expect((await c.ask({ id: 7, method: 'logging/setLevel', params: { level: 'loud' } })).error).toMatchObject({ code: -32602 });
    await until(() => all(dir).some((m) => m.method === 'logging/setLevel'), 30_000, 'the level upstream');
    expect(all(dir).filter((m) => m.method === 'logging/setLevel').map((m) => (m.params as Msg).level)).toEqual(['debug']);
    await a.ask(tool(8, 'notify', { method: 'notifications/message', params: { level: 'info', data: 'hello' } }));
    for (const x of [a, c]) await x.ask(tool(10, 'echo', { text: '.' }));
    expect(a.seen.filter((m) => m.method === 'notifications/message')).toHaveLength(1);
    expect(c.seen.filter((m) => m.method === 'notifications/message')).toHaveLength(0);
  });

  it('sharing is a pool setting: --sharing and the config file take per-client or shared, anything else is a one-line error', () => {
    expect(resolveGatewayConfig({ upstream: ['node x.js'], sharing: 'shared' }).gateway.pool?.sharing).toBe('shared');
    expect(() => resolveGatewayConfig({ upstream: ['node x.js'], sharing: 'pooled' })).toThrow('--sharing should be one of per-client, shared, got "pooled"');
    expect(() => new McpWsGateway({ upstreams: ['node x.js'], pool: { sharing: 'everyone' as 'shared' } })).toThrow(/sharing/);
    expect(new McpWsGateway({ upstreams: ['node x.js'] }).shared).toBeUndefined();
  });
});
