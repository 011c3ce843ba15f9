/**
 * RateLimiter: admission for the per-message path, combining limits at
 * several scopes.
 *
 *   request ─► exempt method (ping)? ─► allowed
 *           ─► connection ─► identity (IP when anonymous) ─► global ─► method limit
 *              each: one check; the first refusal refunds the checks before it
 *           ─► null (go) | Delay (queue mode: go after delayMs) | Denial (refuse)
 *
 * Options are resolved once into arrays of rules; a scope that is not
 * configured costs nothing. When every rule a request meets keeps its state
 * in memory, the check is synchronous, reads the clock once for all scopes,
 * and allocates nothing when it allows. Rules whose state lives in Redis
 * make the answer a promise: memory rules run first (a refusal there costs
 * no round trip), then the Redis rules run concurrently.
 *
 * Connection limits always stay in memory: a connection lives in one
 * process. With `redis` configured, identity, global, method (unless scoped
 * per connection), notification and handshake limits are shared through it.
 */
import { createTurnClock } from './clock.js';
import { counterIndex, RateLimitCounters, type RateLimitMetric } from './counters.js';
import type { SlabLimiter } from './key-slab.js';
import { LIMIT_OPTIONS, resolveRateLimitOptions, type RateLimitOptions, type ResolvedRateLimitOptions } from './options.js';
import type { RateLimitStore } from './store.js';
import { MemoryStore } from './store-memory.js';
import { RedisConnection, RedisStore, type RedisConnectionOptions, type StateChangeListener } from './store-redis.js';
import type { Clock, RateLimitKeyScope, RateLimitResult, RateLimitScope, RateLimitStrategy } from './types.js';

/** What a check needs to know about a request. Reuse one object per session and set `method` per message. */
export interface RateLimitRequest {
  /** Unique per connection (e.g. the session id). */
  connectionKey: string;
  /** The authenticated subject; undefined when anonymous (the IP is used instead). */
  identityKey?: string | undefined;
  /** Remote IP address. */
  ip: string;
  /** JSON-RPC method. */
  method: string;
}

/** A refusal: which limit refused and when to try again. */
export interface Denial {
  /** Discriminant: always 'denied'. */
  readonly kind: 'denied';
  /** The scope whose limit refused. */
  readonly scope: RateLimitScope;
  /** That limit's strategy. */
  readonly strategy: RateLimitStrategy;
  /** That limit's maxRequestsPerSecond. */
  readonly limit: number;
  /** ms until the same request would be allowed; Infinity when it never can (cost over capacity). */
  readonly retryAfterMs: number;
  /** The method, when a per-method limit refused. */
  readonly method: string | undefined;
}

/** Queue mode (leaky bucket with queueSize): admitted, to be served after `delayMs`. */
export interface Delay {
  /** Discriminant: always 'delayed'. */
  readonly kind: 'delayed';
  /** The scope whose queue the request waits in (the longest wait, if several). */
  readonly scope: RateLimitScope;
  /** That limit's strategy (LeakyBucket). */
  readonly strategy: RateLimitStrategy;
  /** That limit's maxRequestsPerSecond. */
  readonly limit: number;
  /** ms to hold the request before serving it. */
  readonly delayMs: number;
  /** The method, when a per-method limit delayed it. */
  readonly method: string | undefined;
}

/** null: go now. Delay: go after delayMs. Denial: refuse. */
export type Verdict = Denial | Delay | null;

/** A limit with the key it is counted by. */
export interface ScopedRateLimitOptions extends RateLimitOptions {
  /** Count per connection, per identity (IP when anonymous), or once for everyone. */
  scope?: RateLimitKeyScope;
}

/**
 * Options of {@link RateLimiter}. The top-level limit fields are the seed's
 * RateLimitConfig, so `{ strategy: 'TokenBucket', maxRequestsPerSecond:
 * 10000, maxBurst: 20000, windowSizeMs: 1000 }` works as written; it applies
 * at `scope`. Every other limit is added by its own key.
 */
