export { McpRouter, type McpRouterOptions } from './router.js';
export { RouterSession } from './session.js';
export { RequestContext } from './context.js';
export * from './types.js';
