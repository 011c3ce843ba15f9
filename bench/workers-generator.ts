/**
 * The load generator of bench/workers.ts, in a process of its own so its CPU
 * is not the server's: one closed-loop run of src/loadtest against a URL,
 * reading the server's CPU (its whole process tree: primary and workers)
 * from /proc at the start and the end of the measured window.
 */
import { resolveBenchOptions, type BenchInput } from '../src/loadtest/options.js';
import { runBench, type BenchResult } from '../src/loadtest/runner.js';
import { sampleTree } from './lib/proc-cpu.js';

/** Parent → generator. */
export interface GeneratorCommand {
  url: string;
  serverPid: number;
  input: BenchInput;
}

/** Generator → parent. */
export type GeneratorReport =
  | { type: 'done'; result: BenchResult; serverCpuSeconds: number; serverProcesses: number }
  | { type: 'failed'; message: string };

process.once('message', (m: GeneratorCommand) => {
  let cpu0 = 0;
  let cpu1 = 0;
  let processes = 0;
  const run = async (): Promise<GeneratorReport> => {
    const options = resolveBenchOptions(m.url, { timeoutMs: 10_000, ...m.input });
    const result = await runBench(options, {
      onMeasureStart: () => {
        const s = sampleTree(m.serverPid);
        cpu0 = s.total;
        processes = s.processes;
      },
      onMeasureEnd: () => {
        cpu1 = sampleTree(m.serverPid).total;
      },
    });
    return { type: 'done', result, serverCpuSeconds: (cpu1 - cpu0) / 1e6, serverProcesses: processes };
  };
  run().then(
    (r) => process.send?.(r, () => process.exit(0)),
    (err: unknown) => process.send?.({ type: 'failed', message: err instanceof Error ? err.message : String(err) } satisfies GeneratorReport, () => process.exit(1)),
  );
});
process.on('disconnect', () => process.exit(0));
