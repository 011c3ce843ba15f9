/**
 * SdkHost: serves an MCP SDK server over mcp-ws, one server instance per
 * WebSocket session. Both SDK generations fit, recognised by shape:
 *
 * - v1 (`@modelcontextprotocol/sdk` 1.x) `McpServer` or `Server`: connected
 *   to the session directly; the 2025-era `initialize` session.
 * - v2 (`@modelcontextprotocol/server` 2.x) `McpServer` or `Server`: served
 *   through the SDK's own `serveStdio` entry with the session as its
 *   transport, so a WebSocket carries both eras with stdio semantics, as the
 *   2026-07-28 specification asks of custom transports: a first request with
 *   a `_meta` version claim (`server/discover`, or any request) pins the
 *   session to 2026-07-28 (stateless requests, `subscriptions/listen`), an
 *   `initialize` pins it to the 2025 era.
 *
 * Neither SDK is imported at load: v1 appears here as types only, and v2's
 * entry is imported the first time a factory returns a v2 server.
 *
 * Each session is an SDK `Transport` (start/send/close, onmessage/onclose/
 * onerror, sessionId) handed to `server.connect()`. Messages reach the SDK
 * after mcp-ws's own envelope check, so the SDK never sees a malformed
 * envelope; replies come back through `send()`, where the reply to each
 * request resolves the promise the session is waiting on — that is how
 * requests served by the SDK are timed, counted in flight for graceful
 * shutdown, and gathered into batch replies like the native router's.
 *
 *   const host = new SdkHost(() => {
 *     const server = new McpServer({ name: 'x', version: '1.0.0' });
 *     server.registerTool(...);
 *     return server;
 *   });
 *   new McpWsServer({ handler: host }).listen();
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import { CloseCode } from '../protocol/close-codes.js';
import {
  INVALID_REQUEST,
  errorReply,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type RequestId,
} from '../protocol/jsonrpc.js';
import type { Identity, Reply, SessionHandler, SessionPeer } from '../server/handler.js';
import { countRpcError, errorCountersOf, type ErrorKind } from '../metrics/metrics.js';

/**
 * The part of an SDK server mcp-ws uses: `McpServer` and `Server` of either
 * generation fit.
 */
export interface SdkServerLike {
  connect(transport: Transport): Promise<void>;
  close(): Promise<void>;
}

/** Which SDK generation a server comes from. */
export type SdkGeneration = 1 | 2;

/**
 * Tells the SDK generation of a server by shape: a v2 `Server` (and the
 * `server` a v2 `McpServer` wraps) has `getNegotiatedProtocolVersion`, which
 * v1 never had. Anything else with `connect`/`close` is treated as v1.
 */
export function sdkGenerationOf(server: SdkServerLike): SdkGeneration {
  const s = server as { server?: unknown; getNegotiatedProtocolVersion?: unknown };
  if (typeof s.getNegotiatedProtocolVersion === 'function') return 2;
  const inner = s.server as { getNegotiatedProtocolVersion?: unknown } | null | undefined;
  return typeof inner === 'object' && inner !== null && typeof inner.getNegotiatedProtocolVersion === 'function' ? 2 : 1;
}

/** The v2 SDK's stdio entry, as far as SdkHost uses it (imported lazily). */
interface ServeStdio {
  (
    factory: (ctx: { era?: string }) => SdkServerLike | Promise<SdkServerLike>,
    options: { transport: unknown; onerror?: (error: Error) => void },
  ): { close(): Promise<void> };
}

let serveStdioLoad: Promise<ServeStdio | undefined> | undefined;

/** Imports `serveStdio` from the v2 server package once; undefined when that version lacks it. */
function loadServeStdio(): Promise<ServeStdio | undefined> {
  serveStdioLoad ??= import('@modelcontextprotocol/server/stdio').then(
    (m) => (m as unknown as { serveStdio?: ServeStdio }).serveStdio,
  );
  return serveStdioLoad;
}

/** What the factory learns about the new session. */
export interface SdkSessionInfo {
  readonly sessionId: string;
  readonly remoteAddress: string;
  readonly identity: Identity | undefined;
}

