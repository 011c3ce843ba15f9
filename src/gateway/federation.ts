/**
 * Federation: several *different* MCP servers behind one endpoint. Each
 * named server is a whole {@link McpWsGateway} (its own pool, strategy,
 * breaker, retries and upstream credentials); a client session holds one
 * gateway session per server and sees the union:
 *
 * - tools and prompts named `<prefix><separator><name>` (prefix = the
 *   server's name unless configured, separator `_`); a name routes back to
 *   its server by the longest matching prefix, and an item whose mapped name
 *   would route elsewhere is dropped with a log line (so a name with the
 *   separator inside is never ambiguous);
 * - resource URIs and templates mapped reversibly: `scheme:rest` becomes
 *   `scheme+<prefix>:rest` (a server with the empty prefix keeps its URIs);
 * - lists merged page by page: every server's page at once, bounded to
 *   `maxListItemsPerServer` items of each, with an opaque signed cursor
 *   holding each server's position (upstream cursor and offset); a cursor
 *   not made here is -32602. A server whose list call does not answer within
 *   `listTimeoutMs` is left out of that listing (log line);
 * - capabilities unioned, `instructions` combined under each server's name,
 *   `list_changed` and other notifications forwarded, server→client
 *   requests relayed with ids of the federation's own;
 * - per-server tool filters (allow/deny globs) and per-tool scopes: a tool
 *   the caller may not use is hidden from lists and refused on call.
 *
 * A server whose session is lost (or that cannot be reached) leaves the
 * lists — the client gets list_changed — and is tried again with backoff;
 * when it answers, it is initialized with the client's own initialize
 * parameters and the lists change back. The other servers are untouched.
 *
 * Only federation pays for this: a gateway with one unnamed server list is
 * an McpWsGateway, with nothing of this file on its path.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { silentLogger } from '../log.js';
import { ERRORS } from '../protocol/errors.js';
import { INTERNAL_ERROR, errorReply, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse, type RequestId } from '../protocol/jsonrpc.js';
import { modernMeta } from '../protocol/meta.js';
import type { Identity, SessionHandler, SessionPeer } from '../server/handler.js';
import { ConfigError } from '../config/schema.js';
import { McpWsGateway, type McpWsGatewayOptions } from './gateway.js';
import { GATEWAY_ERRORS } from './errors.js';
import type { ExtraMetric } from '../metrics/metrics.js';

/** One federated server: its upstreams and pool (as McpWsGatewayOptions), and how it is named and filtered. */
export interface FederatedServerOptions extends Omit<McpWsGatewayOptions, 'logger' | 'clock' | 'random'> {
  /** Prefix of its tool and prompt names and of its URI schemes. Default: the server's name. `''`: unprefixed (one server at most). */
  prefix?: string;
  /** Tools shown: globs (`*`, `?`) on the server's own names. Default all. */
  allowTools?: string[];
  /** Tools hidden: globs on the server's own names; wins over allowTools. */
  denyTools?: string[];
  /** Glob on the server's own tool name → scopes of which the caller needs one. Hidden from lists and refused (-32013) otherwise. */
  toolScopes?: Record<string, string[]>;
}

/** Options of {@link McpWsFederation}. */
export interface McpWsFederationOptions {
  /** Named servers, at least one. Names: letters, digits and `-`. */
  servers: Record<string, FederatedServerOptions>;
  /** Between prefix and name. Default `_`. */
  separator?: string;
  /** A server's list call not answered by then is left out of that listing. Default 5,000 ms. */
  listTimeoutMs?: number;
  /** Items of one server in one merged page; the rest come on the next pages. Default 500. */
  maxListItemsPerServer?: number;
  /** A server's initialize not answered by then counts as the server being down. Default 15,000 ms. */
  initializeTimeoutMs?: number;
  /** Backoff between attempts to bring a lost server back into a session: first and largest delay. Default 500 / 15,000 ms. */
  reviveInitialDelayMs?: number;
  reviveMaxDelayMs?: number;
  /** Logger. Default silent. */
  logger?: Logger;
}

const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;

/** A configured server, resolved. */
class ServerSlot {
  readonly allow: RegExp[] | undefined;
  readonly deny: RegExp[];
  readonly scopes: Array<[RegExp, readonly string[]]>;
  /** `prefix + separator`, or '' when unprefixed. */
  readonly head: string;
  /** `+prefix` appended to URI schemes, or ''. */
  readonly schemeTail: string;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly prefix: string,
    separator: string,
    readonly gateway: McpWsGateway,
    options: FederatedServerOptions,
  ) {
    this.allow = options.allowTools?.map(glob);
    this.deny = (options.denyTools ?? []).map(glob);
    this.scopes = Object.entries(options.toolScopes ?? {}).map(([g, s]) => [glob(g), s]);
    this.head = prefix === '' ? '' : prefix + separator;
    this.schemeTail = prefix === '' ? '' : `+${prefix.toLowerCase()}`;
  }

  /** Whether the caller may see and call `tool` (the server's own name). */
  allows(tool: string, identity: Identity | undefined): boolean {
    if (this.allow !== undefined && !this.allow.some((r) => r.test(tool))) return false;
    if (this.deny.some((r) => r.test(tool))) return false;
    for (const [r, scopes] of this.scopes) {
      if (!r.test(tool)) continue;
      return identity !== undefined && scopes.some((s) => identity.scopes.includes(s));
    }
    return true;
  }

  /** True when the caller lacks a scope `tool` needs (as opposed to the tool being filtered out). */
  lacksScope(tool: string, identity: Identity | undefined): boolean {
    for (const [r, scopes] of this.scopes) {
      if (r.test(tool)) return identity === undefined || !scopes.some((s) => identity.scopes.includes(s));
    }
    return false;
  }
}

