/**
 * RedisStore against a real Redis (REDIS_URL, default 127.0.0.1:6379).
 * Without one these tests are skipped with a loud warning, unless
 * REQUIRE_REDIS=1 (CI), which makes them fail.
 *
 * "Redis stopped" and "Redis hung" are played by a TCP proxy this test
 * runs in front of the shared server, never by touching the server; every
 * run uses its own key prefix and deletes its keys afterwards.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisConnection, RedisStore } from '../../src/ratelimit/store-redis.js';
import { RateLimiter } from '../../src/ratelimit/limiter.js';
import { RATE_LIMIT_STRATEGIES, type RateLimitStrategy } from '../../src/ratelimit/types.js';
import { slowLimit, storeContract } from './store-contract.js';
import {
  buildRateLimitForChildren,
  deleteKeys,
  probeRedis,
  REDIS_REQUIRED,
  REDIS_URL,
  removeBuild,
  TcpProxy,
  uniquePrefix,
  urlVia,
  waitFor,
  warnSkipped,
} from './redis-helpers.js';

const reachable = await probeRedis();
if (!reachable && !REDIS_REQUIRED) warnSkipped();

const PREFIX = uniquePrefix('store-redis');
/** Command timeout for tests that are not about timeouts. */
const SLACK_MS = 2000;
const opened: Array<{ close(): Promise<void> }> = [];

function track<T extends { close(): Promise<void> }>(x: T): T {
  opened.push(x);
  return x;
}

it.runIf(REDIS_REQUIRED)('Redis answers at REDIS_URL (required: REQUIRE_REDIS=1)', () => {
  expect(reachable, `no Redis answers at ${REDIS_URL}`).toBe(true);
});

