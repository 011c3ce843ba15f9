/** Compression settings: defaults, the seed's presets, validation messages, ws's perMessageDeflate. */
import { describe, expect, it } from 'vitest';
import {
  COMPRESSION_PRESETS,
  DEFAULT_INLINE_DECODE_MAX_BYTES,
  DEFAULT_INLINE_MAX_BYTES,
  compressionConfigSchema,
  createCodec,
  createWireCodec,
  resolveCompressionConfig,
  toWsPerMessageDeflate,
} from '../../src/compression/index.js';

describe('resolveCompressionConfig', () => {
  it('defaults: zstd 3 preferred, every codec offered, 1 KiB minimum, permessage-deflate off', () => {
    const c = resolveCompressionConfig();
    expect(c).toMatchObject({
      enabled: true,
      algorithm: 'zstd',
      level: 3,
      levels: { zstd: 3, br: 4, gzip: 6, deflate: 6 },
      algorithms: ['zstd', 'br', 'gzip', 'deflate'],
      minCompressSize: 1024,
      inlineMaxBytes: undefined,
      inlineDecodeMaxBytes: undefined,
      permessageDeflate: { enabled: false },
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.levels)).toBe(true);
  });

  it.each([
    ['lowLatency', { algorithm: 'zstd', level: 1, minCompressSize: 2048 }],
    ['bandwidth', { algorithm: 'br', level: 4, minCompressSize: 512 }],
    ['balanced', { algorithm: 'gzip', level: 6, minCompressSize: 1024 }],
  ] as const)('preset %s is the seed\'s', (preset, expected) => {
    expect(COMPRESSION_PRESETS[preset]).toEqual(expected);
    const c = resolveCompressionConfig({ preset });
    expect(c).toMatchObject(expected);
    expect(c.algorithms[0]).toBe(expected.algorithm);
    expect(c.levels[expected.algorithm]).toBe(expected.level);
  });

  it('lets fields given override the preset', () => {
    expect(resolveCompressionConfig({ preset: 'bandwidth', level: 6, minCompressSize: 4096 })).toMatchObject({
      algorithm: 'br',
      level: 6,
      minCompressSize: 4096,
    });
    // Another algorithm than the preset's: the preset's level does not carry over.
    expect(resolveCompressionConfig({ preset: 'bandwidth', algorithm: 'gzip' })).toMatchObject({ algorithm: 'gzip', level: 6 });
  });

  it('puts algorithm first, keeps the given order, and applies level to the preferred codec', () => {
    expect(resolveCompressionConfig({ algorithm: 'gzip', level: 1 })).toMatchObject({
      algorithm: 'gzip',
      level: 1,
      algorithms: ['gzip', 'zstd', 'br', 'deflate'],
      levels: { gzip: 1, zstd: 3 },
    });
    expect(resolveCompressionConfig({ algorithms: ['deflate', 'br'], level: 9 })).toMatchObject({
      algorithm: 'deflate',
      level: 9,
      algorithms: ['deflate', 'br'],
    });
  });

  it.each([
    [{ level: 30 }, 'compression.level should be -7–22 for zstd (got 30)'],
    [{ algorithm: 'gzip', level: 10 }, 'compression.level should be 0–9 for gzip (got 10)'],
    [{ preset: 'bandwidth', level: 12 }, 'compression.level should be 0–11 for br (got 12)'],
    [{ levels: { deflate: -1 } }, 'compression.levels.deflate should be 0–9 for deflate (got -1)'],
    [{ level: 1.5 }, 'compression.level should be an integer (got 1.5)'],
    [{ algorithm: 'lz4' }, 'compression.algorithm should be one of "zstd", "br", "gzip", "deflate" (got "lz4")'],
    [{ algorithms: ['gzip', 'gzip'] }, 'compression.algorithms lists "gzip" twice'],
    [{ algorithm: 'br', algorithms: ['gzip'] }, 'compression.algorithm should be one of algorithms (gzip) (got "br")'],
    [{ minCompressSize: -1 }, 'compression.minCompressSize should be at least 0 (got -1)'],
    [{ preset: 'fastest' }, 'compression.preset should be one of "lowLatency", "bandwidth", "balanced" (got "fastest")'],
    [{ min_compress_size: 10 }, 'compression has an unknown setting "min_compress_size" — did you mean "minCompressSize"?'],
    [{ permessageDeflate: { serverMaxWindowBits: 16 } }, 'compression.permessageDeflate.serverMaxWindowBits'],
    [{ permessageDeflate: { level: 10 } }, 'compression.permessageDeflate.level should be at most 9 (got 10)'],
  ])('%j is refused: %s', (config, message) => {
    expect(() => resolveCompressionConfig(config)).toThrow(RangeError);
    expect(() => resolveCompressionConfig(config)).toThrow(message);
  });

  it('exports a schema fragment a config file can nest', () => {
    expect(compressionConfigSchema.safeParse({ preset: 'lowLatency', permessageDeflate: { enabled: true } }).success).toBe(true);
    expect(compressionConfigSchema.safeParse({ unknown: 1 }).success).toBe(false);
  });
});

