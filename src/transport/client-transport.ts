/**
 * MCP SDK client transport over WebSocket (the `ws` package), for the
 * `Client` of either SDK generation: v1 (`@modelcontextprotocol/sdk`) and v2
 * (`@modelcontextprotocol/client`, which has no WebSocket transport of its
 * own). Only v1 types are named here; the v2 `Transport` accepts the class
 * structurally, so neither generation is needed at run time.
 *
 * ```ts
 * const client = new Client({ name: 'my-app', version: '1.0.0' });
 * await client.connect(new WebSocketClientTransport('wss://mcp.example.com/mcp', {
 *   headers: { Authorization: `Bearer ${token}` },
 * }));
 * ```
 */
import { EventEmitter } from 'node:events';
import type WebSocket from 'ws';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import { CLOSE_CODE_TABLE, CloseCode } from '../protocol/close-codes.js';
import { ERRORS } from '../protocol/errors.js';
import { Kind, type RequestId } from '../protocol/jsonrpc.js';
import { fullJitterDelay, validateBackoffOptions, type BackoffOptions } from '../policy/backoff.js';
import {
  CONNECT_OPTION_KEYS,
  WebSocketConnectError,
  checkOptionKeys,
  openWebSocket,
  parseWebSocketUrl,
  redactUrl,
  resolveConnectOptions,
  type ResolvedConnectOptions,
  type WebSocketConnectOptions,
} from './open.js';
import { DEFAULT_RECONNECT_ATTEMPTS, RECONNECT_OPTIONS, resolveTyped } from './open-options.js';
import { describeValue } from '../config/describe-value.js';
import { Connection, emitGuarded, type CloseInfo, type ConnectionListener } from './connection.js';

export type { CloseInfo } from './connection.js';

/** Reconnection policy: bounded attempts spaced by full-jitter exponential backoff. */
export interface ReconnectOptions extends BackoffOptions {
  /** Attempts after a connection loss before giving up (`Infinity` allowed). */
  readonly maxAttempts: number;
}

/** Reconnect policy used for the fields a partial `reconnect` object leaves out. */
export const DEFAULT_RECONNECT: ReconnectOptions = Object.freeze({ maxAttempts: DEFAULT_RECONNECT_ATTEMPTS, ...RECONNECT_OPTIONS.defaults });

/** Options of {@link WebSocketClientTransport}. */
export interface WebSocketClientTransportOptions extends WebSocketConnectOptions {
  /**
   * Reconnect after losing an established connection. Default `false`: MCP
   * sessions are stateful, so a new connection is a new session that must be
   * initialized again (see {@link WebSocketClientTransport}). Missing fields
   * take {@link DEFAULT_RECONNECT}.
   */
  reconnect?: Partial<ReconnectOptions> | false;
}

/** {@link WebSocketClientTransportOptions} after defaults and validation; frozen. */
export interface ResolvedClientTransportOptions extends ResolvedConnectOptions {
  readonly reconnect: ReconnectOptions | false;
}

/**
 * Applies defaults to transport options and validates them, throwing a
 * `TypeError` that names the option and repeats the value.
 */
export function resolveClientTransportOptions(
  options: WebSocketClientTransportOptions = {},
): ResolvedClientTransportOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`options should be an object, got ${describeValue(options)}`);
  }
  checkOptionKeys(options, TRANSPORT_OPTION_KEYS);
  const base = resolveConnectOptions(options);
  let reconnect: ReconnectOptions | false = false;
  if (options.reconnect !== undefined && options.reconnect !== false) {
    const r = options.reconnect;
    if (typeof r !== 'object' || r === null) {
      throw new TypeError(`reconnect should be an object or false, got ${describeValue(r)}`);
    }
    const backoff = resolveTyped(RECONNECT_OPTIONS, r, 'reconnect.');
    const max = r.maxAttempts ?? DEFAULT_RECONNECT_ATTEMPTS;
    if (typeof max !== 'number' || !(Number.isSafeInteger(max) || max === Infinity) || max < 1) {
      throw new TypeError(`reconnect.maxAttempts should be a positive integer or Infinity, got ${describeValue(max)}`);
    }
    validateBackoffOptions(backoff, 'reconnect.'); // maxDelayMs ≥ initialDelayMs
    reconnect = Object.freeze({ maxAttempts: max, ...backoff });
  }
  return Object.freeze({ ...base, reconnect });
}

