/**
 * Upstreams: the MCP servers the gateway forwards to, behind one interface.
 *
 *   UpstreamSpec        what the config says about one member (upstream-spec.ts)
 *   UpstreamConnection  one MCP session with it; for stdio, one child process
 *
 * Implementations, one file each:
 *   upstream-ws.ts     another MCP WebSocket server (our WebSocketClientTransport)
 *   upstream-http.ts   a Streamable HTTP MCP server (the SDK's StreamableHTTPClientTransport)
 *   upstream-stdio.ts  a command run as a child process, line-delimited JSON on its stdio
 *
 * A connection is a message pipe, like the SDK's Transport: it knows nothing
 * of ids, pools or clients. It delivers each inbound message parsed once, and
 * reports its end once through `onclose`.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { UpstreamKind, UpstreamSpec } from './upstream-spec.js';

/** One upstream MCP session. */
export interface UpstreamConnection {
  /** What it talks to. */
  readonly kind: UpstreamKind;
  /**
   * True when the upstream answers `ping` before `initialize` (ws, stdio: the
   * session exists once connected). False for Streamable HTTP, where a
   * session only exists after initialize.
   */
  readonly preInitPing: boolean;
  /** Each inbound message, parsed once. */
  onmessage: ((message: JSONRPCMessage) => void) | undefined;
  /** A problem that did not end the session; `message` is the outbound message that failed, if any. */
  onerror: ((error: Error, message?: JSONRPCMessage) => void) | undefined;
  /** Called once when the session ended, whoever ended it. */
  onclose: ((reason: string) => void) | undefined;
  /**
   * True while the upstream is not taking writes as fast as they come (a
   * stdio child's stdin pipe is full, a WebSocket's send buffer is over its
   * cap). Messages sent meanwhile are still buffered, but the sender should
   * stop producing until `ondrain`. Absent: the transport has no such signal.
   */
  readonly congested?: boolean;
  /** Called when a congested connection can take writes again. */
  ondrain?: (() => void) | undefined;
  /** Connects (spawns, opens the socket). Rejects with a one-line error naming the upstream. */
  start(): Promise<void>;
  /** Sends one message. Never throws; failures go to `onerror` or end the session. Check `congested` after. */
  send(message: JSONRPCMessage): void;
  /** Tells the transport the negotiated protocol version (Streamable HTTP sends it as a header). */
  setProtocolVersion(version: string): void;
  /** Ends the session (for stdio: ends stdin, then SIGTERM, then SIGKILL). Idempotent. */
  close(): Promise<void>;
}

/** Makes connections to one member. */
export type UpstreamConnector = (spec: UpstreamSpec, logger: Logger) => UpstreamConnection;

/**
 * Adapts any SDK `Transport` to {@link UpstreamConnection}: the WebSocket and
 * Streamable HTTP upstreams are SDK transports.
 */
export class SdkTransportConnection implements UpstreamConnection {
  /** See {@link UpstreamConnection.onmessage}. */
  onmessage: ((message: JSONRPCMessage) => void) | undefined;
  /** See {@link UpstreamConnection.onerror}. */
  onerror: ((error: Error, message?: JSONRPCMessage) => void) | undefined;
  /** See {@link UpstreamConnection.onclose}. */
  onclose: ((reason: string) => void) | undefined;
  /** Set once the session is over. */
  protected ended = false;
  private closeReported = false;
  private closing: Promise<void> | undefined;

  /**
   * @param kind what the transport talks to
   * @param transport an SDK transport, not started
   * @param preInitPing whether the upstream answers ping before initialize
   * @param describe names the upstream in error messages
   */
  constructor(
    readonly kind: UpstreamKind,
    private readonly transport: Transport,
    readonly preInitPing: boolean,
    private readonly describe: string,
  ) {
    transport.onmessage = (m: JSONRPCMessage) => this.onmessage?.(m);
    transport.onerror = (e: Error) => this.onerror?.(e);
    transport.onclose = () => this.end('transport closed');
  }

  /** Starts the transport; a failure names the upstream. */
  async start(): Promise<void> {
    try {
      await this.transport.start();
    } catch (err) {
      this.ended = true;
      throw new Error(`cannot connect to ${this.describe}: ${firstLine(err)}`, { cause: err });
    }
  }

  /** Sends one message; a rejected send goes to `onerror` with the message. */
  send(message: JSONRPCMessage): void {
    if (this.ended) {
      this.onerror?.(new Error(`${this.describe}: session closed`), message);
      return;
    }
    this.transport.send(message).catch((err: unknown) => this.sendFailed(err, message));
  }

  /** A failed send: reported with the message; subclasses may end the session. */
  protected sendFailed(err: unknown, message: JSONRPCMessage): void {
    this.onerror?.(err instanceof Error ? err : new Error(String(err)), message);
  }

  /** Forwards the negotiated version to transports that use it. */
  setProtocolVersion(version: string): void {
    this.transport.setProtocolVersion?.(version);
  }

  /** Closes the transport. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Runs before the transport is closed (Streamable HTTP ends its session with DELETE). */
  protected async beforeClose(): Promise<void> {}

  private async shutdown(): Promise<void> {
    try {
      await this.beforeClose();
      await this.transport.close();
    } catch {
      // Closing is best effort: the session is gone either way.
    }
    this.end('closed by the gateway');
  }

  /** Reports the end once. */
  protected end(reason: string): void {
    this.ended = true;
    if (this.closeReported) return;
    this.closeReported = true;
    this.onclose?.(reason);
  }
}

/** First line of an error's message. */
export function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!;
}
