/**
 * What both clients share: connection options (defaults and validation),
 * opening a WebSocket with clear errors, the client-side heartbeat, and a
 * bounded close.
 */
import WebSocket from 'ws';
import { CloseCode } from '../protocol/close-codes.js';
import { CODEC_NAMES, CODEC_SUBPROTOCOLS, type CodecName } from '../compression/codec.js';
import { createCodec, isCodecAvailable } from '../compression/codecs.js';
import { codecNameOf } from '../compression/negotiate.js';
import { WireCodec } from '../compression/wire-codec.js';

/** The subprotocol an mcp-ws server selects. */
export const MCP_SUBPROTOCOL = 'mcp';

/** Client-side heartbeat: WebSocket pings when the connection is idle. */
export interface HeartbeatOptions {
  /**
   * How often the connection is checked, in milliseconds. A ping goes out
   * after a full interval without any inbound frame.
   */
  readonly intervalMs: number;
  /**
   * How long to wait for the pong (or any other inbound frame), in
   * milliseconds, before the socket is terminated as dead.
   */
  readonly timeoutMs: number;
}

/** Connection options shared by {@link openWebSocket} and both clients. */
export interface WebSocketConnectOptions {
  /** Extra HTTP headers on the upgrade request, e.g. `Authorization`. */
  headers?: Record<string, string>;
  /** Subprotocols offered, most preferred first. Default `['mcp']`. */
  protocols?: readonly string[];
  /** Time allowed for TCP connect, TLS and the upgrade, in ms. Default 10000. */
  connectTimeoutMs?: number;
  /**
   * Client pings when idle; missing fields take the defaults
   * (`{ intervalMs: 30000, timeoutMs: 10000 }`). `false` turns it off.
   */
  heartbeat?: Partial<HeartbeatOptions> | false;
  /**
   * Bytes buffered on the socket above which a send waits for the data to be
   * written out before it resolves. Default 1 MiB.
   */
  highWaterMark?: number;
  /** Largest inbound message accepted, in bytes. Default 4 MiB. */
  maxPayload?: number;
  /** Offer permessage-deflate compression. Default `false`. */
  perMessageDeflate?: boolean;
  /**
   * Codecs to offer (`mcp.zstd`, `mcp.br`, `mcp.gzip`, `mcp.deflate`), in
   * this order of preference, before the other protocols. When the server
   * selects one, messages of at least `minCompressSize` bytes travel
   * compressed in binary frames both ways. Default: none.
   */
  codecs?: readonly CodecName[];
  /** With a codec: messages under this many bytes go as text. Default 1024. */
  minCompressSize?: number;
}

/** {@link WebSocketConnectOptions} after defaults and validation; frozen. */
export interface ResolvedConnectOptions {
  readonly headers: Readonly<Record<string, string>>;
  readonly protocols: readonly string[];
  readonly connectTimeoutMs: number;
  readonly heartbeat: HeartbeatOptions | false;
  readonly highWaterMark: number;
  readonly maxPayload: number;
  readonly perMessageDeflate: boolean;
  readonly codecs: readonly CodecName[];
  readonly minCompressSize: number;
}

/** Heartbeat used when `heartbeat` is omitted or partly given. */
export const DEFAULT_HEARTBEAT: HeartbeatOptions = Object.freeze({ intervalMs: 30_000, timeoutMs: 10_000 });

/** Defaults of {@link WebSocketConnectOptions}. */
export const DEFAULT_CONNECT_OPTIONS: ResolvedConnectOptions = Object.freeze({
  headers: Object.freeze({}),
  protocols: Object.freeze([MCP_SUBPROTOCOL]),
  connectTimeoutMs: 10_000,
  heartbeat: DEFAULT_HEARTBEAT,
  highWaterMark: 1024 * 1024,
  maxPayload: 4 * 1024 * 1024,
  perMessageDeflate: false,
  codecs: Object.freeze([]),
  minCompressSize: 1024,
});

