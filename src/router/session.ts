/**
 * RouterSession: one connection's MCP state (negotiated version, log level,
 * subscriptions, requests in flight) and its dispatch — initialize, the method
 * table, cancellation and the tracking of async handlers. It reads the shared
 * registry through {@link SessionRegistry}, which McpRouter implements.
 */
import { ERRORS, RpcError } from '../protocol/errors.js';
import {
  INTERNAL_ERROR,
  INVALID_PARAMS,
  INVALID_REQUEST,
  METHOD_NOT_FOUND,
  errorReply,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type RequestId,
} from '../protocol/jsonrpc.js';
import { countRpcError, errorCountersOf, type ErrorKind } from '../metrics/metrics.js';
import { META_SUBSCRIPTION_ID, modernMeta, readRequestMeta } from '../protocol/meta.js';
import { negotiateVersion } from '../protocol/versions.js';
import { subscriptionLimit } from '../protocol/subscriptions.js';
import type { HeaderParam, Reply, SessionHandler, SessionPeer } from '../server/handler.js';
import { RequestContext, type ContextSession, type ModernRequest } from './context.js';
import type { OpenedState, StateBinding } from './request-state.js';
import { LOG_LEVELS, type LogLevel } from './log-levels.js';
import {
  isObject,
  isThenable,
  success,
  toCompletionResult,
  toPromptResult,
  toReadResult,
  toToolResult,
  toolErrorResult,
  type ListKind,
} from './results.js';
import type { ArgsValidator } from './schema.js';
import type { CompiledTemplate } from './uri-template.js';
import {
  InputRequired,
  ToolError,
  type CompletionHandler,
  type CompletionRef,
  type InputRequest,
  type JsonSchema,
  type PromptDefinition,
  type PromptHandler,
  type ResourceDefinition,
  type ResourceHandler,
  type ResourceTemplateDefinition,
  type ResourceTemplateHandler,
  type ToolDefinition,
  type ToolHandler,
} from './types.js';

/** A registered tool, as the registry keeps it. */
export interface ToolEntry {
  readonly def: ToolDefinition;
  readonly handler: ToolHandler;
  readonly validate: ArgsValidator;
  /** The compiled inputSchema (def.inputSchema, defaulted): released when the tool goes. */
  readonly schema: JsonSchema;
  /** The handler declares a second parameter: it gets a RequestContext (otherwise none is made). */
  readonly wantsContext: boolean;
  /** Its `x-mcp-header` arguments (SEP-2243), checked by the HTTP transport. */
  readonly headers: readonly HeaderParam[] | undefined;
}

/** A registered resource template, as the registry keeps it. */
export interface TemplateEntry {
  readonly def: ResourceTemplateDefinition;
  readonly compiled: CompiledTemplate;
  readonly handler: ResourceTemplateHandler;
}

/**
 * One open `subscriptions/listen` (2026-07-28): its filter, and how it ends.
 * Owned by its session, indexed by the registry for delivery.
 */
export interface Listen {
  readonly session: RouterSession;
  /** The listen request's id: the subscription id on every message of it. */
  readonly id: RequestId;
  readonly toolsListChanged: boolean;
  readonly promptsListChanged: boolean;
  readonly resourcesListChanged: boolean;
  readonly uris: ReadonlySet<string>;
  /** `_meta` of its notifications, made once. */
  readonly meta: Readonly<Record<string, unknown>>;
  /** Settles the listen request: with its final response, or undefined (no response) when cancelled or closed. */
  end(reply: string | undefined): void;
}

/** A server→client request of a legacy session awaiting its response. */
interface PendingAsk {
  resolve(result: unknown): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
  signal: AbortSignal;
  onAbort: () => void;
}

