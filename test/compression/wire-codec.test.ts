/**
 * The per-session wire codec: the framing rule (small → text frame, large →
 * compressed binary frame), inline vs async, message order, caps and errors
 * with their close codes, counters; and a real ws round trip with a codec on
 * both ends.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  AsyncLimiter,
  CodecError,
  CodecStats,
  WireCodec,
  createCodec,
  createNegotiator,
  resolveCompressionConfig,
  type Codec,
  type OutboundFrame,
} from '../../src/compression/index.js';
import { sourceMessage } from './payloads.js';

const gzip = createCodec('gzip', 6);
const zstd = createCodec('zstd', 3);
const text10k = sourceMessage(1, 10_000);
const text100k = sourceMessage(2, 100_000);

function wire(codec: Codec = gzip, options: Partial<ConstructorParameters<typeof WireCodec>[1]> = {}): { w: WireCodec; stats: CodecStats } {
  const stats = new CodecStats();
  return { w: new WireCodec(codec, { maxPayload: 1024 * 1024, stats, ...options }), stats };
}

describe('encode: the framing rule', () => {
  it('sends messages under minCompressSize as text frames, untouched', () => {
    const { w, stats } = wire(gzip, { minCompressSize: 1024 });
    const small = '{"jsonrpc":"2.0","id":1,"result":{}}';
    expect(w.encode(small)).toEqual({ data: small, binary: false });
    const b = Buffer.from('x'.repeat(1000));
    expect(w.encode(b)).toEqual({ data: b, binary: false });
    // 400 three-byte characters: 400 UTF-16 units but 1200 bytes, so it is compressed.
    expect((w.encode('€'.repeat(400)) as OutboundFrame).binary).toBe(true);
    expect(stats.belowMinSize).toBe(2);
  });

  it('compresses messages from minCompressSize up to inlineMaxBytes inline, into binary frames', () => {
    const { w, stats } = wire(gzip, { minCompressSize: 1024, inlineMaxBytes: 32 * 1024 });
    const out = w.encode(text10k);
    expect(out).not.toBeInstanceOf(Promise);
    const f = out as OutboundFrame;
    expect(f.binary).toBe(true);
    expect(gzip.decompressSync(f.data as Buffer, 1e6).toString()).toBe(text10k);
    expect(stats).toMatchObject({ compressed: 1, compressBytesIn: Buffer.byteLength(text10k), compressBytesOut: (f.data as Buffer).length });
    expect(stats.compressSeconds).toBeGreaterThan(0);
  });

  it('compresses messages over inlineMaxBytes off the event loop', async () => {
    for (const codec of [gzip, zstd]) {
      const { w, stats } = wire(codec, { inlineMaxBytes: 32 * 1024 });
      const out = w.encode(text100k);
      expect(out).toBeInstanceOf(Promise);
      const f = await out;
      expect(f.binary).toBe(true);
      expect(codec.decompressSync(f.data as Buffer, 1e6).toString()).toBe(text100k);
      expect(stats.compressedAsync).toBe(1);
      expect(w.pending).toBe(0);
    }
  });

  it('sends a message compression does not shrink as text', () => {
    const { w, stats } = wire(gzip, { minCompressSize: 0 });
    expect(w.encode('{"a":1}')).toEqual({ data: Buffer.from('{"a":1}'), binary: false });
    expect(stats.incompressible).toBe(1);
  });

  it('sends the message as text when compression fails', async () => {
    const broken: Codec = {
      ...gzip,
      name: 'gzip',
      subprotocol: 'mcp.gzip',
      level: 6,
      compressSync: () => {
        throw new Error('boom');
      },
      compress: () => Promise.reject(new Error('boom')),
    };
    const { w, stats } = wire(broken, { inlineMaxBytes: 20_000 });
    expect(w.encode(text10k)).toEqual({ data: Buffer.from(text10k), binary: false });
    expect(await w.encode(text100k)).toEqual({ data: Buffer.from(text100k), binary: false });
    expect(stats.compressErrors).toBe(2);
  });

  it('keeps message order: results after a pending async encode resolve after it', async () => {
    const { w } = wire(gzip, { inlineMaxBytes: 32 * 1024 });
    const order: string[] = [];
    const results = [w.encode(text100k), w.encode(text10k), w.encode('{"small":true}')];
    expect(results[1]).toBeInstanceOf(Promise);
    expect(results[2]).toBeInstanceOf(Promise);
    await Promise.all(results.map((r, i) => Promise.resolve(r).then(() => order.push(['big', 'medium', 'small'][i]!))));
    expect(order).toEqual(['big', 'medium', 'small']);
    // Once drained, small messages are synchronous again.
    expect(w.encode('{"small":true}')).not.toBeInstanceOf(Promise);
  });
});

describe('receive/decode', () => {
  it('returns text frames as they are and decompresses binary frames inline', () => {
    const { w, stats } = wire(zstd);
    expect(w.receive(Buffer.from('{"id":1}'), false)).toBe('{"id":1}');
    const c = zstd.compressSync(Buffer.from(text10k));
    expect(w.receive(c, true)).toBe(text10k);
    expect(stats).toMatchObject({ decompressed: 1, decompressBytesIn: c.length, decompressBytesOut: Buffer.byteLength(text10k) });
  });

  it('decompresses frames over inlineDecodeMaxBytes off the event loop, keeping arrival order', async () => {
    const { w } = wire(zstd, { inlineDecodeMaxBytes: 1024 });
    const big = zstd.compressSync(Buffer.from(text100k));
    const order: string[] = [];
    const results = [w.receive(big, true), w.receive(Buffer.from('{"after":1}'), false)];
    expect(results[0]).toBeInstanceOf(Promise);
    expect(results[1]).toBeInstanceOf(Promise);
    const texts = await Promise.all(results.map((r, i) => Promise.resolve(r).then((t) => (order.push(String(i)), t))));
    expect(texts).toEqual([text100k, '{"after":1}']);
    expect(order).toEqual(['0', '1']);
    expect(w.receive(Buffer.from('{}'), false)).toBe('{}');
  });

  it('throws MESSAGE_TOO_BIG (close 1009) for a message over maxPayload, sync and async', async () => {
    const bomb = gzip.compressSync(Buffer.alloc(2 * 1024 * 1024, 0x20));
    const { w, stats } = wire(gzip, { maxPayload: 64 * 1024 });
    expect(() => w.decode(bomb)).toThrow(CodecError);
    let thrown: unknown;
    try {
      void w.decode(bomb);
    } catch (err) {
      thrown = err;
    }
    expect((thrown as CodecError).closeCode).toBe(1009);
    const { w: a } = wire(gzip, { maxPayload: 64 * 1024, inlineDecodeMaxBytes: 0 });
    await expect(a.decode(bomb)).rejects.toMatchObject({ code: 'MESSAGE_TOO_BIG', closeCode: 1009 });
    expect(stats.tooBig).toBe(2);
  });

  it('throws INVALID_COMPRESSED_DATA (close 1007) for bad data and for output that is not UTF-8', () => {
    const { w, stats } = wire(gzip);
    expect(() => w.decode(Buffer.from('not gzip'))).toThrow(expect.objectContaining({ code: 'INVALID_COMPRESSED_DATA', closeCode: 1007 }));
    const notUtf8 = gzip.compressSync(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    expect(() => w.decode(notUtf8)).toThrow(/not valid UTF-8/);
    expect(stats.invalid).toBe(2);
  });

  it('delivers a failure in order and keeps going (the session closes on it)', async () => {
    const { w } = wire(gzip, { inlineDecodeMaxBytes: 0 });
    const first = w.receive(gzip.compressSync(Buffer.from(text10k)), true);
    const bad = w.receive(Buffer.from('garbage'), true);
    const after = w.receive(Buffer.from('{"x":1}'), false);
    await expect(first).resolves.toBe(text10k);
    await expect(bad).rejects.toMatchObject({ code: 'INVALID_COMPRESSED_DATA' });
    await expect(after).resolves.toBe('{"x":1}');
  });

  it('validates its options, naming them', () => {
    expect(() => new WireCodec(gzip, { maxPayload: 0 })).toThrow('maxPayload should be a positive integer, got 0');
    expect(() => new WireCodec(gzip, { maxPayload: 10, minCompressSize: -1 })).toThrow('minCompressSize should be a non-negative integer, got -1');
    expect(() => new WireCodec(gzip, { maxPayload: 10, inlineMaxBytes: 1.5 })).toThrow('inlineMaxBytes');
  });
});

describe('AsyncLimiter', () => {
  it('runs at most `concurrency` jobs at once, first come first served', async () => {
    const limiter = new AsyncLimiter(2);
    const started: number[] = [];
    const release: Array<() => void> = [];
    const jobs = [0, 1, 2, 3].map((i) =>
      limiter.run(
        () =>
          new Promise<number>((resolve) => {
            started.push(i);
            release[i] = () => resolve(i);
          }),
      ),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect(limiter.waiting).toBe(2);
    release[1]!();
    await jobs[1];
    await Promise.resolve();
    expect(started).toEqual([0, 1, 2]);
    release[0]!();
    release[2]!();
    await Promise.all(jobs.slice(0, 3));
    release[3]!();
    expect(await Promise.all(jobs)).toEqual([0, 1, 2, 3]);
    expect(limiter.active).toBe(0);
  });

  it('passes rejections and throws through, and frees the slot', async () => {
    const limiter = new AsyncLimiter(1);
    await expect(limiter.run(() => Promise.reject(new Error('a')))).rejects.toThrow('a');
    await expect(
      limiter.run(() => {
        throw new Error('b');
      }),
    ).rejects.toThrow('b');
    expect(await limiter.run(() => Promise.resolve(3))).toBe(3);
    expect(() => new AsyncLimiter(0)).toThrow('concurrency should be a positive integer, got 0');
  });
});

describe('over a real WebSocket, a wire codec on each end', () => {
  const config = resolveCompressionConfig({ minCompressSize: 1024, inlineMaxBytes: 32 * 1024 });
  const negotiator = createNegotiator(config);
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => negotiator.select(p) });
  // Echo server: decode whatever arrives, send it back through the same codec.
  wss.on('connection', (ws) => {
    const codec = negotiator.codecFor(ws.protocol);
    const w = codec ? new WireCodec(codec, { maxPayload: 4 * 1024 * 1024 }) : undefined;
    const send = (f: OutboundFrame): void => ws.send(f.data, { binary: f.binary });
    ws.on('message', (data: Buffer, isBinary) => {
      if (!w) {
        if (isBinary) ws.close(1003);
        else ws.send(data, { binary: false });
        return;
      }
      Promise.resolve(w.receive(data, isBinary)).then(
        (text) => {
          const out = w.encode(text);
          if (out instanceof Promise) void out.then(send);
          else send(out);
        },
        (err: CodecError) => ws.close(err.closeCode),
      );
    });
  });
  afterAll(() => new Promise<void>((r) => wss.close(() => r())));

  async function echo(protocols: string[], messages: string[]): Promise<{ protocol: string; got: string[]; binary: boolean[] }> {
    const { port } = wss.address() as { port: number };
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, protocols);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const codec = negotiator.codecFor(ws.protocol);
    const w = codec ? new WireCodec(codec, { maxPayload: 4 * 1024 * 1024 }) : undefined;
    const got: string[] = [];
    const binary: boolean[] = [];
    const done = new Promise<void>((resolve) => {
      ws.on('message', (data: Buffer, isBinary) => {
        binary.push(isBinary);
        void Promise.resolve(w ? w.receive(data, isBinary) : data.toString()).then((t) => {
          got.push(t);
          if (got.length === messages.length) resolve();
        });
      });
    });
    for (const m of messages) {
      const f = w ? await w.encode(m) : { data: m, binary: false };
      ws.send(f.data, { binary: f.binary });
    }
    await done;
    ws.close();
    return { protocol: ws.protocol, got, binary };
  }

  const messages = ['{"jsonrpc":"2.0","id":1,"method":"ping"}', text10k, text100k, '{"jsonrpc":"2.0","id":4,"result":{}}'];

  it.each([['mcp.zstd'], ['mcp.br'], ['mcp.gzip'], ['mcp.deflate']])('%s: every message arrives intact and in order', async (sub) => {
    const r = await echo([sub, 'mcp'], messages);
    expect(r.protocol).toBe(sub);
    expect(r.got).toEqual(messages);
    expect(r.binary).toEqual([false, true, true, false]);
  });

  it('mcp only: plain text frames both ways', async () => {
    const r = await echo(['mcp'], messages);
    expect(r.protocol).toBe('mcp');
    expect(r.got).toEqual(messages);
    expect(r.binary).toEqual([false, false, false, false]);
  });
});