/** Option names {@link resolveConnectOptions} understands. */
export const CONNECT_OPTION_KEYS: readonly string[] = Object.freeze([
  'headers',
  'protocols',
  'connectTimeoutMs',
  'heartbeat',
  'highWaterMark',
  'maxPayload',
  'perMessageDeflate',
  'codecs',
  'minCompressSize',
]);

/**
 * Applies defaults to connection options and validates them. Throws a
 * `TypeError` naming the option and repeating the value, e.g.
 * `connectTimeoutMs should be a positive number, got -1`. Keys it does not
 * know are ignored here; see {@link checkOptionKeys}.
 */
export function resolveConnectOptions(options: WebSocketConnectOptions = {}): ResolvedConnectOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`options should be an object, got ${describeValue(options)}`);
  }
  const d = DEFAULT_CONNECT_OPTIONS;

  const headers: Record<string, string> = {};
  if (options.headers !== undefined) {
    if (typeof options.headers !== 'object' || options.headers === null || Array.isArray(options.headers)) {
      throw new TypeError(`headers should be an object of strings, got ${describeValue(options.headers)}`);
    }
    for (const [name, value] of Object.entries(options.headers)) {
      // Values are not repeated: headers often carry credentials.
      if (typeof value !== 'string') throw new TypeError(`headers.${name} should be a string, got a ${typeof value}`);
      headers[name] = value;
    }
  }

  let protocols = d.protocols;
  if (options.protocols !== undefined) {
    if (!Array.isArray(options.protocols)) {
      throw new TypeError(`protocols should be an array of strings, got ${describeValue(options.protocols)}`);
    }
    for (const p of options.protocols as unknown[]) {
      if (typeof p !== 'string' || p === '') {
        throw new TypeError(`protocols should hold non-empty strings, got ${describeValue(options.protocols)}`);
      }
    }
    protocols = Object.freeze([...(options.protocols as string[])]);
  }

  let heartbeat: HeartbeatOptions | false = d.heartbeat;
  if (options.heartbeat === false) {
    heartbeat = false;
  } else if (options.heartbeat !== undefined) {
    if (typeof options.heartbeat !== 'object' || options.heartbeat === null) {
      throw new TypeError(`heartbeat should be an object or false, got ${describeValue(options.heartbeat)}`);
    }
    heartbeat = Object.freeze({
      intervalMs: positiveNumber('heartbeat.intervalMs', options.heartbeat.intervalMs ?? DEFAULT_HEARTBEAT.intervalMs),
      timeoutMs: positiveNumber('heartbeat.timeoutMs', options.heartbeat.timeoutMs ?? DEFAULT_HEARTBEAT.timeoutMs),
    });
  }

  const perMessageDeflate = options.perMessageDeflate ?? d.perMessageDeflate;
  if (typeof perMessageDeflate !== 'boolean') {
    throw new TypeError(`perMessageDeflate should be a boolean, got ${describeValue(perMessageDeflate)}`);
  }

  let codecs = d.codecs;
  if (options.codecs !== undefined) {
    if (!Array.isArray(options.codecs)) throw new TypeError(`codecs should be an array, got ${describeValue(options.codecs)}`);
    for (const c of options.codecs as unknown[]) {
      if (!CODEC_NAMES.includes(c as CodecName)) {
        throw new TypeError(`codecs should hold ${CODEC_NAMES.join(', ')}; got ${describeValue(c)}`);
      }
      if (!isCodecAvailable(c as CodecName)) throw new TypeError(`codec ${String(c)} is not available in this process`);
    }
    codecs = Object.freeze([...(options.codecs as CodecName[])]);
    // Offer the codecs first, then the plain protocols (a server without codecs picks `mcp`).
    protocols = Object.freeze([...codecs.map((c) => CODEC_SUBPROTOCOLS[c]), ...protocols.filter((p) => !p.startsWith('mcp.'))]);
  }

  return Object.freeze({
    headers: Object.freeze(headers),
    protocols,
    codecs,
    minCompressSize: nonNegativeInteger('minCompressSize', options.minCompressSize ?? d.minCompressSize),
    connectTimeoutMs: positiveNumber('connectTimeoutMs', options.connectTimeoutMs ?? d.connectTimeoutMs),
    heartbeat,
    highWaterMark: nonNegativeInteger('highWaterMark', options.highWaterMark ?? d.highWaterMark),
    maxPayload: positiveInteger('maxPayload', options.maxPayload ?? d.maxPayload),
    perMessageDeflate,
  });
}

