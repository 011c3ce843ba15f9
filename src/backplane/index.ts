/** The Redis backplane's public API. */
export { RedisBackplane, createRedisBackplane, type RedisBackplaneOptions, type BackplaneStats, type BackplaneDropReason } from './backplane.js';
export { redisConnection, type SharedRedisConnection, type RedisConnectionTimeouts } from './connection.js';
export { BACKPLANE_VERSION, type Backplane, type BackplaneEvent, type BackplaneListener, type BackplaneState, type ChangedList } from './messages.js';
export { BACKPLANE_OPTIONS, DEFAULT_BACKPLANE_PREFIX, type BackplaneOptions } from './options.js';
