/**
 * Compression: codecs negotiated by subprotocol (`mcp.zstd`, `mcp.br`,
 * `mcp.gzip`, `mcp.deflate`), the per-session wire codec, settings and
 * counters. See codec.ts for the wire names and negotiate.ts for the
 * handshake.
 */
export {
  CODEC_ERROR_CLOSE_CODES,
  CODEC_NAMES,
  CODEC_SUBPROTOCOLS,
  CodecError,
  type Codec,
  type CodecErrorCode,
  type CodecName,
} from './codec.js';
export { ZLIB_LEVELS, ZlibCodec, type ZlibCodecName } from './codec-zlib.js';
export { ZSTD_LEVELS, ZstdCodec, defaultZstdEngine, zstdEngineName } from './codec-zstd.js';
export { ZSTD_WINDOW_LOG_MAX, type ZstdEngine } from './zstd-engine.js';
export { CODEC_LEVELS, availableCodecs, createCodec, isCodecAvailable } from './codecs.js';
export {
  COMPRESSION_PRESETS,
  compressionConfigSchema,
  permessageDeflateSchema,
  resolveCompressionConfig,
  toWsPerMessageDeflate,
  type CompressionConfig,
  type CompressionPreset,
  type PerMessageDeflateConfig,
  type ResolvedCompressionConfig,
  type ResolvedPerMessageDeflate,
} from './config.js';
export { AsyncLimiter, codecLimiter, defaultCodecConcurrency } from './limiter.js';
export { CodecNegotiator, MCP_SUBPROTOCOL, clientSubprotocols, codecNameOf, createNegotiator, negotiateCodec, type Negotiation } from './negotiate.js';
export { CodecStats, compressionStats } from './stats.js';
export {
  DEFAULT_INLINE_DECODE_MAX_BYTES,
  DEFAULT_INLINE_MAX_BYTES,
  DEFAULT_MIN_COMPRESS_SIZE,
  WireCodec,
  createWireCodec,
  type OutboundFrame,
  type WireCodecOptions,
} from './wire-codec.js';
