/**
 * SEP-1288 session resume: an initialized MCP session outlives its socket.
 *
 * A wrapper around the HandlerFactory. Each socket gets a {@link SocketHandler};
 * the MCP handler (router, SDK host, gateway session) is made once per
 * *logical* session and talks to a {@link LogicalSession}, a stable peer that
 * forwards to whichever socket currently carries the session:
 *
 *   socket A ─► SocketHandler ─┐
 *                              ├─► LogicalSession (peer) ─► inner handler
 *   socket B ─► SocketHandler ─┘        (one at a time)
 *
 * Lifecycle of a logical session:
 *
 *   attached ──socket drops, initialized──► detached ──resumed──► attached
 *      │                                        │
 *      │ not initialized, or closed with        │ resumeGraceMs passes, evicted
 *      │ 1000/1001 (the client is done)         │
 *      ▼                                        ▼ (bounds), server closes
 *   released ◄──────────────────────────────────┘
 *
 * The initialize result carries `mcpSessionId` (a random 144-bit token, not
 * the peer id). A new socket whose first message carries that id at the top
 * level of the JSON-RPC message, from the same identity, takes the session
 * over: the old socket (if still open) is closed with 1000, buffered
 * messages are delivered, then the message is processed. An unknown,
 * expired or foreign id gets one and the same error, -32019.
 *
 * While detached, whatever the handler sends (replies of requests that were
 * in flight, notifications of subscriptions, server→client requests) is
 * buffered up to resumeBufferBytes; past it the session is released, since
 * resuming it would silently lose messages.
 *
 * The `mcp.version.<v>` subprotocol pre-negotiates a legacy version: the
 * initialize is answered for `v`, whatever version it asked for.
 *
 * Across nodes (a {@link ResumeStore} configured): a session whose handler
 * is `rebuildable` also has its resumable state (version, client
 * capabilities and info, log level, subscriptions, identity hash) kept in
 * Redis, written off the message path. A resume id this process does not
 * hold is looked up there: the socket stops reading, the state is taken
 * (read and deleted atomically), checked against the socket's identity,
 * and a fresh handler is brought to it by replaying initialize,
 * notifications/initialized, logging/setLevel and resources/subscribe with
 * nothing sent to the client; then the message is processed and the socket
 * reads again. Whatever fails on the way is the same -32019.
 */
import { randomBytes } from 'node:crypto';
import { CloseCode } from '../protocol/close-codes.js';
import { ERRORS } from '../protocol/errors.js';
import { errorReply, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse } from '../protocol/jsonrpc.js';
import { isModernVersion } from '../protocol/versions.js';
import type { Logger } from 'pino';
import type { HandlerFactory, Identity, Reply, SessionHandler, SessionPeer } from './handler.js';
import type { ResumableState, ResumeRecord, ResumeStore } from './resume-store.js';

/** The subprotocol prefix that carries a protocol version (SEP-1288). */
export const VERSION_SUBPROTOCOL_PREFIX = 'mcp.version.';

/** The version a selected `mcp.version.<v>` subprotocol names, or undefined. */
export function subprotocolVersion(protocol: string | undefined): string | undefined {
  return protocol !== undefined && protocol.startsWith(VERSION_SUBPROTOCOL_PREFIX) ? protocol.slice(VERSION_SUBPROTOCOL_PREFIX.length) : undefined;
}

/** Limits of {@link SessionResumer}; resolved by server-options. */
export interface SessionResumerOptions {
  /** How long a detached session waits for its client; 0 turns resume off. */
  readonly resumeGraceMs: number;
  /** Detached sessions one identity may hold (anonymous sessions share one budget); the oldest goes first. */
  readonly maxDetachedPerIdentity: number;
  /** Detached sessions in total; the oldest goes first. */
  readonly maxDetachedSessions: number;
  /** Bytes buffered for one detached session; past it the session is released. */
  readonly resumeBufferBytes: number;
}