export interface RateLimiterOptions extends Partial<RateLimitOptions> {
  /** Where the top-level limit applies; several scopes each get their own state. Default 'connection'. */
  scope?: RateLimitKeyScope | readonly RateLimitKeyScope[];
  /** A limit per connection. */
  connection?: RateLimitOptions;
  /** A limit per authenticated identity, per IP for anonymous sessions. */
  identity?: RateLimitOptions;
  /** One limit shared by every request (every process, with Redis). */
  global?: RateLimitOptions;
  /** Extra limits by JSON-RPC method (e.g. 'tools/call'), on top of the others. Default scope 'identity'. */
  methods?: Readonly<Record<string, ScopedRateLimitOptions>>;
  /** Methods no request limit applies to. Default ['ping']. */
  exemptMethods?: readonly string[];
  /** A limit on notifications from the client (checkNotification). Default scope 'connection'. None by default. */
  notifications?: ScopedRateLimitOptions;
  /** A limit on WebSocket handshakes per IP (checkHandshake). None by default. */
  handshake?: RateLimitOptions;
  /** Share limits through Redis: connection options, or a connection to share. */
  redis?: RedisConnectionOptions | RedisConnection;
  /** Clock in ms for the in-memory limits. Default: performance.now(), read once per event-loop turn. */
  clock?: Clock;
  /** Cap on keys per in-memory limit. Default 1,000,000. */
  maxKeys?: number;
  /** How long a key must have been back to full before its memory is freed. Default 1,000 ms. */
  evictAfterMs?: number;
  /** Called once per change of the Redis connection's health. */
  onStoreStateChange?: StateChangeListener;
}

const KEY_CONNECTION = 0;
const KEY_IDENTITY = 1;
const KEY_GLOBAL = 2;
const KEY_CODES: Record<RateLimitKeyScope, number> = { connection: KEY_CONNECTION, identity: KEY_IDENTITY, global: KEY_GLOBAL };
const GLOBAL_KEY = 'global';
const KEY_SCOPES: readonly RateLimitKeyScope[] = ['connection', 'identity', 'global'];

/** One configured limit at one scope, resolved. */
interface Rule {
  readonly scope: RateLimitScope;
  readonly keyCode: number;
  readonly options: ResolvedRateLimitOptions;
  /** State of identified requests (or every request when not keyed by identity). */
  readonly store: RateLimitStore;
  /** State of anonymous requests, keyed by IP, for identity-keyed rules. */
  readonly anonymous: RateLimitStore | undefined;
  /** The in-memory limiters when the stores are memory stores: the synchronous path calls them directly. */
  readonly algorithm: SlabLimiter | undefined;
  readonly anonymousAlgorithm: SlabLimiter | undefined;
  readonly counter: number;
  readonly method: string | undefined;
}

/** Admission by rate limits at several scopes. */
export class RateLimiter {
  /** Allowed / denied / delayed counts by scope and strategy. */
  readonly counters = new RateLimitCounters();
  /** The Redis connection, when limits are shared. */
  readonly redis: RedisConnection | undefined;
  private readonly clock: Clock;
  private readonly requestRules: readonly Rule[];
  private readonly methodRules: ReadonlyMap<string, Rule> | undefined;
  private readonly notificationRule: Rule | undefined;
  private readonly handshakeRule: Rule | undefined;
  private readonly exempt: ReadonlySet<string> | undefined;
  private readonly requestSync: boolean;
  private readonly allRules: readonly Rule[];
  private readonly ownsRedis: boolean;