describe('createWireCodec', () => {
  it('uses the measured per-codec lines unless the config overrides them', () => {
    const zstd = createCodec('zstd');
    const gzip = createCodec('gzip');
    const w = createWireCodec(zstd, resolveCompressionConfig({ preset: 'lowLatency' }), 4 * 1024 * 1024);
    expect(w).toMatchObject({
      maxPayload: 4 * 1024 * 1024,
      minCompressSize: 2048,
      inlineMaxBytes: DEFAULT_INLINE_MAX_BYTES.zstd,
      inlineDecodeMaxBytes: DEFAULT_INLINE_DECODE_MAX_BYTES.zstd,
    });
    expect(createWireCodec(gzip, resolveCompressionConfig({}), 1000).inlineMaxBytes).toBe(DEFAULT_INLINE_MAX_BYTES.gzip);
    const o = createWireCodec(gzip, resolveCompressionConfig({ inlineMaxBytes: 0, inlineDecodeMaxBytes: 5 }), 1000);
    expect([o.inlineMaxBytes, o.inlineDecodeMaxBytes]).toEqual([0, 5]);
  });
});

describe('toWsPerMessageDeflate', () => {
  it('is false by default', () => {
    expect(toWsPerMessageDeflate()).toBe(false);
    expect(toWsPerMessageDeflate(resolveCompressionConfig({}))).toBe(false);
  });

  it('maps enabled settings to ws options with defaults sized for many connections', () => {
    expect(toWsPerMessageDeflate({ permessageDeflate: { enabled: true } })).toEqual({
      threshold: 1024,
      concurrencyLimit: 10,
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      zlibDeflateOptions: { level: 1, memLevel: 8 },
    });
  });

  it('passes every setting through, from a resolved config too', () => {
    const resolved = resolveCompressionConfig({
      permessageDeflate: {
        enabled: true,
        threshold: 0,
        level: 6,
        memLevel: 7,
        serverMaxWindowBits: 10,
        clientMaxWindowBits: 12,
        serverNoContextTakeover: false,
        clientNoContextTakeover: false,
        concurrencyLimit: 2,
      },
    });
    expect(toWsPerMessageDeflate(resolved)).toEqual({
      threshold: 0,
      concurrencyLimit: 2,
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 10,
      clientMaxWindowBits: 12,
      zlibDeflateOptions: { level: 6, memLevel: 7 },
    });
  });

  it('refuses invalid settings', () => {
    expect(() => toWsPerMessageDeflate({ permessageDeflate: { enabled: true, memLevel: 0 } })).toThrow(
      'compression.permessageDeflate.memLevel',
    );
  });
});
