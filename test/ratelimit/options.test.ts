/**
 * Settings that make no sense are refused once, at construction, with a
 * RangeError naming the option and repeating the value; the zod fragment
 * accepts the seed's example as written and feeds RateLimiter directly.
 */
import { describe, expect, it } from 'vitest';
import { resolveRateLimitOptions, type RateLimitOptions } from '../../src/ratelimit/options.js';
import { RateLimiter, type RateLimiterOptions } from '../../src/ratelimit/limiter.js';
import { RATE_LIMIT_PRESETS, rateLimitConfigSchema } from '../../src/ratelimit/config.js';
import { TokenBucketLimiter } from '../../src/ratelimit/token-bucket.js';
import { RedisConnection } from '../../src/ratelimit/store-redis.js';

describe('resolveRateLimitOptions', () => {
  it('applies defaults: TokenBucket, burst = rate (at least 1), 1 s window, no queue', () => {
    expect(resolveRateLimitOptions({ maxRequestsPerSecond: 50 })).toEqual({
      strategy: 'TokenBucket',
      maxRequestsPerSecond: 50,
      maxBurst: 50,
      windowSizeMs: 1000,
      queueSize: 0,
      capacity: 50,
    });
    expect(resolveRateLimitOptions({ maxRequestsPerSecond: 0.2 }).maxBurst).toBe(1);
    expect(resolveRateLimitOptions({ strategy: 'SlidingWindow', maxRequestsPerSecond: 5, windowSizeMs: 60_000 }).capacity).toBe(300);
  });

  it.each<[string, unknown, string]>([
    ['rate 0', { maxRequestsPerSecond: 0 }, 'maxRequestsPerSecond should be a positive number, got 0'],
    ['negative rate', { maxRequestsPerSecond: -5 }, 'maxRequestsPerSecond should be a positive number, got -5'],
    ['missing rate', {}, 'maxRequestsPerSecond should be a positive number, got undefined'],
    ['NaN rate', { maxRequestsPerSecond: NaN }, 'maxRequestsPerSecond should be a positive number, got NaN'],
    ['infinite rate', { maxRequestsPerSecond: Infinity }, 'maxRequestsPerSecond should be a positive number, got Infinity'],
    ['rate as a string', { maxRequestsPerSecond: '10' }, 'maxRequestsPerSecond should be a positive number, got "10"'],
    [
      'unknown strategy',
      { strategy: 'FixedWindow', maxRequestsPerSecond: 1 },
      'strategy should be one of TokenBucket, LeakyBucket, SlidingWindow, got "FixedWindow"',
    ],
    ['burst 0, token bucket', { maxRequestsPerSecond: 10, maxBurst: 0 }, 'maxBurst should be at least 1 with strategy TokenBucket (room for one request), got 0'],
    [
      'burst 0.5, leaky bucket',
      { strategy: 'LeakyBucket', maxRequestsPerSecond: 10, maxBurst: 0.5 },
      'maxBurst should be at least 1 with strategy LeakyBucket (room for one request), got 0.5',
    ],
    ['negative burst', { strategy: 'SlidingWindow', maxRequestsPerSecond: 10, maxBurst: -1 }, 'maxBurst should be a non-negative number, got -1'],
    ['negative window', { strategy: 'SlidingWindow', maxRequestsPerSecond: 10, windowSizeMs: -5 }, 'windowSizeMs should be a positive number, got -5'],
    ['zero window', { strategy: 'SlidingWindow', maxRequestsPerSecond: 10, windowSizeMs: 0 }, 'windowSizeMs should be a positive number, got 0'],
    [
      'window too short for one request',
      { strategy: 'SlidingWindow', maxRequestsPerSecond: 0.5, windowSizeMs: 1000 },
      'maxRequestsPerSecond × windowSizeMs / 1000 should be at least 1 with strategy SlidingWindow (one request per window), got 0.5 × 1000 / 1000 = 0.5',
    ],
    ['negative queue', { strategy: 'LeakyBucket', maxRequestsPerSecond: 10, queueSize: -1 }, 'queueSize should be a non-negative number, got -1'],
    ['queue without a leaky bucket', { maxRequestsPerSecond: 10, queueSize: 5 }, 'queueSize applies only to strategy LeakyBucket, got 5 with TokenBucket'],
  ])('%s', (_name, options, message) => {
    expect(() => resolveRateLimitOptions(options as RateLimitOptions)).toThrow(new RangeError(message));
  });

  it('burst 0 is fine where the strategy does not use it', () => {
    expect(resolveRateLimitOptions({ strategy: 'SlidingWindow', maxRequestsPerSecond: 10, maxBurst: 0 }).capacity).toBe(10);
  });

  it('limiters validate their own options too', () => {
    expect(() => new TokenBucketLimiter({ maxRequestsPerSecond: 0 })).toThrow(RangeError);
    expect(() => new TokenBucketLimiter({ maxRequestsPerSecond: 1 }, { maxKeys: 0 })).toThrow('maxKeys should be a positive integer, got 0');
    expect(() => new TokenBucketLimiter({ maxRequestsPerSecond: 1 }, { evictAfterMs: -1 })).toThrow('evictAfterMs should be a non-negative number, got -1');
  });
});

