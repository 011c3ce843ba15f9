/**
 * The transport-neutral per-message path, shared by a WebSocket session
 * (session.ts) and a Streamable HTTP session (http-session.ts): one
 * implementation of what happens to a message once its text is in hand.
 *
 *   text → JSON.parse (one parse per message)   →  -32700 on failure
 *        → batch? only where the revision allows it
 *        → envelope check (classify)            →  -32600 on failure
 *        → request:      draining? -32010 → tool scope? -32013
 *                        → rate limit? -32012 (or held, or awaited)
 *                        → handler.request; a throw → -32603
 *                        → reply: a string now, or a promise of one
 *                          (counted in flight, timed, sent when settled)
 *        → notification: rate limit (dropped when denied) → handler
 *        → response:     handler
 *
 * Replies go to the {@link ReplySink} the message came with: the WebSocket
 * session itself, or the response of the HTTP POST that carried it. What
 * the handler sends on its own (notifications, server→client requests) goes
 * through the transport's SessionPeer.sendText instead. A handler that fails
 * outside a request is made inert and the transport is closed (1011 on a
 * WebSocket, the session ended on HTTP).
 *
 * The transport supplies the wire: sending, closing, and what to do when
 * the session's requests in flight reach maxInFlightPerSession (a WebSocket
 * stops reading; HTTP refuses more POSTs at its door).
 */
import { performance } from 'node:perf_hooks';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { CloseCode } from '../protocol/close-codes.js';
import { ERRORS, type ErrorSpec } from '../protocol/errors.js';
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
import type { HandlerFactory, Identity, Reply, SessionHandler } from './handler.js';
import type { Authenticator } from './auth.js';
import type { RateLimiter, RateLimitRequest, Verdict } from '../ratelimit/limiter.js';
import type { RequestSpan, RequestTracer } from '../observe/tracing.js';

/** What the message core needs from its server, whatever the transport. */
export interface CoreHost {
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
  /** Requests in flight at which a session stops taking more. */
  readonly maxInFlightPerSession: number;
  /** Requests in flight at or below which it takes them again. */
  readonly inFlightResumeAt: number;
  /** Coarse clock (ms), updated by the sweep. */
  readonly now: number;
  /** True once graceful shutdown began: new requests are refused. */
  readonly draining: boolean;
  /** Set when auth is on: tool calls are checked against the identity's scopes. */
  readonly auth: Authenticator | undefined;
  /** Admission by rate, when on. */
  readonly rateLimiter: RateLimiter | undefined;
  readonly options: { readonly rateLimitCloseAfter: number };
  /** Set while an OpenTelemetry tracer provider is registered: a span per request. */
  readonly tracer?: RequestTracer | undefined;
  /** A reply that was in flight has been sent (or dropped). */
  requestSettled(core: MessageCore): void;
}

/**
 * Where the replies to one inbound message go. `error` is set when the core
 * itself refused the message (parse error, envelope, draining, rate limit),
 * so an HTTP response can carry the row's status; a WebSocket ignores it.
 * `text` is undefined when a request ended without a reply (cancelled).
 */
export interface ReplySink {
  reply(text: string | undefined, error?: ErrorSpec): void;
  /** The request's HTTP headers, when it came over HTTP (read for `traceparent` only while tracing). */
  readonly httpHeaders?: IncomingHttpHeaders | undefined;
}

const BATCH_NOT_ALLOWED = ERRORS.BATCH_NOT_ALLOWED.message;

/** What serves a session whose handler failed: nothing, while the transport closes. */
const INERT: SessionHandler = Object.freeze({
  protocolVersion: undefined,
  request: () => undefined,
  notification: () => {},
  response: () => {},
  closed: () => {},
});

