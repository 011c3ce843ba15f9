/**
 * Shared upstream sessions (pool setting `sharing: "shared"`): 2025-era client
 * sessions multiplexed over a few upstream sessions the gateway opens and
 * initializes itself, for stateless upstream servers. The same idea as the
 * 2026-07-28 lane (modern.ts), for clients that speak the session era.
 *
 *   client A {id: 7}  ─┐                       ┌─► upstream {id: 41}  (lane 1)
 *   client B {id: 7}  ─┼─► ids gateway-assigned ┼─► upstream {id: 42}  (lane 1)
 *   client C {id: 1}  ─┘   per lane session     └─► upstream {id: 9}   (lane 2)
 *   upstream {id: 42, result} ─► lane 1's map: 42 → (B, 7) ─► client B {id: 7}
 *
 * Lane sessions. Leased from the pool through the balancer like any client
 * session (so they spread over members and count against maxConnections),
 * then initialized once by the gateway: the protocol revision the first
 * client asked for (or the latest the gateway knows), client capabilities
 * `sampling`, `elicitation` and `roots` (so the upstream may ask; see below),
 * clientInfo `mcp-ws-gateway`, then `notifications/initialized`. Every
 * client's `initialize` is answered from that cached result (protocolVersion,
 * capabilities, serverInfo, instructions) without upstream traffic; its
 * `notifications/initialized` and `ping` stay at the gateway. Requests go to
 * the ready lane session with the fewest in flight; when that one has
 * SHARED_LANE_BUSY or more in flight another is leased, at most
 * maxConnections. A lane session lives until the gateway closes or it dies.
 *
 * Per request: a fresh upstream id from the lane session's own counter (so
 * two clients' ids never meet upstream), and a progress token unique on that
 * session in place of the client's, mapped back on `notifications/progress`.
 * `notifications/cancelled` from a client is sent upstream with the upstream
 * id; a client that goes away has every request it has in flight cancelled
 * upstream. Requests have the gateway's requestTimeoutMs (-32001 and a
 * cancel upstream), pushed back by progress; they are not retried. A lane
 * session that dies fails only the requests in flight on it, with -32017;
 * the client sessions stay open, and the next request leases a new lane
 * session (at once when resource subscriptions or a log level must be
 * carried over). A client's requests in flight count in its pending
 * messages, so maxPendingPerClient holds as in per-client mode.
 *
 * State that cannot be shared:
 * - Resource subscriptions are reference-counted: `resources/subscribe` goes
 *   upstream (on one lane session) for the first client naming a URI, and
 *   `resources/unsubscribe` when the last one unsubscribes or goes away;
 *   `notifications/resources/updated` reaches only the clients subscribed to
 *   the URI. `list_changed` notifications reach every client.
 * - `logging/setLevel`: each client's level is kept by the gateway; the lane
 *   sessions are set to the most verbose level any client asked for, and each
 *   upstream `notifications/message` goes to the clients whose own level
 *   admits it. A client that never set a level receives no upstream log
 *   messages (they are the server's, not its own).
 * - Server→client requests (sampling, elicitation, roots, ping) go to the
 *   client that caused them: the one whose request carries the progress
 *   token the upstream's request names in `_meta`, else the only client with
 *   requests in flight on that lane session. Ambiguous (several clients) or
 *   orphaned (none), or a client that did not declare the capability, and the
 *   upstream gets error -32601 with a message saying why. The ask is sent to
 *   the client with an id the gateway assigns; a response with an id the
 *   client was not sent is ignored.
 * - Tasks, elicitation or sampling state kept across requests, per-session
 *   tool lists, `notifications/roots/list_changed` of one client: none of it
 *   can be kept per client. Only servers whose every answer depends on the
 *   request alone are safe to share (see docs/PROTOCOL.md).
 */
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, errorReply, type JsonRpcRequest, type RequestId } from '../protocol/jsonrpc.js';
import { LATEST_PROTOCOL_VERSION } from '../protocol/versions.js';
import { subscriptionLimit } from '../protocol/subscriptions.js';
import { LOG_LEVELS } from '../router/log-levels.js';
import type { SessionPeer } from '../server/handler.js';
import { GATEWAY_ERRORS } from './errors.js';
import type { PooledSession, SessionOwner } from './pool-member.js';
import type { UpstreamPool } from './pool.js';
import { firstLine } from './upstream.js';