describe('RateLimiter options', () => {
  it.each<[string, RateLimiterOptions, string]>([
    ['a method limit names its path', { methods: { 'tools/call': { maxRequestsPerSecond: 0 } } }, 'methods["tools/call"].maxRequestsPerSecond should be a positive number, got 0'],
    ['a scope limit names its path', { identity: { maxRequestsPerSecond: 5, maxBurst: 0 } }, 'identity.maxBurst should be at least 1 with strategy TokenBucket (room for one request), got 0'],
    ['an unknown scope', { maxRequestsPerSecond: 5, scope: 'session' as never }, 'scope should be one of "connection", "identity", "global", got "session"'],
    ['an unknown method scope', { methods: { 'tools/call': { maxRequestsPerSecond: 5, scope: 'ip' as never } } }, 'methods["tools/call"].scope should be one of "connection", "identity", "global", got "ip"'],
    ['one scope set twice', { maxRequestsPerSecond: 5, scope: 'identity', identity: { maxRequestsPerSecond: 6 } }, 'identity is set twice: by the top-level limit with scope "identity" and by identity'],
    ['a scope without a top-level limit', { scope: 'global' }, 'scope applies to the top-level limit, which needs maxRequestsPerSecond; got scope "global" alone'],
    ['top-level fields without a rate', { strategy: 'SlidingWindow', windowSizeMs: 1000 }, 'maxRequestsPerSecond should be a positive number, got undefined'],
    ['notifications', { notifications: { maxRequestsPerSecond: -1 } }, 'notifications.maxRequestsPerSecond should be a positive number, got -1'],
    ['handshake', { handshake: { strategy: 'SlidingWindow', maxRequestsPerSecond: 1, windowSizeMs: 10 } }, 'handshake.maxRequestsPerSecond × windowSizeMs / 1000 should be at least 1 with strategy SlidingWindow (one request per window), got 1 × 10 / 1000 = 0.01'],
    ['redis fail mode', { identity: { maxRequestsPerSecond: 1 }, redis: { failMode: 'sideways' as never } }, 'redis.failMode should be one of open, closed, got "sideways"'],
    ['redis timeout', { identity: { maxRequestsPerSecond: 1 }, redis: { timeoutMs: 0 } }, 'redis.timeoutMs should be a positive number, got 0'],
  ])('%s', (_name, options, message) => {
    expect(() => new RateLimiter(options)).toThrow(new RangeError(message));
  });

  it('a RedisConnection validates before it connects', () => {
    expect(() => new RedisConnection({ timeoutMs: -1, url: 'redis://127.0.0.1:1' })).toThrow(RangeError);
  });
});

describe('rateLimitConfigSchema', () => {
  it('accepts the seed\'s high-throughput example as written, and RateLimiter takes the result', () => {
    const config = rateLimitConfigSchema.parse(JSON.parse('{"strategy":"TokenBucket","maxRequestsPerSecond":10000,"maxBurst":20000,"windowSizeMs":1000}'));
    expect(config).toEqual(RATE_LIMIT_PRESETS.highThroughput);
    const limiter = new RateLimiter({ ...config, clock: () => 0 });
    const req = { connectionKey: 'c', ip: '127.0.0.1', method: 'tools/call' };
    let allowed = 0;
    for (let i = 0; i < 25_000; i++) if (limiter.checkRequest(req) === null) allowed++;
    expect(allowed).toBe(20_000);
  });

  it('accepts every section', () => {
    const config = rateLimitConfigSchema.parse({
      strategy: 'LeakyBucket',
      maxRequestsPerSecond: 100,
      maxBurst: 20,
      queueSize: 10,
      scope: ['connection', 'identity'],
      global: { strategy: 'SlidingWindow', maxRequestsPerSecond: 10_000, windowSizeMs: 1000 },
      methods: { 'tools/call': { maxRequestsPerSecond: 10, scope: 'identity' }, 'resources/read': { maxRequestsPerSecond: 50 } },
      exemptMethods: ['ping', 'tools/list'],
      notifications: { maxRequestsPerSecond: 20 },
      handshake: { maxRequestsPerSecond: 5, maxBurst: 10 },
      redis: { url: 'redis://127.0.0.1:6379', prefix: 'app:rl:', failMode: 'closed', timeoutMs: 100 },
      maxKeys: 100_000,
      evictAfterMs: 5000,
    });
    expect(config.redis?.failMode).toBe('closed');
    // Typed as RateLimiterOptions without a cast (the lead plugs this into the server config).
    const options: RateLimiterOptions = { ...config, redis: undefined };
    expect(() => new RateLimiter(options)).not.toThrow();
  });

  it.each<[string, unknown]>([
    ['an unknown key', { maxRequestsPerSecond: 1, maxRequestPerSecond: 2 }],
    ['a snake_case key', { max_requests_per_second: 1 }],
    ['an unknown strategy', { strategy: 'Fixed', maxRequestsPerSecond: 1 }],
    ['rate 0', { maxRequestsPerSecond: 0 }],
    ['a negative window', { maxRequestsPerSecond: 1, windowSizeMs: -1 }],
    ['an unknown key in a scope', { identity: { maxRequestsPerSecond: 1, burst: 2 } }],
    ['a scope limit without a rate', { global: { strategy: 'TokenBucket' } }],
    ['a bad fail mode', { redis: { failMode: 'maybe' } }],
    ['a bad redis url', { redis: { url: 'http://127.0.0.1:6379' } }],
    ['an empty scope list', { maxRequestsPerSecond: 1, scope: [] }],
  ])('rejects %s', (_name, value) => {
    expect(rateLimitConfigSchema.safeParse(value).success).toBe(false);
  });
});
