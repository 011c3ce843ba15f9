/**
 * McpRouter: the native MCP dispatcher. One registry (tools, resources,
 * resource templates, prompts) shared by every session; each session gets a
 * small {@link RouterSession} holding only its own state (negotiated version,
 * log level, subscriptions, requests in flight).
 *
 * Fast because of what it precomputes: tool argument validators are compiled
 * at registration, list pages are serialised once per registry change, and
 * a tools/call that returns synchronously is answered without a promise.
 *
 *   const router = new McpRouter({ name: 'demo', version: '1.0.0' });
 *   router.tool({ name: 'echo', inputSchema: {...} }, ({ text }) => String(text));
 *   new McpWsServer({ handler: router }).listen();
 */
import { RpcError } from '../protocol/errors.js';
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
import { ERRORS } from '../protocol/errors.js';
import { countRpcError, errorCountersOf, type ErrorKind } from '../metrics/metrics.js';
import { negotiateVersion } from '../protocol/versions.js';
import type { Reply, SessionHandler, SessionPeer } from '../server/handler.js';
import { RequestContext, type ContextSession } from './context.js';
import { compileArgsValidator, releaseArgsValidator, type ArgsValidator } from './schema.js';
import { compileUriTemplate, type CompiledTemplate } from './uri-template.js';
import {
  LOG_LEVELS,
  ToolError,
  type CallToolResult,
  type GetPromptResult,
  type JsonSchema,
  type PromptDefinition,
  type PromptHandler,
  type PromptMessage,
  type ResourceContents,
  type ResourceDefinition,
  type ResourceHandler,
  type ResourceTemplateDefinition,
  type ResourceTemplateHandler,
  type ToolDefinition,
  type ToolHandler,
} from './types.js';

/** Options of {@link McpRouter}. */
export interface McpRouterOptions {
  /** serverInfo.name. Required. */
  name: string;
  /** serverInfo.version. Required. */
  version: string;
  /** serverInfo.title. */
  title?: string;
  /** Instructions returned by initialize. */
  instructions?: string;
  /** Items per page of tools/list, resources/list, …. Default 100. */
  pageSize?: number;
}

interface ToolEntry {
  readonly def: ToolDefinition;
  readonly handler: ToolHandler;
  readonly validate: ArgsValidator;
  /** The compiled inputSchema (def.inputSchema, defaulted): released when the tool goes. */
  readonly schema: JsonSchema;
  /** The handler declares a second parameter: it gets a RequestContext (otherwise none is made). */
  readonly wantsContext: boolean;
}

interface TemplateEntry {
  readonly def: ResourceTemplateDefinition;
  readonly compiled: CompiledTemplate;
  readonly handler: ResourceTemplateHandler;
}

type ListKind = 'tools' | 'resources' | 'resources/templates' | 'prompts';

const LIST_KEY: Record<ListKind, string> = {
  tools: 'tools',
  resources: 'resources',
  'resources/templates': 'resourceTemplates',
  prompts: 'prompts',
};

const CHANGED_METHOD: Partial<Record<ListKind, string>> = {
  tools: 'notifications/tools/list_changed',
  resources: 'notifications/resources/list_changed',
  prompts: 'notifications/prompts/list_changed',
};

/** {@link McpRouterOptions} with the defaults filled in. */
export type RouterOptionsInEffect = Readonly<Required<Omit<McpRouterOptions, 'title' | 'instructions'>>> &
  Pick<McpRouterOptions, 'title' | 'instructions'>;

function checkPageSize(pageSize: unknown): number {
  if (!Number.isInteger(pageSize) || (pageSize as number) < 1) {
    throw new RangeError(`pageSize should be a positive integer, got ${String(pageSize)}`);
  }
  return pageSize as number;
}

/** The native MCP router. Register handlers, then pass it as the server's handler. */
export class McpRouter {
  private opts: RouterOptionsInEffect;
  private readonly tools = new Map<string, ToolEntry>();
  private readonly resources = new Map<string, { def: ResourceDefinition; handler: ResourceHandler }>();
  private readonly templates: TemplateEntry[] = [];
  private readonly prompts = new Map<string, { def: PromptDefinition; handler: PromptHandler }>();
  /** Serialised first pages, by list kind; cleared when the registry changes. */
  private readonly firstPage = new Map<ListKind, string>();
  /** Sessions that finished initialize: list_changed goes to them. */
  private readonly live = new Set<RouterSession>();
  private readonly subscribers = new Map<string, Set<RouterSession>>();
  private pendingChanges = new Set<ListKind>();
  private flushScheduled = false;

  constructor(options: McpRouterOptions) {
    if (!options || typeof options.name !== 'string' || options.name === '') {
      throw new TypeError('name should be a non-empty string (it becomes serverInfo.name)');
    }
    if (typeof options.version !== 'string' || options.version === '') {
      throw new TypeError('version should be a non-empty string (it becomes serverInfo.version)');
    }
    this.opts = Object.freeze({ ...options, pageSize: checkPageSize(options.pageSize ?? 100) });
  }

