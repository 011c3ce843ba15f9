/**
 * An upstream MCP WebSocket server (another mcp-ws server, or anything that
 * speaks MCP over WebSocket), through our WebSocketClientTransport: subprotocol
 * `mcp`, the configured headers on the upgrade, a client heartbeat, and no
 * reconnect (a new connection would be a new, uninitialized MCP session; the
 * pool replaces lost sessions itself).
 *
 * Backpressure: when the socket's `bufferedAmount` passes
 * {@link WS_UPSTREAM_MAX_BUFFERED} after a send, the connection is
 * `congested` (the gateway stops reading the client) until it falls to half
 * of that, checked every {@link WS_DRAIN_POLL_MS} ms while congested.
 */
import type { Logger } from 'pino';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { WebSocketClientTransport } from '../transport/client-transport.js';
import { SdkTransportConnection } from './upstream.js';
import { redactedUrl, type WsUpstreamSpec } from './upstream-spec.js';

/** Bytes queued on an upstream socket beyond which the connection is congested. */
export const WS_UPSTREAM_MAX_BUFFERED = 1024 * 1024;
/** How often a congested upstream socket is checked for drain. */
export const WS_DRAIN_POLL_MS = 10;

/** Heartbeat on upstream sockets: a silent upstream is found within ~25 s even between health checks. */
const UPSTREAM_HEARTBEAT = { intervalMs: 15_000, timeoutMs: 10_000 } as const;

/** One MCP session over one WebSocket. */
export class WsUpstreamConnection extends SdkTransportConnection {
  /** True while the socket's send buffer is over {@link WS_UPSTREAM_MAX_BUFFERED}. */
  congested = false;
  /** See UpstreamConnection.ondrain. */
  ondrain: (() => void) | undefined;
  private readonly ws: WebSocketClientTransport;

  /**
   * @param spec the member
   * @param _logger unused (the transport reports through onerror)
   * @param connectTimeoutMs time allowed for the upgrade
   */
  constructor(spec: WsUpstreamSpec, _logger?: Logger, connectTimeoutMs = 10_000) {
    const transport = new WebSocketClientTransport(spec.url, {
      headers: { ...spec.headers },
      reconnect: false,
      heartbeat: UPSTREAM_HEARTBEAT,
      connectTimeoutMs,
    });
    super('ws', transport, true, `ws upstream ${redactedUrl(spec.url)}`);
    this.ws = transport;
  }

  /** Sends, then notes congestion when the socket's send buffer is over the cap. */
  override send(message: JSONRPCMessage): void {
    super.send(message);
    if (!this.congested && this.ws.bufferedAmount > WS_UPSTREAM_MAX_BUFFERED) {
      this.congested = true;
      const timer = setInterval(() => {
        // The end of the session ends the wait too.
        if (!this.ended && this.ws.bufferedAmount > WS_UPSTREAM_MAX_BUFFERED / 2) return;
        clearInterval(timer);
        this.congested = false;
        this.ondrain?.();
      }, WS_DRAIN_POLL_MS);
      timer.unref();
    }
  }
}
