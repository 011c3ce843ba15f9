/**
 * A session's codec on the wire: which messages go compressed, which frame
 * type carries them, what runs inline and what off the event loop, and the
 * order messages come out in.
 *
 * Outbound (encode):
 *
 *   text ─► under minCompressSize? ─► text frame (no work)
 *        ─► up to inlineMaxBytes?  ─► compress inline
 *        ─► larger                 ─► compress off the loop (shared limiter)
 *        ─► not smaller than the original? ─► text frame, else binary frame
 *
 * Inbound (receive/decode): a text frame is the message; a binary frame is
 * decompressed, capped at maxPayload (over it: CodecError MESSAGE_TOO_BIG,
 * close 1009; not a valid compressed message or not UTF-8: CodecError
 * INVALID_COMPRESSED_DATA, close 1007), inline up to inlineDecodeMaxBytes
 * of compressed input, off the loop above.
 *
 * Order: while an async call is pending, later results of the same
 * direction are chained behind it, so promises resolve in call order and a
 * session that sends (or dispatches) each result as it resolves keeps the
 * message order of the stream. With nothing pending, small messages stay
 * synchronous: the common path allocates no promise.
 */
import { isUtf8 } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { CodecError, type Codec } from './codec.js';
import type { ResolvedCompressionConfig } from './config.js';
import { AsyncLimiter, codecLimiter } from './limiter.js';
import { DEFAULT_INLINE_DECODE_MAX_BYTES, DEFAULT_INLINE_MAX_BYTES, DEFAULT_MIN_COMPRESS_SIZE } from './options.js';
import { compressionStats, type CodecStats } from './stats.js';

export { DEFAULT_INLINE_DECODE_MAX_BYTES, DEFAULT_INLINE_MAX_BYTES, DEFAULT_MIN_COMPRESS_SIZE } from './options.js';

/** Options of {@link WireCodec}. */
export interface WireCodecOptions {
  /** Largest decompressed message, bytes: the session's maxPayload. Required. */
  maxPayload: number;
  /** Messages under this many bytes go as text frames. Default 1024. */
  minCompressSize?: number;
  /** Messages up to this many bytes are compressed inline, larger ones off the event loop. Default: {@link DEFAULT_INLINE_MAX_BYTES} of the codec. */
  inlineMaxBytes?: number;
  /** Binary frames up to this many (compressed) bytes are decompressed inline. Default: {@link DEFAULT_INLINE_DECODE_MAX_BYTES} of the codec. */
  inlineDecodeMaxBytes?: number;
  /** Bounds async calls in flight. Default: the process-wide {@link codecLimiter}. */
  limiter?: AsyncLimiter;
  /** Counters to add to. Default: `compressionStats[codec.name]`. */
  stats?: CodecStats;
}

/** One outbound message: what to pass to `ws.send` and whether as a binary frame. */
export interface OutboundFrame {
  readonly data: Buffer | string;
  readonly binary: boolean;
}

