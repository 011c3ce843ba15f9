/**
 * The contract between a session (one socket, the wire) and what serves it
 * (the native router, an SDK server, later a gateway upstream).
 *
 * The session owns framing, parsing, the envelope check, batches, metrics,
 * backpressure and lifecycle; the handler owns MCP semantics. A handler sees
 * only messages that passed the envelope check, and answers a request by
 * returning the serialised response (or a promise of it) so the session can
 * time it, count it in flight for draining, and put it in a batch reply.
 */
import type { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../protocol/jsonrpc.js';

/** Who is on the other end, once authenticated. Anonymous sessions have none. */
export interface Identity {
  /** Stable subject (user or client id). */
  readonly subject: string;
  /** Scopes or roles granted. */
  readonly scopes: readonly string[];
  /** Raw claims, when the credential carried any. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/** What a handler may do with its session. */
export interface SessionPeer {
  /** Random id of this session (a UUID). */
  readonly id: string;
  /** Remote IP address as seen by the server. */
  readonly remoteAddress: string;
  /** The authenticated identity, if any. */
  readonly identity: Identity | undefined;
  /** The subprotocol selected at the handshake ('' for none); absent on peers that are not sockets. */
  readonly subprotocol?: string;
  /** False once the socket is closing: what is sent then is dropped. Absent means open. */
  readonly isOpen?: boolean;
  /** The socket's close code once it closed (1006: dropped); absent before, and on peers that are not sockets. */
  readonly closeCode?: number;
  /** Sends one serialised JSON-RPC message. */
  sendText(text: string): void;
  /**
   * Stops (`true`) or restarts (`false`) reading the client's socket, for a
   * handler that cannot take more messages yet (a gateway whose upstream is
   * not reading). Independent of the server's own send-queue backpressure;
   * a held session is not pinged and not closed as a slow consumer.
   */
  holdReading?(hold: boolean): void;
  /**
   * True while the send queue is over the server's backpressure cap
   * (maxBufferedBytes): a handler that produces a stream of messages should
   * stop producing until {@link whenWritable} resolves. Absent: never congested.
   */
  readonly congested?: boolean;
  /** Resolves once the send queue is back under the cap (at once when it is) or the peer closed. */
  whenWritable?(): Promise<void>;
  /** Sends a notification. */
  notify(method: string, params?: Record<string, unknown>): void;
  /** Closes the session with a WebSocket close code. */
  close(code: number, reason: string): void;
}

/** The serialised reply to a request: a string, nothing (cancelled), or a promise of either. */
export type Reply = string | undefined | Promise<string | undefined>;

/** Serves one session. */
export interface SessionHandler {
  /** The negotiated MCP revision, once initialize has been answered. */
  readonly protocolVersion: string | undefined;
  /**
   * True when a fresh handler made by the same factory is brought to this
   * session's state by replaying initialize, notifications/initialized,
   * logging/setLevel and resources/subscribe: cross-node resume (a resume
   * store) may then rebuild the session on another node. Absent: the session
   * resumes in its own process only (a gateway's upstream session, an SDK
   * server's own fields cannot be rebuilt that way).
   */
  readonly rebuildable?: boolean;
  /** Handles a request. Should not throw: a throw or a rejected promise becomes a -32603 reply. */
  request(msg: JsonRpcRequest): Reply;
  /**
   * Handles a notification. Should not throw: a throw (or a rejected promise
   * returned anyway) is logged once, closes the session with 1011, and the
   * handler gets no further messages.
   */
  notification(msg: JsonRpcNotification): void;
  /** Handles a response to a server→client request. Failures as for notification. */
  response(msg: JsonRpcResponse): void;
  /** The socket closed: release everything. A failure is logged. */
  closed(): void;
}

/**
 * A tool argument mirrored in an `Mcp-Param-{Name}` header of Streamable
 * HTTP requests (2026-07-28, SEP-2243 `x-mcp-header`).
 */
export interface HeaderParam {
  /** The header, lowercased: `mcp-param-region`. */
  readonly header: string;
  /** The chain of `properties` keys from the inputSchema root to the argument. */
  readonly path: readonly string[];
}

/**
 * The `x-mcp-header` arguments of a tool, for the HTTP transport to check
 * against the body; undefined when the tool has none (or is unknown).
 */
export type HeaderParamsOf = (tool: string) => readonly HeaderParam[] | undefined;

/** Makes the handler of a new session. A factory that throws closes that session with 1011. */
export type HandlerFactory = (peer: SessionPeer) => SessionHandler;
