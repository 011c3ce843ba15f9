/**
 * One WebSocket connection as an MCP message stream: the per-message path.
 *
 * Inbound, top to bottom:
 *
 *   frame (ws: masking, UTF-8, maxPayload)  →  binary? close 1003
 *     → JSON.parse (one parse per message)   →  -32700 on failure
 *     → batch? only where the revision allows it
 *     → envelope check (classify)            →  -32600 on failure
 *     → draining? -32010
 *     → handler.request / notification / response
 *     → reply: string now, or a promise of one (counted in flight)
 *
 * Outbound: one string per message, converted to a Buffer once (so its byte
 * length is free), sent as a text frame. When the socket's queue passes
 * maxBufferedBytes the session stops reading (the client cannot pile up more
 * requests) until the kernel drains the queue; a consumer that stays over for
 * slowConsumerTimeoutMs is closed with 4001.
 *
 * Listeners are module-level functions that find their session through a
 * symbol on the socket, so a connection costs no closures.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocket, type RawData } from 'ws';
import type { Logger } from 'pino';
import { CloseCode } from '../protocol/close-codes.js';
import { ERRORS } from '../protocol/errors.js';
import {
  classify,
  errorReply,
  idForError,
  INTERNAL_ERROR,
  INVALID_REQUEST,
  Kind,
  PARSE_ERROR,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type RequestId,
} from '../protocol/jsonrpc.js';
import { allowsBatch } from '../protocol/versions.js';
import type { ServerMetrics } from '../metrics/metrics.js';
import type { HandlerFactory, Identity, Reply, SessionHandler, SessionPeer } from './handler.js';
import type { Authenticator, VerifiedIdentity } from './auth.js';
import { FrameTracker } from './frame-tracker.js';
import type { RateLimiter, RateLimitRequest, Verdict } from '../ratelimit/limiter.js';
import { CodecError, CODEC_ERROR_CLOSE_CODES } from '../compression/codec.js';
import type { OutboundFrame, WireCodec } from '../compression/wire-codec.js';

/** What a session needs from its server. */
export interface SessionHost {
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
  readonly maxBufferedBytes: number;
  /** Coarse clock (ms), updated by the heartbeat sweep. */
  readonly now: number;
  /** True once graceful shutdown began: new requests are refused. */
  readonly draining: boolean;
  /** Set when auth is on: tool calls are checked against the identity's scopes. */
  readonly auth: Authenticator | undefined;
  /** 0 disables the incomplete-message timeout (and the frame tracking it needs). */
  readonly messageTimeoutMs: number;
  /** Admission by rate, when on. */
  readonly rateLimiter: RateLimiter | undefined;
  readonly options: { readonly rateLimitCloseAfter: number };
  sessionClosed(session: Session): void;
  requestSettled(session: Session): void;
}

const kSession = Symbol('mcp-ws.session');
type SocketWithSession = WebSocket & { [kSession]: Session };

const TEXT_FRAME = { binary: false } as const;
const BINARY_FRAME = { binary: true } as const;
const BATCH_NOT_ALLOWED = ERRORS.BATCH_NOT_ALLOWED.message;

/** What serves a session whose handler failed: nothing, while the session closes with 1011. */
const INERT: SessionHandler = Object.freeze({
  protocolVersion: undefined,
  request: () => undefined,
  notification: () => {},
  response: () => {},
  closed: () => {},
});

