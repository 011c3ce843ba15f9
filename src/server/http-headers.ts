/**
 * Streamable HTTP request headers that mirror the body (MCP 2026-07-28,
 * SEP-2243): `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`. A load
 * balancer may route on a header while the server executes the body, so
 * when the two disagree the request is refused with 400 and -32020
 * (HEADER_MISMATCH) before any handler sees it.
 *
 * Which requests are checked: every request that is 2026-07-28 by its
 * header or by its body's `_meta` protocol version. Such a request whose
 * `_meta` lacks the protocol version or the client capabilities is refused
 * with 400 and -32602 (INVALID_META), as the spec asks of a malformed one. A client cannot skip the
 * check by leaving a header out: a body that says 2026-07-28 requires all of
 * them. Older requests (legacy sessions) carry only MCP-Protocol-Version,
 * which must name a revision this server speaks.
 */
import { SUPPORTED_PROTOCOL_VERSIONS } from '../protocol/versions.js';
import type { JsonRpcRequest } from '../protocol/jsonrpc.js';
import type { HeaderParam } from './handler.js';

/** The stateless revision whose requests carry their version in `_meta`. */
export const STATELESS_PROTOCOL_VERSION = '2026-07-28';

/** Where a 2026-07-28 request's `_meta` names its revision. */
const META_VERSION = 'io.modelcontextprotocol/protocolVersion';

/** Methods whose `Mcp-Name` header mirrors `params.name` or `params.uri`. */
const NAMED: Readonly<Record<string, 'name' | 'uri'>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
};

/** Revisions an MCP-Protocol-Version header may name. */
export function isSupportedVersion(v: string): boolean {
  return v === STATELESS_PROTOCOL_VERSION || SUPPORTED_PROTOCOL_VERSIONS.includes(v);
}

/** Every revision this transport accepts, for the UNSUPPORTED_PROTOCOL_VERSION error's data. */
export function supportedVersions(): string[] {
  return [STATELESS_PROTOCOL_VERSION, ...SUPPORTED_PROTOCOL_VERSIONS];
}

/** The revision a request's `_meta` names, if any. */
export function metaVersion(msg: JsonRpcRequest): unknown {
  const meta = msg.params?._meta as Record<string, unknown> | undefined;
  return typeof meta === 'object' && meta !== null ? meta[META_VERSION] : undefined;
}

/** One header's value, or undefined when absent; a repeated header is malformed (its values joined by ", "). */
function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Characters a plain header value may hold (RFC 9110 field-vchar, SP, HTAB). */
const PLAIN = /^[\x20-\x7e\t]*$/;
const SENTINEL = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/;

/**
 * Decodes an `Mcp-Name` or `Mcp-Param-{Name}` value: plain ASCII as is
 * (a value not wrapped in both `=?base64?` and `?=` is literal), a wrapped
 * value as the UTF-8 its Base64 encodes. Undefined when the value holds
 * invalid characters, or is wrapped around Base64 that is not canonical
 * (bad characters or padding) or bytes that are not UTF-8.
 */
export function decodeHeaderValue(v: string): string | undefined {
  if (!PLAIN.test(v)) return undefined;
  if (!v.startsWith('=?base64?') || !v.endsWith('?=') || v.length < 11) return v;
  const m = SENTINEL.exec(v);
  if (m === null) return undefined;
  const bytes = Buffer.from(m[1]!, 'base64');
  const text = bytes.toString('utf8');
  // Base64 that does not round-trip exactly (padding included), or bytes that are not UTF-8, are not a value.
  if (bytes.toString('base64') !== m[1]! || Buffer.byteLength(text) !== bytes.length) return undefined;
  return text;
}

/**
 * What is wrong with a request's headers: nothing (null), or the refusal —
 * an unsupported version (-32022), headers that disagree with the body
 * (-32020), or a 2026-07-28 request whose `_meta` lacks a required field
 * (-32602: the spec calls it malformed and asks for 400 on HTTP).
 */
export type VersionProblem =
  | { readonly kind: 'unsupported'; readonly requested: string }
  | { readonly kind: 'mismatch'; readonly message: string }
  | { readonly kind: 'malformed'; readonly message: string };

/** Where a 2026-07-28 request's `_meta` declares the client's capabilities. */
const META_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';

/** True for a 2026-07-28 request by its MCP-Protocol-Version header or its body's `_meta` version. */
export function isStatelessRequest(headers: Record<string, string | string[] | undefined>, msg: JsonRpcRequest): boolean {
  return one(headers['mcp-protocol-version']) === STATELESS_PROTOCOL_VERSION || metaVersion(msg) === STATELESS_PROTOCOL_VERSION;
}

