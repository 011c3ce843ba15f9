/**
 * The demo's shared counter (`demo://counter`, the `increment` tool): in
 * memory for one process, or in Redis (INCRBY on one key) when the server
 * has a backplane, so every process behind a load balancer counts the same
 * number. A Redis command gives up after the connection's command timeout:
 * a call while Redis is down fails quickly with a clear message.
 */
import type { Redis } from 'ioredis';

/** Where the demo counter lives. */
export interface DemoCounter {
  /** The current value. */
  get(): Promise<number>;
  /** Adds `by` (an integer) and returns the new value. */
  add(by: number): Promise<number>;
}

/** A counter of this process only. */
export function memoryCounter(): DemoCounter {
  let value = 0;
  return {
    get: () => Promise.resolve(value),
    add: (by) => Promise.resolve((value += by)),
  };
}

/** A counter kept in Redis under `key`, through a client with a command timeout and no offline queue. */
export function redisCounter(client: () => Redis | undefined, key: string): DemoCounter {
  const cmd = (): Redis => {
    const c = client();
    if (c === undefined) throw new Error('Redis is not configured');
    return c;
  };
  return {
    get: async () => Number((await cmd().get(key)) ?? 0),
    add: async (by) => Number(await cmd().incrby(key, by)),
  };
}
