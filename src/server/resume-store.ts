/**
 * Cross-node resume: a legacy session's resumable state kept in Redis, so a
 * node (or worker) that does not hold the session in memory can rebuild it
 * when its client comes back with the session's `mcpSessionId`.
 *
 * What is stored, per session, under prefix + SHA-256("key" ‖ id) (never the
 * bare id): the negotiated version, the client's capabilities and info,
 * whether it sent notifications/initialized, its log level, its resource
 * subscriptions, the `mcp.version.<v>` subprotocol's version, and a hash of
 * the identity it is bound to (issuer and subject, never a credential). The
 * value is a random owner tag (22 characters), the identity hash (43), then
 * the JSON state, which carries SHA-256("bind" ‖ id): a value copied under
 * another key, or written by someone who does not know the id, does not
 * verify.
 *
 * Writes never wait on the message path: a change marks the session, and
 * one setImmediate sends the marked sessions' values (SET … PX ttl,
 * pipelined by ioredis), so a burst of changes costs one write. While a
 * session is attached its key's TTL (resumeGraceMs) is refreshed every
 * third of it; on detach it is set to resumeGraceMs again. Refreshes and
 * deletes are conditional on the owner tag (one Lua script each), so the
 * node a session left cannot delete or prolong the copy another node took
 * over. A lookup is one Lua script: a value over maxStateBytes (or of the
 * wrong type) is deleted unread; a value bound to another identity is left
 * alone (someone who learnt the id cannot destroy the state); else GET and
 * DEL happen atomically, so of two nodes racing for one id exactly one gets
 * the state.
 *
 * Failure: the client never queues commands while disconnected, never
 * retries, and gives up after timeoutMs; every failed command counts in
 * `errors` (mcp_ws_resume_store_errors_total). A lookup that fails is a
 * refusal (-32019); a write that fails leaves the session resumable in
 * process only. ioredis is loaded when a store is made.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { Identity } from './handler.js';
import type { ResolvedResumeStoreOptions } from './resume-store-options.js';

/** What a rebuilt session is brought back to. */
export interface ResumableState {
  /** The negotiated legacy revision. */
  protocolVersion: string;
  /** The client's capabilities, as its initialize declared them. */
  capabilities: Record<string, unknown>;
  /** The client's info, as its initialize declared it (undefined when it sent none). */
  clientInfo: Record<string, unknown> | undefined;
  /** The client sent notifications/initialized. */
  initialized: boolean;
  /** The level of the client's last successful logging/setLevel, if any. */
  logLevel: string | undefined;
  /** URIs of the resources the client subscribed to. */
  subscriptions: string[];
  /** The version of the `mcp.version.<v>` subprotocol the session was opened with, if any. */
  subprotocolVersion: string | undefined;
}

/** One session's entry in the store: its key, owner tag and current state. */
export class ResumeRecord {
  /** Waiting in the write queue. */
  queued = false;
  /** Attached to a socket: its TTL is refreshed. */
  attached = true;
  /** Removed or handed off: nothing more is written. */
  done = false;
  /** The last serialised state was over maxStateBytes: nothing stored. */
  oversize = false;
  constructor(
    readonly key: string,
    readonly bind: string,
    readonly owner: string,
    readonly identity: string,
    readonly state: ResumableState,
  ) {}
}

/** What a lookup found. */
export type TakeResult =
  | { readonly kind: 'ok'; readonly state: ResumableState }
  | { readonly kind: 'missing' | 'invalid' | 'foreign' | 'error' };

/** Counters of the store, exported as metrics. */
export interface ResumeStoreStats {
  /** Failed commands: writes, refreshes, deletes, lookups (timeouts and disconnections included). */
  errors: number;
  /** State values written. */
  writes: number;
  /** Lookups that found a state that verified. */
  taken: number;
  /** Lookups that found a value that did not verify (malformed, oversized, forged, another key's). */
  invalid: number;
  /** States not stored because they were over maxStateBytes. */
  oversize: number;
}