/** One MCP session's message path; the transport subclasses it. */
export abstract class MessageCore {
  readonly id: string;
  readonly remoteAddress: string;
  readonly identity: Identity | undefined;
  /** When this side started closing; 0 while open. */
  closingAt = 0;
  /** Requests whose reply is still being computed. */
  inFlight = 0;
  /** inFlightFull() was called and inFlightEased() not yet. */
  private inFlightCapped = false;
  /** The rate-limit key of this session; `method` is set per message. */
  private readonly admission: RateLimitRequest | undefined;
  /** Rate-limited requests in a row; reset by any allowed one. */
  private denials = 0;
  /** The handler failed outside a request and was replaced by {@link INERT}. */
  private faulted = false;
  /** The table row of the refusal dispatch() just returned, for the sink; undefined otherwise. */
  private refused: ErrorSpec | undefined = undefined;
  /** Replaced by {@link INERT} once it fails outside a request. */
  protected handler: SessionHandler = INERT;

  constructor(
    /** @internal */
    readonly host: CoreHost,
    id: string,
    remoteAddress: string,
    identity: Identity | undefined,
  ) {
    this.id = id;
    this.remoteAddress = remoteAddress;
    this.identity = identity;
    this.admission = host.rateLimiter
      ? { connectionKey: id, identityKey: identity?.subject, ip: remoteAddress, method: '' }
      : undefined;
  }

  /** The MCP revision negotiated on this session, if initialized. */
  get protocolVersion(): string | undefined {
    return this.handler.protocolVersion;
  }

  /** True while replies can still be delivered. */
  abstract get isOpen(): boolean;
  /** Closes the transport; `code` is a WebSocket close code (HTTP maps it). Idempotent. */
  abstract close(code: number, reason: string): void;
  /** Requests in flight reached maxInFlightPerSession. */
  protected inFlightFull(): void {}
  /** Requests in flight fell back to the resume mark after inFlightFull(). */
  protected inFlightEased(): void {}

  /**
   * Makes the handler, with this transport as its peer: called by the
   * subclass once its own fields are set. A factory that throws or returns
   * no handler costs this session (closed as by {@link MessageCore.fail}).
   */
  protected start(makeHandler: HandlerFactory, peer: Parameters<HandlerFactory>[0]): void {
    try {
      const h = makeHandler(peer);
      if (!isSessionHandler(h)) {
        throw new TypeError(`handler factory returned ${h === null ? 'null' : typeof h}, not a SessionHandler (request, notification, response, closed)`);
      }
      this.handler = h;
    } catch (err) {
      this.fail(err, 'handler factory failed');
    }
  }

  // ---------------------------------------------------------------- inbound

  /**
   * One message's text, replies to `sink`. Returns true when a reply was or
   * will be given to the sink (the text held a request, or was refused),
   * false when it held only notifications and responses. Whatever escapes
   * the dispatch (a handler object that breaks its contract) costs this
   * session, never the process: this runs inside socket listeners and
   * promise callbacks.
   */
  receiveMessage(text: string, sink: ReplySink): boolean {
    try {
      return this.dispatchText(text, sink);
    } catch (err) {
      this.fail(err, 'message handling failed');
      return false;
    }
  }

  /**
   * A message the transport parsed already (an HTTP POST reads its body to
   * route it): the same path from the envelope check on, guarded the same way.
   */
  receiveParsed(msg: unknown, sink: ReplySink): boolean {
    try {
      if (this.closingAt !== 0) return false;
      return this.dispatchParsed(msg, sink);
    } catch (err) {
      this.fail(err, 'message handling failed');
      return false;
    }
  }

