/**
 * One WebSocket connection as an MCP message stream: the wire side of the
 * per-message path.
 *
 * Inbound, top to bottom:
 *
 *   frame (ws: masking, UTF-8, maxPayload)  →  binary? close 1003
 *     → decompress (negotiated codec)        →  1009 / 1007 on failure
 *     → the shared message path (message-core.ts): parse once, batch rules,
 *       envelope, draining, tool scope, rate limit, handler, reply
 *
 * Outbound: one string per message, converted to a Buffer once (so its byte
 * length is free), sent as a text frame. When the socket's queue (plus
 * messages waiting for an async compressor) passes maxBufferedBytes the
 * session stops reading (the client cannot pile up more requests) until the
 * kernel drains the queue; a consumer that stays over for
 * slowConsumerTimeoutMs is closed with 4001.
 *
 * Reading also stops while maxInFlightPerSession requests are in flight,
 * and while MAX_PENDING_DECODES inbound frames wait for an async
 * decompressor. Each is one bit of `pauses`, set and cleared by a counter
 * check; reading resumes when no bit is left. Messages ws had already
 * parsed from the last socket read when reading stopped are held, in order,
 * and dispatched first on resume: at most one read's worth, and nothing
 * is dispatched past a bound.
 *
 * Listeners are module-level functions that find their session through a
 * symbol on the socket, so a connection costs no closures.
 */
import type { Socket } from 'node:net';
import { WebSocket, type RawData } from 'ws';
import { CloseCode } from '../protocol/close-codes.js';
import type { HandlerFactory, SessionPeer } from './handler.js';
import type { VerifiedIdentity } from './auth.js';
import { FrameTracker } from './frame-tracker.js';
import { MessageCore, type CoreHost, type ReplySink } from './message-core.js';
import { CodecError, CODEC_ERROR_CLOSE_CODES } from '../compression/codec.js';
import type { OutboundFrame, WireCodec } from '../compression/wire-codec.js';

/** What a session needs from its server. */
export interface SessionHost extends CoreHost {
  readonly maxBufferedBytes: number;
  /** 0 disables the incomplete-message timeout (and the frame tracking it needs). */
  readonly messageTimeoutMs: number;
  sessionClosed(session: Session): void;
}

const kSession = Symbol('mcp-ws.session');
type SocketWithSession = WebSocket & { [kSession]: Session };

const TEXT_FRAME = { binary: false } as const;
const BINARY_FRAME = { binary: true } as const;

/** Reasons reading is paused (bits of Session.pauses). */
const PAUSE_BUFFERED = 1;
const PAUSE_IN_FLIGHT = 2;
const PAUSE_DECODING = 4;
/** The handler holds reading (SessionPeer.holdReading: a gateway whose upstream is congested). */
const PAUSE_HELD = 8;

/**
 * Inbound frames a session lets wait for its decompressor before it stops
 * reading. Async decodes are only for frames over inlineDecodeMaxBytes, so
 * each may hold up to maxPayload of output: a handful keeps the codec pool
 * (at most 4 calls at once) busy without letting one client queue more.
 */
export const MAX_PENDING_DECODES = 4;

