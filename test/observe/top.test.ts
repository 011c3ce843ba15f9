/**
 * `mcp-ws top` as a user runs it: the built CLI against a real server's
 * /debug/snapshot, under a pseudo-terminal (util-linux `script` allocates
 * one, so stdout is a TTY and the view redraws in place) and through a pipe.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { closeAll, RawClient, startServer } from '../helpers.js';
import { BIN, run } from '../cli/run.js';

const TOKEN = 'top-test-token-0123456789abcdef';
const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

afterAll(closeAll);

/** Runs `mcp-ws top …` under a pseudo-terminal; sends `q` once the screen shows `until`. */
function underPty(args: string[], until: (screen: string) => boolean, timeoutMs = 20_000): Promise<{ code: number | null; screen: string }> {
  return new Promise((resolve, reject) => {
    const cmd = [process.execPath, BIN, 'top', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, COLUMNS: '120', LINES: '40' } });
    let screen = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      screen += d.toString();
      if (!sent && until(screen)) {
        sent = true;
        child.stdin.write('q');
      }
    });
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`top did not finish in ${timeoutMs} ms; screen so far:\n${screen}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, screen });
    });
  });
}

describe('mcp-ws top', () => {
  it.skipIf(!hasScript && process.env.CI === undefined)('redraws under a pseudo-terminal with live numbers, and q quits cleanly', async () => {
    expect(hasScript, 'util-linux script is needed for the pseudo-terminal').toBe(true);
    const { url, server } = await startServer({ debugSnapshot: true, auth: { tokens: [TOKEN] } });
    const c = await RawClient.open(url, ['mcp'], { headers: { Authorization: `Bearer ${TOKEN}` } });
    await c.request('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } });
    for (let i = 0; i < 30; i++) await c.request('tools/list');
    // Keep requests flowing while top watches, so its second frame differs from its first.
    let going = true;
    const traffic = (async () => {
      while (going) await c.request('ping');
    })();
    // The server shares one snapshot a second, so top's frames change at most that often: wait for two request counts.
    const counts = (screen: string): number[] => [...screen.matchAll(/requests (\d[\d,]*)/g)].map((m) => Number(m[1]!.replace(/,/g, '')));
    const r = await underPty([url, '-H', `Authorization: Bearer ${TOKEN}`, '--interval-ms', '300'], (screen) => new Set(counts(screen)).size >= 2);
    going = false;
    await traffic;
    expect(r.code).toBe(0);
    // Alternate screen on, clear-and-home per frame, cursor back and screen restored at exit.
    expect(r.screen).toContain('\x1b[?1049h');
    expect(r.screen.split('\x1b[H\x1b[2J').length).toBeGreaterThanOrEqual(3);
    expect(r.screen).toContain('\x1b[?1049l');
    expect(r.screen).toMatch(/sessions\s+ws 1/);
    expect(r.screen).toMatch(/tools\/list\s+30\b/);
    const requests = counts(r.screen);
    expect(Math.max(...requests)).toBeGreaterThan(Math.min(...requests));
    expect(server.metrics.snapshot().methods.find((m) => m.method === 'ping')!.count).toBeGreaterThan(0);
  }, 40_000);

  it('through a pipe: --once prints one plain frame (no escape codes) and exits 0', async () => {
    const { url } = await startServer({ debugSnapshot: true });
    const r = await run(['top', url, '--once']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^mcp-ws top — http:\/\/127\.0\.0\.1:\d+\/debug\/snapshot/);
    expect(r.stdout).toContain('latency');
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('says what to do when the route is off, the credential missing, or nothing listens', async () => {
    const off = await startServer();
    let r = await run(['top', off.url, '--once']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/404 — start the server with --dashboard/);
    const authed = await startServer({ debugSnapshot: true, auth: { tokens: [TOKEN] } });
    r = await run(['top', authed.url, '--once']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/401 — the server wants a credential/);
    // A port nothing listens on: bound, then closed again.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    r = await run(['top', `http://127.0.0.1:${port}`, '--once']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`mcp-ws: cannot reach http://127.0.0.1:${port}/debug/snapshot: ECONNREFUSED\n`);
    r = await run(['top', 'ftp://x', '--once']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/expected a ws:\/\/, wss:\/\/, http:\/\/ or https:\/\/ URL/);
  });
});
