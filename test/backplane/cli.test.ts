/**
 * `mcp-ws serve --redis URL` as real processes (the built CLI): a client
 * subscribed to demo://counter on one node hears an `increment` called on
 * another, across three single-process nodes and across a `--workers 2`
 * cluster and a single node. Redis is the shared one (REDIS_URL) under a
 * key prefix of this run, given in a config file beside the flag.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { deleteKeys, probeRedis, REDIS_REQUIRED, REDIS_URL, uniquePrefix, warnSkipped } from '../ratelimit/redis-helpers.js';
import { run, serve, type Serving } from '../cli/run.js';
import { freePort, Peer, waitFor } from './helpers.js';

const available = await probeRedis();
if (!available && !REDIS_REQUIRED) warnSkipped();
const enabled = available || REDIS_REQUIRED;

const UPDATED = 'notifications/resources/updated';
const COUNTER = 'demo://counter';
const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-backplane-'));
const prefix = uniquePrefix('backplane-cli');
const config = join(dir, 'redis.json');
writeFileSync(config, JSON.stringify({ redis: { keyPrefix: prefix } }));

const running: Serving[] = [];
const peers: Peer[] = [];

async function node(extra: string[] = []): Promise<Serving> {
  const s = await serve(['--port', '0', '--redis', REDIS_URL, '--config', config, ...extra], 60_000);
  running.push(s);
  return s;
}

async function subscriber(url: string): Promise<Peer> {
  const p = await Peer.open(url);
  peers.push(p);
  expect((await p.request('resources/subscribe', { uri: COUNTER })).result).toEqual({});
  return p;
}

/** Waits until the node's /metrics says the backplane is up (every worker's, for a cluster). */
async function backplaneUp(s: Serving): Promise<boolean> {
  const base = s.url.replace(/^ws/, 'http').replace(/\/ws$/, '');
  return waitFor(() => {
    void fetch(`${base}/metrics`)
      .then((r) => r.text())
      .then((t) => {
        const ups = [...t.matchAll(/^mcp_ws_backplane_up(\{[^}]*\})? (\d)/gm)].map((m) => m[2]);
        (s as Serving & { up?: boolean }).up = ups.length > 0 && ups.every((v) => v === '1');
      })
      .catch(() => {});
    return (s as Serving & { up?: boolean }).up === true;
  }, 30_000);
}

afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  await Promise.all(
    running.splice(0).map((s) => {
      s.child.kill('SIGTERM');
      return s.exit;
    }),
  );
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (available) await deleteKeys(prefix);
});

describe.skipIf(!enabled)('mcp-ws serve --redis: three processes', () => {
  it('an increment on node B reaches subscribers on nodes A and C, and every node reads the same count', async () => {
    const [a, b, c] = await Promise.all([node(), node(), node()]);
    for (const s of [a, b, c]) expect(await backplaneUp(s)).toBe(true);
    const onA = await subscriber(a.url);
    const onC = await subscriber(c.url);
    const caller = await Peer.open(b.url);
    peers.push(caller);
    const r = await caller.request('tools/call', { name: 'increment', arguments: { by: 3 } });
    expect(r.result.structuredContent).toEqual({ value: 3 });
    for (const p of [onA, onC]) expect(await p.waitNotes(UPDATED, 1)).toBe(true);
    expect(onA.notes(UPDATED)[0].params).toEqual({ uri: COUNTER });
    const read = await onC.request('resources/read', { uri: COUNTER });
    expect(read.result.contents[0].text).toBe('3');
    const bad = await caller.request('tools/call', { name: 'increment', arguments: { by: 1.5 } });
    expect(bad.result.isError).toBe(true);
    const huge = await caller.request('tools/call', { name: 'increment', arguments: { by: 10_000_000 } });
    expect(huge.result.isError).toBe(true);
  }, 120_000);
});

