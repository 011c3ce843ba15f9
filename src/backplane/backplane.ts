/**
 * The Redis backplane: notifications raised in one process reach the
 * sessions of every other process (cluster workers, other machines) that
 * uses the same Redis and key prefix.
 *
 * Design:
 * - One connection pair per backplane: a command connection (the shared
 *   one of connection.ts, for PUBLISH and whatever else the process keeps
 *   in Redis) and a subscriber connection on one channel,
 *   `<keyPrefix>backplane`. Every process receives every message and
 *   delivers to the sessions it holds (a resource's subscribers, the
 *   session a notification is addressed to); Redis pub/sub fans out.
 * - Delivery is local first: the publishing process hands the event to its
 *   own sessions at once (the router does, before publishing) and to the
 *   other local listeners of this backplane, and ignores the copy Redis
 *   sends back (messages carry the publisher's random `id`). So each
 *   session gets an event exactly once while Redis works.
 * - Nothing waits on Redis: publish() returns at once. PUBLISH commands in
 *   flight are capped (maxPendingPublishes); while Redis is unreachable a
 *   command fails at once (no offline queue). A publication that cannot go
 *   out is dropped and counted by reason: Redis is at most once across
 *   processes, and what crosses here is a hint a client acts on by
 *   re-reading (resources/updated, list_changed), so a lost one costs a
 *   stale view, not a wrong one.
 * - Health: 'up' while the command connection is ready, the subscriber is
 *   ready (subscribed) and no PUBLISH has timed out since the last success.
 *   A timeout (a hung server) turns it 'down' and starts a PING probe every
 *   commandTimeoutMs until one answers. Each change is logged once and
 *   shown as `mcp_ws_backplane_up`. ioredis reconnects by itself and
 *   resubscribes; delivery resumes with no action. Messages published
 *   while a process was cut off are not replayed to it.
 * - Received messages are checked (messages.ts) and dropped with a count
 *   when malformed, of another version, or larger than maxMessageBytes; a
 *   listener that throws costs that one delivery (counted), never the
 *   subscriber.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { loadRedisClass, quit, redisClientOptions, redisConnection, type SharedRedisConnection } from './connection.js';
import { decodeMessage, encodeMessage, eventProblem, type Backplane, type BackplaneEvent, type BackplaneListener, type BackplaneMetric, type BackplaneState } from './messages.js';
import { resolveBackplaneOptions, type BackplaneOptions, type ResolvedBackplaneOptions } from './options.js';

/** Why a publication or a received message was dropped (the `reason` label of mcp_ws_backplane_dropped_total). */
export type BackplaneDropReason = 'down' | 'backlog' | 'failed' | 'too_large' | 'malformed' | 'version' | 'listener';

const DROP_REASONS: readonly BackplaneDropReason[] = ['down', 'backlog', 'failed', 'too_large', 'malformed', 'version', 'listener'];

/** Counters of a backplane. */
export interface BackplaneStats {
  /** PUBLISH commands sent. */
  published: number;
  /** Valid events received from other processes. */
  received: number;
  /** Dropped publications and received messages, by reason. */
  dropped: Record<BackplaneDropReason, number>;
  /** PUBLISH commands awaiting Redis's answer now. */
  pending: number;
}

/** Options of {@link RedisBackplane}: the settings, and where to log state changes. */
export interface RedisBackplaneOptions extends BackplaneOptions {
  /** Logger for state changes (one line each). Default: none. */
  logger?: Logger;
}

/** A {@link Backplane} over Redis pub/sub. Emits 'stateChange' (state, previous, reason?) once per change. */
export class RedisBackplane extends EventEmitter implements Backplane {
  readonly id = randomBytes(12).toString('base64url');
  readonly options: ResolvedBackplaneOptions;
  /** The channel every process of this key prefix shares. */
  readonly channel: string;
  readonly stats: BackplaneStats = { published: 0, received: 0, dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<BackplaneDropReason, number>, pending: 0 };
  private current: BackplaneState = 'connecting';
  private readonly subscribers = new Set<BackplaneListener>();
  private readonly logger: Logger | undefined;
  private command: SharedRedisConnection | undefined;
  private subscriber: Redis | undefined;
  private subscribed = false;
  private stalled = false;
  private probe: NodeJS.Timeout | undefined;
  private closed = false;

