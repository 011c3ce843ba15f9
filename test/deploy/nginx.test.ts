/**
 * deploy/nginx.conf with real nginx in front of three `mcp-ws serve`
 * processes: the committed file, with only its addresses and ports
 * rewritten to loopback. Clients reach nginx from different 127.0.0.x
 * source addresses.
 *
 * Hostile first: a client lying in X-Forwarded-For (through nginx, and
 * directly to a server) cannot pick its per-IP budget; then: per-IP limits
 * see each client behind the proxy, least_conn spreads sessions over the
 * three servers, Streamable HTTP and its SSE pass unbuffered. With Redis
 * (REDIS_URL; REQUIRE_REDIS=1 makes its absence a failure) the three servers
 * share a backplane: an increment through nginx reaches subscribers on all
 * three, and after one server is SIGKILLed its clients (our reconnecting
 * client transport) are served by the other two.
 *
 * Needs nginx (Debian package; .ci/run installs it). Without it the test says
 * so loudly, and CI (REQUIRE_NGINX=1) fails instead of skipping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { serve, type Serving } from '../cli/run.js';
import { WebSocketClientTransport } from '../../src/transport/client-transport.js';
import { deleteKeys, probeRedis, REDIS_REQUIRED, REDIS_URL, uniquePrefix, warnSkipped } from '../ratelimit/redis-helpers.js';
import { Peer, waitFor } from '../backplane/helpers.js';
import { freePort, httpBase, openWs, scrape } from '../helpers.js';

const NGINX = '/usr/sbin/nginx';
const have = existsSync(NGINX);
if (!have) console.warn(`\n!!! ${NGINX} not found: the nginx test cannot run (apt-get install nginx; CI sets REQUIRE_NGINX=1)\n`);
const enabled = have || process.env.REQUIRE_NGINX === '1';

const redisUp = enabled && (await probeRedis());
if (enabled && !redisUp && !REDIS_REQUIRED) warnSkipped();
const withRedis = redisUp || REDIS_REQUIRED;
const redisPrefix = uniquePrefix('nginx-backplane');

const CONF = fileURLToPath(new URL('../../deploy/nginx.conf', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-nginx-'));
const servers: Serving[] = [];
let nginx: ChildProcess | undefined;
let nginxErr = '';
let front = '';

/** The committed config, its upstream servers and listen port pointed at loopback. */
function rewrite(conf: string, upstreams: readonly number[], listen: number): string {
  let i = 0;
  const body = conf
    .replace(/^(\s*)server 10\.0\.0\.\d+:8080 (.*)$/gm, (line, indent: string, rest: string) => {
      const port = upstreams[i++];
      return port === undefined ? '' : `${indent}server 127.0.0.1:${port} ${rest}`;
    })
    .replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${listen};`);
  expect(i, 'deploy/nginx.conf should name four upstream servers').toBe(4);
  const tmp = (name: string): string => `${name}_temp_path ${join(dir, name)};`;
  return [
    'daemon off;',
    'master_process off;',
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    `  access_log off;`,
    `  ${tmp('client_body')} ${tmp('proxy')} ${tmp('fastcgi')} ${tmp('uwsgi')} ${tmp('scgi')}`,
    body,
    '}',
  ].join('\n');
}

beforeAll(async () => {
  if (!enabled) return;
  const cfg = join(dir, 'mcp-ws.json');
  writeFileSync(cfg, JSON.stringify({ trustedProxies: ['127.0.0.1'], maxConnectionsPerIp: 2, logLevel: 'warn', ...(withRedis ? { redis: { url: REDIS_URL, keyPrefix: redisPrefix } } : {}) }));
  for (let i = 0; i < 3; i++) servers.push(await serve(['--port', '0', '--config', cfg], 30_000));
  const ports = servers.map((s) => Number(new URL(s.url).port));
  const listen = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, rewrite(readFileSync(CONF, 'utf8'), ports, listen));
  nginx = spawn(NGINX, ['-p', dir, '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  nginx.stderr!.on('data', (d: Buffer) => (nginxErr += d.toString()));
  front = `127.0.0.1:${listen}`;
  // Ready when it answers (nginx prints nothing on start).
  const end = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await fetch(`http://${front}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > end || nginx.exitCode !== null) throw new Error(`nginx did not start: ${nginxErr}${existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 90_000);

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    nginx.kill('SIGTERM');
    await new Promise((r) => nginx!.once('exit', r));
  }
  for (const s of servers) {
    s.child.kill('SIGTERM');
    await s.exit;
  }
  rmSync(dir, { recursive: true, force: true });
  if (redisUp) await deleteKeys(redisPrefix);
});

