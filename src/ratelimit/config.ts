/**
 * The `rateLimit` section of the configuration file, as a zod schema
 * fragment: camelCase names from the seed's RateLimitConfig (strategy,
 * maxRequestsPerSecond, maxBurst, windowSizeMs), plus where each limit
 * applies and the Redis store. A parsed value is a {@link RateLimiterOptions}
 * as it is: `new RateLimiter(parsed)`.
 *
 * The scalar fields come from the declarations in options.ts, so the schema
 * and the limiter accept the same values; {@link RateLimiter} checks what
 * lies between settings (a burst a strategy needs, a window too short to
 * hold one request) with the same kind of message.
 */
import { z } from 'zod';
import { LIMIT_OPTIONS, RATE_LIMITER_OPTIONS, REDIS_OPTIONS } from './options.js';

const keyScope = z.enum(['connection', 'identity', 'global']);

/** One limit: the seed's RateLimitConfig plus the leaky bucket's queue. The rate is required. */
export const limitSchema = z.strictObject({
  ...LIMIT_OPTIONS.shape,
  maxRequestsPerSecond: LIMIT_OPTIONS.shape.maxRequestsPerSecond.unwrap(),
});

/** One limit and the key it is counted by. */
export const scopedLimitSchema = limitSchema.extend({ scope: keyScope.optional() });

/** The Redis store: where, under which key prefix, and what to answer when it is unreachable. */
export const redisConfigSchema = z.strictObject({
  url: z.string().regex(/^rediss?:\/\//, 'should start with redis:// or rediss://').optional(),
  prefix: z.string().optional(),
  ...REDIS_OPTIONS.shape,
});

/**
 * The `rateLimit` setting. The seed's example works as written:
 * `{ "strategy": "TokenBucket", "maxRequestsPerSecond": 10000, "maxBurst": 20000, "windowSizeMs": 1000 }`
 * (per connection unless `scope` says otherwise).
 */
export const rateLimitConfigSchema = z.strictObject({
  ...LIMIT_OPTIONS.shape,
  scope: z.union([keyScope, z.array(keyScope).min(1)]).optional(),
  connection: limitSchema.optional(),
  identity: limitSchema.optional(),
  global: limitSchema.optional(),
  methods: z.record(z.string().min(1), scopedLimitSchema).optional(),
  exemptMethods: z.array(z.string()).optional(),
  notifications: scopedLimitSchema.optional(),
  handshake: limitSchema.optional(),
  redis: redisConfigSchema.optional(),
  ...RATE_LIMITER_OPTIONS.shape,
});

/** A parsed `rateLimit` setting. */
export type RateLimitConfig = z.infer<typeof rateLimitConfigSchema>;

/** Ready-made limits. `highThroughput` is the seed's example. */
export const RATE_LIMIT_PRESETS = {
  /** The seed's "high throughput" example: 10,000 requests/s with bursts of 20,000. */
  highThroughput: { strategy: 'TokenBucket', maxRequestsPerSecond: 10_000, maxBurst: 20_000, windowSizeMs: 1000 },
} as const satisfies Record<string, RateLimitConfig>;
