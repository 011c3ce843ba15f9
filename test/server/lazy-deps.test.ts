/**
 * Importing the library loads only what is configured: ioredis when Redis
 * is, jose when JWT is, pino-pretty when a readable log is asked for.
 *
 * Each case runs in a fresh `node` process on the built library (dist/, so
 * `npm run build` first). What the process loaded is read two ways, so
 * neither an ES module nor a CommonJS one escapes: a resolve hook of our
 * own, registered with `--import`, appends every resolved URL to a file,
 * and at the end the process prints the CommonJS module cache.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const DIST = resolve('dist/index.js');
const LAZY = ['ioredis', 'jose', 'pino-pretty'] as const;
type Lazy = (typeof LAZY)[number];

let dir: string;
let caseNo = 0;
/** stderr of the last child. */
let lastStderr = '';

beforeAll(() => {
  if (!existsSync(DIST)) throw new Error('dist/index.js is missing: run `npm run build` first');
  dir = mkdtempSync(join(tmpdir(), 'mcp-ws-lazy-'));
  writeFileSync(
    join(dir, 'hooks.mjs'),
    [
      "import { appendFileSync } from 'node:fs';",
      'let file;',
      'export function initialize(data) { file = data.file; }',
      'export async function resolve(specifier, context, next) {',
      '  const r = await next(specifier, context);',
      "  appendFileSync(file, r.url + '\\n');",
      '  return r;',
      '}',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'register.mjs'),
    [
      "import { register } from 'node:module';",
      "register('./hooks.mjs', import.meta.url, { data: { file: process.env.MCP_WS_RESOLVED_FILE } });",
    ].join('\n'),
  );
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `body` (an ES module body with `lib` = the imported library) in a fresh process; returns which lazy packages it loaded. */
async function loadedBy(body: string): Promise<Set<Lazy>> {
  const n = ++caseNo;
  const resolvedFile = join(dir, `resolved-${n}.txt`);
  writeFileSync(resolvedFile, '');
  const script = join(dir, `case-${n}.mjs`);
  writeFileSync(
    script,
    [
      "import { createRequire } from 'node:module';",
      `const lib = await import(${JSON.stringify(pathToFileURL(DIST).href)});`,
      body,
      'const cjs = Object.keys(createRequire(import.meta.url).cache);',
      "process.stdout.write('\\nCJS ' + JSON.stringify(cjs) + '\\n');",
      'process.exit(0);',
    ].join('\n'),
  );
  const stdout = await new Promise<string>((done, fail) => {
    execFile(
      process.execPath,
      ['--import', pathToFileURL(join(dir, 'register.mjs')).href, script],
      { env: { ...process.env, MCP_WS_RESOLVED_FILE: resolvedFile }, timeout: 30_000, cwd: resolve('.') },
      (err, out, errOut) => {
        lastStderr = errOut;
        if (err) fail(new Error(`child failed: ${err.message}\n${errOut}`));
        else done(out);
      },
    );
  });
  const line = stdout.split('\n').find((l) => l.startsWith('CJS '));
  if (!line) throw new Error(`child printed no module list:\n${stdout}`);
  const files = [...(JSON.parse(line.slice(4)) as string[]), ...readFileSync(resolvedFile, 'utf8').split('\n')];
  const found = new Set<Lazy>();
  for (const f of files) {
    const path = f.replace(/\\/g, '/');
    for (const name of LAZY) if (path.includes(`/node_modules/${name}/`)) found.add(name);
  }
  return found;
}

const SERVER = `
const server = new lib.McpWsServer({ handler: lib.createDemoRouter(), port: 0, host: '127.0.0.1', processMetrics: false, OPTIONS });
const addr = await server.listen();
const res = await fetch('http://127.0.0.1:' + addr.port + '/metrics');
await res.text();
`;

describe('lazy loading of optional dependencies', () => {
  it('the hook sees an ES module and the cache a CommonJS one (the probe works)', async () => {
    const dist = JSON.stringify(DIST);
    const found = await loadedBy(`const { createRequire: requireFrom } = await import('node:module');
      const { pathToFileURL } = await import('node:url');
      const { dirname, join } = await import('node:path');
      await import(pathToFileURL(join(dirname(${dist}), '../node_modules/jose/dist/webapi/index.js')).href);
      requireFrom(${dist})('ioredis');`);
    expect([...found].sort()).toEqual(['ioredis', 'jose']);
  });

  it('importing McpWsServer and serving without auth, Redis or a pretty log loads none of them', async () => {
    const found = await loadedBy(`${SERVER.replace('OPTIONS', '')}
      lib.createLogger({ pretty: false, level: 'silent' }).info('x');
      await server.close();`);
    expect([...found]).toEqual([]);
  });

  it('static tokens alone do not load jose; JWT does, and a JWT handshake is answered', async () => {
    const tokens = await loadedBy(`${SERVER.replace('OPTIONS', "auth: { tokens: ['static-token-0123456789abcdef'] }")}
      await server.close();`);
    expect([...tokens]).toEqual([]);
    const jwt = await loadedBy(`${SERVER.replace('OPTIONS', "auth: { jwt: { secret: 'a-very-long-shared-secret-for-hs256-tests!' } }")}
      const http = await import('node:http');
      const status = await new Promise((done, fail) => {
        const req = http.request({ host: '127.0.0.1', port: addr.port, path: new URL(addr.url).pathname, headers: {
          Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'mcp',
          Authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl' } });
        req.on('response', (r) => { r.resume(); done(r.statusCode); });
        req.on('upgrade', () => fail(new Error('upgraded with a bad JWT')));
        req.on('error', fail);
        req.end();
      });
      if (status !== 401) throw new Error('expected 401, got ' + status);
      await server.close();`);
    expect([...jwt]).toEqual(['jose']);
  });

  it('Redis configured loads ioredis, and only then', async () => {
    const found = await loadedBy(`${SERVER.replace(
      'OPTIONS',
      "rateLimit: { identity: { maxRequestsPerSecond: 100 }, redis: { url: 'redis://127.0.0.1:6379' } }",
    )}
      await server.close();`);
    expect([...found]).toEqual(['ioredis']);
  });

  it('a pretty log loads pino-pretty and still writes readable lines', async () => {
    const found = await loadedBy(`
      lib.createLogger({ pretty: true }).info('hello pretty');`);
    expect([...found]).toEqual(['pino-pretty']);
    expect(lastStderr).toContain('INFO');
    expect(lastStderr).toContain('hello pretty');
    expect(lastStderr).not.toContain('{"level"');
  });
});