/** A WebSocket from `source` (a 127.0.0.x address) through `host`; the open socket or the refusal status. */
function open(host: string, source: string, headers: Record<string, string> = {}): Promise<WebSocket | number> {
  return openWs(`ws://${host}/ws`, { localAddress: source, headers });
}

async function openMany(host: string, source: string, n: number, headers: Record<string, string> = {}): Promise<Array<WebSocket | number>> {
  const out: Array<WebSocket | number> = [];
  for (let i = 0; i < n; i++) out.push(await open(host, source, headers));
  return out;
}

/** Closes the sockets and waits until every server has given back their slots. */
async function closeAll(list: Array<WebSocket | number>): Promise<void> {
  for (const ws of list) if (typeof ws !== 'number') ws.terminate();
  const end = Date.now() + 15_000;
  for (;;) {
    let slots = 0;
    for (const s of servers) {
      const text = await scrape(httpBase(s.url));
      slots += Number(/^mcp_ws_connection_slots (\d+)/m.exec(text)?.[1] ?? 0);
    }
    if (slots === 0) return;
    if (Date.now() > end) throw new Error(`${slots} connection slots still held`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const opened = (list: Array<WebSocket | number>): number => list.filter((w) => typeof w !== 'number').length;

/**
 * Per-IP limits (2 per client) are per server here: three servers behind nginx give each
 * client at most 2 sessions on each. least_conn sends a client's third session to another
 * server, so the bound through the proxy is 2 × 3.
 */
describe.skipIf(!enabled)('deploy/nginx.conf in front of three mcp-ws servers', () => {
  it('a client that lies in X-Forwarded-For through nginx is still counted as itself', async () => {
    const liar = await openMany(front, '127.0.0.21', 8, { 'X-Forwarded-For': '203.0.113.7' });
    // nginx appends the real peer; mcp-ws takes the right-most untrusted entry: 127.0.0.21 for all 8.
    expect(opened(liar)).toBe(6);
    expect(liar.filter((w) => w === 503)).toHaveLength(2);
    await closeAll(liar);
  });

  it('a client reaching a server directly cannot borrow another address with X-Forwarded-For', async () => {
    const direct = new URL(servers[0]!.url).host;
    const list = await openMany(direct, '127.0.0.22', 4, { 'X-Forwarded-For': '198.51.100.1' });
    // 127.0.0.22 is not a trusted proxy: its header is ignored, its own budget (2) applies.
    expect(opened(list)).toBe(2);
    await closeAll(list);
  });

  it('clients behind nginx each get their own per-IP budget, spread over the servers by least_conn', async () => {
    const a = await openMany(front, '127.0.0.31', 6);
    const b = await openMany(front, '127.0.0.32', 6);
    expect(opened(a)).toBe(6);
    expect(opened(b)).toBe(6);
    expect(await open(front, '127.0.0.31')).toBe(503);
    // Every server took sessions.
    for (const s of servers) {
      const text = await scrape(httpBase(s.url));
      expect(Number(/^mcp_ws_connections_active (\d+)/m.exec(text)?.[1])).toBeGreaterThanOrEqual(2);
    }
    await closeAll([...a, ...b]);
  });

  it('Streamable HTTP passes through: a 2026-07-28 POST, and an SSE reply arrives as events', async () => {
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 't', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
    const post = (body: unknown, method: string): Promise<Response> =>
      fetch(`http://${front}/mcp`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': method, 'Mcp-Name': 'add' },
        body: JSON.stringify(body),
      });
    const r = await post({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'add', arguments: { a: 2, b: 40 }, _meta: meta } }, 'tools/call');
    expect(r.status).toBe(200);
    const body = (await r.json()) as { result: { structuredContent: { sum: number } } };
    expect(body.result.structuredContent.sum).toBe(42);
    // Progress first, so the reply switches to SSE: events arrive one by one, the first long before the end.
    const sse = await fetch(`http://${front}/mcp`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/call', 'Mcp-Name': 'sleep' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 3000 }, _meta: { ...meta, progressToken: 'p' } } }),
    });
    expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = sse.body!.getReader();
    const first = await reader.read();
    const firstAt = Date.now();
    expect(new TextDecoder().decode(first.value)).toMatch(/notifications\/progress/);
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toMatch(/"id":2/);
    // Unbuffered: the first event came while the tool still had most of its 3 s to run.
    expect(Date.now() - firstAt).toBeGreaterThan(500);
  });
});