describe.skipIf(!reachable && !REDIS_REQUIRED)('RedisStore (real Redis)', () => {
  let shared: RedisConnection;

  beforeAll(async () => {
    if (!reachable) throw new Error(`REQUIRE_REDIS=1 but no Redis answers at ${REDIS_URL}`);
    // A generous timeout: a test run shares two cores, and a 100 ms stall must not read as an outage.
    shared = track(new RedisConnection({ url: REDIS_URL, prefix: PREFIX, timeoutMs: SLACK_MS, failMode: 'closed' }));
    expect(await shared.whenUp(5000)).toBe(true);
  });

  afterAll(async () => {
    await Promise.all(opened.splice(0).map((x) => x.close()));
    if (reachable) await deleteKeys(PREFIX);
  });

  describe('contract', () => {
    for (const strategy of RATE_LIMIT_STRATEGIES) {
      storeContract(strategy, (limit) => new RedisStore({ ...limit, connection: shared, namespace: 'contract:' }));
    }
  });

  it('is configured to notice failure within timeoutMs: no offline queue, no retries, a command timeout', () => {
    const c = track(new RedisConnection({ url: REDIS_URL, prefix: PREFIX }));
    expect(c.timeoutMs).toBe(100);
    expect(c.client.options.commandTimeout).toBe(100);
    expect(c.client.options.enableOfflineQueue).toBe(false);
    expect(c.client.options.maxRetriesPerRequest).toBe(0);
    const d = track(new RedisConnection({ url: REDIS_URL, prefix: PREFIX, timeoutMs: 250 }));
    expect(d.client.options.commandTimeout).toBe(250);
  });

  it('uses Redis server time and expires idle keys (PEXPIRE ≈ time back to full)', async () => {
    // 2 tokens at 1/s: 2000 ms back to full, so a loaded machine's delay before PTTL cannot reach the lower bound.
    const store = new RedisStore({ maxRequestsPerSecond: 1, maxBurst: 5, connection: shared, namespace: 'ttl:' });
    await store.check('k', 2);
    const ttl = await shared.client.pttl(`${PREFIX}ttl:k`);
    expect(ttl).toBeGreaterThan(1000);
    expect(ttl).toBeLessThanOrEqual(2001);
    const gcra = new RedisStore({ strategy: 'LeakyBucket', maxRequestsPerSecond: 10, maxBurst: 5, connection: shared, namespace: 'ttl-gcra:' });
    await gcra.check('k', 3);
    expect(await shared.client.pttl(`${PREFIX}ttl-gcra:k`)).toBeLessThanOrEqual(301);
    const sw = new RedisStore({ strategy: 'SlidingWindow', maxRequestsPerSecond: 10, windowSizeMs: 1000, connection: shared, namespace: 'ttl-sw:' });
    await sw.check('k');
    expect(await shared.client.pttl(`${PREFIX}ttl-sw:k`)).toBeLessThanOrEqual(2001);
    // Refill follows Redis time.
    const fast = new RedisStore({ maxRequestsPerSecond: 50, maxBurst: 1, connection: shared, namespace: 'refill:' });
    expect((await fast.check('k')).allowed).toBe(true);
    const denied = await fast.check('k');
    expect(denied.allowed).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, denied.retryAfterMs + 5));
    expect((await fast.check('k')).allowed).toBe(true);
  });

  it('works through EVAL when the server has never seen the script (EVALSHA falls back)', async () => {
    await shared.client.script('FLUSH');
    const store = new RedisStore({ maxRequestsPerSecond: 1, maxBurst: 2, connection: shared, namespace: 'noscript:' });
    expect((await store.check('k')).allowed).toBe(true);
    expect((await store.check('k')).allowed).toBe(true);
    expect((await store.check('k')).allowed).toBe(false);
  });

  describe('two processes × 500 concurrent checks on one key allow exactly the limit', () => {
    let build = '';
    beforeAll(() => {
      build = buildRateLimitForChildren();
    });
    afterAll(() => removeBuild(build));

    it.each(RATE_LIMIT_STRATEGIES)('%s: 300 of 1,000', async (strategy: RateLimitStrategy) => {
      const prefix = `${PREFIX}race:${strategy}:`;
      const child = fileURLToPath(new URL('./fixtures/redis-child.mjs', import.meta.url));
      const procs = [0, 1].map(() => spawn(process.execPath, [child, build, REDIS_URL, prefix, strategy, '500'], { stdio: ['pipe', 'pipe', 'inherit'] }));
      const outputs = procs.map((p) => {
        const lines = createInterface({ input: p.stdout! });
        const it = lines[Symbol.asyncIterator]();
        return { p, next: async () => (await it.next()).value as string | undefined };
      });
      try {
        for (const o of outputs) expect(await o.next()).toBe('ready');
        for (const o of outputs) o.p.stdin!.write('go\n');
        const results = await Promise.all(outputs.map(async (o) => JSON.parse((await o.next()) ?? '{}') as { allowed: number; errors: number; failed: number }));
        expect(results.map((r) => r.errors + r.failed)).toEqual([0, 0]);
        expect(results[0]!.allowed + results[1]!.allowed).toBe(300);
      } finally {
        for (const p of procs) p.kill();
      }
    });
  });

  describe('Redis unreachable mid-run', () => {
    const run = async (failMode: 'open' | 'closed'): Promise<void> => {
      const proxy = new TcpProxy();
      await proxy.start();
      const events: string[] = [];
      const conn = track(
        new RedisConnection({ url: urlVia(proxy.port), prefix: `${PREFIX}down-${failMode}:`, failMode, timeoutMs: SLACK_MS, onStateChange: (s) => events.push(s) }),
      );
      try {
        expect(await conn.whenUp(5000)).toBe(true);
        const store = new RedisStore({ ...slowLimit('TokenBucket'), connection: conn });
        for (let i = 0; i < 5; i++) expect((await store.check('k')).allowed).toBe(true);
        expect((await store.check('k')).allowed).toBe(false);

        await proxy.stop(); // "Redis stopped"
        expect(await waitFor(() => conn.state === 'down', 2000)).toBe(true);
        const during = await store.check('k');
        if (failMode === 'open') {
          expect(during).toMatchObject({ allowed: true });
          expect(conn.failedOpen).toBeGreaterThan(0);
        } else {
          expect(during).toMatchObject({ allowed: false, retryAfterMs: 1000 });
          expect(conn.failedClosed).toBeGreaterThan(0);
        }

        await proxy.start(); // back, on the same port: the client reconnects by itself
        expect(await waitFor(() => conn.state === 'up', 5000)).toBe(true);
        expect((await store.check('k')).allowed).toBe(false); // the state survived: limits apply again
        expect((await store.check('other')).allowed).toBe(true);
        expect(events).toEqual(['up', 'down', 'up']);
      } finally {
        await conn.close();
        await proxy.stop();
      }
    };

    it('failMode open: allows while down, limits again once back; one event per change', () => run('open'));
    it('failMode closed: denies while down, limits again once back; one event per change', () => run('closed'));

    it('a hung Redis: commands time out, the store goes down, a probe brings it back', async () => {
      const proxy = new TcpProxy();
      await proxy.start();
      const events: string[] = [];
      const conn = track(new RedisConnection({ url: urlVia(proxy.port), prefix: `${PREFIX}hung:`, failMode: 'closed', timeoutMs: 300, onStateChange: (s) => events.push(s) }));
      try {
        expect(await conn.whenUp(5000)).toBe(true);
        const store = new RedisStore({ ...slowLimit('LeakyBucket'), connection: conn });
        expect((await store.check('k')).allowed).toBe(true);

        proxy.hang();
        const started = Date.now();
        const during = await store.check('k');
        expect(Date.now() - started).toBeLessThan(2000);
        expect(during).toMatchObject({ allowed: false, retryAfterMs: 1000 });
        expect(conn.state).toBe('down');
        expect(conn.errors).toBeGreaterThan(0);
        expect(conn.lastError?.message).toMatch(/timed out/i);
        // While down, checks are answered at once, not after another timeout each.
        const quick = Date.now();
        await Promise.all(Array.from({ length: 50 }, () => store.check('k')));
        expect(Date.now() - quick).toBeLessThan(2000);

        proxy.release();
        let up = false;
        for (let i = 0; i < 100 && !up; i++) {
          await store.check('probe');
          up = conn.state === 'up';
          if (!up) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(up).toBe(true);
        expect(events).toEqual(['up', 'down', 'up']);
      } finally {
        await conn.close();
        await proxy.stop();
      }
    });
  });

  describe('RateLimiter with Redis', () => {
    it('shares identity limits between limiters (processes); connection limits stay in memory', async () => {
      const redis = { url: REDIS_URL, prefix: `${PREFIX}limiter:`, timeoutMs: SLACK_MS };
      const states: string[] = [];
      const a = track(new RateLimiter({ connection: { maxRequestsPerSecond: 100 }, identity: { ...slowLimit('TokenBucket'), maxBurst: 3 }, redis, onStoreStateChange: (s) => states.push(s) }));
      const b = track(new RateLimiter({ connection: { maxRequestsPerSecond: 100 }, identity: { ...slowLimit('TokenBucket'), maxBurst: 3 }, redis }));
      expect(await a.redis!.whenUp(5000)).toBe(true);
      expect(await b.redis!.whenUp(5000)).toBe(true);
      const req = { connectionKey: 'c1', identityKey: 'alice', ip: '10.0.0.1', method: 'tools/call' };
      const v = a.checkRequest(req);
      expect(v).toBeInstanceOf(Promise);
      expect(await v).toBeNull();
      expect(await a.checkRequest(req)).toBeNull();
      expect(await b.checkRequest({ ...req, connectionKey: 'c2' })).toBeNull();
      expect(await b.checkRequest({ ...req, connectionKey: 'c2' })).toMatchObject({ kind: 'denied', scope: 'identity', strategy: 'TokenBucket' });
      expect(await a.checkRequest(req)).toMatchObject({ kind: 'denied', scope: 'identity' });
      expect(await a.checkRequest({ ...req, identityKey: 'bob' })).toBeNull();
      expect(states).toEqual(['up']);
      // A ping is exempt and stays synchronous.
      expect(a.checkRequest({ ...req, method: 'ping' })).toBeNull();
      const text = a.metrics().find((m) => m.name === 'mcp_ws_ratelimit_store_up')!.read();
      expect(text).toEqual([{ value: 1 }]);
    });

    it('a refusal in Redis refunds the memory scopes', async () => {
      const prefix = `${PREFIX}refund:`;
      const limiter = track(
        new RateLimiter({
          connection: { ...slowLimit('TokenBucket'), maxBurst: 2 },
          global: { ...slowLimit('TokenBucket'), maxBurst: 1 },
          redis: { url: REDIS_URL, prefix, timeoutMs: SLACK_MS },
        }),
      );
      expect(await limiter.redis!.whenUp(5000)).toBe(true);
      const req = { connectionKey: 'c1', ip: '10.0.0.1', method: 'tools/call' };
      expect(await limiter.checkRequest(req)).toBeNull(); // c1: 1 left; global: 0 left
      expect(await limiter.checkRequest(req)).toMatchObject({ scope: 'global' }); // c1's token refunded
      await limiter.redis!.client.del(`${prefix}global:global`); // the global bucket starts afresh
      expect(await limiter.checkRequest(req)).toBeNull(); // possible only with the refunded token
      await limiter.redis!.client.del(`${prefix}global:global`);
      expect(await limiter.checkRequest(req)).toMatchObject({ scope: 'connection' });
    });

    it('a refusal in memory costs no round trip', async () => {
      const proxy = new TcpProxy();
      await proxy.start();
      const limiter = track(
        new RateLimiter({
          connection: { ...slowLimit('TokenBucket'), maxBurst: 1 },
          global: { maxRequestsPerSecond: 1000 },
          redis: { url: urlVia(proxy.port), prefix: `${PREFIX}no-trip:`, failMode: 'open' },
        }),
      );
      try {
        expect(await limiter.redis!.whenUp(5000)).toBe(true);
        await proxy.stop();
        expect(await waitFor(() => limiter.redis!.state === 'down', 2000)).toBe(true);
        const req = { connectionKey: 'c1', ip: '10.0.0.1', method: 'tools/call' };
        expect(await limiter.checkRequest(req)).toBeNull(); // allowed by the failure mode
        expect(limiter.redis!.failedOpen).toBe(1);
        expect(await limiter.checkRequest(req)).toMatchObject({ scope: 'connection' });
        expect(limiter.redis!.failedOpen).toBe(1); // Redis was not asked
      } finally {
        await limiter.close();
        await proxy.stop();
      }
    });
  });
});