const TRANSPORT_OPTION_KEYS: readonly string[] = Object.freeze([...CONNECT_OPTION_KEYS, 'reconnect']);

/** Lifecycle of a {@link WebSocketClientTransport}. */
export type ClientTransportState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/**
 * Events of {@link WebSocketClientTransport} (only emitted when `reconnect` is
 * enabled). A listener that throws is reported through `onerror`; the
 * transport goes on.
 */
export type ClientTransportEvents = {
  /** An established connection was lost and the transport will try to reconnect. */
  disconnected: [info: CloseInfo];
  /** Reconnect attempt `attempt` (1-based) starts after `delayMs`. */
  reconnecting: [info: { attempt: number; delayMs: number }];
  /** Attempt `attempt` succeeded: a new connection, hence a new MCP session, is open (initialize again). */
  reconnected: [info: { attempt: number }];
  /** Attempt `attempt` succeeded and the server resumed the MCP session (SEP-1288): nothing to redo. */
  resumed: [info: { attempt: number }];
  /** Gave up after `attempts` attempts; `onclose` follows. */
  reconnect_failed: [info: { attempts: number; error: Error | undefined }];
};

/**
 * True when a client may reconnect after this close code: the codes
 * {@link CLOSE_CODE_TABLE} marks `reconnect: true`, and codes it does not list
 * (such as 1006, a dropped connection). Normal closure, policy violations and
 * the like mean "fix something first".
 */
export function isReconnectableClose(code: number): boolean {
  for (const row of CLOSE_CODE_TABLE) if (row.code === code) return row.reconnect;
  return true;
}

/**
 * True when a failed connect attempt is worth retrying: everything except an
 * HTTP 4xx upgrade rejection (bad credentials, wrong path), with 408 and 429
 * as the usual exceptions.
 */
export function isRetryableConnectError(err: unknown): boolean {
  if (!(err instanceof WebSocketConnectError) || err.kind !== 'http' || err.status === undefined) return true;
  return err.status < 400 || err.status >= 500 || err.status === 408 || err.status === 429;
}

/**
 * MCP client transport over a WebSocket, for the SDK `Client`:
 * `await new Client(info).connect(new WebSocketClientTransport(url, options))`.
 *
 * - Offers the `mcp` subprotocol, sends `headers` on the upgrade, and rejects
 *   `start()` with a one-line {@link WebSocketConnectError} on refusal,
 *   timeout (`connectTimeoutMs`) or an HTTP status on the upgrade.
 * - Inbound text frames are parsed once with `JSON.parse` and checked as a
 *   JSON-RPC envelope; invalid JSON, invalid envelopes and binary frames go
 *   to `onerror` and are dropped.
 * - `send()` resolves at once while `bufferedAmount` is under `highWaterMark`,
 *   otherwise once `ws` has written the frame out.
 * - Heartbeat: pings after an idle interval; no pong (or any frame) within
 *   `timeoutMs` terminates the socket, reported as close code 4002.
 * - `close()` is idempotent, cancels reconnect timers and calls `onclose` once.
 *
 * **Reconnect** (opt-in, `reconnect: {...}`). An MCP session lives on one
 * connection, so a reconnect gives a *fresh, uninitialized* session. When an
 * established connection drops with a code {@link isReconnectableClose} allows,
 * the transport does not call `onclose`; instead it:
 * 1. emits `disconnected`, and answers every request it sent that had no
 *    reply yet with a JSON-RPC error (-32000 "Connection closed"), so those
 *    calls fail instead of waiting for their timeouts;
 * 2. emits `reconnecting` before each attempt, spaced with full-jitter backoff;
 *    `send()` rejects meanwhile;
 * 3. emits `reconnected` when a new connection is open. On a 2025-era
 *    session the caller must then initialize again, e.g. with the v1 SDK Client:
 *    `await client.request({ method: 'initialize', params }, InitializeResultSchema)`
 *    followed by `await client.notification({ method: 'notifications/initialized' })`.
 *    On a 2026-07-28 connection (the v2 Client with `versionNegotiation`)
 *    every request carries its own version and capabilities, so calls go on
 *    over the new socket as they are; only `subscriptions/listen` streams
 *    must be opened again;
 * 4. or emits `reconnect_failed` after `maxAttempts` (or on an HTTP 4xx) and
 *    then calls `onclose`.
 *
 * **Resume** (SEP-1288). When the server's initialize result carried
 * `mcpSessionId`, the session can outlive the connection: step 1 leaves the
 * unanswered requests waiting, and after step 3's connection opens the
 * transport first sends a `ping` carrying `mcpSessionId`. If the server
 * resumes the session, the transport emits `resumed` and the waiting
 * requests get their replies on the new connection; if it refuses (the
 * grace period passed, the server restarted), the waiting requests fail
 * as in step 1 and `reconnected` follows, as without resume.
 *
 * `sessionId` stays undefined: the resume id is a credential and stays inside.
 */