/**
 * Checks a request's mirrored headers against its body. Returns null when
 * they agree (or the request is of an older revision that mirrors nothing
 * but its version), else the problem.
 */
export function checkRequestHeaders(headers: Record<string, string | string[] | undefined>, msg: JsonRpcRequest): VersionProblem | null {
  const version = one(headers['mcp-protocol-version']);
  if (version !== undefined && !isSupportedVersion(version)) return { kind: 'unsupported', requested: version };
  const bodyVersion = metaVersion(msg);
  if (version !== STATELESS_PROTOCOL_VERSION && bodyVersion !== STATELESS_PROTOCOL_VERSION) {
    // An older revision: nothing else is mirrored. A body naming some other version in _meta is the handler's business.
    return null;
  }
  if (version === undefined) return mismatch('MCP-Protocol-Version header is required');
  // No version in the body (or not a string) is a missing required field, not a disagreement.
  if (typeof bodyVersion !== 'string') return malformed(`_meta["${META_VERSION}"] (string) is required`);
  if (bodyVersion !== version) return mismatch(`MCP-Protocol-Version header value '${version}' does not match body value '${shown(bodyVersion)}'`);
  const caps = (msg.params!._meta as Record<string, unknown>)[META_CAPABILITIES];
  if (typeof caps !== 'object' || caps === null || Array.isArray(caps)) return malformed(`_meta["${META_CAPABILITIES}"] (object) is required`);
  const method = one(headers['mcp-method']);
  if (method === undefined) return mismatch('Mcp-Method header is required');
  if (method !== msg.method) return mismatch(`Mcp-Method header value '${method}' does not match body value '${msg.method}'`);
  // Own members only: a method named 'constructor' or 'toString' is not a named method.
  const field = Object.hasOwn(NAMED, msg.method) ? NAMED[msg.method] : undefined;
  if (field !== undefined) {
    const raw = one(headers['mcp-name']);
    if (raw === undefined) return mismatch('Mcp-Name header is required');
    const name = decodeHeaderValue(raw);
    if (name === undefined) return mismatch('Mcp-Name header value is malformed');
    const body = msg.params?.[field];
    if (name !== body) return mismatch(`Mcp-Name header value does not match body params.${field}`);
  }
  return null;
}

/** A decoded header value against the body value it mirrors: strings as is, integers numerically, booleans as "true"/"false". */
function sameValue(header: string, body: unknown): boolean {
  if (typeof body === 'string') return header === body;
  if (typeof body === 'number') return header.trim() !== '' && Number(header) === body;
  if (typeof body === 'boolean') return header === String(body);
  return false;
}

/**
 * Checks the `Mcp-Param-{Name}` headers of a 2026-07-28 tools/call against
 * the arguments they mirror (SEP-2243): a value in the body needs its header,
 * decoded equal; a header without a value in the body, or one that does not
 * decode, is refused too. Null when they agree or the tool mirrors nothing.
 */
export function checkParamHeaders(
  headers: Record<string, string | string[] | undefined>,
  msg: JsonRpcRequest,
  params: readonly HeaderParam[] | undefined,
): VersionProblem | null {
  if (params === undefined) return null;
  const args = msg.params?.arguments;
  for (const p of params) {
    let value: unknown = args;
    for (const key of p.path) value = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
    const raw = one(headers[p.header]);
    const name = `Mcp-Param-${p.header.slice(10)}`;
    if (value === undefined || value === null) {
      if (raw !== undefined) return mismatch(`${name} header has no value in the body to mirror`);
      continue;
    }
    if (raw === undefined) return mismatch(`${name} header is required`);
    const decoded = decodeHeaderValue(raw);
    if (decoded === undefined) return mismatch(`${name} header value is malformed`);
    if (!sameValue(decoded, value)) return mismatch(`${name} header value does not match body params.arguments.${p.path.join('.')}`);
  }
  return null;
}

function malformed(message: string): VersionProblem {
  return { kind: 'malformed', message: `Invalid params: ${message}` };
}

/**
 * A body value as the error shows it. Never String(): parsed JSON can hold
 * an object whose own `toString` is not a function, which String() throws on.
 */
function shown(v: unknown): string {
  const text = typeof v === 'string' ? v : (JSON.stringify(v) ?? 'undefined');
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

function mismatch(message: string): VersionProblem {
  return { kind: 'mismatch', message: `Header mismatch: ${message}` };
}
