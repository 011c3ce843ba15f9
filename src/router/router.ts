/**
 * McpRouter: the native MCP dispatcher's registry. Tools, resources, resource
 * templates and prompts are registered here and shared by every session; each
 * session gets a small {@link RouterSession} (session.ts) holding only its own
 * state and its dispatch. Result shaping (list pages, cursors, result
 * normalisation) lives in results.ts.
 *
 * Fast because of what it precomputes: tool argument validators are compiled
 * at registration, list pages are serialised once per registry change, and
 * a tools/call that returns synchronously is answered without a promise.
 *
 *   const router = new McpRouter({ name: 'demo', version: '1.0.0' });
 *   router.tool({ name: 'echo', inputSchema: {...} }, ({ text }) => String(text));
 *   new McpWsServer({ handler: router }).listen();
 */
import { randomBytes } from 'node:crypto';
import type { RequestId } from '../protocol/jsonrpc.js';
import { META_SERVER_INFO, META_SUBSCRIPTION_ID } from '../protocol/meta.js';
import { ALL_PROTOCOL_VERSIONS } from '../protocol/versions.js';
import type { HeaderParam, SessionHandler, SessionPeer } from '../server/handler.js';
import { cursorOffset, pageJson, type ListKind } from './results.js';
import type { ModernRequest } from './context.js';
import { StateSealer, type OpenedState, type StateBinding } from './request-state.js';
import { compileArgsValidator, releaseArgsValidator, type ArgsValidator } from './schema.js';
import { RouterSession, type Listen, type SessionRegistry, type TemplateEntry, type ToolEntry } from './session.js';
import { compileUriTemplate } from './uri-template.js';
import type {
  JsonSchema,
  CompletionHandler,
  CompletionRef,
  InputRequired,
  PromptDefinition,
  PromptHandler,
  ResourceDefinition,
  ResourceHandler,
  ResourceTemplateDefinition,
  ResourceTemplateHandler,
  ToolDefinition,
  ToolHandler,
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
  /** 2026-07-28: most `subscriptions/listen` open at once per connection; more are refused (-32600). Default 8. */
  maxListensPerSession?: number;
  /**
   * Legacy sessions: how long `ctx.requireInput` waits for the client to
   * answer a server→client request (e.g. elicitation/create) before the
   * call fails with -32001. Default 300000 (a person may be typing).
   */
  inputTimeoutMs?: number;
  /**
   * 2026-07-28 MRTR: the key that seals every requestState the router issues
   * (HMAC-SHA256; at least 32 bytes). Default: 32 random bytes made at
   * construction, so a state verifies only in the process that issued it.
   * Give the same secret to every instance behind one load balancer, where
   * a retry may reach another process.
   */
  requestStateSecret?: string | Uint8Array;
  /** 2026-07-28 MRTR: how long an issued requestState stays valid for its retry, ms. Default 900000 (15 min: a person may be typing). */
  requestStateTtlMs?: number;
  /**
   * 2026-07-28 MRTR: longest requestState issued or accepted, bytes. A retry
   * whose answers would not fit is refused with -32602. Default 65536.
   */
  maxRequestStateBytes?: number;
  /**
   * 2026-07-28 cache hints (SEP-2549, `ttlMs` / `cacheScope`) of list results,
   * server/discover and resources/read (when the resource handler returns
   * none of its own). Default for each: `{ ttlMs: 0, cacheScope: 'private' }`.
   */
  cacheHints?: Partial<Record<CacheHintKind, CacheHint>>;
}

/** A 2026-07-28 cache hint: how long a client may reuse a result, and who may share it. */
export interface CacheHint {
  /** Milliseconds the result stays fresh; 0: immediately stale. */
  readonly ttlMs: number;
  /** 'public': no user-specific data, shareable; 'private': same authorization context only. */
  readonly cacheScope: 'public' | 'private';
}

/** The results that carry cache hints. */
export type CacheHintKind = ListKind | 'discover' | 'read';

