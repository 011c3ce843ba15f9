/**
 * The door seen from the command line, with real processes: a busy port
 * with a Redis rate limit exits at once, signals behave, the last log line
 * reaches stderr, --module accepts what has the right shape.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_REQUIRED, REDIS_URL, probeRedis, warnSkipped } from '../ratelimit/redis-helpers.js';
import { until, scrape } from '../helpers.js';
import { run, serve, type Serving } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-door-cli-'));
const running: Serving[] = [];
const servers: Server[] = [];
afterAll(() => {
  for (const s of running) s.child.kill('SIGKILL');
  for (const s of servers) s.close();
});

/** A port held by another listener on 127.0.0.1. */
async function busyPort(): Promise<number> {
  const s = createServer();
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  return (s.address() as { port: number }).port;
}

function oneLine(text: string): string {
  const lines = text.trim().split('\n');
  expect(lines, text).toHaveLength(1);
  expect(text).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

const redisUp = await probeRedis();
if (!redisUp && !REDIS_REQUIRED) warnSkipped();

describe('mcp-ws serve on a busy port', () => {
  it.runIf(redisUp || REDIS_REQUIRED)('with a Redis rate limit exits non-zero promptly with one line naming the port', async () => {
    const port = await busyPort();
    const config = join(dir, 'redis-rl.json');
    writeFileSync(config, JSON.stringify({ logLevel: 'error', rateLimit: { maxRequestsPerSecond: 100, scope: 'identity', redis: { url: REDIS_URL, prefix: `mcp-ws-door-${process.pid}:` } } }));
    const r = await run(['serve', '--config', config, '--port', String(port)], 15_000);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(oneLine(r.stderr)).toContain(`127.0.0.1:${port}`);
  });
});

describe('limits of 2^31 and above', () => {
  it('are refused from flags, naming the flag and repeating the value', async () => {
    for (const [flag, v] of [['--max-payload', '4294967296'], ['--max-connections', '2147483648'], ['--heartbeat-interval-ms', '2147483648']] as const) {
      const r = await run(['serve', '--port', '0', flag, v]);
      expect(r.code, flag).not.toBe(0);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      const line = r.stderr.split('\n')[0]!; // commander adds a usage hint below
      expect(line).toContain(flag);
      expect(line).toContain(v);
    }
  });

  it('are refused from the config file, naming the setting and repeating the value', async () => {
    for (const key of ['maxPayload', 'maxFragments', 'maxBufferedChunks']) {
      const config = join(dir, `big-${key}.json`);
      writeFileSync(config, JSON.stringify({ [key]: 2 ** 32 }));
      const r = await run(['serve', '--port', '0', '--config', config]);
      expect(r.code, key).not.toBe(0);
      const line = oneLine(r.stderr);
      expect(line).toContain(key);
      expect(line).toContain(String(2 ** 32));
    }
  });
});

function portOf(url: string): number {
  return Number(new URL(url).port);
}

describe('signals', () => {
  it('SIGHUP without TLS is ignored with one log line; the server keeps serving', async () => {
    const s = await serve(['--port', '0']);
    running.push(s);
    s.child.kill('SIGHUP');
    expect(await until(() => /SIGHUP ignored/.test(s.stderr()), 10_000)).toBe(true);
    const r = await run(['call', s.url, 'tools/list']);
    expect(r.code).toBe(0);
    expect(s.stderr().match(/SIGHUP ignored/g)).toHaveLength(1);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });

  it('the last log line before exit reaches stderr (second signal during a drain)', async () => {
    const s = await serve(['--port', '0', '--drain-timeout-ms', '60000', '--log-level', 'debug']);
    running.push(s);
    const call = run(['call', s.url, 'tools/call', '{"name":"sleep","arguments":{"ms":20000}}'], 30_000).catch(() => undefined);
    const base = `http://127.0.0.1:${portOf(s.url)}`;
    const inFlight = async (): Promise<boolean> => /^mcp_ws_requests_in_flight [1-9]/m.test(await scrape(base));
    expect(await until(inFlight, 10_000)).toBe(true);
    s.child.kill('SIGTERM');
    expect(await until(() => /draining/.test(s.stderr()), 10_000)).toBe(true);
    // A busy log: rejected upgrades (debug lines) are still being written when the second signal lands.
    const port = portOf(s.url);
    const noise: Socket[] = [];
    for (let i = 0; i < 300; i++) {
      const c = netConnect(port, '127.0.0.1', () => c.write(`GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`));
      c.on('error', () => {});
      noise.push(c);
    }
    expect(await until(() => (s.stderr().match(/upgrade rejected/g)?.length ?? 0) >= 20, 10_000)).toBe(true);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(1);
    for (const c of noise) c.destroy();
    expect(s.stderr()).toContain('second signal: exiting now');
    await call;
  });

  it('SIGHUP reloads the TLS certificate of a running serve: new connections see the new one', async () => {
    const tlsDir = mkdtempSync(join(tmpdir(), 'mcp-ws-door-tls-'));
    const makeCert = (name: string): void => {
      // prettier-ignore
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', join(tlsDir, `${name}.key`), '-out', join(tlsDir, `${name}.crt`)], { stdio: 'ignore' });
    };
    makeCert('first');
    makeCert('second');
    const cert = join(tlsDir, 'live.crt');
    const key = join(tlsDir, 'live.key');
    writeFileSync(cert, readFileSync(join(tlsDir, 'first.crt')));
    writeFileSync(key, readFileSync(join(tlsDir, 'first.key')));
    const s = await serve(['--port', '0', '--tls-cert', cert, '--tls-key', key]);
    running.push(s);
    expect(s.url).toMatch(/^wss:\/\//);
    const seen = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const c = tlsConnect({ host: '127.0.0.1', port: portOf(s.url), rejectUnauthorized: false }, () => {
          const cn = c.getPeerCertificate().subject?.CN;
          c.destroy();
          resolve(String(cn));
        });
        c.once('error', reject);
      });
    expect(await seen()).toBe('first');
    // Rotate as a certificate manager would: new files renamed into place.
    writeFileSync(join(tlsDir, 'next.crt'), readFileSync(join(tlsDir, 'second.crt')));
    writeFileSync(join(tlsDir, 'next.key'), readFileSync(join(tlsDir, 'second.key')));
    renameSync(join(tlsDir, 'next.key'), key);
    renameSync(join(tlsDir, 'next.crt'), cert);
    s.child.kill('SIGHUP');
    expect(await until(async () => (await seen()) === 'second', 10_000)).toBe(true);
    // The log line may reach the pipe after the new certificate is in use.
    expect(await until(() => s.stderr().includes('TLS certificate reloaded'), 10_000), s.stderr()).toBe(true);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });
});