function glob(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Several different MCP servers behind one endpoint, each with its own pool. Pass it to McpWsServer as the handler. */
export class McpWsFederation {
  /** The servers, in configuration order. */
  readonly slots: readonly ServerSlot[];
  readonly separator: string;
  readonly listTimeoutMs: number;
  readonly maxListItemsPerServer: number;
  readonly initializeTimeoutMs: number;
  readonly reviveInitialDelayMs: number;
  readonly reviveMaxDelayMs: number;
  readonly logger: Logger;
  /** Signs list cursors: a cursor not made by this process is refused. */
  private readonly cursorKey = randomBytes(32);
  private readonly sessions = new Set<FederatedSession>();
  closing = false;

  /** @throws ConfigError with one line when names or prefixes collide, RangeError/ConfigError for a server's settings */
  constructor(options: McpWsFederationOptions) {
    this.logger = options.logger ?? silentLogger;
    this.separator = options.separator ?? '_';
    if (this.separator.length === 0 || this.separator.length > 8) throw new ConfigError('federation: separator should be 1 to 8 characters');
    this.listTimeoutMs = positive(options.listTimeoutMs, 5000, 'listTimeoutMs');
    this.maxListItemsPerServer = positive(options.maxListItemsPerServer, 500, 'maxListItemsPerServer');
    this.initializeTimeoutMs = positive(options.initializeTimeoutMs, 15_000, 'initializeTimeoutMs');
    this.reviveInitialDelayMs = positive(options.reviveInitialDelayMs, 500, 'reviveInitialDelayMs');
    this.reviveMaxDelayMs = positive(options.reviveMaxDelayMs, 15_000, 'reviveMaxDelayMs');
    const entries = Object.entries(options.servers ?? {});
    if (entries.length === 0) throw new ConfigError('federation: give at least one server (gateway.servers or --server name=<upstream>)');
    const slots: ServerSlot[] = [];
    let unprefixed: string | undefined;
    for (const [name, server] of entries) {
      if (!SERVER_NAME.test(name)) throw new ConfigError(`servers.${name}: a server name is letters, digits and "-" (at most 63), got ${JSON.stringify(name)}`);
      const { prefix: p, allowTools: _a, denyTools: _d, toolScopes: _s, ...gatewayOptions } = server;
      const prefix = p ?? name;
      if (prefix !== '' && !SERVER_NAME.test(prefix)) throw new ConfigError(`servers.${name}.prefix: letters, digits and "-", got ${JSON.stringify(prefix)}`);
      if (prefix === '') {
        if (unprefixed !== undefined) throw new ConfigError(`servers.${name}: only one server may have the empty prefix (${unprefixed} has it too)`);
        unprefixed = name;
      }
      for (const other of slots) {
        if (other.prefix.toLowerCase() === prefix.toLowerCase()) {
          throw new ConfigError(`servers.${name}: prefix ${JSON.stringify(prefix)} collides with server ${other.name}'s`);
        }
        const a = other.head;
        const b = prefix === '' ? '' : prefix + this.separator;
        if (a !== '' && b !== '' && (a.startsWith(b) || b.startsWith(a))) {
          throw new ConfigError(`servers.${name}: names prefixed "${b}" and "${a}" (server ${other.name}) could not be told apart; choose other prefixes`);
        }
      }
      let gateway: McpWsGateway;
      try {
        gateway = new McpWsGateway({ ...gatewayOptions, logger: this.logger.child({ server: name }) });
      } catch (err) {
        throw new ConfigError(`servers.${name}: ${(err as Error).message}`);
      }
      slots.push(new ServerSlot(slots.length, name, prefix, this.separator, gateway, server));
    }
    // Longest head first: routing takes the first match.
    this.slots = slots;
    this.byHead = [...slots].sort((x, y) => y.head.length - x.head.length);
  }

  private readonly byHead: ServerSlot[];

  /** Starts every server's pool. A server that cannot start is logged and tried per session later; rejects only when none starts. */
  async start(): Promise<void> {
    const results = await Promise.allSettled(this.slots.map((s) => s.gateway.start()));
    let ok = 0;
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') ok++;
      else this.logger.warn({ server: this.slots[i]!.name, err: (r.reason as Error)?.message }, 'federated server did not start; it joins sessions once reachable');
    });
    if (ok === 0) throw (results[0] as PromiseRejectedResult).reason;
  }

  /** Makes the handler of one client session (McpWsServer calls this). */
  createHandler(peer: SessionPeer): SessionHandler {
    const s = new FederatedSession(peer, this);
    this.sessions.add(s);
    return s;
  }

  /** The server serving a mapped tool or prompt name, and the server's own name. */
  routeName(name: string): [ServerSlot, string] | undefined {
    for (const s of this.byHead) {
      if (name.startsWith(s.head)) return [s, name.slice(s.head.length)];
    }
    return undefined;
  }

  /** The server of a mapped URI (or URI template), and the server's own URI. */
  routeUri(uri: string): [ServerSlot, string] | undefined {
    const colon = uri.indexOf(':');
    const brace = uri.indexOf('{');
    if (colon > 0 && (brace === -1 || brace > colon)) {
      const scheme = uri.slice(0, colon).toLowerCase();
      for (const s of this.byHead) {
        if (s.schemeTail !== '' && scheme.endsWith(s.schemeTail) && scheme.length > s.schemeTail.length) {
          return [s, uri.slice(0, colon - s.schemeTail.length) + uri.slice(colon)];
        }
      }
    }
    const bare = this.slots.find((s) => s.prefix === '');
    return bare === undefined ? undefined : [bare, uri];
  }

  /** A server's URI as clients see it; undefined when it cannot be mapped (no scheme). */
  mapUri(slot: ServerSlot, uri: string): string | undefined {
    if (slot.schemeTail === '') return uri;
    const colon = uri.indexOf(':');
    const brace = uri.indexOf('{');
    if (colon <= 0 || (brace !== -1 && brace < colon) || !/^[A-Za-z][A-Za-z0-9+.-]*$/.test(uri.slice(0, colon))) return undefined;
    return uri.slice(0, colon) + slot.schemeTail + uri.slice(colon);
  }

  /** Signs a list position. */
  encodeCursor(state: CursorState): string {
    const body = Buffer.from(JSON.stringify(state)).toString('base64url');
    return `${body}.${this.sign(body)}`;
  }

  /** The list position a cursor holds, or undefined when it was not made here (or is malformed). */
  decodeCursor(cursor: unknown, kind: string): CursorState | undefined {
    if (typeof cursor !== 'string' || cursor.length > 65_536) return undefined;
    const dot = cursor.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const body = cursor.slice(0, dot);
    const mac = Buffer.from(cursor.slice(dot + 1), 'base64url');
    const want = Buffer.from(this.sign(body), 'base64url');
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return undefined;
    let state: unknown;
    try {
      state = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    const st = state as CursorState;
    if (st?.k !== kind || !Array.isArray(st.p) || st.p.length !== this.slots.length) return undefined;
    return st;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.cursorKey).update(body).digest().subarray(0, 16).toString('base64url');
  }

  /** @internal */
  sessionClosed(s: FederatedSession): void {
    this.sessions.delete(s);
  }

  /** Client sessions open now. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Closes every server's pool (see McpWsGateway.close). Close the server first. */
  async close(): Promise<void> {
    this.closing = true;
    for (const s of this.sessions) s.closed();
    await Promise.all(this.slots.map((s) => s.gateway.close()));
  }

  /** The server is draining. */
  drain(): void {
    for (const s of this.slots) s.gateway.drain();
  }

  /** Every server's gateway metrics, one family per name, each sample labelled `server="<name>"`. */
  metrics(): ExtraMetric[] {
    const families = new Map<string, { metric: ExtraMetric; parts: Array<[string, ExtraMetric]> }>();
    for (const slot of this.slots) {
      for (const m of slot.gateway.metrics()) {
        const f = families.get(m.name) ?? { metric: m, parts: [] };
        f.parts.push([slot.name, m]);
        families.set(m.name, f);
      }
    }
    return [...families.values()].map(({ metric, parts }) => ({
      name: metric.name,
      help: metric.help,
      type: metric.type,
      read: () => parts.flatMap(([server, m]) => m.read().map((v) => ({ ...v, labels: { ...v.labels, server } }))),
    }));
  }

  /** A plain snapshot: each server's gateway snapshot under its name. */
  snapshot(): Record<string, unknown> {
    return { sessions: this.sessions.size, servers: Object.fromEntries(this.slots.map((s) => [s.name, s.gateway.snapshot()])) };
  }
}

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1 || v > 2_147_483_647) throw new ConfigError(`federation: ${name} should be an integer from 1 to 2147483647, got ${JSON.stringify(v)}`);
  return v;
}