/** A lane session with this many requests in flight is busy: the next request asks for another. */
export const SHARED_LANE_BUSY = 16;
/** Server→client requests one client may have unanswered; past it the upstream's ask is refused. */
export const MAX_ASKS_PER_CLIENT = 64;

const LEVEL_RANK: ReadonlyMap<string, number> = new Map(LOG_LEVELS.map((l, i) => [l, i]));
/** The capability a server→client request needs of its client. */
const ASK_CAPABILITY: Readonly<Record<string, string>> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};
const LIST_CHANGED: ReadonlySet<string> = new Set([
  'notifications/tools/list_changed',
  'notifications/resources/list_changed',
  'notifications/prompts/list_changed',
]);

/** Gateway-wide counters of shared upstream sessions. */
export class SharedStats {
  /** Client requests forwarded on lane sessions. */
  forwarded = 0;
  /** Lane sessions opened. */
  laneSessionsOpened = 0;
  /** Lane sessions lost (died, failed a health check). */
  laneSessionsLost = 0;
  /** Server→client requests routed to a client. */
  asksRouted = 0;
  /** Server→client requests refused (ambiguous, orphaned, capability missing, too many). */
  asksRefused = 0;
  /** Client responses that answered nothing the client was sent (ignored). */
  strayResponses = 0;
}

/** What a client session needs back from its shared state. */
export interface SharedClientOwner {
  readonly peer: SessionPeer;
  /** A request of this client was answered, cancelled or failed. */
  sharedSettled(): void;
  /** The lane session a request of this client went to is congested: stop reading the client. */
  sharedCongested(): void;
  /** That lane session drained. */
  sharedDrained(): void;
}

/** One client request in flight on a lane session (or waiting for one). */
class SharedCall {
  gid = 0;
  deadline = 0;
  lane: SharedLaneSession | undefined;
  /** The token sent upstream, when the client asked for progress. */
  upToken: number | undefined;
  constructor(
    readonly client: SharedClient,
    readonly clientId: RequestId,
    readonly method: string,
    readonly clientToken: string | number | undefined,
    readonly resolve: (text: string | undefined) => void,
  ) {}
}

/** A server→client request forwarded to a client. */
interface Ask {
  readonly lane: SharedLaneSession;
  readonly upId: RequestId;
  readonly client: SharedClient;
  readonly askId: number;
}

/** One client session's share: its requests in flight, its log level, subscriptions and capabilities. */
export class SharedClient {
  /** Requests in flight or waiting for a lane session, by client id. */
  readonly calls = new Map<RequestId, SharedCall>();
  /** Server→client requests sent to this client, by the id the gateway gave them. */
  readonly asks = new Map<number, Ask>();
  readonly subscriptions = new Set<string>();
  capabilities: Record<string, unknown> = {};
  level: string | undefined;
  ended = false;

  constructor(
    readonly owner: SharedClientOwner,
    private readonly lanes: SharedLanes,
  ) {}

  /** Requests this client holds. */
  get size(): number {
    return this.calls.size;
  }

  /** `notifications/cancelled` from the client. */
  cancel(params: Record<string, unknown> | undefined): void {
    const id = params?.requestId as RequestId | undefined;
    if (id === undefined) return;
    const call = this.calls.get(id);
    if (call === undefined) return;
    const reason = typeof params?.reason === 'string' ? params.reason : 'cancelled by client';
    this.lanes.abandon(call, reason);
    call.resolve(undefined);
  }

  /** @internal */
  settle(call: SharedCall, text: string | undefined): void {
    if (this.calls.get(call.clientId) !== call) return;
    this.calls.delete(call.clientId);
    call.resolve(text);
    this.owner.sharedSettled();
  }
}

/** One upstream session the gateway opened, shared by the clients routed to it. */
class SharedLaneSession implements SessionOwner {
  /** Requests in flight, by upstream id. */
  readonly calls = new Map<number, SharedCall>();
  /** Requests in flight that asked for progress, by upstream token. */
  readonly progress = new Map<number, SharedCall>();
  /** Server→client requests of this session waiting for a client's answer. */
  readonly asks = new Set<Ask>();
  /** Clients held because this session was congested when their request went out. */
  readonly held = new Set<SharedClientOwner>();
  dead = false;