export class WebSocketClientTransport extends EventEmitter<ClientTransportEvents> implements Transport {
  /** Called once when the transport is closed for good (by `close()`, the peer, or giving up reconnecting). */
  onclose?: () => void;
  /** Called for non-fatal problems: bad frames, socket errors, failed reconnect attempts, heartbeat timeouts. */
  onerror?: (error: Error) => void;
  /** Called for each valid inbound JSON-RPC message. */
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  /** Always undefined: an MCP-over-WebSocket session is bound to its connection. */
  sessionId?: string;

  /** The resolved, frozen options. */
  readonly options: ResolvedClientTransportOptions;

  private readonly url: URL;
  /** The current connection; undefined before start() and between a loss and a reconnect. */
  private conn: Connection | undefined;
  private _state: ClientTransportState = 'idle';
  private _lastClose: CloseInfo | undefined;
  private _protocolVersion: string | undefined;
  private closeNotified = false;
  private closing: Promise<void> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  /** Ids of requests sent and not yet answered; tracked only with reconnect on. */
  private readonly outstanding: Set<RequestId> | undefined;
  /** The server's `mcpSessionId`, once an initialize result carried one (SEP-1288). */
  private resumeId: string | undefined;
  /** The reconnect attempt whose resume ping awaits its answer. */
  private resumingAttempt = 0;

  /**
   * @param url `ws://` or `wss://` URL of the MCP endpoint
   * @param options see {@link WebSocketClientTransportOptions}; validated here (throws `TypeError`)
   */
  constructor(url: string | URL, options: WebSocketClientTransportOptions = {}) {
    super();
    this.url = parseWebSocketUrl(url);
    this.options = resolveClientTransportOptions(options);
    this.outstanding = this.options.reconnect === false ? undefined : new Set();
  }

  /** Where the transport is in its lifecycle. */
  get state(): ClientTransportState {
    return this._state;
  }

  /** The last close of a connection, once one has closed. */
  get lastClose(): CloseInfo | undefined {
    return this._lastClose;
  }

  /** Bytes queued on the current socket and not yet written out (0 when not connected). */
  get bufferedAmount(): number {
    return this.conn?.bufferedAmount ?? 0;
  }

  /** The subprotocol the server selected (`'mcp'`), or undefined when not connected. */
  get protocol(): string | undefined {
    return this.conn?.protocol;
  }

  /** The MCP protocol version the SDK negotiated, once initialized. */
  get protocolVersion(): string | undefined {
    return this._protocolVersion;
  }

  /** Called by the SDK Client with the negotiated protocol version. */
  setProtocolVersion(version: string): void {
    this._protocolVersion = version;
  }

  /**
   * Opens the connection. Called by `Client.connect()`; call it yourself only
   * when using the transport directly. Rejects with a
   * {@link WebSocketConnectError} when the first connection cannot be opened
   * (there is no retry for the first connection).
   */
  async start(): Promise<void> {
    if (this._state !== 'idle') {
      throw new Error('WebSocketClientTransport already started; Client.connect() calls start() itself');
    }
    this._state = 'connecting';
    let ws: WebSocket;
    try {
      ws = await openWebSocket(this.url, this.options, this.abort.signal);
    } catch (err) {
      if (this._state === 'connecting') this._state = 'closed';
      throw err;
    }
    if (this._state !== 'connecting') {
      ws.terminate();
      throw new Error('WebSocketClientTransport was closed while connecting');
    }
    this.attach(ws);
  }

