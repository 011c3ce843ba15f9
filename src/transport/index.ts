/**
 * Client side of mcp-ws: the SDK transport, the standalone JSON-RPC client,
 * and the pieces they share.
 */
export {
  fullJitterDelay,
  validateBackoffOptions,
  type BackoffOptions,
} from '../policy/backoff.js';
export {
  CLOSE_GRACE_MS,
  CONNECT_OPTION_KEYS,
  DEFAULT_CONNECT_OPTIONS,
  DEFAULT_HEARTBEAT,
  Heartbeat,
  MCP_SUBPROTOCOL,
  WebSocketConnectError,
  closeGracefully,
  openWebSocket,
  parseWebSocketUrl,
  redactUrl,
  resolveConnectOptions,
  type ConnectFailure,
  type HeartbeatOptions,
  type ResolvedConnectOptions,
  type WebSocketConnectOptions,
} from './open.js';
export {
  DEFAULT_RECONNECT,
  WebSocketClientTransport,
  isReconnectableClose,
  isRetryableConnectError,
  resolveClientTransportOptions,
  type ClientTransportEvents,
  type ClientTransportState,
  type CloseInfo,
  type ReconnectOptions,
  type ResolvedClientTransportOptions,
  type WebSocketClientTransportOptions,
} from './client-transport.js';
export {
  ConnectionClosedError,
  DEFAULT_CLIENT_INFO,
  McpWsClient,
  resolveMcpWsClientOptions,
  type ClientCloseInfo,
  type ClientInfo,
  type DiscoverResult,
  type InitializeResult,
  type McpWsClientOptions,
  type NotificationHandler,
  type Params,
  type RequestHandler,
  type RequestOptions,
  type ResolvedMcpWsClientOptions,
} from './client.js';
