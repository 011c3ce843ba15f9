/**
 * The life of a stdio upstream child, against real processes: replies of
 * tens of megabytes arriving in small pieces, a line over the cap, commands
 * that cannot be spawned, and shutdown that lets children see stdin EOF
 * before any signal (in-process and through `mcp-ws gateway` + SIGTERM).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { parseUpstream } from '../../src/gateway/config.js';
import { StdioUpstreamConnection, stdioChildCount } from '../../src/gateway/upstream-stdio.js';
import type { StdioUpstreamSpec } from '../../src/gateway/upstream-spec.js';
import { silentLogger } from '../../src/log.js';
import { BIN } from '../cli/run.js';
import { closeAll, connect, startGateway, text, until } from './helpers.js';

const RAW = fileURLToPath(new URL('./fixtures/raw-server.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-stdio-life-'));

afterEach(closeAll);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rawSpec(env: Record<string, string> = {}): StdioUpstreamSpec {
  return parseUpstream({ command: process.execPath, args: [RAW], env, name: 'raw' }) as StdioUpstreamSpec;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends one request on a bare connection and resolves with the answer. */
function call(conn: StdioUpstreamConnection, id: number, method: string, params?: Record<string, unknown>): Promise<{ result?: unknown }> {
  return new Promise((resolve) => {
    const prev = conn.onmessage;
    conn.onmessage = (m) => {
      if ((m as { id?: number }).id === id) {
        conn.onmessage = prev;
        resolve(m as { result?: unknown });
      } else prev?.(m);
    };
    conn.send({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) } as JSONRPCMessage);
  });
}

describe('stdio line reader', () => {
  it('parses a 32 MB reply that arrives in 1 KB pieces, well within the test bound', async () => {
    const conn = new StdioUpstreamConnection(rawSpec(), silentLogger);
    await conn.start();
    try {
      const bytes = 32 * 1024 * 1024;
      const reply = await call(conn, 1, 'tools/call', { name: 'big', arguments: { bytes, chunk: 1024 } });
      expect(text(reply.result).length).toBe(bytes);
      // The connection still works after the big line.
      const after = await call(conn, 2, 'tools/call', { name: 'echo', arguments: { text: 'next' } });
      expect(text(after.result)).toBe('next');
    } finally {
      await conn.close();
    }
  }, 20_000);

  it('a line over maxLineBytes is a transport error: the session ends and the child is stopped', async () => {
    const conn = new StdioUpstreamConnection(rawSpec(), silentLogger, { maxLineBytes: 1024 * 1024 });
    const errors: string[] = [];
    conn.onerror = (e) => errors.push(e.message);
    const closed = new Promise<string>((r) => (conn.onclose = r));
    await conn.start();
    const pid = conn.pid!;
    conn.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'big', arguments: { bytes: 8 * 1024 * 1024, chunk: 65536 } } });
    await closed;
    expect(errors.some((m) => /longer than 1048576 bytes/.test(m))).toBe(true);
    await until(() => !alive(pid), 10_000, 'the child to exit');
    await conn.close();
  }, 30_000);
});

describe('stdio children', () => {
  it('a command that cannot be spawned leaves nothing in the live set, and close() of it resolves', async () => {
    const before = stdioChildCount();
    for (let i = 0; i < 20; i++) {
      const conn = new StdioUpstreamConnection(
        parseUpstream({ command: join(dir, 'no-such-command'), name: 'missing' }) as StdioUpstreamSpec,
        silentLogger,
      );
      await expect(conn.start()).rejects.toThrow(/command not found/);
      await conn.close();
    }
    await until(() => stdioChildCount() === before, 5000, 'the live set to shrink');
    expect(stdioChildCount()).toBe(before);
  });

  it('close() ends stdin first: the child sees EOF and exits before any signal', async () => {
    const eofDir = mkdtempSync(join(dir, 'eof-'));
    const conn = new StdioUpstreamConnection(rawSpec({ RAW_EOF_DIR: eofDir }), silentLogger, { closeGraceMs: 2000 });
    await conn.start();
    const pid = conn.pid!;
    await conn.close();
    expect(existsSync(join(eofDir, String(pid)))).toBe(true);
  });

  it('a child that ignores EOF and SIGTERM is SIGKILLed after the grace periods', async () => {
    const conn = new StdioUpstreamConnection(rawSpec({ RAW_IGNORE_EOF: '1', RAW_IGNORE_TERM: '1' }), silentLogger, { closeGraceMs: 200 });
    const closed = new Promise<string>((r) => (conn.onclose = r));
    await conn.start();
    // An answer shows the child's script has run, so its SIGTERM handler is in place.
    await call(conn, 1, 'ping');
    const pid = conn.pid!;
    await conn.close();
    expect(await closed).toMatch(/SIGKILL/);
    expect(alive(pid)).toBe(false);
  });

  it.each(['line', 'sdk'] as const)('gateway close (%s transport): a child released by its client gets stdin EOF and time to exit before close() resolves', async (transport) => {
    const eofDir = mkdtempSync(join(dir, 'eof-'));
    const { gateway, server, url } = await startGateway({
      upstreams: [{ command: process.execPath, args: [RAW], env: { RAW_EOF_DIR: eofDir, RAW_EOF_DELAY_MS: '800' }, name: 'raw', transport }],
      pool: { minConnections: 0 },
      closeGraceMs: 5000,
    });
    const c = await connect(url);
    const pid = Number(text(await c.request('tools/call', { name: 'pid' })));
    await server.close();
    await gateway.close();
    expect(existsSync(join(eofDir, String(pid)))).toBe(true);
  });

  it('mcp-ws gateway on SIGTERM: a released child sees stdin EOF and exits on its own (not SIGKILLed at exit)', async () => {
    const eofDir = mkdtempSync(join(dir, 'eof-'));
    const file = join(dir, 'gateway.json');
    writeFileSync(
      file,
      JSON.stringify({
        port: 0,
        host: '127.0.0.1',
        gateway: { upstreams: [{ command: process.execPath, args: [RAW], env: { RAW_EOF_DIR: eofDir, RAW_EOF_DELAY_MS: '800' }, name: 'raw' }], pool: { minConnections: 0 } },
      }),
    );
    const child = spawn(process.execPath, [BIN, 'gateway', '--config', file, '--log-level', 'silent'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      await until(() => /mcp-ws gateway on ws:\/\//.test(out), 15_000, 'the ready line');
      const url = /mcp-ws gateway on (ws:\/\/\S+)/.exec(out)![1]!;
      const c = await connect(url);
      const pid = Number(text(await c.request('tools/call', { name: 'pid' })));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
      expect(existsSync(join(eofDir, String(pid)))).toBe(true);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  }, 40_000);
});