  constructor(
    readonly lanes: SharedLanes,
    readonly s: PooledSession,
  ) {
    s.conn.ondrain = () => this.drained();
  }

  upstreamMessage(msg: JSONRPCMessage): void {
    const m = msg as { id?: RequestId; method?: string; params?: Record<string, unknown> };
    if (m.method !== undefined) {
      if (m.id !== undefined) this.lanes.ask(this, m.id, m.method, m.params);
      else this.lanes.notification(this, m.method, m.params);
      return;
    }
    const call = this.calls.get(m.id as number);
    if (call === undefined) return; // A timed-out or cancelled request's late answer.
    this.forget(call);
    (msg as { id: RequestId }).id = call.clientId;
    call.client.settle(call, JSON.stringify(msg));
  }

  upstreamError(err: Error, msg: JSONRPCMessage | undefined): void {
    const gid = (msg as { id?: unknown; method?: unknown } | undefined)?.id;
    if (typeof gid !== 'number' || (msg as { method?: unknown }).method === undefined) return;
    const call = this.calls.get(gid);
    if (call === undefined) return;
    this.forget(call);
    const e = GATEWAY_ERRORS.UPSTREAM_UNAVAILABLE;
    call.client.settle(call, errorReply(call.clientId, e.rpc, `Upstream request failed: ${firstLine(err)}`));
  }

  upstreamClosed(reason: string): void {
    this.lanes.laneLost(this, reason);
  }

  /** Removes a call from this session's books (not from its client's). */
  forget(call: SharedCall): void {
    this.calls.delete(call.gid);
    if (call.upToken !== undefined) this.progress.delete(call.upToken);
    call.lane = undefined;
  }

  private drained(): void {
    const held = [...this.held];
    this.held.clear();
    for (const o of held) o.sharedDrained();
  }
}

/** What the shared lanes need of their gateway. */
export interface SharedLanesHost {
  readonly pool: UpstreamPool;
  readonly requestTimeoutMs: number;
  readonly stats: { requestTimeouts: number };
  readonly sharedStats: SharedStats;
  readonly closing: boolean;
}

/** The cached upstream handshake every client's initialize is answered from. */
interface Handshake {
  readonly protocolVersion: string;
  readonly result: Record<string, unknown>;
}

/** Every shared lane session of one pool, and the clients they serve. */
export class SharedLanes {
  private readonly sessions: SharedLaneSession[] = [];
  private opening: Promise<SharedLaneSession> | undefined;
  private handshake: Handshake | undefined;
  private readonly clients = new Set<SharedClient>();
  /** Resource URIs some client is subscribed to, with how many. */
  private readonly uriRefs = new Map<string, number>();
  /** The lane session holding the upstream subscriptions. */
  private subLane: SharedLaneSession | undefined;
  /** The level set on the lane sessions (the most verbose any client asked for). */
  private laneLevel: string | undefined;
  private nextToken = 1;
  private nextAsk = 1;
  private closed = false;

  constructor(private readonly host: SharedLanesHost) {}

  /** Lane sessions ready now (tests, snapshot). */
  get size(): number {
    return this.sessions.length;
  }

  /** A client session's share. */
  client(owner: SharedClientOwner): SharedClient {
    const c = new SharedClient(owner, this);
    this.clients.add(c);
    return c;
  }

