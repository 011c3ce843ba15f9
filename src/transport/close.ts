/** Closing a client socket within a bounded time. */
import WebSocket from 'ws';

/** How long a closing handshake may take before the socket is terminated. */
export const CLOSE_GRACE_MS = 2_000;

/**
 * Starts the closing handshake and resolves once the socket is closed. A peer
 * that does not answer within `graceMs` gets the socket terminated.
 */
export function closeGracefully(ws: WebSocket, code = 1000, reason = '', graceMs = CLOSE_GRACE_MS): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => ws.terminate(), graceMs);
    timer.unref();
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (ws.readyState === WebSocket.CONNECTING) {
      ws.terminate();
    } else if (ws.readyState === WebSocket.OPEN) {
      try {
        ws.close(code, reason);
      } catch (err) {
        clearTimeout(timer);
        reject(err);
      }
    }
  });
}