/** One accepted WebSocket connection. */
export class Session implements SessionPeer {
  readonly id: string;
  readonly remoteAddress: string;
  readonly identity: Identity | undefined;
  readonly openedAt: number;
  /** Last time (coarse ms) anything arrived from the peer. */
  lastSeen: number;
  /** When the pending heartbeat ping was sent; 0 when none is pending. */
  pingSentAt = 0;
  /** When reading was paused for backpressure; 0 when reading. */
  pausedAt = 0;
  /** Reading is held by the handler (see SessionPeer.holdReading). */
  readingHeld = false;
  /** When this side started closing; 0 while open. */
  closingAt = 0;
  /** Requests whose reply is still being computed. */
  inFlight = 0;
  /** When the credential expires (ms); 0 when it does not. */
  readonly expiresAt: number;
  /** Since when (coarse ms) a message has been left incomplete; 0 when none is. */
  partialSince = 0;
  private readonly frames: FrameTracker | undefined;
  /** The rate-limit key of this session; `method` is set per message. */
  private readonly admission: RateLimitRequest | undefined;
  /** Rate-limited requests in a row; reset by any allowed one. */
  private denials = 0;
  /** The handler failed outside a request and was replaced by {@link INERT}. */
  private faulted = false;
  /** The socket is corked until the end of this tick (see sendText). */
  corked = false;
  /** Replaced by {@link INERT} once it fails outside a request: the session is then closing with 1011. */
  private handler: SessionHandler;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    /** @internal */
    readonly host: SessionHost,
    id: string,
    remoteAddress: string,
    identity: VerifiedIdentity | undefined,
    makeHandler: HandlerFactory,
    /** The negotiated codec (binary frames carry compressed messages), if any. */
    private readonly wire?: WireCodec,
  ) {
    this.id = id;
    this.remoteAddress = remoteAddress;
    this.identity = identity;
    this.expiresAt = identity?.expiresAt ?? 0;
    this.admission = host.rateLimiter
      ? { connectionKey: id, identityKey: identity?.subject, ip: remoteAddress, method: '' }
      : undefined;
    if (host.messageTimeoutMs > 0) {
      this.frames = new FrameTracker();
      socket.on('data', onData);
    }
    this.openedAt = host.now;
    this.lastSeen = host.now;
    (ws as SocketWithSession)[kSession] = this;
    (socket as Socket & { [kSession]?: Session })[kSession] = this;
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('close', onClose);
    ws.on('error', onError);
    try {
      this.handler = makeHandler(this);
    } catch (err) {
      this.handler = INERT;
      this.fail(err, 'handler factory failed');
    }
  }

  /** The MCP revision negotiated on this session, if initialized. */
  get protocolVersion(): string | undefined {
    return this.handler.protocolVersion;
  }

  /** Bytes queued for sending and not yet accepted by the kernel. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  // ---------------------------------------------------------------- inbound

  /** @internal One WebSocket message. */
  receive(data: RawData, isBinary: boolean): void {
    const m = this.host.metrics;
    m.messagesReceived++;
    this.lastSeen = this.host.now;
    this.pingSentAt = 0;
    const buf = data as Buffer;
    m.bytesReceived += buf.length;
    if (this.wire !== undefined) {
      // Decompression may finish later; the codec keeps messages in arrival order.
      let text: string | Promise<string>;
      try {
        text = this.wire.receive(buf, isBinary);
      } catch (err) {
        this.codecFailed(err);
        return;
      }
      if (typeof text === 'string') this.receiveText(text);
      else text.then((t) => this.receiveText(t), (err: unknown) => this.codecFailed(err));
      return;
    }
    if (isBinary) {
      m.errors.unsupported_data++;
      this.close(CloseCode.UNSUPPORTED_DATA, 'binary frames need a negotiated codec');
      return;
    }
    this.receiveText(buf.toString());
  }

  /** A message refused by the codec: too big once decompressed (1009) or not valid (1007). */
  private codecFailed(err: unknown): void {
    const code = err instanceof CodecError ? CODEC_ERROR_CLOSE_CODES[err.code] : CloseCode.INTERNAL_ERROR;
    this.host.metrics.errors.codec++;
    this.close(code, err instanceof CodecError ? err.code.toLowerCase() : 'codec failure');
  }

  /** @internal One message's text: parse once, check the envelope, dispatch. */
  receiveText(text: string): void {
    const m = this.host.metrics;
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      m.errors.parse++;
      this.sendText(errorReply(null, PARSE_ERROR, ERRORS.PARSE_ERROR.message));
      return;
    }
    if (Array.isArray(msg)) {
      this.receiveBatch(msg);
      return;
    }
    switch (classify(msg)) {
      case Kind.Request:
        this.receiveRequest(msg as JsonRpcRequest);
        return;
      case Kind.Notification:
        this.receiveNotification(msg as JsonRpcNotification);
        return;
      case Kind.Response:
        this.deliverResponse(msg as JsonRpcResponse);
        return;
      default:
        m.errors.invalid_request++;
        this.sendText(errorReply(idForError(msg), INVALID_REQUEST, ERRORS.INVALID_REQUEST.message));
    }
  }

  private receiveRequest(msg: JsonRpcRequest): void {
    const t0 = performance.now();
    const reply = this.dispatch(msg);
    if (typeof reply === 'string') {
      this.sendText(reply);
      this.host.metrics.requestLatency.observe((performance.now() - t0) / 1000);
    } else if (reply !== undefined) {
      this.await(reply, msg.id, t0);
    }
  }

  /** Calls the handler, turning a throw (a handler bug) into -32603. */
  private dispatch(msg: JsonRpcRequest): Reply {
    if (this.host.draining) {
      return errorReply(msg.id, ERRORS.SERVER_DRAINING.rpc, ERRORS.SERVER_DRAINING.message);
    }
    const auth = this.host.auth;
    if (auth !== undefined && auth.checksTools && msg.method === 'tools/call') {
      const tool = msg.params?.name;
      if (typeof tool === 'string' && !auth.mayCallTool(this.identity, tool)) {
        this.host.metrics.errors.forbidden++;
        return errorReply(msg.id, ERRORS.FORBIDDEN.rpc, `Forbidden: tool ${tool} needs a scope this identity lacks`);
      }
    }
    if (this.admission !== undefined) {
      this.admission.method = msg.method;
      const verdict = this.host.rateLimiter!.checkRequest(this.admission);
      if (verdict !== null) return this.admit(msg, verdict);
      this.denials = 0;
    }
    return this.call(msg);
  }

  private call(msg: JsonRpcRequest): Reply {
    try {
      return this.handler.request(msg);
    } catch (err) {
      return this.internalError(msg.id, err);
    }
  }

  /** A request the rate limiter did not simply allow: refuse it, hold it (queue mode), or wait for Redis. */
  private admit(msg: JsonRpcRequest, verdict: Verdict | Promise<Verdict>): Reply {
    if (verdict instanceof Promise) {
      return verdict.then((v) => (v === null ? ((this.denials = 0), this.call(msg)) : this.admit(msg, v)));
    }
    if (verdict === null) return this.call(msg);
    if (verdict.kind === 'delayed') {
      this.denials = 0;
      return new Promise<void>((resolve) => setTimeout(resolve, verdict.delayMs)).then(() =>
        this.isOpen ? this.call(msg) : undefined,
      );
    }
    this.host.metrics.errors.rate_limited++;
    const closeAfter = this.host.options.rateLimitCloseAfter;
    if (closeAfter > 0 && ++this.denials >= closeAfter) {
      this.host.logger.warn({ session: this.id, denials: this.denials }, 'closing a session that kept exceeding its rate limit');
      this.close(CloseCode.POLICY_VIOLATION, 'rate limit exceeded');
    }
    const retryAfterMs = Number.isFinite(verdict.retryAfterMs) ? Math.ceil(verdict.retryAfterMs) : null;
    return errorReply(msg.id, ERRORS.RATE_LIMITED.rpc, ERRORS.RATE_LIMITED.message, {
      retryAfterMs,
      limit: verdict.limit,
      scope: verdict.scope,
      ...(verdict.method === undefined ? {} : { method: verdict.method }),
    });
  }

  /** A notification, unless the rate limiter drops it. */
  private receiveNotification(msg: JsonRpcNotification): void {
    if (this.admission !== undefined) {
      this.admission.method = msg.method;
      const verdict = this.host.rateLimiter!.checkNotification(this.admission);
      if (verdict instanceof Promise) {
        verdict.then(
          (v) => {
            if (v === null || v.kind === 'delayed') this.deliverNotification(msg);
            else this.host.metrics.errors.notification_dropped++;
          },
          (err: unknown) => {
            // The limiter answers with its failMode; a check that still fails drops only this notification.
            this.host.metrics.errors.notification_dropped++;
            this.host.logger.debug({ err, session: this.id }, 'notification rate check failed');
          },
        );
        return;
      }
      if (verdict !== null && verdict.kind === 'denied') {
        this.host.metrics.errors.notification_dropped++;
        return;
      }
    }
    this.deliverNotification(msg);
  }

  /**
   * Hands a notification to the handler. A throw, or a rejected promise
   * returned despite the void signature, is a handler bug: it costs this
   * session (see {@link Session.fail}), never the process.
   */
  private deliverNotification(msg: JsonRpcNotification): void {
    let r: unknown;
    try {
      r = this.handler.notification(msg);
    } catch (err) {
      this.fail(err, 'notification handler failed');
      return;
    }
    if (r instanceof Promise) r.then(undefined, (err: unknown) => this.fail(err, 'notification handler failed'));
  }

  /** Hands a response to the handler; a failure is handled as in {@link Session.deliverNotification}. */
  private deliverResponse(msg: JsonRpcResponse): void {
    let r: unknown;
    try {
      r = this.handler.response(msg);
    } catch (err) {
      this.fail(err, 'response handler failed');
      return;
    }
    if (r instanceof Promise) r.then(undefined, (err: unknown) => this.fail(err, 'response handler failed'));
  }

  /**
   * The handler failed outside a request, where no error reply can carry
   * the fault: log it once, make the handler inert (later messages and
   * later failures of the old one are ignored) and close with 1011.
   */
  private fail(err: unknown, what: string): void {
    if (this.faulted) return;
    this.faulted = true;
    this.handler = INERT;
    this.host.metrics.errors.internal++;
    this.host.logger.error({ err, session: this.id }, what);
    this.close(CloseCode.INTERNAL_ERROR, 'internal error');
  }

  /**
   * Counts a pending reply in flight until it is sent. The reply is written
   * before the count drops, so a drain waiting for zero never closes the
   * socket in front of an answer.
   */
  private await(reply: Promise<string | undefined>, id: RequestId | null, t0: number): void {
    const m = this.host.metrics;
    this.inFlight++;
    m.requestsInFlight++;
    reply.then(
      (text) => this.settle(text, t0),
      (err: unknown) => this.settle(this.internalError(id, err), t0),
    );
  }

  private settle(text: string | undefined, t0: number): void {
    const m = this.host.metrics;
    if (text !== undefined) this.sendText(text);
    m.requestLatency.observe((performance.now() - t0) / 1000);
    this.inFlight--;
    m.requestsInFlight--;
    this.host.requestSettled(this);
  }

  private internalError(id: RequestId | null, err: unknown): string {
    this.host.metrics.errors.internal++;
    this.host.logger.error({ err, session: this.id }, 'handler failed');
    return errorReply(id, INTERNAL_ERROR, ERRORS.INTERNAL_ERROR.message);
  }

  /**
   * A JSON-RPC batch: allowed only on sessions that negotiated 2025-03-26.
   * Replies go out as one array once every request in it has an answer;
   * a batch of notifications gets no reply at all.
   */
  private receiveBatch(items: unknown[]): void {
    const m = this.host.metrics;
    if (!allowsBatch(this.handler.protocolVersion)) {
      m.errors.invalid_request++;
      this.sendText(errorReply(null, INVALID_REQUEST, BATCH_NOT_ALLOWED));
      return;
    }
    if (items.length === 0) {
      m.errors.invalid_request++;
      this.sendText(errorReply(null, INVALID_REQUEST, ERRORS.EMPTY_BATCH.message));
      return;
    }
    const replies: Array<string | Promise<string | undefined>> = [];
    let pending = false;
    for (const item of items) {
      switch (classify(item)) {
        case Kind.Request: {
          const r = this.dispatch(item as JsonRpcRequest);
          if (r === undefined) break;
          if (typeof r !== 'string') pending = true;
          replies.push(r);
          break;
        }
        case Kind.Notification:
          this.receiveNotification(item as JsonRpcNotification);
          break;
        case Kind.Response:
          this.deliverResponse(item as JsonRpcResponse);
          break;
        default:
          m.errors.invalid_request++;
          replies.push(errorReply(idForError(item), INVALID_REQUEST, ERRORS.INVALID_REQUEST.message));
      }
    }
    if (replies.length === 0) return;
    if (!pending) {
      this.sendText(`[${replies.join(',')}]`);
      return;
    }
    // Every element settles (the handlers' promises never reject; a bug becomes -32603 below).
    const batch = Promise.all(replies).then((all) => {
      const parts = all.filter((r) => r !== undefined);
      return parts.length === 0 ? undefined : `[${parts.join(',')}]`;
    });
    this.await(batch, null, performance.now());
  }

  // --------------------------------------------------------------- outbound

  /** Sends one serialised JSON-RPC message as a text frame. Dropped once the socket is closing. */
  sendText(text: string): void {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    // Replies produced in one turn of the event loop (a read that carried
    // many requests, or promises that settled together) leave in one writev
    // instead of one system call each: cork now, uncork every corked session
    // in the check phase. setImmediate rather than nextTick so replies that
    // arrive through promises (SDK servers, async tools) batch too.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      corkedSessions.push(this);
      if (corkedSessions.length === 1) setImmediate(uncorkAll);
    }
    const m = this.host.metrics;
    m.messagesSent++;
    if (this.wire !== undefined) {
      const frame = this.wire.encode(text);
      if (frame instanceof Promise) frame.then((f) => this.sendFrame(f), () => this.close(CloseCode.INTERNAL_ERROR, 'codec failure'));
      else this.sendFrame(frame);
      return;
    }
    const buf = Buffer.from(text);
    m.bytesSent += buf.length;
    ws.send(buf, TEXT_FRAME);
    if (this.pausedAt === 0 && ws.bufferedAmount > this.host.maxBufferedBytes) this.pauseReading();
  }

  private sendFrame(frame: OutboundFrame): void {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    this.host.metrics.bytesSent += typeof frame.data === 'string' ? Buffer.byteLength(frame.data) : frame.data.length;
    ws.send(frame.data, frame.binary ? BINARY_FRAME : TEXT_FRAME);
    if (this.pausedAt === 0 && ws.bufferedAmount > this.host.maxBufferedBytes) this.pauseReading();
  }

  /** @internal Flushes what sendText corked. */
  uncork(): void {
    this.socket.uncork();
  }

  /** Sends a notification. */
  notify(method: string, params?: Record<string, unknown>): void {
    this.sendText(JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }));
  }

  /** Starts a close handshake with `code`. Idempotent. */
  close(code: number, reason: string): void {
    if (this.closingAt !== 0) return;
    this.closingAt = this.host.now || 1;
    this.ws.close(code, reason);
  }

  /** Drops the connection without a close handshake (dead or hostile peer). */
  terminate(): void {
    this.ws.terminate();
  }

  /** Sends a heartbeat ping. */
  ping(now: number): void {
    this.pingSentAt = now;
    this.ws.ping();
  }

  private pauseReading(): void {
    this.pausedAt = this.host.now || 1;
    this.ws.pause();
    this.socket.once('drain', onDrain);
  }

  /** @internal */
  resumeReading(): void {
    if (this.pausedAt === 0) return;
    if (this.ws.bufferedAmount > this.host.maxBufferedBytes) {
      this.socket.once('drain', onDrain);
      return;
    }
    this.pausedAt = 0;
    if (!this.readingHeld) this.ws.resume();
  }

  /** Stops or restarts reading for the handler; see SessionPeer.holdReading. */
  holdReading(hold: boolean): void {
    if (hold === this.readingHeld) return;
    this.readingHeld = hold;
    if (hold) {
      this.ws.pause();
      return;
    }
    // A ping sent before the hold may have been answered in bytes not yet read.
    this.pingSentAt = 0;
    this.lastSeen = this.host.now;
    if (this.pausedAt === 0) this.ws.resume();
  }

  /** @internal Raw bytes from the client, for the incomplete-message timeout. */
  onData(chunk: Buffer): void {
    const frames = this.frames!;
    frames.push(chunk);
    if (!frames.inMessage) this.partialSince = 0;
    else if (this.partialSince === 0) this.partialSince = this.host.now || 1;
  }

  /** @internal */
  onPong(): void {
    this.pingSentAt = 0;
    this.lastSeen = this.host.now;
  }

  /** @internal */
  onClosed(): void {
    if (this.pausedAt !== 0) this.socket.removeListener('drain', onDrain);
    this.host.sessionClosed(this);
    let r: unknown;
    try {
      r = this.handler.closed();
    } catch (err) {
      this.host.logger.error({ err, session: this.id }, 'handler close failed');
      return;
    }
    if (r instanceof Promise) r.then(undefined, (err: unknown) => this.host.logger.error({ err, session: this.id }, 'handler close failed'));
  }
}

let corkedSessions: Session[] = [];

function uncorkAll(): void {
  const list = corkedSessions;
  corkedSessions = [];
  for (const s of list) {
    s.corked = false;
    s.uncork();
  }
}

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  (this as SocketWithSession)[kSession].receive(data, isBinary);
}

function onPong(this: WebSocket): void {
  (this as SocketWithSession)[kSession].onPong();
}

function onClose(this: WebSocket): void {
  (this as SocketWithSession)[kSession].onClosed();
}

function onError(this: WebSocket, err: Error & { code?: string }): void {
  const session = (this as SocketWithSession)[kSession];
  // ws has already chosen the close code (1002, 1007, 1009) and is closing.
  session.host.metrics.errors.socket++;
  session.host.logger.debug({ session: session.id, code: err.code, msg: err.message }, 'socket error');
}

function onData(this: Socket, chunk: Buffer): void {
  (this as Socket & { [kSession]?: Session })[kSession]?.onData(chunk);
}

function onDrain(this: Socket): void {
  (this as Socket & { [kSession]?: Session })[kSession]?.resumeReading();
}
