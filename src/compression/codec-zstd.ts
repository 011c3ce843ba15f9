/**
 * Zstandard. Node 20 has no zstd in node:zlib (it arrived in 22.15), so the
 * codec runs on one of two engines behind the same {@link Codec} interface,
 * chosen at runtime:
 *
 * - `node:zlib` when `zlib.zstdCompressSync` exists (Node >= 22.15): sync
 *   calls on the caller's thread, async ones on the libuv pool, the cap
 *   through `maxOutputLength` like gzip.
 * - `zstd-napi` otherwise: the reference C library (1.5.x, vendored in the
 *   npm package) behind Node-API, one compression and one decompression
 *   context reused for every message. Its API is synchronous, so async calls
 *   run the same code in worker threads (spawned when needed, one per core
 *   at most).
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
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
import { checkCap, CODEC_SUBPROTOCOLS, CodecError, invalidData, tooBig, type Codec } from './codec.js';

/** zstd levels accepted: the fast negative levels down to -7, up to 22. */
export const ZSTD_LEVELS = Object.freeze({ min: -7, max: 22, default: 3 });

/** Largest window (log2 bytes) a decoder accepts: 8 MiB, twice the default maxPayload. */
export const ZSTD_WINDOW_LOG_MAX = 23;

/** One zstd implementation. Its errors carry a CodecErrorCode or an engine code in `code`; {@link ZstdCodec} maps them to CodecErrors. */
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

/** The part of zstd-napi's binding (`zstd-napi/binding.js`) used here. */
interface NapiBinding {
  CCtx: new () => NapiCCtx;
  DCtx: new () => NapiDCtx;
  DParameter: { windowLogMax: number };
  ResetDirective: { sessionOnly: number };
  /** Content size the frame declares; null when it does not; throws on a bad header. */
  getFrameContentSize(frame: Uint8Array): number | null;
  /** Length of the first frame; throws when it is not a complete frame. */
  findFrameCompressedSize(frame: Uint8Array): number;
}

interface NapiCCtx {
  compress(dst: Uint8Array, src: Uint8Array, level: number): number;
}

interface NapiDCtx {
  decompress(dst: Uint8Array, src: Uint8Array): number;
  /** Returns [hint (0 when a frame is complete and flushed), bytes produced, bytes consumed]. */
  decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number];
  setParameter(param: number, value: number): void;
  reset(directive: number): void;
}

/** Loads zstd-napi's binding, or undefined when the optional dependency is missing or failed to build. */
function loadBinding(): { binding: NapiBinding; path: string } | undefined {
  try {
    const require = createRequire(import.meta.url);
    const path = require.resolve('zstd-napi/binding.js');
    return { binding: require(path) as NapiBinding, path };
  } catch {
    return undefined;
  }
}

/**
 * The zstd-napi engine, or undefined when the package is not installed.
 * Sync calls run on the caller's thread; async ones in worker threads.
 */
export function zstdNapiEngine(): ZstdEngine | undefined {
  const loaded = loadBinding();
  if (loaded === undefined) return undefined;
  const { binding, path } = loaded;
  const state = newNapiState(binding);
  const pool = new ZstdWorkerPool(path, Math.min(4, availableParallelism()));
  return {
    name: 'zstd-napi',
    compressSync: (input, level) => napiCompress(binding, state, input, level),
    compress: (input, level) => pool.run(0, input, level),
    decompressSync: (input, max) => napiDecompress(binding, state, input, max),
    decompress: (input, max) => pool.run(1, input, max),
  };
}

// ------------------------------------------------------- zstd-napi, shared
//
// The three functions below run on the main thread and, as source text, in
// the worker (see WORKER_SOURCE). So they must stay self-contained: no
// imports, no module-level names, nothing but their parameters and globals.
// Every buffer they return owns its whole ArrayBuffer (allocUnsafeSlow, never
// Node's shared pool), so the worker can transfer it without a copy.

interface NapiState {
  cctx: NapiCCtx;
  dctx: NapiDCtx;
  /** Reused compression output; the result is copied out at its exact size. */
  scratch: Buffer;
}

function newNapiState(binding: NapiBinding): NapiState {
  const dctx = new binding.DCtx();
  // Literal, not ZSTD_WINDOW_LOG_MAX: this function also runs as source text in the worker.
  dctx.setParameter(binding.DParameter.windowLogMax, 23);
  return { cctx: new binding.CCtx(), dctx, scratch: Buffer.allocUnsafeSlow(0) };
}

