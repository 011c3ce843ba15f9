/**
 * The `_meta` keys of MCP 2026-07-28 and the one check that tells a
 * request's era.
 *
 * A modern (2026-07-28) request carries its protocol version, client
 * capabilities and, optionally, client info and log level in
 * `params._meta` under `io.modelcontextprotocol/…` keys; a legacy request
 * carries none of them and relies on the session `initialize` opened.
 * {@link modernMeta} is on every request's path, so on the legacy hot path
 * (no `_meta`) it costs one property read.
 */
import { ERRORS, RpcError } from './errors.js';
import { INVALID_PARAMS } from './jsonrpc.js';
import { ALL_PROTOCOL_VERSIONS, isModernVersion } from './versions.js';

/** Protocol version of one request (required on modern requests). */
export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
/** Client capabilities relevant to one request (required on modern requests). */
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
/** Client name and version (optional). */
export const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
/** Minimum log level for one request's `notifications/message` (optional; absent: none sent). */
export const META_LOG_LEVEL = 'io.modelcontextprotocol/logLevel';
/** Server name and version, in every modern result's `_meta`. */
export const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
/** The `subscriptions/listen` request id, on every message of that subscription. */
export const META_SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
/** W3C trace context and baggage keys (SEP-414), the one exception to the prefix rule. */
export const TRACE_KEYS = ['traceparent', 'tracestate', 'baggage'] as const;

/** W3C trace context a request carried in `_meta`. */
export interface TraceContext {
  readonly traceparent?: string;
  readonly tracestate?: string;
  readonly baggage?: string;
}

/** The per-request protocol fields of a modern request, checked. */
export interface RequestMeta {
  readonly protocolVersion: string;
  readonly clientCapabilities: Readonly<Record<string, unknown>>;
  readonly clientInfo: { readonly name: string; readonly version: string } | undefined;
  /** The raw `io.modelcontextprotocol/logLevel` (the router checks it against its levels). */
  readonly logLevel: unknown;
  readonly trace: TraceContext | undefined;
}

/**
 * The `_meta` of a modern request, or `undefined` for a legacy one. A request
 * is modern when its `_meta` is an object carrying the protocol-version or the
 * client-capabilities key (either one: a request missing the other is
 * malformed, which {@link readRequestMeta} reports). Keys are read as own
 * data of a JSON-parsed object, so a `__proto__` key is just another key.
 */
export function modernMeta(params: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const meta = params?._meta;
  if (meta === undefined) return undefined;
  if (typeof meta !== 'object' || meta === null) return undefined;
  const m = meta as Record<string, unknown>;
  return m[META_PROTOCOL_VERSION] !== undefined || m[META_CLIENT_CAPABILITIES] !== undefined ? m : undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks the per-request protocol fields of a modern `_meta`.
 *
 * @throws RpcError -32602 when a required field is missing or of the wrong
 *   type (the spec calls such a request malformed); -32022 with
 *   `data: { supported, requested }` when the version is not one we serve.
 */
export function readRequestMeta(meta: Record<string, unknown>): RequestMeta {
  const version = meta[META_PROTOCOL_VERSION];
  if (typeof version !== 'string') {
    throw new RpcError(INVALID_PARAMS, `Invalid params: _meta["${META_PROTOCOL_VERSION}"] (string) is required`);
  }
  if (!isModernVersion(version)) {
    const e = ERRORS.UNSUPPORTED_PROTOCOL_VERSION;
    throw new RpcError(e.rpc, e.message, { supported: [...ALL_PROTOCOL_VERSIONS], requested: version.slice(0, 64) });
  }
  const caps = meta[META_CLIENT_CAPABILITIES];
  if (!isPlainObject(caps)) {
    throw new RpcError(INVALID_PARAMS, `Invalid params: _meta["${META_CLIENT_CAPABILITIES}"] (object) is required`);
  }
  const info = meta[META_CLIENT_INFO];
  let clientInfo: RequestMeta['clientInfo'];
  if (info !== undefined) {
    if (!isPlainObject(info) || typeof info.name !== 'string') {
      throw new RpcError(INVALID_PARAMS, `Invalid params: _meta["${META_CLIENT_INFO}"] should be { name, version }`);
    }
    clientInfo = { name: info.name, version: typeof info.version === 'string' ? info.version : '' };
  }
  return { protocolVersion: version, clientCapabilities: caps, clientInfo, logLevel: meta[META_LOG_LEVEL], trace: readTrace(meta) };
}

/** The trace keys that are strings; other values are ignored (tracing never fails a request). */
function readTrace(meta: Record<string, unknown>): TraceContext | undefined {
  let out: Record<string, string> | undefined;
  for (const key of TRACE_KEYS) {
    const v = meta[key];
    if (typeof v === 'string') (out ??= {})[key] = v;
  }
  return out;
}