  /** @throws RangeError naming the option, for any invalid setting */
  constructor(options: RateLimiterOptions = {}) {
    const clock = options.clock ?? createTurnClock();
    this.clock = clock;
    const memory = { clock, maxKeys: options.maxKeys, evictAfterMs: options.evictAfterMs };
    if (options.redis instanceof RedisConnection) {
      this.redis = options.redis;
      this.ownsRedis = false;
    } else if (options.redis !== undefined) {
      this.redis = new RedisConnection(options.redis);
      this.ownsRedis = true;
    } else {
      this.ownsRedis = false;
    }
    if (this.redis && options.onStoreStateChange) this.redis.on('stateChange', options.onStoreStateChange);

    const all: Rule[] = [];
    const make = (scope: RateLimitScope, keyScope: RateLimitKeyScope, limit: RateLimitOptions, path: string, method?: string): Rule => {
      const resolved = resolveRateLimitOptions(limit, path);
      const shared = this.redis !== undefined && keyScope !== 'connection';
      const ns = `${scope}:${method === undefined ? '' : `${method}:`}`;
      const store = (suffix: string): RateLimitStore =>
        shared
          ? new RedisStore({ ...resolved, connection: this.redis, namespace: ns + suffix })
          : new MemoryStore({ ...resolved, ...memory });
      const main = store(keyScope === 'identity' ? 'id:' : '');
      const anonymous = keyScope === 'identity' ? store('ip:') : undefined;
      const rule: Rule = {
        scope,
        keyCode: KEY_CODES[keyScope],
        options: resolved,
        store: main,
        anonymous,
        algorithm: main instanceof MemoryStore ? main.algorithm : undefined,
        anonymousAlgorithm: anonymous instanceof MemoryStore ? anonymous.algorithm : undefined,
        counter: counterIndex(scope, resolved.strategy),
        method,
      };
      all.push(rule);
      return rule;
    };
    const keyScope = (value: unknown, path: string, fallback: RateLimitKeyScope): RateLimitKeyScope => {
      const v = value ?? fallback;
      if (!KEY_SCOPES.includes(v as RateLimitKeyScope)) {
        throw new RangeError(`${path}scope should be one of "connection", "identity", "global", got ${JSON.stringify(v)}`);
      }
      return v as RateLimitKeyScope;
    };

    // The top-level (seed) limit, at each scope it names, then the per-scope limits.
    const byScope = new Map<RateLimitKeyScope, Rule>();
    const flat: Record<string, unknown> = {};
    for (const k of Object.keys(LIMIT_OPTIONS.specs) as Array<keyof RateLimitOptions>) if (options[k] !== undefined) flat[k] = options[k];
    if (Object.keys(flat).length > 0) {
      const scopes = Array.isArray(options.scope) ? options.scope : [options.scope ?? 'connection'];
      if (scopes.length === 0) throw new RangeError('scope should name at least one of "connection", "identity", "global", got []');
      for (const s of scopes as unknown[]) {
        const ks = keyScope(s, '', 'connection');
        if (byScope.has(ks)) throw new RangeError(`scope should not name "${ks}" twice, got ${JSON.stringify(options.scope)}`);
        byScope.set(ks, make(ks, ks, flat as unknown as RateLimitOptions, ''));
      }
    } else if (options.scope !== undefined) {
      throw new RangeError(`scope applies to the top-level limit, which needs maxRequestsPerSecond; got scope ${JSON.stringify(options.scope)} alone`);
    }
    for (const ks of KEY_SCOPES) {
      const limit = options[ks];
      if (limit === undefined) continue;
      if (byScope.has(ks)) throw new RangeError(`${ks} is set twice: by the top-level limit with scope "${ks}" and by ${ks}`);
      byScope.set(ks, make(ks, ks, limit, `${ks}.`));
    }
    this.requestRules = KEY_SCOPES.filter((ks) => byScope.has(ks)).map((ks) => byScope.get(ks)!);

    if (options.methods !== undefined) {
      const rules = new Map<string, Rule>();
      for (const [method, limit] of Object.entries(options.methods)) {
        const path = `methods[${JSON.stringify(method)}].`;
        rules.set(method, make('method', keyScope(limit?.scope, path, 'identity'), limit, path, method));
      }
      this.methodRules = rules.size > 0 ? rules : undefined;
    }
    if (options.notifications !== undefined) {
      const n = options.notifications;
      this.notificationRule = make('notification', keyScope(n?.scope, 'notifications.', 'connection'), n, 'notifications.');
    }
    if (options.handshake !== undefined) {
      // Per IP: an identity-keyed rule whose requests are all anonymous.
      this.handshakeRule = make('handshake', 'identity', options.handshake, 'handshake.');
    }
    const exempt = options.exemptMethods ?? ['ping'];
    this.exempt = exempt.length > 0 ? new Set(exempt) : undefined;
    this.requestSync = this.requestRules.every(isSync);
    this.allRules = all;
  }

  /** True when no limit at all is configured (the caller can skip admission). */
  get empty(): boolean {
    return this.allRules.length === 0;
  }

