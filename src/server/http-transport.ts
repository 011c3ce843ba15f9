/**
 * Streamable HTTP on the MCP endpoint: the requests that are not WebSocket
 * upgrades. The same door (admission.ts) screens them, the same message
 * core (message-core.ts, through http-session.ts) answers them.
 *
 *   any method ─► door: headers, Origin, Host (403), credential shape (401)
 *              ─► Sec-WebSocket-Protocol codec / Content-Encoding? 400 / 415
 *   POST ─► Content-Type JSON? 415 ─► Accept JSON? 406 ─► verify credential
 *        ─► body: > maxPayload 413, not complete in messageTimeoutMs 408
 *        ─► JSON.parse (the one parse) ─► 400 + -32700
 *        ─► Mcp-Session-Id?  known, same identity ─► MCP-Protocol-Version? 400
 *                            ─► in flight at maxInFlightPerSession? 429
 *                            ─► the session's handler
 *                            unknown, expired or another identity's ─► 404
 *        ─► none, `initialize` ─► capacity (maxConnections, per IP,
 *                                 maxHttpSessions) 503 ─► handshake rate 503
 *                              ─► a legacy session, Mcp-Session-Id in the reply
 *        ─► none, else (a 2026-07-28 `initialize` too): stateless
 *                              ─► _meta version, capabilities? 400 + -32602
 *                              ─► headers match body (Mcp-Param-* of the tool's
 *                                 x-mcp-header arguments too)? 400 + -32020
 *                              ─► capacity 503 ─► a one-request session
 *   GET  ─► Mcp-Session-Id: the session's SSE stream (one at a time: 409)
 *        ─► none: 405 (426 when the client takes no SSE: a WebSocket client
 *           that forgot to upgrade)
 *   DELETE ─► Mcp-Session-Id: the session ends, 204; unknown 404
 *
 * Legacy sessions are bounded: each takes a connection slot (maxConnections,
 * maxConnectionsPerIp) and maxHttpSessions caps them; one unused for
 * httpSessionIdleMs (no response open, nothing in flight) is ended by the
 * server's sweep. A stateless request takes a slot while it runs. Session
 * ids are random UUIDs bound to the identity that created the session: any
 * other identity gets the same 404 as an unknown id.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { CloseCode } from '../protocol/close-codes.js';
import { ERRORS, type ErrorSpec } from '../protocol/errors.js';
import { classify, errorReply, Kind, type JsonRpcRequest } from '../protocol/jsonrpc.js';
import type { HandlerFactory, HeaderParamsOf } from './handler.js';
import type { Admission, Rejection } from './admission.js';
import type { VerifiedIdentity } from './auth.js';
import { HttpReply, countStatus } from './http-reply.js';
import { HttpSession, type HttpSessionHost } from './http-session.js';
import { STATELESS_PROTOCOL_VERSION, checkParamHeaders, checkRequestHeaders, isStatelessRequest, isSupportedVersion, supportedVersions } from './http-headers.js';
import type { ResolvedServerOptions } from './server-options.js';

/** What the HTTP transport reads from its server. */
export interface HttpTransportHost extends HttpSessionHost {
  readonly options: ResolvedServerOptions;
}

/** Body-read time when messageTimeoutMs is 0 (off for WebSocket; a body still needs an end). */
const DEFAULT_BODY_TIMEOUT_MS = 30_000;

/** Serves Streamable HTTP on the endpoint paths and owns the legacy sessions. */
export class HttpTransport {
  private readonly sessions = new Map<string, HttpSession>();
  /** Stateless (2026-07-28) requests still running: their SSE responses get heartbeats, shutdown ends them. */
  private readonly running = new Set<HttpSession>();

  constructor(
    private readonly host: HttpTransportHost,
    private readonly door: Admission,
    private readonly makeHandler: HandlerFactory,
    /** The handler's `x-mcp-header` tool arguments (the native router has them), checked on 2026-07-28 tools/call. */
    private readonly headerParams?: HeaderParamsOf,
  ) {}

