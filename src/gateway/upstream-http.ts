/**
 * An upstream Streamable HTTP MCP server, through the SDK's
 * StreamableHTTPClientTransport. The session starts with the client's
 * `initialize` (the server assigns `Mcp-Session-Id`), so nothing is opened
 * ahead of time and `ping` is not possible before initialize; closing sends
 * DELETE to end the server-side session.
 *
 * The configured headers go on every request (the upstream's own
 * credentials); a client's credentials are never forwarded.
 */
import type { Logger } from 'pino';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { SdkTransportConnection } from './upstream.js';
import { redactedUrl, type HttpUpstreamSpec } from './upstream-spec.js';

/** One MCP session with a Streamable HTTP server. */
export class HttpUpstreamConnection extends SdkTransportConnection {
  private readonly http: StreamableHTTPClientTransport;

  /**
   * @param spec the member
   * @param _logger unused (the transport reports through onerror)
   */
  constructor(spec: HttpUpstreamSpec, _logger?: Logger) {
    const transport = new StreamableHTTPClientTransport(new URL(spec.url), {
      requestInit: { headers: { ...spec.headers } },
      // The standalone SSE stream may reconnect briefly; a longer outage is the pool's business.
      reconnectionOptions: { initialReconnectionDelay: 250, maxReconnectionDelay: 2_000, reconnectionDelayGrowFactor: 2, maxRetries: 2 },
    });
    super('http', transport, false, `http upstream ${redactedUrl(spec.url)}`);
    this.http = transport;
  }

  /** A 404 means the server forgot the session (restarted, expired): the session is over. */
  protected override sendFailed(err: unknown, message: JSONRPCMessage): void {
    super.sendFailed(err, message);
    if (err instanceof StreamableHTTPError && err.code === 404 && this.http.sessionId !== undefined) {
      this.end('session not found (HTTP 404)');
    }
  }

  /** Ends the server-side session. */
  protected override async beforeClose(): Promise<void> {
    if (this.http.sessionId !== undefined) await this.http.terminateSession();
  }
}
