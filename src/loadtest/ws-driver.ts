/**
 * The WebSocket driver: one `ws` client per session, as lean as a client can
 * be so the generator stays cheaper than the server it measures.
 *
 * - Frames go out with an all-zero mask, which ws recognises and skips the
 *   XOR for (RFC 6455 wants an unpredictable mask against cache-poisoning
 *   proxies; a load generator talking to its own server has none in between).
 * - Inbound UTF-8 is not re-validated, and compression is off.
 * - The message listener is one module-level function that finds its session
 *   through a symbol: no closure per connection. Per answer: a byte scan for
 *   the id (request-template.ts), one Map lookup, one histogram record.
 */
import { WebSocket, type RawData } from 'ws';
import { INITIALIZED_NOTIFICATION, initializeRequest, lastId, readResponse, Reading } from './request-template.js';
import type { LoadEngine, LoadSession } from './load-engine.js';
import { CODEC_SUBPROTOCOLS, type CodecName } from '../compression/codec.js';
import { createCodec } from '../compression/codecs.js';
import { WireCodec } from '../compression/wire-codec.js';
import { sendMessage } from '../transport/codec-io.js';

/** How to reach the server. */
export interface WsDriverOptions {
  readonly url: string;
  readonly subprotocol: string;
  /** Codec to offer as `mcp.<codec>`; when the server selects it, frames are compressed. */
  readonly codec?: CodecName | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly protocolVersion: string;
  /** With a codec: messages under this many bytes stay text. Default 1024. */
  readonly minCompressSize?: number;
  /** Source address to bind, to spread many sessions over 127.0.0.x. */
  readonly localAddress?: string;
}

const kSession = Symbol('mcp-ws.bench.session');
type Tagged = WebSocket & { [kSession]: WsLoadSession };

const SEND_OPTIONS = { binary: false, compress: false, fin: true } as const;

function zeroMask(mask: Buffer): void {
  mask[0] = 0;
  mask[1] = 0;
  mask[2] = 0;
  mask[3] = 0;
}

/** One WebSocket session of a load run. */
export class WsLoadSession implements LoadSession {
  readonly pending = new Map<number, number>();
  private closing = false;
  private initWaiter: ((reading: Reading) => void) | undefined;
  /** The negotiated codec, when the server selected the one offered. */
  wire: WireCodec | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly engine: LoadEngine,
  ) {
    (ws as Tagged)[kSession] = this;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(_id: number, text: string): void {
    if (this.wire !== undefined) sendMessage(this.ws, this.wire, text);
    else this.ws.send(text, SEND_OPTIONS);
  }

  close(): void {
    this.closing = true;
    // Requests still unanswered (timed out): don't wait for the server to finish them before closing.
    if (this.pending.size > 0) this.ws.terminate();
    else if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }

  /** @internal The socket closed: unless we closed it, what was in flight is lost. */
  closed(code: number): void {
    if (!this.closing) this.engine.sessionLost(this, `connection closed by the server (${code})`);
  }

  /** @internal */
  receive(data: Buffer, isBinary: boolean): void {
    if (this.wire !== undefined) {
      const text = this.wire.receive(data, isBinary);
      if (typeof text === 'string') this.read(Buffer.from(text));
      else text.then((t) => this.read(Buffer.from(t)), () => this.ws.terminate());
      return;
    }
    this.read(data);
  }

  private read(data: Buffer): void {
    const reading = readResponse(data);
    const waiter = this.initWaiter;
    if (waiter !== undefined) {
      if (reading !== Reading.Other && lastId === 0) waiter(reading);
      return;
    }
    this.engine.reply(this, reading);
  }

  /** @internal Sends initialize and notifications/initialized; rejects with a one-line reason. */
  initialize(protocolVersion: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.initWaiter = undefined;
        reject(new Error(`initialize got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.initWaiter = (reading) => {
        clearTimeout(timer);
        this.initWaiter = undefined;
        if (reading === Reading.Ok) {
          this.send(0, INITIALIZED_NOTIFICATION);
          resolve();
        } else reject(new Error('initialize was answered with an error'));
      };
      this.send(0, initializeRequest(protocolVersion));
    });
  }
}

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  (this as Tagged)[kSession].receive(data as Buffer, isBinary);
}

function onClose(this: WebSocket, code: number): void {
  (this as Tagged)[kSession].closed(code);
}

function onError(): void {
  // 'close' follows and accounts for the session.
}

/** Opens one session: WebSocket handshake, then initialize. Rejects with a one-line reason. */
export function openWsSession(options: WsDriverOptions, engine: LoadEngine): Promise<WsLoadSession> {
  return new Promise<WsLoadSession>((resolve, reject) => {
    const protocols = options.subprotocol === '' ? [] : [options.subprotocol];
    if (options.codec !== undefined) protocols.unshift(CODEC_SUBPROTOCOLS[options.codec]);
    const ws = new WebSocket(options.url, protocols, {
      headers: { ...options.headers },
      perMessageDeflate: false,
      skipUTF8Validation: true,
      generateMask: zeroMask,
      handshakeTimeout: options.timeoutMs,
      followRedirects: false,
      ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
    });
    const session = new WsLoadSession(ws, engine);
    let settled = false;
    const failed = (why: string): void => {
      if (settled) return;
      settled = true;
      ws.removeAllListeners();
      ws.on('error', onError);
      ws.terminate();
      reject(new Error(why));
    };
    ws.once('unexpected-response', (_req, res) => {
      failed(`the server answered the WebSocket upgrade with HTTP ${res.statusCode ?? '?'} ${res.statusMessage ?? ''}`.trim());
    });
    ws.once('error', (err: NodeJS.ErrnoException) => failed(err.message || err.code || 'connection failed'));
    ws.once('close', (code: number) => failed(`connection closed during initialize (${code})`));
    ws.on('message', onMessage);
    ws.once('open', () => {
      if (options.codec !== undefined && ws.protocol === CODEC_SUBPROTOCOLS[options.codec]) {
        session.wire = new WireCodec(createCodec(options.codec), { maxPayload: 64 * 1024 * 1024, minCompressSize: options.minCompressSize ?? 1024 });
      }
      session.initialize(options.protocolVersion, options.timeoutMs).then(
        () => {
          if (settled) return;
          settled = true;
          ws.removeAllListeners('close');
          ws.removeAllListeners('error');
          ws.on('close', onClose);
          ws.on('error', onError);
          resolve(session);
        },
        (err: Error) => failed(err.message),
      );
    });
  });
}