  /** The options in effect (pageSize as last set). */
  get options(): RouterOptionsInEffect {
    return this.opts;
  }

  /**
   * Changes the number of items per list page (tools/list, resources/list, …).
   * Cursors already handed out stay valid: they carry an offset, not a page number.
   */
  setPageSize(pageSize: number): this {
    this.opts = Object.freeze({ ...this.opts, pageSize: checkPageSize(pageSize) });
    this.firstPage.clear();
    return this;
  }

  // -------------------------------------------------------------- registry

  /** Registers (or replaces) a tool. Its inputSchema is compiled now. */
  tool(def: ToolDefinition, handler: ToolHandler): this {
    if (typeof def?.name !== 'string' || def.name === '') throw new TypeError('tool name should be a non-empty string');
    if (typeof handler !== 'function') throw new TypeError(`tool "${def.name}": handler should be a function`);
    const inputSchema = def.inputSchema ?? { type: 'object' };
    // Release the replaced tool's schema first: a new schema may reuse its $id.
    const previous = this.tools.get(def.name);
    if (previous) releaseArgsValidator(previous.schema);
    let validate: ArgsValidator;
    try {
      validate = compileArgsValidator(def.name, inputSchema);
    } catch (err) {
      // The previous tool stays; put its schema back where it was.
      if (previous) compileArgsValidator(def.name, previous.schema);
      throw err;
    }
    this.tools.set(def.name, { def: { ...def, inputSchema }, handler, validate, schema: inputSchema, wantsContext: handler.length !== 1 });
    this.changed('tools');
    return this;
  }

  /** Removes a tool; returns whether it existed. */
  removeTool(name: string): boolean {
    const entry = this.tools.get(name);
    if (entry === undefined) return false;
    this.tools.delete(name);
    releaseArgsValidator(entry.schema);
    this.changed('tools');
    return true;
  }

  /** Registers (or replaces) a resource with a fixed URI. */
  resource(def: ResourceDefinition, handler: ResourceHandler): this {
    if (typeof def?.uri !== 'string' || def.uri === '') throw new TypeError('resource uri should be a non-empty string');
    if (typeof handler !== 'function') throw new TypeError(`resource "${def.uri}": handler should be a function`);
    this.resources.set(def.uri, { def: { ...def }, handler });
    this.changed('resources');
    return this;
  }

  /** Removes a resource; returns whether it existed. */
  removeResource(uri: string): boolean {
    const had = this.resources.delete(uri);
    if (had) this.changed('resources');
    return had;
  }

  /** Registers a resource template (RFC 6570 `{var}` / `{+var}`). */
  resourceTemplate(def: ResourceTemplateDefinition, handler: ResourceTemplateHandler): this {
    if (typeof def?.uriTemplate !== 'string' || def.uriTemplate === '') {
      throw new TypeError('uriTemplate should be a non-empty string');
    }
    this.templates.push({ def: { ...def }, compiled: compileUriTemplate(def.uriTemplate), handler });
    this.changed('resources/templates');
    return this;
  }

  /** Registers (or replaces) a prompt. */
  prompt(def: PromptDefinition, handler: PromptHandler): this {
    if (typeof def?.name !== 'string' || def.name === '') throw new TypeError('prompt name should be a non-empty string');
    if (typeof handler !== 'function') throw new TypeError(`prompt "${def.name}": handler should be a function`);
    this.prompts.set(def.name, { def: { ...def }, handler });
    this.changed('prompts');
    return this;
  }

  /** Removes a prompt; returns whether it existed. */
  removePrompt(name: string): boolean {
    const had = this.prompts.delete(name);
    if (had) this.changed('prompts');
    return had;
  }

  /** Sends notifications/resources/updated to every session subscribed to `uri`. */
  notifyResourceUpdated(uri: string): void {
    const subs = this.subscribers.get(uri);
    if (!subs) return;
    for (const s of subs) s.peer.notify('notifications/resources/updated', { uri });
  }

  /** Number of initialized sessions. */
  get sessionCount(): number {
    return this.live.size;
  }

  /** Makes the per-session handler (the server calls this once per connection). */
  createHandler(peer: SessionPeer): SessionHandler {
    return new RouterSession(this, peer);
  }

  // ------------------------------------------------------------- internals

  private changed(kind: ListKind): void {
    this.firstPage.delete(kind);
    if (this.live.size === 0 || !CHANGED_METHOD[kind]) return;
    this.pendingChanges.add(kind);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Coalesce a burst of registrations into one notification per list.
    queueMicrotask(() => {
      this.flushScheduled = false;
      const kinds = this.pendingChanges;
      this.pendingChanges = new Set();
      for (const k of kinds) {
        const method = CHANGED_METHOD[k]!;
        for (const s of this.live) s.peer.notify(method);
      }
    });
  }

  /** @internal */
  addLive(s: RouterSession): void {
    this.live.add(s);
  }

