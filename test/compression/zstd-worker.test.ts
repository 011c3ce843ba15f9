/**
 * The zstd-napi worker is a real file, loaded by URL: it must run from the
 * sources (as here, under vitest), from the compiled package (dist/, in a
 * child process as a user runs it), and be part of what `npm pack` ships.
 * It must never be rebuilt from function source text, which coverage
 * instrumentation and minifiers rewrite.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ZstdCodec } from '../../src/compression/index.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const bindingPath = require.resolve('zstd-napi/binding.js');
const WORKER = new URL('../../src/compression/zstd-worker.js', import.meta.url);

interface WorkerReply {
  id: number;
  out?: Uint8Array;
  error?: { message: string; code?: string };
}

/** Sends one call to `w` and waits (bounded) for its answer. */
function call(w: Worker, id: number, op: 0 | 1, arg: number, input: Buffer): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer from the zstd worker within 10 s')), 10_000);
    const onMessage = (m: WorkerReply): void => {
      if (m.id !== id) return;
      clearTimeout(timer);
      w.off('message', onMessage);
      resolve(m);
    };
    w.on('message', onMessage);
    w.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    const copy = new Uint8Array(input);
    w.postMessage({ id, op, arg, input: copy }, [copy.buffer]);
  });
}

describe('zstd worker file', () => {
  it('runs on its own from the sources: compresses, decompresses, and answers bad input with a coded error', async () => {
    expect(existsSync(WORKER)).toBe(true);
    const w = new Worker(WORKER, { workerData: { bindingPath } });
    try {
      const text = Buffer.from('{"jsonrpc":"2.0","result":"' + 'abc'.repeat(3000) + '"}');
      const packed = await call(w, 1, 0, 3, text);
      expect(packed.error).toBeUndefined();
      const frame = Buffer.from(packed.out!);
      expect(frame.length).toBeLessThan(text.length);
      const back = await call(w, 2, 1, 1024 * 1024, frame);
      expect(Buffer.from(back.out!).equals(text)).toBe(true);
      const tooBig = await call(w, 3, 1, 100, frame);
      expect(tooBig.error?.code).toBe('MESSAGE_TOO_BIG');
      const bad = await call(w, 4, 1, 1024, Buffer.from('not zstd at all'));
      expect(bad.error?.code).toBe('INVALID_COMPRESSED_DATA');
    } finally {
      await w.terminate();
    }
  });

  it('serves the async calls of the codec under the test runner', async () => {
    const codec = new ZstdCodec(3);
    const text = Buffer.from('x'.repeat(50_000));
    const frame = await codec.compress(text);
    expect((await codec.decompress(frame, 1024 * 1024)).equals(text)).toBe(true);
    await expect(codec.decompress(frame, 1000)).rejects.toMatchObject({ code: 'MESSAGE_TOO_BIG' });
  });

  it('is built into dist/ and serves the async calls of the compiled package in a child process', async () => {
    const dist = join(process.cwd(), 'dist', 'compression');
    expect(existsSync(join(dist, 'zstd-worker.js'))).toBe(true);
    const entry = pathToFileURL(join(dist, 'index.js')).href;
    const script = `
      const { ZstdCodec } = await import(${JSON.stringify(entry)});
      const codec = new ZstdCodec(3);
      const text = Buffer.from('y'.repeat(50000));
      const frame = await codec.compress(text);
      const back = await codec.decompress(frame, 1 << 20);
      let refused = 'no';
      try { await codec.decompress(frame, 1000); } catch (err) { refused = err.code; }
      console.log(JSON.stringify({ engine: codec.engine, same: back.equals(text), refused }));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 });
    const out = JSON.parse(stdout.trim()) as { engine: string; same: boolean; refused: string };
    expect(out).toEqual({ engine: expect.any(String), same: true, refused: 'MESSAGE_TOO_BIG' });
  });

  it('is in what npm pack ships', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { timeout: 60_000 });
    const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files).toContain('dist/compression/zstd-worker.js');
    // The module the worker imports is shipped beside it.
    expect(files).toContain('dist/compression/zstd-napi-core.js');
  });
});