/** Counters of the resumer, for tests and metrics. */
export interface ResumeStats {
  resumed: number;
  refused: number;
  expired: number;
  evicted: number;
  overflowed: number;
  /** Sessions rebuilt from the resume store (counted in `resumed` too). */
  remoteResumed: number;
  /** Resume ids looked up in the resume store and refused (counted in `refused` too). */
  remoteRefused: number;
}

/** The shape of a resume id this server issues (18 random bytes, base64url): anything else is not looked up. */
const RESUME_ID_SHAPE = /^[A-Za-z0-9_-]{24}$/;

const ANONYMOUS = '\u0000anonymous';

/** Makes resumable sessions around a handler factory. */
export class SessionResumer {
  /** Every logical session that has a resume id, attached or detached, by id. */
  private readonly byId = new Map<string, LogicalSession>();
  /** Detached sessions in detach order (oldest first), and per identity. */
  private readonly detached = new Set<LogicalSession>();
  private readonly detachedByIdentity = new Map<string, Set<LogicalSession>>();
  private closed = false;
  readonly stats: ResumeStats = { resumed: 0, refused: 0, expired: 0, evicted: 0, overflowed: 0, remoteResumed: 0, remoteRefused: 0 };

  /**
   * @param store where resumable state is kept for other nodes; without it,
   *   sessions resume in this process only
   */
  constructor(
    private readonly inner: HandlerFactory,
    readonly options: SessionResumerOptions,
    private readonly logger?: Logger,
    readonly store?: ResumeStore,
  ) {}

  /** The factory to give the server in place of `inner`. */
  readonly factory: HandlerFactory = (peer) => {
    if (this.options.resumeGraceMs === 0 && subprotocolVersion(peer.subprotocol) === undefined) return this.inner(peer);
    return new SocketHandler(this, peer);
  };

  /** Detached sessions waiting for their client. */
  get detachedCount(): number {
    return this.detached.size;
  }

  /**
   * Releases every detached session (server shutdown); attached ones end
   * with their sockets. With a store, their state stays there for another
   * node to resume.
   */
  close(): void {
    this.closed = true;
    for (const s of [...this.detached]) this.releaseQuietly(s);
  }

  /** Sends the store's pending writes and closes its connection (after the sessions ended). */
  async closeStore(): Promise<void> {
    await this.store?.close();
  }

  /** @internal The inner factory's handler, checked as Session checks a factory's (a throw here costs the socket: 1011). */
  makeInner(peer: SessionPeer): SessionHandler {
    const h = this.inner(peer) as unknown;
    const o = h as Record<string, unknown> | null;
    if (typeof o !== 'object' || o === null || typeof o.request !== 'function' || typeof o.notification !== 'function' || typeof o.response !== 'function' || typeof o.closed !== 'function') {
      throw new TypeError(`handler factory returned ${h === null ? 'null' : typeof h}, not a SessionHandler (request, notification, response, closed)`);
    }
    return h as SessionHandler;
  }

  /** @internal Releases `s` away from any socket (expiry, eviction, overflow, shutdown): a failure is logged. */
  releaseQuietly(s: LogicalSession): void {
    let r: unknown;
    try {
      r = s.release();
    } catch (err) {
      this.logger?.error({ err, session: s.id }, 'handler close failed');
      return;
    }
    if (r instanceof Promise) r.then(undefined, (err: unknown) => this.logger?.error({ err, session: s.id }, 'handler close failed'));
  }

  /** @internal A request of `s` failed after its socket lost the session (the Session cannot log it). */
  requestFailed(s: LogicalSession, err: unknown): void {
    this.logger?.error({ err, session: s.id }, 'handler failed');
  }

  /** @internal A new resume id, registered for `s`. */
  register(s: LogicalSession): string {
    const id = randomBytes(18).toString('base64url');
    this.byId.set(id, s);
    return id;
  }

  /** @internal True when `id` names a session of this process (so the store is not asked). */
  holds(id: string): boolean {
    return this.byId.has(id);
  }

  /** @internal The session `id` names if `identity` may take it; undefined for unknown and foreign alike. */
  claim(id: unknown, identity: Identity | undefined): LogicalSession | undefined {
    const s = typeof id === 'string' ? this.byId.get(id) : undefined;
    if (s === undefined || s.identityKey !== identityKey(identity) || this.closed) {
      this.stats.refused++;
      return undefined;
    }
    this.undetach(s);
    if (s.remote !== undefined) this.store?.attached(s.remote);
    this.stats.resumed++;
    return s;
  }