/** A merged list's position: per server, [upstream cursor or null, offset into that page], or 0 when done. */
export interface CursorState {
  k: string;
  p: Array<[string | null, number] | 0>;
}

const LISTS: Record<string, { key: string; kind: 'name' | 'uri' | 'template' }> = {
  'tools/list': { key: 'tools', kind: 'name' },
  'prompts/list': { key: 'prompts', kind: 'name' },
  'resources/list': { key: 'resources', kind: 'uri' },
  'resources/templates/list': { key: 'resourceTemplates', kind: 'template' },
};

const LIST_CHANGED = ['notifications/tools/list_changed', 'notifications/prompts/list_changed', 'notifications/resources/list_changed'];

type Outcome = { result: Record<string, unknown> } | { error: { code: number; message: string; data?: unknown } };

/** One server inside one client session. */
class Member {
  inner: SessionHandler | undefined;
  up = false;
  capabilities: Record<string, unknown> = {};
  instructions: string | undefined;
  protocolVersion: string | undefined;
  reviveTimer: NodeJS.Timeout | undefined;
  attempts = 0;
  /** Bumped each time a new inner session is made: messages of an older one are ignored. */
  generation = 0;
  constructor(readonly slot: ServerSlot) {}
}

/** One client session across every federated server. */
class FederatedSession implements SessionHandler {
  protocolVersion: string | undefined;
  private readonly members: Member[];
  private initParams: Record<string, unknown> | undefined;
  private clientInitialized = false;
  private ended = false;
  private nextId = 1;
  /** Server→client requests relayed: our id → member and its id. */
  private readonly outbound = new Map<string, { member: Member; generation: number; id: RequestId }>();
  /** Members whose gateway session asked to stop reading the client. */
  private readonly holding = new Set<Member>();