describe.skipIf(!enabled)('mcp-ws serve --redis: a --workers 2 cluster and a single node', () => {
  it('notifications cross between the workers and the other node, both ways', async () => {
    const [cluster, single] = await Promise.all([node(['--workers', '2']), node()]);
    for (const s of [cluster, single]) expect(await backplaneUp(s)).toBe(true);
    // Connections to the cluster are handed to its workers in turn: four subscribers cover both.
    const onCluster = await Promise.all([1, 2, 3, 4].map(() => subscriber(cluster.url)));
    const onSingle = await subscriber(single.url);
    const fromSingle = await Peer.open(single.url);
    peers.push(fromSingle);
    await fromSingle.request('tools/call', { name: 'increment', arguments: {} });
    for (const p of onCluster) expect(await p.waitNotes(UPDATED, 1)).toBe(true);
    expect(await onSingle.waitNotes(UPDATED, 1)).toBe(true);
    await onCluster[0]!.request('tools/call', { name: 'increment', arguments: {} });
    expect(await onSingle.waitNotes(UPDATED, 2)).toBe(true);
    for (const p of onCluster) expect(await p.waitNotes(UPDATED, 2)).toBe(true);
    const metrics = await (await fetch(`${cluster.url.replace(/^ws/, 'http').replace(/\/ws$/, '')}/metrics`)).text();
    expect(metrics).toMatch(/mcp_ws_backplane_up\{worker="\d+"\} 1/);
    expect(metrics).toMatch(/mcp_ws_backplane_published_total \d+/);
  }, 120_000);
});

describe('mcp-ws serve --redis: bad or unreachable Redis', () => {
  it('refuses a URL that is not redis:// with one line and exit code 1', async () => {
    const r = await run(['serve', '--port', '0', '--redis', 'http://127.0.0.1:6379'], 30_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/redis\.url should be a redis:\/\/ or rediss:\/\/ URL/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);

  it('starts without Redis, says so once, and the increment tool answers with a tool error', async () => {
    const port = await freePort();
    const s = await serve(['--port', '0', '--redis', `redis://127.0.0.1:${port}`], 60_000);
    running.push(s);
    const p = await Peer.open(s.url);
    peers.push(p);
    const r = await p.request('tools/call', { name: 'increment', arguments: {} });
    expect(r.result.isError).toBe(true);
    expect(r.result.content[0].text).toMatch(/counter is unavailable/);
    expect(await waitFor(() => /backplane down/.test(s.stderr()), 20_000)).toBe(true);
    expect(s.stderr().match(/backplane down/g)).toHaveLength(1);
    expect((await p.request('tools/call', { name: 'echo', arguments: { text: 'ok' } })).result.content[0].text).toBe('ok');
  }, 120_000);
});

describe.skipIf(!enabled)('mcp-ws serve --redis: a reconnect storm against three nodes sharing the handshake rate', () => {
  it('upgrades from one client across three nodes are held to the one configured rate, not three times it', async () => {
    const rlPrefix = `${prefix}rl:`;
    const cfg = join(dir, 'storm.json');
    // rateLimit.redis has no url: it takes the --redis server.
    writeFileSync(cfg, JSON.stringify({ redis: { keyPrefix: prefix }, rateLimit: { handshake: { maxRequestsPerSecond: 1, maxBurst: 4 }, redis: { prefix: rlPrefix, timeoutMs: 5000 } } }));
    const nodes = await Promise.all([0, 1, 2].map(async () => {
      const s = await serve(['--port', '0', '--redis', REDIS_URL, '--config', cfg], 60_000);
      running.push(s);
      return s;
    }));
    for (const s of nodes) expect(await backplaneUp(s)).toBe(true);
    const started = Date.now();
    // 30 upgrades at once, ten at each node, as after a node's clients all reconnect together.
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        Peer.open(nodes[i % 3]!.url, undefined).then(
          (p) => {
            peers.push(p);
            return 'open' as const;
          },
          (err: Error) => err.message,
        ),
      ),
    );
    const elapsedS = (Date.now() - started) / 1000;
    const opened = results.filter((r) => r === 'open').length;
    console.log(`handshake storm: ${opened} of 30 upgrades admitted across three nodes in ${elapsedS.toFixed(2)} s (burst 4, 1/s shared)`);
    // One budget for the three nodes: the burst, plus what refilled meanwhile (per-node budgets would admit 12 at once).
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(opened).toBeLessThanOrEqual(4 + Math.ceil(elapsedS * 1) + 1);
    expect(results.filter((r) => r !== 'open').every((r) => /503/.test(r))).toBe(true);
  }, 120_000);
});