/** What a session reads from and tells the shared registry (McpRouter). */
export interface SessionRegistry {
  readonly options: {
    readonly name: string;
    readonly version: string;
    readonly title?: string;
    readonly instructions?: string;
    readonly maxListensPerSession: number;
    readonly inputTimeoutMs: number;
  };
  addListen(l: Listen): void;
  removeListen(l: Listen): void;
  /** `{"resultType":"complete",…` of a 2026-07-28 result around `json` (a serialised object), with serverInfo in `_meta`. */
  modernResult(json: string): string;
  /** A 2026-07-28 list page: the page with resultType, cache hints and serverInfo. */
  modernListPage(kind: ListKind, cursor: unknown): string;
  /** The serialised server/discover result. */
  discoverResult(): string;
  /** The serialised graceful end of a listen. */
  listenEndResult(id: RequestId): string;
  /** The serialised `resultType: "input_required"` result of a 2026-07-28 request (its requestState sealed; may throw RpcError -32602). */
  inputRequiredResult(e: InputRequired, m: ModernRequest): string;
  /** Verifies a requestState a client echoed (throws RpcError -32602). */
  openState(b: StateBinding, sealed: string): OpenedState;
  /** The cache hint of resources/read results that set none. */
  readonly readCacheHint: { readonly ttlMs: number; readonly cacheScope: 'public' | 'private' };
  addLive(s: RouterSession): void;
  removeSession(s: RouterSession, uris: Iterable<string>): void;
  subscribe(s: RouterSession, uri: string): void;
  unsubscribe(s: RouterSession, uri: string): void;
  getTool(name: string): ToolEntry | undefined;
  getResource(uri: string): { def: ResourceDefinition; handler: ResourceHandler } | undefined;
  matchTemplate(uri: string): { entry: TemplateEntry; vars: Record<string, string> } | undefined;
  getPrompt(name: string): { def: PromptDefinition; handler: PromptHandler } | undefined;
  /** The handler completing `argument` of `ref`; undefined: none registered; null: the ref names nothing served. */
  getCompletion(ref: CompletionRef, argument: string): CompletionHandler | null | undefined;
  /** At least one completion is registered (completion/complete exists). */
  readonly hasCompletions: boolean;
  /** The server capabilities of initialize and server/discover. */
  capabilities(): Record<string, unknown>;
  /** The serialised result of one page of a list; throws RpcError(-32602) on a bad cursor. */
  listPage(kind: ListKind, cursor: unknown): string;
}

const NOT_INITIALIZED = ERRORS.NOT_INITIALIZED;

/** Per-session MCP state and dispatch. */
export class RouterSession implements SessionHandler, ContextSession {
  protocolVersion: string | undefined;
  /** Everything a legacy session keeps is replayable (see SessionHandler.rebuildable): cross-node resume may rebuild it. */
  readonly rebuildable = true;
  clientInfo: { name: string; version: string } | undefined;
  clientCapabilities: Record<string, unknown> | undefined;
  /** Index into LOG_LEVELS of the lowest level sent. Default 'info'. */
  logLevel = 1;
  private initialized = false;
  private inflight: Map<RequestId, RequestContext> | undefined;
  private subscriptions: Set<string> | undefined;
  /** Open subscriptions/listen requests (2026-07-28), by request id. */
  private listens: Map<RequestId, Listen> | undefined;
  /** Server→client requests (legacy MRTR) awaiting a response, by the id we gave them. */
  private asks: Map<string, PendingAsk> | undefined;
  private askSeq = 0;
  private ended = false;

  /** The server's error counters: -32601 and -32602 replies made here are counted in them. */
  private readonly errors: Record<ErrorKind, number>;

  constructor(
    private readonly router: SessionRegistry,
    readonly peer: SessionPeer,
  ) {
    this.errors = errorCountersOf(peer);
  }

  /** An error reply, counted in mcp_ws_errors_total when it is -32601 or -32602. */
  private fail(id: RequestId, code: number, message: string, data?: unknown): string {
    countRpcError(this.errors, code);
    return errorReply(id, code, message, data);
  }

