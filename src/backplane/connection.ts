/**
 * One command connection to a Redis server, shared by everything in the
 * process that names the same URL and timeouts: the backplane's publisher,
 * the demo counter, and any later user of Redis state. Reference counted:
 * the client closes when the last holder releases it.
 *
 * The client is built for a path that must never wait on Redis:
 * - no offline queue (`enableOfflineQueue: false`): a command while
 *   disconnected fails at once instead of piling up in memory;
 * - no retries of a command (`maxRetriesPerRequest: 0`), and every command
 *   gives up after `commandTimeoutMs`, so a hung server costs each caller
 *   at most that;
 * - it reconnects by itself, forever (50 ms growing to 1 s between tries).
 *
 * ioredis (a CommonJS package) is required on first use, so an application
 * that never configures Redis never loads it.
 */
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';

type RedisClass = new (url: string, options: RedisOptions) => Redis;

let redisClass: RedisClass | undefined;

/** ioredis's client class, loaded on first use. */
export function loadRedisClass(): RedisClass {
  redisClass ??= (createRequire(import.meta.url)('ioredis') as { Redis: RedisClass }).Redis;
  return redisClass;
}

/** Options of {@link redisConnection}. */
export interface RedisConnectionTimeouts {
  /** How long one connection attempt may take, ms. Default 2000. */
  connectTimeoutMs?: number;
  /** Every command's timeout, ms. Default 1000. */
  commandTimeoutMs?: number;
}

/** A held reference to a shared client. */
export interface SharedRedisConnection {
  /** The ioredis client (connects on creation, reconnects by itself). */
  readonly client: Redis;
  /** Gives the reference back; the last one closes the client. Idempotent. */
  release(): Promise<void>;
}

/** The client options every connection of the package uses, for a given pair of timeouts. */
export function redisClientOptions(connectTimeoutMs: number, commandTimeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: connectTimeoutMs,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
  };
}

const shared = new Map<string, { client: Redis; refs: number }>();

/**
 * A reference to the process's command connection for `url` (and these
 * timeouts), created on the first call. Errors are reported through the
 * client's events (an 'error' listener is installed, so an unreachable
 * server never crashes the process).
 */
export function redisConnection(url: string, timeouts: RedisConnectionTimeouts = {}): SharedRedisConnection {
  const connectTimeoutMs = timeouts.connectTimeoutMs ?? 2000;
  const commandTimeoutMs = timeouts.commandTimeoutMs ?? 1000;
  const key = `${url}\n${connectTimeoutMs}\n${commandTimeoutMs}`;
  let entry = shared.get(key);
  if (entry === undefined) {
    const client = new (loadRedisClass())(url, redisClientOptions(connectTimeoutMs, commandTimeoutMs));
    client.on('error', () => {
      // Seen by its holders through 'close' / 'ready' and failed commands; the client retries.
    });
    entry = { client, refs: 0 };
    shared.set(key, entry);
  }
  entry.refs++;
  const held = entry;
  let released = false;
  return {
    client: held.client,
    release: async () => {
      if (released) return;
      released = true;
      if (--held.refs > 0) return;
      shared.delete(key);
      await quit(held.client);
    },
  };
}

/** Closes a client: QUIT when it is connected (at most timeoutMs), then disconnect. */
export async function quit(client: Redis, timeoutMs = 1000): Promise<void> {
  if (client.status === 'ready') {
    // QUIT waits for Redis; a hung server (a subscriber has no command timeout) must not hold shutdown.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.quit().then(undefined, () => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }
  client.disconnect();
}
