/**
 * The door seen from the command line, with real processes: a busy port
 * with a Redis rate limit exits at once, signals behave, the last log line
 * reaches stderr, --module accepts what has the right shape.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_REQUIRED, REDIS_URL, probeRedis, warnSkipped } from '../ratelimit/redis-helpers.js';
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
