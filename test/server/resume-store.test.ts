/**
 * Resume across nodes through a real Redis (REDIS_URL, default
 * 127.0.0.1:6379): two servers in this process play two nodes that share
 * it. Hostile cases first — another identity, forged, malformed, oversized
 * and copied state, Redis stopped and hung, handlers that cannot be rebuilt
 * — then what a rebuilt session keeps. Nodes dying for real (SIGKILL) are in
 * test/cli/resume-cross-node.test.ts. Without Redis these tests are skipped
 * loudly, or fail with REQUIRE_REDIS=1.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { McpRouter } from '../../src/router/router.js';
import { SdkHost } from '../../src/sdk/sdk-host.js';
import type { McpWsServer } from '../../src/server/server.js';
import type { McpWsServerOptions } from '../../src/server/server-options.js';
import type { SessionHandler, SessionPeer } from '../../src/server/handler.js';
import { RawClient, closeAll, startServer } from '../helpers.js';
import { deleteKeys, probeRedis, REDIS_REQUIRED, REDIS_URL, TcpProxy, uniquePrefix, urlVia, waitFor, warnSkipped } from '../ratelimit/redis-helpers.js';

const reachable = await probeRedis();
if (!reachable && !REDIS_REQUIRED) warnSkipped();

const INIT = { protocolVersion: '2025-06-18', capabilities: { roots: {} }, clientInfo: { name: 'resume-store-test', version: '3' } };
const NOT_RESUMABLE = -32019;
const PREFIX = uniquePrefix('resume-store');
/** Generous: the machine is shared, and a slow command must not read as an outage except where a test says so. */
const TIMEOUT_MS = 3000;

let redis: Redis;

function testRouter(): McpRouter {
  const router = new McpRouter({ name: 'resume-store-test', version: '1' });
  router
    .tool({ name: 'touch' }, (args) => {
      router.notifyResourceUpdated(String(args.uri));
      return 'touched';
    })
    .tool({ name: 'log' }, (args, ctx) => {
      ctx.log(args.level as 'info', String(args.text));
      return 'logged';
    })
    .tool({ name: 'whoami' }, (_a, ctx) => ctx.identity?.subject ?? 'anonymous')
    .tool({ name: 'client' }, (_a, ctx) => JSON.stringify({ info: ctx.clientInfo ?? null, caps: ctx.clientCapabilities ?? null }))
    .resource({ uri: 'test://r', name: 'r' }, () => 'r');
  return router;
}

let prefixN = 0;

/** Two nodes sharing one prefix (and so one store). */
async function twoNodes(options: Partial<McpWsServerOptions> = {}, b: Partial<McpWsServerOptions> = {}): Promise<{ a: McpWsServer; b: McpWsServer; aUrl: string; bUrl: string; prefix: string }> {
  const prefix = `${PREFIX}${prefixN++}:`;
  const store = { url: REDIS_URL, prefix, timeoutMs: TIMEOUT_MS };
  const na = await startServer({ handler: testRouter(), resumeStore: store, ...options });
  const nb = await startServer({ handler: testRouter(), resumeStore: store, ...options, ...b });
  await na.server.resumer.store!.whenUp(5000);
  await nb.server.resumer.store!.whenUp(5000);
  return { a: na.server, b: nb.server, aUrl: na.url, bUrl: nb.url, prefix };
}

async function open(url: string, token?: string): Promise<RawClient> {
  return RawClient.open(url, ['mcp'], token ? { headers: { authorization: `Bearer ${token}` } } : {});
}

/** Opens, initializes, sends notifications/initialized; returns the client and its resume id. */
async function session(url: string, token?: string): Promise<{ c: RawClient; id: string }> {
  const c = await open(url, token);
  const r = await c.request('initialize', INIT, 'init');
  c.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return { c, id: r.result.mcpSessionId as string };
}

/** The stored value of `id` (raw), once its JSON satisfies `cond`. */
async function storedWhen(server: McpWsServer, id: string, cond: (state: any) => boolean): Promise<string> {
  const key = server.resumer.store!.keyOf(id);
  let raw: string | null = null;
  let ok = false;
  for (let i = 0; i < 500 && !ok; i++) {
    raw = await redis.get(key);
    ok = raw !== null && cond(JSON.parse(raw.slice(65)));
    if (!ok) await new Promise((r) => setTimeout(r, 20));
  }
  expect(ok, `state of the session never satisfied the condition; last value: ${raw}`).toBe(true);
  return raw!;
}

