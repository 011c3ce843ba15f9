/**
 * The gateway's 2026-07-28 lane: stateless requests (protocol keys in
 * `_meta`, no initialize) served in front of upstreams that are usually
 * legacy servers (2025-11-25 sessions over WebSocket, Streamable HTTP, stdio).
 *
 *   client ── {id: c, method, params._meta: {protocolVersion, clientCapabilities, …}}
 *          ─► _meta checked (-32602 malformed, -32022 unknown revision)
 *          ─► server/discover: answered here from the cached upstream handshake
 *          ─► subscriptions/listen: held here (legacy upstream) or forwarded (2026 upstream)
 *          ─► else: the least busy lane session, id c → g, 2026 `_meta` keys stripped
 *   upstream {id: g, result} ─► id g → c, resultType "complete", serverInfo in `_meta`
 *
 * Lane sessions. A legacy session belongs to the client that initialized it;
 * a stateless request belongs to nobody, so the gateway leases a few upstream
 * sessions of its own from the pool (through the balancer, like any client,
 * so they spread over members and count against maxConnections) and opens
 * them itself:
 * - it first asks `server/discover` with the 2026-07-28 `_meta` keys (over
 *   WebSocket and stdio; a Streamable HTTP upstream is always taken as
 *   legacy, since its 2026 requests need per-request headers the upstream
 *   transport does not write). An upstream that answers with a
 *   `supportedVersions` naming 2026-07-28 speaks this era: its session is
 *   never initialized and requests pass through unchanged but for the id
 *   and progress token (below);
 * - any other answer (an error, as legacy servers give for an unknown
 *   method) and the gateway sends `initialize` (latest legacy revision,
 *   capabilities `{}`, clientInfo `mcp-ws-gateway`), then
 *   `notifications/initialized`.
 * The first handshake result is cached for the pool: capabilities,
 * serverInfo and instructions of the legacy `initialize` (or the upstream's
 * own discover result) answer every `server/discover` without upstream
 * traffic. Each lane session keeps its own serverInfo for the results it
 * carries.
 *
 * Routing. No pinning: each request goes to the ready lane session with the
 * fewest requests in flight. When every one has LANE_BUSY or more in flight,
 * another is leased, up to one per pool member. The first request waits for
 * the first lane session (bounded by the pool's acquireTimeoutMs: a full
 * pool or open breakers answer -32016, never a hang). Requests are sent as
 * legacy requests: the `io.modelcontextprotocol/*` keys are removed from
 * `_meta` (trace keys and every other key stay), the progress token is
 * replaced by one unique on that upstream session and mapped back on
 * `notifications/progress` (lane sessions are shared by many clients, so
 * the clients' own tokens could collide). A legacy result is answered with
 * `resultType: "complete"` and the session's serverInfo merged into its
 * `_meta`; an error passes unchanged. A 2026 upstream's result passes as is.
 *
 * Per-request state and limits. A client's stateless requests in flight
 * count in its pending messages with the legacy ones, so maxPendingPerClient
 * bounds both (hold at the limit, -32018 past twice). Each has the gateway's
 * requestTimeoutMs (-32001 and `notifications/cancelled` upstream), pushed
 * back by progress. `notifications/cancelled` from the client cancels the
 * upstream request and nothing is answered (stdio semantics); a client that
 * goes away (socket closed, HTTP response ended) cancels all of its
 * requests upstream. A lane session that dies fails its requests with
 * -32017 (a stateless request is safe for the client to send again, which
 * lands on another lane session) and is replaced on demand. A lane session
 * with nothing in flight for the pool's idleTimeoutMs is given back to the
 * pool (one stays while a held listen needs it), so lane sessions hold pool
 * slots only while 2026-07-28 traffic uses them.
 *
 * Log level. `logging/setLevel` is legacy session state and a lane session
 * serves many clients at once; a legacy upstream's `notifications/message`
 * says nothing about which request it belongs to. So the gateway never sets
 * an upstream level, checks each request's `io.modelcontextprotocol/logLevel`
 * (-32602 for a value that is not a level) and delivers no upstream log
 * messages to 2026-07-28 clients: they are dropped and counted
 * (`modernLogsDropped`). The discover result leaves `logging` out of the
 * capabilities accordingly.
 *
 * Server→client requests. A legacy upstream asking for sampling, elicitation
 * or roots during a request blocks that request until answered. Turning
 * that into an InputRequiredResult would need the gateway to hold the
 * upstream call across the client's retry (the very state this era
 * removed) and to know which of the requests sharing the session asked,
 * which the legacy wire does not say. The gateway does not: lane sessions
 * declare no client capabilities, so a conforming upstream never asks, and
 * one that asks anyway is answered -32601 with a message saying why. A
 * 2026 upstream returns InputRequiredResult itself; it passes through, and
 * the retry carrying `inputResponses` is forwarded like any request.
 *
 * subscriptions/listen. Legacy upstream: the gateway holds the listen. It
 * answers `notifications/subscriptions/acknowledged` with the filters the
 * upstream can honour (list_changed per its capabilities, resource
 * subscriptions when it has `resources.subscribe`), forwards each
 * `notifications/*\/list_changed` of any lane session to every listen that
 * asked for it, and for resource URIs sends `resources/subscribe` on every
 * lane session (reference-counted over all listens, `resources/unsubscribe`
 * when the last one ends, re-sent on lane sessions opened later) and
 * forwards `notifications/resources/updated` to the listens naming the URI.
 * Every notification carries the listen's id as
 * `io.modelcontextprotocol/subscriptionId`. 2026 upstream: the listen is
 * forwarded as a request; notifications tagged with its upstream id are
 * re-tagged with the client's. Either way at most MAX_LISTENS (8, the
 * native router's default) are open per client connection (more: -32600),
 * at most 64 URIs each; cancel or close ends one with no response, and the
 * gateway's drain ends held ones with a complete result.
 */
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { ERRORS, RpcError } from '../protocol/errors.js';
import { INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, errorReply, type JsonRpcRequest, type RequestId } from '../protocol/jsonrpc.js';
import { META_SERVER_INFO, META_SUBSCRIPTION_ID, readRequestMeta } from '../protocol/meta.js';
import { ALL_PROTOCOL_VERSIONS, LATEST_PROTOCOL_VERSION, LATEST_MODERN_PROTOCOL_VERSION } from '../protocol/versions.js';
import { LOG_LEVELS } from '../router/log-levels.js';
import type { SessionPeer } from '../server/handler.js';
import { GATEWAY_ERRORS } from './errors.js';
import type { PooledSession, SessionOwner } from './pool-member.js';
import { firstLine } from './upstream.js';
import type { UpstreamPool } from './pool.js';

