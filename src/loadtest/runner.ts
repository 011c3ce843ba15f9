/**
 * runBench: one load run, spread over worker threads, merged into one result.
 *
 * Sessions are divided among the workers; every worker opens its share and
 * reports ready; all then start at one common instant, so the measured
 * window is the same for every worker. Latency histograms (HdrHistogram, µs)
 * come back compressed and are added together; throughput per second is
 * summed slot by slot. Generator CPU is process.cpuUsage() over the measured
 * window, which covers every thread of this process.
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import hdr from 'hdr-histogram-js';
import type { BenchOptions } from './options.js';
import { buildRequestTemplate } from './request-template.js';
import { newLatencyHistogram, type EngineResult } from './load-engine.js';
import type { WorkerCommand, WorkerJob, WorkerReport } from './worker.js';

/** Latency figures of a run, in milliseconds. */
export interface LatencySummary {
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** What a run measured. */
export interface BenchResult {
  url: string;
  transport: 'websocket' | 'streamable-http';
  mode: 'closed-loop' | 'open-loop';
  options: BenchOptions;
  /** Bytes of one request (with a six-digit id). */
  requestBytes: number;
  startedAt: string;
  connections: { opened: number; failed: number; lost: number };
  requests: { sent: number; ok: number; error: number; timeout: number };
  /** Length of the measured window in seconds. */
  windowSeconds: number;
  /** Successful answers per second over the window. */
  throughput: number;
  latencyMs: LatencySummary;
  /** Latency by percentile, for the HDR percentile chart. */
  distribution: Array<{ percentile: number; ms: number }>;
  /** Successful answers in each second of the window. */
  perSecond: number[];
  /**
   * Open loop: how late requests left after their intended send time, in ms.
   * Large values mean the generator (or the machine) fell behind, not the server.
   */
  sendLagMs?: { p50: number; p99: number; max: number };
  /** CPU of this whole process over the window, in % of one core. */
  generatorCpuPercent: number;
  firstError: string | undefined;
}

/** Calls a caller may hook into, e.g. to sample a server's CPU over the same window. */
export interface BenchHooks {
  /** All sessions are open (or failed). */
  onReady?(connections: { opened: number; failed: number }): void;
  /** The measured window begins (after warm-up). */
  onMeasureStart?(): void | Promise<void>;
  /** The measured window ends. */
  onMeasureEnd?(): void | Promise<void>;
  /** About five times a second: answers (or timeouts) so far, and seconds since start. */
  onProgress?(answered: number, elapsedSeconds: number): void;
}

/** No session could be opened: the CLI prints this as one line. */
export class BenchConnectError extends Error {
  readonly code = 'BENCH_CONNECT_FAILED';
}

/** A worker thread died: a bug, reported as one line. */
export class BenchWorkerError extends Error {
  readonly code = 'BENCH_WORKER_FAILED';
}

function share(total: number, parts: number, i: number): number {
  return Math.floor(total / parts) + (i < total % parts ? 1 : 0);
}

const round3 = (ms: number): number => Math.round(ms * 1000) / 1000;

interface WorkerHandle {
  worker: Worker;
  ready: Promise<Extract<WorkerReport, { type: 'ready' }>>;
  result: Promise<EngineResult>;
  exited: Promise<void>;
  answered: number;
}

function startWorker(job: WorkerJob): WorkerHandle {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: job });
  const h = { worker, answered: 0 } as WorkerHandle;
  let readyResolve!: (r: Extract<WorkerReport, { type: 'ready' }>) => void;
  let resultResolve!: (r: EngineResult) => void;
  let fail!: (err: Error) => void;
  const failure = new Promise<never>((_, reject) => (fail = reject));
  failure.catch(() => {});
  h.ready = Promise.race([new Promise<Extract<WorkerReport, { type: 'ready' }>>((r) => (readyResolve = r)), failure]);
  h.result = Promise.race([new Promise<EngineResult>((r) => (resultResolve = r)), failure]);
  h.ready.catch(() => {});
  h.result.catch(() => {});
  let finished = false;
  h.exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', (m: WorkerReport) => {
    switch (m.type) {
      case 'ready':
        readyResolve(m);
        break;
      case 'progress':
        h.answered = m.answered;
        break;
      case 'result':
        finished = true;
        resultResolve(m.result);
        break;
      case 'fatal':
        fail(new BenchWorkerError(`generator worker failed: ${m.message}`));
        break;
    }
  });
  worker.on('error', (err) => fail(new BenchWorkerError(`generator worker failed: ${err.message}`)));
  worker.on('exit', (code) => {
    if (!finished) fail(new BenchWorkerError(`generator worker exited early (code ${code})`));
  });
  return h;
}