/** Makes one SDK server per session. */
export type SdkServerFactory = (info: SdkSessionInfo) => SdkServerLike | Promise<SdkServerLike>;

/** Options of {@link SdkHost}. */
export interface SdkHostOptions {
  /** Called when the factory or connect fails; the session is closed with 1011. */
  onError?: (err: unknown, sessionId: string) => void;
  /**
   * How long the factory and `connect()` may take; past it the session closes
   * with 1011. Reading is held meanwhile, so this bounds how long a session
   * can sit unread. The same bound applies to a v2 server's answer to an
   * `initialize` (after a `server/discover` probe the factory makes the
   * instance that answers it, and reading is held again). Default 10,000 ms.
   */
  startTimeoutMs?: number;
}

/** Default of {@link SdkHostOptions.startTimeoutMs}. */
export const DEFAULT_SDK_START_TIMEOUT_MS = 10_000;

const RESOLVED = Promise.resolve();

/** Hosts SDK servers per session. Pass it as McpWsServer's handler. */
export class SdkHost {
  constructor(
    readonly factory: SdkServerFactory,
    readonly options: SdkHostOptions = {},
  ) {
    if (typeof factory !== 'function') throw new TypeError('factory should be a function returning an SDK McpServer or Server');
    const t = options.startTimeoutMs;
    if (t !== undefined && (!Number.isInteger(t) || t < 1 || t > 2147483647)) {
      throw new RangeError(`startTimeoutMs should be an integer from 1 to 2147483647, got ${String(t)}`);
    }
  }

  createHandler(peer: SessionPeer): SessionHandler {
    return new SdkSessionTransport(peer, this);
  }
}

/** One session seen from the SDK: its Transport. */
export class SdkSessionTransport implements Transport, SessionHandler {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  readonly sessionId: string;
  protocolVersion: string | undefined;
  private readonly pending = new Map<RequestId, (text: string | undefined) => void>();
  private initializeId: RequestId | undefined;
  private backlog: JSONRPCMessage[] | undefined = [];
  /** Reading is held until the v2 entry answers an initialize (see request()). */
  private initializeHeld = false;
  private startTimer: ReturnType<typeof setTimeout> | undefined;
  private server: SdkServerLike | undefined;
  /** The v2 stdio entry serving this session, when the server is a v2 one. */
  private entry: { close(): Promise<void> } | undefined;
  private readonly info: SdkSessionInfo;
  private ended = false;
  private readonly extra: MessageExtraInfo | undefined;
  /** The server's error counters: the SDK's -32601 and -32602 replies are counted in them. */
  private readonly errors: Record<ErrorKind, number>;

  constructor(
    private readonly peer: SessionPeer,
    private readonly host: SdkHost,
  ) {
    this.sessionId = peer.id;
    this.errors = errorCountersOf(peer);
    const id = peer.identity;
    this.extra = id
      ? { authInfo: { token: '', clientId: id.subject, scopes: [...id.scopes], extra: { claims: id.claims } } }
      : undefined;
    // Until the SDK server is connected, messages wait in the backlog: stop
    // reading the socket meanwhile, so the backlog holds at most what one
    // read carried (an async factory could take any time).
    peer.holdReading?.(true);
    this.armStartTimer('did not start');
    this.info = { sessionId: peer.id, remoteAddress: peer.remoteAddress, identity: peer.identity };
    let made: SdkServerLike | Promise<SdkServerLike>;
    try {
      made = host.factory(this.info);
    } catch (err) {
      this.fail(err);
      return;
    }
    void Promise.resolve(made)
      .then((server) => {
        this.server = server;
        if (this.ended) return server.close();
        return sdkGenerationOf(server) === 2 ? this.serveV2(server) : server.connect(this);
      })
      .catch((err: unknown) => this.fail(err));
  }

