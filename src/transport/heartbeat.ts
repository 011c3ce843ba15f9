/**
 * Client-side heartbeat: WebSocket pings when the connection is idle, and the
 * end of a socket whose peer stopped answering.
 */
import WebSocket from 'ws';
import { CloseCode } from '../protocol/close-codes.js';
import type { HeartbeatOptions } from './open-options.js';

/**
 * Client-side liveness check. Any inbound frame proves the peer alive; the
 * owner sets {@link Heartbeat.alive} on each message (one store, no timer
 * work on the hot path). After a full interval with no inbound frame it sends
 * a ping; when neither a pong nor any other frame arrives within `timeoutMs`
 * it stops and calls `onTimeout`.
 */
export class Heartbeat {
  /** Set to `true` by the owner on every inbound frame; cleared once per interval. */
  alive = true;
  private readonly ws: WebSocket;
  private readonly options: HeartbeatOptions;
  private readonly onTimeout: () => void;
  private readonly interval: NodeJS.Timeout;
  private timeout: NodeJS.Timeout | undefined;
  private stopped = false;

  /**
   * Starts checking `ws` right away.
   *
   * @param ws an open socket
   * @param options interval and timeout
   * @param onTimeout called once when the peer stays silent past the timeout
   */
  constructor(ws: WebSocket, options: HeartbeatOptions, onTimeout: () => void) {
    this.ws = ws;
    this.options = options;
    this.onTimeout = onTimeout;
    ws.on('pong', this.onPong);
    this.interval = setInterval(this.tick, options.intervalMs);
    this.interval.unref();
  }

  /** Stops the checks; safe to call more than once. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.interval);
    if (this.timeout !== undefined) clearTimeout(this.timeout);
    this.timeout = undefined;
    this.ws.off('pong', this.onPong);
  }

  private readonly onPong = (): void => {
    this.alive = true;
    if (this.timeout !== undefined) {
      clearTimeout(this.timeout);
      this.timeout = undefined;
    }
  };

  private readonly tick = (): void => {
    if (this.timeout !== undefined) return;
    if (this.alive) {
      this.alive = false;
      return;
    }
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.ping();
    this.timeout = setTimeout(this.expire, this.options.timeoutMs);
    this.timeout.unref();
  };

  private readonly expire = (): void => {
    this.timeout = undefined;
    if (this.alive) return;
    this.stop();
    this.onTimeout();
  };
}

/**
 * Ends a socket whose peer missed the heartbeat: a best-effort close frame
 * with {@link CloseCode.HEARTBEAT_TIMEOUT}, then an immediate terminate (a
 * dead peer would never complete the closing handshake). The socket's
 * `close` event reports 1006; callers record 4002 themselves.
 */
export function terminateForHeartbeat(ws: WebSocket): void {
  if (ws.readyState === WebSocket.OPEN) {
    try {
      ws.close(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
    } catch {
      // The socket is going away regardless.
    }
  }
  ws.terminate();
}
