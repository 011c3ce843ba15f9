/**
 * zstd beyond the contract: frames from other encoders (no content size,
 * several frames, skippable frames), hostile headers (a lying content size,
 * a huge declared size, a huge window), the engine choice, and the node:zlib
 * engine's mapping (run against a stand-in for Node >= 22.15's API).
 */
import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';
import {
  AsyncLimiter,
  CodecError,
  ZSTD_WINDOW_LOG_MAX,
  ZstdCodec,
  defaultZstdEngine,
  zstdEngineName,
} from '../../src/compression/index.js';
import { nodeZlibZstdEngine, type NodeZstdApi } from '../../src/compression/zstd-node.js';
import { contractMessages } from './payloads.js';

const require = createRequire(import.meta.url);
const zstd = require('zstd-napi') as {
  Compressor: new () => { setParameters(p: object): void; compress(b: Uint8Array): Buffer };
  compress(b: Uint8Array, p?: object): Buffer;
};

const MiB = 1024 * 1024;
const codec = new ZstdCodec(3);
const msg = contractMessages()[3]![1];

/** A frame without the content size, as streaming encoders (Rust's zstd crate, zstd CLI on a pipe) write them. */
function sizelessFrame(input: Buffer, level = 3): Buffer {
  const c = new zstd.Compressor();
  c.setParameters({ compressionLevel: level, contentSizeFlag: false });
  return c.compress(input);
}

/** Frame header fields of the first frame. */
function header(frame: Buffer): { fcsFlag: number; singleSegment: boolean } {
  const d = frame[4]!;
  return { fcsFlag: d >> 6, singleSegment: ((d >> 5) & 1) === 1 };
}

async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CodecError);
    return (err as CodecError).code;
  }
  return 'no error';
}

describe('zstd engine', () => {
  it('uses node:zlib where it has zstd, zstd-napi otherwise', () => {
    const hasNative = typeof (require('node:zlib') as Record<string, unknown>).zstdCompressSync === 'function';
    expect(zstdEngineName()).toBe(hasNative ? 'node:zlib' : 'zstd-napi');
    expect(codec.engine).toBe(zstdEngineName());
  });

  it('writes single-segment frames that declare their content size', () => {
    expect(header(codec.compressSync(msg))).toEqual({ fcsFlag: expect.any(Number), singleSegment: true });
    expect(header(codec.compressSync(msg)).fcsFlag).toBeGreaterThan(0);
  });

  it('rejects levels out of range, naming the level', () => {
    expect(() => new ZstdCodec(23)).toThrow('zstd level should be an integer -7–22, got 23');
    expect(() => new ZstdCodec(1.5)).toThrow(RangeError);
    expect(new ZstdCodec(-5).compressSync(msg).length).toBeLessThan(msg.length);
  });
});

