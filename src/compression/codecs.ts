/**
 * Making codecs by name: the one place that knows which implementation
 * serves which algorithm and which ones this process can run (zstd needs
 * Node >= 22.15 or the optional zstd-napi package).
 */
import { CODEC_NAMES, type Codec, type CodecName } from './codec.js';
import { ZlibCodec } from './codec-zlib.js';
import { ZstdCodec, zstdEngineName } from './codec-zstd.js';
import { CODEC_LEVELS } from './options.js';

export { CODEC_LEVELS } from './options.js';

/** True when this process can run the codec (always, except zstd without an engine). */
export function isCodecAvailable(name: CodecName): boolean {
  return name === 'zstd' ? zstdEngineName() !== undefined : CODEC_NAMES.includes(name);
}

/** The codecs this process can run, in the default preference order. */
export function availableCodecs(): CodecName[] {
  return CODEC_NAMES.filter(isCodecAvailable);
}

const cache = new Map<string, Codec>();

/**
 * The codec for `name` at `level` (default: the algorithm's default level).
 * Codecs hold no per-message state, so one object per name and level serves
 * the whole process; repeated calls return it.
 *
 * @throws {RangeError} for an unknown name or a level out of range.
 * @throws {Error} for zstd when no zstd engine is available.
 */
export function createCodec(name: CodecName, level?: number): Codec {
  const range = CODEC_LEVELS[name];
  if (range === undefined) {
    throw new RangeError(`codec should be one of ${CODEC_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
  }
  const lvl = level ?? range.default;
  const key = `${name}:${lvl}`;
  let codec = cache.get(key);
  if (codec === undefined) {
    codec = name === 'zstd' ? new ZstdCodec(lvl) : new ZlibCodec(name, lvl);
    cache.set(key, codec);
  }
  return codec;
}