  /**
   * A v2 server: the SDK's `serveStdio` entry owns the era decision for the
   * session, with this transport as its wire. It asks for a second instance
   * only when a client probes with `server/discover` and then falls back to
   * `initialize`; the factory makes it.
   */
  private async serveV2(server: SdkServerLike): Promise<void> {
    const serveStdio = await loadServeStdio();
    if (this.ended) return server.close();
    // A 2.x release without the stdio entry: the 2025-era session only.
    if (serveStdio === undefined) return server.connect(this);
    let first: SdkServerLike | undefined = server;
    const info = this.info;
    this.entry = serveStdio(
      async () => {
        const made = first ?? (await this.host.factory(info));
        first = undefined;
        return this.withAuthInfo(made);
      },
      { transport: this },
    );
  }

  /**
   * serveStdio hands its instances a channel of its own, which forwards
   * messages without the transport's extra info: put the session's
   * `authInfo` back on every message the instance receives.
   */
  private withAuthInfo(server: SdkServerLike): SdkServerLike {
    const extra = this.extra;
    if (extra === undefined) return server;
    const connect = server.connect.bind(server);
    server.connect = async (channel: Transport): Promise<void> => {
      await connect(channel);
      const inner = channel.onmessage;
      if (inner === undefined) return;
      channel.onmessage = (message, more) => inner(message, more === undefined ? extra : { ...more, ...extra });
    };
    return server;
  }

  // --------------------------------------------------------- SDK Transport

  async start(): Promise<void> {
    // The socket is already open; deliver what arrived while the server was being made.
    this.clearStartTimer();
    const backlog = this.backlog;
    this.backlog = undefined;
    if (backlog) for (const m of backlog) this.onmessage?.(m, this.extra);
    this.peer.holdReading?.(false);
  }

  send(message: JSONRPCMessage): Promise<void> {
    const m = message as { id?: RequestId; result?: unknown; error?: { code?: unknown } };
    if (m.error !== undefined && typeof m.error.code === 'number') countRpcError(this.errors, m.error.code);
    if (m.id !== undefined && ('result' in m || 'error' in m)) {
      const resolve = this.pending.get(m.id);
      if (resolve) {
        this.pending.delete(m.id);
        if (m.id === this.initializeId) {
          if (this.protocolVersion === undefined) {
            const v = (m.result as { protocolVersion?: unknown } | undefined)?.protocolVersion;
            if (typeof v === 'string') this.protocolVersion = v;
          }
          if (this.initializeHeld) {
            this.initializeHeld = false;
            this.clearStartTimer();
            this.peer.holdReading?.(false);
          }
        }
        resolve(JSON.stringify(message));
        return RESOLVED;
      }
    }
    this.peer.sendText(JSON.stringify(message));
    return RESOLVED;
  }