describe('zstd frames from other encoders', () => {
  it('decodes frames without a content size (streaming path), sync and async', async () => {
    const f = sizelessFrame(msg);
    expect(header(f).fcsFlag).toBe(0);
    expect(codec.decompressSync(f, msg.length).equals(msg)).toBe(true);
    expect((await codec.decompress(f, msg.length)).equals(msg)).toBe(true);
    expect(await codeOf(() => codec.decompressSync(f, msg.length - 1))).toBe('MESSAGE_TOO_BIG');
    expect(await codeOf(() => codec.decompress(f, msg.length - 1))).toBe('MESSAGE_TOO_BIG');
  });

  it('decodes a 1 MB message without a content size across several chunks', async () => {
    const big = contractMessages()[5]![1];
    const f = sizelessFrame(big, 1);
    expect(codec.decompressSync(f, big.length).equals(big)).toBe(true);
    expect((await codec.decompress(f, big.length)).equals(big)).toBe(true);
  });

  it('refuses 200 size-less bombs (16 MiB of zeros) under a 64 KiB cap with RSS growth under 100 MB', async () => {
    const bomb = sizelessFrame(Buffer.alloc(16 * MiB));
    const before = process.memoryUsage.rss();
    const codes: string[] = [];
    for (let i = 0; i < 100; i++) codes.push(await codeOf(() => codec.decompressSync(bomb, 64 * 1024)));
    const limiter = new AsyncLimiter(4);
    codes.push(...(await Promise.all(Array.from({ length: 100 }, () => limiter.run(() => codeOf(() => codec.decompress(bomb, 64 * 1024)))))));
    expect(new Set(codes)).toEqual(new Set(['MESSAGE_TOO_BIG']));
    expect(process.memoryUsage.rss() - before).toBeLessThan(100 * 1e6);
  });

  it('allocates at most the cap plus one byte while refusing a size-less bomb', () => {
    const bomb = sizelessFrame(Buffer.alloc(16 * MiB));
    const sizes: number[] = [];
    const original = Buffer.allocUnsafeSlow.bind(Buffer);
    const spy = vi.spyOn(Buffer, 'allocUnsafeSlow').mockImplementation((n: number) => {
      sizes.push(n);
      return original(n);
    });
    try {
      expect(() => codec.decompressSync(bomb, 64 * 1024)).toThrow(CodecError);
    } finally {
      spy.mockRestore();
    }
    expect(sizes).toEqual([64 * 1024 + 1]);
  });

  it('decodes several frames back to back, and caps their sum', async () => {
    const a = msg.subarray(0, 5000);
    const b = msg.subarray(5000);
    const two = Buffer.concat([codec.compressSync(a), sizelessFrame(b)]);
    expect(codec.decompressSync(two, msg.length).equals(msg)).toBe(true);
    const sized = Buffer.concat([codec.compressSync(a), codec.compressSync(b)]);
    expect((await codec.decompress(sized, msg.length)).equals(msg)).toBe(true);
    expect(await codeOf(() => codec.decompressSync(sized, msg.length - 1))).toBe('MESSAGE_TOO_BIG');
  });

  it('skips skippable frames', () => {
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    expect(codec.decompressSync(Buffer.concat([skippable, codec.compressSync(msg)]), msg.length).equals(msg)).toBe(true);
  });
});

describe('hostile zstd headers', () => {
  it('refuses a header declaring 1 TiB before allocating anything', async () => {
    // magic, descriptor: 8-byte content size + single segment, the size, then a 1-byte raw last block.
    const frame = Buffer.alloc(4 + 1 + 8 + 3 + 1);
    frame.writeUInt32LE(0xfd2fb528, 0);
    frame[4] = 0b1110_0000;
    frame.writeBigUInt64LE(2n ** 40n, 5);
    frame.writeUIntLE(1 | (0 << 1) | (1 << 3), 13, 3);
    expect(await codeOf(() => codec.decompressSync(frame, 4 * MiB))).toBe('MESSAGE_TOO_BIG');
    expect(await codeOf(() => codec.decompress(frame, 4 * MiB))).toBe('MESSAGE_TOO_BIG');
  });

  it('refuses a frame whose content is larger than its header says (INVALID_COMPRESSED_DATA)', async () => {
    const frame = zstd.compress(Buffer.alloc(MiB), { compressionLevel: 3 });
    const { fcsFlag, singleSegment } = header(frame);
    expect(fcsFlag).toBe(2); // 4-byte content size
    const at = 5 + (singleSegment ? 0 : 1);
    frame.writeUInt32LE(1000, at);
    expect(await codeOf(() => codec.decompressSync(frame, 4 * MiB))).toBe('INVALID_COMPRESSED_DATA');
    expect(await codeOf(() => codec.decompress(frame, 4 * MiB))).toBe('INVALID_COMPRESSED_DATA');
  });

  it(`refuses a window over 2^${ZSTD_WINDOW_LOG_MAX} bytes as MESSAGE_TOO_BIG`, async () => {
    // No content size, window descriptor 2^31, one raw byte.
    const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (31 - 10) << 3, 9, 0, 0, 0x7b]);
    expect(await codeOf(() => codec.decompressSync(frame, 4 * MiB))).toBe('MESSAGE_TOO_BIG');
    expect(await codeOf(() => codec.decompress(frame, 4 * MiB))).toBe('MESSAGE_TOO_BIG');
    // The same frame with a small window decodes.
    const ok = Buffer.from(frame);
    ok[5] = 0;
    expect(codec.decompressSync(ok, 10).toString()).toBe('{');
  });
});