  /**
   * Admission of one request. Synchronous (and allocation-free when it
   * allows) when every limit it meets is in memory; a promise otherwise.
   * An exempt method is always allowed.
   */
  checkRequest(req: RateLimitRequest): Verdict | Promise<Verdict> {
    const method = req.method;
    if (this.exempt !== undefined && this.exempt.has(method)) return null;
    const methodRule = this.methodRules === undefined ? undefined : this.methodRules.get(method);
    if (!this.requestSync || (methodRule !== undefined && !isSync(methodRule))) {
      return this.checkShared(req, methodRule === undefined ? this.requestRules : [...this.requestRules, methodRule]);
    }
    const rules = this.requestRules;
    const now = this.clock();
    let delayed: Rule | undefined;
    let delayMs = 0;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      const r = this.checkMemory(rule, req, now);
      if (!r.allowed) {
        this.refundMemory(rules, i, req, now);
        return this.deny(rule, r);
      }
      if (r.delayMs > delayMs) {
        delayMs = r.delayMs;
        delayed = rule;
      }
    }
    if (methodRule !== undefined) {
      const r = this.checkMemory(methodRule, req, now);
      if (!r.allowed) {
        this.refundMemory(rules, rules.length, req, now);
        return this.deny(methodRule, r);
      }
      if (r.delayMs > delayMs) {
        delayMs = r.delayMs;
        delayed = methodRule;
      }
    }
    return delayed === undefined ? null : this.delay(delayed, delayMs);
  }

  /**
   * Admission of one notification from the client, by the `notifications`
   * limit (null when none is configured). A refused notification is
   * dropped: there is no reply to send.
   */
  checkNotification(req: RateLimitRequest): Verdict | Promise<Verdict> {
    const rule = this.notificationRule;
    if (rule === undefined) return null;
    if (!isSync(rule)) return this.checkShared(req, [rule]);
    const r = this.checkMemory(rule, req, this.clock());
    if (!r.allowed) return this.deny(rule, r);
    return r.delayMs > 0 ? this.delay(rule, r.delayMs) : null;
  }

  /**
   * Admission of one WebSocket handshake from `ip`, by the `handshake`
   * limit (null when none is configured). Call it in the upgrade handler,
   * before the handshake is accepted; a denial maps to HTTP 429 with
   * Retry-After.
   */
  checkHandshake(ip: string): Verdict | Promise<Verdict> {
    const rule = this.handshakeRule;
    if (rule === undefined) return null;
    const req: RateLimitRequest = { connectionKey: ip, identityKey: undefined, ip, method: '' };
    if (!isSync(rule)) return this.checkShared(req, [rule]);
    const r = this.checkMemory(rule, req, this.clock());
    if (!r.allowed) return this.deny(rule, r);
    return r.delayMs > 0 ? this.delay(rule, r.delayMs) : null;
  }

  /**
   * Frees in-memory state that is back to full, inspecting up to `budget`
   * slots per limit (default: all). Call it from a periodic sweep (the
   * server's heartbeat sweep). Returns the keys freed.
   */
  sweep(budget = Infinity): number {
    let freed = 0;
    for (const rule of this.allRules) {
      if (rule.algorithm) freed += rule.algorithm.sweep(this.clock(), budget);
      if (rule.anonymousAlgorithm) freed += rule.anonymousAlgorithm.sweep(this.clock(), budget);
    }
    return freed;
  }

  /**
   * Drops the in-memory state kept for a connection (call it when the
   * session closes): its per-connection buckets would otherwise wait for
   * the sweep. Returns the number of buckets dropped.
   */
  releaseConnection(connectionKey: string): number {
    let n = 0;
    for (const rule of this.allRules) if (rule.keyCode === KEY_CONNECTION && rule.algorithm?.forget(connectionKey)) n++;
    return n;
  }

  /** Keys holding state in memory, over all limits. */
  get memoryKeys(): number {
    let n = 0;
    for (const rule of this.allRules) n += (rule.algorithm?.size ?? 0) + (rule.anonymousAlgorithm?.size ?? 0);
    return n;
  }

  /** Metrics for createRegistry's `extra` option (see {@link RateLimitCounters.metrics}). */
  metrics(): RateLimitMetric[] {
    return this.counters.metrics({
      storeErrors: () => this.redis?.errors ?? 0,
      storeFailDecisions: () => ({ open: this.redis?.failedOpen ?? 0, closed: this.redis?.failedClosed ?? 0 }),
      storeUp: () => (this.redis === undefined || this.redis.state === 'up' ? 1 : 0),
      memoryKeys: () => this.memoryKeys,
    });
  }

  /** Starts connecting to Redis when the connection was made lazy. Idempotent. */
  open(): void {
    this.redis?.open();
  }

  /** Closes the Redis connection if this limiter created it. */
  async close(): Promise<void> {
    await Promise.all(this.allRules.flatMap((r) => [r.store.close(), r.anonymous?.close()]));
    if (this.ownsRedis) await this.redis!.close();
  }

  // -------------------------------------------------------------- internals

  private checkMemory(rule: Rule, req: RateLimitRequest, now: number): RateLimitResult {
    const code = rule.keyCode;
    let r: RateLimitResult;
    if (code === KEY_CONNECTION) r = rule.algorithm!.check(req.connectionKey, 1, now);
    else if (code === KEY_GLOBAL) r = rule.algorithm!.check(GLOBAL_KEY, 1, now);
    else if (req.identityKey !== undefined) r = rule.algorithm!.check(req.identityKey, 1, now);
    else r = rule.anonymousAlgorithm!.check(req.ip, 1, now);
    if (r.allowed) {
      if (r.delayMs > 0) this.counters.delayed[rule.counter]++;
      else this.counters.allowed[rule.counter]++;
    }
    return r;
  }

  /** Refunds rules[0..end) after a later rule refused. */
  private refundMemory(rules: readonly Rule[], end: number, req: RateLimitRequest, now: number): void {
    for (let i = 0; i < end; i++) {
      const rule = rules[i]!;
      const { store, key } = storeAndKey(rule, req);
      (store as MemoryStore).algorithm.refund(key, 1, now);
    }
  }

  private deny(rule: Rule, r: RateLimitResult): Denial {
    this.counters.denied[rule.counter]++;
    return {
      kind: 'denied',
      scope: rule.scope,
      strategy: rule.options.strategy,
      limit: rule.options.maxRequestsPerSecond,
      retryAfterMs: r.retryAfterMs,
      method: rule.method,
    };
  }

  private delay(rule: Rule, delayMs: number): Delay {
    return {
      kind: 'delayed',
      scope: rule.scope,
      strategy: rule.options.strategy,
      limit: rule.options.maxRequestsPerSecond,
      delayMs,
      method: rule.method,
    };
  }

  /** The path with a shared store: memory rules first, then the shared ones concurrently. */
  private async checkShared(req: RateLimitRequest, rules: readonly Rule[]): Promise<Verdict> {
    const now = this.clock();
    const passed: Rule[] = [];
    let delayed: Rule | undefined;
    let delayMs = 0;
    for (const rule of rules) {
      if (!isSync(rule)) continue;
      const r = this.checkMemory(rule, req, now);
      if (!r.allowed) {
        this.refundAll(passed, req);
        return this.deny(rule, r);
      }
      passed.push(rule);
      if (r.delayMs > delayMs) {
        delayMs = r.delayMs;
        delayed = rule;
      }
    }
    const shared = rules.filter((rule) => !isSync(rule));
    const results = await Promise.all(
      shared.map((rule) => {
        const { store, key } = storeAndKey(rule, req);
        return store.check(key, 1);
      }),
    );
    let denial: Denial | undefined;
    for (let i = 0; i < shared.length; i++) {
      const rule = shared[i]!;
      const r = results[i]!;
      if (!r.allowed) {
        denial ??= this.deny(rule, r);
        continue;
      }
      passed.push(rule);
      if (r.delayMs > 0) this.counters.delayed[rule.counter]++;
      else this.counters.allowed[rule.counter]++;
      if (r.delayMs > delayMs) {
        delayMs = r.delayMs;
        delayed = rule;
      }
    }
    if (denial !== undefined) {
      this.refundAll(passed, req);
      return denial;
    }
    return delayed === undefined ? null : this.delay(delayed, delayMs);
  }

  private refundAll(rules: readonly Rule[], req: RateLimitRequest): void {
    for (const rule of rules) {
      const { store, key } = storeAndKey(rule, req);
      void store.refund(key, 1);
    }
  }
}

function isSync(rule: Rule): boolean {
  return rule.store.synchronous && (rule.anonymous === undefined || rule.anonymous.synchronous);
}

function storeAndKey(rule: Rule, req: RateLimitRequest): { store: RateLimitStore; key: string } {
  switch (rule.keyCode) {
    case KEY_CONNECTION:
      return { store: rule.store, key: req.connectionKey };
    case KEY_GLOBAL:
      return { store: rule.store, key: GLOBAL_KEY };
    default:
      return req.identityKey !== undefined ? { store: rule.store, key: req.identityKey } : { store: rule.anonymous!, key: req.ip };
  }
}
