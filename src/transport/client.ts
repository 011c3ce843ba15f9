/**
 * A small standalone JSON-RPC client for mcp-ws servers, used by the CLI and
 * the load tester. No SDK, no schema validation: one `JSON.parse` and one Map
 * lookup per reply.
 *
 * ```ts
 * const client = await McpWsClient.connect('ws://127.0.0.1:8080/mcp', { headers });
 * await client.initialize({ name: 'cli', version: '1.0.0' });
 * const { tools } = await client.request<{ tools: unknown[] }>('tools/list');
 * await client.close();
 * ```
 */
import type WebSocket from 'ws';
import { CloseCode } from '../protocol/close-codes.js';
import { McpWsError, RpcError } from '../protocol/errors.js';
import {
  INTERNAL_ERROR,
  METHOD_NOT_FOUND,
  errorReply,
  Kind,
  type JsonRpcErrorObject,
  type RequestId,
} from '../protocol/jsonrpc.js';
import { META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION } from '../protocol/meta.js';
import { LATEST_PROTOCOL_VERSION } from '../protocol/versions.js';
import {
  CONNECT_OPTION_KEYS,
  checkOptionKeys,
  openWebSocket,
  resolveConnectOptions,
  type ResolvedConnectOptions,
  type WebSocketConnectOptions,
} from './open.js';
import { describeValue } from '../config/describe-value.js';
import { Connection, type CloseInfo } from './connection.js';

/** Options of {@link McpWsClient.connect}. */
export interface McpWsClientOptions extends WebSocketConnectOptions {
  /** Default per-request timeout in ms, or `false` for none. Default 60000. */
  requestTimeoutMs?: number | false;
  /**
   * Speak a stateless revision (e.g. `'2026-07-28'`): no `initialize`; every
   * request carries this version, `clientInfo` and `clientCapabilities` in
   * `params._meta`, and `discover()` is available. Unset: the legacy era
   * (call `initialize()` first).
   */
  protocolVersion?: string;
  /** Stateless era: `_meta` client info of every request. Default {@link DEFAULT_CLIENT_INFO}. */
  clientInfo?: ClientInfo;
  /** Stateless era: `_meta` client capabilities of every request. Default `{}`. */
  clientCapabilities?: Params;
}

/** {@link McpWsClientOptions} after defaults and validation; frozen. */
export interface ResolvedMcpWsClientOptions extends ResolvedConnectOptions {
  readonly requestTimeoutMs: number | false;
  readonly protocolVersion: string | undefined;
  readonly clientInfo: ClientInfo;
  readonly clientCapabilities: Params;
}

/** Per-call options of {@link McpWsClient.request}. */
export interface RequestOptions {
  /** Overrides the client's `requestTimeoutMs` for this call (`false` for none). */
  timeoutMs?: number | false;
  /** Aborting rejects the call and tells the server with `notifications/cancelled`. */
  signal?: AbortSignal;
}

/** `clientInfo` of an MCP initialize request. */
export interface ClientInfo {
  name: string;
  version: string;
  [key: string]: unknown;
}

/** The result of an MCP initialize request, as far as this client reads it. */
export interface InitializeResult {
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  serverInfo: { name: string; version: string; [key: string]: unknown };
  instructions?: string;
  [key: string]: unknown;
}

/** Params of a JSON-RPC request or notification (MCP uses by-name params only). */
export type Params = Record<string, unknown>;

/** Handles a server notification; `method` is useful with the `'*'` wildcard. */
export type NotificationHandler = (params: Params | undefined, method: string) => void;

/**
 * Answers a server-to-client request. The returned value (or resolved
 * promise) is the result; throw an {@link RpcError} to answer with that
 * code, anything else answers -32603 "Internal error".
 */
export type RequestHandler = (params: Params | undefined, request: { id: RequestId; method: string }) => unknown;

/** A WebSocket close as the client saw it: code 4002 when the heartbeat ended the connection. */
export type ClientCloseInfo = CloseInfo;

/** `clientInfo` sent by {@link McpWsClient.initialize} when none is given. */
export const DEFAULT_CLIENT_INFO: ClientInfo = Object.freeze({ name: 'mcp-ws-client', version: '0.1.0' });

/**
 * Rejection of calls pending when the connection closed, and of calls made
 * after it closed. `code` is `'CONNECTION_CLOSED'`; `closeCode` is the
 * WebSocket close code.
 */