describe('node:zlib zstd engine (Node >= 22.15), against a stand-in API', () => {
  const calls: Array<{ fn: string; options: Record<string, unknown> }> = [];
  const napi = defaultZstdEngine()!;
  const tooLarge = (): Error => Object.assign(new RangeError('Cannot create a Buffer larger than 1 bytes'), { code: 'ERR_BUFFER_TOO_LARGE' });
  // Mirrors Node's semantics: maxOutputLength throws ERR_BUFFER_TOO_LARGE; bad data throws a ZSTD error code.
  const decompress = (buf: Buffer, options: Record<string, unknown>): Buffer => {
    const max = options.maxOutputLength as number;
    try {
      return napi.decompressSync(buf, max);
    } catch (err) {
      if ((err as { code?: string }).code === 'MESSAGE_TOO_BIG') throw tooLarge();
      throw Object.assign(new Error('Unknown frame descriptor'), { code: 'ZSTD_error_prefix_unknown' });
    }
  };
  const api: NodeZstdApi = {
    constants: { ZSTD_c_compressionLevel: 100, ZSTD_d_windowLogMax: 1000 },
    zstdCompressSync(buf, options) {
      calls.push({ fn: 'zstdCompressSync', options: options as Record<string, unknown> });
      return napi.compressSync(buf, ((options as { params: Record<number, number> }).params[100])!);
    },
    zstdCompress(buf, options, cb) {
      calls.push({ fn: 'zstdCompress', options: options as Record<string, unknown> });
      setImmediate(() => cb(null, napi.compressSync(buf, ((options as { params: Record<number, number> }).params[100])!)));
    },
    zstdDecompressSync(buf, options) {
      calls.push({ fn: 'zstdDecompressSync', options: options as Record<string, unknown> });
      return decompress(buf, options as Record<string, unknown>);
    },
    zstdDecompress(buf, options, cb) {
      calls.push({ fn: 'zstdDecompress', options: options as Record<string, unknown> });
      setImmediate(() => {
        try {
          cb(null, decompress(buf, options as Record<string, unknown>));
        } catch (err) {
          cb(err as Error, Buffer.alloc(0));
        }
      });
    },
  };
  const engine = nodeZlibZstdEngine(api)!;
  const c = new ZstdCodec(5, engine);

  it('is not offered by a node:zlib without zstd', () => {
    expect(nodeZlibZstdEngine({ constants: {} } as unknown as NodeZstdApi)).toBeUndefined();
  });

  it('passes the level and the size hint, the cap and the window limit', async () => {
    calls.length = 0;
    const out = c.compressSync(msg);
    expect(calls[0]).toEqual({ fn: 'zstdCompressSync', options: { params: { 100: 5 }, pledgedSrcSize: msg.length, chunkSize: 16 * 1024 } });
    await c.compress(msg);
    expect(calls[1]!.options).toEqual({ params: { 100: 5 }, pledgedSrcSize: msg.length, chunkSize: 16 * 1024 });
    expect(c.decompressSync(out, msg.length).equals(msg)).toBe(true);
    expect(calls[2]!.options).toEqual({ maxOutputLength: msg.length, chunkSize: expect.any(Number), params: { 1000: ZSTD_WINDOW_LOG_MAX } });
    expect((await c.decompress(out, msg.length)).equals(msg)).toBe(true);
  });

  it('maps ERR_BUFFER_TOO_LARGE to MESSAGE_TOO_BIG and ZSTD errors to INVALID_COMPRESSED_DATA', async () => {
    const bomb = c.compressSync(Buffer.alloc(MiB));
    expect(await codeOf(() => c.decompressSync(bomb, 1024))).toBe('MESSAGE_TOO_BIG');
    expect(await codeOf(() => c.decompress(bomb, 1024))).toBe('MESSAGE_TOO_BIG');
    expect(await codeOf(() => c.decompressSync(Buffer.from('nope'), 1024))).toBe('INVALID_COMPRESSED_DATA');
    expect(await codeOf(() => c.decompress(Buffer.from('nope'), 1024))).toBe('INVALID_COMPRESSED_DATA');
  });
});
