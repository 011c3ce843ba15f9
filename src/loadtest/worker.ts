/**
 * A generator worker thread: opens its share of the sessions, waits for the
 * common start time, runs the load, and posts what it measured.
 *
 *   main ──workerData: WorkerJob──► worker   opens sessions (ramped, ≤ 256 handshakes at once)
 *   main ◄──────{ready}───────────── worker
 *   main ──────{start, startAt}────► worker   LoadEngine.run
 *   main ◄──{progress} … {result}─── worker   closes its sessions and exits
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import type { BenchOptions } from './options.js';
import { buildRequestTemplate } from './request-template.js';
import { LoadEngine, type EngineResult, type LoadSession } from './load-engine.js';
import { openWsSession } from './ws-driver.js';
import { HttpDriver } from './http-driver.js';

/** One worker's share of a run. */
export interface WorkerJob {
  readonly options: BenchOptions;
  /** Index of this worker's first session among all sessions (for the ramp). */
  readonly firstIndex: number;
  /** Sessions this worker opens. */
  readonly count: number;
  /** Requests this worker sends after warm-up, or undefined (time-bounded). */
  readonly messages: number | undefined;
  /** This worker's open-loop rate, or undefined (closed loop). */
  readonly rate: number | undefined;
}

/** Messages a worker posts. */
export type WorkerReport =
  | { type: 'ready'; opened: number; failed: number; error: string | undefined }
  | { type: 'progress'; answered: number }
  | { type: 'result'; result: EngineResult }
  | { type: 'fatal'; message: string };

/** Messages a worker accepts. */
export type WorkerCommand = { type: 'start'; startAt: number } | { type: 'stop' } | { type: 'quit' };

const MAX_PARALLEL_HANDSHAKES = 256;
const PROGRESS_INTERVAL_MS = 200;

async function main(): Promise<void> {
  const port = parentPort!;
  const job = workerData as WorkerJob;
  const o = job.options;
  const template = buildRequestTemplate(o.method, o.params, o.size);
  const engine = new LoadEngine(
    {
      concurrency: o.concurrency,
      messages: job.messages,
      durationMs: o.durationSeconds === undefined ? undefined : o.durationSeconds * 1000,
      warmupMs: o.warmupSeconds * 1000,
      rate: job.rate,
      timeoutMs: o.timeoutMs,
    },
    template,
  );
  const isHttp = o.url.startsWith('http');
  const http = isHttp
    ? await HttpDriver.create({
        url: o.url,
        headers: o.headers,
        timeoutMs: o.timeoutMs,
        protocolVersion: o.protocolVersion,
        sockets: job.count * (job.rate === undefined ? o.concurrency : 1),
      })
    : undefined;
  const open = (): Promise<LoadSession> =>
    http
      ? http.openSession(engine)
      : openWsSession(
          { url: o.url, subprotocol: o.subprotocol, codec: o.codec, headers: o.headers, timeoutMs: o.timeoutMs, protocolVersion: o.protocolVersion },
          engine,
        );

  const { opened, failed, error } = await openAll(job, open, engine);
  port.postMessage({ type: 'ready', opened, failed, error } satisfies WorkerReport);

  const command = await new Promise<WorkerCommand>((resolve) => port.once('message', resolve));
  let result: EngineResult | undefined;
  if (command.type === 'start') {
    port.on('message', (m: WorkerCommand) => {
      if (m.type === 'stop' || m.type === 'quit') engine.stop();
    });
    const progress = setInterval(() => port.postMessage({ type: 'progress', answered: engine.answered } satisfies WorkerReport), PROGRESS_INTERVAL_MS);
    result = await engine.run(command.startAt - performance.timeOrigin);
    clearInterval(progress);
    port.postMessage({ type: 'result', result } satisfies WorkerReport);
  }
  for (const s of engine.sessions) s.close();
  await http?.close();
  port.close();
}

/** Opens this worker's sessions, spread over the ramp, at most MAX_PARALLEL_HANDSHAKES at once. */
function openAll(
  job: WorkerJob,
  open: () => Promise<LoadSession>,
  engine: LoadEngine,
): Promise<{ opened: number; failed: number; error: string | undefined }> {
  const o = job.options;
  const rampMs = o.rampSeconds * 1000;
  const t0 = performance.now();
  let next = 0;
  let active = 0;
  let opened = 0;
  let failed = 0;
  let error: string | undefined;
  let waiting = false;
  return new Promise((resolve) => {
    if (job.count === 0) return resolve({ opened, failed, error });
    const launch = (): void => {
      while (active < MAX_PARALLEL_HANDSHAKES && next < job.count) {
        const due = t0 + ((job.firstIndex + next) * rampMs) / o.connections;
        const wait = due - performance.now();
        if (rampMs > 0 && wait > 0) {
          if (!waiting) {
            waiting = true;
            setTimeout(() => {
              waiting = false;
              launch();
            }, wait);
          }
          return;
        }
        next++;
        active++;
        open().then(
          (s) => {
            engine.sessions.push(s);
            opened++;
          },
          (err: Error) => {
            failed++;
            error ??= err.message;
          },
        ).finally(() => {
          active--;
          if (opened + failed === job.count) resolve({ opened, failed, error });
          else launch();
        });
      }
    };
    launch();
  });
}

main().catch((err: unknown) => {
  parentPort?.postMessage({ type: 'fatal', message: err instanceof Error ? err.message : String(err) } satisfies WorkerReport);
});