export class ConnectionClosedError extends McpWsError {
  /** The WebSocket close code (1006 for a dropped connection, 4002 for a heartbeat timeout). */
  readonly closeCode: number;
  /** The close reason, often empty. */
  readonly closeReason: string;

  constructor(closeCode: number, closeReason: string, message: string) {
    super('CONNECTION_CLOSED', message, { closeCode, closeReason });
    this.name = 'ConnectionClosedError';
    this.closeCode = closeCode;
    this.closeReason = closeReason;
  }
}

/** Validates client options and applies defaults; throws a `TypeError` naming the option. */
export function resolveMcpWsClientOptions(options: McpWsClientOptions = {}): ResolvedMcpWsClientOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`options should be an object, got ${describeValue(options)}`);
  }
  checkOptionKeys(options, CLIENT_OPTION_KEYS);
  const base = resolveConnectOptions(options);
  const requestTimeoutMs = checkTimeout('requestTimeoutMs', options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const { protocolVersion, clientInfo = DEFAULT_CLIENT_INFO, clientCapabilities = {} } = options;
  if (protocolVersion !== undefined && (typeof protocolVersion !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(protocolVersion))) {
    throw new TypeError(`protocolVersion should be a revision like '2026-07-28', got ${describeValue(protocolVersion)}`);
  }
  if (typeof clientInfo !== 'object' || clientInfo === null || typeof clientInfo.name !== 'string' || typeof clientInfo.version !== 'string') {
    throw new TypeError(`clientInfo should be { name: string, version: string }, got ${describeValue(clientInfo)}`);
  }
  if (typeof clientCapabilities !== 'object' || clientCapabilities === null || Array.isArray(clientCapabilities)) {
    throw new TypeError(`clientCapabilities should be an object, got ${describeValue(clientCapabilities)}`);
  }
  return Object.freeze({ ...base, requestTimeoutMs, protocolVersion, clientInfo, clientCapabilities });
}

/** Default per-request timeout of {@link McpWsClient}, in ms. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** Option names {@link resolveMcpWsClientOptions} understands. */
export const CLIENT_OPTION_KEYS: readonly string[] = Object.freeze([
  ...CONNECT_OPTION_KEYS,
  'requestTimeoutMs',
  'protocolVersion',
  'clientInfo',
  'clientCapabilities',
]);

/** The result of a `server/discover` request (stateless era), as far as this client reads it. */
export interface DiscoverResult {
  resultType: string;
  supportedVersions: string[];
  capabilities: Record<string, unknown>;
  instructions?: string;
  _meta?: Record<string, unknown>;
  [key: string]: unknown;
}

