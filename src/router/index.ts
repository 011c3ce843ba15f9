export { McpRouter, type McpRouterOptions, type CacheHint, type CacheHintKind } from './router.js';
export { RouterSession } from './session.js';
export { RequestContext, PARTIAL_RESULTS_CAPABILITY } from './context.js';
export * from './types.js';
export { relayStream, sdkStreamTarget, StreamTimeoutError, type RelayOptions, type RelayResult, type SdkRequestExtra, type StreamOpener, type StreamTarget } from './stream.js';
