/**
 * Resume across nodes with real `mcp-ws serve` processes sharing a real
 * Redis (REDIS_URL, default 127.0.0.1:6379; `--resume-redis`): a node is
 * killed with SIGKILL and its client resumes on another, with its log level
 * and subscriptions; expired state, another identity, two nodes racing,
 * Redis unreachable and a clean close, each against live processes. Runs
 * the built CLI (npm run build first). Without Redis the tests are skipped
 * loudly, or fail with REQUIRE_REDIS=1.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers.js';
import { deleteKeys, probeRedis, REDIS_REQUIRED, REDIS_URL, uniquePrefix, warnSkipped } from '../ratelimit/redis-helpers.js';
import { resumeKey } from '../../src/server/resume-store.js';
import { serve, type Serving } from './run.js';

const reachable = await probeRedis();
if (!reachable && !REDIS_REQUIRED) warnSkipped();

const MODULE = fileURLToPath(new URL('./resume-module.mjs', import.meta.url));
const PREFIX = uniquePrefix('resume-x');
const INIT = { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'resume-x', version: '1' } };
const NOT_RESUMABLE = -32019;
const ALICE = 'token-of-alice-0123456789';
const MALLORY = 'token-of-mallory-0123456789';

let dir: string;
let redis: Redis;
const children: Serving[] = [];
let n = 0;

/** A node: `mcp-ws serve` of the test module, its state under `prefix`. */
async function node(prefix: string, extra: Record<string, unknown> = {}, redisUrl = REDIS_URL): Promise<Serving> {
  const file = join(dir, `node-${n++}.json`);
  writeFileSync(file, JSON.stringify({ resumeGraceMs: 60_000, logLevel: 'warn', resumeStore: { prefix, timeoutMs: 15_000 }, ...extra }));
  const s = await serve(['--port', '0', '--module', MODULE, '--config', file, '--resume-redis', redisUrl], 30_000);
  children.push(s);
  return s;
}

function kill(s: Serving): Promise<number | null> {
  s.child.kill('SIGKILL');
  return s.exit;
}

async function open(url: string, token?: string): Promise<RawClient> {
  return RawClient.open(url, ['mcp'], token ? { headers: { authorization: `Bearer ${token}` } } : {});
}

async function session(url: string, token?: string): Promise<{ c: RawClient; id: string }> {
  const c = await open(url, token);
  const r = await c.request('initialize', INIT, 'init');
  c.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return { c, id: r.result.mcpSessionId as string };
}

function resumeCall(c: RawClient, id: string, rid: number, method: string, params?: unknown): Promise<any> {
  c.send({ jsonrpc: '2.0', id: rid, method, ...(params === undefined ? {} : { params }), mcpSessionId: id });
  return c.nextResponse(20_000);
}