  /**
   * Sends one JSON-RPC message. Resolves at once while the socket's buffer is
   * under `highWaterMark`, otherwise when the frame has been written out.
   * Rejects when not connected (including while reconnecting).
   */
  send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    const conn = this.conn;
    if (conn === undefined || !conn.isOpen) {
      return Promise.reject(new Error(this.notConnectedMessage()));
    }
    let data: string;
    try {
      data = JSON.stringify(message);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.outstanding !== undefined && 'method' in message && 'id' in message) {
      this.outstanding.add(message.id);
    }
    return conn.sendBuffered(data);
  }

  /**
   * Closes the connection (code 1000) and stops any reconnecting. Idempotent:
   * every call returns the same promise, and `onclose` is called once.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this._state = 'closed';
    this.abort.abort();
    if (this.reconnectTimer !== undefined) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
    const conn = this.conn;
    if (conn !== undefined) {
      conn.stopHeartbeat();
      try {
        await conn.close(CloseCode.NORMAL);
      } catch (err) {
        conn.terminate();
        this.reportError(err);
      }
    }
    this.outstanding?.clear();
    this.notifyClosed();
  }

  private attach(ws: WebSocket): void {
    this.conn = new Connection(ws, this.options, this.listener, redactUrl(this.url));
    this._state = 'open';
  }

  private readonly handleMessage = (msg: unknown, kind: Kind): void => {
    if (kind === Kind.Response && this.outstanding !== undefined) {
      const id = (msg as { id: RequestId }).id;
      if (id === RESUME_REQUEST_ID && this.resumingAttempt !== 0) return this.resumeAnswered(msg as { error?: unknown });
      this.outstanding.delete(id);
      const result = (msg as { result?: { mcpSessionId?: unknown } }).result;
      if (typeof result === 'object' && result !== null && typeof result.mcpSessionId === 'string') this.resumeId = result.mcpSessionId;
    }
    this.dispatch(msg, kind);
  };

  /** Messages held until the next microtask, in arrival order (see dispatch); undefined when none are. */
  private held: Array<[unknown, Kind]> | undefined;
  /** A notification was delivered since the last microtask checkpoint. */
  private notifiedInTick = false;

  /**
   * Delivers one message, keeping notifications ahead of the response that
   * follows them. The SDK Protocol runs notification handlers a microtask
   * later but handles a response at once, dropping the request's progress
   * handler: progress that arrived in the same socket read as the response
   * would be lost. So a response that follows a notification delivered in
   * the same tick (and whatever comes after it) waits one microtask.
   */
  private dispatch(msg: unknown, kind: Kind): void {
    if (this.held !== undefined) {
      this.held.push([msg, kind]);
      return;
    }
    if (kind === Kind.Response && this.notifiedInTick) {
      this.held = [[msg, kind]];
      queueMicrotask(this.releaseHeld);
      return;
    }
    if (kind === Kind.Notification && !this.notifiedInTick) {
      this.notifiedInTick = true;
      queueMicrotask(this.clearNotified);
    }
    this.onmessage?.(msg as JSONRPCMessage);
  }

  private readonly clearNotified = (): void => {
    this.notifiedInTick = false;
  };

  private readonly releaseHeld = (): void => {
    const held = this.held!;
    this.held = undefined;
    for (let i = 0; i < held.length; i++) {
      if (this.held !== undefined) {
        // A response waits again behind a notification just delivered: the rest waits with it, in order.
        (this.held as Array<[unknown, Kind]>).push(...held.slice(i));
        return;
      }
      const [m, k] = held[i]!;
      if (k === Kind.Response && i === 0) this.onmessage?.(m as JSONRPCMessage);
      else this.dispatch(m, k);
    }
  };

  /** The server answered the resume ping: the session is back, or it is gone and the caller initializes again. */
  private resumeAnswered(msg: { error?: unknown }): void {
    const attempt = this.resumingAttempt;
    this.resumingAttempt = 0;
    if (msg.error === undefined) {
      this.emitSafely('resumed', { attempt });
      return;
    }
    this.resumeId = undefined;
    if (this._lastClose !== undefined) this.failOutstanding(this._lastClose);
    this.emitSafely('reconnected', { attempt });
  }

  private readonly handleClose = (info: CloseInfo): void => {
    this.conn = undefined;
    this._lastClose = info;
    if (this._state === 'closed') return; // close() is in progress and reports.
    if (this.options.reconnect !== false && isReconnectableClose(info.code)) {
      this._state = 'reconnecting';
      this.emitSafely('disconnected', info);
      // A resumable session gets its replies on the next connection.
      if (this.resumeId === undefined) this.failOutstanding(info);
      if (this._state === 'reconnecting') this.scheduleReconnect(1, undefined);
      return;
    }
    this.finish();
  };

  /** Answers each unanswered outbound request with a "Connection closed" error. */
  private failOutstanding(info: CloseInfo): void {
    const ids = this.outstanding;
    if (ids === undefined || ids.size === 0) return;
    const error = {
      code: ERRORS.CONNECTION_CLOSED.rpc,
      message: `Connection closed (WebSocket code ${info.code}) before a reply; the transport is reconnecting`,
      data: { closeCode: info.code },
    };
    const pending = [...ids];
    ids.clear();
    for (const id of pending) this.deliver({ jsonrpc: '2.0', id, error } as JSONRPCMessage);
  }

  private scheduleReconnect(attempt: number, lastError: Error | undefined): void {
    const policy = this.options.reconnect;
    if (policy === false) return;
    if (attempt > policy.maxAttempts || (lastError !== undefined && !isRetryableConnectError(lastError))) {
      this._state = 'closed';
      this.abort.abort();
      this.emitSafely('reconnect_failed', { attempts: attempt - 1, error: lastError });
      this.finish();
      return;
    }
    const delayMs = fullJitterDelay(attempt - 1, policy);
    this.emitSafely('reconnecting', { attempt, delayMs });
    if (this._state !== 'reconnecting') return; // A listener closed the transport.
    this.reconnectTimer = setTimeout(this.reconnectNow, delayMs, attempt);
  }

  private readonly reconnectNow = (attempt: number): void => {
    this.reconnectTimer = undefined;
    void this.tryReconnect(attempt);
  };

  private async tryReconnect(attempt: number): Promise<void> {
    if (this._state !== 'reconnecting') return;
    let ws: WebSocket;
    try {
      ws = await openWebSocket(this.url, this.options, this.abort.signal);
    } catch (err) {
      if (this._state !== 'reconnecting') return;
      const error = err instanceof Error ? err : new Error(String(err));
      this.reportError(error);
      this.scheduleReconnect(attempt + 1, error);
      return;
    }
    if (this._state !== 'reconnecting') {
      ws.terminate();
      return;
    }
    this.attach(ws);
    if (this.resumeId !== undefined) {
      this.resumingAttempt = attempt;
      this.conn!.sendBuffered(JSON.stringify({ jsonrpc: '2.0', id: RESUME_REQUEST_ID, method: 'ping', mcpSessionId: this.resumeId })).catch(this.reportError);
      return;
    }
    this.emitSafely('reconnected', { attempt });
  }

  /** Final state: no socket, no timers, `onclose` once. */
  private finish(): void {
    this._state = 'closed';
    this.abort.abort();
    this.outstanding?.clear();
    this.notifyClosed();
  }

  private notifyClosed(): void {
    if (this.closeNotified) return;
    this.closeNotified = true;
    this.onclose?.();
  }

  private deliver(message: JSONRPCMessage): void {
    try {
      this.onmessage?.(message);
    } catch (err) {
      this.reportError(err);
    }
  }

  private readonly reportError = (err: unknown): void => {
    const error = err instanceof Error ? err : new Error(String(err));
    try {
      this.onerror?.(error);
    } catch {
      // An error handler that throws must not break the socket's event loop.
    }
  };

  /** The sockets' reports, to this transport. */
  private readonly listener: ConnectionListener = {
    onMessage: this.handleMessage,
    onError: this.reportError,
    onClose: this.handleClose,
  };

  /** Emits a lifecycle event; a listener that throws goes to `onerror` and the rest still run. */
  private emitSafely<K extends keyof ClientTransportEvents>(event: K, info: ClientTransportEvents[K][0]): void {
    emitGuarded(this, event, info, this.reportError);
  }

  private notConnectedMessage(): string {
    switch (this._state) {
      case 'idle':
      case 'connecting':
        return 'Not connected: start() has not completed';
      case 'reconnecting':
        return 'Not connected: the connection was lost and the transport is reconnecting';
      default:
        return 'Not connected: the transport is closed';
    }
  }
}

/** Id of the transport's own resume ping; SDK clients number their requests. */
const RESUME_REQUEST_ID = 'mcp-ws:resume';