  /** A request of `client`; the reply is the serialised response, or undefined when cancelled. */
  request(client: SharedClient, msg: JsonRpcRequest): string | undefined | Promise<string | undefined> {
    const method = msg.method;
    const params = msg.params;
    switch (method) {
      case 'ping':
        return JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {} });
      case 'logging/setLevel': {
        const level = params?.level;
        if (typeof level !== 'string' || !LEVEL_RANK.has(level)) {
          return errorReply(msg.id, INVALID_PARAMS, `Invalid params: level should be one of ${LOG_LEVELS.join(', ')}`);
        }
        client.level = level;
        this.levelChanged();
        return JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {} });
      }
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = params?.uri;
        if (typeof uri !== 'string') return errorReply(msg.id, INVALID_PARAMS, 'Invalid params: uri should be a string');
        if (method === 'resources/unsubscribe') {
          if (client.subscriptions.delete(uri)) this.unref(uri);
          return JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {} });
        }
        if (client.subscriptions.has(uri)) return JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {} });
        const limit = subscriptionLimit(uri, client.subscriptions.size);
        if (limit !== undefined) return errorReply(msg.id, INVALID_PARAMS, limit);
        return this.subscribe(client, msg.id, uri);
      }
    }
    if (client.calls.has(msg.id)) return errorReply(msg.id, INVALID_REQUEST, 'Invalid request: a request with this id is already in flight');
    let resolve!: (text: string | undefined) => void;
    const reply = new Promise<string | undefined>((r) => (resolve = r));
    const token = (params?._meta as { progressToken?: unknown } | undefined)?.progressToken;
    const call = new SharedCall(client, msg.id, method, typeof token === 'string' || typeof token === 'number' ? token : undefined, resolve);
    client.calls.set(msg.id, call);
    if (method === 'initialize') {
      const caps = params?.capabilities;
      if (typeof caps === 'object' && caps !== null && !Array.isArray(caps)) client.capabilities = caps as Record<string, unknown>;
      const hs = this.handshake;
      if (hs !== undefined) client.settle(call, initializeReply(msg.id, hs));
      else {
        const v = params?.protocolVersion;
        this.session(typeof v === 'string' ? v : undefined).then(
          () => client.settle(call, initializeReply(msg.id, this.handshake!)),
          (err: unknown) => this.unavailable(call, err),
        );
      }
      return reply;
    }
    const lane = this.pick();
    if (lane !== undefined) this.dispatch(call, params, lane);
    else this.session(undefined).then((l) => this.dispatch(call, params, l), (err: unknown) => this.unavailable(call, err));
    return reply;
  }

  /** A client's answer to a server→client request: forwarded when it answers one this client was sent. */
  response(client: SharedClient, msg: { id: RequestId | null }): void {
    const ask = typeof msg.id === 'number' ? client.asks.get(msg.id) : undefined;
    if (ask === undefined) {
      this.host.sharedStats.strayResponses++;
      return;
    }
    client.asks.delete(ask.askId);
    ask.lane.asks.delete(ask);
    if (ask.lane.dead) return;
    const m = msg as { result?: unknown; error?: unknown };
    const out = m.error !== undefined ? { jsonrpc: '2.0', id: ask.upId, error: m.error } : { jsonrpc: '2.0', id: ask.upId, result: m.result ?? {} };
    ask.lane.s.send(out as JSONRPCMessage);
  }

  /** The client went away: its requests are cancelled upstream, its asks refused, its subscriptions and level released. */
  release(client: SharedClient): void {
    if (client.ended) return;
    client.ended = true;
    this.clients.delete(client);
    for (const call of [...client.calls.values()]) {
      this.abandon(call, 'client went away');
      call.resolve(undefined);
    }
    for (const ask of client.asks.values()) {
      ask.lane.asks.delete(ask);
      if (!ask.lane.dead) this.refuse(ask.lane, ask.upId, 'the client that was asked went away', false);
    }
    client.asks.clear();
    for (const uri of client.subscriptions) this.unref(uri);
    client.subscriptions.clear();
    if (client.level !== undefined) {
      client.level = undefined;
      this.levelChanged();
    }
  }

  // ------------------------------------------------------------ routing

  private dispatch(call: SharedCall, params: Record<string, unknown> | undefined, lane: SharedLaneSession): void {
    const client = call.client;
    if (client.calls.get(call.clientId) !== call) return; // Cancelled while waiting for a lane session.
    const s = lane.s;
    const gid = s.nextId++;
    call.gid = gid;
    call.lane = lane;
    call.deadline = this.host.pool.now + this.host.requestTimeoutMs;
    if (call.clientToken !== undefined) {
      call.upToken = this.nextToken++;
      params = { ...params, _meta: { ...(params!._meta as Record<string, unknown>), progressToken: call.upToken } };
      lane.progress.set(call.upToken, call);
    }
    lane.calls.set(gid, call);
    s.member.metrics.requests++;
    this.host.sharedStats.forwarded++;
    s.send((params === undefined ? { jsonrpc: '2.0', id: gid, method: call.method } : { jsonrpc: '2.0', id: gid, method: call.method, params }) as JSONRPCMessage);
    if (s.conn.congested === true && !lane.held.has(client.owner)) {
      lane.held.add(client.owner);
      client.owner.sharedCongested();
    }
  }

  /** The ready lane session with the fewest in flight; asks for another when that one is busy. */
  private pick(): SharedLaneSession | undefined {
    let best: SharedLaneSession | undefined;
    for (const l of this.sessions) if (best === undefined || l.calls.size < best.calls.size) best = l;
    if (best !== undefined && best.calls.size >= SHARED_LANE_BUSY && this.opening === undefined && this.sessions.length < this.host.pool.config.maxConnections) {
      // Grow in the background; this request still goes to the least busy one.
      void this.session(undefined).catch(() => undefined);
    }
    return best;
  }

  private unavailable(call: SharedCall, err: unknown): void {
    const e = GATEWAY_ERRORS.UPSTREAM_UNAVAILABLE;
    call.client.settle(call, errorReply(call.clientId, e.rpc, `${e.message}: ${firstLine(err)}`));
  }

  /** @internal Cancels `call` upstream; the caller answers it (or not). */
  abandon(call: SharedCall, reason: string): void {
    const client = call.client;
    if (client.calls.get(call.clientId) === call) client.calls.delete(call.clientId);
    const lane = call.lane;
    if (lane !== undefined && lane.calls.get(call.gid) === call) {
      lane.forget(call);
      if (!lane.dead) lane.s.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: call.gid, reason } } as JSONRPCMessage);
    }
    client.owner.sharedSettled();
  }

  // ------------------------------------------------------- lane sessions

  /** A ready lane session: the one being opened, or a new one. */
  private session(version: string | undefined): Promise<SharedLaneSession> {
    if (this.closed) return Promise.reject(new Error('the gateway is shutting down'));
    return (this.opening ??= this.open(version).finally(() => (this.opening = undefined)));
  }

  private async open(version: string | undefined): Promise<SharedLaneSession> {
    const s = await this.host.pool.acquire();
    const lane = new SharedLaneSession(this, s);
    s.owner = lane;
    const timeoutMs = this.host.requestTimeoutMs;
    let r: Record<string, unknown>;
    try {
      const protocolVersion = this.handshake?.protocolVersion ?? version ?? LATEST_PROTOCOL_VERSION;
      const capabilities = { sampling: {}, elicitation: {}, roots: { listChanged: true } };
      r = (await s.request('initialize', { protocolVersion, capabilities, clientInfo: { name: 'mcp-ws-gateway', version: '1' } }, timeoutMs)) as Record<string, unknown>;
      const v = r.protocolVersion;
      if (typeof v !== 'string') throw new Error('the upstream answered initialize without a protocolVersion');
      if (this.handshake !== undefined && v !== this.handshake.protocolVersion) {
        throw new Error(`the upstream negotiated ${v}, the other shared sessions ${this.handshake.protocolVersion}`);
      }
      s.conn.setProtocolVersion(v);
      s.initialized = true;
      s.send({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
      if (this.laneLevel !== undefined) await s.request('logging/setLevel', { level: this.laneLevel }, timeoutMs).catch(() => undefined);
    } catch (err) {
      if (!lane.dead) this.host.pool.release(s);
      throw err;
    }
    if (lane.dead || this.closed) {
      this.host.pool.release(s);
      throw new Error('the upstream session closed during its handshake');
    }
    this.handshake ??= { protocolVersion: r.protocolVersion as string, result: r };
    this.sessions.push(lane);
    this.host.sharedStats.laneSessionsOpened++;
    if (this.subLane === undefined && this.uriRefs.size > 0) {
      this.subLane = lane;
      for (const uri of this.uriRefs.keys()) void s.request('resources/subscribe', { uri }, timeoutMs).catch(() => undefined);
    }
    return lane;
  }

  /** @internal A lane session ended: only its requests fail (-32017); it is replaced on demand. */
  laneLost(lane: SharedLaneSession, reason: string): void {
    if (lane.dead) return;
    lane.dead = true;
    const i = this.sessions.indexOf(lane);
    if (i !== -1) {
      this.sessions.splice(i, 1);
      this.host.sharedStats.laneSessionsLost++;
    }
    const e = GATEWAY_ERRORS.UPSTREAM_LOST;
    const message = this.host.closing ? 'Gateway shutting down' : `${e.message}: ${reason}`;
    for (const call of [...lane.calls.values()]) {
      lane.forget(call);
      call.client.settle(call, errorReply(call.clientId, e.rpc, message));
    }
    for (const ask of lane.asks) ask.client.asks.delete(ask.askId);
    lane.asks.clear();
    for (const o of lane.held) o.sharedDrained();
    lane.held.clear();
    if (this.subLane === lane) {
      this.subLane = undefined;
      // Subscriptions (and the level) must live somewhere: replace the session now.
      if (this.uriRefs.size > 0 && !this.closed && !this.host.closing) void this.session(undefined).catch(() => undefined);
    }
  }

  // ---------------------------------------------------- upstream → client

  /** @internal A server→client request on a lane session: to the client that caused it, or refused. */
  ask(lane: SharedLaneSession, id: RequestId, method: string, params: Record<string, unknown> | undefined): void {
    if (method === 'ping') {
      lane.s.send({ jsonrpc: '2.0', id, result: {} } as JSONRPCMessage);
      return;
    }
    let client: SharedClient | undefined;
    const token = (params?._meta as { progressToken?: unknown } | undefined)?.progressToken;
    if (typeof token === 'number') client = lane.progress.get(token)?.client;
    if (client === undefined && token !== undefined) {
      // It names a request that is no longer in flight (cancelled, timed out): never guess another client.
      this.refuse(lane, id, 'the progress token it names belongs to no request in flight');
      return;
    }
    if (client === undefined) {
      let n = 0;
      for (const call of lane.calls.values()) {
        if (call.client === client) continue;
        client = call.client;
        if (++n > 1) break;
      }
      if (n !== 1) {
        this.refuse(lane, id, n === 0 ? 'no client request is in flight on this shared upstream session' : 'several clients share this upstream session and the request does not say which one it is for');
        return;
      }
    }
    const cap = ASK_CAPABILITY[method];
    if (cap !== undefined && client!.capabilities[cap] === undefined) {
      this.refuse(lane, id, `the client did not declare the ${cap} capability`);
      return;
    }
    if (client!.asks.size >= MAX_ASKS_PER_CLIENT) {
      this.refuse(lane, id, `the client has ${MAX_ASKS_PER_CLIENT} requests unanswered`);
      return;
    }
    const ask: Ask = { lane, upId: id, client: client!, askId: this.nextAsk++ };
    client!.asks.set(ask.askId, ask);
    lane.asks.add(ask);
    this.host.sharedStats.asksRouted++;
    client!.owner.peer.sendText(JSON.stringify(params === undefined ? { jsonrpc: '2.0', id: ask.askId, method } : { jsonrpc: '2.0', id: ask.askId, method, params }));
  }

  private refuse(lane: SharedLaneSession, id: RequestId, why: string, count = true): void {
    if (count) this.host.sharedStats.asksRefused++;
    lane.s.send({ jsonrpc: '2.0', id, error: { code: METHOD_NOT_FOUND, message: `Refused by the gateway (shared upstream session): ${why}` } } as JSONRPCMessage);
  }

  /** @internal A notification of a lane session. */
  notification(lane: SharedLaneSession, method: string, params: Record<string, unknown> | undefined): void {
    switch (method) {
      case 'notifications/progress': {
        const call = lane.progress.get(params?.progressToken as number);
        if (call === undefined) return;
        call.deadline = this.host.pool.now + this.host.requestTimeoutMs;
        call.client.owner.peer.sendText(JSON.stringify({ jsonrpc: '2.0', method, params: { ...params, progressToken: call.clientToken } }));
        return;
      }
      case 'notifications/message': {
        const rank = LEVEL_RANK.get(params?.level as string);
        if (rank === undefined) return;
        let text: string | undefined;
        for (const c of this.clients) {
          if (c.level === undefined || LEVEL_RANK.get(c.level)! > rank) continue;
          c.owner.peer.sendText((text ??= JSON.stringify({ jsonrpc: '2.0', method, params })));
        }
        return;
      }
      case 'notifications/resources/updated': {
        const uri = params?.uri;
        if (typeof uri !== 'string' || lane !== this.subLane) return;
        let text: string | undefined;
        for (const c of this.clients) if (c.subscriptions.has(uri)) c.owner.peer.sendText((text ??= JSON.stringify({ jsonrpc: '2.0', method, params })));
        return;
      }
      case 'notifications/cancelled': {
        // The upstream gives up a server→client request it sent.
        const id = params?.requestId;
        for (const ask of lane.asks) {
          if (ask.upId !== id) continue;
          lane.asks.delete(ask);
          ask.client.asks.delete(ask.askId);
          ask.client.owner.peer.sendText(JSON.stringify({ jsonrpc: '2.0', method, params: { ...params, requestId: ask.askId } }));
          return;
        }
        return;
      }
    }
    if (LIST_CHANGED.has(method)) {
      const text = JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
      for (const c of this.clients) c.owner.peer.sendText(text);
    }
    // Anything else belongs to no client in particular and is dropped.
  }

  // -------------------------------------------- subscriptions, log level

  private async subscribe(client: SharedClient, id: RequestId, uri: string): Promise<string | undefined> {
    client.subscriptions.add(uri);
    const n = this.uriRefs.get(uri) ?? 0;
    this.uriRefs.set(uri, n + 1);
    // Another client's subscription holds the URI upstream already.
    if (n > 0) return JSON.stringify({ jsonrpc: '2.0', id, result: {} });
    try {
      let lane = this.subLane ?? this.sessions[0];
      if (lane === undefined) lane = await this.session(undefined);
      this.subLane ??= lane;
      lane = this.subLane;
      // A session opened meanwhile may have subscribed it already; servers take a repeated subscribe as one.
      await lane.s.request('resources/subscribe', { uri }, this.host.requestTimeoutMs);
      return JSON.stringify({ jsonrpc: '2.0', id, result: {} });
    } catch (err) {
      if (client.subscriptions.delete(uri)) this.unref(uri, false);
      if (client.ended) return undefined;
      const m = /\((-?\d+)\)$/.exec((err as Error).message);
      return errorReply(id, m !== null ? Number(m[1]) : GATEWAY_ERRORS.UPSTREAM_UNAVAILABLE.rpc, `resources/subscribe failed upstream: ${firstLine(err)}`);
    }
  }

  private unref(uri: string, upstream = true): void {
    const n = (this.uriRefs.get(uri) ?? 1) - 1;
    if (n > 0) {
      this.uriRefs.set(uri, n);
      return;
    }
    this.uriRefs.delete(uri);
    const lane = this.subLane;
    if (upstream && lane !== undefined && !lane.dead) void lane.s.request('resources/unsubscribe', { uri }, this.host.requestTimeoutMs).catch(() => undefined);
  }

  /** Sets the lane sessions to the most verbose level any client asked for, when that changed. */
  private levelChanged(): void {
    let best: string | undefined;
    for (const c of this.clients) if (c.level !== undefined && (best === undefined || LEVEL_RANK.get(c.level)! < LEVEL_RANK.get(best)!)) best = c.level;
    // No client wants logs any more: the sessions keep their last level and the messages are filtered here.
    if (best === undefined || best === this.laneLevel) return;
    this.laneLevel = best;
    for (const lane of this.sessions) void lane.s.request('logging/setLevel', { level: best }, this.host.requestTimeoutMs).catch(() => undefined);
  }

  // ------------------------------------------------------------ timeouts

  /** Times out requests past their deadline (the gateway's tick). */
  sweep(now: number): void {
    const ms = this.host.requestTimeoutMs;
    const e = GATEWAY_ERRORS.UPSTREAM_TIMEOUT;
    for (const lane of this.sessions) {
      if (lane.calls.size === 0) continue;
      for (const call of [...lane.calls.values()]) {
        if (call.deadline > now) continue;
        lane.forget(call);
        lane.s.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: call.gid, reason: 'timeout' } } as JSONRPCMessage);
        lane.s.member.metrics.errors.timeout++;
        this.host.stats.requestTimeouts++;
        call.client.settle(call, errorReply(call.clientId, e.rpc, `Upstream did not answer ${call.method} within ${ms} ms`, { timeoutMs: ms }));
      }
    }
  }

  /** The gateway closes; the pool ends the lane sessions. */
  close(): void {
    this.closed = true;
  }
}

function initializeReply(id: RequestId, hs: Handshake): string {
  const r = hs.result;
  const result: Record<string, unknown> = { protocolVersion: hs.protocolVersion, capabilities: r.capabilities ?? {}, serverInfo: r.serverInfo };
  if (r.instructions !== undefined) result.instructions = r.instructions;
  return JSON.stringify({ jsonrpc: '2.0', id, result });
}
