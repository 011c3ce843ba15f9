/**
 * The node:zlib zstd engine (Node >= 22.15): sync calls on the caller's
 * thread, async ones on the libuv pool, the cap through `maxOutputLength`.
 */
import zlib from 'node:zlib';
import { ZSTD_WINDOW_LOG_MAX, type ZstdEngine } from './zstd-engine.js';

/** The subset of node:zlib's zstd API (Node >= 22.15) the engine uses. */
export interface NodeZstdApi {
  zstdCompressSync(buf: Buffer, options: object): Buffer;
  zstdCompress(buf: Buffer, options: object, cb: (err: Error | null, out: Buffer) => void): void;
  zstdDecompressSync(buf: Buffer, options: object): Buffer;
  zstdDecompress(buf: Buffer, options: object, cb: (err: Error | null, out: Buffer) => void): void;
  constants: Record<string, number>;
}

/**
 * The node:zlib engine, when this Node has zstd (>= 22.15); undefined otherwise.
 * `api` is for tests; it defaults to node:zlib.
 */
export function nodeZlibZstdEngine(api: NodeZstdApi = zlib as unknown as NodeZstdApi): ZstdEngine | undefined {
  if (typeof api.zstdCompressSync !== 'function' || typeof api.zstdDecompress !== 'function') return undefined;
  const c = api.constants;
  const levelParam = c.ZSTD_c_compressionLevel ?? 100;
  const windowParam = c.ZSTD_d_windowLogMax;
  // Output chunks sized to the message, as in codec-zlib.ts.
  const compressOptions = (input: Buffer, level: number): object => ({
    params: { [levelParam]: level },
    // Lets zstd size its tables and window to the message and write the content size.
    pledgedSrcSize: input.length,
    chunkSize: Math.min(Math.max(16 * 1024, input.length >>> 1), 1024 * 1024),
  });
  const windowParams = windowParam === undefined ? undefined : { [windowParam]: ZSTD_WINDOW_LOG_MAX };
  const decompressOptions = (input: Buffer, max: number): object => ({
    maxOutputLength: max,
    chunkSize: Math.min(Math.max(16 * 1024, input.length * 4), 1024 * 1024, Math.max(16 * 1024, max + 1)),
    ...(windowParams && { params: windowParams }),
  });
  return {
    name: 'node:zlib',
    compressSync: (input, level) => api.zstdCompressSync(input, compressOptions(input, level)),
    compress: (input, level) =>
      new Promise((resolve, reject) => {
        api.zstdCompress(input, compressOptions(input, level), (err, out) => (err ? reject(err) : resolve(out)));
      }),
    decompressSync: (input, max) => api.zstdDecompressSync(input, decompressOptions(input, max)),
    decompress: (input, max) =>
      new Promise((resolve, reject) => {
        api.zstdDecompress(input, decompressOptions(input, max), (err, out) => (err ? reject(err) : resolve(out)));
      }),
  };
}
