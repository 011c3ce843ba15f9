/** The one-line error a failed WebSocket connect rejects with. */

/** Why openWebSocket failed. */
export type ConnectFailure = 'timeout' | 'http' | 'network' | 'aborted';

/** The error openWebSocket rejects with: one line, naming the endpoint and the cause. */
export class WebSocketConnectError extends Error {
  /** What went wrong: timed out, rejected with an HTTP status, network/handshake error, or aborted. */
  readonly kind: ConnectFailure;
  /** HTTP status of a rejected upgrade (`kind === 'http'`). */
  readonly status: number | undefined;

  constructor(kind: ConnectFailure, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WebSocketConnectError';
    this.kind = kind;
    this.status = options.status;
  }
}
