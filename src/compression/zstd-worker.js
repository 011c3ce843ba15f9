// @ts-check
/**
 * The worker thread behind zstd-napi's async calls (see zstd-napi.ts): one
 * compression and one decompression context, a message loop. Plain
 * JavaScript, loaded by URL beside the module that spawns it, so it runs the
 * same from the compiled package and from the sources.
 *
 * In:  { id, op: 0 (compress) | 1 (decompress), arg: level | cap, input: Uint8Array }
 * Out: { id, out: Uint8Array } (transferred) or { id, error: { message, code } }
 */
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import { napiCompress, napiDecompress, newNapiState } from './zstd-napi-core.js';

/** @typedef {import('./zstd-napi-core.js').NapiBinding} NapiBinding */

if (parentPort === null) throw new Error('zstd-worker.js runs as a worker thread');
const port = parentPort;
// The JSDoc casts below type these values; the linter does not read JSDoc casts.
// eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
const { bindingPath } = /** @type {{ bindingPath: string }} */ (workerData);
// eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
const binding = /** @type {NapiBinding} */ (createRequire(import.meta.url)(bindingPath));
const state = newNapiState(binding);

port.on('message', (/** @type {{ id: number, op: 0 | 1, arg: number, input: Uint8Array }} */ m) => {
  try {
    const input = Buffer.from(m.input.buffer, m.input.byteOffset, m.input.byteLength);
    const out = m.op === 0 ? napiCompress(state, input, m.arg) : napiDecompress(binding, state, input, m.arg);
    port.postMessage({ id: m.id, out }, [/** @type {ArrayBuffer} */ (out.buffer)]);
  } catch (err) {
    const e = /** @type {{ message?: unknown, code?: unknown }} */ (err);
    port.postMessage({ id: m.id, error: { message: String(e.message), code: e.code } });
  }
});
