/**
 * The contract every codec meets: round trips sync and async, output read
 * by the other path, the decompression cap (a bomb never allocates its
 * whole output), typed errors for bad input.
 */
import { describe, expect, it, vi } from 'vitest';
import { AsyncLimiter, CodecError, createCodec, type Codec, type CodecName } from '../../src/compression/index.js';
import { contractMessages } from './payloads.js';

const MiB = 1024 * 1024;
const messages = contractMessages();

const CODECS: Array<[CodecName, number]> = [
  ['gzip', 1],
  ['gzip', 6],
  ['deflate', 6],
  ['br', 4],
  ['zstd', 1],
  ['zstd', 3],
];

async function codecError(fn: () => unknown): Promise<CodecError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CodecError);
    return err as CodecError;
  }
  throw new Error('expected a CodecError');
}

describe.each(CODECS)('%s level %d', (name, level) => {
  const codec: Codec = createCodec(name, level);

  it('names its wire subprotocol', () => {
    expect(codec.name).toBe(name);
    expect(codec.subprotocol).toBe(`mcp.${name}`);
    expect(codec.level).toBe(level);
  });

  it.each(messages)('round-trips %s sync', (_, msg) => {
    const c = codec.compressSync(msg);
    expect(codec.decompressSync(c, msg.length || 1).equals(msg)).toBe(true);
  });

  it.each(messages)('round-trips %s async', async (_, msg) => {
    const c = await codec.compress(msg);
    expect((await codec.decompress(c, msg.length || 1)).equals(msg)).toBe(true);
  });

  it('reads async output sync and sync output async', async () => {
    const msg = messages[3]![1];
    expect(codec.decompressSync(await codec.compress(msg), msg.length).equals(msg)).toBe(true);
    expect((await codec.decompress(codec.compressSync(msg), msg.length)).equals(msg)).toBe(true);
  });

  it('compresses realistic JSON at least 2x', () => {
    for (const [, msg] of messages.slice(3)) expect(msg.length / codec.compressSync(msg).length).toBeGreaterThan(2);
  });

  it('allows output of exactly the cap and refuses one byte more', async () => {
    const msg = messages[2]![1];
    const c = codec.compressSync(msg);
    expect(codec.decompressSync(c, msg.length).length).toBe(msg.length);
    expect((await codec.decompress(c, msg.length)).length).toBe(msg.length);
    expect((await codecError(() => codec.decompressSync(c, msg.length - 1))).code).toBe('MESSAGE_TOO_BIG');
    expect((await codecError(() => codec.decompress(c, msg.length - 1))).code).toBe('MESSAGE_TOO_BIG');
  });

  it('refuses a 1 MiB bomb of zeros under a 64 KiB cap with MESSAGE_TOO_BIG (close 1009), sync and async', async () => {
    const bomb = codec.compressSync(Buffer.alloc(MiB));
    expect(bomb.length).toBeLessThan(8 * 1024);
    const sync = await codecError(() => codec.decompressSync(bomb, 64 * 1024));
    expect(sync.code).toBe('MESSAGE_TOO_BIG');
    expect(sync.closeCode).toBe(1009);
    expect((await codecError(() => codec.decompress(bomb, 64 * 1024))).code).toBe('MESSAGE_TOO_BIG');
  });

  it('never allocates more than the cap plus one chunk while refusing a 16 MiB bomb', () => {
    const bomb = codec.compressSync(Buffer.alloc(16 * MiB));
    const sizes: number[] = [];
    const spies = (['allocUnsafe', 'allocUnsafeSlow', 'alloc'] as const).map((fn) => {
      const original = Buffer[fn].bind(Buffer) as (n: number) => Buffer;
      return vi.spyOn(Buffer, fn).mockImplementation(((n: number) => {
        sizes.push(n);
        return original(n);
      }) as never);
    });
    try {
      expect(() => codec.decompressSync(bomb, 64 * 1024)).toThrow(CodecError);
    } finally {
      for (const s of spies) s.mockRestore();
    }
    expect(Math.max(0, ...sizes)).toBeLessThanOrEqual(128 * 1024);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(64 * 1024 + 128 * 1024);
  });

  it('decompresses 200 bombs with RSS growth under 100 MB (the cap holds while decompressing)', async () => {
    // 16 MiB of zeros each: uncapped, 200 of them would allocate 3.2 GB.
    const bomb = codec.compressSync(Buffer.alloc(16 * MiB));
    const before = process.memoryUsage.rss();
    let refused = 0;
    for (let i = 0; i < 100; i++) {
      try {
        codec.decompressSync(bomb, 64 * 1024);
      } catch (err) {
        if ((err as CodecError).code === 'MESSAGE_TOO_BIG') refused++;
      }
    }
    // Async ones 4 at a time, as WireCodec's shared limiter runs them: each in-flight brotli or
    // zstd decoder may hold the window the stream declares (up to 16 / 8 MiB) until it fails.
    const limiter = new AsyncLimiter(4);
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => limiter.run(() => codec.decompress(bomb, 64 * 1024))));
    refused += results.filter((r) => r.status === 'rejected' && (r.reason as CodecError).code === 'MESSAGE_TOO_BIG').length;
    expect(refused).toBe(200);
    expect(process.memoryUsage.rss() - before).toBeLessThan(100 * 1e6);
  });

  it.each([
    ['garbage', Buffer.from('this is not compressed at all, just text')],
    ['truncated', 'truncated'],
    ['empty', Buffer.alloc(0)],
  ] as const)('refuses %s input with INVALID_COMPRESSED_DATA (close 1007)', async (_, input) => {
    const bytes = input === 'truncated' ? codec.compressSync(messages[3]![1]).subarray(0, 100) : input;
    const sync = await codecError(() => codec.decompressSync(bytes, MiB));
    expect(sync.code).toBe('INVALID_COMPRESSED_DATA');
    expect(sync.closeCode).toBe(1007);
    expect((await codecError(() => codec.decompress(bytes, MiB))).code).toBe('INVALID_COMPRESSED_DATA');
  });

  it('rejects a cap that is not a positive integer', async () => {
    const c = codec.compressSync(Buffer.from('x'));
    expect(() => codec.decompressSync(c, 0)).toThrow(/maxOutputBytes should be a positive integer, got 0/);
    await expect(codec.decompress(c, -1)).rejects.toThrow(/maxOutputBytes/);
  });

  it('serves concurrent async calls', async () => {
    const inputs = messages.slice(2, 5).map(([, m]) => m);
    const all = await Promise.all(Array.from({ length: 30 }, (_, i) => codec.compress(inputs[i % 3]!)));
    const back = await Promise.all(all.map((c) => codec.decompress(c, MiB)));
    back.forEach((b, i) => expect(b.equals(inputs[i % 3]!)).toBe(true));
  });
});