  constructor(
    private readonly peer: SessionPeer,
    private readonly fed: McpWsFederation,
  ) {
    this.members = fed.slots.map((s) => new Member(s));
  }

  // ------------------------------------------------------------ client → us

  request(msg: JsonRpcRequest): string | Promise<string | undefined> {
    const method = msg.method;
    const params = (msg.params ?? {}) as Record<string, unknown>;
    const modern = modernMeta(msg.params as Record<string, unknown> | undefined) !== undefined;
    if (method === 'initialize') return this.initialize(msg, params);
    if (method === 'ping') return reply(msg.id, {});
    if (method === 'server/discover') {
      this.modernMembers();
      return this.discover(msg);
    }
    if (modern) this.modernMembers();
    else if (this.initParams === undefined) return errorReply(msg.id, ERRORS.INVALID_REQUEST.rpc, 'Session not initialized: send initialize first');
    const list = LISTS[method];
    if (list !== undefined) return this.list(msg, method, list.key, list.kind, params);
    switch (method) {
      case 'tools/call':
      case 'prompts/get':
        return this.byName(msg, method, params);
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        return this.byUri(msg, params);
      case 'completion/complete':
        return this.complete(msg, params);
      case 'logging/setLevel':
        return this.everywhere(msg);
      default:
        return errorReply(msg.id, ERRORS.METHOD_NOT_FOUND.rpc, `Method not found: ${method}`);
    }
  }

  notification(msg: JsonRpcNotification): void {
    if (msg.method === 'notifications/initialized') this.clientInitialized = true;
    for (const m of this.members) if (m.up || msg.method === 'notifications/cancelled') m.inner?.notification(msg);
  }

  response(msg: JsonRpcResponse): void {
    const key = String(msg.id);
    const out = this.outbound.get(key);
    if (out === undefined) return;
    this.outbound.delete(key);
    if (out.generation !== out.member.generation) return;
    out.member.inner?.response({ ...msg, id: out.id } as JsonRpcResponse);
  }

  closed(): void {
    if (this.ended) return;
    this.ended = true;
    for (const m of this.members) this.retire(m);
    this.outbound.clear();
    this.fed.sessionClosed(this);
  }

  // ------------------------------------------------------------ handshake

  /**
   * 2026-07-28 requests need no handshake: each member gets a gateway
   * session (whose modern lane serves them) and counts as up; a server that
   * does not answer is left out of that answer, as for lists.
   */
  private modernMembers(): void {
    if (this.initParams !== undefined) return;
    for (const m of this.members) {
      if (m.inner !== undefined) continue;
      const generation = ++m.generation;
      m.inner = m.slot.gateway.createHandler(this.memberPeer(m, generation));
      m.up = true;
      m.capabilities = { tools: {}, prompts: {}, resources: {} };
    }
  }

  private async initialize(msg: JsonRpcRequest, params: Record<string, unknown>): Promise<string | undefined> {
    if (this.initParams !== undefined) return errorReply(msg.id, ERRORS.INVALID_REQUEST.rpc, 'initialize was already sent on this session');
    this.initParams = params;
    await Promise.all(this.members.map((m) => this.join(m, false)));
    const live = this.members.filter((m) => m.up);
    if (live.length === 0) {
      const e = GATEWAY_ERRORS.UPSTREAM_UNAVAILABLE;
      return errorReply(msg.id, e.rpc, `${e.message}: no federated server answered initialize`);
    }
    const requested = typeof params.protocolVersion === 'string' ? params.protocolVersion : undefined;
    const versions = live.map((m) => m.protocolVersion).filter((v): v is string => v !== undefined);
    // Every server speaks the client's revision, or the oldest one any of them answered.
    this.protocolVersion = versions.every((v) => v === requested) ? requested : [...versions].sort()[0];
    return reply(msg.id, this.handshakeResult(this.protocolVersion));
  }