function nonNegative(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} should be a non-negative integer, got ${String(v)}`);
  return v;
}

function noop(): void {}

/** The codec of one session: encode outbound messages, decode inbound frames. */
export class WireCodec {
  readonly codec: Codec;
  readonly maxPayload: number;
  readonly minCompressSize: number;
  readonly inlineMaxBytes: number;
  readonly inlineDecodeMaxBytes: number;
  private readonly limiter: AsyncLimiter;
  private readonly stats: CodecStats;
  private outPending = 0;
  private outTail: Promise<OutboundFrame> | undefined;
  /**
   * Size of the outbound messages handed to encode whose frame is not out
   * yet (UTF-16 units for strings: bytes for the ASCII of JSON). The session
   * counts it with its socket's queue against maxBufferedBytes.
   */
  pendingEncodeBytes = 0;
  private inPending = 0;
  private inTail: Promise<string> | undefined;
  // Made on first async use: most sessions never go async and pay no closures.
  private inSettled: (() => void) | undefined;

  /** @throws {RangeError} naming an invalid option. */
  constructor(codec: Codec, options: WireCodecOptions) {
    this.codec = codec;
    if (!Number.isSafeInteger(options.maxPayload) || options.maxPayload < 1) {
      throw new RangeError(`maxPayload should be a positive integer, got ${String(options.maxPayload)}`);
    }
    this.maxPayload = options.maxPayload;
    this.minCompressSize = nonNegative('minCompressSize', options.minCompressSize ?? DEFAULT_MIN_COMPRESS_SIZE);
    this.inlineMaxBytes = nonNegative('inlineMaxBytes', options.inlineMaxBytes ?? DEFAULT_INLINE_MAX_BYTES[codec.name]);
    this.inlineDecodeMaxBytes = nonNegative('inlineDecodeMaxBytes', options.inlineDecodeMaxBytes ?? DEFAULT_INLINE_DECODE_MAX_BYTES[codec.name]);
    this.limiter = options.limiter ?? codecLimiter;
    this.stats = options.stats ?? compressionStats[codec.name];
  }

  /** Async encodes and decodes not yet settled. */
  get pending(): number {
    return this.outPending + this.inPending;
  }

  /** Inbound frames whose message text is not out yet (an async decode, or queued behind one). */
  get pendingDecodes(): number {
    return this.inPending;
  }

  // --------------------------------------------------------------- outbound

  /**
   * One outbound message as the frame to send. Synchronous unless the
   * message is over inlineMaxBytes or an earlier async encode is pending;
   * promises resolve in call order and never reject (a failed compression
   * sends the message as text).
   */
  encode(message: string | Buffer): OutboundFrame | Promise<OutboundFrame> {
    const r = this.encodeNow(message);
    if (this.outPending === 0 && !(r instanceof Promise)) return r;
    const prev = this.outTail;
    const p = prev === undefined ? Promise.resolve(r) : prev.then(() => r);
    const size = message.length;
    this.outPending++;
    this.pendingEncodeBytes += size;
    this.outTail = p;
    // Runs before the caller's own then: by the time it sends the frame, the frame no longer counts as pending.
    void p.then(() => {
      this.pendingEncodeBytes -= size;
      if (--this.outPending === 0) this.outTail = undefined;
    });
    return p;
  }

  private encodeNow(message: string | Buffer): OutboundFrame | Promise<OutboundFrame> {
    const min = this.minCompressSize;
    let buf: Buffer;
    if (typeof message === 'string') {
      // UTF-8 takes at most 3 bytes per UTF-16 unit: no need to convert to know it is small.
      if (message.length * 3 < min) {
        this.stats.belowMinSize++;
        return { data: message, binary: false };
      }
      buf = Buffer.from(message, 'utf8');
    } else {
      buf = message;
    }
    if (buf.length < min) {
      this.stats.belowMinSize++;
      return { data: buf, binary: false };
    }
    if (buf.length > this.inlineMaxBytes) return this.encodeAsync(buf);
    const t0 = performance.now();
    let out: Buffer;
    try {
      out = this.codec.compressSync(buf);
    } catch {
      this.stats.compressErrors++;
      return { data: buf, binary: false };
    }
    this.stats.compressSeconds += (performance.now() - t0) / 1000;
    return this.framed(buf, out);
  }

  private encodeAsync(buf: Buffer): Promise<OutboundFrame> {
    const t0 = performance.now();
    const codec = this.codec;
    return this.limiter.run(() => codec.compress(buf)).then(
      (out) => {
        this.stats.compressSeconds += (performance.now() - t0) / 1000;
        this.stats.compressedAsync++;
        return this.framed(buf, out);
      },
      () => {
        this.stats.compressErrors++;
        return { data: buf, binary: false };
      },
    );
  }

  private framed(original: Buffer, compressed: Buffer): OutboundFrame {
    const s = this.stats;
    if (compressed.length >= original.length) {
      s.incompressible++;
      return { data: original, binary: false };
    }
    s.compressed++;
    s.compressBytesIn += original.length;
    s.compressBytesOut += compressed.length;
    return { data: compressed, binary: true };
  }

  // ---------------------------------------------------------------- inbound

  /**
   * One inbound frame as message text: a text frame as it is, a binary
   * frame decompressed. Synchronous unless the frame is over
   * inlineDecodeMaxBytes or an earlier async decode is pending; results
   * resolve in arrival order.
   *
   * @throws {CodecError} (or rejects with it) MESSAGE_TOO_BIG / INVALID_COMPRESSED_DATA:
   *   close the session with `err.closeCode`.
   */
  receive(data: Buffer, isBinary: boolean): string | Promise<string> {
    if (isBinary) return this.decode(data);
    if (this.inPending === 0) return data.toString();
    return this.inOrder(data.toString());
  }

  /** A binary frame's message text; see {@link WireCodec.receive}. */
  decode(data: Buffer): string | Promise<string> {
    let r: string | Promise<string>;
    try {
      r = this.decodeNow(data);
    } catch (err) {
      if (this.inPending === 0) throw err;
      r = Promise.reject(err);
    }
    if (this.inPending === 0 && typeof r === 'string') return r;
    return this.inOrder(r);
  }

  private inOrder(r: string | Promise<string>): Promise<string> {
    // Mark a rejection handled now: it is re-thrown, in order, by the chained promise.
    if (r instanceof Promise) r.catch(noop);
    const prev = this.inTail;
    const p = prev === undefined ? Promise.resolve(r) : prev.then(() => r, () => r);
    p.catch(noop);
    this.inPending++;
    this.inTail = p;
    this.inSettled ??= () => {
      if (--this.inPending === 0) this.inTail = undefined;
    };
    void p.then(this.inSettled, this.inSettled);
    return p;
  }

  private decodeNow(data: Buffer): string | Promise<string> {
    if (data.length > this.inlineDecodeMaxBytes) return this.decodeAsync(data);
    const t0 = performance.now();
    let out: Buffer;
    try {
      out = this.codec.decompressSync(data, this.maxPayload);
    } catch (err) {
      throw this.refused(err);
    }
    this.stats.decompressSeconds += (performance.now() - t0) / 1000;
    return this.text(data, out);
  }

  private decodeAsync(data: Buffer): Promise<string> {
    const t0 = performance.now();
    const codec = this.codec;
    const max = this.maxPayload;
    return this.limiter.run(() => codec.decompress(data, max)).then(
      (out) => {
        this.stats.decompressSeconds += (performance.now() - t0) / 1000;
        return this.text(data, out);
      },
      (err: unknown) => {
        throw this.refused(err);
      },
    );
  }

  private text(compressed: Buffer, out: Buffer): string {
    const s = this.stats;
    if (!isUtf8(out)) {
      s.invalid++;
      throw new CodecError('INVALID_COMPRESSED_DATA', `${this.codec.name}: decompressed message is not valid UTF-8`);
    }
    s.decompressed++;
    s.decompressBytesIn += compressed.length;
    s.decompressBytesOut += out.length;
    return out.toString('utf8');
  }

  private refused(err: unknown): Error {
    if (err instanceof CodecError) {
      if (err.code === 'MESSAGE_TOO_BIG') this.stats.tooBig++;
      else this.stats.invalid++;
    }
    return err as Error;
  }
}

/**
 * The wire codec of a session whose handshake selected `codec`
 * (`negotiator.codecFor(ws.protocol)`), with the configured thresholds.
 *
 * @param maxPayload The server's maxPayload: the cap on a decompressed message.
 */
export function createWireCodec(codec: Codec, config: ResolvedCompressionConfig, maxPayload: number): WireCodec {
  const options: ConstructorParameters<typeof WireCodec>[1] = { maxPayload, minCompressSize: config.minCompressSize };
  if (config.inlineMaxBytes !== undefined) options.inlineMaxBytes = config.inlineMaxBytes;
  if (config.inlineDecodeMaxBytes !== undefined) options.inlineDecodeMaxBytes = config.inlineDecodeMaxBytes;
  return new WireCodec(codec, options);
}
