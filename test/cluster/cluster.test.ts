/**
 * `mcp-ws serve --workers N`: real processes (the built CLI), real sockets.
 * Hostile first: a worker killed, a worker crash loop, a port already taken,
 * a primary killed, a primary stopped (SIGSTOP) under a /metrics flood,
 * per-IP limits split across workers, bad flags; then the
 * happy paths: merged /metrics, /readyz of the cluster, SIGTERM drain, and a
 * SIGUSR2 rolling restart that never stops serving.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { run, serve, type Serving } from '../cli/run.js';
import { freePort, httpBase, metric, openWs, untilOk, scrape } from '../helpers.js';

// Each test starts a cluster of real processes: seconds on a loaded machine.
vi.setConfig({ testTimeout: 90_000 });

const CRASH_MODULE = fileURLToPath(new URL('./crash-module.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-cluster-'));
const running: Serving[] = [];

afterEach(async () => {
  for (const s of running.splice(0)) {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill('SIGKILL');
      await s.exit;
    }
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(args: string[], env: Record<string, string> = {}): Promise<Serving> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const s = await serve(['--port', '0', '--log-level', 'info', ...args], 60_000);
    running.push(s);
    return s;
  } finally {
    process.env = saved;
  }
}

/** Worker pids: the primary's children. */
function workerPids(primary: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(primary)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function readyz(base: string): Promise<{ status: number; body: { status: string; workers?: { up: number; total: number } } }> {
  const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5_000) });
  return { status: r.status, body: (await r.json()) as { status: string; workers?: { up: number; total: number } } };
}

/**
 * Opens a WebSocket; resolves with it open, or with the refusal's status. A connection handed
 * to a worker at the instant it dies is lost by node:cluster: clients time out (10 s) and retry.
 */
function open(url: string, handshakeTimeout = 10_000): Promise<WebSocket | number> {
  return openWs(url, { handshakeTimeout });
}

/** One tools/call over a fresh socket; the sum as answered. */
async function callAdd(url: string, a: number, b: number): Promise<number> {
  const ws = await open(url);
  if (typeof ws === 'number') throw new Error(`refused: ${ws}`);
  const reply = new Promise<number>((resolve, reject) => {
    ws.on('message', (d) => {
      const m = JSON.parse((d as Buffer).toString()) as { id?: number; result?: { structuredContent?: { sum: number } } };
      if (m.id === 2) resolve(m.result!.structuredContent!.sum);
    });
    ws.once('close', (code) => reject(new Error(`closed ${code} before the reply`)));
  });
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }));
  ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'add', arguments: { a, b } } }));
  const sum = await reply;
  ws.close();
  return sum;
}

