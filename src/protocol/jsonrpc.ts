/**
 * JSON-RPC 2.0 envelope: types, and the one check every inbound message passes
 * before dispatch.
 *
 * The check is deliberately shallow and allocation-free: it looks at the
 * envelope fields only (jsonrpc, id, method, params, result, error) and leaves
 * params to the method's own validation. It runs once per message on the hot
 * path, so it is a handful of typeof tests, not a schema library.
 */

/** A JSON-RPC id as MCP allows it: a string or an integer (never null in a request). */
export type RequestId = string | number;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: RequestId;
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcSuccess {
  jsonrpc: '2.0';
  id: RequestId;
  result: unknown;
}

export interface JsonRpcFailure {
  jsonrpc: '2.0';
  id: RequestId | null;
  error: JsonRpcErrorObject;
}

export type JsonRpcResponse = JsonRpcSuccess | JsonRpcFailure;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/** Standard JSON-RPC 2.0 error codes. */
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;

/** What {@link classify} found in one parsed value. */
export const enum Kind {
  Request = 1,
  Notification = 2,
  Response = 3,
  Invalid = 4,
}

/**
 * Classifies one parsed JSON value as a JSON-RPC message. Returns
 * {@link Kind.Invalid} for anything that is not a well-formed envelope:
 * wrong or missing `jsonrpc`, an id that is neither a string nor an integer,
 * a non-string method, params that are not an object (MCP uses by-name
 * params only), or a response with both or neither of result/error.
 */
export function classify(msg: unknown): Kind {
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return Kind.Invalid;
  const m = msg as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return Kind.Invalid;
  const method = m.method;
  if (method !== undefined) {
    if (typeof method !== 'string') return Kind.Invalid;
    const params = m.params;
    if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
      return Kind.Invalid;
    }
    if (!('id' in m)) return Kind.Notification;
    return isRequestId(m.id) ? Kind.Request : Kind.Invalid;
  }
  // A response: exactly one of result / error, and an id (null allowed on errors).
  const hasResult = 'result' in m;
  const hasError = 'error' in m;
  if (hasResult === hasError) return Kind.Invalid;
  if (hasResult) return isRequestId(m.id) ? Kind.Response : Kind.Invalid;
  const err = m.error as Record<string, unknown> | null;
  if (typeof err !== 'object' || err === null || typeof err.code !== 'number' || typeof err.message !== 'string') {
    return Kind.Invalid;
  }
  return m.id === null || isRequestId(m.id) ? Kind.Response : Kind.Invalid;
}

/** True for a string or a safe integer: the ids MCP allows. */
export function isRequestId(id: unknown): id is RequestId {
  return typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id));
}

/**
 * The id to echo in an error reply to an invalid message: the message's own id
 * when it is a valid id, otherwise null (JSON-RPC 2.0 §5).
 */
export function idForError(msg: unknown): RequestId | null {
  if (typeof msg === 'object' && msg !== null && !Array.isArray(msg)) {
    const id = (msg as Record<string, unknown>).id;
    if (isRequestId(id)) return id;
  }
  return null;
}

/** Serialises an error reply. Kept here so every error reply has one shape. */
export function errorReply(id: RequestId | null, code: number, message: string, data?: unknown): string {
  const error: JsonRpcErrorObject = data === undefined ? { code, message } : { code, message, data };
  return JSON.stringify({ jsonrpc: '2.0', id, error });
}
