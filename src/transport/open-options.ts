/**
 * Connection options both clients share: their types, defaults and
 * validation, plus the small validators and URL helpers the clients reuse
 * for their own options. Every error is a one-line `TypeError` naming the
 * option and repeating the value.
 */
import { CODEC_NAMES, CODEC_SUBPROTOCOLS, type CodecName } from '../compression/codec.js';
import { isCodecAvailable } from '../compression/codecs.js';
import { describeValue } from '../config/describe-value.js';
import { bool, defineOptions, int, num, type OptionSet, type OptionSpec, type OptionValues } from '../config/option-set.js';

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

/** Connection options shared by openWebSocket and both clients. */
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
  /**
   * SEP-1288: offer the `mcp.version.<v>` subprotocol (after any codecs,
   * before `mcp`). A server that speaks none of the offered versions refuses
   * the upgrade with 400; one that selects it pre-negotiates `v` for
   * initialize. Default: not offered.
   */
  protocolVersion?: string;
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

/** The declaration of {@link HeartbeatOptions}: kind, range, default; meanings are there. */
export const HEARTBEAT_OPTIONS = defineOptions({
  intervalMs: num({ min: 0, above: true, default: 30_000 }),
  timeoutMs: num({ min: 0, above: true, default: 10_000 }),
});

/** Heartbeat used when `heartbeat` is omitted or partly given. */
export const DEFAULT_HEARTBEAT: HeartbeatOptions = HEARTBEAT_OPTIONS.defaults;

/**
 * The declaration of the backoff of WebSocketClientTransport's `reconnect`
 * (ReconnectOptions): kind, range, default. Its `maxAttempts` may also be
 * Infinity, which no declared kind holds, so it is declared beside:
 * {@link DEFAULT_RECONNECT_ATTEMPTS}.
 */
export const RECONNECT_OPTIONS = defineOptions({
  initialDelayMs: num({ min: 0, above: true, default: 250 }),
  maxDelayMs: num({ min: 0, above: true, default: 10_000 }),
  multiplier: num({ min: 1, default: 2 }),
});

/** Reconnect attempts after a connection loss before giving up, by default. */
export const DEFAULT_RECONNECT_ATTEMPTS = 5;

/**
 * The declaration of the scalar connection options: kind, range, default.
 * {@link DEFAULT_CONNECT_OPTIONS} and the checks of
 * {@link resolveConnectOptions} come from it; meanings are in
 * {@link WebSocketConnectOptions}.
 */
export const CONNECT_OPTIONS = defineOptions({
  connectTimeoutMs: num({ min: 0, above: true, default: 10_000 }),
  highWaterMark: int({ min: 0, default: 1024 * 1024 }),
  maxPayload: int({ min: 1, default: 4 * 1024 * 1024 }),
  perMessageDeflate: bool({ default: false }),
  minCompressSize: int({ min: 0, default: 1024 }),
});

/** Defaults of {@link WebSocketConnectOptions}. */
export const DEFAULT_CONNECT_OPTIONS: ResolvedConnectOptions = Object.freeze({
  ...CONNECT_OPTIONS.defaults,
  headers: Object.freeze({}),
  protocols: Object.freeze([MCP_SUBPROTOCOL]),
  heartbeat: DEFAULT_HEARTBEAT,
  codecs: Object.freeze([]),
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
  'protocolVersion',
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
    heartbeat = Object.freeze(resolveTyped(HEARTBEAT_OPTIONS, options.heartbeat, 'heartbeat.'));
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
    // A version subprotocol (SEP-1288) stays: it is not a codec.
    protocols = Object.freeze([
      ...codecs.map((c) => CODEC_SUBPROTOCOLS[c]),
      ...protocols.filter((p) => !p.startsWith('mcp.') || p.startsWith('mcp.version.')),
    ]);
  }

  if (options.protocolVersion !== undefined) {
    const v = options.protocolVersion;
    if (typeof v !== 'string' || !/^[A-Za-z0-9._-]+$/.test(v)) {
      throw new TypeError(`protocolVersion should be a version token such as "2025-11-25", got ${describeValue(v)}`);
    }
    const plain = protocols.filter((p) => !p.startsWith('mcp.'));
    const codecProtocols = protocols.filter((p) => p.startsWith('mcp.') && !p.startsWith('mcp.version.'));
    protocols = Object.freeze([...codecProtocols, `mcp.version.${v}`, ...plain]);
  }

  const scalars = resolveTyped(CONNECT_OPTIONS, options);
  return Object.freeze({ ...scalars, headers: Object.freeze(headers), protocols, codecs, heartbeat });
}

/**
 * `set`'s defaults, then the values of `given` it declares, each checked;
 * a bad one throws a `TypeError` (the client options' error) naming it
 * after `prefix` and repeating the value.
 */
export function resolveTyped<D extends Record<string, OptionSpec>>(set: OptionSet<D>, given: object, prefix = ''): OptionValues<D> {
  try {
    return set.resolve(given, prefix);
  } catch (err) {
    throw err instanceof RangeError ? new TypeError(err.message) : err;
  }
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