function checkTimeout(name: string, value: unknown): number | false {
  if (value === false) return false;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${name} should be a positive number or false, got ${describeValue(value)}`);
  }
  return value;
}

/** One call awaiting its reply. Doubles as the abort listener (no closure per call). */
class PendingCall {
  resolve!: (result: unknown) => void;
  reject!: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;

  constructor(
    readonly calls: CallTable,
    readonly id: number,
    readonly method: string,
  ) {}

  /** AbortSignal listener. */
  handleEvent(): void {
    this.calls.cancel(this, new McpWsError('REQUEST_CANCELLED', `Request ${this.method} (id ${this.id}) was aborted`), 'aborted');
  }

  /** Drops the timer and abort listener. */
  release(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.signal !== undefined) this.signal.removeEventListener('abort', this);
  }
}

function expireCall(call: PendingCall, timeoutMs: number): void {
  call.calls.cancel(
    call,
    new McpWsError('REQUEST_TIMEOUT', `Request ${call.method} (id ${call.id}) timed out after ${timeoutMs} ms`),
    'timeout',
  );
}

/** Calls awaiting replies, by id. */
class CallTable {
  readonly map = new Map<number, PendingCall>();

  constructor(private readonly conn: Connection) {}

  /** Rejects a call locally and tells the server to stop working on it. */
  cancel(call: PendingCall, error: Error, reason: string): void {
    if (this.map.get(call.id) !== call) return;
    this.map.delete(call.id);
    call.release();
    call.reject(error);
    if (this.conn.isOpen) {
      this.conn.send(
        JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: call.id, reason } }),
      );
    }
  }

  /** Rejects every pending call after the connection closed. */
  failAll(info: ClientCloseInfo): void {
    if (this.map.size === 0) return;
    const calls = [...this.map.values()];
    this.map.clear();
    const why = info.reason ? `: ${info.reason}` : '';
    for (const call of calls) {
      call.release();
      call.reject(
        new ConnectionClosedError(
          info.code,
          info.reason,
          `Connection closed (code ${info.code}${why}) before the reply to ${call.method} (id ${call.id})`,
        ),
      );
    }
  }
}

/**
 * A JSON-RPC 2.0 client over one WebSocket connection to an MCP server.
 * Request ids are incrementing integers from 1. Create with
 * {@link McpWsClient.connect}.
 */
export class McpWsClient {
  /** The resolved, frozen options. */
  readonly options: ResolvedMcpWsClientOptions;

  private readonly conn: Connection;
  private readonly calls: CallTable;
  private readonly notificationHandlers = new Map<string, Set<NotificationHandler>>();
  private readonly anyNotificationHandlers = new Set<NotificationHandler>();
  private readonly requestHandlers = new Map<string, RequestHandler>();
  private readonly closeHandlers = new Set<(info: ClientCloseInfo) => void>();
  private readonly errorHandlers = new Set<(error: Error) => void>();
  private nextId = 1;
  /** Stateless era: the `_meta` of every request (version, clientInfo, clientCapabilities). */
  private readonly requestMeta: Readonly<Params> | undefined;
  private closeRequested: ClientCloseInfo | undefined;
  private closing: Promise<void> | undefined;

  /**
   * Opens a connection. Rejects with a one-line `WebSocketConnectError` on
   * refusal, timeout or an HTTP status on the upgrade, and with a `TypeError`
   * for invalid options.
   *
   * @param url `ws://` or `wss://` URL of the MCP endpoint
   * @param options see {@link McpWsClientOptions}
   */
  static async connect(url: string | URL, options: McpWsClientOptions = {}): Promise<McpWsClient> {
    const resolved = resolveMcpWsClientOptions(options);
    const ws = await openWebSocket(url, resolved);
    return new McpWsClient(ws, resolved);
  }

  private constructor(ws: WebSocket, options: ResolvedMcpWsClientOptions) {
    this.options = options;
    if (options.protocolVersion !== undefined) {
      this.requestMeta = Object.freeze({
        [META_PROTOCOL_VERSION]: options.protocolVersion,
        [META_CLIENT_INFO]: options.clientInfo,
        [META_CLIENT_CAPABILITIES]: options.clientCapabilities,
      });
    }
    this.conn = new Connection(ws, options, {
      onMessage: this.handleMessage,
      onError: this.emitErrorBound,
      onClose: this.handleClose,
    });
    this.calls = new CallTable(this.conn);
  }

  /** 'modern' when the client speaks a stateless revision (`protocolVersion` set), else 'legacy'. */
  get era(): 'modern' | 'legacy' {
    return this.requestMeta === undefined ? 'legacy' : 'modern';
  }

  /**
   * Stateless era: `server/discover` — the server's supported versions,
   * capabilities, instructions and serverInfo. Rejects with RpcError as
   * {@link request} does (-32022 lists the versions the server supports).
   */
  discover(options?: RequestOptions): Promise<DiscoverResult> {
    return this.request<DiscoverResult>('server/discover', undefined, options);
  }

  /** The subprotocol the server selected (`'mcp'`). */
  get protocol(): string {
    return this.conn.protocol;
  }

  /** Bytes queued on the socket and not yet written out. */
  get bufferedAmount(): number {
    return this.conn.bufferedAmount;
  }

  /** Number of requests awaiting a reply. */
  get pendingCount(): number {
    return this.calls.map.size;
  }

  /** How the connection closed, once it has. */
  get closeInfo(): ClientCloseInfo | undefined {
    return this.conn.closeInfo;
  }

  /**
   * Runs the MCP handshake: sends `initialize`, then
   * `notifications/initialized`, and returns the server's initialize result.
   *
   * @param clientInfo defaults to {@link DEFAULT_CLIENT_INFO}
   * @param protocolVersion revision to ask for; the server may answer another
   * @param capabilities client capabilities to declare
   */
  async initialize(
    clientInfo: ClientInfo = DEFAULT_CLIENT_INFO,
    protocolVersion: string = LATEST_PROTOCOL_VERSION,
    capabilities: Params = {},
  ): Promise<InitializeResult> {
    if (this.requestMeta !== undefined) {
      throw new TypeError(`initialize is not part of the stateless revision ${this.options.protocolVersion}: send requests directly`);
    }
    const result = await this.request<InitializeResult>('initialize', { protocolVersion, capabilities, clientInfo });
    await this.notify('notifications/initialized');
    return result;
  }

  /**
   * Sends a request and resolves with its result. Rejects with
   * {@link RpcError} on an error reply, `McpWsError` `REQUEST_TIMEOUT` or
   * `REQUEST_CANCELLED` (both also send `notifications/cancelled`), or
   * {@link ConnectionClosedError} when the connection closes first.
   */
  request<T = unknown>(method: string, params?: Params, options?: RequestOptions): Promise<T> {
    if (this.conn.closeInfo !== undefined || !this.conn.isOpen) {
      return Promise.reject(this.closedError(method));
    }
    const signal = options?.signal;
    if (signal?.aborted) {
      return Promise.reject(new McpWsError('REQUEST_CANCELLED', `Request ${method} was aborted before it was sent`));
    }
    let timeoutMs = this.options.requestTimeoutMs;
    if (options?.timeoutMs !== undefined) {
      try {
        timeoutMs = checkTimeout('timeoutMs', options.timeoutMs);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const id = this.nextId++;
    let data: string;
    const meta = this.requestMeta;
    if (meta !== undefined) {
      // Stateless era: the per-request fields ride in _meta, beside any the caller set.
      const own = params?._meta;
      params = { ...params, _meta: typeof own === 'object' && own !== null ? { ...meta, ...own } : meta };
    }
    try {
      data = JSON.stringify(
        params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params },
      );
    } catch (err) {
      return Promise.reject(err);
    }
    const call = new PendingCall(this.calls, id, method);
    const promise = new Promise<T>((resolve, reject) => {
      call.resolve = resolve as (result: unknown) => void;
      call.reject = reject;
    });
    if (timeoutMs !== false) call.timer = setTimeout(expireCall, timeoutMs, call, timeoutMs);
    if (signal !== undefined) {
      call.signal = signal;
      signal.addEventListener('abort', call);
    }
    this.calls.map.set(id, call);
    this.conn.send(data);
    return promise;
  }

  /**
   * Sends a notification. Resolves at once while the socket's buffer is under
   * `highWaterMark`, otherwise once the frame is written out.
   */
  notify(method: string, params?: Params): Promise<void> {
    if (this.conn.closeInfo !== undefined || !this.conn.isOpen) {
      return Promise.reject(this.closedError(method));
    }
    let data: string;
    try {
      data = JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
    } catch (err) {
      return Promise.reject(err);
    }
    return this.conn.sendBuffered(data);
  }

  /**
   * Subscribes to server notifications of one method, or of all with `'*'`.
   * Returns the unsubscribe function.
   */
  onNotification(method: string, handler: NotificationHandler): () => void {
    if (method === '*') {
      this.anyNotificationHandlers.add(handler);
      return () => void this.anyNotificationHandlers.delete(handler);
    }
    let set = this.notificationHandlers.get(method);
    if (set === undefined) this.notificationHandlers.set(method, (set = new Set()));
    set.add(handler);
    return () => {
      const current = this.notificationHandlers.get(method);
      if (current === undefined) return;
      current.delete(handler);
      if (current.size === 0) this.notificationHandlers.delete(method);
    };
  }

  /**
   * Registers the handler for server-to-client requests of `method`
   * (replacing any earlier one). Requests without a handler are answered
   * -32601 "Method not found". Returns the unregister function.
   */
  onRequest(method: string, handler: RequestHandler): () => void {
    this.requestHandlers.set(method, handler);
    return () => {
      if (this.requestHandlers.get(method) === handler) this.requestHandlers.delete(method);
    };
  }

  /**
   * Calls `handler` once the connection has closed (at once, asynchronously,
   * if it already has). Returns the unsubscribe function.
   */
  onClose(handler: (info: ClientCloseInfo) => void): () => void {
    const info = this.conn.closeInfo;
    if (info !== undefined) {
      queueMicrotask(() => handler(info));
      return () => undefined;
    }
    this.closeHandlers.add(handler);
    return () => void this.closeHandlers.delete(handler);
  }

  /**
   * Calls `handler` for non-fatal problems: unparsable frames, replies to
   * unknown ids, handler failures, socket errors, heartbeat timeouts. Without
   * a handler they are dropped. Returns the unsubscribe function.
   */
  onError(handler: (error: Error) => void): () => void {
    this.errorHandlers.add(handler);
    return () => void this.errorHandlers.delete(handler);
  }

  /**
   * Closes the connection and resolves once the socket is closed (a peer that
   * does not complete the closing handshake within 2 s is cut off). Pending
   * calls reject with {@link ConnectionClosedError}. Idempotent.
   *
   * @param code WebSocket close code: 1000 or 3000–4999
   * @param reason close reason, at most 123 bytes
   */
  close(code: number = CloseCode.NORMAL, reason = ''): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    const closing = this.conn.close(code, reason);
    this.closing = closing;
    this.closeRequested = { code, reason };
    // An invalid code or reason rejects without closing; allow another try.
    closing.catch(() => {
      if (this.closing === closing) {
        this.closing = undefined;
        this.closeRequested = undefined;
      }
    });
    return closing;
  }

  private closedError(method: string): ConnectionClosedError {
    const closed = this.conn.closeInfo;
    const info = closed ?? this.closeRequested ?? { code: 1006, reason: '' };
    const state = closed === undefined ? 'closing' : 'closed';
    const why = info.reason ? `: ${info.reason}` : '';
    return new ConnectionClosedError(info.code, info.reason, `Connection ${state} (code ${info.code}${why}); cannot send ${method}`);
  }

  private readonly emitErrorBound = (err: Error): void => this.emitError(err);

  private readonly handleMessage = (msg: unknown, kind: Kind): void => {
    switch (kind) {
      case Kind.Response:
        this.handleResponse(msg as { id: RequestId | null; result?: unknown; error?: JsonRpcErrorObject });
        return;
      case Kind.Notification:
        this.handleNotification(msg as { method: string; params?: Params });
        return;
      default:
        this.handleRequest(msg as { id: RequestId; method: string; params?: Params });
    }
  };

  private handleResponse(msg: { id: RequestId | null; result?: unknown; error?: JsonRpcErrorObject }): void {
    const error = msg.error;
    const call = msg.id === null ? undefined : this.calls.map.get(msg.id as number);
    if (call === undefined) {
      this.emitError(
        error !== undefined
          ? new RpcError(error.code, `Error reply for id ${String(msg.id)}: ${error.message}`, error.data)
          : new Error(`Received a reply for unknown request id ${String(msg.id)}`),
      );
      return;
    }
    this.calls.map.delete(call.id);
    call.release();
    if (error !== undefined) call.reject(new RpcError(error.code, error.message, error.data));
    else call.resolve(msg.result);
  }

  private handleNotification(msg: { method: string; params?: Params }): void {
    const set = this.notificationHandlers.get(msg.method);
    if (set !== undefined) for (const handler of set) this.callNotificationHandler(handler, msg);
    if (this.anyNotificationHandlers.size > 0) {
      for (const handler of this.anyNotificationHandlers) this.callNotificationHandler(handler, msg);
    }
  }

  private callNotificationHandler(handler: NotificationHandler, msg: { method: string; params?: Params }): void {
    try {
      handler(msg.params, msg.method);
    } catch (err) {
      this.emitError(err);
    }
  }

  private handleRequest(msg: { id: RequestId; method: string; params?: Params }): void {
    const handler = this.requestHandlers.get(msg.method);
    if (handler === undefined) {
      this.sendIfOpen(errorReply(msg.id, METHOD_NOT_FOUND, `Method not found: ${msg.method}`));
      return;
    }
    void this.answerRequest(handler, msg);
  }

  private async answerRequest(handler: RequestHandler, msg: { id: RequestId; method: string; params?: Params }): Promise<void> {
    let reply: string;
    try {
      const result = await handler(msg.params, { id: msg.id, method: msg.method });
      reply = JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: result === undefined ? {} : result });
    } catch (err) {
      if (err instanceof RpcError) {
        reply = errorReply(msg.id, err.code, err.message, err.data);
      } else {
        this.emitError(err);
        reply = errorReply(msg.id, INTERNAL_ERROR, 'Internal error');
      }
    }
    this.sendIfOpen(reply);
  }

  private sendIfOpen(data: string): void {
    if (this.conn.isOpen) this.conn.send(data);
  }

  private readonly handleClose = (info: ClientCloseInfo): void => {
    this.calls.failAll(info);
    for (const handler of this.closeHandlers) {
      try {
        handler(info);
      } catch (err) {
        this.emitError(err);
      }
    }
    this.closeHandlers.clear();
  };

  private emitError(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    for (const handler of this.errorHandlers) {
      try {
        handler(error);
      } catch {
        // A failing error handler must not break message handling.
      }
    }
  }
}