function post(h: WorkerHandle, m: WorkerCommand): void {
  h.worker.postMessage(m);
}

/**
 * Percentiles for the distribution chart, HdrHistogram-style: 0, 68.4, 90,
 * 96.8, 99 … (ten steps per decade of the tail), up to where the run still
 * has samples, then 100 (the maximum).
 */
function distribution(h: ReturnType<typeof newLatencyHistogram>): Array<{ percentile: number; ms: number }> {
  const out: Array<{ percentile: number; ms: number }> = [];
  if (h.totalCount === 0) return out;
  const steps = Math.min(60, Math.ceil(10 * Math.log10(h.totalCount)));
  for (let k = 0; k <= steps; k++) {
    const p = 100 * (1 - Math.pow(10, -k / 10));
    const v = k === 0 ? h.minNonZeroValue : h.getValueAtPercentile(p);
    out.push({ percentile: p, ms: v / 1000 });
  }
  out.push({ percentile: 100, ms: h.maxValue / 1000 });
  return out;
}

/**
 * Runs one load test. Resolves with the merged result; rejects with
 * {@link BenchConnectError} when no session could be opened.
 */
export async function runBench(options: BenchOptions, hooks: BenchHooks = {}, signal?: AbortSignal): Promise<BenchResult> {
  const W = options.workers;
  const handles: WorkerHandle[] = [];
  let firstIndex = 0;
  for (let i = 0; i < W; i++) {
    const count = share(options.connections, W, i);
    handles.push(
      startWorker({
        options,
        firstIndex,
        count,
        messages: options.messages === undefined ? undefined : share(options.messages, W, i),
        rate: options.rate === undefined ? undefined : options.rate / W,
      }),
    );
    firstIndex += count;
  }
  const stopAll = (): void => handles.forEach((h) => post(h, { type: 'stop' }));
  try {
    const readies = await Promise.all(handles.map((h) => h.ready));
    const opened = readies.reduce((n, r) => n + r.opened, 0);
    const failed = readies.reduce((n, r) => n + r.failed, 0);
    if (opened === 0) {
      handles.forEach((h) => post(h, { type: 'quit' }));
      const why = readies.find((r) => r.error !== undefined)?.error ?? 'no session opened';
      throw new BenchConnectError(`cannot connect to ${options.url}: ${why}`);
    }
    hooks.onReady?.({ opened, failed });
    if (signal?.aborted) {
      handles.forEach((h) => post(h, { type: 'quit' }));
      throw new BenchConnectError('interrupted before the run started');
    }
    signal?.addEventListener('abort', stopAll, { once: true });

    // Start everyone at one instant a little ahead, so no worker starts late.
    const startAbs = performance.timeOrigin + performance.now() + 50;
    const startedAt = new Date(Date.now() + 50).toISOString();
    handles.forEach((h) => post(h, { type: 'start', startAt: startAbs }));
    const measureFromLocal = startAbs - performance.timeOrigin + options.warmupSeconds * 1000;

    let cpu0 = process.cpuUsage();
    let t0 = performance.now();
    let cpu1: NodeJS.CpuUsage | undefined;
    let t1 = 0;
    const timers: NodeJS.Timeout[] = [];
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    timers.push(setTimeout(openGate, Math.max(0, measureFromLocal - performance.now())));
    const measureStart = gate.then(async () => {
      await hooks.onMeasureStart?.();
      cpu0 = process.cpuUsage();
      t0 = performance.now();
    });
    let ending: Promise<void> | undefined;
    const endMeasure = (): Promise<void> =>
      (ending ??= measureStart.then(async () => {
        cpu1 = process.cpuUsage(cpu0);
        t1 = performance.now();
        await hooks.onMeasureEnd?.();
      }));
    if (options.durationSeconds !== undefined) {
      const endLocal = measureFromLocal + options.durationSeconds * 1000;
      timers.push(setTimeout(() => void endMeasure(), Math.max(0, endLocal - performance.now())));
    }
    if (hooks.onProgress) {
      const startLocal = startAbs - performance.timeOrigin;
      timers.push(
        setInterval(() => {
          const answered = handles.reduce((n, h) => n + h.answered, 0);
          hooks.onProgress!(answered, Math.max(0, (performance.now() - startLocal) / 1000));
        }, 200),
      );
    }
    let results: EngineResult[];
    try {
      results = await Promise.all(handles.map((h) => h.result));
      if (options.durationSeconds !== undefined && !signal?.aborted) {
        // The window's end was timed; the answers of its last requests came after it.
        await (ending ?? measureStart);
      }
    } finally {
      for (const t of timers) clearTimeout(t);
      openGate(); // stopped during warm-up: measure what there is
    }
    await measureStart;
    await endMeasure();
    await Promise.all(handles.map((h) => waitExit(h)));

    const hist = newLatencyHistogram();
    for (const r of results) {
      const part = hdr.decodeFromCompressedBase64(r.histogram);
      hist.add(part);
    }
    let sendLagMs: BenchResult['sendLagMs'];
    if (options.rate !== undefined) {
      const lag = newLatencyHistogram();
      for (const r of results) if (r.sendLag !== undefined) lag.add(hdr.decodeFromCompressedBase64(r.sendLag));
      sendLagMs = {
        p50: round3(lag.getValueAtPercentile(50) / 1000),
        p99: round3(lag.getValueAtPercentile(99) / 1000),
        max: round3(lag.maxValue / 1000),
      };
    }
    const windowStart = Math.min(...results.map((r) => r.windowStart));
    const windowEnd = Math.max(...results.map((r) => r.windowEnd));
    const windowSeconds = Math.max(1e-3, (windowEnd - windowStart) / 1000);
    const perSecond: number[] = [];
    for (const r of results) r.perSecond.forEach((n, i) => (perSecond[i] = (perSecond[i] ?? 0) + n));
    for (let i = 0; i < perSecond.length; i++) perSecond[i] ??= 0;
    const okInWindow = results.reduce((n, r) => n + r.okInWindow, 0);
    const usage = cpu1!;
    const wallMs = Math.max(1, t1 - t0);
    const lat = (p: number): number => round3(hist.getValueAtPercentile(p) / 1000);
    const empty = hist.totalCount === 0;
    return {
      url: options.url,
      transport: options.url.startsWith('http') ? 'streamable-http' : 'websocket',
      mode: options.rate === undefined ? 'closed-loop' : 'open-loop',
      options,
      requestBytes: buildRequestTemplate(options.method, options.params, options.size).approxBytes,
      startedAt,
      connections: { opened, failed, lost: results.reduce((n, r) => n + r.lostSessions, 0) },
      requests: {
        sent: results.reduce((n, r) => n + r.sent, 0),
        ok: results.reduce((n, r) => n + r.ok, 0),
        error: results.reduce((n, r) => n + r.errors, 0),
        timeout: results.reduce((n, r) => n + r.timeouts, 0),
      },
      windowSeconds: round3(windowSeconds),
      throughput: Math.round(okInWindow / windowSeconds),
      latencyMs: {
        min: empty ? 0 : round3(hist.minNonZeroValue / 1000),
        mean: empty ? 0 : round3(hist.mean / 1000),
        p50: lat(50),
        p90: lat(90),
        p99: lat(99),
        p999: lat(99.9),
        max: round3(hist.maxValue / 1000),
      },
      distribution: distribution(hist),
      perSecond,
      ...(sendLagMs !== undefined ? { sendLagMs } : {}),
      generatorCpuPercent: Math.round(((usage.user + usage.system) / 1000 / wallMs) * 1000) / 10,
      firstError: results.find((r) => r.firstError !== undefined)?.firstError,
    };
  } catch (err) {
    await Promise.all(handles.map((h) => h.worker.terminate()));
    throw err;
  } finally {
    signal?.removeEventListener('abort', stopAll);
  }
}

/** Waits for a worker to finish closing its sessions; terminates it after 5 s. */
function waitExit(h: WorkerHandle): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => void h.worker.terminate().then(() => resolve()), 5000);
  });
  return Promise.race([h.exited, late]).finally(() => clearTimeout(timer));
}
