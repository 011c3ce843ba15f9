/**
 * pageSize from the config file, through the built CLI (`node bin/mcp-ws.js`):
 * honoured by the native router (demo or a module's McpRouter), refused in one
 * line where it cannot apply (an SDK-hosted module, the gateway).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { run, serve, type Serving } from '../cli/run.js';

const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-pagesize-'));
const running: Serving[] = [];
afterAll(() => {
  for (const s of running) s.child.kill('SIGKILL');
});

function config(name: string, body: Record<string, unknown>): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(body));
  return file;
}

async function call(url: string, method: string, params?: unknown): Promise<any> {
  const r = await run(['call', url, method, ...(params === undefined ? [] : [JSON.stringify(params)])]);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

function oneLine(text: string): string {
  const lines = text.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(text).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

describe('pageSize in the config file', () => {
  it('pages the demo router: pageSize 1 gives one tool and a nextCursor that leads to the next', async () => {
    const s = await serve(['--config', config('demo.json', { port: 0, pageSize: 1, logLevel: 'silent' })]);
    running.push(s);
    const first = await call(s.url, 'tools/list');
    expect(first.tools).toHaveLength(1);
    expect(first.tools[0].name).toBe('echo');
    expect(typeof first.nextCursor).toBe('string');
    const second = await call(s.url, 'tools/list', { cursor: first.nextCursor });
    expect(second.tools.map((t: { name: string }) => t.name)).toEqual(['add']);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });

  it("overrides the page size of a module's McpRouter", async () => {
    const routerJs = pathToFileURL(join(process.cwd(), 'dist/router/router.js')).href;
    const file = join(dir, 'router-module.mjs');
    writeFileSync(
      file,
      `import { McpRouter } from ${JSON.stringify(routerJs)};
export const router = new McpRouter({ name: 'paged-module', version: '1.0.0' });
for (const n of ['a', 'b', 'c']) router.tool({ name: n }, () => n);
`,
    );
    const s = await serve(['--config', config('module.json', { port: 0, pageSize: 2, module: file, logLevel: 'silent' })]);
    running.push(s);
    const first = await call(s.url, 'tools/list');
    expect(first.tools.map((t: { name: string }) => t.name)).toEqual(['a', 'b']);
    const second = await call(s.url, 'tools/list', { cursor: first.nextCursor });
    expect(second.tools.map((t: { name: string }) => t.name)).toEqual(['c']);
    expect(second.nextCursor).toBeUndefined();
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });

  it('is refused in one line for an SDK-hosted module, which pages its own lists', async () => {
    const sdk = pathToFileURL(join(process.cwd(), 'node_modules/@modelcontextprotocol/sdk/dist/esm/server/mcp.js')).href;
    const file = join(dir, 'sdk-module.mjs');
    writeFileSync(file, `import { McpServer } from ${JSON.stringify(sdk)};\nexport default () => new McpServer({ name: 's', version: '1' });\n`);
    const r = await run(['serve', '--config', config('sdk.json', { port: 0, pageSize: 5, module: file })]);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/pageSize/);
    expect(r.stdout).toBe('');
  });

  it('is refused in one line by the gateway, whose upstreams page their own lists', async () => {
    const file = config('gateway.json', { port: 0, pageSize: 5, gateway: { upstreams: ['ws://127.0.0.1:9/ws'] } });
    const r = await run(['gateway', '--config', file]);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/pageSize/);
    expect(r.stdout).toBe('');
  });
});

describe('McpRouter.setPageSize', () => {
  it('re-pages the cached first page and refuses a size that is not a positive integer', async () => {
    const { McpRouter } = await import('../../src/router/router.js');
    const router = new McpRouter({ name: 't', version: '1' });
    for (const n of ['a', 'b', 'c']) router.tool({ name: n }, () => n);
    expect(JSON.parse(router.listPage('tools', undefined)).tools).toHaveLength(3);
    router.setPageSize(1);
    const page = JSON.parse(router.listPage('tools', undefined));
    expect(page.tools).toHaveLength(1);
    expect(page.nextCursor).toBeDefined();
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => router.setPageSize(bad)).toThrow(RangeError);
    expect(router.options.pageSize).toBe(1);
  });
});
