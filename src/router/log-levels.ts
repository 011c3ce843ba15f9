/**
 * MCP log levels: read by the request context (which filters by them) and by
 * the session (logging/setLevel), re-exported with the public types.
 */

/** MCP log levels, least to most severe (RFC 5424 order). */
export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
