/**
 * Opening a WebSocket with clear errors. The other pieces both clients share
 * live beside it — options (open-options.ts), message I/O through a codec
 * (codec-io.ts), the connect error (connect-error.ts), the heartbeat
 * (heartbeat.ts) and a bounded close (close.ts) — and are re-exported here.
 */
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { WebSocketConnectError } from './connect-error.js';
import {
  parseWebSocketUrl,
  redactUrl,
  resolveConnectOptions,
  type ResolvedConnectOptions,
  type WebSocketConnectOptions,
} from './open-options.js';


/** Longest refusal reason an upgrade error quotes from the server's body. */
const MAX_REASON_CHARS = 200;
export {
  CONNECT_OPTION_KEYS,
  DEFAULT_CONNECT_OPTIONS,
  DEFAULT_HEARTBEAT,
  MCP_SUBPROTOCOL,
  checkOptionKeys,
  parseWebSocketUrl,
  redactUrl,
  resolveConnectOptions,
  type HeartbeatOptions,
  type ResolvedConnectOptions,
  type WebSocketConnectOptions,
} from './open-options.js';
export { receiveMessage, sendMessage, wireFor } from './codec-io.js';
export { WebSocketConnectError, type ConnectFailure } from './connect-error.js';
export { Heartbeat, terminateForHeartbeat } from './heartbeat.js';
export { CLOSE_GRACE_MS, closeGracefully } from './close.js';

/**
 * Opens a WebSocket and resolves once it is open.
 *
 * Rejects with a {@link WebSocketConnectError}:
 * - `connect ECONNREFUSED ...` and other network or handshake errors (`kind: 'network'`);
 * - `... timed out after N ms` when `connectTimeoutMs` passes first (`kind: 'timeout'`);
 * - `WebSocket upgrade rejected: HTTP 503 Service Unavailable` when the server
 *   answers the upgrade with a status (`kind: 'http'`, `status` set);
 * - `... aborted` when `signal` fires (`kind: 'aborted'`).
 *
 * The socket is resolved **paused** so that no frame can be emitted before the
 * caller has attached its `message` listener: attach listeners, then call
 * `ws.resume()`.
 *
 * @param url `ws:` / `wss:` URL of the server
 * @param options connection options (only the connection-level ones are used here)
 * @param signal aborts the attempt
 */
export function openWebSocket(
  url: string | URL,
  options: WebSocketConnectOptions = {},
  signal?: AbortSignal,
): Promise<WebSocket> {
  let target: URL;
  let opts: ResolvedConnectOptions;
  try {
    target = parseWebSocketUrl(url);
    opts = resolveConnectOptions(options);
  } catch (err) {
    return Promise.reject(err);
  }
  const where = redactUrl(target);

  return new Promise<WebSocket>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new WebSocketConnectError('aborted', `WebSocket connect to ${where} aborted`));
      return;
    }
    const ws = new WebSocket(target, opts.protocols.length > 0 ? [...opts.protocols] : undefined, {
      headers: { ...opts.headers },
      maxPayload: opts.maxPayload,
      perMessageDeflate: opts.perMessageDeflate,
      followRedirects: false,
    });
    let settled = false;

    const fail = (err: WebSocketConnectError): void => {
      if (settled) return;
      settled = true;
      cleanup();
      ws.terminate();
      reject(err);
    };
    const onTimeout = (): void => {
      fail(new WebSocketConnectError('timeout', `WebSocket connect to ${where} timed out after ${opts.connectTimeoutMs} ms`));
    };
    const onAbort = (): void => {
      fail(new WebSocketConnectError('aborted', `WebSocket connect to ${where} aborted`));
    };
    // Stays attached for the life of the socket: after settling it swallows
    // the error ws emits when terminate() aborts a handshake.
    const onError = (err: Error): void => {
      if (settled) return;
      let detail = err.message;
      if (/subprotocol/i.test(detail)) detail += ` (offered: ${opts.protocols.join(', ') || 'none'})`;
      fail(new WebSocketConnectError('network', `WebSocket connect to ${where} failed: ${detail}`, { cause: err }));
    };
    // The refusal's reason, when the server gives one: the first line of a
    // short text/plain body (e.g. the versions it speaks), bounded in size.
    const onUnexpectedResponse = (_req: unknown, res: IncomingMessage): void => {
      const status = res.statusCode ?? 0;
      const text = res.statusMessage ? ` ${res.statusMessage}` : '';
      const rejected = (reason: string): void =>
        fail(new WebSocketConnectError('http', `WebSocket upgrade rejected: HTTP ${status}${text}${reason} (${where})`, { status }));
      if (!String(res.headers['content-type'] ?? '').startsWith('text/plain')) {
        res.resume();
        rejected('');
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length >= MAX_REASON_CHARS) res.destroy();
      });
      const done = (): void => {
        const line = body.split('\n', 1)[0]!.slice(0, MAX_REASON_CHARS).trim();
        rejected(line === '' ? '' : `: ${line}`);
      };
      res.once('end', done);
      res.once('close', done);
      res.once('error', done);
    };
    const onOpen = (): void => {
      if (settled) return;
      settled = true;
      cleanup();
      ws.pause();
      resolve(ws);
    };
    const timer = setTimeout(onTimeout, opts.connectTimeoutMs);
    function cleanup(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      ws.off('open', onOpen);
      ws.off('unexpected-response', onUnexpectedResponse);
    }

    signal?.addEventListener('abort', onAbort, { once: true });
    ws.on('error', onError);
    ws.on('open', onOpen);
    ws.on('unexpected-response', onUnexpectedResponse);
  });
}
