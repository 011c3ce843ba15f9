/**
 * Streamable HTTP request headers that mirror the body (MCP 2026-07-28,
 * SEP-2243): `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`. A load
 * balancer may route on a header while the server executes the body, so
 * when the two disagree the request is refused with 400 and -32020
 * (HEADER_MISMATCH) before any handler sees it.
 *
 * Which requests are checked: every request that is 2026-07-28 by its
 * header or by its body's `_meta` protocol version. A client cannot skip the
 * check by leaving a header out: a body that says 2026-07-28 requires all of
 * them. Older requests (legacy sessions) carry only MCP-Protocol-Version,
 * which must name a revision this server speaks.
 */
import { SUPPORTED_PROTOCOL_VERSIONS } from '../protocol/versions.js';
import type { JsonRpcRequest } from '../protocol/jsonrpc.js';

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
 * Decodes an `Mcp-Name` value: plain ASCII as is, `=?base64?…?=` as the
 * UTF-8 it encodes. Undefined when the value holds invalid characters or a
 * malformed sentinel.
 */
export function decodeHeaderValue(v: string): string | undefined {
  if (!PLAIN.test(v)) return undefined;
  if (!v.startsWith('=?base64?')) return v;
  const m = SENTINEL.exec(v);
  if (m === null) return undefined;
  const bytes = Buffer.from(m[1]!, 'base64');
  const text = bytes.toString('utf8');
  // Base64 that does not round-trip, or bytes that are not UTF-8, are not a value.
  if (bytes.toString('base64').replace(/=+$/, '') !== m[1]!.replace(/=+$/, '') || Buffer.byteLength(text) !== bytes.length) return undefined;
  return text;
}

/** What is wrong with a request's version header: nothing (null), or the refusal. */
export type VersionProblem = { readonly kind: 'unsupported'; readonly requested: string } | { readonly kind: 'mismatch'; readonly message: string };

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
  if (bodyVersion !== version) return mismatch(`MCP-Protocol-Version header value '${version}' does not match body value '${shown(bodyVersion)}'`);
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