/** A lane session with this many requests in flight is busy: the next request asks for another. */
export const LANE_BUSY = 32;
/** subscriptions/listen open per client connection (the native router's default maxListensPerSession). */
export const MAX_LISTENS = 8;
/** Resource URIs one listen may name (as the native router). */
export const MAX_LISTEN_URIS = 64;

/** How long a lane session's `server/discover` probe waits before the upstream is taken as legacy. */
const PROBE_TIMEOUT_MS = 5000;

const META_PREFIX = 'io.modelcontextprotocol/';
const LISTEN_FLAGS = ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged'] as const;
type ListenFlag = (typeof LISTEN_FLAGS)[number];
const FLAG_OF: Readonly<Record<string, ListenFlag>> = {
  'notifications/tools/list_changed': 'toolsListChanged',
  'notifications/prompts/list_changed': 'promptsListChanged',
  'notifications/resources/list_changed': 'resourcesListChanged',
};
const CAP_OF: Readonly<Record<ListenFlag, string>> = {
  toolsListChanged: 'tools',
  promptsListChanged: 'prompts',
  resourcesListChanged: 'resources',
};
/** Methods of the legacy era only: a 2026-07-28 request naming one gets -32601, as from the native router. */
const LEGACY_ONLY: ReadonlySet<string> = new Set(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);

/** What the upstream said about itself, once per pool (and per lane session for serverInfo). */
interface Handshake {
  /** The upstream speaks 2026-07-28 itself: requests pass through. */
  readonly modern: boolean;
  readonly capabilities: Record<string, unknown>;
  readonly serverInfo: unknown;
  readonly instructions: unknown;
  /** A 2026 upstream's own discover result, served as is. */
  readonly discover: Record<string, unknown> | undefined;
}