const CACHE_HINT_KINDS: readonly CacheHintKind[] = ['tools', 'resources', 'resources/templates', 'prompts', 'discover', 'read'];
const DEFAULT_CACHE_HINT: CacheHint = Object.freeze({ ttlMs: 0, cacheScope: 'private' });

const LISTEN_FLAG: Partial<Record<ListKind, 'toolsListChanged' | 'promptsListChanged' | 'resourcesListChanged'>> = {
  tools: 'toolsListChanged',
  resources: 'resourcesListChanged',
  prompts: 'promptsListChanged',
};

const CHANGED_METHOD: Partial<Record<ListKind, string>> = {
  tools: 'notifications/tools/list_changed',
  resources: 'notifications/resources/list_changed',
  prompts: 'notifications/prompts/list_changed',
};

/** Where a router publishes what other processes' sessions should hear (the server's backplane). */
export interface RouterRelay {
  resourceUpdated(uri: string): void;
  listChanged(kind: 'tools' | 'resources' | 'prompts'): void;
}

/** {@link McpRouterOptions} with the defaults filled in. */
export type RouterOptionsInEffect = Readonly<Required<Omit<McpRouterOptions, 'title' | 'instructions' | 'cacheHints' | 'requestStateSecret'>>> &
  Pick<McpRouterOptions, 'title' | 'instructions'> & { readonly cacheHints: Readonly<Record<CacheHintKind, CacheHint>> };

function checkPageSize(pageSize: unknown): number {
  if (!Number.isInteger(pageSize) || (pageSize as number) < 1) {
    throw new RangeError(`pageSize should be a positive integer, got ${String(pageSize)}`);
  }
  return pageSize as number;
}

function checkPositive(name: string, value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 1) throw new RangeError(`${name} should be a positive integer, got ${String(value)}`);
  return value as number;
}

function checkCacheHint(kind: string, hint: unknown): CacheHint {
  const h = hint as CacheHint;
  if (typeof h !== 'object' || h === null || !Number.isInteger(h.ttlMs) || h.ttlMs < 0 || (h.cacheScope !== 'public' && h.cacheScope !== 'private')) {
    throw new RangeError(`cacheHints.${kind} should be { ttlMs: integer >= 0, cacheScope: 'public' | 'private' }, got ${JSON.stringify(hint)}`);
  }
  return Object.freeze({ ttlMs: h.ttlMs, cacheScope: h.cacheScope });
}

function resolveCacheHints(given: McpRouterOptions['cacheHints']): Record<CacheHintKind, CacheHint> {
  const out = {} as Record<CacheHintKind, CacheHint>;
  for (const kind of CACHE_HINT_KINDS) out[kind] = given?.[kind] === undefined ? DEFAULT_CACHE_HINT : checkCacheHint(kind, given[kind]);
  return Object.freeze(out);
}

/** An HTTP field-name token (RFC 9110 tchar). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The `x-mcp-header` arguments of an inputSchema: annotations reachable from
 * the root through `properties` only (the spec's "statically reachable").
 * Throws TypeError for an annotation the spec forbids (not a token, a
 * duplicate, or on a type other than string, integer, boolean), since
 * clients drop such a tool.
 */
function headerParamsOf(tool: string, schema: JsonSchema): readonly HeaderParam[] | undefined {
  let out: HeaderParam[] | undefined;
  const seen = new Set<string>();
  const walk = (node: unknown, path: string[], depth: number): void => {
    if (depth > 32 || typeof node !== 'object' || node === null) return;
    const props = (node as JsonSchema).properties;
    if (typeof props !== 'object' || props === null) return;
    for (const [key, sub] of Object.entries(props as Record<string, unknown>)) {
      if (typeof sub !== 'object' || sub === null) continue;
      const name = (sub as JsonSchema)['x-mcp-header'];
      if (name !== undefined) {
        const type = (sub as JsonSchema).type;
        if (typeof name !== 'string' || !TOKEN.test(name)) throw new TypeError(`tool "${tool}": x-mcp-header of ${[...path, key].join('.')} should be an HTTP token`);
        if (type !== 'string' && type !== 'integer' && type !== 'boolean') {
          throw new TypeError(`tool "${tool}": x-mcp-header applies only to string, integer or boolean arguments (${[...path, key].join('.')})`);
        }
        const header = `mcp-param-${name.toLowerCase()}`;
        if (seen.has(header)) throw new TypeError(`tool "${tool}": x-mcp-header "${name}" is used twice`);
        seen.add(header);
        (out ??= []).push(Object.freeze({ header, path: Object.freeze([...path, key]) }));
      }
      walk(sub, [...path, key], depth + 1);
    }
  };
  walk(schema, [], 0);
  return out === undefined ? undefined : Object.freeze(out);
}

