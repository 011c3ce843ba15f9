/**
 * Compression counters per codec, as plain numbers a metrics collect
 * callback reads at scrape time (no prom-client call on the message path).
 * Process-wide: every {@link WireCodec} of a codec adds to the same object.
 */
import { CODEC_NAMES, type CodecName } from './codec.js';

/** Counters of one codec. All only grow; times are wall seconds (async calls include their wait for a thread). */
export class CodecStats {
  /** Messages sent compressed (binary frames). */
  compressed = 0;
  /** Their size before compression, bytes. */
  compressBytesIn = 0;
  /** Their size after compression, bytes. */
  compressBytesOut = 0;
  /** Time spent compressing, seconds. */
  compressSeconds = 0;
  /** Messages compressed off the event loop (a subset of `compressed` plus `incompressible`). */
  compressedAsync = 0;
  /** Messages sent as text because they were under minCompressSize. */
  belowMinSize = 0;
  /** Messages sent as text because compression did not make them smaller. */
  incompressible = 0;
  /** Compression calls that failed (the message went out as text). */
  compressErrors = 0;
  /** Binary frames decompressed. */
  decompressed = 0;
  /** Their compressed size, bytes. */
  decompressBytesIn = 0;
  /** Their decompressed size, bytes. */
  decompressBytesOut = 0;
  /** Time spent decompressing, seconds. */
  decompressSeconds = 0;
  /** Binary frames refused: decompressed size over the cap (close 1009). */
  tooBig = 0;
  /** Binary frames refused: not valid compressed data or not UTF-8 (close 1007). */
  invalid = 0;
}

/** Counters of every codec, by name. */
export const compressionStats: Readonly<Record<CodecName, CodecStats>> = Object.freeze(
  Object.fromEntries(CODEC_NAMES.map((n) => [n, new CodecStats()])) as Record<CodecName, CodecStats>,
);
