/**
 * gzip, deflate and brotli through node:zlib: the sync one-shot functions on
 * the calling thread, the callback ones on the libuv thread pool.
 *
 * Decompression is capped with zlib's `maxOutputLength`: Node checks the
 * running output total after every output chunk and throws `RangeError`
 * `ERR_BUFFER_TOO_LARGE` as soon as it passes the cap, so a bomb costs at
 * most the cap plus one chunk, never its declared size. The chunk here is
 * never larger than the cap + 1 (at least 16 KiB), and the contract tests
 * check both the largest allocation and RSS over 200 bombs.
 *
 * Tuning, measured with bench/micro-compression.ts:
 * - The output chunk is sized to the message (zlib's default is 16 KiB and
 *   every chunk is a round trip to JS, and async a thread-pool hop): on a
 *   1 MiB message that cut async gunzip from 10.9 to 3.0 ms of CPU (main
 *   thread 5.5 → 1.1 ms) and async brotli-4 from 26.6 to 16.7 ms.
 * - memLevel, windowBits and brotli's LGWIN/MODE moved speed and ratio by
 *   a few percent at most on 10 KB messages, within run-to-run noise, so
 *   zlib's defaults stay; brotli gets BROTLI_PARAM_SIZE_HINT.
 * - What bounds small messages is Node's per-call setup (a new zlib stream
 *   per one-shot call, ~5–10 µs), not the algorithm.
 */
import zlib from 'node:zlib';
import { checkCap, CODEC_SUBPROTOCOLS, invalidData, tooBig, type Codec, type CodecName } from './codec.js';
import { CODEC_LEVELS } from './options.js';

/** The algorithms node:zlib implements here. */
export type ZlibCodecName = Extract<CodecName, 'gzip' | 'deflate' | 'br'>;

/** Levels each zlib algorithm accepts, and the default (declared in options.ts). */
export const ZLIB_LEVELS: Readonly<Record<ZlibCodecName, Readonly<{ min: number; max: number; default: number }>>> = Object.freeze({
  gzip: CODEC_LEVELS.gzip,
  deflate: CODEC_LEVELS.deflate,
  br: CODEC_LEVELS.br,
});

type Callback = (err: Error | null, out: Buffer) => void;
type Sync = (buf: Buffer, opts: zlib.ZlibOptions | zlib.BrotliOptions) => Buffer;
type Async = (buf: Buffer, opts: zlib.ZlibOptions | zlib.BrotliOptions, cb: Callback) => void;

interface Functions {
  compressSync: Sync;
  compress: Async;
  decompressSync: Sync;
  decompress: Async;
}

const FUNCTIONS: Record<ZlibCodecName, Functions> = {
  gzip: { compressSync: zlib.gzipSync, compress: zlib.gzip, decompressSync: zlib.gunzipSync, decompress: zlib.gunzip },
  deflate: { compressSync: zlib.deflateSync, compress: zlib.deflate, decompressSync: zlib.inflateSync, decompress: zlib.inflate },
  br: {
    compressSync: zlib.brotliCompressSync,
    compress: zlib.brotliCompress,
    decompressSync: zlib.brotliDecompressSync,
    decompress: zlib.brotliDecompress,
  },
};

const { BROTLI_PARAM_QUALITY, BROTLI_PARAM_SIZE_HINT } = zlib.constants;

/** zlib's default output chunk, and the largest one used. */
const MIN_CHUNK = 16 * 1024;
const MAX_CHUNK = 1024 * 1024;

/** gzip, deflate (zlib-wrapped, RFC 1950) or brotli at one level. */
export class ZlibCodec implements Codec {
  readonly name: ZlibCodecName;
  readonly subprotocol: string;
  readonly level: number;
  private readonly fn: Functions;
  /** gzip/deflate options for messages that fit the default chunk, built once. */
  private readonly zlibOptions: zlib.ZlibOptions;

  /**
   * @param name `gzip`, `deflate` or `br`.
   * @param level gzip/deflate 0–9 (default 6), brotli quality 0–11 (default 4).
   * @throws {RangeError} for an unknown name or a level out of range.
   */
  constructor(name: ZlibCodecName, level?: number) {
    const range = ZLIB_LEVELS[name];
    if (range === undefined) throw new RangeError(`zlib codec should be gzip, deflate or br, got ${JSON.stringify(name)}`);
    const lvl = level ?? range.default;
    if (!Number.isInteger(lvl) || lvl < range.min || lvl > range.max) {
      throw new RangeError(`${name} level should be an integer ${range.min}–${range.max}, got ${String(level)}`);
    }
    this.name = name;
    this.subprotocol = CODEC_SUBPROTOCOLS[name];
    this.level = lvl;
    this.fn = FUNCTIONS[name];
    this.zlibOptions = { level: lvl, chunkSize: MIN_CHUNK };
  }

  compressSync(input: Buffer): Buffer {
    return this.fn.compressSync(input, this.compressOptions(input));
  }

  compress(input: Buffer): Promise<Buffer> {
    const opts = this.compressOptions(input);
    return new Promise((resolve, reject) => {
      this.fn.compress(input, opts, (err, out) => (err ? reject(err) : resolve(out)));
    });
  }

  decompressSync(input: Buffer, maxOutputBytes: number): Buffer {
    const opts = this.decompressOptions(input, maxOutputBytes);
    try {
      return this.fn.decompressSync(input, opts);
    } catch (err) {
      throw this.mapError(err, maxOutputBytes);
    }
  }

  decompress(input: Buffer, maxOutputBytes: number): Promise<Buffer> {
    let opts: zlib.ZlibOptions;
    try {
      opts = this.decompressOptions(input, maxOutputBytes);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.fn.decompress(input, opts, (err, out) => (err ? reject(this.mapError(err, maxOutputBytes)) : resolve(out)));
    });
  }

  /**
   * Output chunk sized to the message: zlib's default 16 KiB chunk costs a
   * JS round trip per chunk (and, async, a thread-pool hop), which on a
   * 1 MiB message tripled gunzip's CPU time and doubled brotli's.
   */
  private compressOptions(input: Buffer): zlib.ZlibOptions | zlib.BrotliOptions {
    const chunkSize = Math.min(Math.max(MIN_CHUNK, input.length >>> 1), MAX_CHUNK);
    if (this.name !== 'br') return chunkSize === MIN_CHUNK ? this.zlibOptions : { level: this.level, chunkSize };
    return { chunkSize, params: { [BROTLI_PARAM_QUALITY]: this.level, [BROTLI_PARAM_SIZE_HINT]: input.length } };
  }

  /** The cap, and a chunk sized to the expected output that never exceeds the cap by more than 16 KiB. */
  private decompressOptions(input: Buffer, maxOutputBytes: number): zlib.ZlibOptions {
    checkCap(maxOutputBytes);
    const chunkSize = Math.min(Math.max(MIN_CHUNK, input.length * 4), MAX_CHUNK, Math.max(MIN_CHUNK, maxOutputBytes + 1));
    return { maxOutputLength: maxOutputBytes, chunkSize };
  }

  private mapError(err: unknown, maxOutputBytes: number): Error {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return tooBig(this.name, maxOutputBytes);
    return invalidData(this.name, err);
  }
}