/** Gateway-wide counters of the 2026-07-28 lane. */
export class ModernStats {
  /** 2026-07-28 requests forwarded upstream. */
  forwarded = 0;
  /** Upstream `notifications/message` dropped (no request to attribute it to). */
  logsDropped = 0;
  /** Upstream server→client requests refused on lane sessions. */
  upstreamAsksRefused = 0;
  /** Lane sessions opened. */
  laneSessionsOpened = 0;
}

/** One stateless request in flight upstream. */
class ModernCall {
  gid = 0;
  deadline = 0;
  /** The token sent upstream, when the client asked for progress. */
  upToken: number | undefined;
  constructor(
    readonly client: ModernClient,
    readonly clientId: RequestId,
    readonly method: string,
    readonly clientToken: string | number | undefined,
    readonly resolve: (text: string | undefined) => void,
  ) {}
}

/** A subscriptions/listen held by the gateway (legacy upstream). */
interface HeldListen {
  readonly client: ModernClient;
  readonly id: RequestId;
  readonly flags: ReadonlySet<ListenFlag>;
  readonly uris: ReadonlySet<string>;
  readonly end: (text: string | undefined) => void;
}

/** What a client connection needs back from its lane state. */
export interface ModernClientOwner {
  readonly peer: SessionPeer;
  /** A stateless request of this client was answered, cancelled or failed. */
  modernSettled(): void;
}

/** The 2026-07-28 requests and listens of one client connection. */
export class ModernClient {
  /** Requests in flight or waiting for a lane session, by client id. */
  readonly calls = new Map<RequestId, ModernCall>();
  /** Listens open on this connection, by client id (held here or forwarded). */
  readonly listens = new Map<RequestId, HeldListen | ModernCall>();
  ended = false;

  constructor(
    readonly owner: ModernClientOwner,
    private readonly lane: ModernLane,
  ) {}

  /** Requests and listens this client holds. */
  get size(): number {
    return this.calls.size;
  }

  /** `notifications/cancelled` from the client: true when it named one of its stateless requests. */
  cancel(params: Record<string, unknown> | undefined): boolean {
    const id = params?.requestId as RequestId | undefined;
    if (id === undefined) return false;
    const held = this.listens.get(id);
    if (held !== undefined && !(held instanceof ModernCall)) {
      this.lane.endListen(held, undefined);
      return true;
    }
    const call = this.calls.get(id);
    if (call === undefined) return false;
    const reason = typeof params?.reason === 'string' ? params.reason : 'cancelled by client';
    this.lane.abandon(call, reason);
    call.resolve(undefined);
    return true;
  }

  /** The connection closed: every request is cancelled upstream, every listen ends. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    for (const call of [...this.calls.values()]) {
      this.lane.abandon(call, 'client went away');
      call.resolve(undefined);
    }
    for (const l of [...this.listens.values()]) if (!(l instanceof ModernCall)) this.lane.endListen(l, undefined);
  }

  /** @internal */
  settle(call: ModernCall, text: string | undefined): void {
    if (this.calls.get(call.clientId) !== call) return;
    this.calls.delete(call.clientId);
    if (this.listens.get(call.clientId) === call) this.listens.delete(call.clientId);
    call.resolve(text);
    this.owner.modernSettled();
  }
}

/** One upstream session the lane opened for itself, shared by every stateless request routed to it. */
class LaneSession implements SessionOwner {
  /** Requests in flight, by upstream id. */
  readonly calls = new Map<number, ModernCall>();
  /** Requests in flight that asked for progress, by upstream token. */
  readonly progress = new Map<number, ModernCall>();
  ready = false;
  dead = false;
  handshake: Handshake | undefined;
  /** Pool clock time this session last had a request in flight. */
  lastUsed = 0;

  constructor(
    readonly lane: ModernLane,
    readonly s: PooledSession,
  ) {}

