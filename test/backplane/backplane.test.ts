/**
 * The Redis backplane between real servers in this process, each with its
 * own backplane (its own connection pair, as separate processes would
 * have), on the shared Redis (REDIS_URL) under a key prefix of this run,
 * or on a redis-server of the test's own where Redis is killed or slowed.
 *
 * "Exactly once" is checked by order, not by waiting: Redis delivers one
 * channel's messages to a subscriber in the order it executed the
 * PUBLISHes, so once a marker published after an event has arrived, any
 * echo or duplicate of that event would have arrived before it.
 */
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createRedisBackplane, type RedisBackplane } from '../../src/backplane/backplane.js';
import { redisCounter } from '../../src/demo/counter.js';
import { createDemoRouter, COUNTER_URI } from '../../src/demo/demo-router.js';
import { McpWsServer } from '../../src/server/server.js';
import { deleteKeys, probeRedis, REDIS_REQUIRED, REDIS_URL, uniquePrefix, warnSkipped } from '../ratelimit/redis-helpers.js';
import { freePort, OwnRedis, Peer, waitFor } from './helpers.js';


const available = await probeRedis();
if (!available && !REDIS_REQUIRED) warnSkipped();
const run = available || REDIS_REQUIRED;

const UPDATED = 'notifications/resources/updated';
const MARK = 'notifications/message';

interface Node {
  server: McpWsServer;
  backplane: RedisBackplane;
  url: string;
  logs: string[];
}

const nodes: Node[] = [];
const peers: Peer[] = [];
const ownRedis: OwnRedis[] = [];

/** A server with the demo router (plus `whoami`) and a backplane of its own. */
async function startNode(url: string, keyPrefix: string, extra: { commandTimeoutMs?: number; maxPendingPublishes?: number } = {}): Promise<Node> {
  const logs: string[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    }),
  );
  const backplane = createRedisBackplane({ url, keyPrefix, connectTimeoutMs: 1000, commandTimeoutMs: extra.commandTimeoutMs ?? 1000, ...(extra.maxPendingPublishes ? { maxPendingPublishes: extra.maxPendingPublishes } : {}), logger });
  const router = createDemoRouter({ counter: redisCounter(() => backplane.commandClient, `${keyPrefix}demo:counter`) });
  router.tool({ name: 'whoami', inputSchema: { type: 'object' } }, (_args, ctx) => ctx.sessionId);
  const server = new McpWsServer({ handler: router, port: 0, processMetrics: false, backplane, logger });
  const { url: wsUrl } = await server.listen();
  const node = { server, backplane, url: wsUrl, logs };
  nodes.push(node);
  return node;
}

async function peer(url: string, version?: string): Promise<Peer> {
  const p = await Peer.open(url, version);
  peers.push(p);
  return p;
}

/** Sends a marker to `p` from `via` (another node) and waits for it: everything published before it has arrived. */
async function barrier(via: Node, p: Peer, id: string): Promise<void> {
  const tag = `mark-${Math.random().toString(36).slice(2)}`;
  expect(via.server.sendToSession(id, { method: MARK, params: { level: 'info', data: tag } })).toBe('published');
  expect(await p.waitNotes(MARK, 1, 20_000, (q) => q.data === tag)).toBe(true);
}

async function metricsText(node: Node): Promise<string> {
  return node.server.registry.metrics();
}

afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  for (const n of nodes.splice(0)) {
    await n.server.close();
    await n.backplane.close();
  }
  for (const r of ownRedis.splice(0)) await r.kill();
});