  /**
   * @internal Rebuilds the session `id` names from the store for `socket`:
   * takes its state (read and deleted at once), checks the identity, makes a
   * fresh handler and replays the state into it with nothing sent. Never
   * rejects: undefined is a refusal.
   */
  async rebuild(id: string, socket: SocketHandler): Promise<LogicalSession | undefined> {
    const store = this.store!;
    const taken = await store.take(id, socket.peer.identity);
    const refuse = (): undefined => {
      this.stats.refused++;
      this.stats.remoteRefused++;
      return undefined;
    };
    if (taken.kind !== 'ok' || this.closed || this.byId.has(id)) return refuse();
    // A socket that pre-negotiated another legacy version cannot carry this session.
    const pinned = subprotocolVersion(socket.peer.subprotocol);
    if (pinned !== undefined && !isModernVersion(pinned) && pinned !== taken.state.protocolVersion) return refuse();
    let s: LogicalSession;
    try {
      s = new LogicalSession(this, socket);
    } catch (err) {
      this.logger?.error({ err, session: socket.peer.id }, 'handler factory failed while rebuilding a resumed session');
      return refuse();
    }
    s.muted = true;
    let ok = false;
    try {
      ok = s.handler.rebuildable === true && (await replay(s.handler, taken.state));
    } catch (err) {
      this.logger?.warn({ err, session: s.id }, 'replaying a resumed session failed');
    }
    s.muted = false;
    if (!ok || this.closed || this.byId.has(id)) {
      this.releaseQuietly(s);
      return refuse();
    }
    s.resumeId = id;
    this.byId.set(id, s);
    s.remote = store.record(id, socket.peer.identity, taken.state);
    this.stats.resumed++;
    this.stats.remoteResumed++;
    return s;
  }

  /** @internal Keeps `s` for resumeGraceMs, within the bounds; false when resume is off or closing. */
  detach(s: LogicalSession): boolean {
    const o = this.options;
    if (o.resumeGraceMs === 0 || this.closed || s.resumeId === undefined) return false;
    let mine = this.detachedByIdentity.get(s.identityKey);
    if (mine === undefined) this.detachedByIdentity.set(s.identityKey, (mine = new Set()));
    while (mine.size >= o.maxDetachedPerIdentity) this.evict(mine.values().next().value as LogicalSession);
    while (this.detached.size >= o.maxDetachedSessions) this.evict(this.detached.values().next().value as LogicalSession);
    mine.add(s);
    this.detached.add(s);
    s.graceTimer = setTimeout(expire, o.resumeGraceMs, this, s);
    s.graceTimer.unref();
    if (s.remote !== undefined) this.store?.detached(s.remote);
    return true;
  }

  private evict(s: LogicalSession): void {
    this.stats.evicted++;
    this.releaseQuietly(s);
  }

  /** @internal Expiry of a detached session's grace period. */
  expired(s: LogicalSession): void {
    this.stats.expired++;
    this.releaseQuietly(s);
  }

  /** @internal Forgets `s` entirely (released). */
  forget(s: LogicalSession): void {
    this.undetach(s);
    if (s.resumeId !== undefined && this.byId.get(s.resumeId) === s) this.byId.delete(s.resumeId);
    const rec = s.remote;
    if (rec !== undefined) {
      s.remote = undefined;
      // Shutting down, the state stays for another node; otherwise the session is over.
      if (this.closed) this.store?.handOff(rec);
      else this.store?.remove(rec);
    }
  }

  /** @internal The session's state changed: written to the store off this path. */
  stateChanged(rec: ResumeRecord): void {
    this.store?.changed(rec);
  }

  private undetach(s: LogicalSession): void {
    if (s.graceTimer !== undefined) {
      clearTimeout(s.graceTimer);
      s.graceTimer = undefined;
    }
    if (!this.detached.delete(s)) return;
    const mine = this.detachedByIdentity.get(s.identityKey);
    mine?.delete(s);
    if (mine?.size === 0) this.detachedByIdentity.delete(s.identityKey);
  }
}

