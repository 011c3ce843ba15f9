/**
 * Zstandard. Node 20 has no zstd in node:zlib (it arrived in 22.15), so the
 * codec runs on one of two engines behind the same {@link Codec} interface,
 * chosen at runtime:
 *
 * - `node:zlib` (zstd-node.ts) when `zlib.zstdCompressSync` exists (Node >= 22.15): sync
 *   calls on the caller's thread, async ones on the libuv pool, the cap
 *   through `maxOutputLength` like gzip.
 * - `zstd-napi` (zstd-napi.ts) otherwise: the reference C library (1.5.x, vendored in the
 *   npm package) behind Node-API, one compression and one decompression
 *   context reused for every message. Its API is synchronous, so async calls
 *   run the same code (zstd-napi-core.js) in worker threads running
 *   zstd-worker.js (spawned when needed, one per core at most).
 *
 * Why zstd-napi. Candidates on ~10 KB MCP messages (README and JS sources as
 * tool results), level 3, one message per call, MB/s of uncompressed bytes
 * per CPU second, best of 5 rounds, same run, 2-core EPYC, Node 20:
 *
 *   package                     install                        compress  decompress  frame of a 10 KB message
 *   zstd-napi 0.0.13            builds vendored C, node-gyp        246        779     content size, window = message
 *   @toondepauw/node-zstd 2.0   prebuilt .node in npm              175        189     no size, 2 MiB window
 *   @mongodb-js/zstd 1.2.2      prebuilt .node in npm        86 (async only)  152     no size, 2 MiB window
 *   @oneidentity/zstd-js 1.0.3  WASM                               169        489     refuses inputs <= 100 B
 *   zstd-codec 0.1.5            WASM (2018, zstd 1.3)              135        316
 *   @bokuweb/zstd-wasm 0.0.27   WASM                                79        455     content size
 *   @hpcc-js/wasm-zstd 1.12.5   WASM                                53         24
 *
 * @mongodb-js/zstd 2.x and later fetch their binary from GitHub at install
 * (prebuild-install), which fails on a registry-only network, and then fetch
 * zstd's sources the same way: not installable here. The two packages with
 * binaries in npm stream every message through a fresh context without
 * telling zstd its size, so each frame declares a 2 MiB window and no
 * content size: every receiver allocates a 2 MiB window per message and
 * cannot check the size before decoding; they also decode at a quarter of
 * zstd-napi's speed or less. The WASM builds need no install step but run
 * at 30–70 % of native speed (hpcc's far less), synchronously only. zstd-napi is the fastest,
 * writes single-segment frames with the content size, and exposes the
 * streaming decoder the cap needs. Its cost is the install: its script tries
 * a prebuilt download (fails at once here) and then compiles with node-gyp
 * (python3, make, a C++ compiler; ~50 s). It is an optionalDependency: where
 * the build fails, the install still succeeds and `mcp.zstd` is not offered
 * ({@link zstdEngineName} is undefined).
 *
 * The cap. Each candidate's own decompress was tried on a 32 KiB frame
 * holding 1 GiB of zeros (8,192 RLE blocks, no content size) and on a header
 * declaring 1 TiB: zstd-napi, @toondepauw/node-zstd, @mongodb-js/zstd and
 * fzstd (a pure-JS decoder) return the whole 1 GiB (1.1–2.2 GB peak RSS); @bokuweb/zstd-wasm
 * refuses only because its output buffer is a fixed 1 MB unless the header
 * declares a size, which it then allocates; zstd-codec returns null for
 * both. None takes a limit. So the cap is enforced here, on zstd-napi's
 * low-level binding: frames that declare their size are summed and refused
 * over the cap before anything is allocated, then decoded in one shot into
 * a buffer of exactly that size (a frame that lies cannot grow it); frames
 * without a size go through the streaming decoder chunk by chunk and are
 * refused as soon as the output passes the cap, with the decoder's window
 * limited to 2^23 bytes. The same 1 GiB frame under a 4 MiB cap: refused,
 * one 4 MiB + 1 B allocation, 79 MB peak RSS for the whole process.
 */