  upstreamMessage(msg: JSONRPCMessage): void {
    const m = msg as { id?: RequestId; method?: string; params?: Record<string, unknown>; result?: unknown; error?: unknown };
    const method = m.method;
    if (method !== undefined) {
      if (m.id !== undefined) {
        this.lane.refuseAsk(this, m.id, method);
        return;
      }
      this.lane.notification(this, method, m.params);
      return;
    }
    const call = this.calls.get(m.id as number);
    if (call === undefined) return; // A timed-out or cancelled request's late answer.
    this.forget(call);
    let text: string;
    if (m.error !== undefined) {
      text = JSON.stringify({ jsonrpc: '2.0', id: call.clientId, error: m.error });
    } else if (this.handshake?.modern === true) {
      text = JSON.stringify({ jsonrpc: '2.0', id: call.clientId, result: m.result });
    } else {
      text = JSON.stringify({ jsonrpc: '2.0', id: call.clientId, result: completeResult(call.method, m.result, this.handshake?.serverInfo) });
    }
    call.client.settle(call, text);
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
    this.lane.laneLost(this, reason);
  }

  /** Removes a call from this session's books (not from its client's). */
  forget(call: ModernCall): void {
    this.calls.delete(call.gid);
    if (call.upToken !== undefined) this.progress.delete(call.upToken);
  }
}

/** What the lane needs of its gateway (the gateway itself, as it is the sessions' host too). */
export interface ModernLaneHost {
  readonly pool: UpstreamPool;
  readonly requestTimeoutMs: number;
  /** The gateway's counters the lane adds to. */
  readonly stats: { requestTimeouts: number };
  readonly modernStats: ModernStats;
}

/** The gateway's 2026-07-28 lane: lane sessions, the cached handshake, held listens. */
export class ModernLane {
  private readonly sessions: LaneSession[] = [];
  /** A lane session being leased and opened, if any. */
  private opening: Promise<LaneSession> | undefined;
  /** The first handshake's result, for server/discover. */
  private handshake: Handshake | undefined;
  private readonly held = new Set<HeldListen>();
  /** Resource URIs some held listen names, with how many. */
  private readonly uriRefs = new Map<string, number>();
  private nextToken = 1;
  private closed = false;

  constructor(private readonly host: ModernLaneHost) {}

  /** Lane sessions ready now (tests, snapshot). */
  get size(): number {
    return this.sessions.length;
  }

  /** A client's state for its stateless requests. */
  client(owner: ModernClientOwner): ModernClient {
    return new ModernClient(owner, this);
  }

  /**
   * A 2026-07-28 request of `client` (`meta`: its `_meta`, which carries the
   * protocol keys). The reply is the serialised response, or undefined when
   * the request was cancelled.
   */
  request(client: ModernClient, msg: JsonRpcRequest, meta: Record<string, unknown>): string | undefined | Promise<string | undefined> {
    try {
      const m = readRequestMeta(meta);
      if (m.logLevel !== undefined && !LOG_LEVELS.includes(m.logLevel as (typeof LOG_LEVELS)[number])) {
        throw new RpcError(INVALID_PARAMS, `Invalid params: _meta["${META_PREFIX}logLevel"] should be one of ${LOG_LEVELS.join(', ')}`);
      }
    } catch (err) {
      if (err instanceof RpcError) return errorReply(msg.id, err.rpcCode, err.message, err.data);
      throw err;
    }
    const method = msg.method;
    if (LEGACY_ONLY.has(method)) return errorReply(msg.id, METHOD_NOT_FOUND, `Method not found: ${method}`);
    if (client.calls.has(msg.id) || client.listens.has(msg.id)) {
      return errorReply(msg.id, INVALID_REQUEST, 'Invalid request: a request with this id is already in flight');
    }
    if (method === 'subscriptions/listen') {
      const bad = checkListen(msg.params);
      if (bad !== undefined) return errorReply(msg.id, INVALID_PARAMS, bad);
      if (client.listens.size >= MAX_LISTENS) {
        const e = ERRORS.TOO_MANY_LISTENS;
        return errorReply(msg.id, e.rpc, e.message, { limit: MAX_LISTENS });
      }
    }
    let resolve!: (text: string | undefined) => void;
    const reply = new Promise<string | undefined>((r) => (resolve = r));
    const token = (msg.params?._meta as { progressToken?: unknown }).progressToken;
    const call = new ModernCall(client, msg.id, method, typeof token === 'string' || typeof token === 'number' ? token : undefined, resolve);
    client.calls.set(msg.id, call);
    if (method === 'subscriptions/listen') client.listens.set(msg.id, call);
    const fast = this.pick();
    if (fast !== undefined) this.dispatch(call, msg, fast);
    else {
      this.session().then(
        (lane) => this.dispatch(call, msg, lane),
        (err: unknown) => {
          const e = GATEWAY_ERRORS.UPSTREAM_UNAVAILABLE;
          client.settle(call, errorReply(msg.id, e.rpc, `${e.message}: ${firstLine(err)}`));
        },
      );
    }
    return reply;
  }

