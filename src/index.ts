/**
 * mcp-ws: the production WebSocket layer for the Model Context Protocol.
 *
 * Server:  McpWsServer + McpRouter (native) or SdkHost (any SDK server)
 * Client:  WebSocketClientTransport (SDK Transport) and McpWsClient
 */
export { McpWsServer, type ServerAddress } from './server/server.js';
export { resolveServerOptions, type McpWsServerOptions, type HandlerSource } from './server/server-options.js';
export type { Identity, SessionPeer, SessionHandler, HandlerFactory, Reply } from './server/handler.js';
export * from './router/index.js';
export { SdkHost, SdkSessionTransport, sdkGenerationOf, type SdkGeneration, type SdkServerFactory, type SdkServerLike, type SdkSessionInfo, type SdkHostOptions } from './sdk/sdk-host.js';
export * from './protocol/index.js';
export { ServerMetrics, LatencyHistogram, createRegistry, LATENCY_BUCKETS, type MetricsSnapshot, type MethodLatency } from './metrics/metrics.js';
export type { ServerSnapshot, Rates } from './observe/snapshot.js';
export { createLogger, silentLogger, type LoggerOptions } from './log.js';
export { createDemoRouter, COUNTER_URI, type DemoRouterOptions } from './demo/demo-router.js';
export { memoryCounter, redisCounter, type DemoCounter } from './demo/counter.js';
export * from './backplane/index.js';
export { ServeConfigSchema, parseServeConfig, loadConfigFile, ConfigError, type ServeConfig } from './config/schema.js';
export * from './transport/index.js';
export { McpWsGateway } from './gateway/gateway.js';
export { McpWsFederation, type McpWsFederationOptions, type FederatedServerOptions } from './gateway/federation.js';
export { UpstreamPool } from './gateway/pool.js';
export { POOL_PRESETS } from './gateway/pool-config.js';
export { CircuitBreaker } from './policy/circuit-breaker.js';
export { parseUpstream, parseUpstreams } from './gateway/config.js';
export { GATEWAY_ERRORS, GatewayError, UPSTREAM_LOST_CLOSE_CODE } from './gateway/errors.js';
export * from './ratelimit/index.js';
export * from './llm/index.js';
