/**
 * An upstream that does not speak MCP properly ends, at worst, its own
 * upstream session: never the gateway process, never another client. The
 * odd fixture writes, on request, lines that parse as JSON but are not valid
 * JSON-RPC (params null or not an object, a response with no result, ids
 * that are objects or were never sent, bare values); each is tried against
 * `mcp-ws gateway` as a child process and in-process with spies on
 * 'uncaughtException' and 'unhandledRejection'.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { McpRpcError } from '../../src/protocol/errors.js';
import { McpWsClient } from '../../src/transport/client.js';
import { BIN } from '../cli/run.js';
import { closeAll, connect, startGateway, text, until } from './helpers.js';

const RAW = fileURLToPath(new URL('./fixtures/raw-server.mjs', import.meta.url));

/** Lines the odd upstream writes before (or instead of) answering the client's tools/call. */
const CASES: ReadonlyArray<{ what: string; lines: string[]; answer?: boolean }> = [
  { what: 'progress with params null', lines: ['{"jsonrpc":"2.0","method":"notifications/progress","params":null}'] },
  { what: 'progress with params a string', lines: ['{"jsonrpc":"2.0","method":"notifications/progress","params":"p1"}'] },
  { what: 'progress with params a number', lines: ['{"jsonrpc":"2.0","method":"notifications/progress","params":7}'] },
  { what: 'progress with params an array', lines: ['{"jsonrpc":"2.0","method":"notifications/progress","params":["p1"]}'] },
  { what: 'a method that is not a string', lines: ['{"jsonrpc":"2.0","method":5,"params":{}}', '{"jsonrpc":"2.0","method":null}'] },
  { what: 'a request with an object id', lines: ['{"jsonrpc":"2.0","id":{"a":1},"method":"roots/list"}'] },
  { what: 'a response with no result or error', lines: ['{"jsonrpc":"2.0","id":$ID}'] },
  { what: 'a response with error null', lines: ['{"jsonrpc":"2.0","id":$ID,"error":null}'] },
  { what: 'a response with error a string', lines: ['{"jsonrpc":"2.0","id":$ID,"error":"bad"}'] },
  { what: 'a response with an object id', lines: ['{"jsonrpc":"2.0","id":{"a":1},"result":{}}'] },
  { what: 'a response to an id never sent', lines: ['{"jsonrpc":"2.0","id":987654,"result":{}}', '{"jsonrpc":"2.0","id":"x","result":{}}'] },
  { what: 'bare values', lines: ['5', '"str"', '[1,2]', '[]', 'null', 'true', '{}'] },
  { what: 'no answer after garbage', lines: ['{"jsonrpc":"2.0","method":"notifications/progress","params":null}', '[{"jsonrpc":"2.0","id":$ID}]'], answer: false },
];

/** What became of one call: its result text, a JSON-RPC error code, or the close. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    return `result ${text(await p)}`;
  } catch (err) {
    if (err instanceof McpRpcError) return `error ${err.code}`;
    return `closed: ${(err as Error).message}`;
  }
}

/** Runs every case on fresh clients, checking `healthy` after each. */
async function runCases(url: string, healthy: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  for (const c of CASES) {
    const client = await McpWsClient.connect(url, { requestTimeoutMs: 20_000, heartbeat: false });
    try {
      await client.initialize({ name: 'odd-test', version: '1.0.0' }, '2025-06-18', {});
      const got = await outcome(
        client.request('tools/call', { name: 'odd', arguments: { lines: c.lines, answer: c.answer ?? true }, _meta: { progressToken: 'p1' } }),
      );
      seen.push(`${c.what}: ${got}`);
      await healthy();
    } finally {
      await client.close().catch(() => undefined);
    }
  }
  return seen;
}

