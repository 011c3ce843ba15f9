/**
 * Limits shared by every process through Redis.
 *
 * {@link RedisConnection} owns one ioredis client, the Lua scripts and the
 * health state; {@link RedisStore} is one limit on a connection (several
 * stores share one connection). Each check is one script call — EVALSHA,
 * with ioredis falling back to EVAL when the server lacks the script —
 * that reads the Redis server's clock, decides, writes and sets the key's
 * expiry atomically (redis-scripts.ts).
 *
 * Failure, detected within `timeoutMs` (default 100):
 *
 *   connecting ──ready──► up ──close / command timeout──► down ──ready / probe ok──► up
 *
 * - the client never queues commands while disconnected
 *   (`enableOfflineQueue: false`), never retries one (`maxRetriesPerRequest: 0`),
 *   and gives up on a command after `commandTimeout` = timeoutMs;
 * - a closed connection is seen at once (the socket's close);
 * - a hung server is seen when a command times out;
 * - while down, checks are answered by `failMode` without waiting —
 *   'open' allows, 'closed' denies — except one probe per `timeoutMs` when
 *   the socket is still connected (a hung server that recovers is seen by a
 *   probe; a reconnected one by the client's `ready`);
 * - the client reconnects by itself (backoff 50 ms … 1 s), forever.
 * An event-loop stall longer than timeoutMs also reads as a timeout (Node
 * runs timers before it reads the socket); the next probe brings it back.
 * Every state change emits 'stateChange' once; `errors` counts failed
 * commands, `failedOpen` / `failedClosed` the checks the failure mode decided.
 *
 * ioredis is loaded only when a connection creates its own client, so an
 * application without Redis never reads it. The constructor is synchronous
 * (the client exists from the start), so it is required (ioredis is a
 * CommonJS package) rather than imported.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import { DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_URL, REDIS_OPTIONS, resolveRateLimitOptions, type RateLimitOptions, type ResolvedRateLimitOptions } from './options.js';
import { LEAKY_BUCKET_LUA, SLIDING_WINDOW_LUA, TOKEN_BUCKET_LUA } from './redis-scripts.js';
import type { RateLimitStore } from './store.js';
import type { Clock, RateLimitResult, RateLimitStrategy } from './types.js';

/** What a check answers while Redis cannot: allow ('open') or deny ('closed'). */
export type RedisFailMode = 'open' | 'closed';

/** Health of a {@link RedisConnection}. */
export type RedisConnectionState = 'connecting' | 'up' | 'down';

/** Options of {@link RedisConnection}. */
export interface RedisConnectionOptions {
  /** Server URL (redis:// or rediss://). Default 'redis://127.0.0.1:6379'. Ignored when `client` is given. */
  url?: string;
  /**
   * An existing ioredis client to use instead of creating one. Its options
   * are the caller's: for the failure behaviour above, create it with
   * `enableOfflineQueue: false`, `maxRetriesPerRequest: 0` and a `commandTimeout`.
   * Not closed by {@link RedisConnection.close}.
   */
  client?: Redis;
  /** Prefix of every key. Default 'mcp-ws:rl:'. */
  prefix?: string;
  /** What checks answer while Redis is unreachable. Default 'open'. */
  failMode?: RedisFailMode;
  /** Command timeout, and so the time to detect a hung server; also the probe interval while down. Default 100 ms. */
  timeoutMs?: number;
  /** retryAfterMs of a denial decided by failMode 'closed'. Default 1,000 ms. */
  failRetryAfterMs?: number;
  /** Clock (ms) pacing the probes. Default performance.now(). */
  clock?: Clock;
  /** Called once per state change (same as the 'stateChange' event). */
  onStateChange?: StateChangeListener;
  /** Connect only on {@link RedisConnection.open} (or the first command), not in the constructor. Default false. */
  lazy?: boolean;
}

/** Receives each state change of a {@link RedisConnection}; `error` says why it went down. */
export type StateChangeListener = (state: RedisConnectionState, previous: RedisConnectionState, error?: Error) => void;

type ScriptReply = [number, number, number, number];
type ScriptCommand = (key: string, ...args: Array<string | number>) => Promise<ScriptReply>;

type RedisClass = new (url: string, options: RedisOptions) => Redis;

let redisClass: RedisClass | undefined;

/** ioredis's client class, loaded on first use. */
function loadRedis(): RedisClass {
  redisClass ??= (createRequire(import.meta.url)('ioredis') as { Redis: RedisClass }).Redis;
  return redisClass;
}

const COMMANDS: Record<RateLimitStrategy, { name: string; lua: string }> = {
  TokenBucket: { name: 'mcpwsRateLimitTokenBucket', lua: TOKEN_BUCKET_LUA },
  LeakyBucket: { name: 'mcpwsRateLimitLeakyBucket', lua: LEAKY_BUCKET_LUA },
  SlidingWindow: { name: 'mcpwsRateLimitSlidingWindow', lua: SLIDING_WINDOW_LUA },
};