/**
 * One-shot compression into a reused scratch buffer, copied out at its exact
 * size: the caller keeps the compressed bytes, not a compressBound-sized
 * allocation. The scratch grows to the largest message seen, up to 8 MiB.
 * One-shot with the size known gives a single-segment frame with the content
 * size and a window no larger than the message.
 */
function napiCompress(binding: NapiBinding, state: NapiState, input: Buffer, level: number): Buffer {
  // ZSTD_COMPRESSBOUND, computed here rather than by a native call per message.
  const n0 = input.length;
  const bound = n0 + (n0 >>> 8) + (n0 < 131072 ? (131072 - n0) >>> 11 : 0);
  let dst = state.scratch;
  if (dst.length < bound) {
    dst = Buffer.allocUnsafeSlow(bound);
    if (bound <= 8 * 1024 * 1024) state.scratch = dst;
  }
  const n = state.cctx.compress(dst, input, level);
  const out = Buffer.allocUnsafeSlow(n);
  dst.copy(out, 0, 0, n);
  return out;
}

/**
 * Decompression capped at `max` bytes.
 *
 * Frames that all declare their content size: the sizes are summed and
 * checked before anything is allocated, then decoded in one shot into a
 * buffer of exactly that size (a frame that lies overflows it and fails).
 * Otherwise the streaming decoder runs chunk by chunk and stops as soon as
 * the output passes the cap; its window is limited by windowLogMax.
 *
 * Throws errors whose `code` is MESSAGE_TOO_BIG or INVALID_COMPRESSED_DATA.
 */
function napiDecompress(binding: NapiBinding, state: NapiState, input: Buffer, max: number): Buffer {
  const fail = (code: string, message: string): never => {
    throw Object.assign(new Error(message), { code });
  };
  if (input.length === 0) return fail('INVALID_COMPRESSED_DATA', 'empty input');
  const dctx = state.dctx;
  // Fast path, one native call: a first frame that declares its size (as every
  // one-shot encoder writes it), decoded into exactly that many bytes. Any
  // error (a lie, more frames) falls through to the full checks below.
  const first = input.length >= 6 && input.readUInt32LE(0) === 0xfd2fb528 ? input[4]! : 0x08;
  const fcsFlag = first >> 6;
  const single = (first >> 5) & 1;
  const fcsBytes = fcsFlag === 0 ? single : fcsFlag === 1 ? 2 : fcsFlag === 2 ? 4 : 8;
  const fcsAt = 5 + (single ? 0 : 1) + [0, 1, 2, 4][first & 3]!;
  if ((first & 0x08) === 0 && fcsBytes > 0 && fcsBytes < 8 && input.length >= fcsAt + fcsBytes) {
    const size = fcsBytes === 1 ? input[fcsAt]! : fcsBytes === 2 ? input.readUInt16LE(fcsAt) + 256 : input.readUInt32LE(fcsAt);
    if (size > max) return fail('MESSAGE_TOO_BIG', `declared content size over ${max} bytes`);
    const out = Buffer.allocUnsafeSlow(size);
    try {
      if (dctx.decompress(out, input) === size) return out;
    } catch {
      // fall through
    }
  }
  let total = 0;
  let known = true;
  for (let off = 0; off < input.length; ) {
    const frame = input.subarray(off);
    let size: number | null;
    let frameLength = 0;
    try {
      size = binding.getFrameContentSize(frame);
      if (size !== null) frameLength = binding.findFrameCompressedSize(frame);
    } catch (err) {
      return fail('INVALID_COMPRESSED_DATA', (err as Error).message);
    }
    if (size === null) {
      known = false;
      break;
    }
    total += size;
    if (total > max) return fail('MESSAGE_TOO_BIG', `declared content size over ${max} bytes`);
    off += frameLength;
  }
  if (known) {
    const out = Buffer.allocUnsafeSlow(total);
    let n = -1;
    try {
      n = dctx.decompress(out, input);
    } catch (err) {
      return fail('INVALID_COMPRESSED_DATA', (err as Error).message);
    }
    if (n !== total) return fail('INVALID_COMPRESSED_DATA', 'content size mismatch');
    return out;
  }
  const reset = binding.ResetDirective.sessionOnly;
  dctx.reset(reset);
  const chunks: Buffer[] = [];
  let produced = 0;
  let rest = input;
  for (;;) {
    // One byte over the cap is enough to know the message is too big.
    const chunk = Buffer.allocUnsafeSlow(Math.min(max - produced + 1, 128 * 1024));
    let ret = 0;
    let outN = 0;
    let inN = 0;
    try {
      [ret, outN, inN] = dctx.decompressStream(chunk, rest);
    } catch (err) {
      dctx.reset(reset);
      const message = (err as Error).message;
      return fail(/too much memory/i.test(message) ? 'MESSAGE_TOO_BIG' : 'INVALID_COMPRESSED_DATA', message);
    }
    rest = rest.subarray(inN);
    if (outN > 0) {
      produced += outN;
      if (produced > max) {
        dctx.reset(reset);
        return fail('MESSAGE_TOO_BIG', `output over ${max} bytes`);
      }
      chunks.push(chunk.subarray(0, outN));
    }
    if (ret === 0 && rest.length === 0) break;
    // Room left in the chunk means the decoder flushed all it could: it needs input there is not.
    if ((outN < chunk.length && rest.length === 0) || (outN === 0 && inN === 0)) {
      dctx.reset(reset);
      return fail('INVALID_COMPRESSED_DATA', 'truncated frame');
    }
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = Buffer.allocUnsafeSlow(produced);
  let at = 0;
  for (const c of chunks) at += c.copy(out, at);
  return out;
}

// ------------------------------------------------------------ the worker

/**
 * Source of the worker: the shared functions above plus a message loop.
 * An eval'd worker (rather than a file) runs the same code from the compiled
 * package and from the TypeScript sources under test.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const binding = require(workerData.bindingPath);
${newNapiState.toString()}
${napiCompress.toString()}
${napiDecompress.toString()}
const state = newNapiState(binding);
parentPort.on('message', (m) => {
  try {
    const input = Buffer.from(m.input.buffer, m.input.byteOffset, m.input.byteLength);
    const out = m.op === 0 ? napiCompress(binding, state, input, m.arg) : napiDecompress(binding, state, input, m.arg);
    parentPort.postMessage({ id: m.id, out }, [out.buffer]);
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: { message: err.message, code: err.code } });
  }
});
`;

interface Pending {
  resolve(out: Buffer): void;
  reject(err: Error): void;
  slot: Slot;
}

interface Reply {
  id: number;
  out?: Uint8Array;
  error?: { message: string; code?: string };
}

interface Slot {
  worker: Worker;
  /** Calls sent to this worker and not answered yet. */
  pending: number;
}

