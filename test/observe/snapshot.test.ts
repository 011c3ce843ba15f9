/**
 * server.metrics.snapshot() and GET /debug/snapshot against a real server:
 * the numbers the seed's troubleshooting starts from, and the hostile side
 * (off by default, auth when auth is on, a method-name flood, a request
 * flood sharing one snapshot).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { closeAll, RawClient, startServer, httpBase } from '../helpers.js';
import { closeAll as closeGateways, fixtureUpstream, startGateway } from '../gateway/helpers.js';
import { MAX_TIMED_METHODS, OTHER_METHOD, type MetricsSnapshot } from '../../src/metrics/metrics.js';
import type { ServerSnapshot } from '../../src/observe/snapshot.js';
import { serve as serveCli } from '../cli/run.js';

const TOKEN = 'observability-test-token-0123456789';

afterEach(closeAll);

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('server.metrics.snapshot()', () => {
  it('counts requests, percentiles, per-method latency and the slowest methods', async () => {
    const { server, url } = await startServer();
    const c = await RawClient.session(url);
    for (let i = 0; i < 20; i++) await c.request('tools/list');
    for (let i = 0; i < 5; i++) await c.request('tools/call', { name: 'echo', arguments: { text: 'hi' } });
    await c.request('no/such/method');
    const s: MetricsSnapshot = server.metrics.snapshot();
    expect(s.connectionsActive).toBe(1);
    expect(s.requests).toBeGreaterThanOrEqual(27); // initialize + 26
    expect(s.latency.p50Ms).toBeGreaterThan(0);
    expect(s.latency.p99Ms).toBeGreaterThanOrEqual(s.latency.p50Ms);
    expect(s.latency.counts.reduce((a, b) => a + b, 0)).toBe(s.requests);
    const byName = new Map(s.methods.map((m) => [m.method, m]));
    expect(byName.get('tools/list')!.count).toBe(20);
    expect(byName.get('tools/call')!.count).toBe(5);
    expect(byName.get('initialize')!.count).toBe(1);
    expect(s.slowest.length).toBeGreaterThan(0);
    expect(s.slowest.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < s.slowest.length; i++) expect(s.slowest[i - 1]!.p99Ms).toBeGreaterThanOrEqual(s.slowest[i]!.p99Ms);
    expect(s.errors.method_not_found).toBe(1);
    // The event loop is not monitored unless the dashboard or the snapshot route is on.
    expect(s.eventLoopDelay).toBeNull();
  });

  it('a client inventing method names cannot grow the per-method table past its cap', async () => {
    const { server, url } = await startServer();
    const c = await RawClient.session(url);
    for (let i = 0; i < MAX_TIMED_METHODS + 40; i++) await c.request(`invented/${i}`);
    const s = server.metrics.snapshot();
    expect(server.metrics.methodLatency.size).toBeLessThanOrEqual(MAX_TIMED_METHODS + 1);
    const other = s.methods.find((m) => m.method === OTHER_METHOD);
    expect(other).toBeDefined();
    expect(other!.count).toBeGreaterThan(0);
  });
});

describe('GET /debug/snapshot', () => {
  it('is not served by default (404), nor the dashboard', async () => {
    const { base } = await startServer();
    expect((await get(`${base}/debug/snapshot`)).status).toBe(404);
    expect((await get(`${base}/dashboard`)).status).toBe(404);
    expect((await get(`${base}/dashboard/events`)).status).toBe(404);
  });

  it('debugSnapshot: true serves JSON with rates, event-loop delay, process figures; the dashboard stays off', async () => {
    const { base, url } = await startServer({ debugSnapshot: true });
    const c = await RawClient.session(url);
    for (let i = 0; i < 10; i++) await c.request('ping');
    const r = await get(`${base}/debug/snapshot`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    const s = JSON.parse(r.body) as ServerSnapshot;
    expect(s.sessions).toBe(1);
    expect(s.connectionsActive).toBe(1);
    expect(s.methods.find((m) => m.method === 'ping')!.count).toBe(10);
    expect(s.eventLoopDelay).not.toBeNull();
    expect(s.process.rssBytes).toBeGreaterThan(0);
    expect(s.extra.mcp_ws_connection_slots).toBe(1);
    expect(s.tracing).toBe(false);
    expect((await get(`${base}/dashboard`)).status).toBe(404);
  });

  it('a flood of snapshot requests shares one snapshot per interval', async () => {
    const { base, server } = await startServer({ debugSnapshot: true });
    const before = server.observer!.hub.ticks;
    const replies = await Promise.all(Array.from({ length: 50 }, () => get(`${base}/debug/snapshot`)));
    for (const r of replies) expect(r.status).toBe(200);
    // 50 requests within well under a few intervals: a handful of snapshots, not 50.
    expect(server.observer!.hub.ticks - before).toBeLessThan(10);
  });

  it('with auth on: no credential → 401, a wrong one → 401, the query string → 401, the right one → 200', async () => {
    const { base } = await startServer({ dashboard: true, auth: { tokens: [TOKEN] } });
    for (const path of ['/debug/snapshot', '/dashboard', '/dashboard/events', '/dashboard/app.js', '/dashboard/uPlot.min.js']) {
      const none = await get(`${base}${path}`);
      expect(none.status, path).toBe(401);
      expect(none.headers['www-authenticate'], path).toMatch(/^Bearer/);
      expect(none.body, path).not.toContain('connectionsActive');
      expect((await get(`${base}${path}`, { Authorization: 'Bearer wrong-token-wrong-token-wrong' })).status, path).toBe(401);
    }
    expect((await get(`${base}/debug/snapshot?access_token=${TOKEN}`)).status).toBe(401);
    const ok = await get(`${base}/debug/snapshot`, { Authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).connectionsActive).toBe(0);
  });

  it('refuses a foreign browser Origin and a foreign Host as the endpoint does', async () => {
    const { base } = await startServer({ debugSnapshot: true });
    expect((await get(`${base}/debug/snapshot`, { Origin: 'https://evil.example' })).status).toBe(403);
    expect((await get(`${base}/debug/snapshot`, { Host: 'evil.example' })).status).toBe(403);
  });

  it('answers 405 to POST and stops with the server', async () => {
    const { base, server } = await startServer({ debugSnapshot: true });
    const r = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/debug/snapshot`, { method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end('{}');
    });
    expect(r).toBe(405);
    await server.close();
  });
});

describe('a gateway snapshot', () => {
  it('carries the gateway pool, its upstreams and their breakers', async () => {
    try {
      const { url } = await startGateway({ upstreams: [fixtureUpstream('up-a')], pool: { minConnections: 1, maxConnections: 2, healthCheckIntervalMs: 0 } }, { debugSnapshot: true });
      const base = httpBase(url);
      const s = JSON.parse((await get(`${base}/debug/snapshot`)).body) as ServerSnapshot;
      const h = s.handler as { upstreams: Array<{ name: string; breaker: { state: string } }>; pool: { size: number } };
      expect(h.upstreams.map((u) => u.name)).toEqual(['up-a']);
      expect(h.upstreams[0]!.breaker.state).toBe('closed');
      expect(s.extra.mcp_ws_gateway_pool_size).toBeGreaterThanOrEqual(0);
      expect(s.labelled.mcp_ws_gateway_upstream_breaker_state).toEqual([{ labels: { upstream: 'up-a' }, value: 0 }]);
    } finally {
      await closeGateways();
    }
  }, 60_000);
});

describe('a clustered snapshot (mcp-ws serve --workers 2 --dashboard)', () => {
  it('names the cluster: workers serving and kept; a lone server says null', async () => {
    const { base } = await startServer({ debugSnapshot: true });
    expect((JSON.parse((await get(`${base}/debug/snapshot`)).body) as ServerSnapshot).cluster).toBeNull();
    const s = await serveCli(['--port', '0', '--workers', '2', '--dashboard', '--log-level', 'warn'], 60_000);
    try {
      const cbase = s.url.replace(/^ws/, 'http').replace(/\/[^/]*$/, '');
      let snap: ServerSnapshot | undefined;
      const end = Date.now() + 60_000;
      while (Date.now() < end) {
        const r = await get(`${cbase}/debug/snapshot`);
        if (r.status === 200) {
          snap = JSON.parse(r.body) as ServerSnapshot;
          if (snap.cluster?.up === 2) break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(snap?.cluster).toEqual({ up: 2, total: 2, draining: false });
      // The rest is the answering worker's own: not the primary's pid.
      expect(snap!.process.pid).not.toBe(s.child.pid);
    } finally {
      s.child.kill('SIGTERM');
      expect(await s.exit).toBe(0);
    }
  }, 120_000);
});