/**
 * One Redis client with the rate-limit scripts and a health state.
 * Emits 'stateChange' (state, previous, error?) once per change.
 */
export class RedisConnection extends EventEmitter {
  /** The ioredis client. */
  readonly client: Redis;
  /** Key prefix. */
  readonly prefix: string;
  /** Failure mode. */
  readonly failMode: RedisFailMode;
  /** Command timeout in ms. */
  readonly timeoutMs: number;
  /** retryAfterMs of fail-closed denials. */
  readonly failRetryAfterMs: number;
  /** Failed commands (timeouts, disconnections, server errors). */
  errors = 0;
  /** Checks allowed by failMode 'open' while Redis was unreachable. */
  failedOpen = 0;
  /** Checks denied by failMode 'closed' while Redis was unreachable. */
  failedClosed = 0;
  /** The last error seen, if any. */
  lastError: Error | undefined;
  private current: RedisConnectionState = 'connecting';
  private readonly ownsClient: boolean;
  private readonly clock: Clock;
  private nextProbeAt = 0;
  private closed = false;

  /** @throws RangeError for invalid options */
  constructor(options: RedisConnectionOptions = {}) {
    super();
    const { timeoutMs, failMode, failRetryAfterMs } = REDIS_OPTIONS.resolve(
      { timeoutMs: options.timeoutMs, failMode: options.failMode, failRetryAfterMs: options.failRetryAfterMs },
      'redis.',
    );
    this.timeoutMs = timeoutMs;
    this.failMode = failMode;
    this.failRetryAfterMs = failRetryAfterMs;
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    this.clock = options.clock ?? (() => performance.now());
    if (options.onStateChange) this.on('stateChange', options.onStateChange);
    this.ownsClient = options.client === undefined;
    this.client =
      options.client ??
      new (loadRedis())(options.url ?? DEFAULT_REDIS_URL, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: timeoutMs,
        connectTimeout: Math.max(1000, timeoutMs * 10),
        autoResendUnfulfilledCommands: false,
        enableAutoPipelining: true,
        retryStrategy: (times: number) => Math.min(50 * times, 1000),
        lazyConnect: options.lazy === true,
      });
    for (const { name, lua } of Object.values(COMMANDS)) {
      if (typeof (this.client as unknown as Record<string, unknown>)[name] !== 'function') {
        this.client.defineCommand(name, { numberOfKeys: 1, lua });
      }
    }
    this.client.on('ready', this.onReady);
    this.client.on('close', this.onClose);
    this.client.on('end', this.onClose);
    this.client.on('error', this.onError);
    if (this.client.status === 'ready') this.setState('up');
  }

  /** Current health. */
  get state(): RedisConnectionState {
    return this.current;
  }

  /** Resolves true once the connection is up, or false after `timeoutMs` (default 5,000 ms). */
  whenUp(timeoutMs = 5000): Promise<boolean> {
    if (this.current === 'up') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.off('stateChange', onChange);
        resolve(ok);
      };
      const onChange = (state: RedisConnectionState): void => {
        if (state === 'up') done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.on('stateChange', onChange);
    });
  }

  /** Starts connecting, if a lazy connection has not yet. Idempotent; failures show as state changes. */
  open(): void {
    if (this.closed || this.client.status !== 'wait') return;
    this.client.connect().catch(() => {
      // Reported through 'error' / 'close'; the client keeps retrying.
    });
  }

  /** Closes the client if this connection created it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.ownsClient) {
      this.client.off('ready', this.onReady);
      this.client.off('close', this.onClose);
      this.client.off('end', this.onClose);
      this.client.off('error', this.onError);
      return;
    }
    try {
      if (this.client.status === 'ready') await this.client.quit();
    } catch {
      // Quitting a broken connection: disconnect below is enough.
    }
    this.client.disconnect();
  }

  /** @internal The script command of `strategy`. */
  command(strategy: RateLimitStrategy): ScriptCommand {
    const name = COMMANDS[strategy].name;
    const fn = (this.client as unknown as Record<string, ScriptCommand>)[name]!;
    return fn.bind(this.client);
  }

  /**
   * @internal True when a check should go to Redis now: always while up;
   * while down only if the socket is connected and a probe is due.
   */
  admits(): boolean {
    if (this.current === 'up') return true;
    if (this.client.status !== 'ready') return false;
    const now = this.clock();
    if (now < this.nextProbeAt) return false;
    this.nextProbeAt = now + this.timeoutMs;
    return true;
  }

  /** @internal A command answered: a probe that worked brings the state back up. */
  succeeded(): void {
    if (this.current !== 'up' && this.client.status === 'ready') this.setState('up');
  }

  /** @internal A command failed: count it; a timeout means the server is unreachable. */
  failed(err: unknown): void {
    this.errors++;
    const e = err instanceof Error ? err : new Error(String(err));
    this.lastError = e;
    if (/timed out/i.test(e.message) || this.client.status !== 'ready') this.setState('down', e);
  }

  /** @internal The answer of the failure mode. */
  failResult(): RateLimitResult {
    if (this.failMode === 'open') {
      this.failedOpen++;
      return { allowed: true, remaining: 0, retryAfterMs: 0, delayMs: 0 };
    }
    this.failedClosed++;
    return { allowed: false, remaining: 0, retryAfterMs: this.failRetryAfterMs, delayMs: 0 };
  }

  private setState(state: RedisConnectionState, error?: Error): void {
    const previous = this.current;
    if (previous === state || this.closed) return;
    this.current = state;
    if (state === 'up') this.nextProbeAt = 0;
    this.emit('stateChange', state, previous, error);
  }

  private readonly onReady = (): void => this.setState('up');
  private readonly onClose = (): void => {
    if (this.current !== 'connecting' || this.lastError) this.setState('down', this.lastError ?? new Error('connection closed'));
  };
  private readonly onError = (err: Error): void => {
    this.lastError = err;
  };
}

