/**
 * An upstream MCP WebSocket server (another mcp-ws server, or anything that
 * speaks MCP over WebSocket), through our WebSocketClientTransport: subprotocol
 * `mcp`, the configured headers on the upgrade, a client heartbeat, and no
 * reconnect (a new connection would be a new, uninitialized MCP session; the
 * pool replaces lost sessions itself).
 */
import type { Logger } from 'pino';
import { WebSocketClientTransport } from '../transport/client-transport.js';
import { SdkTransportConnection, redactedUrl, type WsUpstreamSpec } from './upstream.js';

/** Heartbeat on upstream sockets: a silent upstream is found within ~25 s even between health checks. */
const UPSTREAM_HEARTBEAT = { intervalMs: 15_000, timeoutMs: 10_000 } as const;

/** One MCP session over one WebSocket. */
export class WsUpstreamConnection extends SdkTransportConnection {
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
  }
}