function expire(r: SessionResumer, s: LogicalSession): void {
  r.expired(s);
}

function identityKey(identity: Identity | undefined): string {
  return identity === undefined ? ANONYMOUS : identity.subject;
}

/**
 * One MCP session as its handler sees it: a peer that stays the same while
 * the socket under it changes.
 */
export class LogicalSession implements SessionPeer {
  readonly id: string;
  readonly host: unknown;
  readonly identityKey: string;
  readonly handler: SessionHandler;
  /** The socket carrying the session; undefined while detached. */
  current: SocketHandler | undefined;
  resumeId: string | undefined;
  graceTimer: NodeJS.Timeout | undefined;
  /** The session's entry in the resume store, when it has one. */
  remote: ResumeRecord | undefined;
  /** While a rebuilt session's state is replayed: what the handler sends is dropped. */
  muted = false;
  private outbox: string[] | undefined;
  private outboxBytes = 0;
  private held = false;
  private released = false;
  /** Callers of whenWritable() waiting for a socket (or the end of the session). */
  private writeWaiters: Array<() => void> | undefined;

  constructor(
    private readonly resumer: SessionResumer,
    first: SocketHandler,
  ) {
    this.id = first.peer.id;
    // The server's metrics, where handlers count their error replies (errorCountersOf).
    this.host = (first.peer as { host?: unknown }).host;
    this.identityKey = identityKey(first.peer.identity);
    this.current = first;
    this.lastAddress = first.peer.remoteAddress;
    this.lastIdentity = first.peer.identity;
    this.handler = resumer.makeInner(this);
  }

  /** The address and identity of the socket that carried the session last: they stay while it is detached. */
  private lastAddress: string;
  private lastIdentity: Identity | undefined;

  get remoteAddress(): string {
    return this.current?.peer.remoteAddress ?? this.lastAddress;
  }

  /**
   * The current socket's identity (a resume carries the same subject, maybe
   * with a fresher credential); while detached, the last one, so a handler
   * still at work never sees an authenticated session as anonymous.
   */
  get identity(): Identity | undefined {
    const c = this.current;
    return c === undefined ? this.lastIdentity : c.peer.identity;
  }

  get isOpen(): boolean {
    return !this.released;
  }

  /** To the current socket, or into the bounded outbox while there is none. */
  sendText(text: string): void {
    if (this.released || this.muted) return;
    const c = this.current;
    if (c !== undefined && c.peer.isOpen !== false) {
      c.peer.sendText(text);
      return;
    }
    this.buffer(text);
  }

  /** @internal Keeps `text` for the next socket; past resumeBufferBytes the session is released. */
  buffer(text: string): void {
    this.outboxBytes += Buffer.byteLength(text);
    if (this.outboxBytes > this.resumer.options.resumeBufferBytes) {
      this.resumer.stats.overflowed++;
      this.resumer.releaseQuietly(this);
      return;
    }
    (this.outbox ??= []).push(text);
  }

