export { McpRouter, RouterSession, type McpRouterOptions } from './router.js';
export { RequestContext } from './context.js';
export * from './types.js';