  request(msg: JsonRpcRequest): Reply {
    // The era, per request: `_meta` with the 2026-07-28 keys means stateless.
    // On the legacy hot path (no _meta) this is one property read.
    const meta = modernMeta(msg.params);
    if (meta !== undefined) return this.modernRequest(msg, meta);
    const method = msg.method;
    if (!this.initialized && method !== 'initialize' && method !== 'ping') {
      return this.fail(msg.id, NOT_INITIALIZED.rpc, NOT_INITIALIZED.message);
    }
    try {
      switch (method) {
        case 'tools/call':
          return this.callTool(msg);
        case 'ping':
          return success(msg.id, '{}');
        case 'tools/list':
          return success(msg.id, this.router.listPage('tools', msg.params?.cursor));
        case 'resources/list':
          return success(msg.id, this.router.listPage('resources', msg.params?.cursor));
        case 'resources/templates/list':
          return success(msg.id, this.router.listPage('resources/templates', msg.params?.cursor));
        case 'prompts/list':
          return success(msg.id, this.router.listPage('prompts', msg.params?.cursor));
        case 'resources/read':
          return this.readResource(msg);
        case 'prompts/get':
          return this.getPrompt(msg);
        case 'resources/subscribe':
          return this.subscribe(msg, true);
        case 'resources/unsubscribe':
          return this.subscribe(msg, false);
        case 'logging/setLevel':
          return this.setLevel(msg);
        case 'completion/complete':
          return this.complete(msg);
        case 'initialize':
          return this.initialize(msg);
        default:
          return this.fail(msg.id, METHOD_NOT_FOUND, `Method not found: ${method}`);
      }
    } catch (err) {
      if (err instanceof RpcError) return this.fail(msg.id, err.rpcCode, err.message, err.data);
      throw err;
    }
  }

  notification(msg: JsonRpcNotification): void {
    switch (msg.method) {
      case 'notifications/cancelled': {
        const id = msg.params?.requestId;
        if (typeof id !== 'string' && typeof id !== 'number') return;
        const listen = this.listens?.get(id);
        if (listen !== undefined) {
          // stdio semantics: a cancelled listen ends with no response.
          this.endListen(listen, undefined);
          return;
        }
        const ctx = this.inflight?.get(id);
        if (ctx) {
          const reason = msg.params?.reason;
          ctx.cancel(typeof reason === 'string' ? reason : 'cancelled by client');
        }
        return;
      }
      case 'notifications/initialized':
        return;
      default:
        // Unknown notifications are ignored, as JSON-RPC requires.
        return;
    }
  }

  response(msg: JsonRpcResponse): void {
    // Only answers to our own server→client requests (legacy MRTR) count; stray responses are ignored.
    const id = msg.id;
    if (typeof id !== 'string') return;
    const ask = this.asks?.get(id);
    if (ask === undefined) return;
    this.settleAsk(id, ask);
    if ('error' in msg && msg.error !== undefined) {
      const e = msg.error;
      ask.reject(new RpcError(typeof e.code === 'number' ? e.code : INTERNAL_ERROR, typeof e.message === 'string' ? e.message : 'client error', e.data));
    } else {
      ask.resolve((msg as { result?: unknown }).result);
    }
  }

  closed(): void {
    this.ended = true;
    // Pending server→client requests first: their handlers learn the connection closed, not a cancel.
    if (this.asks) {
      const c = ERRORS.CONNECTION_CLOSED;
      for (const [id, ask] of [...this.asks]) {
        this.settleAsk(id, ask);
        ask.reject(new RpcError(c.rpc, c.message));
      }
    }
    if (this.inflight) for (const ctx of this.inflight.values()) ctx.cancel('session closed');
    if (this.listens) for (const l of [...this.listens.values()]) this.endListen(l, undefined);
    this.router.removeSession(this, this.subscriptions ?? []);
  }

  /** @internal The server is draining: end every listen with its graceful final response. */
  drain(): void {
    if (this.listens) for (const l of [...this.listens.values()]) this.endListen(l, success(l.id, this.router.listenEndResult(l.id)));
  }