  notify(method: string, params?: Record<string, unknown>): void {
    this.sendText(JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }));
  }

  /**
   * Detached, nothing can be sent but into the bounded outbox: congested, so
   * a streaming handler stops producing until a socket resumes the session
   * (or the grace period ends it). Attached: the socket's own state.
   */
  get congested(): boolean {
    if (this.released) return false;
    const c = this.current;
    return c === undefined || c.peer.isOpen === false || c.peer.congested === true;
  }

  /** Resolves when the socket drains, a socket resumes the session, or the session ends. */
  whenWritable(): Promise<void> {
    if (!this.congested) return Promise.resolve();
    const c = this.current;
    if (c !== undefined && c.peer.isOpen !== false && c.peer.whenWritable !== undefined) return c.peer.whenWritable();
    return new Promise<void>((resolve) => (this.writeWaiters ??= []).push(resolve));
  }

  private wakeWriters(): void {
    const w = this.writeWaiters;
    this.writeWaiters = undefined;
    if (w !== undefined) for (const resolve of w) resolve();
  }

  holdReading(hold: boolean): void {
    this.held = hold;
    this.current?.peer.holdReading?.(hold);
  }

  /** The handler ends the session: no resume. */
  close(code: number, reason: string): void {
    const c = this.current;
    this.resumer.releaseQuietly(this);
    c?.peer.close(code, reason);
  }

  /** Moves the session to `socket`; the previous socket, if any, is closed with 1000. */
  attach(socket: SocketHandler): void {
    const previous = this.current;
    this.current = socket;
    this.lastAddress = socket.peer.remoteAddress;
    this.lastIdentity = socket.peer.identity;
    if (previous !== undefined && previous !== socket) {
      previous.session = undefined;
      previous.peer.close(CloseCode.NORMAL, 'MCP session resumed on another connection');
    }
    if (this.held) socket.peer.holdReading?.(true);
    const out = this.outbox;
    this.outbox = undefined;
    this.outboxBytes = 0;
    if (out !== undefined) for (const text of out) socket.peer.sendText(text);
    this.wakeWriters();
  }

  /**
   * Its socket closed: wait for a resume, or release (what the handler's
   * closed() returned or threw goes to the Session). A client that closed
   * with 1000, 1001 or a close frame without a code said it is done:
   * released at once.
   */
  socketClosed(socket: SocketHandler): unknown {
    if (this.current !== socket || this.released) return undefined;
    this.current = undefined;
    const code = socket.peer.closeCode;
    if (!clientIsDone(code) && this.resumer.detach(this)) return undefined;
    return this.release();
  }

  /** Ends the session for good: the handler is closed once; returns what its closed() returned, and lets a throw through. */
  release(): unknown {
    if (this.released) return undefined;
    this.released = true;
    this.current = undefined;
    this.outbox = undefined;
    this.resumer.forget(this);
    this.wakeWriters();
    return this.handler.closed() as unknown;
  }
}

/** What one socket's Session talks to: binds the socket to a logical session at its first message. */
class SocketHandler implements SessionHandler {
  /**
   * The session this socket carries. Made with the socket, as without resume
   * (so a failing factory costs the socket at once); replaced, and released
   * unused, when the socket's first message resumes another.
   */
  session: LogicalSession | undefined;
  /** The socket has seen a message (only the first may resume). */
  private bound = false;
  /** While a resume id is looked up in the store: later messages wait for it, in order. */
  private gate: Promise<boolean> | undefined;
  /** The socket closed (checked when a store lookup ends). */
  private gone = false;

  constructor(
    private readonly resumer: SessionResumer,
    readonly peer: SessionPeer,
  ) {
    this.session = new LogicalSession(resumer, this);
  }

  get protocolVersion(): string | undefined {
    const s = this.session;
    if (s === undefined) return undefined;
    try {
      return s.handler.protocolVersion;
    } catch (err) {
      // A broken handler: the Session closes with 1011 and will not call closed().
      this.resumer.releaseQuietly(s);
      throw err;
    }
  }

  request(msg: JsonRpcRequest): Reply {
    if (this.gate !== undefined) return this.gate.then(() => this.request(msg));
    const resumeId = (msg as { mcpSessionId?: unknown }).mcpSessionId;
    if (resumeId !== undefined) {
      msg = stripResumeId(msg);
      const bound = this.bind(resumeId);
      if (bound instanceof Promise) {
        const m = msg;
        return bound.then((ok) => (ok ? this.dispatch(m) : notResumable(m.id)));
      }
      if (!bound) return notResumable(msg.id);
    }
    return this.dispatch(msg);
  }

  private dispatch(msg: JsonRpcRequest): Reply {
    const s = this.use();
    if (msg.method === 'initialize') return this.initialize(s, msg);
    const reply = s.handler.request(msg);
    if (s.remote !== undefined && TRACKED_METHODS.has(msg.method)) observe(this.resumer, s, msg, reply);
    if (!(reply instanceof Promise)) return reply;
    return reply.then((text) => this.deliver(s, text), (err: unknown) => this.failed(s, msg.id, err));
  }