describe.skipIf(!run)('Redis backplane across servers', () => {
  const prefix = uniquePrefix('backplane');
  afterAll(async () => {
    await deleteKeys(prefix);
  }, 120_000);

  it('an increment on one server notifies subscribers on every server, each exactly once, in both eras', async () => {
    const [a, b, c] = [await startNode(REDIS_URL, prefix), await startNode(REDIS_URL, prefix), await startNode(REDIS_URL, prefix)];
    for (const n of [a, b, c]) expect(await n.backplane.whenUp(10_000)).toBe(true);
    const onA = await peer(a.url);
    expect((await onA.request('resources/subscribe', { uri: COUNTER_URI })).result).toEqual({});
    // 2026-07-28: a listen on node B, no initialize.
    const onB = await peer(b.url, undefined);
    onB.send({
      jsonrpc: '2.0',
      id: 'L1',
      method: 'subscriptions/listen',
      params: {
        _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} },
        notifications: { resourceSubscriptions: [COUNTER_URI] },
      },
    });
    expect(await onB.waitNotes('notifications/subscriptions/acknowledged', 1)).toBe(true);
    const onC = await peer(c.url);
    expect((await onC.request('resources/subscribe', { uri: COUNTER_URI })).result).toEqual({});
    const caller = await peer(c.url);

    const r = await caller.request('tools/call', { name: 'increment', arguments: { by: 5 } });
    expect(r.result.isError).toBeUndefined();
    const value = r.result.structuredContent.value as number;
    for (const p of [onA, onB, onC]) expect(await p.waitNotes(UPDATED, 1)).toBe(true);
    expect(onB.notes(UPDATED)[0].params).toEqual({ _meta: { 'io.modelcontextprotocol/subscriptionId': 'L1' }, uri: COUNTER_URI });
    // Every node reads the same counter.
    const read = await onA.request('resources/read', { uri: COUNTER_URI });
    expect(read.result.contents[0].text).toBe(String(value));

    // Markers published after the event: a duplicate or an echo would be here by now.
    const idA = await onA.sessionId();
    const idC = await onC.sessionId();
    await barrier(b, onA, idA);
    await barrier(a, onC, idC);
    expect(onA.notes(UPDATED)).toHaveLength(1);
    expect(onC.notes(UPDATED)).toHaveLength(1);
    expect(onB.notes(UPDATED)).toHaveLength(1);
    expect(caller.notes(UPDATED)).toHaveLength(0); // not subscribed
    expect(a.backplane.stats.received).toBeGreaterThanOrEqual(1);
    expect(c.backplane.stats.published).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('sendToSession reaches a session on another server; here it is delivered at once; bad input is a TypeError', async () => {
    const [a, b] = [await startNode(REDIS_URL, prefix), await startNode(REDIS_URL, prefix)];
    for (const n of [a, b]) expect(await n.backplane.whenUp(10_000)).toBe(true);
    const onB = await peer(b.url);
    const id = await onB.sessionId();
    expect(a.server.sendToSession(id, { method: 'notifications/message', params: { level: 'info', data: 'from a' } })).toBe('published');
    expect(await onB.waitNotes(MARK, 1, 20_000, (q) => q.data === 'from a')).toBe(true);
    expect(b.server.sendToSession(id, { method: 'notifications/message', params: { level: 'info', data: 'local' } })).toBe('delivered');
    expect(await onB.waitNotes(MARK, 1, 20_000, (q) => q.data === 'local')).toBe(true);
    // A session that closed is no longer found here.
    onB.close();
    await onB.closed;
    expect(await waitFor(() => b.server.sendToSession(id, { method: MARK }) === 'published', 10_000)).toBe(true);
    for (const bad of [undefined, null, {}, { method: '' }, { method: 1 }, { method: 'x', params: [] }, { method: 'x', params: 'p' }]) {
      expect(() => a.server.sendToSession(id, bad as any), JSON.stringify(bad)).toThrow(TypeError);
    }
    expect(() => a.server.sendToSession('', { method: MARK })).toThrow(TypeError);
  }, 120_000);

  it('sendToSession without a backplane answers unknown for a session that is not here', async () => {
    const server = new McpWsServer({ handler: createDemoRouter(), port: 0, processMetrics: false });
    await server.listen();
    try {
      expect(server.sendToSession('no-such-session', { method: MARK })).toBe('unknown');
    } finally {
      await server.close();
    }
  }, 120_000);

  it('notifyListChanged reaches every server; a registration notifies only its own server', async () => {
    const [a, b] = [await startNode(REDIS_URL, prefix), await startNode(REDIS_URL, prefix)];
    for (const n of [a, b]) expect(await n.backplane.whenUp(10_000)).toBe(true);
    const onA = await peer(a.url);
    const onB = await peer(b.url);
    const routerB = (b.server as any).router;
    routerB.notifyListChanged('tools');
    for (const p of [onA, onB]) expect(await p.waitNotes('notifications/tools/list_changed', 1)).toBe(true);
    routerB.tool({ name: 'only-on-b' }, () => 'b');
    expect(await onB.waitNotes('notifications/tools/list_changed', 2)).toBe(true);
    await barrier(b, onA, await onA.sessionId());
    expect(onA.notes('notifications/tools/list_changed')).toHaveLength(1);
    expect(() => routerB.notifyListChanged('templates')).toThrow(TypeError);
    // A URI the channel cannot carry stays local: no throw into the caller.
    expect(() => routerB.notifyResourceUpdated(`demo://${'x'.repeat(9000)}`)).not.toThrow();
  }, 120_000);

  it('drops and counts malformed, foreign-version and oversized channel messages, and goes on delivering', async () => {
    const a = await startNode(REDIS_URL, prefix);
    expect(await a.backplane.whenUp(10_000)).toBe(true);
    const onA = await peer(a.url);
    await onA.request('resources/subscribe', { uri: 'x://ok' });
    const raw = new Redis(REDIS_URL);
    try {
      const ch = a.backplane.channel;
      const bad = [
        'not json',
        '[1,2]',
        'null',
        JSON.stringify({ v: 2, from: 'x', kind: 'resource-updated', uri: 'x://ok' }),
        JSON.stringify({ v: '1', from: 'x', kind: 'resource-updated', uri: 'x://ok' }),
        JSON.stringify({ v: 1, kind: 'resource-updated', uri: 'x://ok' }),
        JSON.stringify({ v: 1, from: 'x', kind: 'nope' }),
        JSON.stringify({ v: 1, from: 'x', kind: 'resource-updated', uri: 42 }),
        JSON.stringify({ v: 1, from: 'x', kind: 'list-changed', list: 'everything' }),
        JSON.stringify({ v: 1, from: 'x', kind: 'session-notification', sessionId: 's', method: 'm', params: [1] }),
        JSON.stringify({ v: 1, from: 'x', kind: 'resource-updated', uri: 'x://ok', pad: 'y'.repeat(70_000) }),
      ];
      for (const m of bad) await raw.publish(ch, m);
      await raw.publish(ch, JSON.stringify({ v: 1, from: 'someone-else', kind: 'resource-updated', uri: 'x://ok' }));
      expect(await onA.waitNotes(UPDATED, 1)).toBe(true);
      const d = a.backplane.stats.dropped;
      expect({ malformed: d.malformed, version: d.version, too_large: d.too_large }).toEqual({ malformed: 9, version: 1, too_large: 1 });
      expect(onA.notes(UPDATED)).toHaveLength(1);
      const text = await metricsText(a);
      expect(text).toMatch(/mcp_ws_backplane_dropped_total\{reason="malformed"\} 9/);
      expect(text).toMatch(/mcp_ws_backplane_up 1/);
      expect(text).toMatch(/mcp_ws_backplane_received_total 1/);
    } finally {
      raw.disconnect();
    }
  }, 120_000);

  it('refuses to publish an event that is too large, counting it, and never throws on the request path', async () => {
    const a = await startNode(REDIS_URL, prefix);
    expect(await a.backplane.whenUp(10_000)).toBe(true);
    const onA = await peer(a.url);
    const id = await onA.sessionId();
    // Addressed to a session elsewhere (unknown here), too large to publish.
    expect(a.server.sendToSession('elsewhere', { method: MARK, params: { data: 'z'.repeat(100_000) } })).toBe('published');
    expect(a.backplane.stats.dropped.too_large).toBe(1);
    expect(a.server.sendToSession(id, { method: MARK, params: { data: 'z'.repeat(100_000) } })).toBe('delivered');
  }, 120_000);
});

