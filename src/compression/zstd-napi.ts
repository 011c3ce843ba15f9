/**
 * The zstd-napi engine: sync calls on the caller's thread, async ones in
 * worker threads running zstd-worker.js. The compression and capped
 * decompression themselves are in zstd-napi-core.js, shared by both.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ZstdEngine } from './zstd-engine.js';
import { napiCompress, napiDecompress, newNapiState, type NapiBinding } from './zstd-napi-core.js';

/** The worker file, beside this module in dist/ and in the sources alike. */
const WORKER_URL = new URL('./zstd-worker.js', import.meta.url);

/**
 * The process's Node flags for a worker, without `--input-type`: a process
 * started with `node --input-type=module -e …` passes its flags to its
 * workers, and Node refuses that flag for a worker loaded from a file.
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--input-type') i++;
    else if (!argv[i]!.startsWith('--input-type=')) out.push(argv[i]!);
  }
  return out;
}

/** Loads zstd-napi's binding, or undefined when the optional dependency is missing or failed to build. */
function loadBinding(): { binding: NapiBinding; path: string } | undefined {
  try {
    const require = createRequire(import.meta.url);
    const path = require.resolve('zstd-napi/binding.js');
    return { binding: require(path) as NapiBinding, path };
  } catch {
    return undefined;
  }
}

/**
 * The zstd-napi engine, or undefined when the package is not installed.
 * Sync calls run on the caller's thread; async ones in worker threads.
 */
export function zstdNapiEngine(): ZstdEngine | undefined {
  const loaded = loadBinding();
  if (loaded === undefined) return undefined;
  const { binding, path } = loaded;
  const state = newNapiState(binding);
  const pool = new ZstdWorkerPool(path, Math.min(4, availableParallelism()));
  return {
    name: 'zstd-napi',
    compressSync: (input, level) => napiCompress(state, input, level),
    compress: (input, level) => pool.run(0, input, level),
    decompressSync: (input, max) => napiDecompress(binding, state, input, max),
    decompress: (input, max) => pool.run(1, input, max),
  };
}

interface Pending {
  resolve(out: Buffer): void;
  reject(err: Error): void;
  slot: Slot;
}

interface Reply {
  id: number;
  out?: Uint8Array;
  error?: { message: string; code?: string };
}

interface Slot {
  worker: Worker;
  /** Calls sent to this worker and not answered yet. */
  pending: number;
}

/**
 * Worker threads running zstd-napi for the async calls, shared by every
 * codec of the process. A worker is spawned only when every existing one is
 * busy, up to one per core (at most 4), so a process that never compresses
 * large messages runs none and a 2-core machine runs at most 2. A worker is
 * ref'd only while it has calls pending, so idle workers never keep the
 * process alive; one that dies fails its pending calls and is replaced on
 * demand.
 */
class ZstdWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(
    private readonly bindingPath: string,
    private readonly maxWorkers: number,
  ) {}

  run(op: 0 | 1, input: Buffer, arg: number): Promise<Buffer> {
    const slot = this.pick();
    const id = this.nextId++;
    if (slot.pending++ === 0) slot.worker.ref();
    // Copy the exact bytes and transfer the copy: structured clone would copy the
    // whole ArrayBuffer behind the view (Node's 8 KiB pool, or a large receive buffer).
    const copy = new Uint8Array(input.length);
    copy.set(input);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      slot.worker.postMessage({ id, op, arg, input: copy }, [copy.buffer]);
    });
  }

  /** The least busy worker; a new one when all are busy and the pool is not full. */
  private pick(): Slot {
    let best: Slot | undefined;
    for (const s of this.slots) if (best === undefined || s.pending < best.pending) best = s;
    if ((best === undefined || best.pending > 0) && this.slots.length < this.maxWorkers) return this.spawn();
    return best!;
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_URL, { execArgv: workerExecArgv(), workerData: { bindingPath: this.bindingPath } });
    const slot: Slot = { worker, pending: 0 };
    worker.on('message', (m: Reply) => this.settle(m));
    worker.on('error', (err) => this.fail(slot, err));
    worker.on('exit', (code) => this.fail(slot, new Error(`zstd worker exited with code ${code}`)));
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  private settle(m: Reply): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    if (--p.slot.pending === 0) p.slot.worker.unref();
    if (m.error !== undefined) {
      p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
    } else {
      const out = m.out!;
      p.resolve(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
    }
  }

  private fail(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i === -1) return;
    this.slots.splice(i, 1);
    for (const [id, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(id);
      p.reject(err);
    }
  }
}