  notification(msg: JsonRpcNotification): void {
    if (this.gate !== undefined) return this.gate.then(() => this.notification(msg)) as unknown as void;
    const resumeId = (msg as { mcpSessionId?: unknown }).mcpSessionId;
    if (resumeId !== undefined) {
      msg = stripResumeId(msg);
      const bound = this.bind(resumeId);
      if (bound instanceof Promise) {
        const m = msg;
        return bound.then((ok) => (ok ? this.notify(m) : undefined)) as unknown as void;
      }
      if (!bound) return;
    }
    return this.notify(msg);
  }

  private notify(msg: JsonRpcNotification): void {
    const s = this.use();
    const rec = s.remote;
    if (rec !== undefined && msg.method === 'notifications/initialized' && !rec.state.initialized) {
      rec.state.initialized = true;
      this.resumer.stateChanged(rec);
    }
    return this.guard(s, () => s.handler.notification(msg));
  }

  response(msg: JsonRpcResponse): void {
    if (this.gate !== undefined) return this.gate.then(() => this.response(msg)) as unknown as void;
    const resumeId = (msg as { mcpSessionId?: unknown }).mcpSessionId;
    if (resumeId !== undefined) {
      msg = stripResumeId(msg);
      const bound = this.bind(resumeId);
      if (bound instanceof Promise) {
        const m = msg;
        return bound.then((ok) => (ok ? this.respond(m) : undefined)) as unknown as void;
      }
      if (!bound) return;
    }
    return this.respond(msg);
  }

  private respond(msg: JsonRpcResponse): void {
    const s = this.use();
    return this.guard(s, () => s.handler.response(msg));
  }

  closed(): void {
    this.gone = true;
    const s = this.session;
    this.session = undefined;
    return s?.socketClosed(this) as void;
  }

  /**
   * A message carried `mcpSessionId`: on the socket's first message it
   * resumes that session (from the store when this process does not hold
   * it: a promise); later, it must name the session already bound.
   */
  private bind(resumeId: unknown): boolean | Promise<boolean> {
    if (this.bound) return this.session !== undefined && this.session.resumeId === resumeId;
    if (this.resumer.store !== undefined && typeof resumeId === 'string' && RESUME_ID_SHAPE.test(resumeId) && !this.resumer.holds(resumeId)) {
      return this.remoteBind(resumeId);
    }
    const s = this.resumer.claim(resumeId, this.peer.identity);
    if (s === undefined) return false;
    this.bound = true;
    const unused = this.session;
    this.session = s;
    s.attach(this);
    if (unused !== undefined) this.resumer.releaseQuietly(unused);
    return true;
  }

  /**
   * Resumes a session this process does not hold, from the store. The
   * socket stops reading meanwhile, and messages already read wait for the
   * outcome, in order. Refused: the socket stays unbound, as after a local
   * refusal.
   */
  private remoteBind(resumeId: string): boolean | Promise<boolean> {
    const unused = this.session;
    // Handlers of this kind cannot be brought to a stored state: refuse without taking it.
    if (unused === undefined || unused.handler.rebuildable !== true) {
      this.resumer.stats.refused++;
      this.resumer.stats.remoteRefused++;
      return false;
    }
    this.bound = true;
    this.peer.holdReading?.(true);
    const gate = this.resumer.rebuild(resumeId, this).then((s) => {
      this.gate = undefined;
      if (this.gone) {
        // The socket closed during the lookup: the rebuilt session waits for a resume like any other.
        if (s !== undefined) settleQuietly(this.resumer, s, s.socketClosed(this));
        return false;
      }
      // Reading resumes once this message's answer is out: held messages come after it.
      setImmediate(readAgain, this);
      if (s === undefined) {
        this.bound = false;
        return false;
      }
      this.session = s;
      if (unused !== undefined) this.resumer.releaseQuietly(unused);
      return true;
    });
    this.gate = gate;
    return gate;
  }

  /** The session of this socket; after its first message no other can be resumed on it. */
  private use(): LogicalSession {
    this.bound = true;
    return this.session!;
  }

