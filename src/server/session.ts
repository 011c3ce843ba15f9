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
 * length is free), sent as a text frame. When the socket's queue (plus
 * messages waiting for an async compressor) passes maxBufferedBytes the
 * session stops reading (the client cannot pile up more requests) until the
 * kernel drains the queue; a consumer that stays over for
 * slowConsumerTimeoutMs is closed with 4001.
 *
 * Reading also stops while maxInFlightPerSession requests are in flight,
 * and while MAX_PENDING_DECODES inbound frames wait for an async
 * decompressor. Each is one bit of `pauses`, set and cleared by a counter
 * check; reading resumes when no bit is left. Messages ws had already
 * parsed from the last socket read when reading stopped are held, in order,
 * and dispatched first on resume: at most one read's worth, and nothing
 * is dispatched past a bound.
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
  /** Requests in flight at which a session stops reading. */
  readonly maxInFlightPerSession: number;
  /** Requests in flight at or below which it reads again. */
  readonly inFlightResumeAt: number;
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

/** Reasons reading is paused (bits of Session.pauses). */
const PAUSE_BUFFERED = 1;
const PAUSE_IN_FLIGHT = 2;
const PAUSE_DECODING = 4;
/** The handler holds reading (SessionPeer.holdReading: a gateway whose upstream is congested). */
const PAUSE_HELD = 8;

/**
 * Inbound frames a session lets wait for its decompressor before it stops
 * reading. Async decodes are only for frames over inlineDecodeMaxBytes, so
 * each may hold up to maxPayload of output: a handful keeps the codec pool
 * (at most 4 calls at once) busy without letting one client queue more.
 */
