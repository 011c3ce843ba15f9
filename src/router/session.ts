/**
 * RouterSession: one connection's MCP state (negotiated version, log level,
 * subscriptions, requests in flight) and its dispatch — initialize, the method
 * table, cancellation and the tracking of async handlers. It reads the shared
 * registry through {@link SessionRegistry}, which McpRouter implements.
 */
import { ERRORS, RpcError } from '../protocol/errors.js';
import {
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
import { negotiateVersion } from '../protocol/versions.js';
import type { Reply, SessionHandler, SessionPeer } from '../server/handler.js';
import { RequestContext, type ContextSession } from './context.js';
import { LOG_LEVELS } from './log-levels.js';
import {
  isObject,
  isThenable,
  success,
  toPromptResult,
  toReadResult,
  toToolResult,
  toolErrorResult,
  type ListKind,
} from './results.js';
import type { ArgsValidator } from './schema.js';
import type { CompiledTemplate } from './uri-template.js';
import {
  ToolError,
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
}

/** A registered resource template, as the registry keeps it. */
export interface TemplateEntry {
  readonly def: ResourceTemplateDefinition;
  readonly compiled: CompiledTemplate;
  readonly handler: ResourceTemplateHandler;
}

/** What a session reads from and tells the shared registry (McpRouter). */
export interface SessionRegistry {
  readonly options: { readonly name: string; readonly version: string; readonly title?: string; readonly instructions?: string };
  addLive(s: RouterSession): void;
  removeSession(s: RouterSession, uris: Iterable<string>): void;
  subscribe(s: RouterSession, uri: string): void;
  unsubscribe(s: RouterSession, uri: string): void;
  getTool(name: string): ToolEntry | undefined;
  getResource(uri: string): { def: ResourceDefinition; handler: ResourceHandler } | undefined;
  matchTemplate(uri: string): { entry: TemplateEntry; vars: Record<string, string> } | undefined;
  getPrompt(name: string): { def: PromptDefinition; handler: PromptHandler } | undefined;
  /** The serialised result of one page of a list; throws RpcError(-32602) on a bad cursor. */
  listPage(kind: ListKind, cursor: unknown): string;
}

const NOT_INITIALIZED = ERRORS.NOT_INITIALIZED;

/** Per-session MCP state and dispatch. */
export class RouterSession implements SessionHandler, ContextSession {
  protocolVersion: string | undefined;
  clientInfo: { name: string; version: string } | undefined;
  clientCapabilities: Record<string, unknown> | undefined;
  /** Index into LOG_LEVELS of the lowest level sent. Default 'info'. */
  logLevel = 1;
  private initialized = false;
  private inflight: Map<RequestId, RequestContext> | undefined;
  private subscriptions: Set<string> | undefined;

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

  response(_msg: JsonRpcResponse): void {
    // The native router sends no server→client requests yet; stray responses are ignored.
  }

  closed(): void {
    if (this.inflight) for (const ctx of this.inflight.values()) ctx.cancel('session closed');
    this.router.removeSession(this, this.subscriptions ?? []);
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
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
      },
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

  private callTool(msg: JsonRpcRequest): Reply {
    const p = msg.params;
    const name = p?.name;
    if (typeof name !== 'string') return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: tools/call needs name (string)');
    const tool = this.router.getTool(name);
    if (tool === undefined) return this.fail(msg.id, INVALID_PARAMS, `Unknown tool: ${name}`);
    const args = p!.arguments ?? {};
    if (!isObject(args)) return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: arguments should be an object');
    // SEP-1303: argument errors are tool results the model can read and correct.
    const invalid = tool.validate(args);
    if (invalid !== null) return success(msg.id, JSON.stringify(toolErrorResult(`Invalid arguments for tool ${name}: ${invalid}`)));
    // A handler of one parameter cannot read a context: skip making one on the hot path.
    const ctx = tool.wantsContext ? new RequestContext(this, msg.id, 'tools/call', p!._meta as Record<string, unknown> | undefined) : undefined;
    let out: unknown;
    try {
      out = tool.handler(args, ctx as RequestContext);
    } catch (err) {
      return this.toolFailure(msg.id, err);
    }
    if (!isThenable(out)) return success(msg.id, JSON.stringify(toToolResult(out)));
    return this.track(
      msg.id,
      ctx ?? new RequestContext(this, msg.id, 'tools/call', undefined),
      out,
      (r) => JSON.stringify(toToolResult(r)),
      true,
    );
  }

  private toolFailure(id: RequestId, err: unknown): string {
    if (err instanceof ToolError) return success(id, JSON.stringify(toolErrorResult(err.message)));
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
        return ctx.cancelled ? undefined : success(id, serialise(r));
      },
      (err: unknown) => {
        if (inflight.get(id) === ctx) inflight.delete(id);
        if (ctx.cancelled) return undefined;
        if (isTool) return this.toolFailure(id, err);
        if (err instanceof RpcError) return this.fail(id, err.rpcCode, err.message, err.data);
        throw err;
      },
    );
  }

  // ------------------------------------------------------------- resources

  private readResource(msg: JsonRpcRequest): Reply {
    const uri = msg.params?.uri;
    if (typeof uri !== 'string') return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: resources/read needs uri (string)');
    const ctx = new RequestContext(this, msg.id, 'resources/read', msg.params?._meta as Record<string, unknown> | undefined);
    const fixed = this.router.getResource(uri);
    let out: unknown;
    let mimeType: string | undefined;
    if (fixed) {
      mimeType = fixed.def.mimeType;
      out = fixed.handler(uri, ctx);
    } else {
      const t = this.router.matchTemplate(uri);
      if (!t) return this.fail(msg.id, ERRORS.RESOURCE_NOT_FOUND.rpc, `Resource not found: ${uri}`, { uri });
      mimeType = t.entry.def.mimeType;
      out = t.entry.handler(uri, t.vars, ctx);
    }
    const serialise = (r: unknown): string => JSON.stringify(toReadResult(uri, mimeType, r));
    if (!isThenable(out)) return success(msg.id, serialise(out));
    return this.track(msg.id, ctx, out, serialise, false);
  }

  private subscribe(msg: JsonRpcRequest, on: boolean): string {
    const uri = msg.params?.uri;
    if (typeof uri !== 'string') return this.fail(msg.id, INVALID_PARAMS, 'Invalid params: uri (string) is required');
    const subs = (this.subscriptions ??= new Set());
    if (on) {
      subs.add(uri);
      this.router.subscribe(this, uri);
    } else {
      subs.delete(uri);
      this.router.unsubscribe(this, uri);
    }
    return success(msg.id, '{}');
  }

  // --------------------------------------------------------------- prompts

  private getPrompt(msg: JsonRpcRequest): Reply {
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
    const ctx = new RequestContext(this, msg.id, 'prompts/get', msg.params?._meta as Record<string, unknown> | undefined);
    const out = prompt.handler(args as Record<string, string>, ctx);
    const serialise = (r: unknown): string => JSON.stringify(toPromptResult(prompt.def, r));
    if (!isThenable(out)) return success(msg.id, serialise(out));
    return this.track(msg.id, ctx, out, serialise, false);
  }
}
