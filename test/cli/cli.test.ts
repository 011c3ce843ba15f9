import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { run, serve, type Serving } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-cli-'));
const running: Serving[] = [];
afterAll(() => {
  for (const s of running) s.child.kill('SIGKILL');
});

function oneLine(text: string): string {
  const lines = text.trim().split('\n');
  expect(lines.length).toBe(1);
  expect(text).not.toMatch(/\n\s+at /); // no stack trace
  return lines[0]!;
}

describe('mcp-ws serve', () => {
  it('runs the demo on 127.0.0.1:8080/ws with no arguments', async () => {
    const s = await serve([]);
    running.push(s);
    expect(s.url).toBe('ws://127.0.0.1:8080/ws');
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });

  it('binds a free port with --port 0, serves calls, and exits 0 on SIGTERM', async () => {
    const s = await serve(['--port', '0', '--path', '/mcp']);
    running.push(s);
    expect(s.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(s.url).not.toMatch(/:0\//);
    const r = await run(['call', s.url, 'tools/call', '{"name":"echo","arguments":{"text":"hi"}}']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ content: [{ type: 'text', text: 'hi' }] });
    const list = await run(['call', s.url, 'tools/list']);
    expect(JSON.parse(list.stdout).tools).toHaveLength(6);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });

  it('takes settings from --config and lets flags override them', async () => {
    const file = join(dir, 'ok.json');
    writeFileSync(file, JSON.stringify({ port: 0, path: '/from-file', maxPayload: 1024 }));
    const s = await serve(['--config', file, '--path', '/from-flag']);
    running.push(s);
    expect(s.url).toMatch(/\/from-flag$/);
    const big = await run(['call', s.url, 'tools/call', JSON.stringify({ name: 'echo', arguments: { text: 'x'.repeat(2000) } })]);
    expect(big.code).toBe(1);
    expect(oneLine(big.stderr)).toMatch(/1009/);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });

  it.each([
    [{ max_payload: 5 }, /unknown setting "max_payload" — did you mean "maxPayload"\?/],
    [{ heartbeat_interval_ms: 5 }, /did you mean "heartbeatIntervalMs"/],
    [{ maxPayolad: 5 }, /unknown setting "maxPayolad" — did you mean "maxPayload"\?/],
    [{ port: 'eighty' }, /port should be a number \(got "eighty"\)/],
    [{ maxConnections: -1 }, /maxConnections should be at least/],
    [[1, 2], /expected a JSON object/],
  ])('rejects a bad config %j in one line', async (config, message) => {
    const file = join(dir, `bad-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(config));
    const r = await run(['serve', '--config', file]);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(message);
  });

  it('rejects a config that is not JSON or not there', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{ port: 1 ');
    expect(oneLine((await run(['serve', '--config', file])).stderr)).toMatch(/is not valid JSON/);
    expect(oneLine((await run(['serve', '--config', join(dir, 'missing.json')])).stderr)).toMatch(/no such file/);
  });

  it('rejects bad flags in one line', async () => {
    const r = await run(['serve', '--port', 'abc']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--port should be an integer/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const u = await run(['serve', '--bogus']);
    expect(u.code).not.toBe(0);
    expect(u.stderr).toMatch(/unknown option '--bogus'/);
  });

  it('reports a busy port in one line', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const r = await run(['serve', '--port', String(port)]);
    blocker.close();
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toBe(`mcp-ws: cannot listen on 127.0.0.1:${port}: address already in use`);
  });

  it('serves an SDK server factory from --module', async () => {
    const sdk = pathToFileURL(join(process.cwd(), 'node_modules/@modelcontextprotocol/sdk/dist/esm/server/mcp.js')).href;
    const file = join(dir, 'sdk-module.mjs');
    writeFileSync(
      file,
      `import { McpServer } from ${JSON.stringify(sdk)};
export default function createServer() {
  const s = new McpServer({ name: 'from-module', version: '9.9.9' });
  s.registerTool('hello', { description: 'hi' }, async () => ({ content: [{ type: 'text', text: 'hello from the module' }] }));
  return s;
}
`,
    );
    const s = await serve(['--port', '0', '--module', file]);
    running.push(s);
    expect(s.readyLine).toMatch(/sdk/);
    const r = await run(['call', s.url, 'tools/call', '{"name":"hello"}']);
    expect(JSON.parse(r.stdout).content[0].text).toBe('hello from the module');
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });

  it('reports a module that exports nothing useful in one line', async () => {
    const file = join(dir, 'empty.mjs');
    writeFileSync(file, 'export const nothing = 1;\n');
    const r = await run(['serve', '--port', '0', '--module', file]);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/exports nothing to serve/);
  });
});

describe('mcp-ws call', () => {
  it('reports an unreachable URL in one line', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    await new Promise<void>((r) => blocker.close(() => r()));
    const r = await run(['call', `ws://127.0.0.1:${port}/ws`, 'ping']);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/^mcp-ws: .*(ECONNREFUSED|refused)/);
  });

  it('reports a JSON-RPC error and bad params in one line', async () => {
    const s = await serve(['--port', '0']);
    running.push(s);
    const r = await run(['call', s.url, 'no/such']);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/no\/such failed: -32601/);
    const p = await run(['call', s.url, 'tools/call', '{not json']);
    expect(oneLine(p.stderr)).toMatch(/params are not valid JSON/);
    const u = await run(['call', 'http://x', 'ping']);
    expect(oneLine(u.stderr)).toMatch(/should start with ws:\/\//);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });
});
