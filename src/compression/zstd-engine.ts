/** What every zstd engine offers; ZstdCodec (codec-zstd.ts) runs on one of them. */

/** Largest window (log2 bytes) a decoder accepts: 8 MiB, twice the default maxPayload. */
export const ZSTD_WINDOW_LOG_MAX = 23;

/** One zstd implementation. Its errors carry a CodecErrorCode or an engine code in `code`; ZstdCodec maps them to CodecErrors. */
export interface ZstdEngine {
  /** `node:zlib` or `zstd-napi`. */
  readonly name: string;
  /** One frame for `input`, on the calling thread. */
  compressSync(input: Buffer, level: number): Buffer;
  /** One frame for `input`, off the event loop. */
  compress(input: Buffer, level: number): Promise<Buffer>;
  /** All frames of `input`, on the calling thread, never holding much more than `maxOutputBytes`. */
  decompressSync(input: Buffer, maxOutputBytes: number): Buffer;
  /** {@link ZstdEngine.decompressSync} off the event loop. */
  decompress(input: Buffer, maxOutputBytes: number): Promise<Buffer>;
}