import { checkCap, CODEC_SUBPROTOCOLS, CodecError, invalidData, tooBig, type Codec } from './codec.js';
import { CODEC_LEVELS } from './options.js';
import type { ZstdEngine } from './zstd-engine.js';
import { zstdNapiEngine } from './zstd-napi.js';
import { nodeZlibZstdEngine } from './zstd-node.js';

/** zstd levels accepted: the fast negative levels down to -7, up to 22 (declared in options.ts). */
export const ZSTD_LEVELS = CODEC_LEVELS.zstd;

/** Zstandard at one level, on the engine this process has. */
export class ZstdCodec implements Codec {
  readonly name = 'zstd' as const;
  readonly subprotocol = CODEC_SUBPROTOCOLS.zstd;
  readonly level: number;
  /** The engine in use: `node:zlib` or `zstd-napi`. */
  readonly engine: string;
  private readonly impl: ZstdEngine;

  /**
   * @param level -7–22, default 3.
   * @param engine Defaults to {@link defaultZstdEngine}.
   * @throws {RangeError} for a level out of range.
   * @throws {Error} when no zstd engine is available (check {@link zstdEngineName} first).
   */
  constructor(level?: number, engine?: ZstdEngine) {
    const lvl = level ?? ZSTD_LEVELS.default;
    if (!Number.isInteger(lvl) || lvl < ZSTD_LEVELS.min || lvl > ZSTD_LEVELS.max) {
      throw new RangeError(`zstd level should be an integer ${ZSTD_LEVELS.min}–${ZSTD_LEVELS.max}, got ${String(level)}`);
    }
    const impl = engine ?? defaultZstdEngine();
    if (impl === undefined) {
      throw new Error('zstd is not available: Node < 22.15 and the optional dependency zstd-napi did not install');
    }
    this.level = lvl;
    this.impl = impl;
    this.engine = impl.name;
  }

  compressSync(input: Buffer): Buffer {
    return this.impl.compressSync(input, this.level);
  }

  compress(input: Buffer): Promise<Buffer> {
    return this.impl.compress(input, this.level);
  }

  decompressSync(input: Buffer, maxOutputBytes: number): Buffer {
    checkCap(maxOutputBytes);
    try {
      return this.impl.decompressSync(input, maxOutputBytes);
    } catch (err) {
      throw mapError(err, maxOutputBytes);
    }
  }

  decompress(input: Buffer, maxOutputBytes: number): Promise<Buffer> {
    try {
      checkCap(maxOutputBytes);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.impl.decompress(input, maxOutputBytes).catch((err: unknown) => {
      throw mapError(err, maxOutputBytes);
    });
  }
}

/**
 * Engine errors to {@link CodecError}s. Too big: our own code, zlib's
 * ERR_BUFFER_TOO_LARGE, or a frame whose window is over windowLogMax (zstd
 * says "Frame requires too much memory for decoding").
 */
function mapError(err: unknown, maxOutputBytes: number): CodecError {
  if (err instanceof CodecError) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : '';
  if (code === 'MESSAGE_TOO_BIG' || code === 'ERR_BUFFER_TOO_LARGE' || /windowTooLarge|too much memory/i.test(`${String(code)} ${message}`)) {
    return tooBig('zstd', maxOutputBytes);
  }
  return invalidData('zstd', err);
}

// ------------------------------------------------------------------ engines

let engine: ZstdEngine | null | undefined;

/** The engine this process uses for zstd (node:zlib, else zstd-napi), or undefined when neither is available. */
export function defaultZstdEngine(): ZstdEngine | undefined {
  if (engine === undefined) engine = nodeZlibZstdEngine() ?? zstdNapiEngine() ?? null;
  return engine ?? undefined;
}

/** Name of the zstd engine in use, or undefined when zstd is not available (then `mcp.zstd` is never selected). */
export function zstdEngineName(): string | undefined {
  return defaultZstdEngine()?.name;
}