  /** @throws RangeError for invalid options. Does no I/O: {@link open} connects. */
  constructor(options: RedisBackplaneOptions) {
    super();
    const { logger, ...rest } = options;
    this.options = resolveBackplaneOptions(rest);
    this.channel = `${this.options.keyPrefix}backplane`;
    this.logger = logger;
  }

  get state(): BackplaneState {
    return this.current;
  }

  /** The shared command connection (after {@link open}); the demo counter keeps its value through it. */
  get commandClient(): Redis | undefined {
    return this.command?.client;
  }

  open(): void {
    if (this.closed || this.command !== undefined) return;
    const { url, connectTimeoutMs, commandTimeoutMs } = this.options;
    this.command = redisConnection(url, { connectTimeoutMs, commandTimeoutMs });
    const c = this.command.client;
    c.on('ready', this.recompute);
    c.on('close', this.recompute);
    c.on('end', this.recompute);
    // The subscriber may queue its one SUBSCRIBE until connected; nothing else is ever sent on it.
    const sub = new (loadRedisClass())(url, { ...redisClientOptions(connectTimeoutMs, commandTimeoutMs), enableOfflineQueue: true, commandTimeout: undefined });
    this.subscriber = sub;
    sub.on('error', () => {
      // Seen as 'close'; the client reconnects and resubscribes by itself.
    });
    sub.on('ready', () => {
      // ioredis resubscribes on reconnect; 'ready' after the first SUBSCRIBE means subscribed.
      if (this.subscribedOnce) this.subscribed = true;
      this.recompute();
    });
    sub.on('close', () => {
      this.subscribed = false;
      this.recompute();
    });
    sub.on('message', this.onMessage);
    sub.subscribe(this.channel).then(
      () => {
        this.subscribedOnce = true;
        this.subscribed = true;
        this.recompute();
      },
      () => {
        // Retried on the next connection: see the 'ready' handler.
        this.resubscribeOnReady = true;
      },
    );
    sub.on('ready', this.retrySubscribe);
    this.recompute();
  }

  private subscribedOnce = false;
  private resubscribeOnReady = false;

  private readonly retrySubscribe = (): void => {
    if (!this.resubscribeOnReady || this.closed || this.subscriber === undefined) return;
    this.resubscribeOnReady = false;
    this.subscriber.subscribe(this.channel).then(
      () => {
        this.subscribedOnce = true;
        this.subscribed = true;
        this.recompute();
      },
      () => {
        this.resubscribeOnReady = true;
      },
    );
  };