/** The registry key of one completion, or undefined for a malformed ref. */
function completionKey(ref: CompletionRef, argument: string): string | undefined {
  if (typeof ref !== 'object' || ref === null) return undefined;
  if (ref.type === 'ref/prompt' && typeof ref.name === 'string') return `prompt\0${ref.name}\0${argument}`;
  if (ref.type === 'ref/resource' && typeof ref.uri === 'string') return `resource\0${ref.uri}\0${argument}`;
  return undefined;
}

function stateSecret(given: string | Uint8Array | undefined): Uint8Array {
  if (given === undefined) return randomBytes(32);
  const bytes = typeof given === 'string' ? Buffer.from(given) : given;
  if (!(bytes instanceof Uint8Array) || bytes.length < 32) throw new RangeError('requestStateSecret should be at least 32 bytes');
  return bytes;
}

/** The native MCP router. Register handlers, then pass it as the server's handler. */
export class McpRouter implements SessionRegistry {
  private opts: RouterOptionsInEffect;
  private readonly tools = new Map<string, ToolEntry>();
  private readonly resources = new Map<string, { def: ResourceDefinition; handler: ResourceHandler }>();
  private readonly templates: TemplateEntry[] = [];
  private readonly prompts = new Map<string, { def: PromptDefinition; handler: PromptHandler }>();
  /** completion/complete handlers, by completionKey(ref, argument). */
  private readonly completions = new Map<string, CompletionHandler>();
  /** Serialised first pages, by list kind; cleared when the registry changes. */
  private readonly firstPage = new Map<ListKind, string>();
  /** Sessions that finished initialize: list_changed goes to them. */
  private readonly live = new Set<RouterSession>();
  private readonly subscribers = new Map<string, Set<RouterSession>>();
  private pendingChanges = new Set<ListKind>();
  private flushScheduled = false;
  /** Open subscriptions/listen (2026-07-28), and those naming each resource URI. */
  private readonly listens = new Set<Listen>();
  private readonly listensByUri = new Map<string, Set<Listen>>();
  /** `{"resultType":"complete","_meta":{serverInfo},`: the head of every 2026-07-28 result. */
  private readonly modernHead: string;
  private readonly serverInfo: Record<string, string>;
  /** Serialised first pages of 2026-07-28 lists, by kind; cleared with firstPage. */
  private readonly modernFirstPage = new Map<ListKind, string>();
  private discoverJson: string | undefined;
  private readonly sealer: StateSealer;
  private relay: RouterRelay | undefined;

  constructor(options: McpRouterOptions) {
    if (!options || typeof options.name !== 'string' || options.name === '') {
      throw new TypeError('name should be a non-empty string (it becomes serverInfo.name)');
    }
    if (typeof options.version !== 'string' || options.version === '') {
      throw new TypeError('version should be a non-empty string (it becomes serverInfo.version)');
    }
    const { requestStateSecret, ...rest } = options;
    this.opts = Object.freeze({
      ...rest,
      pageSize: checkPageSize(options.pageSize ?? 100),
      maxListensPerSession: checkPositive('maxListensPerSession', options.maxListensPerSession ?? 8),
      inputTimeoutMs: checkPositive('inputTimeoutMs', options.inputTimeoutMs ?? 300_000),
      requestStateTtlMs: checkPositive('requestStateTtlMs', options.requestStateTtlMs ?? 900_000),
      maxRequestStateBytes: checkPositive('maxRequestStateBytes', options.maxRequestStateBytes ?? 65_536),
      cacheHints: resolveCacheHints(options.cacheHints),
    });
    this.sealer = new StateSealer(stateSecret(requestStateSecret), this.opts.requestStateTtlMs, this.opts.maxRequestStateBytes);
    const info: Record<string, string> = { name: options.name, version: options.version };
    if (options.title !== undefined) info.title = options.title;
    this.serverInfo = info;
    this.modernHead = `{"resultType":"complete","_meta":${JSON.stringify({ [META_SERVER_INFO]: info })},`;
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
    this.modernFirstPage.clear();
    return this;
  }