  /**
   * @internal Legacy MRTR: sends `request` to the client as a JSON-RPC request
   * and settles with its result. Bounded by inputTimeoutMs (then -32001 and a
   * notifications/cancelled to the client), ended by `signal` and by close.
   */
  askClient(request: InputRequest, signal: AbortSignal): Promise<unknown> {
    if (this.ended) {
      const c = ERRORS.CONNECTION_CLOSED;
      return Promise.reject(new RpcError(c.rpc, c.message));
    }
    if (signal.aborted) {
      const c = ERRORS.REQUEST_CANCELLED;
      return Promise.reject(new RpcError(c.rpc, c.message));
    }
    const id = `mcp-ws-ask-${++this.askSeq}`;
    const asks = (this.asks ??= new Map<string, PendingAsk>());
    return new Promise<unknown>((resolve, reject) => {
      const giveUp = (code: number, message: string): void => {
        const ask = asks.get(id);
        if (ask === undefined) return;
        this.settleAsk(id, ask);
        this.peer.notify('notifications/cancelled', { requestId: id, reason: message });
        reject(new RpcError(code, message));
      };
      const t = ERRORS.REQUEST_TIMEOUT;
      const timer = setTimeout(() => giveUp(t.rpc, `${t.message}: the client did not answer ${request.method}`), this.router.options.inputTimeoutMs);
      const onAbort = (): void => giveUp(ERRORS.REQUEST_CANCELLED.rpc, ERRORS.REQUEST_CANCELLED.message);
      signal.addEventListener('abort', onAbort, { once: true });
      asks.set(id, { resolve, reject, timer, signal, onAbort });
      const params = request.params ?? {};
      this.peer.sendText(`{"jsonrpc":"2.0","id":"${id}","method":${JSON.stringify(request.method)},"params":${JSON.stringify(params)}}`);
    });
  }

  private settleAsk(id: string, ask: PendingAsk): void {
    clearTimeout(ask.timer);
    ask.signal.removeEventListener('abort', ask.onAbort);
    this.asks!.delete(id);
  }

  // ----------------------------------------------------- 2026-07-28 (modern)

  /**
   * A stateless request: everything it needs is in its `_meta`; nothing is
   * read from or written to the session's legacy state, so it is served the
   * same on a fresh socket and on one that also holds an initialized session.
   */
  private modernRequest(msg: JsonRpcRequest, raw: Record<string, unknown>): Reply {
    try {
      const m = readModern(msg, raw, this.router, this.peer.identity?.subject);
      switch (msg.method) {
        case 'tools/call':
          return this.callTool(msg, m);
        case 'tools/list':
          return success(msg.id, this.router.modernListPage('tools', msg.params?.cursor));
        case 'resources/list':
          return success(msg.id, this.router.modernListPage('resources', msg.params?.cursor));
        case 'resources/templates/list':
          return success(msg.id, this.router.modernListPage('resources/templates', msg.params?.cursor));
        case 'prompts/list':
          return success(msg.id, this.router.modernListPage('prompts', msg.params?.cursor));
        case 'resources/read':
          return this.readResource(msg, m);
        case 'prompts/get':
          return this.getPrompt(msg, m);
        case 'server/discover':
          return success(msg.id, this.router.discoverResult());
        case 'subscriptions/listen':
          return this.listen(msg);
        case 'completion/complete':
          return this.complete(msg, m);
        default:
          // ping, logging/setLevel, initialize, resources/(un)subscribe are not methods of this era.
          return this.fail(msg.id, METHOD_NOT_FOUND, `Method not found: ${msg.method}`);
      }
    } catch (err) {
      if (err instanceof RpcError) return this.fail(msg.id, err.rpcCode, err.message, err.data);
      throw err;
    }
  }

