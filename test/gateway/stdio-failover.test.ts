/**
 * A pool of real stdio upstreams (our fixture server, one child per client
 * session): pinning, SIGKILL of a child mid-request, circuit breaker,
 * timeouts with cancellation, retries of read-only tools, progress,
 * re-establishing on a survivor, id mapping next to health-check pings.
 *
 * Bounds are generous on purpose (shared 2-core machines): "within 1 s"
 * is asserted as the brief states it, everything else well above need.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { McpRpcError } from '../../src/protocol/errors.js';
import { type ClientCloseInfo } from '../../src/transport/client.js';
import { UPSTREAM_LOST_CLOSE_CODE } from '../../src/gateway/errors.js';
import { closeAll, connect, fixtureUpstream, startGateway, text, until } from './helpers.js';

afterEach(closeAll);

const TWO_MEMBERS = [fixtureUpstream('a'), fixtureUpstream('b')];
const RAW = fileURLToPath(new URL('./fixtures/raw-server.mjs', import.meta.url));

/** A stdio member running the bare line fixture, which records what it receives. */
function rawUpstream(name: string): { command: string; args: string[]; env: Record<string, string>; name: string } {
  return { command: process.execPath, args: [RAW], env: { FIXTURE_NAME: name }, name };
}

describe('stdio pool', () => {
  it('pins each client session to its own child process, spread over the members', async () => {
    const { url, gateway } = await startGateway({ upstreams: TWO_MEMBERS, pool: { minConnections: 2, loadBalanceStrategy: 'RoundRobin' } });
    const c1 = await connect(url);
    const c2 = await connect(url);
    const p1 = text(await c1.request('tools/call', { name: 'pid' }));
    const p2 = text(await c2.request('tools/call', { name: 'pid' }));
    expect(p1).not.toBe(p2);
    // The same client always reaches the same child.
    expect(text(await c1.request('tools/call', { name: 'pid' }))).toBe(p1);
    const snap = gateway.snapshot() as { upstreams: Array<{ active: number }> };
    expect(snap.upstreams.map((u) => u.active)).toEqual([1, 1]);
  });

  it('SIGKILL mid-request: the call fails fast, the client is closed with 4003, new sessions reach a survivor within 1 s, the breaker opens and later closes', async () => {
    const { url, gateway } = await startGateway({
      upstreams: TWO_MEMBERS,
      pool: { minConnections: 2, healthCheckIntervalMs: 200, loadBalanceStrategy: 'RoundRobin' },
      breaker: { failureThreshold: 1, halfOpenAfterMs: 300 },
      requestTimeoutMs: 5000,
    });
    const victim = await connect(url);
    const closed = new Promise<ClientCloseInfo>((resolve) => victim.onClose(resolve));
    const pid = Number(text(await victim.request('tools/call', { name: 'pid' })));
    const inFlight = victim.request('tools/call', { name: 'slow', arguments: { ms: 20_000 } });
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    const err = await inFlight.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(McpRpcError);
    expect((err as McpRpcError).code).toBe(-32017);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await closed).code).toBe(UPSTREAM_LOST_CLOSE_CODE);

    const t1 = Date.now();
    const next = await connect(url);
    const survivor = Number(text(await next.request('tools/call', { name: 'pid' })));
    expect(Date.now() - t1).toBeLessThan(1000);
    expect(survivor).not.toBe(pid);

    const members = gateway.pool.members;
    const lostOn = members.find((m) => m.metrics.errors.lost > 0)!;
    expect(lostOn).toBeDefined();
    expect(lostOn.breaker.toJSON().opens).toBeGreaterThanOrEqual(1);
    // After the cool-down a trial session is opened and pinged: the breaker closes again.
    await until(() => lostOn.breaker.state === 'closed', 5000, 'the breaker to close');
  });

  it('re-establishes a session on a survivor when onUpstreamLost is "reestablish": the new child gets the log level and subscriptions', async () => {
    // The raw fixture records the log level and subscriptions it receives and reports them through the `received` tool.
    const { url, gateway } = await startGateway({
      upstreams: [rawUpstream('a'), rawUpstream('b')],
      pool: { minConnections: 2 },
      breaker: { failureThreshold: 1, halfOpenAfterMs: 300 },
      onUpstreamLost: 'reestablish',
    });
    const c = await connect(url);
    const changed: string[] = [];
    c.onNotification('*', (_p, method) => changed.push(method));
    await c.request('logging/setLevel', { level: 'error' });
    await c.request('resources/subscribe', { uri: 'mem://a' });
    await c.request('resources/subscribe', { uri: 'mem://b' });
    await c.request('resources/unsubscribe', { uri: 'mem://b' });
    const pid = Number(text(await c.request('tools/call', { name: 'pid' })));
    expect(JSON.parse(text(await c.request('tools/call', { name: 'received' })))).toEqual({ level: 'error', subscriptions: ['mem://a'] });
    const unsafe = c.request('tools/call', { name: 'hang' });
    process.kill(pid, 'SIGKILL');
    await expect(unsafe).rejects.toMatchObject({ code: -32017 });
    const t1 = Date.now();
    const again = Number(text(await c.request('tools/call', { name: 'pid' })));
    expect(Date.now() - t1).toBeLessThan(1000);
    expect(again).not.toBe(pid);
    // What the client set up on the old child reached the new one, and nothing it took back.
    expect(JSON.parse(text(await c.request('tools/call', { name: 'received' })))).toEqual({ level: 'error', subscriptions: ['mem://a'] });
    expect(changed).toContain('notifications/tools/list_changed');
    expect(changed).toContain('notifications/resources/list_changed');
    expect(gateway.stats.sessionsReestablished).toBe(1);
  });

  it('times out a request: -32001 to the client, notifications/cancelled upstream (the tool saw the abort)', async () => {
    const { url } = await startGateway({ upstreams: [fixtureUpstream('a')], requestTimeoutMs: 400 });
    const c = await connect(url);
    const t0 = Date.now();
    await expect(c.request('tools/call', { name: 'slow', arguments: { ms: 3000 } })).rejects.toMatchObject({ code: -32001 });
    expect(Date.now() - t0).toBeLessThan(3000);
    // The upstream got the cancellation under the mapped id and aborted the tool.
    let n = '0';
    for (let k = 0; k < 50 && n === '0'; k++) {
      n = text(await c.request('tools/call', { name: 'cancellations' }));
      if (n === '0') await new Promise((r) => setTimeout(r, 50));
    }
    expect(n).toBe('1');
  });

  it('retries a timed-out read-only tool (annotations learned from tools/list) and never a tool without them', async () => {
    const { url, gateway } = await startGateway({
      upstreams: [fixtureUpstream('a')],
      requestTimeoutMs: 300,
      retry: { maxRetries: 2, initialDelayMs: 10, maxDelayMs: 50 },
    });
    const c = await connect(url);
    await c.request('tools/list');
    expect(text(await c.request('tools/call', { name: 'flaky-read', arguments: { key: 'k' } }))).toMatch(/^ok k/);
    expect(gateway.pool.members[0]!.metrics.retries).toBe(1);
    await expect(c.request('tools/call', { name: 'slow', arguments: { ms: 2000 } })).rejects.toMatchObject({ code: -32001 });
    expect(gateway.pool.members[0]!.metrics.retries).toBe(1);
  });

  it('passes progress through, and progress keeps a long call from timing out', async () => {
    const { url } = await startGateway({ upstreams: [fixtureUpstream('a')], requestTimeoutMs: 400 });
    const c = await connect(url);
    const progress: number[] = [];
    c.onNotification('notifications/progress', (p) => {
      if (p?.progressToken === 'tok-1') progress.push(p.progress as number);
    });
    const r = await c.request('tools/call', { name: 'slow', arguments: { ms: 1000 }, _meta: { progressToken: 'tok-1' } });
    expect(text(r)).toBe('slept 1000');
    expect(progress.length).toBeGreaterThan(3);
  });

  it('maps ids: string and numeric client ids next to the pool’s own health-check pings never collide', async () => {
    const { url, gateway } = await startGateway({ upstreams: [fixtureUpstream('a')], pool: { healthCheckIntervalMs: 50, healthCheckTimeoutMs: 2000 } });
    const ws = new WebSocket(url, ['mcp']);
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const replies = new Map<unknown, unknown>();
    ws.on('message', (d) => {
      const m = JSON.parse((d as Buffer).toString());
      if ('id' in m) replies.set(m.id, m);
    });
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }));
    await until(() => replies.has('init'));
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    const ids: Array<string | number> = [];
    for (let k = 1; k <= 40; k++) {
      const id = k % 2 === 0 ? k : `s-${k}`;
      ids.push(id);
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: `m${k}` } } }));
      if (k % 10 === 0) await new Promise((r) => setTimeout(r, 120)); // let health pings run in between
    }
    await until(() => ids.every((id) => replies.has(id)), 5000, 'all replies');
    ids.forEach((id, i) => expect(text((replies.get(id) as { result: unknown }).result)).toBe(`m${i + 1}`));
    expect(gateway.pool.members[0]!.metrics.requests).toBeGreaterThan(41); // pings went upstream too
    ws.close();
  });
});
