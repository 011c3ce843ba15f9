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
import type { SessionHandler, SessionPeer } from '../server/handler.js';
import { cursorOffset, pageJson, type ListKind } from './results.js';
import { compileArgsValidator, releaseArgsValidator, type ArgsValidator } from './schema.js';
import { RouterSession, type SessionRegistry, type TemplateEntry, type ToolEntry } from './session.js';
import { compileUriTemplate } from './uri-template.js';
import type {
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
}

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
export class McpRouter implements SessionRegistry {
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