  /**
   * subscriptions/listen: acknowledges the filter it honours, then stays open
   * (one in-flight request) delivering the notifications it asked for, each
   * tagged with its id. Ends with no response on notifications/cancelled or
   * close (stdio semantics), with a complete result when the server drains.
   * At most maxListensPerSession are open per connection: more are refused.
   */
  private listen(msg: JsonRpcRequest): Reply {
    const f = msg.params?.notifications;
    if (!isObject(f)) return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: subscriptions/listen needs notifications (object)');
    for (const flag of LISTEN_FLAGS) {
      if (f[flag] !== undefined && typeof f[flag] !== 'boolean') return this.fail(msg.id, INVALID_PARAMS, `Invalid params: notifications.${flag} should be a boolean`);
    }
    const subs = f.resourceSubscriptions;
    if (subs !== undefined && (!Array.isArray(subs) || subs.length > MAX_LISTEN_URIS || subs.some((u) => typeof u !== 'string'))) {
      return this.fail(msg.id, INVALID_PARAMS, `Invalid params: notifications.resourceSubscriptions should be an array of at most ${MAX_LISTEN_URIS} strings`);
    }
    const listens = (this.listens ??= new Map());
    if (listens.has(msg.id)) return this.fail(msg.id, INVALID_REQUEST, 'Invalid request: a subscriptions/listen with this id is already open');
    const limit = this.router.options.maxListensPerSession;
    if (listens.size >= limit) return this.fail(msg.id, ERRORS.TOO_MANY_LISTENS.rpc, ERRORS.TOO_MANY_LISTENS.message, { limit });
    const uris = new Set(subs as string[] | undefined);
    const ack: Record<string, unknown> = {};
    for (const flag of LISTEN_FLAGS) if (f[flag] === true) ack[flag] = true;
    if (uris.size > 0) ack.resourceSubscriptions = [...uris];
    const meta = { [META_SUBSCRIPTION_ID]: msg.id };
    return new Promise<string | undefined>((end) => {
      const listen: Listen = {
        session: this,
        id: msg.id,
        toolsListChanged: f.toolsListChanged === true,
        promptsListChanged: f.promptsListChanged === true,
        resourcesListChanged: f.resourcesListChanged === true,
        uris,
        meta,
        end,
      };
      listens.set(msg.id, listen);
      this.router.addListen(listen);
      this.peer.notify('notifications/subscriptions/acknowledged', { _meta: meta, notifications: ack });
    });
  }

  private endListen(l: Listen, reply: string | undefined): void {
    if (this.listens?.get(l.id) !== l) return;
    this.listens.delete(l.id);
    this.router.removeListen(l);
    l.end(reply);
  }

  /** A success reply: the result as is (legacy), or as a 2026-07-28 result. */
  private ok(id: RequestId, json: string, m: ModernRequest | undefined): string {
    return success(id, m === undefined ? json : this.router.modernResult(json));
  }

  // ------------------------------------------------------------- lifecycle

  private initialize(msg: JsonRpcRequest): string {
    if (this.initialized) return this.fail(msg.id, INVALID_REQUEST, ERRORS.ALREADY_INITIALIZED.message);
    const p = msg.params;
    if (!p || typeof p.protocolVersion !== 'string') {
      return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: initialize needs protocolVersion (string)');
    }
    const version = negotiateVersion(p.protocolVersion);
    this.protocolVersion = version;
    const info = p.clientInfo;
    if (isObject(info) && typeof info.name === 'string') {
      this.clientInfo = { name: info.name, version: typeof info.version === 'string' ? info.version : '' };
    }
    this.clientCapabilities = isObject(p.capabilities) ? p.capabilities : {};
    this.initialized = true;
    this.router.addLive(this);
    const o = this.router.options;
    const serverInfo: Record<string, string> = { name: o.name, version: o.version };
    if (o.title !== undefined) serverInfo.title = o.title;
    const result: Record<string, unknown> = {
      protocolVersion: version,
      capabilities: this.router.capabilities(),
      serverInfo,
    };
    if (o.instructions !== undefined) result.instructions = o.instructions;
    return success(msg.id, JSON.stringify(result));
  }