  /** Serves one call on a ready lane session (or here, for discover and held listens). */
  private dispatch(call: ModernCall, msg: JsonRpcRequest, lane: LaneSession): void {
    const client = call.client;
    if (client.calls.get(call.clientId) !== call) return; // Cancelled while waiting for the lane.
    const hs = this.handshake ?? lane.handshake!;
    if (call.method === 'server/discover') {
      client.settle(call, JSON.stringify({ jsonrpc: '2.0', id: call.clientId, result: discoverResult(hs) }));
      return;
    }
    if (call.method === 'subscriptions/listen' && !lane.handshake!.modern) {
      client.calls.delete(call.clientId);
      this.holdListen(client, call, msg.params!.notifications as Record<string, unknown>, hs);
      client.owner.modernSettled();
      return;
    }
    const s = lane.s;
    const gid = s.nextId++;
    call.gid = gid;
    call.deadline = this.host.pool.now + this.host.requestTimeoutMs;
    const params = msg.params === undefined ? undefined : { ...msg.params };
    if (params !== undefined) {
      const meta = params._meta as Record<string, unknown>;
      let out: Record<string, unknown> | undefined;
      if (lane.handshake!.modern) out = { ...meta };
      else {
        for (const k of Object.keys(meta)) {
          if (k.startsWith(META_PREFIX)) continue;
          (out ??= {})[k] = meta[k];
        }
      }
      if (call.clientToken !== undefined) {
        call.upToken = this.nextToken++;
        (out ??= {}).progressToken = call.upToken;
        lane.progress.set(call.upToken, call);
      }
      if (out === undefined) delete params._meta;
      else params._meta = out;
    }
    lane.calls.set(gid, call);
    lane.lastUsed = this.host.pool.now;
    s.member.metrics.requests++;
    this.host.modernStats.forwarded++;
    s.send((params === undefined ? { jsonrpc: '2.0', id: gid, method: call.method } : { jsonrpc: '2.0', id: gid, method: call.method, params }) as JSONRPCMessage);
  }

  /** The ready lane session with the fewest in flight, unless all are busy and another may be had. */
  private pick(): LaneSession | undefined {
    let best: LaneSession | undefined;
    for (const l of this.sessions) if (best === undefined || l.calls.size < best.calls.size) best = l;
    if (best !== undefined && best.calls.size >= LANE_BUSY && this.opening === undefined && this.sessions.length < this.host.pool.members.length) {
      // Grow in the background; this request still goes to the least busy one.
      void this.session().catch(() => undefined);
    }
    return best;
  }

  /** A ready lane session: one being opened, or a new one. */
  private session(): Promise<LaneSession> {
    if (this.closed) return Promise.reject(new Error('the gateway is shutting down'));
    return (this.opening ??= this.open().finally(() => (this.opening = undefined)));
  }

  private async open(): Promise<LaneSession> {
    const s = await this.host.pool.acquire();
    const lane = new LaneSession(this, s);
    s.owner = lane;
    const timeoutMs = this.host.requestTimeoutMs;
    try {
      lane.handshake = await handshake(s, timeoutMs);
    } catch (err) {
      if (!lane.dead) this.host.pool.release(s);
      throw err;
    }
    if (lane.dead || this.closed) {
      this.host.pool.release(s);
      throw new Error('the upstream session closed during its handshake');
    }
    this.handshake ??= lane.handshake;
    lane.ready = true;
    lane.lastUsed = this.host.pool.now;
    this.sessions.push(lane);
    this.host.modernStats.laneSessionsOpened++;
    if (!lane.handshake.modern && resourcesSubscribe(lane.handshake)) {
      for (const uri of this.uriRefs.keys()) s.send({ jsonrpc: '2.0', id: s.nextId++, method: 'resources/subscribe', params: { uri } } as JSONRPCMessage);
    }
    return lane;
  }