/**
 * The codec of an open socket, when the server selected one of the codecs
 * offered: encode() / receive() handle binary frames, in order.
 */
export function wireFor(ws: WebSocket, options: ResolvedConnectOptions): WireCodec | undefined {
  const name = codecNameOf(ws.protocol);
  if (name === undefined || !options.codecs.includes(name)) return undefined;
  return new WireCodec(createCodec(name), { maxPayload: options.maxPayload, minCompressSize: options.minCompressSize });
}

/**
 * Sends one serialised message through the codec when there is one (a
 * compressed binary frame, or text), as ws.send otherwise. `cb` fires once
 * the frame is written.
 */
export function sendMessage(ws: WebSocket, wire: WireCodec | undefined, text: string, cb?: (err?: Error) => void): void {
  if (wire === undefined) {
    ws.send(text, cb);
    return;
  }
  const frame = wire.encode(text);
  const write = (f: { data: Buffer | string; binary: boolean }): void => {
    if (ws.readyState === WebSocket.OPEN) ws.send(f.data, { binary: f.binary }, cb);
    else cb?.(new Error('WebSocket is not open'));
  };
  if (frame instanceof Promise) frame.then(write, (err: Error) => cb?.(err));
  else write(frame);
}

/**
 * One inbound frame to its message text: through the codec when there is
 * one (in order, possibly later), as UTF-8 text otherwise. Binary frames
 * without a codec and codec failures go to `onError`.
 */
export function receiveMessage(
  wire: WireCodec | undefined,
  data: Buffer,
  isBinary: boolean,
  onText: (text: string) => void,
  onError: (err: Error) => void,
): void {
  if (wire === undefined) {
    if (isBinary) onError(new Error('Ignored a binary WebSocket frame: MCP messages are JSON text frames'));
    else onText(data.toString());
    return;
  }
  let text: string | Promise<string>;
  try {
    text = wire.receive(data, isBinary);
  } catch (err) {
    onError(err as Error);
    return;
  }
  if (typeof text === 'string') onText(text);
  else text.then(onText, onError);
}

/**
 * Throws a `TypeError` for the first key of `options` not in `known`, so a
 * misspelt option (`heartBeat`) does not pass silently.
 */
export function checkOptionKeys(options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(`unknown option ${JSON.stringify(key)}; known options: ${known.join(', ')}`);
    }
  }
}

/** Returns `value` when it is a finite number > 0; throws a `TypeError` naming `name` otherwise. */
export function positiveNumber(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`${name} should be a positive number, got ${describeValue(value)}`);
  }
  return value;
}

/** Returns `value` when it is an integer > 0; throws a `TypeError` naming `name` otherwise. */
export function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`${name} should be a positive integer, got ${describeValue(value)}`);
  }
  return value;
}

/** Returns `value` when it is an integer >= 0; throws a `TypeError` naming `name` otherwise. */
export function nonNegativeInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${name} should be a non-negative integer, got ${describeValue(value)}`);
  }
  return value;
}

/** A short printable form of an option value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value !== 'object' || value === null) return String(value);
  try {
    const json = JSON.stringify(value);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * Parses a WebSocket URL (`ws:`, `wss:`, or their `http:`/`https:` forms).
 * Throws a `TypeError` that names the problem otherwise.
 */
export function parseWebSocketUrl(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`url should be a ws:// or wss:// URL, got ${describeValue(String(url))}`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(parsed.protocol)) {
    throw new TypeError(`url should be a ws:// or wss:// URL, got ${describeValue(redactUrl(parsed))}`);
  }
  return parsed;
}