  private setLevel(msg: JsonRpcRequest): string {
    const level = msg.params?.level;
    const i = LOG_LEVELS.indexOf(level as (typeof LOG_LEVELS)[number]);
    if (i === -1) return this.fail(msg.id, INVALID_PARAMS, `Invalid params: level should be one of ${LOG_LEVELS.join(', ')}`);
    this.logLevel = i;
    return success(msg.id, '{}');
  }

  // ----------------------------------------------------------------- tools

  private callTool(msg: JsonRpcRequest, m?: ModernRequest): Reply {
    const p = msg.params;
    const name = p?.name;
    if (typeof name !== 'string') return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: tools/call needs name (string)');
    const tool = this.router.getTool(name);
    if (tool === undefined) return this.fail(msg.id, INVALID_PARAMS, `Unknown tool: ${name}`);
    const args = p!.arguments ?? {};
    if (!isObject(args)) return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: arguments should be an object');
    // SEP-1303: argument errors are tool results the model can read and correct.
    const invalid = tool.validate(args);
    if (invalid !== null) return this.ok(msg.id, JSON.stringify(toolErrorResult(`Invalid arguments for tool ${name}: ${invalid}`)), m);
    // A handler of one parameter cannot read a context: skip making one on the hot path.
    const ctx = tool.wantsContext ? new RequestContext(this, msg.id, 'tools/call', p!._meta as Record<string, unknown> | undefined, m) : undefined;
    let out: unknown;
    try {
      out = tool.handler(args, ctx as RequestContext);
    } catch (err) {
      return this.failure(msg.id, err, true, m);
    }
    if (!isThenable(out)) return this.ok(msg.id, JSON.stringify(toToolResult(out)), m);
    return this.track(
      msg.id,
      ctx ?? new RequestContext(this, msg.id, 'tools/call', undefined, m),
      out,
      (r) => JSON.stringify(toToolResult(r)),
      true,
    );
  }

  /**
   * What a handler's throw (or rejection) answers: a ToolError is a tool
   * result with isError; InputRequired in a 2026-07-28 request is an
   * input_required result; an RpcError is that error; anything else is
   * rethrown (the server answers -32603 and logs it).
   */
  private failure(id: RequestId, err: unknown, isTool: boolean, m: ModernRequest | undefined, mrtr = true): string {
    if (isTool && err instanceof ToolError) return this.ok(id, JSON.stringify(toolErrorResult(err.message)), m);
    // Only tools/call, prompts/get and resources/read may answer input_required (SEP-2322).
    if (err instanceof InputRequired && mrtr && m !== undefined && (err.inputRequests !== undefined || err.requestState !== undefined)) {
      try {
        return success(id, this.router.inputRequiredResult(err, m));
      } catch (sealErr) {
        if (sealErr instanceof RpcError) return this.fail(id, sealErr.rpcCode, sealErr.message, sealErr.data);
        throw sealErr;
      }
    }
    if (err instanceof RpcError) return this.fail(id, err.rpcCode, err.message, err.data);
    throw err;
  }

  /**
   * Follows an async handler: registers it for cancellation, serialises its
   * result, drops the reply if the request was cancelled.
   */
  private track(
    id: RequestId,
    ctx: RequestContext,
    out: PromiseLike<unknown>,
    serialise: (r: unknown) => string,
    isTool: boolean,
  ): Promise<string | undefined> {
    const inflight = (this.inflight ??= new Map());
    inflight.set(id, ctx);
    return Promise.resolve(out).then(
      (r) => {
        if (inflight.get(id) === ctx) inflight.delete(id);
        return ctx.cancelled ? undefined : this.ok(id, serialise(r), ctx.modern);
      },
      (err: unknown) => {
        if (inflight.get(id) === ctx) inflight.delete(id);
        if (ctx.cancelled) return undefined;
        return this.failure(id, err, isTool, ctx.modern, ctx.method !== 'completion/complete');
      },
    );
  }