describe('serve --workers: bad input and faults', () => {
  it('refuses a bad --workers value with one line, before forking anything', async () => {
    for (const bad of ['0', '-1', 'many', '2.5', '999']) {
      const r = await run(['serve', '--port', '0', '--workers', bad]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/--workers should be a whole number from 1 to 256 or "auto"/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('a port already taken stops the whole cluster with exit 1 instead of a restart loop', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await run(['serve', '--workers', '2', '--port', String(port), '--log-level', 'info'], 60_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/EADDRINUSE|address already in use/i);
      expect(r.stdout).not.toMatch(/serving/);
    } finally {
      blocker.close();
    }
  });

  it('a killed worker is replaced and counted; the cluster keeps serving meanwhile', async () => {
    const s = await start(['--workers', '2']);
    const base = httpBase(s.url);
    const before = workerPids(s.child.pid!);
    expect(before).toHaveLength(2);
    process.kill(before[0]!, 'SIGKILL');
    // The survivor answers scrapes and calls while the replacement starts.
    expect(await untilOk(async () => (await metric(base, 'mcp_ws_cluster_worker_restarts_total')) === 1)).toBe(true);
    expect(await callAdd(s.url, 2, 3)).toBe(5);
    expect(await untilOk(async () => (await metric(base, 'mcp_ws_cluster_workers')) === 2, 60_000)).toBe(true);
    const after = workerPids(s.child.pid!);
    expect(after).toHaveLength(2);
    expect(after).not.toContain(before[0]);
    expect(s.stderr()).toMatch(/worker exited unexpectedly; replacing it/);
  });

  it('a crash loop is paced by backoff, not a fork bomb, and heals when the cause goes', async () => {
    const crashFile = join(dir, 'crash-now');
    // A fixed port: node:cluster closes the shared listener when its last worker dies, and binds it
    // again for the next one (port 0 would then pick a new port).
    const s = await start(['--workers', '2', '--module', CRASH_MODULE, '--port', String(await freePort())], { MCP_WS_TEST_CRASH_FILE: crashFile });
    const base = httpBase(s.url);
    writeFileSync(crashFile, 'x');
    // Both workers die and every replacement dies at start: watch for 3 s.
    const t0 = Date.now();
    expect(await untilOk(() => /worker exited unexpectedly/.test(s.stderr()))).toBe(true);
    while (Date.now() - t0 < 3_000) await new Promise((r) => setTimeout(r, 100));
    const restarts = (s.stderr().match(/worker exited unexpectedly/g) ?? []).length;
    expect(restarts).toBeGreaterThanOrEqual(1);
    // Windows of 100 ms doubling to 30 s, per crash: a fork bomb would be hundreds in 3 s.
    expect(restarts).toBeLessThanOrEqual(16);
    expect(s.child.exitCode).toBeNull(); // the primary stays
    rmSync(crashFile);
    // The next replacement, after its backoff window, stays up.
    expect(await untilOk(async () => (await readyz(base)).body.workers?.up === 2, 75_000), s.stderr()).toBe(true);
    expect(await callAdd(s.url, 1, 1)).toBe(2);
  }, 90_000);

  it('workers leave when their primary is killed: no orphan keeps sessions', async () => {
    const s = await start(['--workers', '2']);
    const pids = workerPids(s.child.pid!);
    expect(pids).toHaveLength(2);
    s.child.kill('SIGKILL');
    await s.exit;
    expect(await untilOk(() => pids.every((p) => !alive(p)))).toBe(true);
  });

  it('a primary that stops answering (SIGSTOP): workers fall back after 5 s, a /metrics flood is capped, counts stay exact', async () => {
    // Workers accept on the shared socket themselves (not handed over by the primary), so a
    // stopped primary leaves them reachable: what a primary stuck in a long GC or swapped out is.
    const s = await start(['--workers', '2', '--max-connections-per-ip', '3'], { NODE_CLUSTER_SCHED_POLICY: 'none' });
    const base = httpBase(s.url);
    expect(await metric(base, 'mcp_ws_cluster_workers')).toBe(2);
    s.child.kill('SIGSTOP');
    let flood: Array<{ status: number; retryAfter: string | null; text: string }>;
    let admitted: WebSocket | number;
    try {
      // 100 scrapes at once while nothing answers: each worker shares one wait among at most 32
      // of them and refuses the rest at once; the waiters get the worker's own text after 5 s.
      flood = await Promise.all(
        Array.from({ length: 100 }, async () => {
          const r = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(45_000) });
          return { status: r.status, retryAfter: r.headers.get('retry-after'), text: await r.text() };
        }),
      );
      // A WebSocket is admitted on the worker's own per-IP count once the primary misses its 5 s.
      admitted = await open(s.url, 45_000);
      if (admitted instanceof WebSocket) {
        const closed = new Promise((r) => (admitted as WebSocket).once('close', r));
        admitted.close();
        await closed;
      }
    } finally {
      s.child.kill('SIGCONT');
    }
    expect(admitted).toBeInstanceOf(WebSocket);
    const ok = flood.filter((r) => r.status === 200);
    const busy = flood.filter((r) => r.status === 503);
    expect(ok.length + busy.length).toBe(100);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(ok.length).toBeLessThanOrEqual(2 * 32);
    for (const r of busy) expect(r.retryAfter).toBe('1');
    for (const r of ok) {
      expect(r.text).toMatch(/^mcp_ws_connections_opened_total \d+$/m); // the worker's own metrics
      expect(r.text).not.toMatch(/^mcp_ws_cluster_workers /m); // not the cluster's: the primary did not answer
    }
    expect(s.stderr()).toMatch(/the cluster primary did not answer in time/);
    // The primary answers again, and the late answers leave the per-IP count exact: the
    // connection admitted during the stall was counted and its release given back, so
    // exactly 3 are admitted again and the 4th is refused.
    expect(await untilOk(async () => (await metric(base, 'mcp_ws_cluster_workers')) === 2)).toBe(true);
    expect(await metric(base, 'mcp_ws_cluster_scrape_missing')).toBe(0);
    const opened: WebSocket[] = [];
    expect(await untilOk(async () => {
      while (opened.length < 3) {
        const ws = await open(s.url);
        if (typeof ws === 'number') return false;
        opened.push(ws);
      }
      return true;
    })).toBe(true);
    expect(await open(s.url)).toBe(503);
    for (const ws of opened) ws.terminate();
  }, 120_000);

  it('maxConnectionsPerIp counts connections on every worker, and a closed one frees its slot', async () => {
    const s = await start(['--workers', '2', '--max-connections-per-ip', '3']);
    const opened: WebSocket[] = [];
    for (let i = 0; i < 3; i++) {
      const ws = await open(s.url);
      expect(ws).toBeInstanceOf(WebSocket);
      opened.push(ws as WebSocket);
    }
    // Connections land on both workers (round-robin); each alone would allow 3 more.
    for (let i = 0; i < 4; i++) expect(await open(s.url)).toBe(503);
    const closed = new Promise((r) => opened[0]!.once('close', r));
    opened[0]!.close();
    await closed;
    expect(await untilOk(async () => {
      const ws = await open(s.url);
      if (typeof ws === 'number') return false;
      opened.push(ws);
      return true;
    })).toBe(true);
    for (const ws of opened) ws.terminate();
  });
});