/** The URL without credentials, query or fragment, for messages and logs. */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** Why {@link openWebSocket} failed. */
export type ConnectFailure = 'timeout' | 'http' | 'network' | 'aborted';

/** The error {@link openWebSocket} rejects with: one line, naming the endpoint and the cause. */
export class WebSocketConnectError extends Error {
  /** What went wrong: timed out, rejected with an HTTP status, network/handshake error, or aborted. */
  readonly kind: ConnectFailure;
  /** HTTP status of a rejected upgrade (`kind === 'http'`). */
  readonly status: number | undefined;

  constructor(kind: ConnectFailure, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WebSocketConnectError';
    this.kind = kind;
    this.status = options.status;
  }
}

/**
 * Opens a WebSocket and resolves once it is open.
 *
 * Rejects with a {@link WebSocketConnectError}:
 * - `connect ECONNREFUSED ...` and other network or handshake errors (`kind: 'network'`);
 * - `... timed out after N ms` when `connectTimeoutMs` passes first (`kind: 'timeout'`);
 * - `WebSocket upgrade rejected: HTTP 503 Service Unavailable` when the server
 *   answers the upgrade with a status (`kind: 'http'`, `status` set);
 * - `... aborted` when `signal` fires (`kind: 'aborted'`).
 *
 * The socket is resolved **paused** so that no frame can be emitted before the
 * caller has attached its `message` listener: attach listeners, then call
 * `ws.resume()`.
 *
 * @param url `ws:` / `wss:` URL of the server
 * @param options connection options (only the connection-level ones are used here)
 * @param signal aborts the attempt
 */
export function openWebSocket(
  url: string | URL,
  options: WebSocketConnectOptions = {},
  signal?: AbortSignal,
): Promise<WebSocket> {
  let target: URL;
  let opts: ResolvedConnectOptions;
  try {
    target = parseWebSocketUrl(url);
    opts = resolveConnectOptions(options);
  } catch (err) {
    return Promise.reject(err);
  }
  const where = redactUrl(target);

  return new Promise<WebSocket>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new WebSocketConnectError('aborted', `WebSocket connect to ${where} aborted`));
      return;
    }
    const ws = new WebSocket(target, opts.protocols.length > 0 ? [...opts.protocols] : undefined, {
      headers: { ...opts.headers },
      maxPayload: opts.maxPayload,
      perMessageDeflate: opts.perMessageDeflate,
      followRedirects: false,
    });
    let settled = false;

    const fail = (err: WebSocketConnectError): void => {
      if (settled) return;
      settled = true;
      cleanup();
      ws.terminate();
      reject(err);
    };
    const onTimeout = (): void => {
      fail(new WebSocketConnectError('timeout', `WebSocket connect to ${where} timed out after ${opts.connectTimeoutMs} ms`));
    };
    const onAbort = (): void => {
      fail(new WebSocketConnectError('aborted', `WebSocket connect to ${where} aborted`));
    };
    // Stays attached for the life of the socket: after settling it swallows
    // the error ws emits when terminate() aborts a handshake.
    const onError = (err: Error): void => {
      if (settled) return;
      let detail = err.message;
      if (/subprotocol/i.test(detail)) detail += ` (offered: ${opts.protocols.join(', ') || 'none'})`;
      fail(new WebSocketConnectError('network', `WebSocket connect to ${where} failed: ${detail}`, { cause: err }));
    };
    const onUnexpectedResponse = (_req: unknown, res: { statusCode?: number; statusMessage?: string; resume(): void }): void => {
      res.resume();
      const status = res.statusCode ?? 0;
      const text = res.statusMessage ? ` ${res.statusMessage}` : '';
      fail(new WebSocketConnectError('http', `WebSocket upgrade rejected: HTTP ${status}${text} (${where})`, { status }));
    };
    const onOpen = (): void => {
      if (settled) return;
      settled = true;
      cleanup();
      ws.pause();
      resolve(ws);
    };
    const timer = setTimeout(onTimeout, opts.connectTimeoutMs);
    function cleanup(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      ws.off('open', onOpen);
      ws.off('unexpected-response', onUnexpectedResponse);
    }

    signal?.addEventListener('abort', onAbort, { once: true });
    ws.on('error', onError);
    ws.on('open', onOpen);
    ws.on('unexpected-response', onUnexpectedResponse);
  });
}

