/**
 * The `rateLimit` section of the configuration file, as a zod schema
 * fragment: camelCase names from the seed's RateLimitConfig (strategy,
 * maxRequestsPerSecond, maxBurst, windowSizeMs), plus where each limit
 * applies and the Redis store. A parsed value is a {@link RateLimiterOptions}
 * as it is: `new RateLimiter(parsed)`.
 *
 * The schema checks shapes and signs; {@link RateLimiter} checks the rest
 * (a burst a strategy needs, a window too short to hold one request) with
 * the same kind of message.
 */
import { z } from 'zod';
import { RATE_LIMIT_STRATEGIES } from './types.js';

const positive = z.number().positive();
const nonNegative = z.number().nonnegative();
const keyScope = z.enum(['connection', 'identity', 'global']);

/** One limit: the seed's RateLimitConfig plus the leaky bucket's queue. */
export const limitSchema = z.strictObject({
  strategy: z.enum(RATE_LIMIT_STRATEGIES).optional(),
  maxRequestsPerSecond: positive,
  maxBurst: nonNegative.optional(),
  windowSizeMs: positive.optional(),
  queueSize: nonNegative.optional(),
});

/** One limit and the key it is counted by. */
export const scopedLimitSchema = limitSchema.extend({ scope: keyScope.optional() });

/** The Redis store: where, under which key prefix, and what to answer when it is unreachable. */
export const redisConfigSchema = z.strictObject({
  url: z.string().regex(/^rediss?:\/\//, 'should start with redis:// or rediss://').optional(),
  prefix: z.string().optional(),
  failMode: z.enum(['open', 'closed']).optional(),
  timeoutMs: positive.optional(),
  failRetryAfterMs: nonNegative.optional(),
});

/**
 * The `rateLimit` setting. The seed's example works as written:
 * `{ "strategy": "TokenBucket", "maxRequestsPerSecond": 10000, "maxBurst": 20000, "windowSizeMs": 1000 }`
 * (per connection unless `scope` says otherwise).
 */
export const rateLimitConfigSchema = z.strictObject({
  strategy: z.enum(RATE_LIMIT_STRATEGIES).optional(),
  maxRequestsPerSecond: positive.optional(),
  maxBurst: nonNegative.optional(),
  windowSizeMs: positive.optional(),
  queueSize: nonNegative.optional(),
  scope: z.union([keyScope, z.array(keyScope).min(1)]).optional(),
  connection: limitSchema.optional(),
  identity: limitSchema.optional(),
  global: limitSchema.optional(),
  methods: z.record(z.string().min(1), scopedLimitSchema).optional(),
  exemptMethods: z.array(z.string()).optional(),
  notifications: scopedLimitSchema.optional(),
  handshake: limitSchema.optional(),
  redis: redisConfigSchema.optional(),
  maxKeys: z.number().int().positive().optional(),
  evictAfterMs: nonNegative.optional(),
});

/** A parsed `rateLimit` setting. */
export type RateLimitConfig = z.infer<typeof rateLimitConfigSchema>;

/** Ready-made limits. `highThroughput` is the seed's example. */
export const RATE_LIMIT_PRESETS = {
  /** The seed's "high throughput" example: 10,000 requests/s with bursts of 20,000. */
  highThroughput: { strategy: 'TokenBucket', maxRequestsPerSecond: 10_000, maxBurst: 20_000, windowSizeMs: 1000 },
} as const satisfies Record<string, RateLimitConfig>;