  /** A reply that settles after its socket lost the session goes to the session's current socket or outbox. */
  private deliver(s: LogicalSession, text: string | undefined): string | undefined {
    if (text === undefined || (s.current === this && this.peer.isOpen !== false)) return text;
    s.sendText(text);
    return undefined;
  }

  /**
   * A request whose handler rejected: on this socket, the Session answers
   * -32603 (and logs); once the session moved (or while detached) that
   * answer would go to a closed socket, so it is logged here and sent where
   * the session is now, as a reply would be.
   */
  private failed(s: LogicalSession, id: JsonRpcRequest['id'], err: unknown): string | undefined {
    if (s.current === this && this.peer.isOpen !== false) throw err;
    this.resumer.requestFailed(s, err);
    s.sendText(errorReply(id, ERRORS.INTERNAL_ERROR.rpc, ERRORS.INTERNAL_ERROR.message));
    return undefined;
  }

  /**
   * A handler that throws (or rejects) on a notification or response is
   * released here; the throw or rejection goes on to the Session, which
   * logs it and closes with 1011 without calling closed() again.
   */
  private guard(s: LogicalSession, call: () => unknown): void {
    let r: unknown;
    try {
      r = call();
    } catch (err) {
      this.resumer.releaseQuietly(s);
      throw err;
    }
    if (r instanceof Promise) {
      return r.then(undefined, (err: unknown) => {
        this.resumer.releaseQuietly(s);
        throw err;
      }) as unknown as void;
    }
  }

  /** initialize: the subprotocol's version applies, and a success carries the resume id. */
  private initialize(s: LogicalSession, msg: JsonRpcRequest): Reply {
    // Negotiated at the handshake: initialize is answered for that version whatever it
    // asked, as the lifecycle lets a server answer another version than requested.
    const pinned = subprotocolVersion(this.peer.subprotocol);
    // A 2026-07-28 subprotocol pins nothing: that revision has no initialize.
    if (pinned !== undefined && !isModernVersion(pinned) && msg.params?.protocolVersion !== pinned) msg = { ...msg, params: { ...msg.params, protocolVersion: pinned } };
    const reply = s.handler.request(msg);
    if (this.resumer.options.resumeGraceMs === 0) return reply;
    const request = msg;
    if (reply instanceof Promise) {
      return reply.then(
        (text) => this.deliver(s, offerResume(s, this.resumer, text, request, pinned)),
        (err: unknown) => this.failed(s, msg.id, err),
      );
    }
    return offerResume(s, this.resumer, reply, request, pinned);
  }
}

function readAgain(socket: SocketHandler): void {
  if (socket.peer.isOpen !== false) socket.peer.holdReading?.(false);
}

function notResumable(id: JsonRpcRequest['id']): string {
  return errorReply(id, ERRORS.SESSION_NOT_RESUMABLE.rpc, ERRORS.SESSION_NOT_RESUMABLE.message);
}

/** What closed() of a handler returned or threw, away from any Session: a failure is logged. */
function settleQuietly(resumer: SessionResumer, s: LogicalSession, r: unknown): void {
  if (r instanceof Promise) r.then(undefined, (err: unknown) => resumer.requestFailed(s, err));
}

/**
 * Adds `mcpSessionId` to a successful initialize result (once per session);
 * with a store and a rebuildable handler, the session's state starts being
 * kept there.
 */
