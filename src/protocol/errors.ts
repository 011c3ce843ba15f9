/**
 * The error table: every JSON-RPC error mcp-ws sends on the wire (or, marked
 * client side, rejects a local call with), with its stable string code and,
 * where the error also ends the session, the WebSocket close code the session
 * is closed with. docs/PROTOCOL.md documents each row, and
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
}

export const ERRORS = {
  PARSE_ERROR: { rpc: PARSE_ERROR, message: 'Parse error: the text frame is not valid JSON' },
  INVALID_REQUEST: { rpc: INVALID_REQUEST, message: 'Invalid request: not a JSON-RPC 2.0 envelope' },
  BATCH_NOT_ALLOWED: { rpc: INVALID_REQUEST, message: 'Invalid request: batches are allowed only with protocol version 2025-03-26' },
  EMPTY_BATCH: { rpc: INVALID_REQUEST, message: 'Invalid request: empty batch' },
  BATCH_TOO_LARGE: { rpc: INVALID_REQUEST, message: 'Invalid request: batch longer than maxInFlightPerSession' },
  METHOD_NOT_FOUND: { rpc: METHOD_NOT_FOUND, message: 'Method not found' },
  INVALID_PARAMS: { rpc: INVALID_PARAMS, message: 'Invalid params' },
  INTERNAL_ERROR: { rpc: INTERNAL_ERROR, message: 'Internal error' },
  NOT_INITIALIZED: { rpc: -32011, message: 'Session not initialized: send initialize first' },
  ALREADY_INITIALIZED: { rpc: INVALID_REQUEST, message: 'Session already initialized' },
  RESOURCE_NOT_FOUND: { rpc: -32002, message: 'Resource not found' },
  SERVER_DRAINING: { rpc: -32010, message: 'Server is shutting down; reconnect elsewhere' },
  REQUEST_CANCELLED: { rpc: -32800, message: 'Request cancelled' },
  CONNECTION_CLOSED: { rpc: -32000, message: 'Connection closed' },
  REQUEST_TIMEOUT: { rpc: -32001, message: 'Request timed out' },
  RATE_LIMITED: { rpc: -32012, message: 'Rate limited: retry after data.retryAfterMs' },
  FORBIDDEN: { rpc: -32013, message: 'Forbidden: this identity may not call that tool' },
  UPSTREAM_UNAVAILABLE: { rpc: -32016, message: 'No upstream MCP server available; try again later', close: 1013 },
  UPSTREAM_LOST: { rpc: -32017, message: 'Upstream MCP session lost', close: 4003 },
  CLIENT_OVERLOADED: { rpc: -32018, message: 'Too many requests pending for this session' },
  SESSION_NOT_RESUMABLE: { rpc: -32019, message: 'Session not resumable: mcpSessionId is unknown, expired or not yours; send initialize to start a new session' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

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
