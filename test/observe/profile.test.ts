/**
 * GET /debug/profile and /debug/heapsnapshot against a real server, and
 * `mcp-ws serve --cpu-prof-signal` against the built CLI. The hostile side:
 * off by default (404), no credential when auth is on (401), a second
 * profile while one runs (409, never queued), seconds out of range (400),
 * a client that goes away mid-profile (the profiler stops and the lock is
 * free again at once), HEAD (405: it would profile for nobody), the
 * signals Node or the cluster own refused with one line.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { request, type IncomingHttpHeaders } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeAll, startServer } from '../helpers.js';
import { cpuProfileRunning, heapSnapshotRunning, parseProfileSeconds, startHeapSnapshot } from '../../src/observe/profiler.js';
import { run, serve } from '../cli/run.js';

const TOKEN = 'profile-test-token-0123456789abcdef';

afterEach(closeAll);

function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string } }>;
  samples: number[];
  startTime: number;
  endTime: number;
}

describe('GET /debug/profile', () => {
  it('is not served by default (404), nor by the dashboard alone', async () => {
    const { base } = await startServer({ dashboard: true });
    expect((await get(`${base}/debug/profile?seconds=1`)).status).toBe(404);
    expect((await get(`${base}/debug/heapsnapshot`)).status).toBe(404);
    expect(cpuProfileRunning()).toBe(false);
  });

  it('debugProfile: true returns a .cpuprofile that parses as JSON with nodes and samples', async () => {
    const { base } = await startServer({ debugProfile: true });
    const r = await get(`${base}/debug/profile?seconds=0.5`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['content-disposition']).toMatch(/^attachment; filename="mcp-ws-\d+-.+\.cpuprofile"$/);
    expect(r.headers['x-profiled-pid']).toBe(String(process.pid));
    const p = JSON.parse(r.body) as CpuProfile;
    expect(Array.isArray(p.nodes)).toBe(true);
    expect(p.nodes.length).toBeGreaterThan(0);
    expect(p.nodes[0]!.callFrame.functionName).toBe('(root)');
    expect(Array.isArray(p.samples)).toBe(true);
    expect(p.endTime).toBeGreaterThan(p.startTime);
    expect(cpuProfileRunning()).toBe(false);
  });

  it('seconds out of range or not a number → 400 with the reason; nothing starts', async () => {
    const { base } = await startServer({ debugProfile: true });
    for (const q of ['seconds=0', 'seconds=61', 'seconds=-1', 'seconds=abc', 'seconds=1e3', 'seconds=NaN', 'seconds=10000']) {
      const r = await get(`${base}/debug/profile?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body, q).toMatch(/^seconds should be a number from 0\.001 to 60/);
      expect(cpuProfileRunning(), q).toBe(false);
    }
    expect(parseProfileSeconds(null)).toBe(10);
    expect(parseProfileSeconds('60')).toBe(60);
  });

  it('a second profile while one runs is refused with 409 and a clear message', async () => {
    const { base } = await startServer({ debugProfile: true });
    const first = get(`${base}/debug/profile?seconds=3`);
    await until(() => cpuProfileRunning(), 10_000, 'the first profile to start');
    const second = await get(`${base}/debug/profile?seconds=1`);
    expect(second.status).toBe(409);
    expect(second.body).toMatch(/already being taken/);
    expect(second.headers['retry-after']).toBeDefined();
    expect((await first).status).toBe(200);
    expect(cpuProfileRunning()).toBe(false);
  });

  it('a client that goes away mid-profile stops the profiler; the next profile starts at once', async () => {
    const { base } = await startServer({ debugProfile: true });
    const req = request(`${base}/debug/profile?seconds=60`);
    req.on('error', () => {});
    req.end();
    await until(() => cpuProfileRunning(), 10_000, 'the profile to start');
    req.destroy();
    // Well before its 60 s: the disconnect ended it.
    await until(() => !cpuProfileRunning(), 15_000, 'the profiler to stop after the disconnect');
    const next = await get(`${base}/debug/profile?seconds=0.2`);
    expect(next.status).toBe(200);
    expect((JSON.parse(next.body) as CpuProfile).samples).toBeDefined();
  });

  it('HEAD and POST are refused (405): neither would read a profile', async () => {
    const { base } = await startServer({ debugProfile: true });
    expect((await get(`${base}/debug/profile?seconds=1`, {}, 'HEAD')).status).toBe(405);
    expect((await get(`${base}/debug/heapsnapshot`, {}, 'HEAD')).status).toBe(405);
    expect((await get(`${base}/debug/profile`, {}, 'POST')).status).toBe(405);
    expect(cpuProfileRunning()).toBe(false);
    expect(heapSnapshotRunning()).toBe(false);
  });

  it('with auth on: no credential or a wrong one → 401 and nothing runs; the right one → 200', async () => {
    const { base } = await startServer({ debugProfile: true, auth: { tokens: [TOKEN] } });
    for (const path of ['/debug/profile?seconds=1', '/debug/heapsnapshot']) {
      const none = await get(`${base}${path}`);
      expect(none.status, path).toBe(401);
      expect(none.headers['www-authenticate'], path).toMatch(/^Bearer/);
      expect((await get(`${base}${path}`, { Authorization: 'Bearer wrong-token-wrong-token-wrong' })).status, path).toBe(401);
      expect((await get(`${base}${path}&access_token=${TOKEN}`.replace('heapsnapshot&', 'heapsnapshot?'))).status, path).toBe(401);
      expect(cpuProfileRunning()).toBe(false);
      expect(heapSnapshotRunning()).toBe(false);
    }
    const ok = await get(`${base}/debug/profile?seconds=0.2`, { Authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toHaveProperty('nodes');
  });

  it('refuses a foreign browser Origin (403) before anything runs', async () => {
    const { base } = await startServer({ debugProfile: true });
    expect((await get(`${base}/debug/profile?seconds=1`, { Origin: 'https://evil.example' })).status).toBe(403);
    expect(cpuProfileRunning()).toBe(false);
  });
});

describe('GET /debug/heapsnapshot', () => {
  it('streams a heap snapshot that parses', async () => {
    const { base } = await startServer({ debugProfile: true });
    const ok = await get(`${base}/debug/heapsnapshot`);
    expect(ok.status).toBe(200);
    // Streamed as V8 serialises it: chunked, no Content-Length computed from a whole body.
    expect(ok.headers['transfer-encoding']).toBe('chunked');
    expect(ok.headers['content-length']).toBeUndefined();
    expect(ok.headers['content-disposition']).toMatch(/\.heapsnapshot"$/);
    const snap = JSON.parse(ok.body) as { snapshot: { meta: unknown; node_count: number }; nodes: number[] };
    expect(snap.snapshot.meta).toBeDefined();
    expect(snap.nodes.length).toBeGreaterThan(0);
    expect(heapSnapshotRunning()).toBe(false);
  }, 120_000);

  it('one at a time: while a snapshot is being written, another request gets 409', async () => {
    const { base } = await startServer({ debugProfile: true });
    // Hold the process's snapshot lock as a first request would while its stream is read.
    const held = startHeapSnapshot();
    try {
      expect(heapSnapshotRunning()).toBe(true);
      const refused = await get(`${base}/debug/heapsnapshot`);
      expect(refused.status).toBe(409);
      expect(refused.body).toMatch(/already being written/);
      expect(refused.headers['retry-after']).toBeDefined();
    } finally {
      held.destroy();
    }
    await until(() => !heapSnapshotRunning(), 30_000, 'the lock to be released');
  }, 120_000);

  it('a client that goes away mid-stream frees the lock', async () => {
    const { base } = await startServer({ debugProfile: true });
    await new Promise<void>((resolve, reject) => {
      const req = request(`${base}/debug/heapsnapshot`, (res) => {
        expect(res.statusCode).toBe(200);
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.once('error', reject);
      req.end();
    });
    await until(() => !heapSnapshotRunning(), 60_000, 'the heap snapshot lock to be released');
    expect((await get(`${base}/debug/heapsnapshot`)).status).toBe(200);
  }, 120_000);
});

describe('mcp-ws serve --cpu-prof-signal', () => {
  it('SIGURG writes a .cpuprofile into --cpu-prof-dir; --debug-profile serves the route', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-prof-'));
    try {
      const s = await serve(['--port', '0', '--log-level', 'info', '--cpu-prof-signal', 'SIGURG', '--cpu-prof-dir', dir, '--cpu-prof-seconds', '1', '--debug-profile']);
      try {
        s.child.kill('SIGURG');
        await until(() => readdirSync(dir).some((f) => f.endsWith('.cpuprofile')), 30_000, 'the profile file');
        const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!;
        expect(file).toMatch(new RegExp(`^mcp-ws-${s.child.pid}-`));
        const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
        expect(p.nodes.length).toBeGreaterThan(0);
        expect(Array.isArray(p.samples)).toBe(true);
        const base = s.url.replace(/^ws/, 'http').replace(/\/[^/]*$/, '');
        const r = await get(`${base}/debug/profile?seconds=0.2`);
        expect(r.status).toBe(200);
        expect(r.headers['x-profiled-pid']).toBe(String(s.child.pid));
      } finally {
        s.child.kill('SIGTERM');
        expect(await s.exit).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses SIGUSR1, SIGUSR2, SIGTERM and a missing directory with one line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--cpu-prof-signal', 'SIGUSR1'], /SIGUSR1: Node\.js starts its inspector/],
      [['--cpu-prof-signal', 'USR2'], /SIGUSR2: it is the cluster's rolling restart/],
      [['--cpu-prof-signal', 'SIGTERM'], /should be one of SIGURG, SIGWINCH/],
      [['--cpu-prof-signal', 'SIGURG', '--cpu-prof-dir', '/nonexistent/mcp-ws-prof'], /is not a writable directory/],
      [['--cpu-prof-dir', '.'], /need --cpu-prof-signal/],
    ];
    for (const [args, msg] of cases) {
      const r = await run(['serve', '--port', '0', ...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  }, 90_000);
});
