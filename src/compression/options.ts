/**
 * Compression settings, declared once: the negotiated codecs' scalar
 * settings, permessage-deflate's, each codec's level range and default, the
 * measured inline thresholds and the seed's presets. No runtime code: the
 * config schema (config.ts), the codecs and the wire codec all import it.
 */
import { bool, defineOptions, int, oneOf } from '../config/option-set.js';
import { CODEC_NAMES, type CodecName } from './codec.js';

/** Level range and default of each algorithm: zstd's fast negative levels down to -7, up to 22; zlib's 0–9; brotli's 0–11. */
export const CODEC_LEVELS: Readonly<Record<CodecName, Readonly<{ min: number; max: number; default: number }>>> = Object.freeze({
  zstd: Object.freeze({ min: -7, max: 22, default: 3 }),
  br: Object.freeze({ min: 0, max: 11, default: 4 }),
  gzip: Object.freeze({ min: 0, max: 9, default: 6 }),
  deflate: Object.freeze({ min: 0, max: 9, default: 6 }),
});

/** The seed's scenario presets (websocket-performance.md, "圧縮の最適化"). */
export const COMPRESSION_PRESETS = Object.freeze({
  /** Lowest latency: zstd level 1, nothing under 2 KiB compressed. */
  lowLatency: Object.freeze({ algorithm: 'zstd', level: 1, minCompressSize: 2048 }),
  /** Least bandwidth: brotli quality 4, everything from 512 B compressed. */
  bandwidth: Object.freeze({ algorithm: 'br', level: 4, minCompressSize: 512 }),
  /** Balanced: gzip level 6 from 1 KiB. */
  balanced: Object.freeze({ algorithm: 'gzip', level: 6, minCompressSize: 1024 }),
} as const satisfies Record<string, { algorithm: CodecName; level: number; minCompressSize: number }>);

/** A preset name. */
export type CompressionPreset = keyof typeof COMPRESSION_PRESETS;

/**
 * The declaration of the `compression` section's scalar settings: kind,
 * range, default. Their zod fields come from it; meanings are in
 * compressionConfigSchema. `preset`, `algorithm` and the inline thresholds
 * have no fixed default: resolveCompressionConfig derives them (the
 * algorithm from the preset or `algorithms`, the thresholds per codec).
 * `level` is declared per codec in {@link CODEC_LEVELS}; `algorithms`,
 * `levels` and `permessageDeflate` are lists and sections of their own.
 */
export const COMPRESSION_OPTIONS = defineOptions({
  /** Offer negotiated codecs at all. */
  enabled: bool({ default: true }),
  /** Start from a seed preset; fields given beside it override it. */
  preset: oneOf(Object.keys(COMPRESSION_PRESETS) as CompressionPreset[], { default: undefined }),
  /** Preferred codec. Default: the preset's, else the first of `algorithms`, else zstd. */
  algorithm: oneOf(CODEC_NAMES, { default: undefined }),
  /** Messages under this many bytes go as plain text frames (the preset's when one is given). */
  minCompressSize: int({ min: 0, default: 1024 }),
  /** Messages up to this many bytes are compressed inline, larger ones off the event loop. Default: {@link DEFAULT_INLINE_MAX_BYTES} of the codec. */
  inlineMaxBytes: int({ min: 0, default: undefined }),
  /** Binary frames up to this many compressed bytes are decompressed inline. Default: {@link DEFAULT_INLINE_DECODE_MAX_BYTES} of the codec. */
  inlineDecodeMaxBytes: int({ min: 0, default: undefined }),
});

/** Default minCompressSize, bytes: the seed's balanced preset. */
export const DEFAULT_MIN_COMPRESS_SIZE = COMPRESSION_OPTIONS.defaults.minCompressSize;

/**
 * Default inlineMaxBytes per codec: messages up to this size are compressed
 * on the event loop, larger ones off it. Measured by bench/micro-compression.ts
 * (inline vs async with 2 calls in flight, CPU time, 2-core machine): the
 * smallest size from which compressing inline would hold the loop for at
 * least 0.2 ms and the async call frees at least as much loop time as it
 * adds CPU elsewhere. zstd-3: 64 KiB (204 µs inline; async 42 µs of loop,
 * 301 µs in all). gzip-6: 16 KiB (216 µs; 44, 283). brotli-4: 16 KiB
 * (248 µs; 45, 310). Stable across runs. deflate is gzip's algorithm.
 */
export const DEFAULT_INLINE_MAX_BYTES: Readonly<Record<CodecName, number>> = Object.freeze({
  zstd: 64 * 1024,
  br: 16 * 1024,
  gzip: 16 * 1024,
  deflate: 16 * 1024,
});

/**
 * Default inlineDecodeMaxBytes per codec, in COMPRESSED bytes: binary frames
 * up to this size are decompressed on the loop. Same measure; decompression
 * is fast and the hand-off is not, so async pays only for large messages:
 * zstd from ~512 KiB of output (336 µs inline; async 73 µs of loop, 506 µs
 * in all), gzip from ~256 KiB (574 µs; 178, 816), brotli from ~128 KiB
 * (306 µs; 113, 485): ~109, ~57 and ~29 KiB of compressed JSON. This line
 * moves more between runs than the compression one (the async call costs
 * 1.3–2× the CPU, so how much it pays depends on the machine's load).
 */
export const DEFAULT_INLINE_DECODE_MAX_BYTES: Readonly<Record<CodecName, number>> = Object.freeze({
  zstd: 128 * 1024,
  br: 32 * 1024,
  gzip: 64 * 1024,
  deflate: 64 * 1024,
});

/**
 * The declaration of the `permessageDeflate` settings (names are ws's):
 * kind, range, default. Their zod fields and defaults come from it.
 */
export const PERMESSAGE_DEFLATE_OPTIONS = defineOptions({
  /** Offer permessage-deflate to clients that ask. */
  enabled: bool({ default: false }),
  /** Messages under this many bytes are sent uncompressed. */
  threshold: int({ min: 0, default: 1024 }),
  /** zlib level 0–9; 1 is fast, with a ratio within ~10 % of level 6 on JSON. */
  level: int({ min: 0, max: 9, default: 1 }),
  /** zlib memLevel 1–9. */
  memLevel: int({ min: 1, max: 9, default: 8 }),
  /** Reset the server's compressor after each message. */
  serverNoContextTakeover: bool({ default: true }),
  /** Ask clients to reset theirs after each message. */
  clientNoContextTakeover: bool({ default: true }),
  /** zlib calls in flight at once, process-wide (ws's default). */
  concurrencyLimit: int({ min: 1, default: 10 }),
  /** Largest server window the server accepts, 8–15. Default: ws's (15, or what the client asks). */
  serverMaxWindowBits: int({ min: 8, max: 15, default: undefined }),
  /** Largest client window the server asks for, 8–15. Default: ws's. */
  clientMaxWindowBits: int({ min: 8, max: 15, default: undefined }),
});