/** Polls Redis (20 ms apart, at most `ms`; generous, as a loaded machine delays every step) until the state of `id` satisfies `cond` (undefined: the key is gone). */
async function stateWhen(prefix: string, id: string, cond: (state: any) => boolean, ms = 60_000): Promise<any> {
  let last: any;
  for (let waited = 0; waited <= ms; waited += 20) {
    const raw = await redis.get(resumeKey(prefix, id));
    last = raw === null ? undefined : JSON.parse(raw.slice(65));
    if (cond(last)) return last;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the stored state never satisfied the condition within ${ms} ms; last: ${JSON.stringify(last)}`);
}

async function metric(s: Serving, line: RegExp): Promise<string> {
  const text = await (await fetch(s.url.replace(/^ws/, 'http').replace(/\/ws$/, '/metrics'))).text();
  return line.exec(text)?.[0] ?? `(no line matching ${line} in /metrics)`;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

it.runIf(REDIS_REQUIRED)('Redis answers at REDIS_URL (required: REQUIRE_REDIS=1)', () => {
  expect(reachable, `no Redis answers at ${REDIS_URL}`).toBe(true);
});

describe.skipIf(!reachable && !REDIS_REQUIRED)('resume across mcp-ws serve processes (real Redis)', { timeout: 120_000 }, () => {
  beforeAll(() => {
    if (!reachable) throw new Error(`REQUIRE_REDIS=1 but no Redis answers at ${REDIS_URL}`);
    dir = mkdtempSync(join(tmpdir(), 'mcp-ws-resume-x-'));
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    for (const s of children.splice(0)) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    if (reachable) await deleteKeys(PREFIX);
    redis?.disconnect();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('node A is killed (SIGKILL): the client resumes on node B with its log level and subscriptions, and an update raised on B reaches it', async () => {
    const prefix = `${PREFIX}kill:`;
    const [a, b] = await Promise.all([node(prefix), node(prefix)]);
    const s = await session(a.url);
    expect((await s.c.request('logging/setLevel', { level: 'error' }, 'lvl')).result).toEqual({});
    expect((await s.c.request('resources/subscribe', { uri: 'test://r' }, 'sub')).result).toEqual({});
    const aPid = (await s.c.request('tools/call', { name: 'node', arguments: {} }, 'pid')).result.content[0].text;
    await stateWhen(prefix, s.id, (st) => st?.logLevel === 'error' && st.subscriptions.includes('test://r') && st.initialized === true);

    expect(await kill(a)).toBe(null);
    await s.c.closed;

    const c = await open(b.url);
    // The first message back is this reply: nothing of the replay is sent, and a warning is below the level.
    const first = await resumeCall(c, s.id, 1, 'tools/call', { name: 'log', arguments: { level: 'warning', text: 'below' } });
    expect(first).toMatchObject({ id: 1, result: { content: [{ text: 'logged' }] } });
    const bPid = (await c.request('tools/call', { name: 'node', arguments: {} }, 2)).result.content[0].text;
    expect(bPid).not.toBe(aPid);
    c.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'log', arguments: { level: 'error', text: 'at the level' } } });
    expect(await c.next(20_000)).toMatchObject({ method: 'notifications/message', params: { level: 'error', data: 'at the level' } });
    expect((await c.nextResponse(20_000)).id).toBe(3);
    c.send({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'touch', arguments: { uri: 'test://r' } } });
    expect(await c.next(20_000)).toEqual({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'test://r' } });
    expect((await c.nextResponse(20_000)).id).toBe(4);
    expect(await metric(b, /^mcp_ws_resume_remote_total\{outcome="resumed"\} .*$/m)).toBe('mcp_ws_resume_remote_total{outcome="resumed"} 1');
    // B keeps the state now, for the next node.
    await stateWhen(prefix, s.id, (st) => st?.subscriptions?.[0] === 'test://r');
    c.close();
  });

  it('state whose TTL (resumeGraceMs) ran out is refused', async () => {
    const prefix = `${PREFIX}ttl:`;
    const [a, b] = await Promise.all([node(prefix, { resumeGraceMs: 1500 }), node(prefix, { resumeGraceMs: 1500 })]);
    const s = await session(a.url);
    await stateWhen(prefix, s.id, (st) => st?.initialized === true);
    await kill(a);
    await stateWhen(prefix, s.id, (st) => st === undefined);
    const c = await open(b.url);
    expect((await resumeCall(c, s.id, 1, 'ping')).error.code).toBe(NOT_RESUMABLE);
    c.close();
  });

  it('another identity (auth on, two tokens) is refused with -32019; the owner then resumes', async () => {
    const prefix = `${PREFIX}auth:`;
    const auth = { auth: { tokens: [{ token: ALICE, subject: 'alice' }, { token: MALLORY, subject: 'mallory' }] } };
    const [a, b] = await Promise.all([node(prefix, auth), node(prefix, auth)]);
    const s = await session(a.url, ALICE);
    await stateWhen(prefix, s.id, (st) => st?.initialized === true);
    await kill(a);
    const m = await open(b.url, MALLORY);
    const refused = await resumeCall(m, s.id, 1, 'tools/call', { name: 'whoami', arguments: {} });
    expect(refused.error).toEqual({ code: NOT_RESUMABLE, message: expect.any(String) });
    expect(JSON.stringify(refused)).not.toContain('alice');
    m.close();
    const c = await open(b.url, ALICE);
    expect((await resumeCall(c, s.id, 1, 'tools/call', { name: 'whoami', arguments: {} })).result.content[0].text).toBe('alice');
    c.close();
  });

  it('two nodes racing to resume one id: exactly one wins', async () => {
    const prefix = `${PREFIX}race:`;
    const [a, b, d] = await Promise.all([node(prefix), node(prefix), node(prefix)]);
    const s = await session(a.url);
    await stateWhen(prefix, s.id, (st) => st?.initialized === true);
    await kill(a);
    const [x, y] = await Promise.all([open(b.url), open(d.url)]);
    const [rx, ry] = await Promise.all([resumeCall(x, s.id, 1, 'ping'), resumeCall(y, s.id, 1, 'ping')]);
    const outcomes = [rx, ry].map((r) => (r.result !== undefined ? 'resumed' : r.error.code));
    expect(outcomes.filter((o) => o === 'resumed')).toHaveLength(1);
    expect(outcomes.filter((o) => o === NOT_RESUMABLE)).toHaveLength(1);
    x.close();
    y.close();
  });

  it('Redis unreachable: in-process resume works, a cross-node resume is refused at once and counted, nothing crashes', async () => {
    const port = await closedPort();
    const a = await node(`${PREFIX}down:`, { resumeStore: { prefix: `${PREFIX}down:`, timeoutMs: 300 } }, `redis://127.0.0.1:${port}`);
    const s = await session(a.url);
    s.c.ws.terminate();
    const back = await open(a.url);
    expect((await resumeCall(back, s.id, 1, 'tools/call', { name: 'whoami', arguments: {} })).result.content[0].text).toBe('anonymous');
    back.close();
    const c = await open(a.url);
    expect((await resumeCall(c, 'D'.repeat(24), 1, 'ping')).error.code).toBe(NOT_RESUMABLE);
    expect(await metric(a, /^mcp_ws_resume_store_errors_total \d+$/m)).toMatch(/ [1-9]\d*$/);
    expect(await metric(a, /^mcp_ws_resume_remote_total\{outcome="refused"\} \d+$/m)).toBe('mcp_ws_resume_remote_total{outcome="refused"} 1');
    c.close();
    expect(a.child.exitCode).toBe(null);
  });

  it('a clean close (1000) deletes the state', async () => {
    const prefix = `${PREFIX}clean:`;
    const a = await node(prefix);
    const s = await session(a.url);
    await stateWhen(prefix, s.id, (st) => st?.initialized === true);
    s.c.ws.close(1000);
    await stateWhen(prefix, s.id, (st) => st === undefined);
  });
});
