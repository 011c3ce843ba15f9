/**
 * `mcp-ws gateway` as a user runs it (bin/mcp-ws.js → dist/, built by
 * `npm test` / `npm run build`): ready line, a client served by a stdio
 * child, SIGTERM stops the gateway and its children; bad input is one line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, run } from '../cli/run.js';
import { FIXTURE, closeAll, connect, text } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-gw-cli-'));
afterAll(async () => {
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts `mcp-ws gateway ...args`, resolves with the URL from its ready line. */
function startCli(args: string[]): Promise<{ url: string; line: string; stop(): Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'gateway', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway not ready in 15 s; stderr: ${err}`));
    }, 15_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^mcp-ws gateway on (ws:\/\/\S+).*$/m.exec(out);
      if (!m) return;
      clearTimeout(t);
      resolve({
        url: m[1]!,
        line: m[0],
        stop: async () => {
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          const code = await exit;
          clearTimeout(killer);
          return code;
        },
      });
    });
    void exit.then((code) => {
      clearTimeout(t);
      reject(new Error(`gateway exited with ${code} before ready; stderr: ${err}`));
    });
  });
}

describe('mcp-ws gateway', () => {
  it('serves a client from a stdio upstream, and SIGTERM stops it and its children', async () => {
    const gw = await startCli(['--upstream', `"${process.execPath}" "${FIXTURE}"`, '--port', '0', '--min-connections', '2', '--log-level', 'silent']);
    expect(gw.line).toContain('upstreams: stdio:');
    const c = await connect(gw.url);
    const pid = Number(text(await c.request('tools/call', { name: 'pid' })));
    expect(alive(pid)).toBe(true);
    expect(await gw.stop()).toBe(0);
    expect(alive(pid)).toBe(false);
  });

  it('takes upstreams and pool settings from a config file', async () => {
    const file = join(dir, 'gateway.json');
    writeFileSync(file, JSON.stringify({ port: 0, gateway: { upstreams: [{ command: process.execPath, args: [FIXTURE], name: 'fx' }], preset: 'high-throughput', pool: { minConnections: 1 } } }));
    const gw = await startCli(['--config', file, '--log-level', 'silent']);
    expect(gw.line).toContain('upstreams: fx');
    const c = await connect(gw.url);
    expect(text(await c.request('tools/call', { name: 'echo', arguments: { text: 'via config' } }))).toBe('via config');
    expect(await gw.stop()).toBe(0);
  });

  it('explains a missing upstream or a bad setting in one line', async () => {
    const none = await run(['gateway', '--port', '0']);
    expect(none.code).toBe(1);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    expect(none.stderr).toContain('no upstreams');
    const bad = await run(['gateway', '--upstream', 'node x.js', '--strategy', 'fastest']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--strategy should be one of RoundRobin, LeastConnections, Random, WeightedRoundRobin, PowerOfTwoChoices, got "fastest"');
  });

  it('reads auth the way serve does: a token file from the config guards the door', async () => {
    const token = 'gateway-token-abcdefghijklmnop';
    const tokens = join(dir, 'tokens.txt');
    writeFileSync(tokens, `# one per line\n${token}\n`);
    const file = join(dir, 'gateway-auth.json');
    writeFileSync(file, JSON.stringify({ port: 0, auth: { tokensFile: tokens }, gateway: { upstreams: [`"${process.execPath}" "${FIXTURE}"`] } }));
    const gw = await startCli(['--config', file, '--log-level', 'silent']);
    const denied = await run(['call', gw.url, 'ping']);
    expect(denied.code).toBe(1);
    expect(denied.stderr.trim()).toMatch(/HTTP 401/);
    const ok = await run(['call', gw.url, 'ping', '-H', `Authorization: Bearer ${token}`]);
    expect(ok.code).toBe(0);
    expect(await gw.stop()).toBe(0);

    const missing = join(dir, 'gateway-missing-auth.json');
    writeFileSync(missing, JSON.stringify({ port: 0, auth: { tokensFile: join(dir, 'no-such-tokens.txt') }, gateway: { upstreams: ['node x.js'] } }));
    const bad = await run(['gateway', '--config', missing]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('cannot read auth.tokensFile');
    expect(bad.stderr).toContain('ENOENT');
  });
});
