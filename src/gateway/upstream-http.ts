/**
 * An upstream Streamable HTTP MCP server, through the SDK's
 * StreamableHTTPClientTransport. The session starts with the client's
 * `initialize` (the server assigns `Mcp-Session-Id`), so nothing is opened
 * ahead of time and `ping` is not possible before initialize; closing sends
 * DELETE to end the server-side session.
 *
 * The configured headers go on every request (the upstream's own
 * credentials); a client's credentials are never forwarded. A request
 * whose `_meta` carries W3C trace context (the gateway's span, when traced)
 * also carries it as `traceparent` / `tracestate` headers, for HTTP
 * middleware that reads trace context from headers.
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
      fetch: (url, init) => fetch(url, withTraceHeaders(init)),
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

/**
 * A POST carrying one traced request gets its `_meta` trace context as
 * headers too. The body is parsed only when it names a traceparent.
 */
function withTraceHeaders(init: RequestInit | undefined): RequestInit | undefined {
  const body = init?.body;
  if (init?.method !== 'POST' || typeof body !== 'string' || !body.includes('"traceparent"')) return init;
  let meta: unknown;
  try {
    meta = (JSON.parse(body) as { params?: { _meta?: unknown } }).params?._meta;
  } catch {
    return init;
  }
  if (typeof meta !== 'object' || meta === null) return init;
  const { traceparent, tracestate } = meta as { traceparent?: unknown; tracestate?: unknown };
  if (typeof traceparent !== 'string') return init;
  const headers = new Headers(init.headers);
  headers.set('traceparent', traceparent);
  if (typeof tracestate === 'string') headers.set('tracestate', tracestate);
  return { ...init, headers };
}