/** One accepted WebSocket connection. */
export class Session extends MessageCore implements SessionPeer, ReplySink {
  declare readonly host: SessionHost;
  readonly openedAt: number;
  /** Last time (coarse ms) anything arrived from the peer. */
  lastSeen: number;
  /** When the pending heartbeat ping was sent; 0 when none is pending. */
  pingSentAt = 0;
  /** When reading was paused because the send queue is over maxBufferedBytes; 0 otherwise. */
  pausedAt = 0;
  /** Why reading is paused: PAUSE_* bits; 0 while reading. */
  private pauses = 0;
  /** A 'drain' listener is on the socket. */
  private drainArmed = false;
  /** Frames (data, isBinary pairs) that arrived while paused. */
  private heldFrames: Array<Buffer | boolean> | undefined;
  /** Decoded messages that came out of the codec while paused; they precede heldFrames. */
  private heldTexts: string[] | undefined;
  /** When the credential expires (ms); 0 when it does not. */
  readonly expiresAt: number;
  /** Since when (coarse ms) a message has been left incomplete; 0 when none is. */
  partialSince = 0;
  private readonly frames: FrameTracker | undefined;
  /** The socket is corked until the end of this tick (see sendText). */
  corked = false;
  /** Callers of whenWritable() waiting for the send queue to fall under the cap. */
  private writeWaiters: Array<() => void> | undefined;
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    host: SessionHost,
    id: string,
    remoteAddress: string,
    identity: VerifiedIdentity | undefined,
    makeHandler: HandlerFactory,
    /** The negotiated codec (binary frames carry compressed messages), if any. */
    private readonly wire?: WireCodec,
  ) {
    super(host, id, remoteAddress, identity);
    this.expiresAt = identity?.expiresAt ?? 0;
    if (host.messageTimeoutMs > 0) {
      this.frames = new FrameTracker();
      socket.on('data', onData);
    }
    this.openedAt = host.now;
    this.lastSeen = host.now;
    (ws as SocketWithSession)[kSession] = this;
    (socket as Socket & { [kSession]?: Session })[kSession] = this;
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('close', onClose);
    ws.on('error', onError);
    // A factory that throws or returns no handler costs this session (1011).
    this.start(makeHandler, this);
  }

  /** Bytes queued for sending and not yet accepted by the kernel, counting messages still being compressed. */
  get bufferedAmount(): number {
    return this.wire === undefined ? this.ws.bufferedAmount : this.ws.bufferedAmount + this.wire.pendingEncodeBytes;
  }

  /** Inbound frames waiting for the decompressor (0 without a codec). */
  get pendingDecodes(): number {
    return this.wire === undefined ? 0 : this.wire.pendingDecodes;
  }

  /** The close code of the socket once closed (1005 when the peer sent none, 1006 when the connection dropped). */
  closeCode: number | undefined = undefined;

  /** True while the send queue is over maxBufferedBytes (see SessionPeer.congested). */
  get congested(): boolean {
    return this.bufferedAmount > this.host.maxBufferedBytes;
  }

  /** Resolves when the send queue is under maxBufferedBytes again, or the session closed. */
  whenWritable(): Promise<void> {
    if (this.closingAt !== 0 || !this.congested) return Promise.resolve();
    return new Promise<void>((resolve) => {
      (this.writeWaiters ??= []).push(resolve);
      if (this.ws.bufferedAmount > 0) this.armDrain();
    });
  }

  /** Wakes the whenWritable() callers once the queue is under the cap (or the session is closing). */
  private wakeWriters(): void {
    const waiters = this.writeWaiters;
    if (waiters === undefined) return;
    if (this.closingAt === 0 && this.congested) {
      if (this.ws.bufferedAmount > 0) this.armDrain();
      return;
    }
    this.writeWaiters = undefined;
    for (const w of waiters) w();
  }

  /** The subprotocol selected at the handshake ('' for none). */
  get subprotocol(): string {
    return this.ws.protocol;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  // ---------------------------------------------------------------- inbound

  /** @internal One WebSocket message. */
  receive(data: RawData, isBinary: boolean): void {
    // Closing: no reply could be sent; the socket is read only for the peer's close frame.
    if (this.closingAt !== 0) return;
    const m = this.host.metrics;
    m.messagesReceived++;
    this.lastSeen = this.host.now;
    this.pingSentAt = 0;
    const buf = data as Buffer;
    m.bytesReceived += buf.length;
    if (this.pauses !== 0) {
      // Parsed from the read that was under way when reading stopped.
      (this.heldFrames ??= []).push(buf, isBinary);
      return;
    }
    this.receiveFrame(buf, isBinary);
  }

  private receiveFrame(buf: Buffer, isBinary: boolean): void {
    if (this.wire !== undefined) {
      // Decompression may finish later; the codec keeps messages in arrival order.
      let text: string | Promise<string>;
      try {
        text = this.wire.receive(buf, isBinary);
      } catch (err) {
        this.codecFailed(err);
        return;
      }
      if (typeof text === 'string') this.receiveText(text);
      else {
        text.then((t) => this.decoded(t), (err: unknown) => this.codecFailed(err));
        if (this.wire.pendingDecodes >= MAX_PENDING_DECODES) this.pause(PAUSE_DECODING);
      }
      return;
    }
    if (isBinary) {
      this.host.metrics.errors.unsupported_data++;
      this.close(CloseCode.UNSUPPORTED_DATA, 'binary frames need a negotiated codec');
      return;
    }
    this.receiveText(buf.toString());
  }

  /** A message out of the async decoder: dispatched, or held while reading is paused. */
  private decoded(text: string): void {
    if (this.closingAt !== 0) return; // the session ended while this message was decoded
    if (this.pauses !== 0) (this.heldTexts ??= []).push(text);
    else this.receiveText(text);
    if ((this.pauses & PAUSE_DECODING) !== 0 && this.wire!.pendingDecodes < MAX_PENDING_DECODES) this.unpause(PAUSE_DECODING);
  }

  /** A message refused by the codec: too big once decompressed (1009) or not valid (1007). */
  private codecFailed(err: unknown): void {
    const code = err instanceof CodecError ? CODEC_ERROR_CLOSE_CODES[err.code] : CloseCode.INTERNAL_ERROR;
    this.host.metrics.errors.codec++;
    this.close(code, err instanceof CodecError ? err.code.toLowerCase() : 'codec failure');
  }

  /** @internal One message's text: the shared message path, with this session as the sink of its replies. */
  receiveText(text: string): void {
    this.receiveMessage(text, this);
  }

  /** @internal ReplySink: a reply goes out as one text frame; no reply (cancelled) sends nothing. */
  reply(text: string | undefined): void {
    if (text !== undefined) this.sendText(text);
  }

  protected override inFlightFull(): void {
    this.pause(PAUSE_IN_FLIGHT);
  }

  protected override inFlightEased(): void {
    if ((this.pauses & PAUSE_IN_FLIGHT) !== 0) this.unpause(PAUSE_IN_FLIGHT);
  }

  // --------------------------------------------------------------- outbound

  /** Sends one serialised JSON-RPC message as a text frame. Dropped once the socket is closing. */
  sendText(text: string): void {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    // Replies produced in one turn of the event loop (a read that carried
    // many requests, or promises that settled together) leave in one writev
    // instead of one system call each: cork now, uncork every corked session
    // in the check phase. setImmediate rather than nextTick so replies that
    // arrive through promises (SDK servers, async tools) batch too.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      corkedSessions.push(this);
      if (corkedSessions.length === 1) setImmediate(uncorkAll);
    }
    const m = this.host.metrics;
    m.messagesSent++;
    if (this.wire !== undefined) {
      const frame = this.wire.encode(text);
      if (frame instanceof Promise) {
        frame.then((f) => this.sendFrame(f), () => this.close(CloseCode.INTERNAL_ERROR, 'codec failure'));
        // Waiting for the compressor counts as queued.
        if (this.pausedAt === 0 && this.bufferedAmount > this.host.maxBufferedBytes) this.pauseReading();
      } else this.sendFrame(frame);
      return;
    }
    const buf = Buffer.from(text);
    m.bytesSent += buf.length;
    ws.send(buf, TEXT_FRAME);
    if (this.pausedAt === 0 && ws.bufferedAmount > this.host.maxBufferedBytes) this.pauseReading();
  }

  private sendFrame(frame: OutboundFrame): void {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    this.host.metrics.bytesSent += typeof frame.data === 'string' ? Buffer.byteLength(frame.data) : frame.data.length;
    ws.send(frame.data, frame.binary ? BINARY_FRAME : TEXT_FRAME);
    if (this.pausedAt === 0) {
      if (this.bufferedAmount > this.host.maxBufferedBytes) this.pauseReading();
    } else if (this.bufferedAmount <= this.host.maxBufferedBytes) {
      // Over the cap because of pending compressions only: no 'drain' will say they are done.
      this.resumeReading();
    }
    if (this.writeWaiters !== undefined) this.wakeWriters();
  }

  /** @internal Flushes what sendText corked. */
  uncork(): void {
    this.socket.uncork();
  }

  /** Sends a notification. */
  notify(method: string, params?: Record<string, unknown>): void {
    this.sendText(JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }));
  }

  /** Starts a close handshake with `code`. Idempotent. */
  close(code: number, reason: string): void {
    if (this.closingAt !== 0) return;
    this.closingAt = this.host.now || 1;
    this.ws.close(code, reason);
    if (this.writeWaiters !== undefined) this.wakeWriters();
    // Read again, whatever paused reading: the peer's close frame has to be
    // read for the handshake to finish. What arrives meanwhile is dropped.
    if (this.pauses !== 0) {
      this.pauses = 0;
      this.heldFrames = undefined;
      this.heldTexts = undefined;
      this.ws.resume();
    }
  }

  /** Drops the connection without a close handshake (dead or hostile peer). */
  terminate(): void {
    this.ws.terminate();
  }

  /**
   * Sends a heartbeat ping. Not while reading is paused: the pong could not
   * be read. A paused session's peer is judged by the slow-consumer timeout
   * (send queue) or not at all (the server's own queues).
   */
  ping(now: number): void {
    if (this.pauses !== 0) {
      this.lastSeen = now;
      return;
    }
    this.pingSentAt = now;
    this.ws.ping();
  }

  /** Stops reading for `reason`. */
  private pause(reason: number): void {
    if (this.closingAt !== 0) return;
    if (this.pauses === 0) {
      this.ws.pause();
      // A message the last read left incomplete, or a pong, waits on this side now, not on the client.
      this.partialSince = 0;
      this.pingSentAt = 0;
    }
    this.pauses |= reason;
  }

  /** Clears `reason`; with none left, dispatches what was held and reads again. */
  private unpause(reason: number): void {
    this.pauses &= ~reason;
    if (this.pauses !== 0) return;
    // Held messages go first, in arrival order; any of them may stop reading again.
    const texts = this.heldTexts;
    if (texts !== undefined) {
      let i = 0;
      while (i < texts.length && this.pauses === 0) this.receiveText(texts[i++]!);
      if (i < texts.length) {
        texts.splice(0, i);
        return;
      }
      this.heldTexts = undefined;
      if (this.pauses !== 0) return;
    }
    const frames = this.heldFrames;
    if (frames !== undefined) {
      let i = 0;
      while (i < frames.length && this.pauses === 0) {
        this.receiveFrame(frames[i] as Buffer, frames[i + 1] as boolean);
        i += 2;
      }
      if (i < frames.length) {
        frames.splice(0, i);
        return;
      }
      this.heldFrames = undefined;
      if (this.pauses !== 0) return;
    }
    if (this.frames !== undefined && this.frames.inMessage) this.partialSince = this.host.now || 1;
    this.ws.resume();
  }

  /** The send queue passed maxBufferedBytes. */
  private pauseReading(): void {
    this.pausedAt = this.host.now || 1;
    this.pause(PAUSE_BUFFERED);
    this.armDrain();
  }

  private armDrain(): void {
    if (this.drainArmed) return;
    this.drainArmed = true;
    this.socket.once('drain', onDrain);
  }

  /** @internal The socket's 'drain'. */
  drained(): void {
    this.drainArmed = false;
    this.resumeReading();
    if (this.writeWaiters !== undefined) this.wakeWriters();
  }

  /** @internal */
  resumeReading(): void {
    if (this.pausedAt === 0) return;
    if (this.bufferedAmount > this.host.maxBufferedBytes) {
      if (this.ws.bufferedAmount > 0) this.armDrain();
      return;
    }
    this.pausedAt = 0;
    this.unpause(PAUSE_BUFFERED);
  }

  /** Reading is held by the handler (see SessionPeer.holdReading). */
  get readingHeld(): boolean {
    return (this.pauses & PAUSE_HELD) !== 0;
  }

  /** Stops or restarts reading for the handler; see SessionPeer.holdReading. */
  holdReading(hold: boolean): void {
    if (hold === this.readingHeld) return;
    if (hold) {
      this.pause(PAUSE_HELD);
      return;
    }
    this.lastSeen = this.host.now;
    this.unpause(PAUSE_HELD);
  }

  /** @internal Raw bytes from the client, for the incomplete-message timeout. */
  onData(chunk: Buffer): void {
    const frames = this.frames!;
    frames.push(chunk);
    if (!frames.inMessage) this.partialSince = 0;
    // While paused the rest of the message waits on this side, so its clock starts on resume.
    else if (this.partialSince === 0 && this.pauses === 0) this.partialSince = this.host.now || 1;
  }

  /** @internal */
  onPong(): void {
    this.pingSentAt = 0;
    this.lastSeen = this.host.now;
  }

  /** @internal */
  onClosed(): void {
    // Closed: anything still arriving (a message out of the async decoder) is dropped.
    if (this.closingAt === 0) this.closingAt = this.host.now || 1;
    if (this.drainArmed) this.socket.removeListener('drain', onDrain);
    this.heldFrames = undefined;
    this.heldTexts = undefined;
    if (this.writeWaiters !== undefined) this.wakeWriters();
    this.host.sessionClosed(this);
    this.handlerClosed();
  }
}

let corkedSessions: Session[] = [];

function uncorkAll(): void {
  const list = corkedSessions;
  corkedSessions = [];
  for (const s of list) {
    s.corked = false;
    s.uncork();
  }
}

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  (this as SocketWithSession)[kSession].receive(data, isBinary);
}

function onPong(this: WebSocket): void {
  (this as SocketWithSession)[kSession].onPong();
}

function onClose(this: WebSocket, code: number): void {
  const session = (this as SocketWithSession)[kSession];
  session.closeCode = code;
  session.onClosed();
}

function onError(this: WebSocket, err: Error & { code?: string }): void {
  const session = (this as SocketWithSession)[kSession];
  // ws has already chosen the close code (1002, 1007, 1009) and is closing.
  session.host.metrics.errors.socket++;
  session.host.logger.debug({ session: session.id, code: err.code, msg: err.message }, 'socket error');
}

function onData(this: Socket, chunk: Buffer): void {
  (this as Socket & { [kSession]?: Session })[kSession]?.onData(chunk);
}

function onDrain(this: Socket): void {
  (this as Socket & { [kSession]?: Session })[kSession]?.drained();
}