/** Options of {@link RedisStore}: the limit, and the connection (shared, or options to make one). */
export type RedisStoreOptions = RateLimitOptions & {
  /** A shared connection; otherwise one is created from `redis` and closed with the store. */
  connection?: RedisConnection;
  /** Options of the connection to create when `connection` is not given. */
  redis?: RedisConnectionOptions;
  /** Inserted between the prefix and the key, so limits on one connection never share keys (e.g. 'identity:'). Default ''. */
  namespace?: string;
};

/** One limit whose state lives in Redis. Checks always resolve (failures answer by the failure mode). */
export class RedisStore implements RateLimitStore {
  /** Always false: checks answer with a promise. */
  readonly synchronous = false;
  /** The resolved limit. */
  readonly options: ResolvedRateLimitOptions;
  /** The connection the checks go through. */
  readonly connection: RedisConnection;
  private readonly ownsConnection: boolean;
  private readonly keyPrefix: string;
  private readonly run: ScriptCommand;
  private readonly args: string[];
  private readonly onReply = (reply: ScriptReply): RateLimitResult => {
    this.connection.succeeded();
    return { allowed: reply[0] === 1, remaining: reply[1], retryAfterMs: reply[2] < 0 ? Infinity : reply[2], delayMs: reply[3] };
  };
  private readonly onFailure = (err: unknown): RateLimitResult => {
    this.connection.failed(err);
    return this.connection.failResult();
  };
  private readonly onRefundFailure = (err: unknown): void => {
    this.connection.failed(err);
  };

  /** @throws RangeError for invalid options */
  constructor(options: RedisStoreOptions) {
    const { connection, redis, namespace, ...limit } = options;
    this.options = resolveRateLimitOptions(limit);
    this.ownsConnection = connection === undefined;
    this.connection = connection ?? new RedisConnection(redis);
    this.keyPrefix = this.connection.prefix + (namespace ?? '');
    this.run = this.connection.command(this.options.strategy);
    const o = this.options;
    const interval = 1000 / o.maxRequestsPerSecond;
    switch (o.strategy) {
      case 'TokenBucket':
        this.args = [String(o.maxRequestsPerSecond / 1000), String(o.maxBurst)];
        break;
      case 'LeakyBucket':
        this.args = [String(interval), String(o.maxBurst * interval), String(o.queueSize * interval)];
        break;
      case 'SlidingWindow':
        this.args = [String(o.windowSizeMs), String(o.capacity)];
        break;
    }
  }

  /** The strategy applied. */
  get strategy(): RateLimitStrategy {
    return this.options.strategy;
  }

  /** One atomic script call; resolves with the decision, or the failure mode's answer when Redis cannot answer. */
  check(key: string, cost = 1): Promise<RateLimitResult> {
    if (!this.connection.admits()) return Promise.resolve(this.connection.failResult());
    return this.run(this.keyPrefix + key, cost, ...this.args).then(this.onReply, this.onFailure);
  }

  /** Gives back `cost` (a script call with a negative cost). Resolves even when Redis is unreachable. */
  refund(key: string, cost = 1): Promise<void> {
    if (!this.connection.admits()) return Promise.resolve();
    return this.run(this.keyPrefix + key, -cost, ...this.args).then(() => undefined, this.onRefundFailure);
  }

  /** Redis expires idle keys itself: nothing to sweep. */
  sweep(): number {
    return 0;
  }

  /** Closes the connection if this store created it. */
  close(): Promise<void> {
    return this.ownsConnection ? this.connection.close() : Promise.resolve();
  }
}
