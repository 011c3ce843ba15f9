/**
 * What the gateway reports to clients: its JSON-RPC errors and its close
 * code, beside the tables in src/protocol (errors.ts, close-codes.ts), where
 * they belong once added there.
 */

import { CloseCode } from '../protocol/close-codes.js';
import { ERRORS } from '../protocol/errors.js';

/**
 * 4003 UPSTREAM_LOST (reconnect: yes): the upstream MCP session this client
 * session was pinned to died. Reconnecting gets a fresh session on a healthy
 * upstream; whatever lived in the old upstream session (subscriptions, log
 * level, server-side tool state, tasks) is gone.
 */
export const UPSTREAM_LOST_CLOSE_CODE = CloseCode.UPSTREAM_LOST;

/** The gateway's wire errors: JSON-RPC code, message, and the close code where the error ends the session. */
export const GATEWAY_ERRORS = {
  /** No upstream session could be had: every breaker open, or the pool full past acquireTimeoutMs. Closes with 1013. */
  UPSTREAM_UNAVAILABLE: ERRORS.UPSTREAM_UNAVAILABLE,
  /** The pinned upstream session died with this request in flight. Closes with 4003 (unless re-established). */
  UPSTREAM_LOST: ERRORS.UPSTREAM_LOST,
  /** The upstream did not answer within requestTimeoutMs; `notifications/cancelled` went upstream. Same code as REQUEST_TIMEOUT. */
  UPSTREAM_TIMEOUT: { rpc: ERRORS.REQUEST_TIMEOUT.rpc, message: 'Upstream did not answer in time' },
  /**
   * The client has twice maxPendingPerClient messages held by the gateway
   * (reading it had already stopped at the limit): the request was not
   * forwarded. `data.limit` is the limit. A notification in that state
   * closes the session with 1013.
   */
  CLIENT_OVERLOADED: ERRORS.CLIENT_OVERLOADED,
} as const;

/** A gateway error name. */
export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

/** Local errors of the pool and upstreams (thrown to library callers), with a stable string code. */
export class GatewayError extends Error {
  /**
   * Stable code:
   * - `ACQUIRE_TIMEOUT`: no session within acquireTimeoutMs (pool full, or a session still opening).
   * - `NO_HEALTHY_UPSTREAM`: the same deadline passed while every breaker was open.
   * - `POOL_CLOSED`: the pool closed; every waiter, queued or being served by an open, gets it.
   * - `ACQUIRE_ABORTED`: the caller's AbortSignal aborted while it waited (its client went away).
   * - `UPSTREAM_START_FAILED`: a session could not be started within connectTimeoutMs.
   * - `UPSTREAM_CLOSED`: the session ended with a call of the pool's own in flight.
   * - `PING_TIMEOUT`: a ping (or probe request) of the pool's own was not answered in time.
   */
  readonly code: string;

  /**
   * @param code stable string code
   * @param message one line, naming what failed
   */
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatewayError';
    this.code = code;
  }
}