export const MAX_PENDING_DECODES = 4;

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
  /** When reading was paused because the send queue is over maxBufferedBytes; 0 otherwise. */
  pausedAt = 0;
  /** Why reading is paused: PAUSE_* bits; 0 while reading. */
  private pauses = 0;
  /** A 'drain' listener is on the socket. */
  private drainArmed = false;
  /** Frames (data, isBinary pairs) that arrived while paused. */
  private heldFrames: Array<Buffer | boolean> | undefined;
  /** Decoded messages that came out of the codec while paused; they precede heldFrames. */
  private heldTexts: string[] | undefined;
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
      const h = makeHandler(this);
      if (!isSessionHandler(h)) {
        throw new TypeError(`handler factory returned ${h === null ? 'null' : typeof h}, not a SessionHandler (request, notification, response, closed)`);
      }
      this.handler = h;
    } catch (err) {
      this.handler = INERT;
      this.fail(err, 'handler factory failed');
    }
  }

  /** The MCP revision negotiated on this session, if initialized. */
  get protocolVersion(): string | undefined {
    return this.handler.protocolVersion;
  }

  /** Bytes queued for sending and not yet accepted by the kernel, counting messages still being compressed. */
  get bufferedAmount(): number {
    return this.wire === undefined ? this.ws.bufferedAmount : this.ws.bufferedAmount + this.wire.pendingEncodeBytes;
  }

  /** Inbound frames waiting for the decompressor (0 without a codec). */
  get pendingDecodes(): number {
    return this.wire === undefined ? 0 : this.wire.pendingDecodes;
  }

  /** The close code of the socket once closed (1005 when the peer sent none, 1006 when the connection dropped). */
  closeCode: number | undefined = undefined;

  /** The subprotocol selected at the handshake ('' for none). */
  get subprotocol(): string {
    return this.ws.protocol;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  // ---------------------------------------------------------------- inbound

  /** @internal One WebSocket message. */
  receive(data: RawData, isBinary: boolean): void {
    // Closing: no reply could be sent; the socket is read only for the peer's close frame.
    if (this.closingAt !== 0) return;
    const m = this.host.metrics;
    m.messagesReceived++;
    this.lastSeen = this.host.now;
    this.pingSentAt = 0;
    const buf = data as Buffer;
    m.bytesReceived += buf.length;
    if (this.pauses !== 0) {
      // Parsed from the read that was under way when reading stopped.
      (this.heldFrames ??= []).push(buf, isBinary);
      return;
    }
    this.receiveFrame(buf, isBinary);
  }

  private receiveFrame(buf: Buffer, isBinary: boolean): void {
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
      else {
        text.then((t) => this.decoded(t), (err: unknown) => this.codecFailed(err));
        if (this.wire.pendingDecodes >= MAX_PENDING_DECODES) this.pause(PAUSE_DECODING);
      }
      return;
    }
    if (isBinary) {
      this.host.metrics.errors.unsupported_data++;
      this.close(CloseCode.UNSUPPORTED_DATA, 'binary frames need a negotiated codec');
      return;
    }
    this.receiveText(buf.toString());
  }

  /** A message out of the async decoder: dispatched, or held while reading is paused. */
  private decoded(text: string): void {
    if (this.closingAt !== 0) return; // the session ended while this message was decoded
    if (this.pauses !== 0) (this.heldTexts ??= []).push(text);
    else this.receiveText(text);
    if ((this.pauses & PAUSE_DECODING) !== 0 && this.wire!.pendingDecodes < MAX_PENDING_DECODES) this.unpause(PAUSE_DECODING);
  }

  /** A message refused by the codec: too big once decompressed (1009) or not valid (1007). */
  private codecFailed(err: unknown): void {
    const code = err instanceof CodecError ? CODEC_ERROR_CLOSE_CODES[err.code] : CloseCode.INTERNAL_ERROR;
    this.host.metrics.errors.codec++;
    this.close(code, err instanceof CodecError ? err.code.toLowerCase() : 'codec failure');
  }

  /**
   * @internal One message's text. Whatever escapes the dispatch (a handler
   * object that breaks its contract) costs this session (1011), never the
   * process: this runs inside ws listeners and promise callbacks.
   */
  receiveText(text: string): void {
    try {
      this.dispatchText(text);
    } catch (err) {
      this.fail(err, 'message handling failed');
    }
  }

  /** Parse once, check the envelope, dispatch. */
  private dispatchText(text: string): void {
    // Closing or closed: a held or late-decoded message must not run; no reply could be sent.
    if (this.closingAt !== 0) return;
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
    if (this.inFlight >= this.host.maxInFlightPerSession) this.pause(PAUSE_IN_FLIGHT);
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
    if ((this.pauses & PAUSE_IN_FLIGHT) !== 0 && this.inFlight <= this.host.inFlightResumeAt) this.unpause(PAUSE_IN_FLIGHT);
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
    // Every request of a batch runs at once: a batch longer than the in-flight
    // cap would get around it, so it is refused whole.
    if (items.length > this.host.maxInFlightPerSession) {
      m.errors.invalid_request++;
      this.sendText(errorReply(null, INVALID_REQUEST, ERRORS.BATCH_TOO_LARGE.message, { limit: this.host.maxInFlightPerSession }));
      return;
    }
    const replies: Array<string | Promise<string | undefined>> = [];
    let pending = 0;
    for (const item of items) {
      if (this.closingAt !== 0) break; // an item closed the session
      switch (classify(item)) {
        case Kind.Request: {
          const r = this.dispatch(item as JsonRpcRequest);
          if (r === undefined) break;
          if (typeof r !== 'string') pending++;
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
    if (pending === 0) {
      // Nothing pending: every reply is a string already.
      this.sendText(`[${(replies as string[]).join(',')}]`);
      return;
    }
    // Every element settles (the handlers' promises never reject; a bug becomes -32603 below).
    const batch = Promise.all(replies).then((all) => {
      const parts = all.filter((r) => r !== undefined);
      return parts.length === 0 ? undefined : `[${parts.join(',')}]`;
    });
    // Each pending request of the batch counts in flight; await() counts one.
    const extra = pending - 1;
    if (extra > 0) {
      this.inFlight += extra;
      m.requestsInFlight += extra;
      const release = (): void => {
        this.inFlight -= extra;
        m.requestsInFlight -= extra;
      };
      batch.then(release, release);
    }
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
      if (frame instanceof Promise) {
        frame.then((f) => this.sendFrame(f), () => this.close(CloseCode.INTERNAL_ERROR, 'codec failure'));
        // Waiting for the compressor counts as queued.
        if (this.pausedAt === 0 && this.bufferedAmount > this.host.maxBufferedBytes) this.pauseReading();
      } else this.sendFrame(frame);
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
    if (this.pausedAt === 0) {
      if (this.bufferedAmount > this.host.maxBufferedBytes) this.pauseReading();
    } else if (this.bufferedAmount <= this.host.maxBufferedBytes) {
      // Over the cap because of pending compressions only: no 'drain' will say they are done.
      this.resumeReading();
    }
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
    // Read again, whatever paused reading: the peer's close frame has to be
    // read for the handshake to finish. What arrives meanwhile is dropped.
    if (this.pauses !== 0) {
      this.pauses = 0;
      this.heldFrames = undefined;
      this.heldTexts = undefined;
      this.ws.resume();
    }
  }

  /** Drops the connection without a close handshake (dead or hostile peer). */
  terminate(): void {
    this.ws.terminate();
  }

  /**
   * Sends a heartbeat ping. Not while reading is paused: the pong could not
   * be read. A paused session's peer is judged by the slow-consumer timeout
   * (send queue) or not at all (the server's own queues).
   */
  ping(now: number): void {
    if (this.pauses !== 0) {
      this.lastSeen = now;
      return;
    }
    this.pingSentAt = now;
    this.ws.ping();
  }

  /** Stops reading for `reason`. */
  private pause(reason: number): void {
    if (this.closingAt !== 0) return;
    if (this.pauses === 0) {
      this.ws.pause();
      // A message the last read left incomplete, or a pong, waits on this side now, not on the client.
      this.partialSince = 0;
      this.pingSentAt = 0;
    }
    this.pauses |= reason;
  }

  /** Clears `reason`; with none left, dispatches what was held and reads again. */
  private unpause(reason: number): void {
    this.pauses &= ~reason;
    if (this.pauses !== 0) return;
    // Held messages go first, in arrival order; any of them may stop reading again.
    const texts = this.heldTexts;
    if (texts !== undefined) {
      let i = 0;
      while (i < texts.length && this.pauses === 0) this.receiveText(texts[i++]!);
      if (i < texts.length) {
        texts.splice(0, i);
        return;
      }
      this.heldTexts = undefined;
      if (this.pauses !== 0) return;
    }
    const frames = this.heldFrames;
    if (frames !== undefined) {
      let i = 0;
      while (i < frames.length && this.pauses === 0) {
        this.receiveFrame(frames[i] as Buffer, frames[i + 1] as boolean);
        i += 2;
      }
      if (i < frames.length) {
        frames.splice(0, i);
        return;
      }
      this.heldFrames = undefined;
      if (this.pauses !== 0) return;
    }
    if (this.frames !== undefined && this.frames.inMessage) this.partialSince = this.host.now || 1;
    this.ws.resume();
  }

  /** The send queue passed maxBufferedBytes. */
  private pauseReading(): void {
    this.pausedAt = this.host.now || 1;
    this.pause(PAUSE_BUFFERED);
    this.armDrain();
  }

  private armDrain(): void {
    if (this.drainArmed) return;
    this.drainArmed = true;
    this.socket.once('drain', onDrain);
  }

  /** @internal The socket's 'drain'. */
  drained(): void {
    this.drainArmed = false;
    this.resumeReading();
  }

  /** @internal */
  resumeReading(): void {
    if (this.pausedAt === 0) return;
    if (this.bufferedAmount > this.host.maxBufferedBytes) {
      if (this.ws.bufferedAmount > 0) this.armDrain();
      return;
    }
    this.pausedAt = 0;
    this.unpause(PAUSE_BUFFERED);
  }

  /** Reading is held by the handler (see SessionPeer.holdReading). */
  get readingHeld(): boolean {
    return (this.pauses & PAUSE_HELD) !== 0;
  }

  /** Stops or restarts reading for the handler; see SessionPeer.holdReading. */
  holdReading(hold: boolean): void {
    if (hold === this.readingHeld) return;
    if (hold) {
      this.pause(PAUSE_HELD);
      return;
    }
    this.lastSeen = this.host.now;
    this.unpause(PAUSE_HELD);
  }

  /** @internal Raw bytes from the client, for the incomplete-message timeout. */
  onData(chunk: Buffer): void {
    const frames = this.frames!;
    frames.push(chunk);
    if (!frames.inMessage) this.partialSince = 0;
    // While paused the rest of the message waits on this side, so its clock starts on resume.
    else if (this.partialSince === 0 && this.pauses === 0) this.partialSince = this.host.now || 1;
  }

  /** @internal */
  onPong(): void {
    this.pingSentAt = 0;
    this.lastSeen = this.host.now;
  }

  /** @internal */
  onClosed(): void {
    // Closed: anything still arriving (a message out of the async decoder) is dropped.
    if (this.closingAt === 0) this.closingAt = this.host.now || 1;
    if (this.drainArmed) this.socket.removeListener('drain', onDrain);
    this.heldFrames = undefined;
    this.heldTexts = undefined;
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

function isSessionHandler(h: unknown): h is SessionHandler {
  if (typeof h !== 'object' || h === null) return false;
  const o = h as Record<string, unknown>;
  return typeof o.request === 'function' && typeof o.notification === 'function' && typeof o.response === 'function' && typeof o.closed === 'function';
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

function onClose(this: WebSocket, code: number): void {
  const session = (this as SocketWithSession)[kSession];
  session.closeCode = code;
  session.onClosed();
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
  (this as Socket & { [kSession]?: Session })[kSession]?.drained();
}
