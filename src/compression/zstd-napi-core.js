// @ts-check
/**
 * zstd-napi's one-shot compression and capped decompression. Plain
 * JavaScript on purpose: the same module runs on the main thread (sync calls)
 * and in the worker (zstd-worker.js, async calls), and a worker thread loads
 * it by itself, from the compiled package and from the sources alike.
 *
 * Every buffer returned owns its whole ArrayBuffer (allocUnsafeSlow, never
 * Node's shared pool), so the worker can transfer it without a copy.
 */

/**
 * The part of zstd-napi's binding (`zstd-napi/binding.js`) used here.
 * @typedef {object} NapiBinding
 * @property {new () => NapiCCtx} CCtx
 * @property {new () => NapiDCtx} DCtx
 * @property {{ windowLogMax: number }} DParameter
 * @property {{ sessionOnly: number }} ResetDirective
 * @property {(frame: Uint8Array) => number | null} getFrameContentSize Content size the frame declares; null when it does not; throws on a bad header.
 * @property {(frame: Uint8Array) => number} findFrameCompressedSize Length of the first frame; throws when it is not a complete frame.
 */

/**
 * @typedef {object} NapiCCtx
 * @property {(dst: Uint8Array, src: Uint8Array, level: number) => number} compress
 */

/**
 * @typedef {object} NapiDCtx
 * @property {(dst: Uint8Array, src: Uint8Array) => number} decompress
 * @property {(dst: Uint8Array, src: Uint8Array) => [number, number, number]} decompressStream
 *   Returns [hint (0 when a frame is complete and flushed), bytes produced, bytes consumed].
 * @property {(param: number, value: number) => void} setParameter
 * @property {(directive: number) => void} reset
 */

/**
 * One thread's contexts, reused for every message.
 * @typedef {object} NapiState
 * @property {NapiCCtx} cctx
 * @property {NapiDCtx} dctx
 * @property {Buffer} scratch Reused compression output; the result is copied out at its exact size.
 */

/** Largest window (log2 bytes) the decoder accepts; equals ZSTD_WINDOW_LOG_MAX (zstd-engine.ts). */
const WINDOW_LOG_MAX = 23;

/**
 * @param {NapiBinding} binding
 * @returns {NapiState}
 */
export function newNapiState(binding) {
  const dctx = new binding.DCtx();
  dctx.setParameter(binding.DParameter.windowLogMax, WINDOW_LOG_MAX);
  return { cctx: new binding.CCtx(), dctx, scratch: Buffer.allocUnsafeSlow(0) };
}

/**
 * One-shot compression into a reused scratch buffer, copied out at its exact
 * size: the caller keeps the compressed bytes, not a compressBound-sized
 * allocation. The scratch grows to the largest message seen, up to 8 MiB.
 * One-shot with the size known gives a single-segment frame with the content
 * size and a window no larger than the message.
 *
 * @param {NapiState} state
 * @param {Buffer} input
 * @param {number} level
 * @returns {Buffer}
 */
export function napiCompress(state, input, level) {
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
 *
 * @param {NapiBinding} binding
 * @param {NapiState} state
 * @param {Buffer} input
 * @param {number} max
 * @returns {Buffer}
 */
export function napiDecompress(binding, state, input, max) {
  /** @type {(code: string, message: string) => never} */
  const fail = (code, message) => {
    throw Object.assign(new Error(message), { code });
  };
  if (input.length === 0) return fail('INVALID_COMPRESSED_DATA', 'empty input');
  const dctx = state.dctx;
  // Fast path, one native call: a first frame that declares its size (as every
  // one-shot encoder writes it), decoded into exactly that many bytes. Any
  // error (a lie, more frames) falls through to the full checks below.
  const first = input.length >= 6 && input.readUInt32LE(0) === 0xfd2fb528 ? /** @type {number} */ (input[4]) : 0x08;
  const fcsFlag = first >> 6;
  const single = (first >> 5) & 1;
  const fcsBytes = fcsFlag === 0 ? single : fcsFlag === 1 ? 2 : fcsFlag === 2 ? 4 : 8;
  const fcsAt = 5 + (single ? 0 : 1) + /** @type {number} */ ([0, 1, 2, 4][first & 3]);
  if ((first & 0x08) === 0 && fcsBytes > 0 && fcsBytes < 8 && input.length >= fcsAt + fcsBytes) {
    const size = fcsBytes === 1 ? /** @type {number} */ (input[fcsAt]) : fcsBytes === 2 ? input.readUInt16LE(fcsAt) + 256 : input.readUInt32LE(fcsAt);
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
    /** @type {number | null} */
  let size;
    let frameLength = 0;
    try {
      size = binding.getFrameContentSize(frame);
      if (size !== null) frameLength = binding.findFrameCompressedSize(frame);
    } catch (err) {
      return fail('INVALID_COMPRESSED_DATA', /** @type {Error} */ (err).message);
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
      return fail('INVALID_COMPRESSED_DATA', /** @type {Error} */ (err).message);
    }
    if (n !== total) return fail('INVALID_COMPRESSED_DATA', 'content size mismatch');
    return out;
  }
  const reset = binding.ResetDirective.sessionOnly;
  dctx.reset(reset);
  /** @type {Buffer[]} */
  const chunks = [];
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
      const message = /** @type {Error} */ (err).message;
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
  if (chunks.length === 1) return /** @type {Buffer} */ (chunks[0]);
  const out = Buffer.allocUnsafeSlow(produced);
  let at = 0;
  for (const c of chunks) at += c.copy(out, at);
  return out;
}