  whenUp(ms: number): Promise<boolean> {
    if (this.current === 'up') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.off('stateChange', onChange);
        resolve(ok);
      };
      const onChange = (state: BackplaneState): void => {
        if (state === 'up') done(true);
      };
      const timer = setTimeout(() => done(false), ms);
      this.on('stateChange', onChange);
    });
  }

  subscribe(listener: BackplaneListener): () => void {
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  }

  publish(event: BackplaneEvent, except?: BackplaneListener): void {
    const problem = eventProblem(event);
    if (problem !== undefined) throw new TypeError(`backplane event: ${problem}`);
    // Other local listeners first (another server in this process), synchronously.
    if (this.subscribers.size > (except !== undefined && this.subscribers.has(except) ? 1 : 0)) {
      for (const l of this.subscribers) if (l !== except) this.deliver(l, event);
    }
    const text = encodeMessage(this.id, event);
    if (Buffer.byteLength(text) > this.options.maxMessageBytes) {
      this.drop('too_large');
      return;
    }
    const client = this.command?.client;
    if (client === undefined || client.status !== 'ready' || this.closed) {
      this.drop('down');
      return;
    }
    if (this.stats.pending >= this.options.maxPendingPublishes) {
      this.drop('backlog');
      return;
    }
    this.stats.pending++;
    this.stats.published++;
    client.publish(this.channel, text).then(this.onPublished, this.onPublishFailed);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.probe) clearInterval(this.probe);
    this.probe = undefined;
    this.subscribers.clear();
    const c = this.command;
    this.command = undefined;
    if (c) {
      c.client.off('ready', this.recompute);
      c.client.off('close', this.recompute);
      c.client.off('end', this.recompute);
    }
    const sub = this.subscriber;
    this.subscriber = undefined;
    await Promise.all([c?.release(), sub ? quit(sub) : undefined]);
  }

  metrics(): BackplaneMetric[] {
    const s = this.stats;
    return [
      { name: 'mcp_ws_backplane_up', help: 'Whether the Redis backplane is connected (1) or cross-process delivery is stopped (0)', type: 'gauge', read: () => [{ value: this.current === 'up' ? 1 : 0 }] },
      { name: 'mcp_ws_backplane_published_total', help: 'Events published to the Redis backplane', type: 'counter', read: () => [{ value: s.published }] },
      { name: 'mcp_ws_backplane_received_total', help: 'Events received from other processes through the Redis backplane', type: 'counter', read: () => [{ value: s.received }] },
      {
        name: 'mcp_ws_backplane_dropped_total',
        help: 'Backplane publications and received messages dropped, by reason',
        type: 'counter',
        read: () => DROP_REASONS.map((reason) => ({ value: s.dropped[reason], labels: { reason } })),
      },
    ];
  }

  // ------------------------------------------------------------- internals

  private drop(reason: BackplaneDropReason): void {
    this.stats.dropped[reason]++;
  }

  private deliver(listener: BackplaneListener, event: BackplaneEvent): void {
    try {
      listener(event);
    } catch (err) {
      this.drop('listener');
      this.logger?.error({ err: (err as Error)?.message, kind: event.kind }, 'backplane listener failed');
    }
  }

  private readonly onMessage = (channel: string, text: string): void => {
    if (channel !== this.channel || this.closed) return;
    if (text.length > this.options.maxMessageBytes) {
      this.drop('too_large');
      return;
    }
    const d = decodeMessage(text);
    if (!d.ok) {
      this.drop(d.reason);
      return;
    }
    if (d.from === this.id) return; // our own echo: delivered locally already
    this.stats.received++;
    for (const l of this.subscribers) this.deliver(l, d.event);
  };

  private readonly onPublished = (): void => {
    this.stats.pending--;
    if (this.stalled) {
      this.stalled = false;
      this.recompute();
    }
  };

  private readonly onPublishFailed = (err: unknown): void => {
    this.stats.pending--;
    this.drop('failed');
    if (/timed out/i.test((err as Error)?.message ?? '')) this.stall(err as Error);
  };

  /** A command timed out: Redis is hung (or far too slow). Down until a PING answers. */
  private stall(err: Error): void {
    if (this.stalled || this.closed) return;
    this.stalled = true;
    this.recompute(err.message);
    this.probe ??= setInterval(() => {
      const client = this.command?.client;
      if (client === undefined || client.status !== 'ready') return;
      client.ping().then(
        () => {
          if (this.probe) clearInterval(this.probe);
          this.probe = undefined;
          this.stalled = false;
          this.recompute();
        },
        () => {
          // Still hung; the next tick probes again.
        },
      );
    }, this.options.commandTimeoutMs);
    this.probe.unref();
  }

  private readonly recompute = (reason?: unknown): void => {
    if (this.closed) return;
    const ready = this.command?.client.status === 'ready' && this.subscribed && !this.stalled;
    const next: BackplaneState = ready ? 'up' : this.current === 'connecting' && !this.stalled && this.command?.client.status !== 'end' && !this.everFailed() ? 'connecting' : 'down';
    if (next === this.current) return;
    const previous = this.current;
    this.current = next;
    const why = typeof reason === 'string' ? reason : this.stalled ? 'Redis command timed out' : 'Redis connection lost';
    if (next === 'up') this.logger?.info({ channel: this.channel, previous }, 'backplane up: notifications cross processes');
    else if (next === 'down') this.logger?.warn({ channel: this.channel, previous, reason: why }, 'backplane down: local delivery only until Redis answers');
    this.emit('stateChange', next, previous, next === 'up' ? undefined : why);
  };

  /** True once a connection attempt of either client has ended without success. */
  private everFailed(): boolean {
    const statuses = [this.command?.client.status, this.subscriber?.status];
    return statuses.some((s) => s === 'reconnecting' || s === 'close' || s === 'end');
  }
}

/** Makes a Redis backplane (no I/O until the server's listen(), or {@link RedisBackplane.open}). */
export function createRedisBackplane(options: RedisBackplaneOptions | string): RedisBackplane {
  return new RedisBackplane(typeof options === 'string' ? { url: options } : options);
}
