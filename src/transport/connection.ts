/**
 * One open client WebSocket as a stream of JSON-RPC messages, shared by both
 * clients (`McpWsClient` and `WebSocketClientTransport`): it owns the socket,
 * decodes frames through the negotiated codec, parses and classifies each
 * message once, runs the heartbeat, maps the close (4002 after a heartbeat
 * timeout), and reports all of it to one listener. A listener that throws is
 * reported as an error; the connection goes on.
 *
 * Per inbound message: one flag store, the codec step, one `JSON.parse`, one
 * `classify`, one listener call. No allocation beyond the parse.
 */
import type { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { CloseCode } from '../protocol/close-codes.js';
import { classify, Kind } from '../protocol/jsonrpc.js';
import {
  Heartbeat,
  closeGracefully,
  receiveMessage,
  sendMessage,
  terminateForHeartbeat,
  wireFor,
  type ResolvedConnectOptions,
} from './open.js';
import type { WireCodec } from '../compression/wire-codec.js';

/** A WebSocket close as a client saw it. */
export interface CloseInfo {
  /** Close code; 4002 when the heartbeat ended the connection, 1006 when the socket just dropped. */
  readonly code: number;
  /** Close reason sent by the peer, often empty. */
  readonly reason: string;
}

/** What a {@link Connection} reports to. Each call is guarded: a throw is reported through `onError`. */
export interface ConnectionListener {
  /** One valid JSON-RPC message; `kind` is `Kind.Request`, `Kind.Response` or `Kind.Notification`. */
  onMessage(message: unknown, kind: Kind): void;
  /** A non-fatal problem: a bad frame, a socket error, a heartbeat timeout, a throwing listener. */
  onError(error: Error): void;
  /** The socket closed; called once. */
  onClose(info: CloseInfo): void;
}

/** One open client socket, read and watched for its owner. */
export class Connection {
  /** The negotiated codec, when the server selected one offered. */
  readonly wire: WireCodec | undefined;
  private readonly ws: WebSocket;
  private readonly options: ResolvedConnectOptions;
  private readonly listener: ConnectionListener;
  private readonly peer: string | undefined;
  private readonly heartbeat: Heartbeat | undefined;
  private heartbeatExpired = false;
  private _closeInfo: CloseInfo | undefined;

  /**
   * Takes over an open (paused) socket from `openWebSocket` and starts reading.
   *
   * @param ws the open socket
   * @param options resolved connect options (codecs, heartbeat, highWaterMark)
   * @param listener receives messages, errors and the close
   * @param peer how error messages name the server (a redacted URL), if at all
   */
  constructor(ws: WebSocket, options: ResolvedConnectOptions, listener: ConnectionListener, peer?: string) {
    this.ws = ws;
    this.options = options;
    this.listener = listener;
    this.peer = peer;
    this.wire = wireFor(ws, options);
    ws.on('message', this.handleMessage);
    ws.on('close', this.handleClose);
    ws.on('error', this.handleError);
    const hb = options.heartbeat;
    this.heartbeat = hb === false ? undefined : new Heartbeat(ws, hb, this.handleHeartbeatTimeout);
    ws.resume();
  }

  /** True while messages can be sent. */
  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** The subprotocol the server selected (`'mcp'`, or a codec variant). */
  get protocol(): string {
    return this.ws.protocol;
  }

  /** Bytes queued on the socket and not yet written out. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** How the socket closed, once it has. */
  get closeInfo(): CloseInfo | undefined {
    return this._closeInfo;
  }

  /** Sends one serialised message (through the codec when there is one). */
  send(text: string): void {
    sendMessage(this.ws, this.wire, text);
  }

  /**
   * Sends one serialised message. Resolves at once while the socket's buffer
   * is under `highWaterMark`, otherwise once the frame is written out.
   */
  sendBuffered(text: string): Promise<void> {
    const ws = this.ws;
    if (ws.bufferedAmount < this.options.highWaterMark) {
      sendMessage(ws, this.wire, text);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      sendMessage(ws, this.wire, text, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * Starts the closing handshake and resolves once the socket is closed (a
   * peer that does not answer within 2 s is cut off). Rejects, without
   * closing, on an invalid code or reason.
   */
  close(code: number = CloseCode.NORMAL, reason = ''): Promise<void> {
    return closeGracefully(this.ws, code, reason);
  }

  /** Stops the heartbeat, e.g. while the owner closes the connection itself. */
  stopHeartbeat(): void {
    this.heartbeat?.stop();
  }

  /** Destroys the socket at once; `onClose` follows with 1006. */
  terminate(): void {
    this.ws.terminate();
  }

  /** Reports `err` to the listener's `onError`; a throwing error listener is ignored. */
  reportError(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    try {
      this.listener.onError(error);
    } catch {
      // An error listener that throws must not break the socket's event loop.
    }
  }

  private readonly handleMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
    if (this.heartbeat !== undefined) this.heartbeat.alive = true;
    receiveMessage(this.wire, data as Buffer, isBinary, this.handleText, this.handleError);
  };

  private readonly handleText = (text: string): void => {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      this.reportError(new Error(`Ignored a text frame that is not valid JSON: ${(err as Error).message}`));
      return;
    }
    const kind = classify(msg);
    if (kind === Kind.Invalid) {
      const shown = text.length > 200 ? `${text.slice(0, 200)}...` : text;
      this.reportError(new Error(`Ignored a message that is not a valid JSON-RPC 2.0 message: ${shown}`));
      return;
    }
    try {
      this.listener.onMessage(msg, kind);
    } catch (err) {
      this.reportError(err);
    }
  };

  private readonly handleError = (err: Error): void => {
    this.reportError(err);
  };

  private readonly handleHeartbeatTimeout = (): void => {
    this.heartbeatExpired = true;
    const hb = this.options.heartbeat;
    const from = this.peer === undefined ? '' : ` from ${this.peer}`;
    this.reportError(
      new Error(`Heartbeat timeout: no pong${from} within ${hb === false ? 0 : hb.timeoutMs} ms; connection terminated`),
    );
    terminateForHeartbeat(this.ws);
  };

  private readonly handleClose = (code: number, reasonBuffer: Buffer): void => {
    const ws = this.ws;
    ws.off('message', this.handleMessage);
    ws.off('close', this.handleClose);
    this.heartbeat?.stop();
    const info: CloseInfo = this.heartbeatExpired
      ? { code: CloseCode.HEARTBEAT_TIMEOUT, reason: 'heartbeat timeout' }
      : { code, reason: reasonBuffer.toString() };
    this._closeInfo = info;
    try {
      this.listener.onClose(info);
    } catch (err) {
      this.reportError(err);
    }
  };
}

/**
 * Emits `event` to each of `emitter`'s listeners in turn; one that throws is
 * reported to `onError` and the rest still run, so a faulty listener cannot
 * stop the state machine that emits.
 */
export function emitGuarded<T>(
  emitter: Pick<EventEmitter, 'rawListeners'>,
  event: string,
  arg: T,
  onError: (err: unknown) => void,
): void {
  const listeners = emitter.rawListeners(event) as ((this: unknown, arg: T) => void)[];
  for (const listener of listeners) {
    try {
      listener.call(emitter, arg);
    } catch (err) {
      onError(err);
    }
  }
}