  /** @internal A lane session ended: its requests fail with -32017; it is replaced on demand. */
  laneLost(lane: LaneSession, reason: string): void {
    lane.dead = true;
    const i = this.sessions.indexOf(lane);
    if (i !== -1) this.sessions.splice(i, 1);
    const e = GATEWAY_ERRORS.UPSTREAM_LOST;
    for (const call of [...lane.calls.values()]) {
      lane.forget(call);
      call.client.settle(call, errorReply(call.clientId, e.rpc, `${e.message}: ${reason}`));
    }
  }

  /** @internal Cancels `call` upstream (it stays answered by the caller). */
  abandon(call: ModernCall, reason: string): void {
    const client = call.client;
    if (client.calls.get(call.clientId) === call) client.calls.delete(call.clientId);
    if (client.listens.get(call.clientId) === call) client.listens.delete(call.clientId);
    for (const lane of this.sessions) {
      if (lane.calls.get(call.gid) !== call) continue;
      lane.forget(call);
      lane.s.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: call.gid, reason } } as JSONRPCMessage);
      break;
    }
    client.owner.modernSettled();
  }

  /** @internal An upstream server→client request on a lane session: refused (see the header). */
  refuseAsk(lane: LaneSession, id: RequestId, method: string): void {
    this.host.modernStats.upstreamAsksRefused++;
    lane.s.send({
      jsonrpc: '2.0',
      id,
      error: { code: METHOD_NOT_FOUND, message: `Method not found: ${method} (the gateway serves this session for stateless 2026-07-28 clients, which cannot be asked)` },
    } as JSONRPCMessage);
  }

  /** @internal A notification of a lane session. */
  notification(lane: LaneSession, method: string, params: Record<string, unknown> | undefined): void {
    if (method === 'notifications/progress') {
      const call = lane.progress.get(params?.progressToken as number);
      if (call === undefined) return;
      call.deadline = this.host.pool.now + this.host.requestTimeoutMs;
      call.client.owner.peer.sendText(JSON.stringify({ jsonrpc: '2.0', method, params: { ...params, progressToken: call.clientToken } }));
      return;
    }
    if (method === 'notifications/message') {
      this.host.modernStats.logsDropped++;
      return;
    }
    const tag = (params?._meta as Record<string, unknown> | undefined)?.[META_SUBSCRIPTION_ID];
    if (tag !== undefined) {
      // A 2026 upstream's listen: re-tag with the client's id.
      const call = lane.calls.get(tag as number);
      if (call === undefined) return;
      const p = { ...params, _meta: { ...(params!._meta as Record<string, unknown>), [META_SUBSCRIPTION_ID]: call.clientId } };
      call.client.owner.peer.sendText(JSON.stringify({ jsonrpc: '2.0', method, params: p }));
      return;
    }
    if (lane.handshake?.modern === true) return; // Untagged: nobody's.
    const flag = FLAG_OF[method];
    if (flag !== undefined) {
      for (const l of this.held) if (l.flags.has(flag)) sendTagged(l, method, undefined);
      return;
    }
    if (method === 'notifications/resources/updated') {
      const uri = params?.uri;
      if (typeof uri !== 'string' || !this.uriRefs.has(uri)) return;
      for (const l of this.held) if (l.uris.has(uri)) sendTagged(l, method, params);
    }
  }

  private holdListen(client: ModernClient, call: ModernCall, f: Record<string, unknown>, hs: Handshake): void {
    const flags = new Set<ListenFlag>();
    for (const flag of LISTEN_FLAGS) {
      if (f[flag] === true && (hs.capabilities[CAP_OF[flag]] as { listChanged?: unknown } | undefined)?.listChanged === true) flags.add(flag);
    }
    const uris = new Set<string>(resourcesSubscribe(hs) ? ((f.resourceSubscriptions as string[] | undefined) ?? []) : []);
    const l: HeldListen = {
      client,
      id: call.clientId,
      flags,
      uris,
      end: (text) => {
        call.resolve(text);
        client.owner.modernSettled();
      },
    };
    client.listens.set(call.clientId, l);
    this.held.add(l);
    for (const uri of uris) {
      const n = this.uriRefs.get(uri) ?? 0;
      this.uriRefs.set(uri, n + 1);
      if (n === 0) this.broadcast('resources/subscribe', uri);
    }
    const ack: Record<string, unknown> = {};
    for (const flag of flags) ack[flag] = true;
    if (uris.size > 0) ack.resourceSubscriptions = [...uris];
    sendTagged(l, 'notifications/subscriptions/acknowledged', { notifications: ack });
  }

  /** @internal Ends a held listen with `reply` (undefined: no response, as on cancel or close). */
  endListen(l: HeldListen, reply: string | undefined): void {
    if (!this.held.delete(l)) return;
    if (l.client.listens.get(l.id) === l) l.client.listens.delete(l.id);
    for (const uri of l.uris) {
      const n = this.uriRefs.get(uri)! - 1;
      if (n > 0) this.uriRefs.set(uri, n);
      else {
        this.uriRefs.delete(uri);
        this.broadcast('resources/unsubscribe', uri);
      }
    }
    l.end(reply);
  }

  /** Sends resources/(un)subscribe on every legacy lane session (answers are ignored as late answers). */
  private broadcast(method: string, uri: string): void {
    for (const lane of this.sessions) {
      if (lane.handshake?.modern === true) continue;
      const s = lane.s;
      s.send({ jsonrpc: '2.0', id: s.nextId++, method, params: { uri } } as JSONRPCMessage);
    }
  }

  /**
   * Times out requests past their deadline (the gateway's tick), and gives
   * back lane sessions that had nothing in flight for the pool's
   * idleTimeoutMs (keeping one while a held listen needs its notifications),
   * so idle 2026-07-28 traffic does not hold pool slots legacy clients need.
   */
  sweep(now: number): void {
    const ms = this.host.requestTimeoutMs;
    const e = GATEWAY_ERRORS.UPSTREAM_TIMEOUT;
    const idleMs = this.host.pool.config.idleTimeoutMs;
    for (const lane of [...this.sessions]) {
      if (lane.calls.size === 0) {
        if (idleMs > 0 && now - lane.lastUsed >= idleMs && (this.held.size === 0 || this.sessions.length > 1)) {
          this.sessions.splice(this.sessions.indexOf(lane), 1);
          lane.dead = true;
          this.host.pool.release(lane.s);
        }
        continue;
      }
      for (const call of [...lane.calls.values()]) {
        if (call.deadline > now || call.method === 'subscriptions/listen') continue;
        lane.forget(call);
        lane.s.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: call.gid, reason: 'timeout' } } as JSONRPCMessage);
        lane.s.member.metrics.errors.timeout++;
        this.host.stats.requestTimeouts++;
        call.client.settle(call, errorReply(call.clientId, e.rpc, `Upstream did not answer ${call.method} within ${ms} ms`, { timeoutMs: ms }));
      }
    }
  }

  /** The server drains: held listens end with a complete result. */
  drain(): void {
    for (const l of [...this.held]) {
      const result = { resultType: 'complete', _meta: { [META_SERVER_INFO]: this.handshake?.serverInfo, [META_SUBSCRIPTION_ID]: l.id } };
      this.endListen(l, JSON.stringify({ jsonrpc: '2.0', id: l.id, result }));
    }
  }

  /** The gateway closes; the pool ends the lane sessions. */
  close(): void {
    this.closed = true;
  }
}