  private handshakeResult(protocolVersion: string | undefined): Record<string, unknown> {
    const live = this.members.filter((m) => m.up);
    return {
      protocolVersion,
      capabilities: mergeCapabilities(live.map((m) => m.capabilities)),
      serverInfo: { name: 'mcp-ws-federation', version: '1', title: `mcp-ws federation of ${this.fed.slots.map((s) => s.name).join(', ')}` },
      ...instructionsOf(live),
    };
  }

  private async discover(msg: JsonRpcRequest): Promise<string | undefined> {
    const outcomes = await Promise.all(this.members.map((m) => this.ask(m, 'server/discover', (msg.params ?? {}) as Record<string, unknown>, this.fed.listTimeoutMs, true)));
    const results: Array<{ m: Member; r: Record<string, unknown> }> = [];
    outcomes.forEach((o, i) => {
      if (o !== undefined && 'result' in o) results.push({ m: this.members[i]!, r: o.result });
    });
    if (results.length === 0) {
      const e = GATEWAY_ERRORS.UPSTREAM_UNAVAILABLE;
      return errorReply(msg.id, e.rpc, `${e.message}: no federated server answered server/discover`);
    }
    const versions = results.map(({ r }) => (Array.isArray(r.supportedVersions) ? (r.supportedVersions as string[]) : []));
    const common = versions.reduce((a, b) => a.filter((v) => b.includes(v)));
    const first = results[0]!.r;
    const instructions = results
      .filter(({ r }) => typeof r.instructions === 'string' && r.instructions !== '')
      .map(({ m, r }) => `## ${m.slot.name}\n\n${r.instructions as string}`);
    return reply(msg.id, {
      ...first,
      ...(common.length > 0 ? { supportedVersions: common } : {}),
      capabilities: mergeCapabilities(results.map(({ r }) => (r.capabilities as Record<string, unknown>) ?? {})),
      serverInfo: { name: 'mcp-ws-federation', version: '1' },
      ...(instructions.length > 0 ? { instructions: instructions.join('\n\n') } : { instructions: undefined }),
    });
  }

  /** Opens a member's gateway session and initializes it with the client's parameters. */
  private async join(m: Member, revived: boolean): Promise<void> {
    this.retire(m);
    const generation = ++m.generation;
    m.inner = m.slot.gateway.createHandler(this.memberPeer(m, generation));
    const o = await this.ask(m, 'initialize', this.initParams ?? {}, this.fed.initializeTimeoutMs, true);
    if (this.ended || m.generation !== generation) return;
    if (o === undefined || !('result' in o)) {
      this.fed.logger.warn({ session: this.peer.id, server: m.slot.name, err: o === undefined ? 'no answer' : o.error.message }, 'federated server unavailable; retrying with backoff');
      this.retire(m);
      this.scheduleRevive(m);
      return;
    }
    m.up = true;
    m.attempts = 0;
    m.capabilities = (o.result.capabilities as Record<string, unknown>) ?? {};
    m.instructions = typeof o.result.instructions === 'string' ? o.result.instructions : undefined;
    m.protocolVersion = typeof o.result.protocolVersion === 'string' ? o.result.protocolVersion : undefined;
    if (revived) {
      if (this.clientInitialized) m.inner?.notification({ jsonrpc: '2.0', method: 'notifications/initialized' } as JsonRpcNotification);
      this.fed.logger.info({ session: this.peer.id, server: m.slot.name }, 'federated server back in the session');
      this.listsChanged(m);
    }
  }

  private scheduleRevive(m: Member): void {
    if (this.ended || this.fed.closing || m.reviveTimer !== undefined) return;
    const base = Math.min(this.fed.reviveMaxDelayMs, this.fed.reviveInitialDelayMs * 2 ** Math.min(m.attempts, 20));
    m.attempts++;
    const delay = Math.floor(base / 2 + Math.random() * (base / 2));
    m.reviveTimer = setTimeout(() => {
      m.reviveTimer = undefined;
      if (!this.ended) void this.join(m, true);
    }, delay);
    m.reviveTimer.unref?.();
  }

  /** Ends a member's gateway session without touching the client. */
  private retire(m: Member): void {
    if (m.reviveTimer !== undefined && this.ended) {
      clearTimeout(m.reviveTimer);
      m.reviveTimer = undefined;
    }
    const inner = m.inner;
    m.inner = undefined;
    m.up = false;
    m.generation++;
    if (this.holding.size > 0) this.hold(m, false);
    if (inner !== undefined) {
      try {
        inner.closed();
      } catch (err) {
        this.fed.logger.error({ err, server: m.slot.name }, 'closing a federated session failed');
      }
    }
  }