describe('mcp-ws gateway in front of a non-conforming stdio upstream', () => {
  let child: ReturnType<typeof spawn> | undefined;
  let exited: Promise<number | null>;
  let stderr = '';
  let url = '';

  beforeAll(async () => {
    const gw = spawn(
      process.execPath,
      [BIN, 'gateway', '-u', `"${process.execPath}" "${RAW}"`, '--port', '0', '--min-connections', '2', '--request-timeout-ms', '3000', '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = gw;
    exited = new Promise((r) => gw.on('close', (code) => r(code)));
    gw.stderr!.on('data', (d) => (stderr += d));
    let out = '';
    url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`gateway not ready in 15 s; stderr: ${stderr}`)), 15_000);
      gw.stdout!.on('data', (d) => {
        out += d;
        const m = /^mcp-ws gateway on (ws:\/\/\S+)/m.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
      void exited.then((code) => reject(new Error(`gateway exited with ${code}; stderr: ${stderr}`)));
    });
  });

  afterAll(async () => {
    await closeAll();
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
  });

  it('stays up, answers the affected client, and keeps serving another client', { timeout: 90_000 }, async () => {
    const other = await connect(url);
    expect(text(await other.request('tools/call', { name: 'echo', arguments: { text: 'before' } }))).toBe('before');
    let round = 0;
    const seen = await runCases(url, async () => {
      expect(child!.exitCode, `gateway exited; stderr: ${stderr}`).toBeNull();
      const t = `still here ${round++}`;
      expect(text(await other.request('tools/call', { name: 'echo', arguments: { text: t } }))).toBe(t);
    });
    expect(seen).toHaveLength(CASES.length);
    // A response without a result or a usable error is an error to the client, not a hang.
    expect(seen.find((s) => s.startsWith('a response with no result'))).toMatch(/: error -32\d{3}$/);
    expect(seen.find((s) => s.startsWith('a response with error null'))).toMatch(/: error -32\d{3}$/);
    // Garbage in between does not hide the real answer.
    expect(seen.find((s) => s.startsWith('progress with params null'))).toBe('progress with params null: result after');
    expect(seen.find((s) => s.startsWith('bare values'))).toBe('bare values: result after');
    expect(stderr).not.toContain('TypeError');
    expect(child!.exitCode).toBeNull();
  });
});

describe('in-process gateway in front of a non-conforming stdio upstream', () => {
  const uncaught: unknown[] = [];
  const unhandled: unknown[] = [];
  const onUncaught = (e: unknown): void => void uncaught.push(e);
  const onUnhandled = (e: unknown): void => void unhandled.push(e);

  beforeAll(() => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUnhandled);
  });
  afterAll(() => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUnhandled);
  });
  afterEach(closeAll);

  it('raises nothing uncaught, whatever the upstream writes to a client session', { timeout: 90_000 }, async () => {
    const { url } = await startGateway({
      upstreams: [{ command: process.execPath, args: [RAW], name: 'odd' }],
      requestTimeoutMs: 3000,
      pool: { minConnections: 1 },
    });
    const other = await connect(url);
    const seen = await runCases(url, async () => {
      expect(text(await other.request('tools/call', { name: 'echo', arguments: { text: 'ok' } }))).toBe('ok');
    });
    expect(seen).toHaveLength(CASES.length);
    expect(uncaught).toEqual([]);
    expect(unhandled).toEqual([]);
  });

  it('raises nothing uncaught when the answer to the pool\'s own ping is malformed', { timeout: 90_000 }, async () => {
    const { gateway, url } = await startGateway({
      upstreams: [{ command: process.execPath, args: [RAW], name: 'odd', env: { ODD_PING: '{"jsonrpc":"2.0","id":$ID,"error":null}' } }],
      pool: { minConnections: 2, healthCheckIntervalMs: 50, healthCheckTimeoutMs: 1000 },
    });
    const pings = (): number => ((gateway.snapshot().upstreams as Array<{ requests: number }>)[0]!).requests;
    await until(() => pings() >= 4, 10_000, 'health pings');
    const c = await connect(url);
    expect(text(await c.request('tools/call', { name: 'echo', arguments: { text: 'ok' } }))).toBe('ok');
    expect(uncaught).toEqual([]);
    expect(unhandled).toEqual([]);
  });
});