  /** Sets the 2026-07-28 cache hint of one kind of result (lists, 'discover', 'read'); see McpRouterOptions.cacheHints. */
  setCacheHint(kind: CacheHintKind, hint: CacheHint): this {
    if (!CACHE_HINT_KINDS.includes(kind)) throw new RangeError(`cache hint kind should be one of ${CACHE_HINT_KINDS.join(', ')}, got ${String(kind)}`);
    this.opts = Object.freeze({ ...this.opts, cacheHints: Object.freeze({ ...this.opts.cacheHints, [kind]: checkCacheHint(kind, hint) }) });
    this.modernFirstPage.clear();
    this.discoverJson = undefined;
    return this;
  }

  /**
   * Ends every open subscriptions/listen with its graceful final result
   * (`resultType: "complete"`, its subscription id in `_meta`). The server
   * calls this when it starts draining, so listens do not hold the drain.
   */
  drain(): void {
    const sessions = new Set<RouterSession>();
    for (const l of this.listens) sessions.add(l.session);
    for (const s of sessions) s.drain();
  }

  /** Number of open subscriptions/listen (2026-07-28) across connections. */
  get listenCount(): number {
    return this.listens.size;
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
    // Before anything is replaced: a bad x-mcp-header annotation refuses the tool.
    const headers = headerParamsOf(def.name, inputSchema);
    let validate: ArgsValidator;
    try {
      validate = compileArgsValidator(def.name, inputSchema);
    } catch (err) {
      // The previous tool stays; put its schema back where it was.
      if (previous) compileArgsValidator(def.name, previous.schema);
      throw err;
    }
    this.tools.set(def.name, { def: { ...def, inputSchema }, handler, validate, schema: inputSchema, wantsContext: handler.length !== 1, headers });
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

  /**
   * Registers (or replaces) the completion of one argument for
   * `completion/complete`: of a prompt (`{ type: 'ref/prompt', name }`) or of
   * a resource template's variable (`{ type: 'ref/resource', uri }`, the
   * template's `uriTemplate`). The `completions` capability is advertised
   * (initialize, server/discover) once at least one is registered; before,
   * completion/complete is -32601.
   *
   *   router.completion({ type: 'ref/prompt', name: 'greet' }, 'language',
   *     (typed) => LANGUAGES.filter((l) => l.startsWith(typed)));
   */
  completion(ref: CompletionRef, argument: string, handler: CompletionHandler): this {
    const key = completionKey(ref, argument);
    if (key === undefined) throw new TypeError("completion ref should be { type: 'ref/prompt', name } or { type: 'ref/resource', uri }");
    if (typeof argument !== 'string' || argument === '') throw new TypeError('completion argument should be a non-empty string');
    if (typeof handler !== 'function') throw new TypeError(`completion of ${key}: handler should be a function`);
    if (this.completions.size === 0) this.discoverJson = undefined;
    this.completions.set(key, handler);
    return this;
  }

  /** Removes the completion of one argument; returns whether it existed. */
  removeCompletion(ref: CompletionRef, argument: string): boolean {
    const key = completionKey(ref, argument);
    const had = key !== undefined && this.completions.delete(key);
    if (had && this.completions.size === 0) this.discoverJson = undefined;
    return had;
  }

  /**
   * Sends notifications/resources/updated to every session subscribed to
   * `uri` (2025 `resources/subscribe` and 2026-07-28 `subscriptions/listen`),
   * here at once and, when the server has a backplane, in every other
   * process sharing it.
   */
  notifyResourceUpdated(uri: string): void {
    if (typeof uri !== 'string' || uri === '') throw new TypeError('notifyResourceUpdated: uri should be a non-empty string');
    this.deliverResourceUpdated(uri);
    this.relay?.resourceUpdated(uri);
  }

  /**
   * Sends `notifications/<kind>/list_changed` to every initialized session
   * (and to 2026-07-28 listens that asked for it), here and, with a
   * backplane, in every other process. For lists that depend on shared
   * state (per-tenant tools kept in a database): a process's own
   * registrations notify only its own sessions, since the other processes'
   * registries did not change.
   */
  notifyListChanged(kind: 'tools' | 'resources' | 'prompts'): void {
    if (kind !== 'tools' && kind !== 'resources' && kind !== 'prompts') throw new TypeError(`notifyListChanged: kind should be tools, resources or prompts, got ${String(kind)}`);
    this.deliverListChanged(kind);
    this.relay?.listChanged(kind);
  }

  /**
   * @internal Where notifyResourceUpdated and notifyListChanged are also
   * published (the server's backplane); undefined: this process only.
   */
  setRelay(relay: RouterRelay | undefined): void {
    this.relay = relay;
  }

  /** @internal List changed in another process: this process's sessions only. */
  deliverListChanged(kind: ListKind): void {
    const method = CHANGED_METHOD[kind];
    if (method === undefined) return;
    for (const s of this.live) s.peer.notify(method);
    const flag = LISTEN_FLAG[kind];
    if (flag !== undefined) for (const l of this.listens) if (l[flag]) l.session.peer.notify(method, { _meta: l.meta });
  }

  /** @internal A resource changed (here or in another process): this process's subscribers only. */
  deliverResourceUpdated(uri: string): void {
    const subs = this.subscribers.get(uri);
    if (subs) for (const s of subs) s.peer.notify('notifications/resources/updated', { uri });
    const listens = this.listensByUri.get(uri);
    if (listens) for (const l of listens) l.session.peer.notify('notifications/resources/updated', { _meta: l.meta, uri });
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
    this.modernFirstPage.delete(kind);
    if ((this.live.size === 0 && this.listens.size === 0) || !CHANGED_METHOD[kind]) return;
    this.pendingChanges.add(kind);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Coalesce a burst of registrations into one notification per list.
    queueMicrotask(() => {
      this.flushScheduled = false;
      const kinds = this.pendingChanges;
      this.pendingChanges = new Set();
      for (const k of kinds) this.deliverListChanged(k);
    });
  }

  /** @internal */
  addListen(l: Listen): void {
    this.listens.add(l);
    for (const uri of l.uris) {
      let set = this.listensByUri.get(uri);
      if (!set) this.listensByUri.set(uri, (set = new Set()));
      set.add(l);
    }
  }

  /** @internal */
  removeListen(l: Listen): void {
    this.listens.delete(l);
    for (const uri of l.uris) {
      const set = this.listensByUri.get(uri);
      if (!set) continue;
      set.delete(l);
      if (set.size === 0) this.listensByUri.delete(uri);
    }
  }

  /** @internal */
  modernResult(json: string): string {
    if (json === '{}') return `${this.modernHead.slice(0, -1)}}`;
    // A result with its own _meta gets serverInfo merged in, not a second _meta key.
    if (json.includes('"_meta"')) {
      const r = JSON.parse(json) as Record<string, unknown>;
      const meta = typeof r._meta === 'object' && r._meta !== null ? (r._meta as Record<string, unknown>) : {};
      return JSON.stringify({ resultType: 'complete', ...r, _meta: { ...meta, [META_SERVER_INFO]: this.serverInfo } });
    }
    return this.modernHead + json.slice(1);
  }

  /** @internal */
  get readCacheHint(): CacheHint {
    return this.opts.cacheHints.read;
  }

  /** @internal */
  modernListPage(kind: ListKind, cursor: unknown): string {
    const first = cursor === undefined || cursor === null;
    if (first) {
      const cached = this.modernFirstPage.get(kind);
      if (cached !== undefined) return cached;
    }
    const hint = this.opts.cacheHints[kind];
    const page = this.listPage(kind, cursor);
    const json = `${this.modernHead}"ttlMs":${hint.ttlMs},"cacheScope":"${hint.cacheScope}",${page.slice(1)}`;
    if (first) this.modernFirstPage.set(kind, json);
    return json;
  }

  /** @internal */
  discoverResult(): string {
    if (this.discoverJson !== undefined) return this.discoverJson;
    const o = this.opts;
    const hint = o.cacheHints.discover;
    const result: Record<string, unknown> = {
      resultType: 'complete',
      supportedVersions: ALL_PROTOCOL_VERSIONS,
      capabilities: this.capabilities(),
    };
    if (o.instructions !== undefined) result.instructions = o.instructions;
    result.ttlMs = hint.ttlMs;
    result.cacheScope = hint.cacheScope;
    result._meta = { [META_SERVER_INFO]: this.serverInfo };
    return (this.discoverJson = JSON.stringify(result));
  }

  /** @internal The server capabilities (initialize, server/discover): `completions` only once one is registered. */
  capabilities(): Record<string, unknown> {
    const caps: Record<string, unknown> = {
      tools: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
      prompts: { listChanged: true },
      logging: {},
    };
    if (this.completions.size > 0) caps.completions = {};
    return caps;
  }

  /**
   * @internal The handler completing `argument` of `ref`: undefined when the
   * router has none for it; null when the ref names no prompt or template
   * this router serves (the request is then -32602).
   */
  getCompletion(ref: CompletionRef, argument: string): CompletionHandler | null | undefined {
    const key = completionKey(ref, argument);
    if (key === undefined) return null;
    const handler = this.completions.get(key);
    if (handler !== undefined) return handler;
    const known = ref.type === 'ref/prompt' ? this.prompts.has(ref.name) : this.templates.some((t) => t.def.uriTemplate === ref.uri) || this.resources.has(ref.uri);
    return known ? undefined : null;
  }

  /** @internal */
  get hasCompletions(): boolean {
    return this.completions.size > 0;
  }

  /** @internal */
  listenEndResult(id: RequestId): string {
    return JSON.stringify({ resultType: 'complete', _meta: { [META_SERVER_INFO]: this.serverInfo, [META_SUBSCRIPTION_ID]: id } });
  }

  /** @internal */
  inputRequiredResult(e: InputRequired, m: ModernRequest): string {
    const result: Record<string, unknown> = { resultType: 'input_required' };
    if (e.inputRequests !== undefined) result.inputRequests = e.inputRequests;
    const answers = e.answers !== undefined && Object.keys(e.answers).length > 0 ? e.answers : undefined;
    if (e.requestState !== undefined || answers !== undefined) result.requestState = this.sealer.seal(m, e.requestState, answers);
    result._meta = { [META_SERVER_INFO]: this.serverInfo };
    return JSON.stringify(result);
  }

  /**
   * The arguments of tool `name` annotated `x-mcp-header` (SEP-2243), which
   * Streamable HTTP requests mirror in `Mcp-Param-{Name}` headers; the
   * server checks those headers against the body. Undefined: none.
   */
  headerParams(name: string): readonly HeaderParam[] | undefined {
    return this.tools.get(name)?.headers;
  }

  /** @internal */
  openState(b: StateBinding, sealed: string): OpenedState {
    return this.sealer.open(b, sealed);
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
      if (page === undefined) this.firstPage.set(kind, (page = pageJson(kind, this.listItems(kind), 0, this.opts.pageSize)));
      return page;
    }
    const offset = cursorOffset(cursor);
    return pageJson(kind, this.listItems(kind), offset, this.opts.pageSize);
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
