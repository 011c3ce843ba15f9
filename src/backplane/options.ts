/**
 * Settings of the Redis backplane and of the shared Redis connection,
 * declared once: the config file's top-level `redis` section, the CLI's
 * `--redis URL`, and createRedisBackplane() all resolve them here. No
 * runtime code: the config schema imports this module.
 */
import { z } from 'zod';
import { defineOptions, int, str } from '../config/option-set.js';

/** Default prefix of the backplane's channel and of every key it (or the demo counter) writes. */
export const DEFAULT_BACKPLANE_PREFIX = 'mcp-ws:';

/** The scalar settings of the `redis` section (the URL is required and declared beside them). */
export const BACKPLANE_OPTIONS = defineOptions({
  keyPrefix: str({ default: DEFAULT_BACKPLANE_PREFIX }),
  connectTimeoutMs: int({ min: 1, default: 2000 }),
  commandTimeoutMs: int({ min: 1, default: 1000 }),
  maxPendingPublishes: int({ min: 1, default: 1024 }),
  maxMessageBytes: int({ min: 256, default: 65_536 }),
});

/** A redis:// or rediss:// URL. */
export const REDIS_URL_PATTERN = /^rediss?:\/\/[^\s]+$/;

/** The config file's top-level `redis` section (`url` may come from `--redis` instead; it is required by then). */
export const redisSectionSchema = z.strictObject({
  url: z.string().regex(REDIS_URL_PATTERN, 'should be a redis:// or rediss:// URL').optional(),
  ...BACKPLANE_OPTIONS.shape,
});

/** Options of createRedisBackplane(). */
export interface BackplaneOptions {
  /** redis:// or rediss:// URL. Required. */
  url: string;
  /** Prefix of the channel (`<keyPrefix>backplane`) and of keys. Default 'mcp-ws:'. */
  keyPrefix?: string;
  /** How long one connection attempt may take, ms. Default 2000. */
  connectTimeoutMs?: number;
  /** Command timeout (PUBLISH, the demo counter's INCRBY), ms: the bound on any wait on Redis. Default 1000. */
  commandTimeoutMs?: number;
  /** PUBLISH commands awaiting Redis's answer at once; past it a publication is dropped (reason "backlog"). Default 1024. */
  maxPendingPublishes?: number;
  /** Largest message published or accepted, bytes (UTF-8 of its JSON). Default 65536. */
  maxMessageBytes?: number;
}

/** {@link BackplaneOptions} with the defaults filled in. */
export type ResolvedBackplaneOptions = Readonly<Required<BackplaneOptions>>;

/** @throws RangeError naming the option and repeating a bad value */
export function resolveBackplaneOptions(options: BackplaneOptions): ResolvedBackplaneOptions {
  if (typeof options !== 'object' || options === null) throw new RangeError('backplane options should be an object with a url');
  if (typeof options.url !== 'string' || !REDIS_URL_PATTERN.test(options.url)) {
    throw new RangeError(`redis.url should be a redis:// or rediss:// URL, got ${JSON.stringify(options.url)}`);
  }
  return Object.freeze({ url: options.url, ...BACKPLANE_OPTIONS.resolve(options, 'redis.') });
}