  // ------------------------------------------------------------- resources

  private readResource(msg: JsonRpcRequest, m?: ModernRequest): Reply {
    const uri = msg.params?.uri;
    if (typeof uri !== 'string') return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: resources/read needs uri (string)');
    const ctx = new RequestContext(this, msg.id, 'resources/read', msg.params?._meta as Record<string, unknown> | undefined, m);
    const fixed = this.router.getResource(uri);
    let out: unknown;
    let mimeType: string | undefined;
    try {
      if (fixed) {
        mimeType = fixed.def.mimeType;
        out = fixed.handler(uri, ctx);
      } else {
        const t = this.router.matchTemplate(uri);
        if (!t) {
          // 2026-07-28 retired -32002: an unknown resource is -32602 there.
          if (m !== undefined) return this.fail(msg.id, INVALID_PARAMS, `Resource not found: ${uri}`, { uri });
          return this.fail(msg.id, ERRORS.RESOURCE_NOT_FOUND.rpc, `Resource not found: ${uri}`, { uri });
        }
        mimeType = t.entry.def.mimeType;
        out = t.entry.handler(uri, t.vars, ctx);
      }
    } catch (err) {
      return this.failure(msg.id, err, false, m);
    }
    const hint = m === undefined ? undefined : this.router.readCacheHint;
    const serialise = (r: unknown): string => {
      const result = toReadResult(uri, mimeType, r);
      // 2026-07-28 read results carry cache hints: the handler's own, else the router's.
      return JSON.stringify(hint === undefined || (result as { ttlMs?: unknown }).ttlMs !== undefined ? result : { ...result, ...hint });
    };
    if (!isThenable(out)) return this.ok(msg.id, serialise(out), m);
    return this.track(msg.id, ctx, out, serialise, false);
  }

  private subscribe(msg: JsonRpcRequest, on: boolean): string {
    const uri = msg.params?.uri;
    if (typeof uri !== 'string') return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: uri (string) is required');
    const subs = (this.subscriptions ??= new Set());
    if (on) {
      const limit = subs.has(uri) ? undefined : subscriptionLimit(uri, subs.size);
      if (limit !== undefined) return this.fail(msg.id, INVALID_PARAMS, limit);
      subs.add(uri);
      this.router.subscribe(this, uri);
    } else {
      subs.delete(uri);
      this.router.unsubscribe(this, uri);
    }
    return success(msg.id, '{}');
  }

  // --------------------------------------------------------------- prompts

  private getPrompt(msg: JsonRpcRequest, m?: ModernRequest): Reply {
    const name = msg.params?.name;
    if (typeof name !== 'string') return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: prompts/get needs name (string)');
    const prompt = this.router.getPrompt(name);
    if (!prompt) return this.fail(msg.id, INVALID_PARAMS, `Unknown prompt: ${name}`);
    const args = msg.params?.arguments ?? {};
    if (!isObject(args) || Object.values(args).some((v) => typeof v !== 'string')) {
      return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: prompt arguments should be an object of strings');
    }
    for (const a of prompt.def.arguments ?? []) {
      if (a.required && args[a.name] === undefined) {
        return this.fail(msg.id, INVALID_PARAMS, `Invalid params: prompt ${name} needs argument "${a.name}"`);
      }
    }
    const ctx = new RequestContext(this, msg.id, 'prompts/get', msg.params?._meta as Record<string, unknown> | undefined, m);
    let out: unknown;
    try {
      out = prompt.handler(args as Record<string, string>, ctx);
    } catch (err) {
      return this.failure(msg.id, err, false, m);
    }
    const serialise = (r: unknown): string => JSON.stringify(toPromptResult(prompt.def, r));
    if (!isThenable(out)) return this.ok(msg.id, serialise(out), m);
    return this.track(msg.id, ctx, out, serialise, false);
  }

  // ------------------------------------------------------------ completion

