/**
 * The codec contract: one interface every compression algorithm implements,
 * and the one error type its decompressors throw.
 *
 * A codec compresses one whole message at a time (one-shot, no state kept
 * between messages), so a session with a codec costs no memory at rest:
 * unlike permessage-deflate with context takeover, 100,000 idle sessions hold
 * no zlib streams.
 *
 * Wire names. A client switches a codec on by offering its subprotocol in the
 * WebSocket handshake; the server selects at most one (see negotiate.ts):
 *
 * | codec     | subprotocol   | bytes in a binary frame                      |
 * |-----------|---------------|----------------------------------------------|
 * | `zstd`    | `mcp.zstd`    | Zstandard frame(s), RFC 8878                 |
 * | `br`      | `mcp.br`      | Brotli stream, RFC 7932                      |
 * | `gzip`    | `mcp.gzip`    | gzip member(s), RFC 1952                     |
 * | `deflate` | `mcp.deflate` | zlib stream (RFC 1950 header + Adler-32      |
 * |           |               | around RFC 1951 deflate), like HTTP's        |
 * |           |               | `Content-Encoding: deflate`                  |
 *
 * `deflate` is the zlib-wrapped format, not raw deflate: it is what HTTP
 * calls deflate, what `DecompressionStream('deflate')`, Python's
 * `zlib.decompress` and Go's `compress/zlib` read by default, and its
 * Adler-32 catches a truncated or corrupted message for 6 bytes a message.
 *
 * Selecting `mcp.<codec>` means both "MCP" and "this codec": messages of at
 * least `minCompressSize` bytes travel compressed in binary frames, smaller
 * ones as plain text frames, in both directions.
 */
import { CloseCode } from '../protocol/close-codes.js';

/** The algorithms a codec can implement, by their wire name. */
export type CodecName = 'zstd' | 'br' | 'gzip' | 'deflate';

/** Every codec name, in the default server preference order (fastest first at equal ratio). */
export const CODEC_NAMES: readonly CodecName[] = Object.freeze(['zstd', 'br', 'gzip', 'deflate']);

/** The subprotocol each codec is negotiated with. */
export const CODEC_SUBPROTOCOLS: Readonly<Record<CodecName, string>> = Object.freeze({
  zstd: 'mcp.zstd',
  br: 'mcp.br',
  gzip: 'mcp.gzip',
  deflate: 'mcp.deflate',
});

/**
 * One compression algorithm at one level. Implementations are stateless
 * between calls (any context they reuse is reset per message), so one codec
 * object serves every session of a process.
 */
export interface Codec {
  /** Wire name of the algorithm. */
  readonly name: CodecName;
  /** Subprotocol that negotiates it, e.g. `mcp.zstd`. */
  readonly subprotocol: string;
  /** Compression level in the algorithm's own scale. */
  readonly level: number;
  /** Compresses one message on the calling thread. */
  compressSync(input: Buffer): Buffer;
  /** Compresses one message off the event loop (libuv thread pool or a worker thread). */
  compress(input: Buffer): Promise<Buffer>;
  /**
   * Decompresses one message on the calling thread. The output is capped
   * while decompressing: it never holds much more than `maxOutputBytes`.
   *
   * @throws {CodecError} `MESSAGE_TOO_BIG` when the output would exceed
   *   `maxOutputBytes`; `INVALID_COMPRESSED_DATA` when the input is not one
   *   or more complete frames of this codec.
   */
  decompressSync(input: Buffer, maxOutputBytes: number): Buffer;
  /** {@link Codec.decompressSync} off the event loop; rejects with the same {@link CodecError}s. */
  decompress(input: Buffer, maxOutputBytes: number): Promise<Buffer>;
}

/** Why a codec refused a message. */
export type CodecErrorCode = 'MESSAGE_TOO_BIG' | 'INVALID_COMPRESSED_DATA';

/** Close code the session sends for each {@link CodecErrorCode}. */
export const CODEC_ERROR_CLOSE_CODES: Readonly<Record<CodecErrorCode, number>> = Object.freeze({
  MESSAGE_TOO_BIG: CloseCode.MESSAGE_TOO_BIG,
  INVALID_COMPRESSED_DATA: CloseCode.INVALID_PAYLOAD,
});

/**
 * A message a codec cannot accept. `code` is stable; `closeCode` is what the
 * session closes with: 1009 for a message over the cap (the same as an
 * uncompressed message over maxPayload), 1007 for bytes that are not a valid
 * compressed message (payload inconsistent with the frame type, RFC 6455).
 */
export class CodecError extends Error {
  readonly code: CodecErrorCode;
  readonly closeCode: number;

  constructor(code: CodecErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CodecError';
    this.code = code;
    this.closeCode = CODEC_ERROR_CLOSE_CODES[code];
  }
}

/** The error for an output over `maxOutputBytes`. */
export function tooBig(codec: CodecName, maxOutputBytes: number): CodecError {
  return new CodecError('MESSAGE_TOO_BIG', `${codec}: decompressed message over ${maxOutputBytes} bytes`);
}

/** The error for input that is not a complete compressed message. */
export function invalidData(codec: CodecName, cause: unknown): CodecError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new CodecError('INVALID_COMPRESSED_DATA', `${codec}: invalid compressed data (${detail})`, { cause });
}

/** Throws unless `maxOutputBytes` is a usable cap (a positive safe integer). */
export function checkCap(maxOutputBytes: number): void {
  if (!Number.isSafeInteger(maxOutputBytes) || maxOutputBytes < 1) {
    throw new RangeError(`maxOutputBytes should be a positive integer, got ${String(maxOutputBytes)}`);
  }
}