  /** A member's session was lost: it leaves the lists until it is back. */
  private lost(m: Member, reason: string): void {
    if (this.ended) return;
    const wasUp = m.up;
    this.retire(m);
    this.fed.logger.warn({ session: this.peer.id, server: m.slot.name, reason }, 'federated server left the session');
    if (wasUp) this.listsChanged(m);
    this.scheduleRevive(m);
  }

  private listsChanged(m: Member): void {
    if (!this.clientInitialized && this.protocolVersion === undefined) return;
    const caps = m.capabilities;
    if (caps.tools !== undefined) this.peer.notify('notifications/tools/list_changed');
    if (caps.prompts !== undefined) this.peer.notify('notifications/prompts/list_changed');
    if (caps.resources !== undefined) this.peer.notify('notifications/resources/list_changed');
  }

  // ------------------------------------------------------------ routed calls

  private byName(msg: JsonRpcRequest, method: string, params: Record<string, unknown>): string | Promise<string | undefined> {
    const name = params.name;
    const route = typeof name === 'string' ? this.fed.routeName(name) : undefined;
    const unknown = method === 'tools/call' ? `Unknown tool: ${String(name)}` : `Unknown prompt: ${String(name)}`;
    if (route === undefined) return errorReply(msg.id, ERRORS.INVALID_PARAMS.rpc, unknown);
    const [slot, own] = route;
    const m = this.members[slot.index]!;
    if (method === 'tools/call') {
      if (slot.lacksScope(own, this.peer.identity)) return errorReply(msg.id, ERRORS.FORBIDDEN.rpc, ERRORS.FORBIDDEN.message);
      if (!slot.allows(own, this.peer.identity)) return errorReply(msg.id, ERRORS.INVALID_PARAMS.rpc, unknown);
    }
    if (!m.up) return errorReply(msg.id, ERRORS.INVALID_PARAMS.rpc, `${unknown} (server ${slot.name} is unavailable)`);
    return this.forward(m, msg, { ...params, name: own });
  }

  private byUri(msg: JsonRpcRequest, params: Record<string, unknown>): string | Promise<string | undefined> {
    const route = typeof params.uri === 'string' ? this.fed.routeUri(params.uri) : undefined;
    if (route === undefined) return errorReply(msg.id, ERRORS.INVALID_PARAMS.rpc, `Unknown resource: ${String(params.uri)}`);
    const m = this.members[route[0].index]!;
    if (!m.up) return errorReply(msg.id, ERRORS.INVALID_PARAMS.rpc, `Resource unavailable: server ${m.slot.name} is down`);
    return this.forward(m, msg, { ...params, uri: route[1] });
  }

  private complete(msg: JsonRpcRequest, params: Record<string, unknown>): string | Promise<string | undefined> {
    const ref = params.ref as { type?: unknown; name?: unknown; uri?: unknown } | undefined;
    let route: [ServerSlot, string] | undefined;
    let next: Record<string, unknown> | undefined;
    if (ref?.type === 'ref/prompt' && typeof ref.name === 'string') {
      route = this.fed.routeName(ref.name);
      if (route) next = { ...ref, name: route[1] };
    } else if (ref?.type === 'ref/resource' && typeof ref.uri === 'string') {
      route = this.fed.routeUri(ref.uri);
      if (route) next = { ...ref, uri: route[1] };
    }
    if (route === undefined || next === undefined) return errorReply(msg.id, ERRORS.INVALID_PARAMS.rpc, 'Unknown completion reference');
    const m = this.members[route[0].index]!;
    if (!m.up) return errorReply(msg.id, ERRORS.INVALID_PARAMS.rpc, `Completion unavailable: server ${m.slot.name} is down`);
    return this.forward(m, msg, { ...params, ref: next });
  }

  private async everywhere(msg: JsonRpcRequest): Promise<string | undefined> {
    await Promise.all(this.members.filter((m) => m.up).map((m) => this.ask(m, msg.method, (msg.params ?? {}) as Record<string, unknown>, this.fed.listTimeoutMs, false)));
    return reply(msg.id, {});
  }

  /** Sends the client's request (its own id, so cancellation and progress work) to one member; maps URIs in the result. */
  private async forward(m: Member, msg: JsonRpcRequest, params: Record<string, unknown>): Promise<string | undefined> {
    const inner = m.inner!;
    const text = await inner.request({ ...msg, params } as JsonRpcRequest);
    if (text === undefined) return undefined;
    if (m.slot.schemeTail === '' || (msg.method !== 'resources/read' && msg.method !== 'tools/call')) return text;
    const parsed = JSON.parse(text) as { result?: Record<string, unknown> };
    if (parsed.result === undefined) return text;
    if (msg.method === 'resources/read') mapUris(this.fed, m.slot, parsed.result.contents);
    else mapUris(this.fed, m.slot, parsed.result.content, true);
    return JSON.stringify(parsed);
  }