  /** @internal */
  removeSession(s: RouterSession, uris: Iterable<string>): void {
    this.live.delete(s);
    for (const uri of uris) this.unsubscribe(s, uri);
  }

  /** @internal */
  subscribe(s: RouterSession, uri: string): void {
    let set = this.subscribers.get(uri);
    if (!set) this.subscribers.set(uri, (set = new Set()));
    set.add(s);
  }

  /** @internal */
  unsubscribe(s: RouterSession, uri: string): void {
    const set = this.subscribers.get(uri);
    if (!set) return;
    set.delete(s);
    if (set.size === 0) this.subscribers.delete(uri);
  }

  /** @internal */
  getTool(name: string): ToolEntry | undefined {
    return this.tools.get(name);
  }

  /** @internal */
  getResource(uri: string): { def: ResourceDefinition; handler: ResourceHandler } | undefined {
    return this.resources.get(uri);
  }

  /** @internal */
  matchTemplate(uri: string): { entry: TemplateEntry; vars: Record<string, string> } | undefined {
    for (const entry of this.templates) {
      const vars = entry.compiled.match(uri);
      if (vars) return { entry, vars };
    }
    return undefined;
  }

  /** @internal */
  getPrompt(name: string): { def: PromptDefinition; handler: PromptHandler } | undefined {
    return this.prompts.get(name);
  }

  /**
   * @internal The serialised result of one page of a list: `{"tools":[…],"nextCursor":"…"}`.
   * The first page is cached until the registry changes. Throws RpcError(-32602) on a bad cursor.
   */
  listPage(kind: ListKind, cursor: unknown): string {
    if (cursor === undefined || cursor === null) {
      let page = this.firstPage.get(kind);
      if (page === undefined) this.firstPage.set(kind, (page = this.buildPage(kind, 0)));
      return page;
    }
    if (typeof cursor !== 'string') throw new RpcError(INVALID_PARAMS, 'Invalid cursor');
    // Cursors are opaque to clients: base64url of "o:<offset>". Anything else is refused.
    const decoded = Buffer.from(cursor, 'base64url').toString();
    const offset = /^o:\d{1,15}$/.test(decoded) ? Number(decoded.slice(2)) : -1;
    if (offset < 0) throw new RpcError(INVALID_PARAMS, 'Invalid params: invalid cursor');
    return this.buildPage(kind, offset);
  }

  private buildPage(kind: ListKind, offset: number): string {
    const all = this.listItems(kind);
    const size = this.options.pageSize;
    const items = all.slice(offset, offset + size);
    const result: Record<string, unknown> = { [LIST_KEY[kind]]: items };
    if (offset + size < all.length) result.nextCursor = Buffer.from(`o:${offset + size}`).toString('base64url');
    return JSON.stringify(result);
  }

  private listItems(kind: ListKind): unknown[] {
    switch (kind) {
      case 'tools':
        return [...this.tools.values()].map((t) => t.def);
      case 'resources':
        return [...this.resources.values()].map((r) => r.def);
      case 'resources/templates':
        return this.templates.map((t) => t.def);
      case 'prompts':
        return [...this.prompts.values()].map((p) => p.def);
    }
  }
}

// =================================================================== session

const NOT_INITIALIZED = ERRORS.NOT_INITIALIZED;

function success(id: RequestId, resultJson: string): string {
  return `{"jsonrpc":"2.0","id":${typeof id === 'number' ? id : JSON.stringify(id)},"result":${resultJson}}`;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

function toToolResult(out: unknown): CallToolResult {
  if (typeof out === 'string') return { content: [{ type: 'text', text: out }] };
  if (out === undefined || out === null) return { content: [] };
  if (typeof out === 'object' && Array.isArray((out as CallToolResult).content)) return out as CallToolResult;
  const text = JSON.stringify(out);
  if (typeof out === 'object' && !Array.isArray(out)) {
    return { content: [{ type: 'text', text }], structuredContent: out as Record<string, unknown> };
  }
  return { content: [{ type: 'text', text }] };
}

function toolErrorResult(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

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
    private readonly router: McpRouter,
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

function toReadResult(uri: string, mimeType: string | undefined, out: unknown): { contents: ResourceContents[] } {
  if (typeof out === 'string') {
    return { contents: [mimeType === undefined ? { uri, text: out } : { uri, mimeType, text: out }] };
  }
  if (isObject(out) && Array.isArray(out.contents)) return out as { contents: ResourceContents[] };
  throw new TypeError(`resource handler for ${uri} returned neither a string nor { contents }`);
}

function toPromptResult(def: PromptDefinition, out: unknown): GetPromptResult {
  if (typeof out === 'string') return { messages: [{ role: 'user', content: { type: 'text', text: out } }] };
  if (Array.isArray(out)) return { messages: out as PromptMessage[] };
  if (isObject(out) && Array.isArray(out.messages)) return out as unknown as GetPromptResult;
  throw new TypeError(`prompt handler for ${def.name} returned neither a string, messages nor { messages }`);
}