/**
 * Worker threads running zstd-napi for the async calls, shared by every
 * codec of the process. A worker is spawned only when every existing one is
 * busy, up to one per core (at most 4), so a process that never compresses
 * large messages runs none and a 2-core machine runs at most 2. A worker is
 * ref'd only while it has calls pending, so idle workers never keep the
 * process alive; one that dies fails its pending calls and is replaced on
 * demand.
 */
class ZstdWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(
    private readonly bindingPath: string,
    private readonly maxWorkers: number,
  ) {}

  run(op: 0 | 1, input: Buffer, arg: number): Promise<Buffer> {
    const slot = this.pick();
    const id = this.nextId++;
    if (slot.pending++ === 0) slot.worker.ref();
    // Copy the exact bytes and transfer the copy: structured clone would copy the
    // whole ArrayBuffer behind the view (Node's 8 KiB pool, or a large receive buffer).
    const copy = new Uint8Array(input.length);
    copy.set(input);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      slot.worker.postMessage({ id, op, arg, input: copy }, [copy.buffer]);
    });
  }

  /** The least busy worker; a new one when all are busy and the pool is not full. */
  private pick(): Slot {
    let best: Slot | undefined;
    for (const s of this.slots) if (best === undefined || s.pending < best.pending) best = s;
    if ((best === undefined || best.pending > 0) && this.slots.length < this.maxWorkers) return this.spawn();
    return best!;
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bindingPath: this.bindingPath } });
    const slot: Slot = { worker, pending: 0 };
    worker.on('message', (m: Reply) => this.settle(m));
    worker.on('error', (err) => this.fail(slot, err));
    worker.on('exit', (code) => this.fail(slot, new Error(`zstd worker exited with code ${code}`)));
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  private settle(m: Reply): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    if (--p.slot.pending === 0) p.slot.worker.unref();
    if (m.error !== undefined) {
      p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
    } else {
      const out = m.out!;
      p.resolve(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
    }
  }

  private fail(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i === -1) return;
    this.slots.splice(i, 1);
    for (const [id, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(id);
      p.reject(err);
    }
  }
}