  /** One request of our own to a member, answered or not within `timeoutMs` (undefined then). */
  private ask(m: Member, method: string, params: Record<string, unknown>, timeoutMs: number, evenIfDown: boolean): Promise<Outcome | undefined> {
    const inner = m.inner;
    if (inner === undefined || (!m.up && !evenIfDown)) return Promise.resolve(undefined);
    const id = `fed:${this.nextId++}`;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        // Withdraw it upstream: the gateway session sends notifications/cancelled.
        inner.notification({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'federation list timeout' } } as JsonRpcNotification);
        resolve(undefined);
      }, timeoutMs);
    });
    const answer = Promise.resolve(inner.request({ jsonrpc: '2.0', id, method, params } as JsonRpcRequest)).then(
      (text) => (text === undefined ? undefined : (JSON.parse(text) as Outcome)),
      () => undefined,
    );
    return Promise.race([answer, timeout]).finally(() => clearTimeout(timer));
  }

  // ------------------------------------------------------------ merged lists

  private async list(msg: JsonRpcRequest, method: string, key: string, kind: 'name' | 'uri' | 'template', params: Record<string, unknown>): Promise<string | undefined> {
    const fed = this.fed;
    let state: CursorState;
    if (params.cursor !== undefined) {
      const decoded = fed.decodeCursor(params.cursor, method);
      if (decoded === undefined) return errorReply(msg.id, ERRORS.INVALID_PARAMS.rpc, 'Invalid cursor');
      state = decoded;
    } else {
      state = { k: method, p: this.members.map(() => [null, 0] as [null, number]) };
    }
    const limit = fed.maxListItemsPerServer;
    const { cursor: _c, ...rest } = params;
    const pages = await Promise.all(
      this.members.map(async (m, i) => {
        const pos = state.p[i];
        if (pos === 0 || pos === undefined || !m.up || !hasCapability(m, key)) return { items: [] as unknown[], next: 0 as const };
        const [upCursor, offset] = pos;
        const o = await this.ask(m, method, upCursor === null ? rest : { ...rest, cursor: upCursor }, fed.listTimeoutMs, false);
        if (o === undefined || !('result' in o)) {
          fed.logger.warn(
            { session: this.peer.id, server: m.slot.name, method, err: o === undefined ? `no answer within ${fed.listTimeoutMs} ms` : o.error.message },
            'federated list answered without this server',
          );
          return { items: [] as unknown[], next: 0 as const };
        }
        const all = Array.isArray(o.result[key]) ? (o.result[key] as unknown[]) : [];
        const items = all.slice(offset, offset + limit);
        let next: [string | null, number] | 0 = 0;
        if (offset + limit < all.length) next = [upCursor, offset + limit];
        else if (typeof o.result.nextCursor === 'string') next = [o.result.nextCursor, 0];
        return { items: this.mapItems(m, items, kind, method), next };
      }),
    );
    const out: unknown[] = [];
    for (const p of pages) for (const item of p.items) out.push(item);
    const nextState: CursorState = { k: method, p: pages.map((p) => p.next) };
    const more = nextState.p.some((p) => p !== 0);
    return reply(msg.id, { [key]: out, ...(more ? { nextCursor: fed.encodeCursor(nextState) } : {}) });
  }

  /** Prefixes names (or maps URIs), applies filters and scopes, drops what would not route back here. */
  private mapItems(m: Member, items: unknown[], kind: 'name' | 'uri' | 'template', method: string): unknown[] {
    const slot = m.slot;
    const fed = this.fed;
    const out: unknown[] = [];
    for (const raw of items) {
      if (typeof raw !== 'object' || raw === null) continue;
      const item = raw as Record<string, unknown>;
      if (kind === 'name') {
        const name = item.name;
        if (typeof name !== 'string') continue;
        if (method === 'tools/list' && !slot.allows(name, this.peer.identity)) continue;
        const mapped = slot.head + name;
        const back = fed.routeName(mapped);
        if (back === undefined || back[0] !== slot) {
          fed.logger.warn({ server: slot.name, name, mapped, method }, 'federated name dropped: it would route to another server');
          continue;
        }
        out.push(slot.head === '' ? item : { ...item, name: mapped });
      } else {
        const field = kind === 'uri' ? 'uri' : 'uriTemplate';
        const uri = item[field];
        if (typeof uri !== 'string') continue;
        const mapped = fed.mapUri(slot, uri);
        const back = mapped === undefined ? undefined : fed.routeUri(mapped);
        if (mapped === undefined || back === undefined || back[0] !== slot) {
          fed.logger.warn({ server: slot.name, uri, method }, 'federated URI dropped: it cannot be mapped back to its server');
          continue;
        }
        out.push(mapped === uri ? item : { ...item, [field]: mapped });
      }
    }
    return out;
  }

  // ------------------------------------------------------------ upstream → client

  private memberPeer(m: Member, generation: number): SessionPeer {
    const peer = this.peer;
    return {
      id: `${peer.id}/${m.slot.name}`,
      remoteAddress: peer.remoteAddress,
      identity: peer.identity,
      get isOpen() {
        return peer.isOpen;
      },
      sendText: (text: string): void => {
        if (m.generation === generation) this.fromMember(m, generation, text);
      },
      notify: (method: string, params?: Record<string, unknown>): void => {
        if (m.generation === generation) this.fromMember(m, generation, JSON.stringify({ jsonrpc: '2.0', method, ...(params ? { params } : {}) }));
      },
      holdReading: (hold: boolean): void => {
        if (m.generation === generation) this.hold(m, hold);
      },
      close: (_code: number, reason: string): void => {
        if (m.generation === generation) this.lost(m, reason);
      },
    };
  }

  /** The client is read while no member's upstream is congested. */
  private hold(m: Member, hold: boolean): void {
    const before = this.holding.size;
    if (hold) this.holding.add(m);
    else this.holding.delete(m);
    if ((before === 0) !== (this.holding.size === 0)) this.peer.holdReading?.(this.holding.size > 0);
  }

  /** A message a member's gateway session sends to "its client": a notification or a server→client request. */
  private fromMember(m: Member, generation: number, text: string): void {
    if (this.ended) return;
    let msg: { id?: RequestId; method?: string; params?: Record<string, unknown> };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return;
    }
    if (typeof msg.method !== 'string') return;
    if (msg.id !== undefined) {
      const id = `fed:${m.slot.name}:${this.nextId++}`;
      if (this.outbound.size >= 1024) {
        this.fed.logger.warn({ server: m.slot.name, method: msg.method }, 'federated server→client request refused: 1024 already waiting');
        // The server hears why at once rather than waiting out its own timeout.
        m.inner?.response({ jsonrpc: '2.0', id: msg.id, error: { code: INTERNAL_ERROR, message: 'Refused by the gateway: 1024 server→client requests of this session are already waiting for the client' } } as JsonRpcResponse);
        return;
      }
      this.outbound.set(id, { member: m, generation, id: msg.id });
      this.peer.sendText(JSON.stringify({ ...msg, id }));
      return;
    }
    if (LIST_CHANGED.includes(msg.method) && !m.up) return;
    if (msg.method === 'notifications/resources/updated' && typeof msg.params?.uri === 'string') {
      const mapped = this.fed.mapUri(m.slot, msg.params.uri);
      if (mapped === undefined) return;
      this.peer.sendText(JSON.stringify({ ...msg, params: { ...msg.params, uri: mapped } }));
      return;
    }
    this.peer.sendText(text);
  }
}

