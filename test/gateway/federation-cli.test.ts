/**
 * `mcp-ws gateway` federating two stdio servers as a user runs it
 * (bin/mcp-ws.js → dist/, built by `npm run build`), with auth on: the
 * protected resource metadata is published and every 401 points to it;
 * prefixed tools from both servers; SIGTERM exits 0. Bad `--server` input is
 * one line.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { McpWsClient } from '../../src/transport/client.js';
import { BIN, run } from '../cli/run.js';

const NOTES = fileURLToPath(new URL('./fixtures/federation-server.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-fed-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function startCli(args: string[]): Promise<{ url: string; stop(): Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'gateway', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway not ready in 90 s; stderr: ${err}`));
    }, 90_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^mcp-ws gateway on (ws:\/\/\S+).*$/m.exec(out);
      if (!m) return;
      clearTimeout(t);
      resolve({
        url: m[1]!,
        stop: async () => {
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
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

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

function upgradeStatus(url: string): Promise<{ status: number; challenge: string | undefined }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['mcp']);
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101, challenge: undefined });
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] });
    });
    ws.once('error', (err) => {
      if (!String(err.message).includes('Unexpected server response')) reject(err);
    });
  });
}

describe('mcp-ws gateway --server (federation)', { timeout: 180_000 }, () => {
  it('federates two stdio servers behind auth, publishes the resource metadata and points 401s to it', async () => {
    const token = 'federation-cli-token-0123456789';
    const file = join(dir, 'federation.json');
    writeFileSync(
      file,
      JSON.stringify({
        auth: { tokens: [token], toolScopes: { b_pid: ['ops'] } },
        gateway: { pool: { connectTimeoutMs: 60_000, acquireTimeoutMs: 60_000, healthCheckIntervalMs: 0 } },
      }),
    );
    const gw = await startCli([
      '--config', file, '--port', '0', '--log-level', 'warn',
      '--server', `a=${process.execPath} ${NOTES}`,
      '--server', `b=${process.execPath} ${NOTES}`,
    ]);
    try {
      const base = gw.url.replace(/^ws:/, 'http:').replace(/\/ws$/, '');
      const doc = await get(`${base}/.well-known/oauth-protected-resource/ws`);
      expect(doc.status).toBe(200);
      expect(JSON.parse(doc.body)).toMatchObject({ resource: `${base}/ws`, scopes_supported: ['ops'], bearer_methods_supported: ['header'] });
      const refused = await upgradeStatus(gw.url);
      expect(refused.status).toBe(401);
      expect(refused.challenge).toContain(`resource_metadata="${base}/.well-known/oauth-protected-resource/ws"`);
      const client = await McpWsClient.connect(gw.url, { headers: { Authorization: `Bearer ${token}` }, requestTimeoutMs: 60_000, heartbeat: false });
      try {
        await client.initialize({ name: 'cli', version: '1' }, '2025-06-18', {});
        const { tools } = (await client.request('tools/list', {})) as { tools: Array<{ name: string }> };
        const names = tools.map((t) => t.name);
        expect(names).toEqual(expect.arrayContaining(['a_note', 'a_pid', 'b_note', 'b_pid']));
        const r = (await client.request('tools/call', { name: 'b_note', arguments: { text: 'x' } })) as { content: Array<{ text: string }> };
        expect(r.content[0]!.text).toBe('noted 1');
        // auth.toolScopes applies to the prefixed names.
        await expect(client.request('tools/call', { name: 'b_pid', arguments: {} })).rejects.toMatchObject({ code: -32013 });
      } finally {
        await client.close();
      }
    } finally {
      expect(await gw.stop()).toBe(0);
    }
  });

  it('explains bad --server input in one line', async () => {
    const twice = await run(['gateway', '--server', 'a=node x.js', '--server', 'a=node y.js']);
    expect(twice.code).toBe(1);
    expect(twice.stderr.trim().split('\n')).toHaveLength(1);
    expect(twice.stderr).toContain('--server a is given twice');
    const clash = await run(['gateway', '--server', 'a=node x.js', '--upstream', 'node y.js']);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain('not both');
    const name = await run(['gateway', '--server', 'a b=node x.js']);
    expect(name.code).toBe(1);
    expect(name.stderr.trim().split('\n')).toHaveLength(1);
    expect(name.stderr).toContain('letters, digits');
  });
});