  /** Open legacy sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** One non-upgrade request on an endpoint path. Never throws: a failure is a 500 on this response. */
  serve(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.route(req, res);
    } catch (err) {
      this.host.logger.error({ err }, 'HTTP request failed');
      if (!res.headersSent) this.plain(res, 500, 'internal error');
      else res.destroy();
    }
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method;
    if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
      this.plain(res, 405, 'Method Not Allowed: the MCP endpoint takes POST, GET, DELETE or a WebSocket upgrade', { Allow: 'POST, GET, DELETE' });
      return;
    }
    const sessionId = one(req.headers['mcp-session-id']);
    if (method === 'GET' && sessionId === undefined) {
      // Not a legacy session's stream: a WebSocket client that did not upgrade, or a 2026-07-28 client (no GET).
      if (!(req.headers.accept ?? '').toLowerCase().includes('text/event-stream')) {
        this.host.metrics.rejected.not_upgrade++;
        this.plain(res, 426, 'Upgrade Required: send a WebSocket upgrade, or POST MCP messages (Streamable HTTP)', {
          Upgrade: 'websocket',
          Connection: 'Upgrade, close',
        });
      } else this.plain(res, 405, 'Method Not Allowed: GET needs an Mcp-Session-Id (a legacy session stream)', { Allow: 'POST, DELETE' });
      return;
    }
    const url = req.url ?? '/';
    const screened = this.door.screen(req, url, undefined);
    if ('status' in screened) return this.reject(res, screened);
    // Codecs are WebSocket subprotocols; an HTTP body is plain JSON.
    if (req.headers['sec-websocket-protocol'] !== undefined) {
      this.plain(res, 400, 'Sec-WebSocket-Protocol on a plain HTTP request: codecs (mcp.zstd, …) are negotiated on the WebSocket upgrade only; Streamable HTTP bodies are plain JSON');
      return;
    }
    const encoding = one(req.headers['content-encoding']);
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
      this.plain(res, 415, `Content-Encoding ${encoding} is not supported on Streamable HTTP; compression is a WebSocket codec (mcp.zstd, …)`);
      return;
    }
    if (method === 'POST') {
      if (!isJson(req.headers['content-type'])) {
        this.plain(res, 415, 'Unsupported Media Type: the body must be application/json');
        return;
      }
      if (!acceptsJson(req.headers.accept)) {
        this.plain(res, 406, 'Not Acceptable: Accept must list application/json (and text/event-stream for streamed replies)');
        return;
      }
    } else if (method === 'GET' && !acceptsSse(req.headers.accept)) {
      this.plain(res, 406, 'Not Acceptable: Accept must list text/event-stream');
      return;
    } else if (method === 'DELETE' && sessionId === undefined) {
      this.plain(res, 400, 'Bad Request: DELETE needs an Mcp-Session-Id');
      return;
    }
    this.door.verify(screened.token).then(
      (identity) => {
        if (res.destroyed) return;
        if (method === 'POST') this.onPost(req, res, sessionId, identity);
        else this.onSessionRequest(req, res, sessionId!, identity);
      },
      (err: unknown) => this.reject(res, this.door.authRejection(err, req)),
    ).catch((err: unknown) => {
      this.host.logger.error({ err }, 'HTTP request failed');
      if (!res.headersSent) this.plain(res, 500, 'internal error');
    });
  }

  /** GET (the stream) or DELETE (the end) of a legacy session. */
  private onSessionRequest(req: IncomingMessage, res: ServerResponse, id: string, identity: VerifiedIdentity | undefined): void {
    const session = this.find(id, identity);
    if (session === undefined) return this.sessionNotFound(res);
    if (req.method === 'DELETE') {
      session.close(CloseCode.NORMAL, 'deleted by the client');
      countStatus(this.host.metrics, 204);
      res.writeHead(204).end();
      return;
    }
    if (session.hasStream) {
      this.plain(res, 409, 'Conflict: this session already has a GET stream open');
      return;
    }
    session.openStream(new HttpReply(this.host, res, true, false));
  }

  private onPost(req: IncomingMessage, res: ServerResponse, sessionId: string | undefined, identity: VerifiedIdentity | undefined): void {
    const { options, metrics } = this.host;
    readBody(req, options.maxPayload, options.messageTimeoutMs || DEFAULT_BODY_TIMEOUT_MS, (status, body) => {
      if (status === 413) {
        this.plain(res, 413, `Payload Too Large: a message is at most maxPayload (${options.maxPayload}) bytes`, { Connection: 'close' });
        return;
      }
      if (status === 408) {
        metrics.errors.message_timeout++;
        this.plain(res, 408, 'Request Timeout: the body did not arrive in time', { Connection: 'close' });
        return;
      }
      if (status !== 0 || body === undefined || res.destroyed) return; // the client went away
      metrics.messagesReceived++;
      metrics.bytesReceived += body.length;
      let msg: unknown;
      try {
        msg = JSON.parse(body.toString());
      } catch {
        metrics.errors.parse++;
        return this.rpcError(res, ERRORS.PARSE_ERROR, errorReply(null, ERRORS.PARSE_ERROR.rpc, ERRORS.PARSE_ERROR.message));
      }
      // This runs in the request's 'end' listener: a throw here would escape
      // to the process, so it becomes a 500 on this response, as in serve().
      try {
        this.dispatch(req, res, sessionId, identity, msg);
      } catch (err) {
        this.host.logger.error({ err }, 'HTTP request failed');
        if (!res.headersSent) this.plain(res, 500, 'internal error');
        else res.destroy();
      }
    });
  }

  private dispatch(req: IncomingMessage, res: ServerResponse, sessionId: string | undefined, identity: VerifiedIdentity | undefined, msg: unknown): void {
    const request = !Array.isArray(msg) && classify(msg) === Kind.Request ? (msg as JsonRpcRequest) : undefined;
    const sse = acceptsSse(req.headers.accept);
    // A request's headers are checked against its body below; a batch, a
    // notification or a response still carries a version header that a
    // router may have acted on: it must name a revision this server
    // speaks, and a batch cannot be 2026-07-28 (that revision has none).
    if (request === undefined) {
      const version = one(req.headers['mcp-protocol-version']);
      if (version !== undefined && !isSupportedVersion(version)) {
        const spec = ERRORS.UNSUPPORTED_PROTOCOL_VERSION;
        this.host.metrics.errors.invalid_request++;
        return this.rpcError(res, spec, errorReply(null, spec.rpc, spec.message, { supported: supportedVersions(), requested: version }));
      }
      if (Array.isArray(msg) && version === STATELESS_PROTOCOL_VERSION) {
        this.host.metrics.errors.invalid_request++;
        return this.rpcError(res, ERRORS.HEADER_MISMATCH, errorReply(null, ERRORS.HEADER_MISMATCH.rpc, `Header mismatch: MCP-Protocol-Version ${version} has no batches`));
      }
    }
    if (sessionId !== undefined) {
      const session = this.find(sessionId, identity);
      if (session === undefined) return this.sessionNotFound(res);
      if (request !== undefined) {
        const problem = checkRequestHeaders(req.headers, request);
        if (problem !== null) return this.headerProblem(res, request, problem);
        if (session.inFlight >= this.host.maxInFlightPerSession) {
          this.host.metrics.errors.rate_limited++;
          return this.rpcError(res, ERRORS.CLIENT_OVERLOADED, errorReply(request.id, ERRORS.CLIENT_OVERLOADED.rpc, ERRORS.CLIENT_OVERLOADED.message, { limit: this.host.maxInFlightPerSession }));
        }
      }
      session.post(msg, new HttpReply(this.host, res, sse, false));
      return;
    }
    const ip = this.door.addressOf(req);
    // A 2026-07-28 `initialize` opens nothing: that era has no such method, and the stateless path answers -32601 (404).
    if (request !== undefined && request.method === 'initialize' && !isStatelessRequest(req.headers, request)) return this.initialize(res, ip, identity, msg, sse);
    if (request !== undefined) {
      let problem = checkRequestHeaders(req.headers, request);
      if (problem === null && request.method === 'tools/call' && this.headerParams !== undefined && isStatelessRequest(req.headers, request)) {
        const name = request.params?.name;
        problem = checkParamHeaders(req.headers, request, typeof name === 'string' ? this.headerParams(name) : undefined);
      }
      if (problem !== null) return this.headerProblem(res, request, problem);
    }
    const full = this.door.checkCapacity(ip);
    if (full) return this.reject(res, full);
    this.door.takeSlot(ip);
    const session = new HttpSession(this.host, randomUUID(), ip, identity, this.makeHandler, true);
    if (!session.isOpen) return this.factoryFailed(res, request);
    this.running.add(session);
    session.post(msg, new HttpReply(this.host, res, sse, true));
  }

  /** A POST initialize without a session: a new legacy session, its id in the reply's Mcp-Session-Id. */
  private initialize(res: ServerResponse, ip: string, identity: VerifiedIdentity | undefined, msg: unknown, sse: boolean): void {
    const full = this.door.checkCapacity(ip);
    if (full) return this.reject(res, full);
    if (this.sessions.size >= this.host.options.maxHttpSessions) {
      return this.reject(res, { status: 503, reason: 'max_connections', headers: {}, message: 'max_http_sessions' });
    }
    const rate = this.door.checkHandshakeRate(ip);
    if (rate instanceof Promise) {
      this.door.takeSlot(ip); // held while the shared limit answers, so a burst cannot race past the caps
      rate.then((r) => {
        if (res.destroyed) return this.door.releaseSlot(ip);
        if (r) {
          this.door.releaseSlot(ip);
          return this.reject(res, r);
        }
        // What may have changed while the limit answered; the connection
        // caps are covered by the slot held. The rate is not asked again:
        // with a shared limit every answer is a promise, and each question
        // takes a handshake from the budget.
        const late = this.host.draining
          ? { status: 503 as const, reason: 'draining' as const, headers: {}, message: 'draining' }
          : this.sessions.size >= this.host.options.maxHttpSessions
            ? { status: 503 as const, reason: 'max_connections' as const, headers: {}, message: 'max_http_sessions' }
            : null;
        if (late !== null) {
          this.door.releaseSlot(ip);
          return this.reject(res, late);
        }
        this.openSession(res, ip, identity, msg, sse);
      }, () => {
        this.door.releaseSlot(ip);
        this.plain(res, 500, 'internal error');
      });
      return;
    }
    if (rate !== null) return this.reject(res, rate);
    this.door.takeSlot(ip);
    this.openSession(res, ip, identity, msg, sse);
  }

  /** An admitted initialize, its slot taken: the legacy session. */
  private openSession(res: ServerResponse, ip: string, identity: VerifiedIdentity | undefined, msg: unknown, sse: boolean): void {
    const id = randomUUID();
    const session = new HttpSession(this.host, id, ip, identity, this.makeHandler, false);
    if (!session.isOpen) return this.factoryFailed(res, msg as JsonRpcRequest);
    this.sessions.set(id, session);
    this.host.metrics.httpSessionsActive++;
    this.host.metrics.httpSessionsOpened++;
    const reply = new HttpReply(this.host, res, sse, false, { 'Mcp-Session-Id': id });
    session.post(msg, reply);
    // An initialize the handler refused leaves no session behind.
    if (reply.done) this.dropIfUninitialized(session);
    else res.once('close', () => this.dropIfUninitialized(session));
  }

  /**
   * The handler factory failed: the new session closed itself at once (its
   * slot given back, the failure logged and counted). The request gets
   * -32603 and 500, and no session is registered.
   */
  private factoryFailed(res: ServerResponse, request: JsonRpcRequest | undefined): void {
    const spec = ERRORS.INTERNAL_ERROR;
    this.rpcError(res, spec, errorReply(request?.id ?? null, spec.rpc, spec.message));
  }

  private dropIfUninitialized(session: HttpSession): void {
    if (session.isOpen && session.protocolVersion === undefined) session.close(CloseCode.NORMAL, 'initialize failed');
  }

  /** The session `id` if it exists and belongs to `identity` (else the same undefined as for an unknown id). */
  private find(id: string, identity: VerifiedIdentity | undefined): HttpSession | undefined {
    const s = this.sessions.get(id);
    if (s === undefined || !s.isOpen) return undefined;
    if (s.identity?.subject !== identity?.subject) return undefined;
    return s;
  }

  // ------------------------------------------------------------ lifecycle

  /** @internal A session ended: its slot and rate-limit state go. */
  sessionClosed(session: HttpSession): void {
    if (session.stateless) this.running.delete(session);
    else if (this.sessions.get(session.id) === session) {
      this.sessions.delete(session.id);
      this.host.metrics.httpSessionsActive--;
    }
    this.door.releaseSlot(session.remoteAddress);
    this.host.rateLimiter?.releaseConnection(session.id);
  }

  /**
   * Ends legacy sessions unused for httpSessionIdleMs, and sends an SSE
   * comment on streams (GET streams, POST responses that switched to SSE,
   * legacy or stateless) quiet for heartbeatIntervalMs (when heartbeats
   * are on), and destroys responses congested for slowConsumerTimeoutMs.
   * Called by the server's sweep.
   */
  sweep(now: number): void {
    const { httpSessionIdleMs: idle, heartbeatIntervalMs: beat, slowConsumerTimeoutMs: slow } = this.host.options;
    for (const s of [...this.sessions.values()]) {
      if (s.openResponses === 0 && s.inFlight === 0 && now - s.lastSeen >= idle) s.close(CloseCode.NORMAL, 'idle');
      else {
        s.checkSlow(now, slow);
        if (beat > 0) s.keepAlive(now, beat);
      }
    }
    for (const s of [...this.running]) {
      s.checkSlow(now, slow);
      if (beat > 0 && s.isOpen) s.keepAlive(now, beat);
    }
  }

  /** Shutdown: every legacy session and stateless request still running ends (SSE streams end cleanly). */
  closeAll(): void {
    for (const s of [...this.sessions.values()]) s.close(CloseCode.GOING_AWAY, 'server shutting down');
    for (const s of [...this.running]) s.close(CloseCode.GOING_AWAY, 'server shutting down');
  }

  // ------------------------------------------------------------ responses

  private sessionNotFound(res: ServerResponse): void {
    this.plain(res, 404, 'Not Found: no such session (unknown, expired or ended)');
  }

  private headerProblem(res: ServerResponse, request: JsonRpcRequest, problem: NonNullable<ReturnType<typeof checkRequestHeaders>>): void {
    this.host.metrics.errors.invalid_request++;
    if (problem.kind === 'unsupported') {
      const spec = ERRORS.UNSUPPORTED_PROTOCOL_VERSION;
      return this.rpcError(res, spec, errorReply(request.id, spec.rpc, spec.message, { supported: supportedVersions(), requested: problem.requested }));
    }
    if (problem.kind === 'malformed') return this.rpcError(res, ERRORS.INVALID_META, errorReply(request.id, ERRORS.INVALID_META.rpc, problem.message));
    this.rpcError(res, ERRORS.HEADER_MISMATCH, errorReply(request.id, ERRORS.HEADER_MISMATCH.rpc, problem.message));
  }

  private rpcError(res: ServerResponse, spec: ErrorSpec, text: string, headers: Record<string, string> = {}): void {
    countStatus(this.host.metrics, spec.http);
    res.writeHead(spec.http, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
    res.end(text);
  }

  /** A refusal at the door, as for an upgrade; draining also carries -32010 so an MCP client can tell. */
  private reject(res: ServerResponse, r: Rejection): void {
    const m = this.host.metrics;
    m.rejected[r.reason]++;
    if (res.headersSent || res.destroyed) return;
    const headers = r.status === 503 && r.headers['Retry-After'] === undefined ? { ...r.headers, 'Retry-After': String(this.host.options.retryAfterSeconds) } : r.headers;
    if (r.reason === 'draining') {
      const spec = ERRORS.SERVER_DRAINING;
      return this.rpcError(res, spec, errorReply(null, spec.rpc, spec.message), headers);
    }
    this.plain(res, r.status, r.message, headers);
  }

  private plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
    countStatus(this.host.metrics, status);
    if (res.headersSent) return;
    res.writeHead(status, { 'Content-Type': 'text/plain', ...headers });
    res.end(`${text}\n`);
  }
}