function hasCapability(m: Member, key: string): boolean {
  const cap = key === 'tools' ? 'tools' : key === 'prompts' ? 'prompts' : 'resources';
  return m.capabilities[cap] !== undefined;
}

function reply(id: RequestId, result: unknown): string {
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${JSON.stringify(result)}}`;
}

/** The union of capabilities: a feature present if any server has it; listChanged on (servers come and go); subscribe if any server supports it. */
export function mergeCapabilities(all: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const caps of all) {
    for (const [k, v] of Object.entries(caps)) {
      if (typeof v !== 'object' || v === null) continue;
      const prev = (out[k] as Record<string, unknown> | undefined) ?? {};
      out[k] = { ...prev, ...(v as Record<string, unknown>) };
    }
  }
  for (const k of ['tools', 'prompts', 'resources']) {
    if (out[k] !== undefined) (out[k] as Record<string, unknown>).listChanged = true;
  }
  const res = out.resources as Record<string, unknown> | undefined;
  if (res !== undefined) {
    const sub = all.some((c) => (c.resources as { subscribe?: unknown } | undefined)?.subscribe === true);
    if (sub) res.subscribe = true;
    else delete res.subscribe;
  }
  return out;
}

function instructionsOf(live: readonly Member[]): { instructions?: string } {
  const parts = live.filter((m) => m.instructions !== undefined && m.instructions !== '').map((m) => `## ${m.slot.name}\n\n${m.instructions!}`);
  return parts.length === 0 ? {} : { instructions: parts.join('\n\n') };
}

/** Maps resource URIs in read contents, or resource links and embedded resources in tool content. */
function mapUris(fed: McpWsFederation, slot: ServerSlot, list: unknown, content = false): void {
  if (!Array.isArray(list)) return;
  for (const item of list as Array<Record<string, unknown>>) {
    if (typeof item !== 'object' || item === null) continue;
    const target = content ? (item.type === 'resource' ? (item.resource as Record<string, unknown> | undefined) : item.type === 'resource_link' ? item : undefined) : item;
    if (target === undefined || typeof target.uri !== 'string') continue;
    const mapped = fed.mapUri(slot, target.uri);
    if (mapped !== undefined) target.uri = mapped;
  }
}