  async close(): Promise<void> {
    this.peer.close(CloseCode.NORMAL, 'server closed the session');
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  // ------------------------------------------------------ SessionHandler

  /**
   * A v1 SDK server (connected directly) accepts a replayed initialize,
   * logging/setLevel and resources/subscribe, so cross-node resume may
   * rebuild its session (the server instance's own fields start afresh). A
   * v2 server behind the stdio entry is not rebuilt: the entry owns the
   * session's era and its instances.
   */
  get rebuildable(): boolean {
    return this.entry === undefined;
  }

  request(msg: JsonRpcRequest): Reply {
    if (this.pending.has(msg.id)) {
      return errorReply(msg.id, INVALID_REQUEST, 'Invalid request: a request with this id is still in flight');
    }
    // The SDK drops a request its schema refuses without a reply: answer it here, or it would stay in flight.
    if (!fitsSdkRequestSchema(msg)) return errorReply(msg.id, INVALID_REQUEST, 'Invalid request: params do not fit the MCP request schema');
    if (msg.method === 'initialize') {
      this.initializeId = msg.id;
      // The v2 entry answers an initialize after a server/discover probe by
      // discarding the probe instance (waiting up to seconds for its
      // requests) and making another with the factory; everything read
      // meanwhile waits in the entry's own queue, which has no bound. Stop
      // reading until the initialize is answered: what the client sends
      // after it waits on the socket (TCP backpressure), as before start().
      // A held socket does not see its client hang up, so the wait is bounded
      // by startTimeoutMs, as the first start is (past it: 1011).
      if (this.entry !== undefined && !this.initializeHeld) {
        this.initializeHeld = true;
        this.peer.holdReading?.(true);
        this.armStartTimer('did not answer initialize');
      }
    }
    return new Promise<string | undefined>((resolve) => {
      this.pending.set(msg.id, resolve);
      this.deliver(msg as JSONRPCMessage);
    });
  }

  notification(msg: JsonRpcNotification): void {
    // The SDK sends nothing for a request the client cancelled: settle it here
    // with no reply, so it does not stay in flight (and hold up shutdown).
    if (msg.method === 'notifications/cancelled') {
      const id = (msg.params as { requestId?: unknown } | undefined)?.requestId;
      if (typeof id === 'string' || typeof id === 'number') {
        const resolve = this.pending.get(id);
        if (resolve !== undefined && id !== this.initializeId) {
          this.pending.delete(id);
          resolve(undefined);
        }
      }
    }
    this.deliver(msg as JSONRPCMessage);
  }

  response(msg: JsonRpcResponse): void {
    this.deliver(msg as unknown as JSONRPCMessage);
  }

  closed(): void {
    if (this.ended) return;
    this.ended = true;
    this.clearStartTimer();
    // No reply can reach a closed socket: settle what is pending with nothing.
    for (const resolve of this.pending.values()) resolve(undefined);
    this.pending.clear();
    this.onclose?.();
    // A v2 entry closes its instances when its wire (this transport) closes.
    if (this.entry === undefined) void this.server?.close().catch(() => {});
  }

  private deliver(msg: JSONRPCMessage): void {
    if (this.backlog) this.backlog.push(msg);
    else this.onmessage?.(msg, this.extra);
  }

  /** Closes the session with 1011 (see fail) unless the server starts, or answers, within startTimeoutMs. */
  private armStartTimer(what: string): void {
    this.clearStartTimer();
    const ms = this.host.options.startTimeoutMs ?? DEFAULT_SDK_START_TIMEOUT_MS;
    this.startTimer = setTimeout(() => {
      this.startTimer = undefined;
      this.fail(new Error(`the MCP server for this session ${what} within ${String(ms)} ms`));
    }, ms);
    this.startTimer.unref?.();
  }

  private clearStartTimer(): void {
    if (this.startTimer !== undefined) {
      clearTimeout(this.startTimer);
      this.startTimer = undefined;
    }
  }

  private fail(err: unknown): void {
    this.clearStartTimer();
    this.host.options.onError?.(err, this.sessionId);
    for (const resolve of this.pending.values()) resolve(undefined);
    this.pending.clear();
    this.peer.close(CloseCode.INTERNAL_ERROR, 'failed to start the MCP server for this session');
  }
}

/** True for a string or an integer: the progress tokens both SDKs accept. */
function isTokenLike(v: unknown): boolean {
  return typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
}

/**
 * The SDKs' request schema (the same in both generations) beyond the
 * envelope check: no members but jsonrpc/id/method/params, `_meta` an object
 * whose `progressToken` is a string or an integer and whose related-task
 * entry has a string `taskId`. Both SDKs drop a request that fails it
 * without a reply, so it is answered here.
 */
export function fitsSdkRequestSchema(msg: JsonRpcRequest): boolean {
  for (const key in msg) {
    if (key !== 'jsonrpc' && key !== 'id' && key !== 'method' && key !== 'params') return false;
  }
  const params = msg.params as Record<string, unknown> | undefined;
  if (params === undefined) return true;
  const meta = params._meta;
  if (meta === undefined) return true;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return false;
  const m = meta as Record<string, unknown>;
  if (m.progressToken !== undefined && !isTokenLike(m.progressToken)) return false;
  const task = m['io.modelcontextprotocol/related-task'];
  if (task === undefined) return true;
  return typeof task === 'object' && task !== null && typeof (task as { taskId?: unknown }).taskId === 'string';
}
