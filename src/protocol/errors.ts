/**
 * The error table: every JSON-RPC error mcp-ws sends on the wire (or, marked
 * client side, rejects a local call with), with its stable string code and,
 * where the error also ends the session, the WebSocket close code the session
 * is closed with, and the HTTP status a Streamable HTTP response carrying it
 * gets (http-reply.ts reads it; in a legacy HTTP session a handler's own
 * error replies stay 200, as the SDK clients expect). docs/PROTOCOL.md documents each row, and
 * test/docs/error-table.test.ts checks both ways that every row is produced
 * by some code path and every code the source sends is a row.
 *
 * Conditions that never reach JSON-RPC (an oversized message, a binary frame
 * without a codec, a slow consumer, refusals before the upgrade) are close
 * codes (close-codes.ts) or HTTP statuses, documented in their own tables.
 *
 * Two families (STYLE.md): wire errors ({@link McpWsError} with a JSON-RPC
 * code, sent to the peer) and local errors (the same class, thrown to the
 * caller of a library function). Both carry `code` (string) so callers can
 * switch on it without parsing messages.
 */
import { INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR } from './jsonrpc.js';

export interface ErrorSpec {
  /** JSON-RPC error code sent on the wire. */
  readonly rpc: number;
  /** Default message. */
  readonly message: string;
  /** WebSocket close code the session is closed with after this error, where the code reads it from here. */
  readonly close?: number;
  /** HTTP status of a Streamable HTTP response that carries this error (see the table in docs/PROTOCOL.md). */
  readonly http: number;
}

export const ERRORS = {
  PARSE_ERROR: { rpc: PARSE_ERROR, message: 'Parse error: the text frame is not valid JSON', http: 400 },
  INVALID_REQUEST: { rpc: INVALID_REQUEST, message: 'Invalid request: not a JSON-RPC 2.0 envelope', http: 400 },
  BATCH_NOT_ALLOWED: { rpc: INVALID_REQUEST, message: 'Invalid request: batches are allowed only with protocol version 2025-03-26', http: 400 },
  EMPTY_BATCH: { rpc: INVALID_REQUEST, message: 'Invalid request: empty batch', http: 400 },
  BATCH_TOO_LARGE: { rpc: INVALID_REQUEST, message: 'Invalid request: batch longer than maxInFlightPerSession', http: 400 },
  METHOD_NOT_FOUND: { rpc: METHOD_NOT_FOUND, message: 'Method not found', http: 404 },
  INVALID_PARAMS: { rpc: INVALID_PARAMS, message: 'Invalid params', http: 200 },
  INVALID_META: { rpc: INVALID_PARAMS, message: 'Invalid params: a required _meta field is missing', http: 400 },
  INTERNAL_ERROR: { rpc: INTERNAL_ERROR, message: 'Internal error', http: 500 },
  NOT_INITIALIZED: { rpc: -32011, message: 'Session not initialized: send initialize first', http: 400 },
  ALREADY_INITIALIZED: { rpc: INVALID_REQUEST, message: 'Session already initialized', http: 400 },
  RESOURCE_NOT_FOUND: { rpc: -32002, message: 'Resource not found', http: 200 },
  SERVER_DRAINING: { rpc: -32010, message: 'Server is shutting down; reconnect elsewhere', http: 503 },
  REQUEST_CANCELLED: { rpc: -32800, message: 'Request cancelled', http: 200 },
  CONNECTION_CLOSED: { rpc: -32000, message: 'Connection closed', http: 200 },
  REQUEST_TIMEOUT: { rpc: -32001, message: 'Request timed out', http: 504 },
  RATE_LIMITED: { rpc: -32012, message: 'Rate limited: retry after data.retryAfterMs', http: 429 },
  FORBIDDEN: { rpc: -32013, message: 'Forbidden: this identity may not call that tool', http: 403 },
  UPSTREAM_UNAVAILABLE: { rpc: -32016, message: 'No upstream MCP server available; try again later', close: 1013, http: 503 },
  UPSTREAM_LOST: { rpc: -32017, message: 'Upstream MCP session lost', close: 4003, http: 502 },
  CLIENT_OVERLOADED: { rpc: -32018, message: 'Too many requests pending for this session', http: 429 },
  SESSION_NOT_RESUMABLE: { rpc: -32019, message: 'Session not resumable: mcpSessionId is unknown, expired or not yours; send initialize to start a new session', http: 400 },
  HEADER_MISMATCH: { rpc: -32020, message: 'Header mismatch: the HTTP headers do not match the request body', http: 400 },
  MISSING_REQUIRED_CLIENT_CAPABILITY: { rpc: -32021, message: 'Missing required client capability', http: 400 },
  UNSUPPORTED_PROTOCOL_VERSION: { rpc: -32022, message: 'Unsupported protocol version', http: 400 },
  TOO_MANY_LISTENS: { rpc: INVALID_REQUEST, message: 'Invalid request: too many subscriptions/listen open on this connection', http: 400 },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

const HTTP_BY_RPC = new Map<number, number>();
for (const spec of Object.values(ERRORS) as ErrorSpec[]) if (!HTTP_BY_RPC.has(spec.rpc)) HTTP_BY_RPC.set(spec.rpc, spec.http);

/**
 * HTTP status of a handler's reply carrying JSON-RPC error `rpc`: the first
 * table row with that code (a later row of the same code that the transport
 * sends itself, such as INVALID_META, carries its own status), else 200 (an
 * application's own error code: the body says what happened).
 */
export function httpStatusOfRpc(rpc: number): number {
  return HTTP_BY_RPC.get(rpc) ?? 200;
}

/** An error with a stable string code and its JSON-RPC code. */
export class McpWsError extends Error {
  readonly code: ErrorCode;
  readonly rpcCode: number;
  readonly data: unknown;

  constructor(code: ErrorCode, message?: string, data?: unknown) {
    super(message ?? ERRORS[code].message);
    this.name = 'McpWsError';
    this.code = code;
    this.rpcCode = ERRORS[code].rpc;
    this.data = data;
  }
}

/**
 * A JSON-RPC error with a numeric code: what a handler throws to answer with
 * a specific code and message (for example -32602 with details), and what
 * the client rejects a call with when the peer answers with an error. Any
 * other value a handler throws becomes -32603 "Internal error" with no
 * message or stack sent to the peer.
 */
export class RpcError extends Error {
  /** JSON-RPC error code, e.g. -32602. */
  readonly code: number;
  /** The same JSON-RPC error code, under the name {@link McpWsError} uses. */
  readonly rpcCode: number;
  /** The error's `data` member, if any. */
  readonly data: unknown;

  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.rpcCode = code;
    this.data = data;
  }
}

/**
 * @deprecated The same class as {@link RpcError}, under its former client-side
 * name; `instanceof` works with either. Use `RpcError`.
 */
export const McpRpcError = RpcError;
/** @deprecated Use {@link RpcError}. */
export type McpRpcError = RpcError;
