/**
 * WebSocket close codes mcp-ws sends, one table. docs/PROTOCOL.md lists the
 * same table and a test keeps the two in step.
 *
 * 4000–4099 are ours. A client may reconnect after any code marked
 * `reconnect: true`; the others mean "fix something first".
 */
export const CloseCode = {
  /** Normal closure: the client or the server ended the session on purpose. */
  NORMAL: 1000,
  /** Going away: the server is shutting down (graceful drain finished). */
  GOING_AWAY: 1001,
  /** Protocol error in the WebSocket framing. */
  PROTOCOL_ERROR: 1002,
  /** Unsupported data: a binary frame without a negotiated codec. */
  UNSUPPORTED_DATA: 1003,
  /** Invalid frame payload data: a text frame that is not valid UTF-8. */
  INVALID_PAYLOAD: 1007,
  /** Policy violation: authentication expired or a policy closed the session. */
  POLICY_VIOLATION: 1008,
  /** Message too big: over maxPayload. */
  MESSAGE_TOO_BIG: 1009,
  /** Internal error on the server. */
  INTERNAL_ERROR: 1011,
  /** Try again later: the server is overloaded. */
  TRY_AGAIN_LATER: 1013,
  /** Slow consumer: the client did not read its replies and the send queue stayed over its cap. */
  SLOW_CONSUMER: 4001,
  /** Heartbeat timeout: no pong within heartbeat timeoutMs (sent by clients; a server terminates). */
  HEARTBEAT_TIMEOUT: 4002,
  /** Gateway: the upstream MCP session this session was pinned to died; reconnect for a fresh one. */
  UPSTREAM_LOST: 4003,
} as const;

export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/** One row per close code: what it means and whether a client should reconnect. */
export const CLOSE_CODE_TABLE: ReadonlyArray<{ code: number; name: string; reconnect: boolean; meaning: string }> = [
  { code: 1000, name: 'NORMAL', reconnect: false, meaning: 'normal closure' },
  { code: 1001, name: 'GOING_AWAY', reconnect: true, meaning: 'server shutting down after draining' },
  { code: 1002, name: 'PROTOCOL_ERROR', reconnect: false, meaning: 'WebSocket framing error' },
  { code: 1003, name: 'UNSUPPORTED_DATA', reconnect: false, meaning: 'binary frame without a negotiated codec' },
  { code: 1007, name: 'INVALID_PAYLOAD', reconnect: false, meaning: 'text frame that is not valid UTF-8' },
  { code: 1008, name: 'POLICY_VIOLATION', reconnect: false, meaning: 'policy violation (e.g. credential expired)' },
  { code: 1009, name: 'MESSAGE_TOO_BIG', reconnect: false, meaning: 'message larger than maxPayload' },
  { code: 1011, name: 'INTERNAL_ERROR', reconnect: true, meaning: 'unexpected server error' },
  { code: 1013, name: 'TRY_AGAIN_LATER', reconnect: true, meaning: 'server overloaded' },
  { code: 4001, name: 'SLOW_CONSUMER', reconnect: true, meaning: 'send queue stayed over maxBufferedBytes' },
  { code: 4002, name: 'HEARTBEAT_TIMEOUT', reconnect: true, meaning: 'no pong within the heartbeat timeout' },
  { code: 4003, name: 'UPSTREAM_LOST', reconnect: true, meaning: 'gateway: the pinned upstream MCP session died' },
];