  /**
   * completion/complete: the registered completion of the argument, its
   * result at most 100 values. -32601 when the router has no completions
   * (the capability is not advertised); -32602 for a malformed request or a
   * ref that names no prompt or template; no handler for that argument of a
   * known ref: no suggestions.
   */
  private complete(msg: JsonRpcRequest, m?: ModernRequest): Reply {
    if (!this.router.hasCompletions) return this.fail(msg.id, METHOD_NOT_FOUND, `Method not found: ${msg.method}`);
    const p = msg.params;
    const ref = p?.ref;
    const argument = p?.argument;
    if (!isObject(ref) || !isObject(argument) || typeof argument.name !== 'string' || typeof argument.value !== 'string') {
      return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: completion/complete needs ref { type, name | uri } and argument { name, value } (strings)');
    }
    const given = isObject(p!.context) ? p!.context.arguments : undefined;
    if (given !== undefined && (!isObject(given) || Object.values(given).some((v) => typeof v !== 'string'))) {
      return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: context.arguments should be an object of strings');
    }
    const handler = this.router.getCompletion(ref as CompletionRef, argument.name);
    if (handler === null) {
      const what = ref.type === 'ref/prompt' ? `prompt ${String(ref.name)}` : ref.type === 'ref/resource' ? `resource template ${String(ref.uri)}` : 'ref';
      return this.fail(msg.id, INVALID_PARAMS, `Invalid params: unknown ${what}`.slice(0, 300));
    }
    if (handler === undefined) return this.ok(msg.id, '{"completion":{"values":[],"hasMore":false}}', m);
    const ctx = new RequestContext(this, msg.id, 'completion/complete', p!._meta as Record<string, unknown> | undefined, m);
    let out: unknown;
    try {
      out = handler(argument.value, { arguments: (given ?? {}) as Record<string, string> }, ctx);
    } catch (err) {
      return this.failure(msg.id, err, false, m, false);
    }
    const serialise = (r: unknown): string => JSON.stringify(toCompletionResult(r));
    if (!isThenable(out)) return this.ok(msg.id, serialise(out), m);
    return this.track(msg.id, ctx, out, serialise, false);
  }
}

/** The boolean filters of subscriptions/listen. */
const LISTEN_FLAGS = ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged'] as const;

/** Most resource URIs one subscriptions/listen may name. */
const MAX_LISTEN_URIS = 1000;

/**
 * The checked protocol fields of a 2026-07-28 request (-32602 / -32022 as
 * readRequestMeta says), its log level as an index, and its MRTR retry fields.
 */
function readModern(
  msg: JsonRpcRequest,
  raw: Record<string, unknown>,
  router: Pick<SessionRegistry, 'openState'>,
  subject: string | undefined,
): ModernRequest {
  const meta = readRequestMeta(raw);
  let logLevel: number = LOG_LEVELS.length;
  if (meta.logLevel !== undefined) {
    logLevel = LOG_LEVELS.indexOf(meta.logLevel as LogLevel);
    if (logLevel === -1) throw new RpcError(INVALID_PARAMS, `Invalid params: _meta log level should be one of ${LOG_LEVELS.join(', ')}`);
  }
  const p = msg.params!;
  const inputResponses = p.inputResponses;
  if (inputResponses !== undefined && !isObject(inputResponses)) throw new RpcError(INVALID_PARAMS, 'Invalid params: inputResponses should be an object');
  const requestState = p.requestState;
  if (requestState !== undefined && typeof requestState !== 'string') throw new RpcError(INVALID_PARAMS, 'Invalid params: requestState should be a string');
  const method = msg.method;
  if (requestState === undefined) return { meta, logLevel, inputResponses, requestState: undefined, carried: undefined, method, params: p, subject };
  // Only a retry pays for verification; a state that does not verify stops the request here.
  const opened = router.openState({ method, params: p, subject }, requestState);
  return { meta, logLevel, inputResponses, requestState: opened.state, carried: opened.answers, method, params: p, subject };
}