const OWNER_LENGTH = 22;
/** Length of an identity hash (SHA-256, base64url). */
const IDENTITY_LENGTH = 43;
const HEADER_LENGTH = OWNER_LENGTH + IDENTITY_LENGTH;

/** Largest number of subscriptions a stored state may list (each also counts in maxStateBytes). */
const MAX_SUBSCRIPTIONS = 10_000;

const LOG_LEVEL_NAMES = new Set(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']);

/**
 * KEYS[1]; ARGV[1] max bytes, ARGV[2] identity hash. nil: none; -1: refused
 * (too large or not a string: deleted); -2: another identity's (kept); else
 * the value, deleted.
 */
const TAKE_LUA = `
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then return false end
if t ~= 'string' or redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return -1
end
if redis.call('GETRANGE', KEYS[1], ${OWNER_LENGTH}, ${HEADER_LENGTH - 1}) ~= ARGV[2] then return -2 end
local v = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
return v
`;

/** KEYS[1]; ARGV[1] owner; ARGV[2] ttl ms: prolongs the key if this owner wrote it. */
const TOUCH_LUA = `
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end
if redis.call('GETRANGE', KEYS[1], 0, ${OWNER_LENGTH - 1}) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
`;

/** KEYS[1]; ARGV[1] owner: deletes the key if this owner wrote it. */
const DROP_LUA = `
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end
if redis.call('GETRANGE', KEYS[1], 0, ${OWNER_LENGTH - 1}) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`;

interface ResumeCommands {
  mcpwsResumeTake(key: string, max: number, identity: string): Promise<string | number | null>;
  mcpwsResumeTouch(key: string, owner: string, ttl: number): Promise<number>;
  mcpwsResumeDrop(key: string, owner: string): Promise<number>;
}

type RedisClass = new (url: string, options: RedisOptions) => Redis;
let redisClass: RedisClass | undefined;

function loadRedis(): RedisClass {
  redisClass ??= (createRequire(import.meta.url)('ioredis') as { Redis: RedisClass }).Redis;
  return redisClass;
}

function sha(tag: string, value: string): string {
  return createHash('sha256').update(tag).update('\u0000').update(value).digest('base64url');
}

/** The key of a resume id under `prefix`: a hash of the id, never the id. */
export function resumeKey(prefix: string, resumeId: string): string {
  return prefix + sha('key', resumeId);
}

/** The hash an identity is stored as: issuer and subject (anonymous sessions share one). */
export function identityHash(identity: Identity | undefined): string {
  if (identity === undefined) return sha('identity', '\u0000anonymous');
  const iss = identity.claims?.iss;
  return sha('identity', `${typeof iss === 'string' ? iss : ''}\u0000${identity.subject}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The stored state in `json` if it verifies against `bind`; undefined otherwise. */
export function parseState(json: string, bind: string): ResumableState | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!isPlainObject(v) || v.v !== 1 || v.bind !== bind) return undefined;
  const { protocolVersion, capabilities, clientInfo, initialized, logLevel, subscriptions, subprotocolVersion } = v;
  if (typeof protocolVersion !== 'string' || protocolVersion.length > 64) return undefined;
  if (!isPlainObject(capabilities)) return undefined;
  if (clientInfo !== undefined && !isPlainObject(clientInfo)) return undefined;
  if (typeof initialized !== 'boolean') return undefined;
  if (logLevel !== undefined && (typeof logLevel !== 'string' || !LOG_LEVEL_NAMES.has(logLevel))) return undefined;
  if (!Array.isArray(subscriptions) || subscriptions.length > MAX_SUBSCRIPTIONS || !subscriptions.every((u) => typeof u === 'string')) return undefined;
  if (subprotocolVersion !== undefined && (typeof subprotocolVersion !== 'string' || subprotocolVersion.length > 64)) return undefined;
  return { protocolVersion, capabilities, clientInfo, initialized, logLevel, subscriptions: subscriptions as string[], subprotocolVersion };
}

/** The resumable state of sessions, in Redis. */
export class ResumeStore {
  readonly stats: ResumeStoreStats = { errors: 0, writes: 0, taken: 0, invalid: 0, oversize: 0 };
  private readonly client: Redis & ResumeCommands;
  private readonly queue: ResumeRecord[] = [];
  private flushScheduled = false;
  /** Attached records, refreshed by the timer. */
  private readonly live = new Set<ResumeRecord>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private idle: (() => void) | undefined;
  private closed = false;
  private lastErrorLogAt = 0;
  private readonly ownsClient: boolean;

  /**
   * @param ttlMs the key's TTL: the server's resumeGraceMs
   * @param client an existing ioredis client (tests); closed by close() only when the store made it
   */
  constructor(
    readonly options: ResolvedResumeStoreOptions,
    readonly ttlMs: number,
    private readonly logger?: Logger,
    client?: Redis,
  ) {
    this.ownsClient = client === undefined;
    this.client = (client ??
      new (loadRedis())(options.url, {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: options.timeoutMs,
        connectTimeout: Math.max(1000, options.timeoutMs * 4),
        autoResendUnfulfilledCommands: false,
        enableAutoPipelining: true,
        retryStrategy: (times: number) => Math.min(50 * times, 1000),
      })) as Redis & ResumeCommands;
    this.client.on('error', () => {
      // Counted where a command fails; the client reconnects by itself.
    });
    this.client.defineCommand('mcpwsResumeTake', { numberOfKeys: 1, lua: TAKE_LUA });
    this.client.defineCommand('mcpwsResumeTouch', { numberOfKeys: 1, lua: TOUCH_LUA });
    this.client.defineCommand('mcpwsResumeDrop', { numberOfKeys: 1, lua: DROP_LUA });
  }

  /** Connects (in the background) and starts refreshing attached sessions' TTL. */
  open(): void {
    if (this.client.status === 'wait') this.client.connect().catch(() => {});
    const period = Math.max(20, Math.floor(this.ttlMs / 3));
    this.refreshTimer = setInterval(() => this.refresh(), period);
    this.refreshTimer.unref();
  }

  /** True once connected. */
  get up(): boolean {
    return this.client.status === 'ready';
  }

  /** Resolves true once connected, false after `ms`. */
  async whenUp(ms: number): Promise<boolean> {
    for (let waited = 0; waited < ms && !this.up; waited += 20) await new Promise((r) => setTimeout(r, 20));
    return this.up;
  }

  /** The key of a resume id. */
  keyOf(resumeId: string): string {
    return resumeKey(this.options.prefix, resumeId);
  }

  /** Starts storing a session's state (written off the caller's path). */
  record(resumeId: string, identity: Identity | undefined, state: ResumableState): ResumeRecord {
    // The owner tag only has to differ between writers (it is no secret): 88 random bits of a pooled UUID.
    const owner = randomUUID().replaceAll('-', '').slice(0, OWNER_LENGTH);
    const rec = new ResumeRecord(this.keyOf(resumeId), sha('bind', resumeId), owner, identityHash(identity), state);
    this.live.add(rec);
    this.changed(rec);
    return rec;
  }

  /** The state of `rec` changed: it is written once, with the other changes of this turn. */
  changed(rec: ResumeRecord): void {
    if (rec.queued || rec.done || this.closed) return;
    rec.queued = true;
    this.queue.push(rec);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(flush, this);
    }
  }

  /** The session's socket dropped: its key lives resumeGraceMs from now. */
  detached(rec: ResumeRecord): void {
    rec.attached = false;
    this.live.delete(rec);
    if (!rec.queued && !rec.done && !rec.oversize) this.touch(rec);
  }

  /** The session was resumed on this node. */
  attached(rec: ResumeRecord): void {
    rec.attached = true;
    if (!rec.done) this.live.add(rec);
  }

  /** The session ended: its key is deleted (if this node still owns it). */
  remove(rec: ResumeRecord): void {
    if (rec.done) return;
    rec.done = true;
    this.live.delete(rec);
    this.run(this.client.mcpwsResumeDrop(rec.key, rec.owner));
  }

  /** This node is shutting down: the state stays for another node, for resumeGraceMs from now. */
  handOff(rec: ResumeRecord): void {
    if (rec.done) return;
    this.live.delete(rec);
    rec.attached = false;
    if (!rec.queued && !rec.oversize) this.touch(rec);
    // A queued write still goes out (flush skips only `done` records); nothing is written after it.
    if (!rec.queued) rec.done = true;
  }

  /**
   * Takes the state of `resumeId` bound to `identity` out of the store:
   * atomically read and deleted, so one caller at most gets it; another
   * identity's is left where it is. Never rejects.
   */
  async take(resumeId: string, identity: Identity | undefined): Promise<TakeResult> {
    if (this.closed) return { kind: 'error' };
    let v: string | number | null;
    try {
      v = await this.track(this.client.mcpwsResumeTake(this.keyOf(resumeId), this.options.maxStateBytes + HEADER_LENGTH, identityHash(identity)));
    } catch (err) {
      this.failed(err);
      return { kind: 'error' };
    }
    if (v === null) return { kind: 'missing' };
    if (v === -2) return { kind: 'foreign' };
    const state = typeof v === 'string' && v.length > HEADER_LENGTH ? parseState(v.slice(HEADER_LENGTH), sha('bind', resumeId)) : undefined;
    if (state === undefined) {
      this.stats.invalid++;
      return { kind: 'invalid' };
    }
    this.stats.taken++;
    return { kind: 'ok', state };
  }

  /** @internal Sends every queued state. */
  flush(): void {
    this.flushScheduled = false;
    const batch = this.queue.splice(0);
    for (const rec of batch) {
      rec.queued = false;
      if (rec.done) continue;
      const json = JSON.stringify({ v: 1, bind: rec.bind, ...rec.state });
      if (Buffer.byteLength(json) > this.options.maxStateBytes) {
        if (!rec.oversize) {
          rec.oversize = true;
          this.stats.oversize++;
          this.run(this.client.mcpwsResumeDrop(rec.key, rec.owner));
        }
        continue;
      }
      rec.oversize = false;
      this.stats.writes++;
      this.run(this.client.set(rec.key, rec.owner + rec.identity + json, 'PX', this.ttlMs));
    }
  }

  private refresh(): void {
    for (const rec of this.live) if (!rec.queued && !rec.oversize) this.touch(rec);
  }

  private touch(rec: ResumeRecord): void {
    this.run(this.client.mcpwsResumeTouch(rec.key, rec.owner, this.ttlMs));
  }

  /** A command whose result does not matter: a failure is counted. */
  private run(p: Promise<unknown>): void {
    this.track(p).then(undefined, (err: unknown) => this.failed(err));
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight++;
    const done = (): void => {
      if (--this.inFlight === 0) this.idle?.();
    };
    p.then(done, done);
    return p;
  }

  private failed(err: unknown): void {
    this.stats.errors++;
    const now = Date.now();
    // One line a second at most: a Redis outage must not flood the log.
    if (now - this.lastErrorLogAt >= 1000) {
      this.lastErrorLogAt = now;
      this.logger?.warn({ err: (err as Error)?.message }, 'resume store command failed');
    }
  }

  /**
   * Sends what is queued, waits for the commands in flight (at most twice
   * timeoutMs), and closes the connection.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    this.flush();
    this.closed = true;
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.options.timeoutMs * 2);
        this.idle = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    if (this.ownsClient) this.client.disconnect();
  }
}

function flush(store: ResumeStore): void {
  store.flush();
}
