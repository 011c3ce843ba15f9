/**
 * RateLimiter with every limit in memory: scopes, their combination and
 * refunds, exempt methods, notifications, handshakes, queue mode, counters
 * and metrics.
 */
import { describe, expect, it } from 'vitest';
import { RateLimiter, type RateLimitRequest } from '../../src/ratelimit/limiter.js';
import { RATE_LIMIT_PRESETS } from '../../src/ratelimit/config.js';
import { createTurnClock } from '../../src/ratelimit/clock.js';
import { counterIndex } from '../../src/ratelimit/counters.js';
import { createRegistry, ServerMetrics } from '../../src/metrics/metrics.js';
import { FakeClock } from './fake-clock.js';

const SLOW = { maxRequestsPerSecond: 0.001 }; // no refill during a test

function request(connectionKey: string, method = 'tools/call', identityKey?: string, ip = '10.0.0.1'): RateLimitRequest {
  return { connectionKey, identityKey, ip, method };
}

function countAllowed(limiter: RateLimiter, req: RateLimitRequest, n: number): number {
  let allowed = 0;
  for (let i = 0; i < n; i++) if (limiter.checkRequest(req) === null) allowed++;
  return allowed;
}

describe('RateLimiter', () => {
  it('the seed\'s high-throughput example works as written: per connection, 20,000 at once', () => {
    const clock = new FakeClock(1000);
    const limiter = new RateLimiter({ ...RATE_LIMIT_PRESETS.highThroughput, clock: clock.now });
    expect(countAllowed(limiter, request('c1'), 20_000)).toBe(20_000);
    expect(limiter.checkRequest(request('c1'))).toEqual({
      kind: 'denied',
      scope: 'connection',
      strategy: 'TokenBucket',
      limit: 10_000,
      retryAfterMs: 1,
      method: undefined,
    });
    expect(countAllowed(limiter, request('c2'), 10)).toBe(10);
    clock.advance(1000);
    expect(countAllowed(limiter, request('c1'), 20_000)).toBe(10_000);
  });

  it('with every limit in memory the answer is synchronous: null, not a promise', () => {
    const limiter = new RateLimiter({ maxRequestsPerSecond: 100, identity: { maxRequestsPerSecond: 100 }, global: { maxRequestsPerSecond: 1000 } });
    const v = limiter.checkRequest(request('c'));
    expect(v).toBeNull();
  });

  it('no limit configured: everything is allowed and the limiter says it is empty', () => {
    const limiter = new RateLimiter();
    expect(limiter.empty).toBe(true);
    expect(limiter.checkRequest(request('c'))).toBeNull();
    expect(limiter.checkNotification(request('c', 'notifications/progress'))).toBeNull();
    expect(limiter.checkHandshake('10.0.0.1')).toBeNull();
  });

  it('connection and identity combine: the first to refuse names its scope', () => {
    const limiter = new RateLimiter({ connection: { ...SLOW, maxBurst: 5 }, identity: { ...SLOW, maxBurst: 8 }, clock: () => 0 });
    expect(countAllowed(limiter, request('c1', 'tools/call', 'alice'), 5)).toBe(5);
    expect(limiter.checkRequest(request('c1', 'tools/call', 'alice'))).toMatchObject({ kind: 'denied', scope: 'connection' });
    expect(countAllowed(limiter, request('c2', 'tools/call', 'alice'), 3)).toBe(3);
    expect(limiter.checkRequest(request('c2', 'tools/call', 'alice'))).toMatchObject({ kind: 'denied', scope: 'identity' });
    expect(limiter.checkRequest(request('c3', 'tools/call', 'bob'))).toBeNull();
  });

  it('a refusal by a later scope refunds the earlier ones', () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ connection: { ...SLOW, maxBurst: 2 }, global: { maxRequestsPerSecond: 1000, maxBurst: 3 }, clock: clock.now });
    expect(countAllowed(limiter, request('c1'), 2)).toBe(2);
    expect(limiter.checkRequest(request('c2'))).toBeNull(); // global now empty, c2 has 1 left
    expect(limiter.checkRequest(request('c2'))).toMatchObject({ scope: 'global', retryAfterMs: 1 });
    clock.advance(1); // one global token back; c2's connection token was refunded
    expect(limiter.checkRequest(request('c2'))).toBeNull();
  });

  it('anonymous sessions are counted per IP, apart from identities', () => {
    const limiter = new RateLimiter({ identity: { ...SLOW, maxBurst: 2 }, clock: () => 0 });
    expect(countAllowed(limiter, request('c1', 'x', undefined, '10.0.0.9'), 1)).toBe(1);
    expect(countAllowed(limiter, request('c2', 'x', undefined, '10.0.0.9'), 5)).toBe(1);
    expect(limiter.checkRequest(request('c3', 'x', undefined, '10.0.0.9'))).toMatchObject({ scope: 'identity' });
    // A subject spelt like that IP has its own budget.
    expect(countAllowed(limiter, request('c4', 'x', '10.0.0.9'), 5)).toBe(2);
    expect(countAllowed(limiter, request('c5', 'x', undefined, '10.0.0.10'), 5)).toBe(2);
  });

  it('the top-level limit can apply at several scopes, each with its own state', () => {
    const limiter = new RateLimiter({ ...SLOW, maxBurst: 3, scope: ['connection', 'global'], clock: () => 0 });
    expect(countAllowed(limiter, request('c1'), 2)).toBe(2);
    expect(countAllowed(limiter, request('c2'), 5)).toBe(1);
    expect(limiter.checkRequest(request('c3'))).toMatchObject({ scope: 'global' });
  });

  it('per-method limits: tools/call apart from lists; ping is exempt from everything', () => {
    const limiter = new RateLimiter({
      connection: { ...SLOW, maxBurst: 10 },
      methods: { 'tools/call': { ...SLOW, maxBurst: 2 }, 'resources/read': { ...SLOW, maxBurst: 1, scope: 'global' } },
      clock: () => 0,
    });
    const c = 'c1';
    expect(countAllowed(limiter, request(c, 'tools/call', 'alice'), 2)).toBe(2);
    expect(limiter.checkRequest(request(c, 'tools/call', 'alice'))).toEqual({
      kind: 'denied',
      scope: 'method',
      strategy: 'TokenBucket',
      limit: 0.001,
      retryAfterMs: 1_000_000,
      method: 'tools/call',
    });
    // The refused tools/call gave its connection token back: 8 left for lists.
    expect(countAllowed(limiter, request(c, 'tools/list', 'alice'), 20)).toBe(8);
    expect(limiter.checkRequest(request(c, 'tools/list', 'alice'))).toMatchObject({ scope: 'connection' });
    expect(countAllowed(limiter, request(c, 'ping', 'alice'), 100)).toBe(100);
    // Per identity by default: bob has his own tools/call budget (on his own connection).
    expect(countAllowed(limiter, request('c2', 'tools/call', 'bob'), 5)).toBe(2);
    // A globally scoped method limit is shared.
    expect(countAllowed(limiter, request('c3', 'resources/read', 'carol'), 3)).toBe(1);
  });

  it('exemptMethods replaces the default', () => {
    const limiter = new RateLimiter({ ...SLOW, maxBurst: 1, exemptMethods: ['tools/list'], clock: () => 0 });
    expect(countAllowed(limiter, request('c', 'tools/list'), 5)).toBe(5);
    expect(countAllowed(limiter, request('c', 'ping'), 5)).toBe(1);
  });

  it('notifications have their own limit, per connection by default', () => {
    const limiter = new RateLimiter({ ...SLOW, maxBurst: 1, notifications: { ...SLOW, maxBurst: 3 }, clock: () => 0 });
    const n = request('c1', 'notifications/progress');
    let allowed = 0;
    for (let i = 0; i < 10; i++) if (limiter.checkNotification(n) === null) allowed++;
    expect(allowed).toBe(3);
    expect(limiter.checkNotification(n)).toMatchObject({ kind: 'denied', scope: 'notification' });
    expect(limiter.checkNotification(request('c2', 'notifications/progress'))).toBeNull();
    expect(limiter.checkRequest(request('c1'))).toBeNull(); // requests are counted apart
  });

  it('handshakes per IP', () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ handshake: { maxRequestsPerSecond: 2, maxBurst: 4 }, clock: clock.now });
    let allowed = 0;
    for (let i = 0; i < 10; i++) if (limiter.checkHandshake('192.0.2.1') === null) allowed++;
    expect(allowed).toBe(4);
    expect(limiter.checkHandshake('192.0.2.1')).toMatchObject({ kind: 'denied', scope: 'handshake', retryAfterMs: 500 });
    expect(limiter.checkHandshake('192.0.2.2')).toBeNull();
    clock.advance(500);
    expect(limiter.checkHandshake('192.0.2.1')).toBeNull();
  });

  it('queue mode: a leaky bucket with a queue answers Delay verdicts', () => {
    const limiter = new RateLimiter({ strategy: 'LeakyBucket', maxRequestsPerSecond: 10, maxBurst: 1, queueSize: 2, clock: () => 0 });
    const req = request('c');
    expect(limiter.checkRequest(req)).toBeNull();
    expect(limiter.checkRequest(req)).toEqual({ kind: 'delayed', scope: 'connection', strategy: 'LeakyBucket', limit: 10, delayMs: 100, method: undefined });
    expect(limiter.checkRequest(req)).toMatchObject({ kind: 'delayed', delayMs: 200 });
    expect(limiter.checkRequest(req)).toMatchObject({ kind: 'denied', retryAfterMs: 100 });
    const snap = limiter.counters.snapshot();
    expect(snap).toEqual({
      allowed: { connection: { LeakyBucket: 1 } },
      denied: { connection: { LeakyBucket: 1 } },
      delayed: { connection: { LeakyBucket: 2 } },
    });
  });

  it('counts allowed and denied by scope and strategy, as plain numbers', () => {
    const limiter = new RateLimiter({
      connection: { ...SLOW, maxBurst: 3 },
      global: { strategy: 'SlidingWindow', maxRequestsPerSecond: 10, windowSizeMs: 1000 },
      clock: () => 0,
    });
    countAllowed(limiter, request('c'), 5);
    const c = limiter.counters;
    expect(c.allowed[counterIndex('connection', 'TokenBucket')]).toBe(3);
    expect(c.denied[counterIndex('connection', 'TokenBucket')]).toBe(2);
    expect(c.allowed[counterIndex('global', 'SlidingWindow')]).toBe(3);
    expect(typeof c.allowed[0]).toBe('number');
  });

  it('exports its counters through createRegistry\'s extra metrics', async () => {
    const limiter = new RateLimiter({ ...SLOW, maxBurst: 1, clock: () => 0 });
    countAllowed(limiter, request('c'), 3);
    const registry = createRegistry(new ServerMetrics(), { defaultMetrics: false, extra: limiter.metrics() });
    const text = await registry.metrics();
    expect(text).toContain('mcp_ws_ratelimit_allowed_total{scope="connection",strategy="TokenBucket"} 1');
    expect(text).toContain('mcp_ws_ratelimit_denied_total{scope="connection",strategy="TokenBucket"} 2');
    expect(text).toContain('mcp_ws_ratelimit_store_up 1');
    expect(text).toContain('mcp_ws_ratelimit_keys 1');
    expect(text).toContain('mcp_ws_ratelimit_store_errors_total 0');
  });

  it('sweep frees idle keys of every scope', () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ maxRequestsPerSecond: 10, maxBurst: 2, identity: { maxRequestsPerSecond: 10 }, clock: clock.now, evictAfterMs: 0 });
    for (let i = 0; i < 100; i++) expect(limiter.checkRequest(request(`c${i}`, 'x', undefined, `10.0.${i}.1`))).toBeNull();
    expect(limiter.memoryKeys).toBe(200);
    clock.advance(100);
    expect(limiter.sweep()).toBe(200);
    expect(limiter.memoryKeys).toBe(0);
  });

  it('releaseConnection drops a closed connection\'s buckets at once', () => {
    const limiter = new RateLimiter({
      maxRequestsPerSecond: 10,
      identity: { maxRequestsPerSecond: 10 },
      methods: { 'tools/call': { maxRequestsPerSecond: 1, scope: 'connection' } },
      notifications: { maxRequestsPerSecond: 5 },
      clock: () => 0,
    });
    expect(limiter.checkRequest(request('c1'))).toBeNull();
    expect(limiter.checkNotification(request('c1', 'notifications/cancelled'))).toBeNull();
    expect(limiter.memoryKeys).toBe(4);
    expect(limiter.releaseConnection('c1')).toBe(3);
    expect(limiter.memoryKeys).toBe(1); // the IP's bucket stays
    expect(limiter.releaseConnection('c1')).toBe(0);
  });

  it('reads the clock once per request, whatever the number of scopes', () => {
    let reads = 0;
    const limiter = new RateLimiter({
      maxRequestsPerSecond: 100,
      identity: { maxRequestsPerSecond: 100 },
      global: { maxRequestsPerSecond: 100 },
      methods: { 'tools/call': { maxRequestsPerSecond: 100 } },
      clock: () => {
        reads++;
        return 0;
      },
    });
    expect(limiter.checkRequest(request('c'))).toBeNull();
    expect(reads).toBe(1);
  });
});

describe('createTurnClock', () => {
  it('reads its source once per event-loop turn', async () => {
    let t = 0;
    let reads = 0;
    const clock = createTurnClock(() => {
      reads++;
      return (t += 10);
    });
    expect([clock(), clock(), clock()]).toEqual([10, 10, 10]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(clock()).toBe(20);
    expect(reads).toBe(2);
  });
});