/**
 * Client-side liveness check. Any inbound frame proves the peer alive; the
 * owner sets {@link Heartbeat.alive} on each message (one store, no timer
 * work on the hot path). After a full interval with no inbound frame it sends
 * a ping; when neither a pong nor any other frame arrives within `timeoutMs`
 * it stops and calls `onTimeout`.
 */
export class Heartbeat {
  /** Set to `true` by the owner on every inbound frame; cleared once per interval. */
  alive = true;
  private readonly ws: WebSocket;
  private readonly options: HeartbeatOptions;
  private readonly onTimeout: () => void;
  private readonly interval: NodeJS.Timeout;
  private timeout: NodeJS.Timeout | undefined;
  private stopped = false;

  /**
   * Starts checking `ws` right away.
   *
   * @param ws an open socket
   * @param options interval and timeout
   * @param onTimeout called once when the peer stays silent past the timeout
   */
  constructor(ws: WebSocket, options: HeartbeatOptions, onTimeout: () => void) {
    this.ws = ws;
    this.options = options;
    this.onTimeout = onTimeout;
    ws.on('pong', this.onPong);
    this.interval = setInterval(this.tick, options.intervalMs);
    this.interval.unref();
  }

  /** Stops the checks; safe to call more than once. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.interval);
    if (this.timeout !== undefined) clearTimeout(this.timeout);
    this.timeout = undefined;
    this.ws.off('pong', this.onPong);
  }

  private readonly onPong = (): void => {
    this.alive = true;
    if (this.timeout !== undefined) {
      clearTimeout(this.timeout);
      this.timeout = undefined;
    }
  };

  private readonly tick = (): void => {
    if (this.timeout !== undefined) return;
    if (this.alive) {
      this.alive = false;
      return;
    }
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.ping();
    this.timeout = setTimeout(this.expire, this.options.timeoutMs);
    this.timeout.unref();
  };

  private readonly expire = (): void => {
    this.timeout = undefined;
    if (this.alive) return;
    this.stop();
    this.onTimeout();
  };
}

/**
 * Ends a socket whose peer missed the heartbeat: a best-effort close frame
 * with {@link CloseCode.HEARTBEAT_TIMEOUT}, then an immediate terminate (a
 * dead peer would never complete the closing handshake). The socket's
 * `close` event reports 1006; callers record 4002 themselves.
 */
export function terminateForHeartbeat(ws: WebSocket): void {
  if (ws.readyState === WebSocket.OPEN) {
    try {
      ws.close(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
    } catch {
      // The socket is going away regardless.
    }
  }
  ws.terminate();
}

/** How long a closing handshake may take before the socket is terminated. */
export const CLOSE_GRACE_MS = 2_000;

/**
 * Starts the closing handshake and resolves once the socket is closed. A peer
 * that does not answer within `graceMs` gets the socket terminated.
 */
export function closeGracefully(ws: WebSocket, code = 1000, reason = '', graceMs = CLOSE_GRACE_MS): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => ws.terminate(), graceMs);
    timer.unref();
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (ws.readyState === WebSocket.CONNECTING) {
      ws.terminate();
    } else if (ws.readyState === WebSocket.OPEN) {
      try {
        ws.close(code, reason);
      } catch (err) {
        clearTimeout(timer);
        reject(err);
      }
    }
  });
}