function sendTagged(l: HeldListen, method: string, params: Record<string, unknown> | undefined): void {
  const meta = { ...((params?._meta as Record<string, unknown> | undefined) ?? {}), [META_SUBSCRIPTION_ID]: l.id };
  l.client.owner.peer.sendText(JSON.stringify({ jsonrpc: '2.0', method, params: { ...params, _meta: meta } }));
}

function resourcesSubscribe(hs: Handshake): boolean {
  return (hs.capabilities.resources as { subscribe?: unknown } | undefined)?.subscribe === true;
}

/** Why a listen's params are malformed, or undefined. */
function checkListen(params: Record<string, unknown> | undefined): string | undefined {
  const f = params?.notifications;
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return 'Invalid params: subscriptions/listen needs notifications (object)';
  const n = f as Record<string, unknown>;
  for (const flag of LISTEN_FLAGS) {
    if (n[flag] !== undefined && typeof n[flag] !== 'boolean') return `Invalid params: notifications.${flag} should be a boolean`;
  }
  const subs = n.resourceSubscriptions;
  if (subs !== undefined && (!Array.isArray(subs) || subs.length > MAX_LISTEN_URIS || subs.some((u) => typeof u !== 'string'))) {
    return `Invalid params: notifications.resourceSubscriptions should be an array of at most ${MAX_LISTEN_URIS} strings`;
  }
  return undefined;
}