describe.skipIf(!run)('Redis backplane when Redis is down or slow', () => {
  it('starts with Redis unreachable: serves, delivers locally, counts drops, increment is a tool error', async () => {
    const port = await freePort(); // nothing listens there
    const a = await startNode(`redis://127.0.0.1:${port}`, 'mcp-ws-test:down:');
    expect(await waitFor(() => a.backplane.state === 'down', 20_000)).toBe(true);
    const onA = await peer(a.url);
    await onA.request('resources/subscribe', { uri: COUNTER_URI });
    const r = await onA.request('tools/call', { name: 'increment', arguments: { by: 1 } });
    expect(r.result.isError).toBe(true);
    expect(r.result.content[0].text).toMatch(/counter is unavailable/);
    const read = await onA.request('resources/read', { uri: COUNTER_URI });
    expect(read.error.code).toBe(-32603);
    // Local delivery goes on; the cross-process copy is dropped and counted, nothing queued.
    const router = (a.server as any).router;
    for (let i = 0; i < 10_000; i++) router.notifyResourceUpdated(COUNTER_URI);
    expect(await onA.waitNotes(UPDATED, 10_000)).toBe(true);
    expect(a.backplane.stats.dropped.down).toBe(10_000);
    expect(a.backplane.stats.pending).toBe(0);
    expect(await metricsText(a)).toMatch(/mcp_ws_backplane_up 0/);
    expect(a.logs.filter((l) => l.includes('backplane down'))).toHaveLength(1);
    // Ordinary requests are served.
    expect((await onA.request('tools/call', { name: 'echo', arguments: { text: 'hi' } })).result.content[0].text).toBe('hi');
  }, 120_000);

  it('Redis killed mid-run: each node logs once, delivers locally, and resumes cross-node delivery when Redis is back', async () => {
    const redis = await OwnRedis.start();
    ownRedis.push(redis);
    const [a, b] = [await startNode(redis.url, 'mcp-ws-test:kill:'), await startNode(redis.url, 'mcp-ws-test:kill:')];
    for (const n of [a, b]) expect(await n.backplane.whenUp(10_000)).toBe(true);
    const onA = await peer(a.url);
    await onA.request('resources/subscribe', { uri: COUNTER_URI });
    const onB = await peer(b.url);
    await onB.request('resources/subscribe', { uri: COUNTER_URI });
    await onB.request('tools/call', { name: 'increment', arguments: {} });
    expect(await onA.waitNotes(UPDATED, 1)).toBe(true);

    await redis.kill();
    for (const n of [a, b]) expect(await waitFor(() => n.backplane.state === 'down', 20_000)).toBe(true);
    const r = await onB.request('tools/call', { name: 'increment', arguments: {} });
    expect(r.result.isError).toBe(true);
    (b.server as any).router.notifyResourceUpdated(COUNTER_URI);
    expect(await onB.waitNotes(UPDATED, 2)).toBe(true); // local delivery goes on
    expect(b.backplane.stats.dropped.down).toBeGreaterThanOrEqual(1);
    for (const n of [a, b]) expect(n.logs.filter((l) => l.includes('backplane down'))).toHaveLength(1);

    await redis.start();
    for (const n of [a, b]) expect(await n.backplane.whenUp(30_000)).toBe(true);
    const before = onA.notes(UPDATED).length;
    const again = await onB.request('tools/call', { name: 'increment', arguments: { by: 2 } });
    expect(again.result.structuredContent.value).toBe(2); // a fresh Redis: the count starts again
    expect(await onA.waitNotes(UPDATED, before + 1)).toBe(true);
    for (const n of [a, b]) expect(n.logs.filter((l) => l.includes('backplane up'))).toHaveLength(2);
  }, 120_000);

  it('a slow Redis (DEBUG SLEEP) delays no reply; publications over the cap are dropped; increment gives up after the command timeout', async () => {
    const redis = await OwnRedis.start();
    ownRedis.push(redis);
    const a = await startNode(redis.url, 'mcp-ws-test:slow:', { commandTimeoutMs: 500, maxPendingPublishes: 16 });
    expect(await a.backplane.whenUp(10_000)).toBe(true);
    const onA = await peer(a.url);
    await onA.request('resources/subscribe', { uri: COUNTER_URI });
    const admin = new Redis(redis.url);
    try {
      let sleeping = true;
      const slept = admin.call('DEBUG', 'SLEEP', '10').finally(() => (sleeping = false));
      // Redis is asleep once a PING from another connection goes unanswered.
      const probe = new Redis(redis.url, { commandTimeout: 100, maxRetriesPerRequest: 0 });
      probe.on('error', () => {});
      let asleep = false;
      for (let i = 0; i < 100 && !asleep && sleeping; i++) asleep = await probe.ping().then(() => false, () => true);
      probe.disconnect();
      expect(asleep).toBe(true);
      const router = (a.server as any).router;
      for (let i = 0; i < 100; i++) router.notifyResourceUpdated(COUNTER_URI);
      const echo = await onA.request('tools/call', { name: 'echo', arguments: { text: 'still here' } });
      expect(echo.result.content[0].text).toBe('still here');
      expect(await onA.waitNotes(UPDATED, 100)).toBe(true);
      expect(sleeping).toBe(true); // all of the above while Redis slept
      expect(a.backplane.stats.dropped.backlog).toBe(100 - 16);
      const inc = await onA.request('tools/call', { name: 'increment', arguments: {} });
      expect(inc.result.isError).toBe(true);
      expect(inc.result.content[0].text).toMatch(/timed out/i);
      expect(sleeping).toBe(true);
      await slept;
      // The probe brings it back once Redis answers again.
      expect(await waitFor(() => a.backplane.state === 'up', 30_000)).toBe(true);
      expect(a.logs.filter((l) => l.includes('backplane down'))).toHaveLength(1);
    } finally {
      admin.disconnect();
    }
  }, 120_000);
});

describe('backplane options', () => {
  it('refuses a bad URL or setting with a one-line message naming it', () => {
    expect(() => createRedisBackplane('http://127.0.0.1:6379')).toThrow(/redis\.url should be a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => createRedisBackplane({ url: 'redis://127.0.0.1', commandTimeoutMs: 0 })).toThrow(/redis\.commandTimeoutMs/);
    expect(() => createRedisBackplane({ url: 'redis://127.0.0.1', keyPrefix: '' })).toThrow(/redis\.keyPrefix/);
  }, 120_000);
});