  /** Parse once, check the envelope, dispatch. */
  private dispatchText(text: string, sink: ReplySink): boolean {
    // Closing or closed: a held or late-decoded message must not run; no reply could be sent.
    if (this.closingAt !== 0) return false;
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      this.host.metrics.errors.parse++;
      sink.reply(errorReply(null, PARSE_ERROR, ERRORS.PARSE_ERROR.message), ERRORS.PARSE_ERROR);
      return true;
    }
    return this.dispatchParsed(msg, sink);
  }

  /** Batch rules, envelope check, dispatch by kind. */
  private dispatchParsed(msg: unknown, sink: ReplySink): boolean {
    const m = this.host.metrics;
    if (Array.isArray(msg)) return this.receiveBatch(msg, sink);
    switch (classify(msg)) {
      case Kind.Request:
        this.receiveRequest(msg as JsonRpcRequest, sink);
        return true;
      case Kind.Notification:
        this.receiveNotification(msg as JsonRpcNotification);
        return false;
      case Kind.Response:
        this.deliverResponse(msg as JsonRpcResponse);
        return false;
      default:
        m.errors.invalid_request++;
        sink.reply(errorReply(idForError(msg), INVALID_REQUEST, ERRORS.INVALID_REQUEST.message), ERRORS.INVALID_REQUEST);
        return true;
    }
  }

  /** A request already parsed and classified (an HTTP POST checks its headers against it first). */
  receiveRequest(msg: JsonRpcRequest, sink: ReplySink): void {
    const t0 = performance.now();
    const tracer = this.host.tracer;
    if (tracer === undefined) this.answer(this.dispatch(msg), msg, sink, t0, undefined);
    else this.receiveTraced(tracer, msg, sink, t0);
  }

  /** {@link receiveRequest} inside a span: taken only while a tracer provider is registered. */
  private receiveTraced(tracer: RequestTracer, msg: JsonRpcRequest, sink: ReplySink, t0: number): void {
    const span = tracer.begin(msg.method, msg.id, msg.params, this.id, sink.httpHeaders);
    let reply: Reply;
    try {
      reply = tracer.run(span, () => this.dispatch(msg));
    } catch (err) {
      tracer.end(span, undefined);
      throw err;
    }
    this.answer(reply, msg, sink, t0, span);
  }

  /**
   * A request's reply to its sink: a string now (with the row of a refusal
   * of the core's own), none (cancelled), or a promise counted in flight
   * until it settles. The span, when traced, ends with the reply.
   */
  private answer(reply: Reply, msg: JsonRpcRequest, sink: ReplySink, t0: number, span: RequestSpan | undefined): void {
    if (typeof reply === 'string') {
      const refused = this.refused;
      if (refused === undefined) sink.reply(reply);
      else {
        this.refused = undefined;
        sink.reply(reply, refused);
      }
      this.host.metrics.observeRequest(msg.method, (performance.now() - t0) / 1000);
      if (span !== undefined) span.tracer.end(span, reply);
    } else if (reply !== undefined) {
      this.await(reply, msg.id, msg.method, t0, sink, span);
    } else {
      sink.reply(undefined);
      if (span !== undefined) span.tracer.end(span, undefined);
    }
  }

  /**
   * Calls the handler, turning a throw (a handler bug) into -32603. A refusal
   * of the core's own is returned as the reply, its table row left in
   * {@link MessageCore.refused} for the sink.
   */
  private dispatch(msg: JsonRpcRequest): Reply {
    if (this.host.draining) {
      return this.refuse(errorReply(msg.id, ERRORS.SERVER_DRAINING.rpc, ERRORS.SERVER_DRAINING.message), ERRORS.SERVER_DRAINING);
    }
    const auth = this.host.auth;
    if (auth !== undefined && auth.checksTools && msg.method === 'tools/call') {
      const tool = msg.params?.name;
      if (typeof tool === 'string' && !auth.mayCallTool(this.identity, tool)) {
        this.host.metrics.errors.forbidden++;
        return this.refuse(errorReply(msg.id, ERRORS.FORBIDDEN.rpc, `Forbidden: tool ${tool} needs a scope this identity lacks`), ERRORS.FORBIDDEN);
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

  /** A refusal of the core's own: the reply text, with its row kept for the sink of a single request. */
  private refuse(text: string, spec: ErrorSpec): string {
    this.refused = spec;
    return text;
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
      // Once the request waited for the store, its refusal is a plain reply (HTTP: 200 with the error).
      return verdict.then((v) => {
        if (v === null) {
          this.denials = 0;
          return this.call(msg);
        }
        const r = this.admit(msg, v);
        this.refused = undefined;
        return r;
      });
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
    const text = errorReply(msg.id, ERRORS.RATE_LIMITED.rpc, ERRORS.RATE_LIMITED.message, {
      retryAfterMs,
      limit: verdict.limit,
      scope: verdict.scope,
      ...(verdict.method === undefined ? {} : { method: verdict.method }),
    });
    return this.refuse(text, ERRORS.RATE_LIMITED);
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
   * session (see {@link MessageCore.fail}), never the process.
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

  /** Hands a response to the handler; a failure is handled as in {@link MessageCore.deliverNotification}. */
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
  protected fail(err: unknown, what: string): void {
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
   * transport in front of an answer.
   */
  private await(reply: Promise<string | undefined>, id: RequestId | null, method: string, t0: number, sink: ReplySink, span: RequestSpan | undefined): void {
    const m = this.host.metrics;
    this.inFlight++;
    m.requestsInFlight++;
    if (this.inFlight >= this.host.maxInFlightPerSession && !this.inFlightCapped) {
      this.inFlightCapped = true;
      this.inFlightFull();
    }
    reply.then(
      (text) => this.settle(text, method, t0, sink, span),
      (err: unknown) => this.settle(this.internalError(id, err), method, t0, sink, span),
    );
  }

  private settle(text: string | undefined, method: string, t0: number, sink: ReplySink, span: RequestSpan | undefined): void {
    const m = this.host.metrics;
    sink.reply(text);
    m.observeRequest(method, (performance.now() - t0) / 1000);
    if (span !== undefined) span.tracer.end(span, text);
    this.inFlight--;
    m.requestsInFlight--;
    if (this.inFlightCapped && this.inFlight <= this.host.inFlightResumeAt) {
      this.inFlightCapped = false;
      this.inFlightEased();
    }
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
  private receiveBatch(items: unknown[], sink: ReplySink): boolean {
    const m = this.host.metrics;
    if (!allowsBatch(this.handler.protocolVersion)) {
      m.errors.invalid_request++;
      sink.reply(errorReply(null, INVALID_REQUEST, BATCH_NOT_ALLOWED), ERRORS.BATCH_NOT_ALLOWED);
      return true;
    }
    if (items.length === 0) {
      m.errors.invalid_request++;
      sink.reply(errorReply(null, INVALID_REQUEST, ERRORS.EMPTY_BATCH.message), ERRORS.EMPTY_BATCH);
      return true;
    }
    // Every request of a batch runs at once: a batch longer than the in-flight
    // cap would get around it, so it is refused whole.
    if (items.length > this.host.maxInFlightPerSession) {
      m.errors.invalid_request++;
      sink.reply(errorReply(null, INVALID_REQUEST, ERRORS.BATCH_TOO_LARGE.message, { limit: this.host.maxInFlightPerSession }), ERRORS.BATCH_TOO_LARGE);
      return true;
    }
    const replies: Array<string | Promise<string | undefined>> = [];
    let pending = 0;
    for (const item of items) {
      if (this.closingAt !== 0) break; // an item closed the session
      switch (classify(item)) {
        case Kind.Request: {
          const r = this.dispatch(item as JsonRpcRequest);
          this.refused = undefined;
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
    if (replies.length === 0) return false;
    if (pending === 0) {
      // Nothing pending: every reply is a string already.
      sink.reply(`[${(replies as string[]).join(',')}]`);
      return true;
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
    this.await(batch, null, '(batch)', performance.now(), sink, undefined);
    return true;
  }

  /** The transport closed: release the handler. A failure is logged. */
  protected handlerClosed(): void {
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
