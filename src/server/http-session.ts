/**
 * An MCP session over Streamable HTTP: the message core (message-core.ts)
 * with HTTP responses as its wire. Two lifetimes, one class:
 *
 *   stateless (2026-07-28)  one POST without Mcp-Session-Id: a handler made
 *                           for it by the same HandlerFactory, closed when
 *                           its response ends (a client that hangs up
 *                           cancels the request that way)
 *   legacy (2025-xx)        made by a POST `initialize`; later POSTs with its
 *                           Mcp-Session-Id reach the same handler; GET opens
 *                           its SSE stream; DELETE, idleness or shutdown end it
 *
 * Replies go to the response of the POST that carried the request (the
 * core's sink). A message the handler sends on its own (progress, logs,
 * server→client requests) goes, in order of preference, to the newest POST
 * response still open that accepts SSE (in a stateless session that is the
 * request's own response), then to the GET stream; with neither it is
 * dropped and counted (mcp_ws_errors_total{kind="undeliverable"}).
 */
import { CloseCode } from '../protocol/close-codes.js';
import type { HandlerFactory, SessionPeer } from './handler.js';
import type { VerifiedIdentity } from './auth.js';
import { MessageCore, type CoreHost } from './message-core.js';
import type { HttpReply, HttpReplyHost } from './http-reply.js';

/** What an HTTP session needs from its server. */
export interface HttpSessionHost extends CoreHost, HttpReplyHost {
  httpSessionClosed(session: HttpSession): void;
}

/** One MCP session whose wire is HTTP responses. */
export class HttpSession extends MessageCore implements SessionPeer {
  declare readonly host: HttpSessionHost;
  /** Last time (coarse ms) a request of this session arrived or a stream of it ended. */
  lastSeen: number;
  /** POST responses still open, oldest first. */
  private readonly posts: HttpReply[] = [];
  /** The GET stream, when one is open. */
  private stream: HttpReply | undefined;
  private ended = false;

  constructor(
    host: HttpSessionHost,
    id: string,
    remoteAddress: string,
    identity: VerifiedIdentity | undefined,
    makeHandler: HandlerFactory,
    /** One request, then closed. */
    readonly stateless: boolean,
  ) {
    super(host, id, remoteAddress, identity);
    this.lastSeen = host.now;
    this.start(makeHandler, this);
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  /** Responses (POSTs and the GET stream) open on this session. */
  get openResponses(): number {
    return this.posts.length + (this.stream === undefined ? 0 : 1);
  }

  /**
   * One POST's parsed body, answered on `reply`. Notifications and
   * responses only: 202 at once.
   */
  post(msg: unknown, reply: HttpReply): void {
    this.lastSeen = this.host.now;
    this.posts.push(reply);
    reply.onDone = (r) => this.postDone(r);
    if (!this.receiveParsed(msg, reply)) reply.accepted();
  }

  /** GET: the session's SSE stream for messages not tied to a request. */
  openStream(reply: HttpReply): void {
    this.lastSeen = this.host.now;
    this.stream = reply;
    reply.onDone = () => {
      if (this.stream === reply) this.stream = undefined;
      this.lastSeen = this.host.now;
    };
    reply.openStream();
  }

  /**
   * Keeps quiet streams open (see HttpReply.keepAlive): the GET stream, and
   * POST responses that switched to SSE (a subscriptions/listen stays open
   * as long as the client wants its notifications).
   */
  keepAlive(now: number, intervalMs: number): void {
    this.stream?.keepAlive(now, intervalMs);
    for (const p of this.posts) p.keepAlive(now, intervalMs);
  }

  /** True while a GET stream is open. */
  get hasStream(): boolean {
    return this.stream !== undefined;
  }

  private postDone(reply: HttpReply): void {
    const i = this.posts.indexOf(reply);
    if (i !== -1) this.posts.splice(i, 1);
    this.lastSeen = this.host.now;
    // A stateless session lives as long as its one response.
    if (this.stateless && this.posts.length === 0) this.close(CloseCode.NORMAL, 'request done');
  }

  // ------------------------------------------------------------ SessionPeer

  /** A message the handler sends on its own: to an open POST response, else the GET stream, else counted as undeliverable. */
  sendText(text: string): void {
    if (this.ended) return;
    const posts = this.posts;
    for (let i = posts.length - 1; i >= 0; i--) if (posts[i]!.send(text)) return;
    if (this.stream !== undefined && this.stream.send(text)) return;
    this.host.metrics.errors.undeliverable++;
  }

  /** The response a message sent now would go to (see sendText). */
  private target(): HttpReply | undefined {
    const posts = this.posts;
    for (let i = posts.length - 1; i >= 0; i--) if (posts[i]!.canSend) return posts[i];
    return this.stream !== undefined && this.stream.canSend ? this.stream : undefined;
  }

  /** SessionPeer: the response a message would go to holds over half of maxBufferedBytes (the client is not reading). */
  get congested(): boolean {
    return !this.ended && this.target()?.congested === true;
  }

  /** SessionPeer: resolves when that response drains or ends, or the session ends. */
  whenWritable(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return this.target()?.whenWritable() ?? Promise.resolve();
  }

  /** Destroys responses congested for `timeoutMs` (clients that stopped reading); the sweep calls it. */
  checkSlow(now: number, timeoutMs: number): void {
    for (const p of [...this.posts]) p.checkSlow(now, timeoutMs);
    this.stream?.checkSlow(now, timeoutMs);
  }

  notify(method: string, params?: Record<string, unknown>): void {
    this.sendText(JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }));
  }

  /**
   * Ends the session: open responses end (an SSE stream cleanly; a POST
   * still waiting gets 503 when the server is shutting down, else 404, as
   * for a session that is gone), the handler is released. Idempotent.
   */
  close(code: number, _reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.closingAt = this.host.now || 1;
    const status = code === CloseCode.GOING_AWAY ? 503 : code === CloseCode.INTERNAL_ERROR ? 500 : 404;
    for (const p of this.posts.splice(0)) {
      p.onDone = undefined;
      p.end(status);
    }
    const s = this.stream;
    this.stream = undefined;
    if (s !== undefined) {
      s.onDone = undefined;
      s.end();
    }
    this.host.httpSessionClosed(this);
    this.handlerClosed();
  }
}