/** One header's value; a repeated header's values joined. */
function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === 'application/json';
}

/** No Accept header accepts anything (RFC 9110). */
function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined) return true;
  const a = accept.toLowerCase();
  return a.includes('application/json') || a.includes('application/*') || a.includes('*/*');
}

function acceptsSse(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const a = accept.toLowerCase();
  return a.includes('text/event-stream') || a.includes('text/*') || a.includes('*/*');
}

/**
 * Reads a request body of at most `limit` bytes within `timeoutMs`.
 * `done(0, body)` on success; `done(413)` as soon as the body is known to be
 * too big (declared or counted: reading stops at limit + 1); `done(408)`
 * when it is not complete in time (a slowloris body); `done(-1)` when the
 * client went away. Called once.
 */
export function readBody(req: IncomingMessage, limit: number, timeoutMs: number, done: (status: number, body?: Buffer) => void): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    done(413);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (status: number, body?: Buffer): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    req.removeListener('data', onData);
    req.removeListener('end', onEnd);
    req.removeListener('error', onGone);
    req.removeListener('aborted', onGone);
    if (status !== 0) req.resume();
    done(status, body);
  };
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > limit) return finish(413);
    chunks.push(chunk);
  };
  const onEnd = (): void => finish(0, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
  const onGone = (): void => finish(-1);
  const timer = setTimeout(() => finish(408), timeoutMs);
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onGone);
  req.on('aborted', onGone);
}