/** An MCP session over our reconnecting client transport, through `host`, initialized again after each reconnect. */
class Reconnecting {
  readonly transport: WebSocketClientTransport;
  readonly notes: any[] = [];
  reconnects = 0;
  reconnectedAt: number | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, (m: any) => void>();
  constructor(host: string, source: string) {
    // Through nginx from 127.0.0.1 (a trusted proxy address), X-Forwarded-For names the client: each gets its own per-IP budget.
    this.transport = new WebSocketClientTransport(`ws://${host}/ws`, { reconnect: { maxAttempts: 50, initialDelayMs: 100, maxDelayMs: 1000 }, headers: { 'X-Forwarded-For': source } });
    this.transport.onmessage = (m: any) => {
      if (m.id !== undefined && (m.result !== undefined || m.error !== undefined)) this.waiting.get(m.id)?.(m);
      else if (m.method !== undefined) this.notes.push(m);
    };
    this.transport.onerror = () => {};
    this.transport.on('reconnected', () => {
      this.reconnects++;
      this.reconnectedAt = Date.now();
    });
  }
  request(method: string, params: unknown): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer to ${method}`)), 30_000);
      this.waiting.set(id, (m) => {
        clearTimeout(t);
        resolve(m);
      });
      this.transport.send({ jsonrpc: '2.0', id, method, params } as any).catch(reject);
    });
  }
  async subscribe(): Promise<void> {
    await this.request('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'nginx-test', version: '1' } });
    await this.transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' } as any);
    expect((await this.request('resources/subscribe', { uri: 'demo://counter' })).result).toEqual({});
  }
}

async function activeOn(s: Serving): Promise<number> {
  const text = await (await fetch(`${s.url.replace(/^ws/, 'http').replace(/\/ws$/, '')}/metrics`)).text();
  return Number(/^mcp_ws_connections_active (\d+)/m.exec(text)?.[1] ?? 0);
}

describe.skipIf(!enabled || !withRedis)('deploy/nginx.conf: three servers sharing a Redis backplane', () => {
  it('an increment through nginx reaches subscribers connected to each of the three servers', async () => {
    const subs: Peer[] = [];
    try {
      for (const s of servers) {
        const p = await Peer.open(s.url);
        subs.push(p);
        expect((await p.request('resources/subscribe', { uri: 'demo://counter' })).result).toEqual({});
      }
      const caller = await Peer.open(`ws://${front}/ws`);
      subs.push(caller);
      const r = await caller.request('tools/call', { name: 'increment', arguments: { by: 1 } });
      expect(r.result.isError).toBeUndefined();
      for (const p of subs.slice(0, 3)) expect(await p.waitNotes('notifications/resources/updated', 1)).toBe(true);
    } finally {
      for (const p of subs) p.close();
      await closeAll([]);
    }
  }, 120_000);

  // Last: it kills one of the three servers.
  it('SIGKILL one server: its clients reconnect through nginx to the survivors and hear increments again', async () => {
    const clients: Reconnecting[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const c = new Reconnecting(front, `127.0.0.${61 + i}`);
        await c.transport.start();
        await c.subscribe();
        clients.push(c);
      }
      const victim = servers[0]!;
      const onVictim = await activeOn(victim);
      expect(onVictim).toBeGreaterThanOrEqual(1); // least_conn spread the six
      const killedAt = Date.now();
      victim.child.kill('SIGKILL');
      await victim.exit;
      // Every client whose server died is back (through nginx, on a survivor) within a generous bound.
      expect(await waitFor(() => clients.filter((c) => c.reconnects > 0).length === onVictim, 60_000)).toBe(true);
      const moved = clients.filter((c) => c.reconnects > 0);
      const worst = Math.max(...moved.map((c) => c.reconnectedAt! - killedAt));
      console.log(`nginx failover: ${moved.length} clients reconnected to the survivors, the last ${worst} ms after SIGKILL`);
      for (const c of moved) await c.subscribe();
      const caller = new Reconnecting(front, '127.0.0.70');
      await caller.transport.start();
      await caller.subscribe();
      const before = clients.map((c) => c.notes.filter((n) => n.method === 'notifications/resources/updated').length);
      const r = await caller.request('tools/call', { name: 'increment', arguments: { by: 1 } });
      expect(r.result.isError).toBeUndefined();
      expect(await waitFor(() => clients.every((c, i) => c.notes.filter((n) => n.method === 'notifications/resources/updated').length > before[i]!), 30_000)).toBe(true);
      await caller.transport.close();
    } finally {
      for (const c of clients) await c.transport.close();
    }
  }, 120_000);
});

describe('trustedProxies at the door', () => {
  it('refuses a malformed entry with one line naming it', async () => {
    const { run } = await import('../cli/run.js');
    const cfg = join(dir, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ trustedProxies: ['127.0.0.1', '10.0.0.0/99'] }));
    const r = await run(['serve', '--port', '0', '--config', cfg]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/trustedProxies\[1\] should be an IP address or CIDR range/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