/** Results that carry cache hints in 2026-07-28 (SEP-2549). */
const CACHED: ReadonlySet<string> = new Set(['tools/list', 'resources/list', 'resources/templates/list', 'prompts/list', 'resources/read']);

/**
 * A legacy result as a 2026-07-28 one: resultType "complete", serverInfo
 * merged into `_meta`, and on lists and reads the cache hint the native
 * router gives by default (`ttlMs: 0`, `cacheScope: "private"`): a legacy
 * upstream says nothing about how long its lists stay true or for whom.
 */
function completeResult(method: string, result: unknown, serverInfo: unknown): Record<string, unknown> {
  const r = typeof result === 'object' && result !== null && !Array.isArray(result) ? (result as Record<string, unknown>) : {};
  const meta = typeof r._meta === 'object' && r._meta !== null ? (r._meta as Record<string, unknown>) : {};
  const out: Record<string, unknown> = { resultType: 'complete', ...r, _meta: { ...meta, [META_SERVER_INFO]: serverInfo } };
  if (CACHED.has(method) && out.ttlMs === undefined) {
    out.ttlMs = 0;
    out.cacheScope = 'private';
  }
  return out;
}

/** server/discover from the cached handshake. */
function discoverResult(hs: Handshake): Record<string, unknown> {
  if (hs.discover !== undefined) return hs.discover;
  const caps = { ...hs.capabilities };
  // Upstream log messages are not relayed to stateless clients (see the header).
  delete caps.logging;
  const result: Record<string, unknown> = { resultType: 'complete', supportedVersions: ALL_PROTOCOL_VERSIONS, capabilities: caps };
  if (typeof hs.instructions === 'string') result.instructions = hs.instructions;
  result.ttlMs = 0;
  result.cacheScope = 'private';
  result._meta = { [META_SERVER_INFO]: hs.serverInfo };
  return result;
}

/** Opens a lane session: discover (2026 upstream?) then, for a legacy one, initialize. */
async function handshake(s: PooledSession, timeoutMs: number): Promise<Handshake> {
  if (s.member.spec.kind !== 'http') {
    const meta = {
      [`${META_PREFIX}protocolVersion`]: LATEST_MODERN_PROTOCOL_VERSION,
      [`${META_PREFIX}clientCapabilities`]: {},
      [`${META_PREFIX}clientInfo`]: { name: 'mcp-ws-gateway', version: '1' },
    };
    // A legacy server answers -32601; one that ignores the unknown method costs PROBE_TIMEOUT_MS once per lane session.
    const d = await s.request('server/discover', { _meta: meta }, Math.min(timeoutMs, PROBE_TIMEOUT_MS)).then(
      (r) => r as Record<string, unknown> | undefined,
      () => undefined,
    );
    if (d !== undefined && Array.isArray(d.supportedVersions) && d.supportedVersions.includes(LATEST_MODERN_PROTOCOL_VERSION)) {
      const caps = typeof d.capabilities === 'object' && d.capabilities !== null ? (d.capabilities as Record<string, unknown>) : {};
      const serverInfo = (d._meta as Record<string, unknown> | undefined)?.[META_SERVER_INFO];
      return { modern: true, capabilities: caps, serverInfo, instructions: d.instructions, discover: d };
    }
    if (s.state === 'closed') throw new Error('the upstream session closed during its handshake');
  }
  const r = (await s.request(
    'initialize',
    { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'mcp-ws-gateway', version: '1' } },
    timeoutMs,
  )) as Record<string, unknown>;
  const v = r.protocolVersion;
  if (typeof v === 'string') s.conn.setProtocolVersion(v);
  s.initialized = true;
  s.send({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
  const caps = typeof r.capabilities === 'object' && r.capabilities !== null ? (r.capabilities as Record<string, unknown>) : {};
  return { modern: false, capabilities: caps, serverInfo: r.serverInfo, instructions: r.instructions, discover: undefined };
}