describe('serve --workers: one server on the port', () => {
  it('prints one ready line for the cluster; /readyz and /metrics speak for every worker', async () => {
    const s = await start(['--workers', '2']);
    expect(s.readyLine).toMatch(/^mcp-ws serving demo on ws:\/\/127\.0\.0\.1:\d+\/ws \(2 workers\)$/);
    const base = httpBase(s.url);
    const r = await readyz(base);
    expect(r.status).toBe(200);
    expect(r.body.workers).toEqual({ up: 2, total: 2 });
    for (let i = 0; i < 6; i++) expect(await callAdd(s.url, i, 1)).toBe(i + 1);
    const text = await scrape(base);
    // Counters summed over workers: six sessions, whichever worker took each.
    expect(text).toMatch(/^mcp_ws_connections_opened_total 6$/m);
    expect(text).toMatch(/^mcp_ws_request_duration_seconds_count 12$/m); // initialize + tools/call per session
    // Process metrics stay per worker, labelled.
    expect(text).toMatch(/^process_resident_memory_bytes\{worker="\d+"\} \d+/m);
    expect(text.match(/^process_resident_memory_bytes\{/gm)).toHaveLength(2);
    expect(text).toMatch(/^mcp_ws_cluster_workers 2$/m);
    expect(text).toMatch(/^mcp_ws_cluster_scrape_missing 0$/m);
    // Every family once.
    const types = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
    expect(new Set(types).size).toBe(types.length);
  });

  it('SIGTERM drains every worker: sessions close 1001, readiness goes, exit 0', async () => {
    const s = await start(['--workers', '2']);
    const sockets = await Promise.all([open(s.url), open(s.url), open(s.url)]);
    const codes = sockets.map((ws) => new Promise<number>((r) => (ws as WebSocket).once('close', (code) => r(code))));
    const pids = workerPids(s.child.pid!);
    s.child.kill('SIGTERM');
    expect(await Promise.all(codes)).toEqual([1001, 1001, 1001]);
    expect(await s.exit, s.stderr()).toBe(0);
    expect(pids.every((p) => !alive(p))).toBe(true);
  });

  it('SIGUSR2 replaces every worker one at a time; the port answers throughout', async () => {
    const s = await start(['--workers', '2']);
    const base = httpBase(s.url);
    const before = workerPids(s.child.pid!);
    const held = (await open(s.url)) as WebSocket;
    const heldClosed = new Promise<number>((r) => held.once('close', (code) => r(code)));
    s.child.kill('SIGUSR2');
    // Calls keep succeeding while workers are swapped.
    let served = 0;
    const done = untilOk(() => /rolling restart done/.test(s.stderr()), 60_000);
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      // A connection the primary hands to a worker at the instant it starts draining is refused
      // cleanly (503 + Retry-After) or, when the hand-over races the worker's listener closing,
      // lost by node:cluster until the client's handshake timeout or reset; a session opened just
      // before is closed 1001. In each case a client retries, as this loop does.
      const sum = await callAdd(s.url, 20, 22).catch(() => undefined);
      if (sum === undefined) continue;
      expect(sum).toBe(42);
      served++;
    }
    expect(await done).toBe(true);
    expect(served).toBeGreaterThan(0);
    expect(await heldClosed).toBe(1001);
    const after = workerPids(s.child.pid!);
    expect(after).toHaveLength(2);
    for (const p of before) expect(after).not.toContain(p);
    expect((await readyz(base)).body.workers).toEqual({ up: 2, total: 2 });
    expect(await metric(base, 'mcp_ws_cluster_worker_restarts_total')).toBe(0); // planned, not crashes
  }, 90_000);
});