function offerResume(s: LogicalSession, resumer: SessionResumer, text: string | undefined, request: JsonRpcRequest, pinned: string | undefined): string | undefined {
  if (text === undefined || s.resumeId !== undefined) return text;
  let msg: { result?: unknown };
  try {
    msg = JSON.parse(text) as { result?: unknown };
  } catch {
    return text;
  }
  if (typeof msg.result !== 'object' || msg.result === null) return text;
  const id = (s.resumeId = resumer.register(s));
  const result = msg.result as Record<string, unknown>;
  result.mcpSessionId = id;
  const store = resumer.store;
  const caps = request.params?.capabilities;
  const info = request.params?.clientInfo;
  if (store !== undefined && s.handler.rebuildable === true && typeof result.protocolVersion === 'string' && isObject(caps) && (info === undefined || isObject(info))) {
    s.remote = store.record(id, s.identity, {
      protocolVersion: result.protocolVersion,
      capabilities: caps,
      clientInfo: info,
      initialized: false,
      logLevel: undefined,
      subscriptions: [],
      subprotocolVersion: pinned,
    });
  }
  return JSON.stringify(msg);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Requests whose success changes the resumable state. */
const TRACKED_METHODS = new Set(['logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);

/** Notes a tracked request's effect on the stored state once its reply says it succeeded. */
function observe(resumer: SessionResumer, s: LogicalSession, msg: JsonRpcRequest, reply: Reply): void {
  if (reply instanceof Promise) reply.then((text) => noteSuccess(resumer, s, msg, text), () => {});
  else noteSuccess(resumer, s, msg, reply);
}

function noteSuccess(resumer: SessionResumer, s: LogicalSession, msg: JsonRpcRequest, text: string | undefined): void {
  const rec = s.remote;
  if (rec === undefined || !isResult(text)) return;
  const st = rec.state;
  const p = msg.params;
  if (msg.method === 'logging/setLevel') {
    if (typeof p?.level !== 'string' || p.level === st.logLevel) return;
    st.logLevel = p.level;
  } else {
    const uri = p?.uri;
    if (typeof uri !== 'string') return;
    const i = st.subscriptions.indexOf(uri);
    if (msg.method === 'resources/subscribe') {
      if (i !== -1) return;
      st.subscriptions.push(uri);
    } else {
      if (i === -1) return;
      st.subscriptions.splice(i, 1);
    }
  }
  resumer.stateChanged(rec);
}

/** True when `text` is a JSON-RPC success response. */
function isResult(text: string | undefined): boolean {
  if (text === undefined) return false;
  try {
    const m = JSON.parse(text) as { result?: unknown; error?: unknown };
    return typeof m === 'object' && m !== null && m.result !== undefined && m.error === undefined;
  } catch {
    return false;
  }
}

/** Prefix of the ids of the requests a rebuild replays (their replies go nowhere). */
const REPLAY_ID = 'mcp-ws-resume:';

/**
 * Brings a fresh handler to a stored state: initialize (the stored version
 * must come back), notifications/initialized, logging/setLevel, one
 * resources/subscribe per URI. False when any step is refused.
 */
async function replay(h: SessionHandler, st: ResumableState): Promise<boolean> {
  const params: Record<string, unknown> = { protocolVersion: st.protocolVersion, capabilities: st.capabilities };
  if (st.clientInfo !== undefined) params.clientInfo = st.clientInfo;
  const init = await h.request({ jsonrpc: '2.0', id: `${REPLAY_ID}initialize`, method: 'initialize', params });
  let version: unknown;
  try {
    version = init === undefined ? undefined : (JSON.parse(init) as { result?: { protocolVersion?: unknown } }).result?.protocolVersion;
  } catch {
    return false;
  }
  if (version !== st.protocolVersion) return false;
  if (st.initialized) await (h.notification({ jsonrpc: '2.0', method: 'notifications/initialized' }) as unknown);
  if (st.logLevel !== undefined) {
    if (!isResult(await h.request({ jsonrpc: '2.0', id: `${REPLAY_ID}setLevel`, method: 'logging/setLevel', params: { level: st.logLevel } }))) return false;
  }
  let n = 0;
  for (const uri of st.subscriptions) {
    if (!isResult(await h.request({ jsonrpc: '2.0', id: `${REPLAY_ID}subscribe-${n++}`, method: 'resources/subscribe', params: { uri } }))) return false;
  }
  return true;
}

/** 1000, 1001, and 1005 (a close frame without a code): the client closed on purpose. */
function clientIsDone(code: number | undefined): boolean {
  return code === CloseCode.NORMAL || code === CloseCode.GOING_AWAY || code === 1005;
}

function stripResumeId<T extends object>(msg: T): T {
  const copy = { ...msg } as T & { mcpSessionId?: unknown };
  delete copy.mcpSessionId;
  return copy;
}
