export { McpRouter, type McpRouterOptions, type CacheHint, type CacheHintKind } from './router.js';
export { RouterSession } from './session.js';
export { RequestContext } from './context.js';
export * from './types.js';