describe('--module built against another copy of mcp-ws', () => {
  // A second copy of the package, as an app with its own node_modules/mcp-ws would have.
  const copy = join(dir, 'other-copy');
  cpSync(join(process.cwd(), 'dist'), join(copy, 'dist'), { recursive: true });
  writeFileSync(join(copy, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(process.cwd(), 'node_modules'), join(copy, 'node_modules'), 'dir');
  const other = pathToFileURL(join(copy, 'dist', 'index.js')).href;
  const sdk = pathToFileURL(join(process.cwd(), 'node_modules/@modelcontextprotocol/sdk/dist/esm/server/mcp.js')).href;
  const routerCode = `const r = new McpRouter({ name: 'copy', version: '1' });
r.tool({ name: 'from-copy', description: 'made by the other copy' }, () => 'ok');`;

  const modules: Record<string, string> = {
    'router export': `import { McpRouter } from ${JSON.stringify(other)};\n${routerCode}\nexport const router = r;\n`,
    'router factory export': `import { McpRouter } from ${JSON.stringify(other)};\n${routerCode}\nexport const router = () => r;\n`,
    'default McpRouter': `import { McpRouter } from ${JSON.stringify(other)};\n${routerCode}\nexport default r;\n`,
    'SdkHost export': `import { SdkHost } from ${JSON.stringify(other)};
import { McpServer } from ${JSON.stringify(sdk)};
export default new SdkHost(() => {
  const s = new McpServer({ name: 'copy-sdk', version: '1' });
  s.registerTool('from-copy', { description: 'made by the other copy' }, async () => ({ content: [{ type: 'text', text: 'ok' }] }));
  return s;
});
`,
  };

  for (const [name, code] of Object.entries(modules)) {
    it(`serves a module whose ${name} comes from the other copy`, async () => {
      const file = join(dir, `${name.replace(/ /g, '-')}.mjs`);
      writeFileSync(file, code);
      const s = await serve(['--port', '0', '--module', file]);
      running.push(s);
      expect(s.readyLine).toMatch(name.startsWith('SdkHost') ? /sdk/ : /router/);
      const r = await run(['call', s.url, 'tools/list']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).tools.map((t: { name: string }) => t.name)).toContain('from-copy');
      s.child.kill('SIGTERM');
      expect(await s.exit).toBe(0);
    });
  }

  it('still refuses a router export without createHandler, in one line', async () => {
    const file = join(dir, 'bad-router.mjs');
    writeFileSync(file, 'export const router = { name: "not a router" };\n');
    const r = await run(['serve', '--port', '0', '--module', file]);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/router/);
  });
});

describe('a --module whose handler factory throws', () => {
  it('costs one connection; the process stays up and serves the next', async () => {
    const file = join(dir, 'throwing-factory.mjs');
    const router = pathToFileURL(join(process.cwd(), 'dist', 'index.js')).href;
    writeFileSync(
      file,
      `import { createDemoRouter } from ${JSON.stringify(router)};
const demo = createDemoRouter();
let made = 0;
export const router = { createHandler(peer) { if (made++ === 0) throw new Error('factory exploded'); return demo.createHandler(peer); } };
`,
    );
    const s = await serve(['--port', '0', '--module', file]);
    running.push(s);
    const first = await run(['call', s.url, 'tools/list']);
    expect(first.code).not.toBe(0);
    const second = await run(['call', s.url, 'tools/list']);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout).tools.length).toBeGreaterThan(0);
    expect(s.stderr().split('\n').filter((l) => l.includes('factory exploded'))).toHaveLength(1);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });
});
