/**
 * Settings of a client session behind the gateway and their defaults: what
 * happens when its upstream session dies, retries of safe requests, and the
 * bound on its requests in flight. No runtime code: option parsing and the
 * gateway session both import it.
 */
import type { BackoffOptions } from '../policy/backoff.js';
import { defineOptions, int, num, oneOf } from '../config/option-set.js';

/** What happens to a client session whose initialized upstream session dies. */
export type UpstreamLostPolicy = 'close' | 'reestablish';

/**
 * The declaration of the gateway's scalar settings: kind, range, default.
 * The gateway's checks, the config file's zod fields (gateway/config.ts) and
 * the stdio children's close grace come from it; meanings are in
 * McpWsGatewayOptions.
 */
export const GATEWAY_OPTIONS = defineOptions({
  requestTimeoutMs: int({ min: 1, default: 60_000 }),
  maxPendingPerClient: int({ min: 1, default: 1024 }),
  onUpstreamLost: oneOf(['close', 'reestablish'] as const satisfies readonly UpstreamLostPolicy[], { default: 'close' }),
  closeGraceMs: int({ min: 0, default: 2_000 }),
});

/** Retries of requests that are safe to repeat. */
export interface RetryConfig extends BackoffOptions {
  /** Retries after the first attempt. Default 2; 0 turns retries off. */
  readonly maxRetries: number;
}

/**
 * The declaration of {@link RetryConfig}: kind, range, default. The
 * gateway's checks (with validateBackoffOptions for maxDelayMs ≥
 * initialDelayMs), the config file's zod fields and the README's table
 * come from it. Defaults: up to 2 retries, full-jitter windows of 100 ms,
 * 200 ms, … capped at 2 s.
 */
export const RETRY_OPTIONS = defineOptions({
  maxRetries: int({ min: 0, default: 2 }),
  initialDelayMs: num({ min: 0, above: true, default: 100 }),
  maxDelayMs: num({ min: 0, above: true, default: 2_000 }),
  multiplier: num({ min: 1, default: 2 }),
});