function resumeCall(c: RawClient, id: string, rid: number | string, method: string, params?: unknown): Promise<any> {
  c.send({ jsonrpc: '2.0', id: rid, method, ...(params === undefined ? {} : { params }), mcpSessionId: id });
  return c.nextResponse(15_000);
}

it.runIf(REDIS_REQUIRED)('Redis answers at REDIS_URL (required: REQUIRE_REDIS=1)', () => {
  expect(reachable, `no Redis answers at ${REDIS_URL}`).toBe(true);
});

describe.skipIf(!reachable && !REDIS_REQUIRED)('resume across nodes (real Redis)', { timeout: 60_000 }, () => {
  beforeAll(() => {
    if (!reachable) throw new Error(`REQUIRE_REDIS=1 but no Redis answers at ${REDIS_URL}`);
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    await closeAll();
    if (reachable) await deleteKeys(PREFIX);
    redis?.disconnect();
  });

  describe('hostile', () => {
    it('another identity holding the id is refused with -32019 and leaves the state for its owner', async () => {
      const auth = { tokens: [{ token: 'token-of-alice-0123456789', subject: 'alice' }, { token: 'token-of-mallory-0123456789', subject: 'mallory' }] };
      const { a, bUrl } = await twoNodes({ auth });
      const alice = await session((a as McpWsServer).url, 'token-of-alice-0123456789');
      const raw = await storedWhen(a, alice.id, (s) => s.initialized === true);
      // The key is a hash of the id, and neither the id nor a credential is stored.
      expect(a.resumer.store!.keyOf(alice.id)).not.toContain(alice.id);
      expect(raw).not.toContain(alice.id);
      expect(raw).not.toContain('token-of-alice');
      expect(raw).not.toContain('alice');

      const mallory = await open(bUrl, 'token-of-mallory-0123456789');
      const foreign = await resumeCall(mallory, alice.id, 1, 'tools/call', { name: 'whoami', arguments: {} });
      const madeUp = await resumeCall(mallory, 'B'.repeat(24), 2, 'tools/call', { name: 'whoami', arguments: {} });
      expect(foreign.error).toEqual(madeUp.error);
      expect(foreign.error.code).toBe(NOT_RESUMABLE);
      expect(JSON.stringify(foreign)).not.toContain('alice');
      // The refused socket is unbound and usable.
      const init = await mallory.request('initialize', INIT, 3);
      expect(init.result.serverInfo.name).toBe('resume-store-test');
      mallory.close();

      // Alice's node goes silent (its store connection closes, nothing more is written or deleted); she resumes on B.
      await a.resumer.closeStore();
      alice.c.ws.terminate();
      const back = await open(bUrl, 'token-of-alice-0123456789');
      const r = await resumeCall(back, alice.id, 1, 'tools/call', { name: 'whoami', arguments: {} });
      expect(r.result.content[0].text).toBe('alice');
      back.close();
    });

    it('forged, malformed, oversized and copied states are refused with -32019; the node keeps serving', async () => {
      const { a, b, aUrl, bUrl } = await twoNodes({ resumeStore: { url: REDIS_URL, prefix: `${PREFIX}forged:`, timeoutMs: TIMEOUT_MS, maxStateBytes: 1024 } });
      const x = await session(aUrl);
      const y = await session(aUrl);
      const xRaw = await storedWhen(a, x.id, (s) => s.initialized === true);
      await storedWhen(a, y.id, (s) => s.initialized === true);
      const store = a.resumer.store!;
      const header = xRaw.slice(0, 65);
      const bindOfX = JSON.parse(xRaw.slice(65)).bind as string;
      const cases: Array<[string, (key: string) => Promise<unknown>]> = [
        ['not JSON', (k) => redis.set(k, header + '{not json', 'PX', 60_000)],
        ['JSON of the wrong shape', (k) => redis.set(k, header + JSON.stringify({ v: 1, bind: bindOfX, protocolVersion: 42 }), 'PX', 60_000)],
        ['a version field too long', (k) => redis.set(k, header + JSON.stringify({ ...JSON.parse(xRaw.slice(65)), protocolVersion: 'x'.repeat(100) }), 'PX', 60_000)],
        ['another session\'s value copied here', (k) => redis.set(k, xRaw, 'PX', 60_000)],
        ['a value written without knowing the id', (k) => redis.set(k, header + JSON.stringify({ ...JSON.parse(xRaw.slice(65)), bind: 'forged' }), 'PX', 60_000)],
        ['a hash, not a string', async (k) => {
          await redis.del(k);
          return redis.hset(k, 'a', 'b');
        }],
        ['a value over maxStateBytes', (k) => redis.set(k, header + JSON.stringify({ ...JSON.parse(xRaw.slice(65)), pad: 'p'.repeat(2000) }), 'PX', 60_000)],
        ['a value far over maxStateBytes', (k) => redis.set(k, header + JSON.stringify({ ...JSON.parse(xRaw.slice(65)), pad: 'p'.repeat(2_000_000) }), 'PX', 60_000)],
      ];
      for (const [what, write] of cases) {
        // y's session lives on A; B is asked for it: B does not hold it and reads the store.
        await write(store.keyOf(y.id));
        const c = await open(bUrl);
        const r = await resumeCall(c, y.id, 1, 'ping');
        expect(r.error?.code, what).toBe(NOT_RESUMABLE);
        const init = await c.request('initialize', INIT, 2);
        expect(init.result.protocolVersion, what).toBe('2025-06-18');
        c.close();
      }
      expect(b.resumer.store!.stats.invalid).toBe(cases.length);
      expect(b.resumer.stats.remoteRefused).toBe(cases.length);
      // An oversized value was deleted unread.
      expect(await redis.exists(store.keyOf(y.id))).toBe(0);
      // A value too short to carry an identity is nobody's: refused, and left alone.
      await redis.set(store.keyOf(y.id), 'short', 'PX', 60_000);
      const c = await open(bUrl);
      expect((await resumeCall(c, y.id, 1, 'ping')).error.code).toBe(NOT_RESUMABLE);
      c.close();
      x.c.close();
      y.c.close();
    });

    it('Redis stopped: cross-node resume is refused at once and counted; in-process resume keeps working', async () => {
      const proxy = new TcpProxy();
      await proxy.start();
      const { a, b, aUrl, bUrl } = await twoNodes({ resumeStore: { url: urlVia(proxy.port), prefix: `${PREFIX}down:`, timeoutMs: 300 } });
      const s = await session(aUrl);
      await storedWhen(a, s.id, (st) => st.initialized === true);
      await proxy.stop();
      // Unknown here, so B asks the store: refused, no hang.
      const c = await open(bUrl);
      const r = await resumeCall(c, s.id, 1, 'ping');
      expect(r.error.code).toBe(NOT_RESUMABLE);
      expect(b.resumer.store!.stats.errors).toBeGreaterThanOrEqual(1);
      const metrics = await (await fetch(bUrl.replace('ws://', 'http://').replace(/\/ws$/, '/metrics'))).text();
      expect(metrics).toMatch(/^mcp_ws_resume_store_errors_total [1-9]/m);
      expect(metrics).toMatch(/^mcp_ws_resume_remote_total\{outcome="refused"\} 1$/m);
      c.close();
      // A still holds it: dropping and resuming there works without Redis.
      s.c.ws.terminate();
      await waitFor(() => a.resumer.detachedCount === 1, 10_000);
      const back = await open(aUrl);
      const ok = await resumeCall(back, s.id, 1, 'tools/call', { name: 'whoami', arguments: {} });
      expect(ok.result.content[0].text).toBe('anonymous');
      // New sessions start too; their writes fail and are counted, nothing else.
      const fresh = await session(aUrl);
      expect(fresh.id).toMatch(/^[A-Za-z0-9_-]{24}$/);
      await waitFor(() => a.resumer.store!.stats.errors >= 1, 10_000);
      expect(a.resumer.store!.stats.errors).toBeGreaterThanOrEqual(1);
      back.close();
      fresh.c.close();
    });

    it('Redis hung: the lookup gives up after timeoutMs with -32019, and messages sent meanwhile wait for it in order', async () => {
      const proxy = new TcpProxy();
      await proxy.start();
      const { b, bUrl } = await twoNodes({ resumeStore: { url: urlVia(proxy.port), prefix: `${PREFIX}hung:`, timeoutMs: 400 } });
      proxy.hang();
      const c = await open(bUrl);
      c.send({ jsonrpc: '2.0', id: 1, method: 'ping', mcpSessionId: 'C'.repeat(24) });
      c.send({ jsonrpc: '2.0', id: 2, method: 'initialize', params: INIT });
      const first = await c.nextResponse(15_000);
      const second = await c.nextResponse(15_000);
      expect(first.id).toBe(1);
      expect(first.error.code).toBe(NOT_RESUMABLE);
      expect(second.id).toBe(2);
      expect(second.result.protocolVersion).toBe('2025-06-18');
      expect(b.resumer.store!.stats.errors).toBeGreaterThanOrEqual(1);
      proxy.release();
      c.close();
      await proxy.stop();
    });

    it('a handler that cannot be rebuilt (no `rebuildable`) stores nothing, and its id is refused on another node', async () => {
      const router = testRouter();
      // A factory whose handlers forward to the router's but do not declare themselves rebuildable, as a gateway's.
      const opaque = (peer: SessionPeer): SessionHandler => {
        const h = router.createHandler(peer);
        return {
          get protocolVersion() {
            return h.protocolVersion;
          },
          request: (m) => h.request(m),
          notification: (m) => h.notification(m),
          response: (m) => h.response(m),
          closed: () => h.closed(),
        };
      };
      const { a, b, aUrl, bUrl } = await twoNodes({ handler: opaque });
      const s = await session(aUrl);
      await s.c.request('ping', undefined, 'p');
      expect(await redis.exists(a.resumer.store!.keyOf(s.id))).toBe(0);
      const c = await open(bUrl);
      const r = await resumeCall(c, s.id, 1, 'ping');
      expect(r.error.code).toBe(NOT_RESUMABLE);
      expect(b.resumer.stats.remoteRefused).toBe(1);
      c.close();
      s.c.close();
    });

    it('a state past maxStateBytes is not stored (the key is deleted) and is refused elsewhere; in-process resume still works', async () => {
      const { a, aUrl, bUrl } = await twoNodes({ resumeStore: { url: REDIS_URL, prefix: `${PREFIX}cap:`, timeoutMs: TIMEOUT_MS, maxStateBytes: 1024 } });
      const s = await session(aUrl);
      const key = a.resumer.store!.keyOf(s.id);
      await storedWhen(a, s.id, (st) => st.initialized === true);
      for (let i = 0; i < 20; i++) {
        const r = await s.c.request('resources/subscribe', { uri: `test://long/${'u'.repeat(100)}/${i}` }, `sub${i}`);
        expect(r.result).toEqual({});
      }
      expect(await waitFor(() => a.resumer.store!.stats.oversize === 1, 10_000)).toBe(true);
      for (let i = 0; i < 200 && (await redis.exists(key)) === 1; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await redis.exists(key)).toBe(0);
      const c = await open(bUrl);
      expect((await resumeCall(c, s.id, 1, 'ping')).error.code).toBe(NOT_RESUMABLE);
      c.close();
      s.c.ws.terminate();
      await waitFor(() => a.resumer.detachedCount === 1, 10_000);
      const back = await open(aUrl);
      expect((await resumeCall(back, s.id, 1, 'ping')).result).toEqual({});
      back.close();
    });

    it('a client that closes with 1000 is done: its state is deleted', async () => {
      const { a, aUrl } = await twoNodes();
      const s = await session(aUrl);
      const key = a.resumer.store!.keyOf(s.id);
      await storedWhen(a, s.id, (st) => st.initialized === true);
      s.c.ws.close(1000);
      let exists = 1;
      for (let i = 0; i < 500 && exists === 1; i++) {
        exists = await redis.exists(key);
        if (exists === 1) await new Promise((r) => setTimeout(r, 20));
      }
      expect(exists).toBe(0);
    });
  });

  describe('what a rebuilt session keeps', () => {
    it('an SDK-hosted (v1) server is rebuilt by its replayed initialize: its tools answer on the other node', async () => {
      const make = (): McpServer => {
        const server = new McpServer({ name: 'sdk-resumed', version: '1' }, { capabilities: { logging: {} } });
        server.registerTool('echo', { description: 'echo', inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
        return server;
      };
      const { a, b, aUrl, bUrl } = await twoNodes({ handler: new SdkHost(make) });
      const s = await session(aUrl);
      expect((await s.c.request('logging/setLevel', { level: 'error' }, 'lvl')).result).toEqual({});
      await storedWhen(a, s.id, (st) => st.logLevel === 'error' && st.initialized);
      await a.resumer.closeStore();
      s.c.ws.terminate();
      const c = await open(bUrl);
      const r = await resumeCall(c, s.id, 1, 'tools/call', { name: 'echo', arguments: { text: 'on B' } });
      expect(r).toMatchObject({ id: 1, result: { content: [{ type: 'text', text: 'on B' }] } });
      expect(b.resumer.stats.remoteResumed).toBe(1);
      c.close();
    });

    it('version, client info and capabilities, log level and subscriptions; nothing of the replay reaches the client', async () => {
      const { a, b, aUrl, bUrl } = await twoNodes();
      const s = await session(aUrl);
      expect((await s.c.request('logging/setLevel', { level: 'error' }, 'lvl')).result).toEqual({});
      expect((await s.c.request('resources/subscribe', { uri: 'test://r' }, 'sub')).result).toEqual({});
      expect((await s.c.request('resources/subscribe', { uri: 'test://gone' }, 'sub2')).result).toEqual({});
      expect((await s.c.request('resources/unsubscribe', { uri: 'test://gone' }, 'unsub')).result).toEqual({});
      const written = await storedWhen(a, s.id, (st) => st.logLevel === 'error' && st.subscriptions.length === 1 && st.initialized);
      // A goes silent (its store connection closes: nothing more is written or deleted), then its socket drops.
      await a.resumer.closeStore();
      s.c.ws.terminate();

      const c = await open(bUrl);
      const first = await resumeCall(c, s.id, 1, 'tools/call', { name: 'log', arguments: { level: 'warning', text: 'below the level' } });
      // The first message is the reply: no initialize result, no replayed replies, no log below the level.
      expect(first.id).toBe(1);
      expect(first.result.content[0].text).toBe('logged');
      c.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'log', arguments: { level: 'error', text: 'at the level' } } });
      const log = await c.next(15_000);
      expect(log.method).toBe('notifications/message');
      expect(log.params.data).toBe('at the level');
      expect((await c.nextResponse(15_000)).id).toBe(2);
      // A subscription kept: an update raised on B reaches the resumed session; the dropped one does not.
      c.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'touch', arguments: { uri: 'test://r' } } });
      const upd = await c.next(15_000);
      expect(upd).toEqual({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'test://r' } });
      expect((await c.nextResponse(15_000)).id).toBe(3);
      expect((await c.request('tools/call', { name: 'touch', arguments: { uri: 'test://gone' } }, 4)).id).toBe(4);
      const who = await c.request('tools/call', { name: 'client', arguments: {} }, 5);
      expect(JSON.parse(who.result.content[0].text)).toEqual({ info: INIT.clientInfo, caps: INIT.capabilities });
      // Already initialized: a second initialize is refused, as on the first node.
      expect((await c.request('initialize', INIT, 6)).error.code).toBe(-32600);
      expect(b.resumer.stats.remoteResumed).toBe(1);
      // B owns the state now: it is stored again under B's owner tag.
      const raw = await storedWhen(b, s.id, (st) => st.subscriptions[0] === 'test://r');
      expect(raw.slice(0, 22)).not.toBe(written.slice(0, 22));
      c.close();
    });

    it('a drained node leaves its sessions in the store: the client resumes on another node after 1001', async () => {
      const { a, aUrl, bUrl } = await twoNodes();
      const s = await session(aUrl);
      expect((await s.c.request('resources/subscribe', { uri: 'test://r' }, 'sub')).result).toEqual({});
      await storedWhen(a, s.id, (st) => st.subscriptions.length === 1);
      await a.close();
      expect((await s.c.closed).code).toBe(1001);
      const c = await open(bUrl);
      const r = await resumeCall(c, s.id, 1, 'tools/call', { name: 'touch', arguments: { uri: 'test://r' } });
      // The update was sent before the reply.
      expect(r.id).toBe(1);
      expect(r.result.content[0].text).toBe('touched');
      c.close();
    });

    it('two sockets on two nodes racing for one id: exactly one resumes', async () => {
      const { a, b, aUrl, bUrl } = await twoNodes();
      const third = await startServer({ handler: testRouter(), resumeStore: { url: REDIS_URL, prefix: a.resumer.store!.options.prefix, timeoutMs: TIMEOUT_MS } });
      await third.server.resumer.store!.whenUp(5000);
      const s = await session(aUrl);
      await storedWhen(a, s.id, (st) => st.initialized);
      await a.close();
      const [x, y] = await Promise.all([open(bUrl), open(third.url)]);
      const [rx, ry] = await Promise.all([resumeCall(x, s.id, 1, 'ping'), resumeCall(y, s.id, 1, 'ping')]);
      const outcomes = [rx, ry].map((r) => (r.result !== undefined ? 'resumed' : r.error.code)).sort();
      expect(outcomes).toEqual([NOT_RESUMABLE, 'resumed'].sort());
      expect(b.resumer.stats.remoteResumed + third.server.resumer.stats.remoteResumed).toBe(1);
      x.close();
      y.close();
    });
  });
});
